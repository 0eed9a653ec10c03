//! The library's one error type. Every I/O variant names the path it concerns; `Display` says
//! this layer's part and what to do next, the cause travels in `source()`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists; pass --force to replace it", path.display())]
    Exists { path: PathBuf },
    #[error("{} is not a qqvault archive: {detail}", path.display())]
    NotAnArchive { path: PathBuf, detail: String },
    #[error("zip error in {}: {detail}", path.display())]
    Zip { path: PathBuf, detail: String },
    #[error("the archive written to {} failed its check and was left there for inspection: {detail}", path.display())]
    VerifyFailed { path: PathBuf, detail: String },
    #[error("{} is damaged: {detail}", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }
    pub fn zip(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        Error::Zip {
            path: path.into(),
            detail: err.to_string(),
        }
    }
}
