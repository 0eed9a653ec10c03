//! A read-only tantivy [`Directory`] over bytes the caller points at: named byte ranges of one
//! file (the index's Stored entries inside the archive zip), or the files of a plain directory.
//!
//! Nothing is ever written: no temporary file, no lock file, no `meta.json` update. Tantivy
//! takes a "meta lock" while it opens segment readers; here that lock is a token that touches
//! no file. Every write a reader could attempt fails with a read-only error instead of landing
//! anywhere.

use memmap2::{Mmap, MmapOptions};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{DirectoryLock, FileHandle, Lock, OwnedBytes, WatchCallback, WatchHandle, WritePtr};
use tantivy::Directory;

/// One file of the index inside a bigger file: its name and where its bytes lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFileSlice {
    /// The file name as the builder wrote it (`meta.json`, `<uuid>.idx`, `qqvault-index.json`).
    pub name: String,
    /// Offset of the first byte in the containing file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Why the bytes of an index could not be mapped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MapError {
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The read-only directory.
#[derive(Clone)]
pub(crate) struct ReadOnlyDirectory {
    files: Arc<HashMap<PathBuf, OwnedBytes>>,
}

impl std::fmt::Debug for ReadOnlyDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyDirectory")
            .field("files", &self.files.len())
            .finish()
    }
}

/// Maps `len` bytes of `file` from `offset`, read-only.
fn map(file: &File, path: &Path, offset: u64, len: usize) -> Result<OwnedBytes, MapError> {
    if len == 0 {
        return Ok(OwnedBytes::empty());
    }
    // SAFETY: the map is read-only. Like every reader of a memory-mapped file, we rely on the
    // file not being truncated or rewritten while the index is open: qqvault never modifies a
    // finished archive in place (updates write a new file and rename it over the old one).
    let mmap: Mmap =
        unsafe { MmapOptions::new().offset(offset).len(len).map(file) }.map_err(|source| MapError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(OwnedBytes::new(mmap))
}

impl ReadOnlyDirectory {
    /// The named ranges of one file. Ranges are checked against the file's length; the span
    /// from the first to the last byte of all ranges is mapped once and shared.
    pub(crate) fn from_slices(path: &Path, slices: &[IndexFileSlice]) -> Result<Self, MapError> {
        let io_err = |source| MapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        let mut start = u64::MAX;
        let mut end = 0u64;
        for s in slices {
            let slice_end = s
                .offset
                .checked_add(s.len)
                .filter(|&e| e <= file_len)
                .ok_or_else(|| {
                    MapError::Invalid(format!(
                        "index file {} ({} bytes at {}) lies outside {} ({file_len} bytes)",
                        s.name,
                        s.len,
                        s.offset,
                        path.display()
                    ))
                })?;
            start = start.min(s.offset);
            end = end.max(slice_end);
        }
        let span = if slices.is_empty() {
            OwnedBytes::empty()
        } else {
            let len = usize::try_from(end - start)
                .map_err(|_| MapError::Invalid("index too large to map".to_string()))?;
            map(&file, path, start, len)?
        };
        let mut files = HashMap::with_capacity(slices.len());
        for s in slices {
            // In range by the check above, hence also within usize.
            let from = (s.offset - start) as usize;
            let bytes = span.slice(from..from + s.len as usize);
            if files.insert(PathBuf::from(&s.name), bytes).is_some() {
                return Err(MapError::Invalid(format!("index file {} named twice", s.name)));
            }
        }
        Ok(ReadOnlyDirectory {
            files: Arc::new(files),
        })
    }

    /// Every regular file of a plain directory (not recursive).
    pub(crate) fn from_dir(dir: &Path) -> Result<Self, MapError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MapError::Io { path, source }
        };
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            if !entry.file_type().map_err(io_err(&path))?.is_file() {
                continue;
            }
            let file = File::open(&path).map_err(io_err(&path))?;
            let len = file.metadata().map_err(io_err(&path))?.len();
            let len = usize::try_from(len)
                .map_err(|_| MapError::Invalid(format!("{} too large to map", path.display())))?;
            files.insert(PathBuf::from(entry.file_name()), map(&file, &path, 0, len)?);
        }
        Ok(ReadOnlyDirectory {
            files: Arc::new(files),
        })
    }

    /// The bytes of one file, if present.
    pub(crate) fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.files.get(Path::new(name)).map(|b| b.as_slice())
    }
}

/// Bytes at the end of every file with a tantivy footer: the footer's length and magic number.
const FOOTER_TAIL: usize = 8;

fn read_only(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "the qqvault index is read-only (tantivy tried to write {})",
            path.display()
        ),
    )
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        match self.files.get(path) {
            // Every file tantivy opens this way ends with its footer, whose last 8 bytes give its
            // length; tantivy 0.27 only checks for 4 before reading them, and panics on 4 to 7.
            Some(bytes) if bytes.len() < FOOTER_TAIL => Err(OpenReadError::IoError {
                io_error: Arc::new(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than a tantivy footer", path.display()),
                )),
                filepath: path.to_path_buf(),
            }),
            Some(bytes) => Ok(Arc::new(bytes.clone())),
            None => Err(OpenReadError::FileDoesNotExist(path.to_path_buf())),
        }
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(read_only(path)),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        Ok(self.files.contains_key(path))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(read_only(path), path.to_path_buf()))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        match self.files.get(path) {
            Some(bytes) => Ok(bytes.as_slice().to_vec()),
            None => Err(OpenReadError::FileDoesNotExist(path.to_path_buf())),
        }
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(read_only(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    /// Nothing can change under a read-only index, so the lock guards nothing and needs no file.
    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}
