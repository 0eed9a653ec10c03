//! Writing a new archive past the page cache (Linux).
//!
//! Copying gigabytes into the page cache is expensive on some machines (about 1.5 s of
//! processor time per GB on the one the benchmarks run on, against a tenth of that for direct
//! writes), and a backup is short of processor time, not of disk. [`DirectFile`] collects what
//! is written in aligned blocks of [`CAPACITY`] and hands each full block to a thread of its own,
//! which writes it with `O_DIRECT` while the writer fills the next one. What cannot go as a
//! whole block goes through the page cache on an ordinary handle to the same file, in the same
//! order: a write into what was already handed over (the zip writer goes back to fill in a
//! local header once an entry's size is known) and the unfinished block at a flush. Linux keeps
//! the two kinds of write coherent: a direct write first writes out and drops the cached pages
//! of its range.
//!
//! A file system that refuses direct writes gets them through the page cache instead, block by
//! block; nothing else changes. The check that follows the writing then reads the archive from
//! the disk, not from memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

/// Size of the blocks handed to the writing thread.
pub const CAPACITY: usize = 4 << 20;
/// Blocks in flight at most besides the one being filled.
const IN_FLIGHT: usize = 2;

/// A buffer whose usable part starts at an address aligned to the block, as direct writes need.
struct Aligned {
    raw: Vec<u8>,
    skew: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize, align: usize) -> Self {
        let raw = vec![0u8; len + align];
        let skew = raw.as_ptr().align_offset(align);
        Aligned { raw, skew, len }
    }
    fn bytes(&self) -> &[u8] {
        &self.raw[self.skew..self.skew + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.skew..self.skew + self.len]
    }
}

/// What direct reads and writes of `file` must be aligned to (buffers, offsets and lengths):
/// the larger of the page and the file system's block, and 4 KiB at least.
pub fn alignment(file: &File) -> usize {
    // SAFETY: sysconf reads a system constant.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
    let fs_block = file.metadata().map(|m| m.blksize() as usize).unwrap_or(0);
    page.max(fs_block).max(4096)
}

enum Job {
    /// A whole block, written directly at the offset.
    Block(u64, Aligned),
    /// Bytes written through the page cache at the offset.
    Bytes(u64, Vec<u8>),
    /// Answered once everything sent before is written.
    Barrier(Sender<()>),
}

