//! Named temporary folders beside the archive (the search index being built, earlier exports
//! taken out of an archive being updated), and the removal of those that a killed run left.
//!
//! Temporary files need no such care: they have no name and go with the process. A folder
//! needs a name, so each holds a lock file, locked for as long as its run lives. The system
//! releases the lock when the process ends, however it ends, so a folder whose lock can be
//! taken belongs to no running qqvault and is removed by the next run in that place.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The names of the folders start with this; what follows says what they hold.
pub const PREFIX: &str = ".qqvault-";
const LOCK: &str = ".lock";

/// The folder a file is in (`.` for a bare name): where an archive's temporary files go.
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A temporary folder, locked while it lives and removed when dropped.
pub struct ScratchDir {
    /// Closed before the folder is removed (Windows cannot remove a folder that holds an open
    /// file).
    lock: Option<File>,
    dir: Option<tempfile::TempDir>,
}

impl ScratchDir {
    /// A new folder `.qqvault-<what>-XXXXXX` in `parent`.
    pub fn new(parent: &Path, what: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{what}-"))
            .tempdir_in(parent)?;
        let lock = File::create(dir.path().join(LOCK))?;
        lock.try_lock().map_err(io::Error::from)?;
        Ok(ScratchDir {
            lock: Some(lock),
            dir: Some(dir),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new(""))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        drop(self.lock.take());
        drop(self.dir.take());
    }
}

/// Removes the temporary folders in `parent` that no running qqvault holds. Returns what was
/// removed. Errors are not fatal: what cannot be removed stays for a later run.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_ours = name.to_str().is_some_and(|n| {
            ["index-", "update-"]
                .iter()
                .any(|what| n.starts_with(&format!("{PREFIX}{what}")))
        });
        if !is_ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let free = match File::options().write(true).open(path.join(LOCK)) {
            Ok(f) => {
                let free = f.try_lock().is_ok();
                drop(f);
                free
            }
            // A run killed between making the folder and its lock: only an old one is left.
            Err(e) if e.kind() == io::ErrorKind::NotFound => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600),
            Err(_) => false,
        };
        if free && fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}
