//! The directory an index is built in: tantivy's memory-mapped directory without its syncs.
//!
//! Tantivy makes every file it writes durable on its own: each segment file is synced when it
//! is finished, `meta.json` when it is replaced, and the directory after. That is right for an
//! index that lives in its folder. An index built here does not: it is a temporary that the
//! caller copies into its archive once finished, and the archive is what is synced before it
//! takes its name. A crash before then throws the build away with everything else. The syncs
//! only made the indexing threads wait for the disk, and forced onto it files that are removed
//! seconds later (during an update that copies gigabytes, the two indexing threads waited some
//! 3 s each). Here they are left out; everything else is tantivy's own directory.
//!
//! A reader of the same process sees what was written at once (the page cache), which is all
//! tantivy needs between its threads.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tantivy::directory::error::{DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite, WatchCallback,
    WatchHandle, WritePtr,
};
use tantivy::Directory;

/// Tantivy's [`MmapDirectory`] over `root`, whose writes are never synced.
#[derive(Clone, Debug)]
pub(crate) struct UnsyncedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
    /// Names the temporary files of [`Directory::atomic_write`] apart.
    next_temp: Arc<AtomicU64>,
}

impl UnsyncedDirectory {
    pub(crate) fn open(root: &Path) -> Result<Self, OpenDirectoryError> {
        Ok(UnsyncedDirectory {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
            next_temp: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// A file written through tantivy's buffer; finishing it writes nothing more.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for UnsyncedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        // As tantivy's: a file is written once, never over another.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_path_buf())
                } else {
                    OpenWriteError::wrap_io_error(e, path.to_path_buf())
                }
            })?;
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    /// Written beside, then renamed over: a reader sees the old bytes or the new ones.
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().map(|s| s.to_string_lossy()).unwrap_or_default();
        let temp = self.root.join(format!(".{name}.{n}.tmp"));
        let written = std::fs::write(&temp, data).and_then(|()| std::fs::rename(&temp, self.root.join(path)));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn it_writes_reads_and_replaces_as_tantivys_own() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = UnsyncedDirectory::open(tmp.path()).unwrap();
        let name = Path::new("a.idx");
        let mut w = dir.open_write(name).unwrap();
        w.write_all(b"postings").unwrap();
        w.terminate().unwrap();
        assert_eq!(
            dir.open_read(name).unwrap().read_bytes().unwrap().as_slice(),
            b"postings"
        );
        // Written once: a second writer of the same name is refused.
        assert!(matches!(
            dir.open_write(name),
            Err(OpenWriteError::FileAlreadyExists(_))
        ));

        let meta = Path::new("meta.json");
        dir.atomic_write(meta, b"{\"v\":1}").unwrap();
        dir.atomic_write(meta, b"{\"v\":2}").unwrap();
        assert_eq!(dir.atomic_read(meta).unwrap(), b"{\"v\":2}");
        // Nothing is left beside the two files.
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.idx", "meta.json"]);

        dir.delete(name).unwrap();
        assert!(!dir.exists(name).unwrap());
    }
}