/// A file being written from its start (or after a start it keeps, see
/// [`DirectFile::after`]), in blocks that bypass the page cache.
pub struct DirectFile {
    /// The ordinary handle: the writing thread writes through it what is not a whole block,
    /// reads and the final sync go through it, and it is what [`DirectFile::into_file`] returns.
    file: File,
    /// The block being filled, which starts at `start` and holds `len` bytes.
    buf: Aligned,
    start: u64,
    len: usize,
    /// Where the next write goes, and the end of what was written.
    pos: u64,
    end: u64,
    capacity: usize,
    jobs: Option<Sender<Job>>,
    spent: Receiver<Aligned>,
    /// Blocks made so far (the one being filled included).
    made: usize,
    align: usize,
    failure: Arc<Mutex<Option<io::Error>>>,
    /// Set by the writing thread when the system refused a direct write.
    cached_blocks: Arc<std::sync::atomic::AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl DirectFile {
    /// Writes into `file`, an empty file just created at `path`, in blocks of [`CAPACITY`].
    /// None when the file cannot be opened for direct writes at all (the caller then writes
    /// through the page cache as usual).
    pub fn new(file: File, path: &Path) -> Option<Self> {
        Self::with_capacity(file, path, CAPACITY)
    }

    /// [`new`](Self::new) with blocks of `capacity` bytes (a multiple of the file system's block).
    pub fn with_capacity(file: File, path: &Path, capacity: usize) -> Option<Self> {
        Self::with_capacity_at(file, path, capacity, 0)
    }

    /// Writes into `file` after its first `at` bytes, which stay as they are (the checked start
    /// of an interrupted run's file, which a resumed run goes on writing after). The bytes from
    /// `at` to the next multiple of the block go through the page cache, as writes into a block
    /// handed over do: the direct blocks start there, and nothing before `at` is written again.
    pub fn after(file: File, path: &Path, at: u64) -> Option<Self> {
        Self::with_capacity_at(file, path, CAPACITY, at)
    }

    fn with_capacity_at(file: File, path: &Path, capacity: usize, at: u64) -> Option<Self> {
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        let align = alignment(&direct);
        if !align.is_power_of_two() || capacity == 0 || !capacity.is_multiple_of(align) {
            return None;
        }
        // Where the first direct block starts: `at` rounded up to the block.
        let start = at.checked_next_multiple_of(align as u64)?;
        let cached = file.try_clone().ok()?;
        let (jobs, todo) = crossbeam_channel::bounded::<Job>(IN_FLIGHT);
        let (spent_tx, spent) = crossbeam_channel::unbounded::<Aligned>();
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        let cached_blocks = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fell_back = Arc::clone(&cached_blocks);
        let worker = std::thread::Builder::new()
            .name("direct-write".into())
            .spawn(move || write_jobs(direct, cached, todo, spent_tx, failed, fell_back))
            .ok()?;
        Some(DirectFile {
            file,
            buf: Aligned::new(capacity, align),
            start,
            len: 0,
            pos: at,
            end: at,
            capacity,
            jobs: Some(jobs),
            spent,
            made: 1,
            align,
            failure,
            cached_blocks,
            worker: Some(worker),
        })
    }

    /// Whether a block had to go through the page cache (the system refused to write it
    /// directly): the rest did too.
    pub fn fell_back(&self) -> bool {
        self.cached_blocks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The ordinary handle to the file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Bytes written that are not in the file yet: the block being filled.
    pub fn pending(&self) -> usize {
        self.len
    }

    fn failed(&self) -> io::Result<()> {
        match self
            .failure
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|e| (e.kind(), e.to_string())))
        {
            Some((kind, text)) => Err(io::Error::new(kind, text)),
            None => Ok(()),
        }
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        self.failed()?;
        let sent = self.jobs.as_ref().map(|j| j.send(job).is_ok()).unwrap_or(false);
        if !sent {
            self.failed()?;
            return Err(io::Error::other("the thread writing the archive has stopped"));
        }
        Ok(())
    }

    /// Hands the full block over and starts the next one.
    fn ship(&mut self) -> io::Result<()> {
        let next = if self.made < IN_FLIGHT + 2 {
            self.made += 1;
            Aligned::new(self.capacity, self.align)
        } else {
            self.spent
                .recv()
                .map_err(|_| io::Error::other("the thread writing the archive has stopped"))?
        };
        let full = std::mem::replace(&mut self.buf, next);
        let at = self.start;
        self.start += self.capacity as u64;
        self.len = 0;
        self.send(Job::Block(at, full))
    }

    /// Waits until everything handed over is written, and reports the first failure.
    fn drain(&mut self) -> io::Result<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Job::Barrier(tx))?;
        if rx.recv().is_err() {
            self.failed()?;
            return Err(io::Error::other("the thread writing the archive has stopped"));
        }
        self.failed()
    }

    /// How far from the start the file holds everything written so far, once the writing thread
    /// has written all it was handed: the whole blocks handed over, and what went through the
    /// page cache into them. The block being filled is not written (nothing is copied).
    pub fn settled(&self) -> io::Result<u64> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send(Job::Barrier(tx)).is_ok());
        if !sent || rx.recv().is_err() {
            self.failed()?;
            return Err(io::Error::other("the thread writing the archive has stopped"));
        }
        self.failed()?;
        // Before the first direct block of a writer that went on after a file's start, only
        // what went through the page cache is there.
        Ok(self.start.min(self.end))
    }

    /// Writes everything (the unfinished block through the page cache), waits for the writing
    /// thread, and returns the ordinary handle.
    pub fn into_file(mut self) -> io::Result<File> {
        self.flush()?;
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.failed()?;
        self.file.try_clone()
    }
}

