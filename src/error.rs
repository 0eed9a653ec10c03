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
    /// What to do next, where the message alone does not say it: a write that failed for
    /// want of space (a full disk, a quota, a file size limit), or for want of permission.
    pub fn hint(&self) -> Option<String> {
        let Error::Write { path, source } = self else {
            return None;
        };
        use std::io::ErrorKind;
        let partial = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".partial"));
        let again = if partial {
            "run the same command again: what was written is checked and reused"
        } else {
            "run the same command again"
        };
        match source.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => Some(format!(
                "there is no room for it there: free some space, or give the archive another place with -o, and {again}"
            )),
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Some(format!(
                "this user may not write there: give the archive another place with -o, and {again}"
            )),
            _ => None,
        }
    }

    /// A failure of the zip writer: one of the file under it (a full disk, say) is a write
    /// error of `path`, so that its cause (and what to do, see [`Error::hint`]) is kept.
    pub fn zip_write(path: impl Into<PathBuf>, err: zip::result::ZipError) -> Self {
        match err {
            zip::result::ZipError::Io(source) => Error::Write {
                path: path.into(),
                source,
            },
            other => Error::zip(path, other),
        }
    }

    pub fn zip(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        Error::Zip {
            path: path.into(),
            detail: err.to_string(),
        }
    }
}