impl Drop for DirectFile {
    /// What was written is put in the file even when the writer is dropped without being
    /// finished (an interrupted run's partial file then holds all it wrote, as with a buffered
    /// writer).
    fn drop(&mut self) {
        if self.len > 0 && self.worker.is_some() {
            let tail = self.buf.bytes()[..self.len].to_vec();
            let _ = self.send(Job::Bytes(self.start, tail));
        }
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The writing thread: writes the jobs in the order they come; the first failure is kept and
/// nothing more is written after it.
fn write_jobs(
    direct: File,
    cached: File,
    todo: Receiver<Job>,
    spent: Sender<Aligned>,
    failure: Arc<Mutex<Option<io::Error>>>,
    fell_back: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut use_direct = true;
    let mut failed = false;
    for job in todo {
        match job {
            Job::Block(at, buf) => {
                if !failed {
                    let mut done = use_direct && direct.write_all_at(buf.bytes(), at).is_ok();
                    if !done {
                        // Refused (a file system without direct writes, say): the page cache
                        // takes this block and the rest.
                        use_direct = false;
                        fell_back.store(true, std::sync::atomic::Ordering::Relaxed);
                        match cached.write_all_at(buf.bytes(), at) {
                            Ok(()) => done = true,
                            Err(e) => {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                            }
                        }
                    }
                    failed = !done;
                }
                let _ = spent.send(buf);
            }
            Job::Bytes(at, bytes) => {
                if !failed {
                    if let Err(e) = cached.write_all_at(&bytes, at) {
                        failed = true;
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.pos < self.start {
            // Into a block already handed over: through the page cache, after it.
            let n = (self.start - self.pos).min(data.len() as u64) as usize;
            self.send(Job::Bytes(self.pos, data[..n].to_vec()))?;
            self.pos += n as u64;
            self.end = self.end.max(self.pos);
            return Ok(n);
        }
        let filled = self.start + self.len as u64;
        if self.pos > filled {
            // Past the end: what lies between reads as zeros, as in a file written so.
            let to = self.pos;
            self.pos = filled;
            let zeros = vec![0u8; (to - filled).min(self.capacity as u64) as usize];
            while self.pos < to {
                let n = zeros.len().min((to - self.pos) as usize);
                self.write_all(&zeros[..n])?;
            }
        }
        let off = (self.pos - self.start) as usize;
        let n = data.len().min(self.capacity - off);
        self.buf.bytes_mut()[off..off + n].copy_from_slice(&data[..n]);
        self.len = self.len.max(off + n);
        self.pos += n as u64;
        self.end = self.end.max(self.pos);
        if self.len == self.capacity {
            self.ship()?;
        }
        Ok(n)
    }

    /// Puts the unfinished block in the file too (through the page cache; it stays the block
    /// being filled, and is written again whole once full) and waits for the writing thread.
    fn flush(&mut self) -> io::Result<()> {
        if self.len > 0 {
            let tail = self.buf.bytes()[..self.len].to_vec();
            self.send(Job::Bytes(self.start, tail))?;
        }
        self.drain()
    }
}

impl Seek for DirectFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::Current(by) => self.pos.checked_add_signed(by),
            SeekFrom::End(by) => self.end.checked_add_signed(by),
        };
        self.pos =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl Read for DirectFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.flush()?;
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Write(usize),
        /// Back to this share (per mille) of what was written, then write this many bytes.
        Patch(u16, usize),
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0usize..40_000).prop_map(Op::Write),
            2 => (0u16..1000, 1usize..300).prop_map(|(at, n)| Op::Patch(at, n)),
            1 => Just(Op::Flush),
        ]
    }

    /// A writer of 16 KiB blocks into a new file in `dir`, and the file's path; None, said on
    /// stderr, where the folder takes no direct writes.
    fn small_blocks(dir: &std::path::Path) -> Option<(DirectFile, std::path::PathBuf)> {
        let path = dir.join("a.zip.partial");
        let file = File::create(&path).unwrap();
        let w = DirectFile::with_capacity(file, &path, 16 << 10);
        if w.is_none() {
            eprintln!("skipped: the temporary folder takes no direct writes");
        }
        w.map(|w| (w, path))
    }

    /// A writer dropped unfinished (a run that stops on an error) leaves in the file all it
    /// was given, the unfinished block included.
    #[test]
    fn a_dropped_writer_leaves_what_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let Some((mut w, path)) = small_blocks(dir.path()) else {
            return;
        };
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).unwrap();
        drop(w);
        assert!(std::fs::read(&path).unwrap() == data);
    }

    /// A writer that goes on after a file's start (a resumed run's checked entries) leaves
    /// that start as it is, and the file ends up as the start and then what was written;
    /// `settled` never says more than what is there.
    #[test]
    fn a_writer_after_a_start_keeps_it_and_writes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip.partial");
        // Not a multiple of the block, so the first bytes go through the page cache.
        let start: Vec<u8> = (0..10_001u32).map(|i| (i % 241) as u8).collect();
        std::fs::write(&path, &start).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let Some(mut w) = DirectFile::with_capacity_at(file, &path, 16 << 10, start.len() as u64) else {
            eprintln!("skipped: the temporary folder takes no direct writes");
            return;
        };
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 239) as u8).collect();
        w.write_all(&data[..100]).unwrap();
        let at = w.settled().unwrap();
        assert!(at <= start.len() as u64 + 100, "settled at {at}");
        w.write_all(&data[100..]).unwrap();
        // Back into what went through the page cache, as the zip writer fills in a header.
        w.seek(SeekFrom::Start(start.len() as u64 + 10)).unwrap();
        w.write_all(b"patched").unwrap();
        w.seek(SeekFrom::End(0)).unwrap();
        let mut expected = [start.clone(), data].concat();
        expected[start.len() + 10..start.len() + 17].copy_from_slice(b"patched");
        // Two whole blocks of 16 KiB from the block after the start were handed over.
        let first_block = (start.len() as u64).next_multiple_of(alignment(w.file()) as u64);
        assert_eq!(w.settled().unwrap(), first_block + 2 * (16 << 10));
        // Written past the cache, not through it after a refusal.
        assert!(!w.fell_back(), "the blocks went through the page cache");
        drop(w.into_file().unwrap());
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    /// `settled` says how far the file holds what was written, patches into blocks handed over
    /// included, and writes nothing of the block being filled.
    #[test]
    fn settled_is_where_the_file_holds_everything_written() {
        let dir = tempfile::tempdir().unwrap();
        let Some((mut w, path)) = small_blocks(dir.path()) else {
            return;
        };
        let mut data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).unwrap();
        w.seek(SeekFrom::Start(100)).unwrap();
        w.write_all(b"patched").unwrap();
        w.seek(SeekFrom::End(0)).unwrap();
        data[100..107].copy_from_slice(b"patched");
        let at = w.settled().unwrap();
        assert_eq!(at, 32 << 10);
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len() as u64, at);
        assert!(on_disk == data[..at as usize]);
        drop(w);
        assert!(std::fs::read(&path).unwrap() == data);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Written the way the zip writer writes (on, back to patch a header, on from the end),
        /// the file holds what a plain buffer written the same way holds.
        #[test]
        fn holds_what_was_written(ops in prop::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let Some((mut w, path)) = small_blocks(dir.path()) else {
                return Ok(());
            };
            let mut model: Vec<u8> = Vec::new();
            let mut counter = 0u32;
            let mut bytes = |n: usize| -> Vec<u8> {
                (0..n).map(|_| { counter = counter.wrapping_mul(1_103_515_245).wrapping_add(12_345); (counter >> 16) as u8 }).collect()
            };
            for op in ops {
                match op {
                    Op::Write(n) => {
                        let b = bytes(n);
                        w.seek(SeekFrom::End(0)).unwrap();
                        w.write_all(&b).unwrap();
                        model.extend_from_slice(&b);
                    }
                    Op::Patch(at, n) => {
                        let at = model.len() * at as usize / 1000;
                        let b = bytes(n);
                        w.seek(SeekFrom::Start(at as u64)).unwrap();
                        w.write_all(&b).unwrap();
                        let end = (at + n).max(model.len());
                        model.resize(end, 0);
                        model[at..at + n].copy_from_slice(&b);
                        w.seek(SeekFrom::End(0)).unwrap();
                    }
                    Op::Flush => w.flush().unwrap(),
                }
                prop_assert_eq!(w.stream_position().unwrap(), model.len() as u64);
            }
            let f = w.into_file().unwrap();
            f.sync_all().unwrap();
            drop(f);
            prop_assert!(std::fs::read(&path).unwrap() == model, "the file differs from what was written");
        }
    }
}
