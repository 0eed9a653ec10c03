//! One pass over an archive, read from the disk past the page cache (Linux): the check after a
//! backup whose archive was written the same way (see [`super::direct`]).
//!
//! Read through the page cache, a file that is not cached costs, on some machines, as much
//! processor time to bring in as it took to write (fresh pages). Here a few threads read the file
//! in aligned blocks with `O_DIRECT` into a few buffers that are reused, and three threads take
//! every block in turn: one hashes all the bytes for the seal, two share the entries (hashing
//! Stored data, inflating and hashing Deflated data). Each entry's local header is found in the
//! stream at the offset the central directory gives. What the pass cannot digest (a header
//! that is not one, data that does not inflate, a read that fails) is left out of its result;
//! the check then reads that entry the ordinary way, which names what is wrong with it.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use qqvault_core::Sha256Digest;
use qqvault_formats::sniff::ExportKind;
use sha2::{Digest, Sha256};

use crate::progress::Progress;

/// Threads reading blocks by turns: the disk is given several reads at a time (on the machine
/// of the benchmarks, reading 3.4 GB took 3.5 s with one, 2.7 s with two, 2.5 s with three).
const READERS: u64 = 3;
/// Size of a block read at once.
const BLOCK: usize = 4 << 20;
/// Buffers in use at most (reading, queued and being hashed): few, for memory (a check of
/// 200,000 entries holds their directory and manifest besides).
const BUFFERS: usize = 6;
/// Blocks queued per consumer at most.
const QUEUED: usize = 3;

/// An entry to digest: where its local header starts, its data's stored length and method.
#[derive(Clone, Debug)]
pub struct Planned {
    pub index: usize,
    pub header_start: u64,
    pub compressed: u64,
    pub deflated: bool,
    /// The name the central directory gives it, which its local header must give too.
    pub name: Vec<u8>,
    /// Whether its first [`HEAD_LEN`] bytes of content are shown to the pass's [`Look`].
    pub head: bool,
}

/// How much of an entry's content a [`Look`] is shown.
pub const HEAD_LEN: usize = crate::chats::HEAD_LEN;

/// Shown an entry's name and first bytes of content (when its [`Planned::head`] asks), says
/// which export it is (a resumed backup recognises the exports among the entries it reuses).
pub type Look<'a> = dyn Fn(&[u8], &[u8]) -> Option<ExportKind> + Sync + 'a;

/// What the pass found of an entry: what is wrong with its local header, if anything, and its
/// content's size, CRC-32 and SHA-256.
#[derive(Clone, Debug)]
pub struct Digested {
    pub header_problem: Option<String>,
    pub total: u64,
    pub crc: u32,
    pub digest: Sha256Digest,
    /// What the [`Look`] said of its first bytes.
    pub export: Option<ExportKind>,
}

/// The result of the pass: the seal's hash of the first `hash_len` bytes (an error when the file
/// could not be read to there) and the entries digested.
pub struct Pass {
    pub seal: io::Result<Sha256Digest>,
    /// The hash's state at each of the offsets asked for that the reading reached.
    pub marks: Vec<(u64, Sha256)>,
    /// By zip index: None for an entry the pass did not digest.
    pub entries: Vec<Option<Digested>>,
}

/// A buffer whose usable part is aligned for direct reads.
struct Aligned {
    raw: Vec<u8>,
    skew: usize,
}

impl Aligned {
    fn new(align: usize) -> Self {
        let raw = vec![0u8; BLOCK + align];
        let skew = raw.as_ptr().align_offset(align);
        Aligned { raw, skew }
    }
    fn bytes(&self) -> &[u8] {
        &self.raw[self.skew..self.skew + BLOCK]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.skew..self.skew + BLOCK]
    }
}

/// A block of the file shared by the consumers; its buffer goes back to the reader once the
/// last of them drops it.
struct Window {
    start: u64,
    len: usize,
    buf: Option<Aligned>,
    back: Sender<Aligned>,
}

impl Window {
    fn bytes(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[][..], |b| &b.bytes()[..self.len])
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            let _ = self.back.send(b);
        }
    }
}

/// Whether most of the file is in the page cache (then reading it through a map is faster
/// than from the disk). Sampled with `mincore` over a map of the file; false when unknown.
pub fn mostly_cached(file: &File) -> bool {
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    if len == 0 {
        return true;
    }
    // SAFETY: the map is only handed to mincore, which reads no byte of it.
    let Ok(map) = (unsafe { memmap2::MmapOptions::new().map(file) }) else {
        return false;
    };
    // SAFETY: sysconf reads a system constant.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .unwrap_or(4096)
        .max(1);
    let mut resident = vec![0u8; map.len().div_ceil(page)];
    // SAFETY: `resident` has one byte per page of the mapping, as mincore needs.
    let ok = unsafe {
        libc::mincore(
            map.as_ptr() as *mut libc::c_void,
            map.len(),
            resident.as_mut_ptr(),
        )
    } == 0;
    ok && resident.iter().filter(|r| *r & 1 == 1).count() * 2 >= resident.len()
}

/// Opens `path` for direct reads; None where the system or file system does not take them.
pub fn open(path: &Path) -> Option<(File, usize)> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()?;
    let align = super::direct::alignment(&f);
    (align.is_power_of_two() && BLOCK.is_multiple_of(align)).then_some((f, align))
}

/// Runs the pass over the first `hash_len` bytes of the file opened by [`open`]; `look` is
/// shown the first bytes of the entries planned with [`Planned::head`]; the seal's hash state
/// is kept at each offset of `marks` (ascending). With `from`, the pass goes on from the offset
/// `from.0`, whose bytes before it were hashed already into the state `from.1` (a file read back
/// in two passes: the second goes on from the first): the entries planned lie after it, and the
/// seal's hash and its marks are still those of the whole file's first `hash_len` bytes.
#[allow(clippy::too_many_arguments)]
pub fn run(
    file: File,
    align: usize,
    from: Option<(u64, Sha256)>,
    hash_len: u64,
    plan: &[Planned],
    marks: &[u64],
    look: Option<&Look<'_>>,
    progress: &dyn Progress,
) -> Pass {
    let (skip, state) = from.unwrap_or((0, Sha256::new()));
    // The entries go to two threads by turns of work, in file order, so that both have work
    // wherever the reading stands (the conversations and pages, all deflated, lie together
    // at the end of an archive).
    let mut ordered: Vec<&Planned> = plan.iter().collect();
    ordered.sort_by_key(|p| p.header_start);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (0u64, 0u64);
    for p in ordered {
        // Inflating costs about as much as hashing what comes out (some three times the input).
        let work = if p.deflated {
            p.compressed * 4
        } else {
            p.compressed
        } + 1024;
        if a <= b {
            first.push(p.clone());
            a += work;
        } else {
            second.push(p.clone());
            b += work;
        }
    }
    let (back_tx, back_rx) = crossbeam_channel::unbounded::<Aligned>();
    let (seal_tx, seal_rx) = crossbeam_channel::bounded::<Arc<Window>>(QUEUED);
    let (first_tx, first_rx) = crossbeam_channel::bounded::<Arc<Window>>(QUEUED);
    let (second_tx, second_rx) = crossbeam_channel::bounded::<Arc<Window>>(QUEUED);
    let senders = vec![seal_tx, first_tx, second_tx];
    std::thread::scope(|s| {
        let first_block = skip / BLOCK as u64;
        let reader =
            s.spawn(move || read_blocks(&file, align, first_block, hash_len, senders, back_tx, back_rx));
        let first_done = s.spawn(move || digest_entries(&first, first_rx, look));
        let second_done = s.spawn(move || digest_entries(&second, second_rx, look));
        let mut hasher = state;
        let mut hashed = skip;
        let mut kept = Vec::new();
        let mut marks = marks.iter().copied().filter(|&m| m >= skip).peekable();
        for w in seal_rx {
            let bytes = w.bytes();
            let n = hash_len.saturating_sub(w.start).min(bytes.len() as u64) as usize;
            // The bytes before `skip` were hashed by the pass that this one goes on from.
            let mut done = (skip.saturating_sub(w.start) as usize).min(n);
            let n_new = n - done;
            while let Some(m) = marks.next_if(|&m| m <= w.start + n as u64) {
                let to = (m.saturating_sub(w.start) as usize).max(done);
                hasher.update(&bytes[done..to]);
                done = to;
                kept.push((m, hasher.clone()));
            }
            hasher.update(&bytes[done..n]);
            hashed += n_new as u64;
            progress.advance(n_new as u64);
        }
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread failed")));
        let mut entries: Vec<Option<Digested>> =
            vec![None; plan.iter().map(|p| p.index + 1).max().unwrap_or(0)];
        for (i, d) in first_done
            .join()
            .unwrap_or_default()
            .into_iter()
            .chain(second_done.join().unwrap_or_default())
        {
            entries[i] = Some(d);
        }
        let seal = match read {
            Err(e) => Err(e),
            Ok(()) if hashed < hash_len => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ends at {hashed} bytes, before its seal at {hash_len}"),
            )),
            Ok(()) => Ok(Sha256Digest(hasher.finalize().into())),
        };
        Pass {
            seal,
            marks: kept,
            entries,
        }
    })
}

/// Reads the file's first `hash_len` bytes (rounded up to the block), from the block
/// `first_block` on, and hands each block, in order, to every consumer. [`READERS`] threads
/// read; the blocks are given out to them in file order, each with its buffer, so that the
/// block handed over next always has its buffer (a reader never waits for one while holding
/// another back).
fn read_blocks(
    file: &File,
    align: usize,
    first_block: u64,
    hash_len: u64,
    to: Vec<Sender<Arc<Window>>>,
    back_tx: Sender<Aligned>,
    back_rx: Receiver<Aligned>,
) -> io::Result<()> {
    let blocks = hash_len.div_ceil(BLOCK as u64);
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<(u64, Aligned)>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(u64, io::Result<Arc<Window>>)>();
    std::thread::scope(|s| {
        for _ in 0..READERS {
            let (work_rx, done_tx, back_tx) = (work_rx.clone(), done_tx.clone(), back_tx.clone());
            s.spawn(move || {
                for (k, buf) in work_rx {
                    let read = read_block(file, align, k * BLOCK as u64, buf, &back_tx);
                    if done_tx.send((k, read)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let result = hand_over(first_block, blocks, &to, &work_tx, &done_rx, &back_rx, align);
        // The readers stop once no more work can come.
        drop(work_tx);
        result
    })
}

/// Gives the reads out in order (at most [`READERS`] + 1 ahead of the block awaited) and hands
/// the blocks over as they complete, in order.
fn hand_over(
    first_block: u64,
    blocks: u64,
    to: &[Sender<Arc<Window>>],
    work: &Sender<(u64, Aligned)>,
    done: &Receiver<(u64, io::Result<Arc<Window>>)>,
    back: &Receiver<Aligned>,
    align: usize,
) -> io::Result<()> {
    let stopped = || io::Error::other("a reading thread stopped");
    let mut made = 0usize;
    let (mut issued, mut next) = (first_block, first_block);
    let mut ready: std::collections::BTreeMap<u64, io::Result<Arc<Window>>> = Default::default();
    while next < blocks {
        while issued < blocks && issued <= next + READERS {
            let buf = if made < BUFFERS {
                made += 1;
                Aligned::new(align)
            } else if issued == next {
                // Nothing is being read: every buffer is with the consumers, who give them back.
                back.recv().map_err(|_| stopped())?
            } else {
                match back.try_recv() {
                    Ok(b) => b,
                    Err(_) => break,
                }
            };
            work.send((issued, buf)).map_err(|_| stopped())?;
            issued += 1;
        }
        let w = loop {
            if let Some(r) = ready.remove(&next) {
                break r?;
            }
            let (k, r) = done.recv().map_err(|_| stopped())?;
            ready.insert(k, r);
        };
        next += 1;
        if w.len == 0 {
            return Ok(());
        }
        let short = w.len < BLOCK;
        for t in to {
            t.send(Arc::clone(&w))
                .map_err(|_| io::Error::other("a checking thread stopped"))?;
        }
        if short {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads the block at `at` into `buf`: whole unless the file ends in it.
fn read_block(
    file: &File,
    align: usize,
    at: u64,
    mut buf: Aligned,
    back: &Sender<Aligned>,
) -> io::Result<Arc<Window>> {
    let mut len = 0usize;
    while len < BLOCK {
        match file.read_at(&mut buf.bytes_mut()[len..], at + len as u64) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                // A read that is not a whole number of blocks is the end of the file.
                if !len.is_multiple_of(align) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = back.send(buf);
                return Err(e);
            }
        }
    }
    Ok(Arc::new(Window {
        start: at,
        len,
        buf: Some(buf),
        back: back.clone(),
    }))
}

/// Where an entry's digest stands.
enum Step {
    /// Collecting its local header (the fixed 30 bytes, then the name and extra field).
    Header(Vec<u8>),
    /// Its data starts at this offset.
    Data {
        /// What is wrong with its local header.
        header: Option<String>,
        start: u64,
        sums: Sums,
        inflate: Option<Box<flate2::Decompress>>,
    },
}

/// What is taken of an entry's content as it comes: its hash, CRC and length, and its first
/// bytes when they are asked for.
struct Sums {
    sha: Sha256,
    crc: crc32fast::Hasher,
    total: u64,
    head: Vec<u8>,
    want: usize,
}

impl Sums {
    fn new(want: usize) -> Self {
        Sums {
            sha: Sha256::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            head: Vec::with_capacity(want),
            want,
        }
    }
    fn take(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.crc.update(bytes);
        self.total += bytes.len() as u64;
        let more = self.want.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..more]);
    }
}

/// Digests `entries` (sorted by header offset) from the blocks as they come.
fn digest_entries(
    entries: &[Planned],
    blocks: Receiver<Arc<Window>>,
    look: Option<&Look<'_>>,
) -> Vec<(usize, Digested)> {
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut step: Option<Step> = None;
    let mut inflated = vec![0u8; 256 << 10];
    for w in blocks {
        let end = w.start + w.len as u64;
        let bytes = w.bytes();
        // Several entries can lie in one block: go on until the block is used up.
        while let Some(e) = entries.get(next) {
            let pos = match &step {
                None => e.header_start,
                Some(Step::Header(h)) => e.header_start + h.len() as u64,
                Some(Step::Data { start, .. }) => start + data_done(&step),
            };
            if pos >= end {
                break;
            }
            if pos < w.start {
                // Bytes before this block were never seen: the entries overlap (a damaged
                // directory). Leave this entry to the ordinary check.
                step = None;
                next += 1;
                continue;
            }
            let here = &bytes[(pos - w.start) as usize..];
            match step.take() {
                None => step = Some(Step::Header(Vec::with_capacity(64))),
                Some(Step::Header(mut h)) => {
                    let want = header_len(&h).saturating_sub(h.len());
                    let n = want.min(here.len());
                    h.extend_from_slice(&here[..n]);
                    if h.len() >= 4 && &h[..4] != b"PK\x03\x04" {
                        next += 1;
                        continue;
                    }
                    if h.len() < header_len(&h) || h.len() < 30 {
                        step = Some(Step::Header(h));
                        continue;
                    }
                    let method = if e.deflated {
                        zip::CompressionMethod::Deflated
                    } else {
                        zip::CompressionMethod::Stored
                    };
                    step = Some(Step::Data {
                        start: e.header_start + h.len() as u64,
                        header: crate::archive::verify::local_header_matches(&h, &e.name, method).err(),
                        sums: Sums::new(if e.head && look.is_some() { HEAD_LEN } else { 0 }),
                        inflate: e.deflated.then(|| Box::new(flate2::Decompress::new(false))),
                    });
                }
                Some(Step::Data {
                    header,
                    start,
                    mut sums,
                    mut inflate,
                }) => {
                    let done = pos - start;
                    let n = (e.compressed - done).min(here.len() as u64) as usize;
                    let chunk = &here[..n];
                    let last = done + n as u64 == e.compressed;
                    let ok = match inflate.as_mut() {
                        None => {
                            sums.take(chunk);
                            true
                        }
                        Some(d) => inflate_into(d, chunk, last, &mut inflated, &mut sums),
                    };
                    if !ok {
                        next += 1;
                        continue;
                    }
                    if last {
                        let export = match look {
                            Some(look) if e.head => look(&e.name, &sums.head),
                            _ => None,
                        };
                        out.push((
                            e.index,
                            Digested {
                                header_problem: header,
                                total: sums.total,
                                crc: sums.crc.finalize(),
                                digest: Sha256Digest(sums.sha.finalize().into()),
                                export,
                            },
                        ));
                        next += 1;
                        continue;
                    }
                    step = Some(Step::Data {
                        header,
                        start,
                        sums,
                        inflate,
                    });
                }
            }
        }
    }
    out
}

/// Bytes of the entry's data taken so far: a Stored entry's total, the decompressor's input
/// count for a Deflated one (each block's share is taken whole, see [`inflate_into`]).
fn data_done(step: &Option<Step>) -> u64 {
    match step {
        Some(Step::Data { sums, inflate, .. }) => match inflate {
            Some(d) => d.total_in(),
            None => sums.total,
        },
        _ => 0,
    }
}

/// The local header's full length, once its fixed part is there (30 until then).
fn header_len(h: &[u8]) -> usize {
    if h.len() < 30 {
        return 30;
    }
    30 + u16::from_le_bytes([h[26], h[27]]) as usize + u16::from_le_bytes([h[28], h[29]]) as usize
}

/// Feeds `input` to the decompressor, all of it, and digests what comes out; at the `last`
/// input the stream must end exactly there. False when the data does not inflate.
fn inflate_into(
    d: &mut flate2::Decompress,
    mut input: &[u8],
    last: bool,
    out: &mut [u8],
    sums: &mut Sums,
) -> bool {
    loop {
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let Ok(status) = d.decompress(input, out, flate2::FlushDecompress::None) else {
            return false;
        };
        let used = (d.total_in() - before_in) as usize;
        let made = (d.total_out() - before_out) as usize;
        input = &input[used..];
        sums.take(&out[..made]);
        if status == flate2::Status::StreamEnd {
            return last && input.is_empty();
        }
        if input.is_empty() {
            if made == out.len() {
                // The output was full: more may be waiting inside.
                continue;
            }
            // Everything given is in; at the last input the stream should have ended.
            return !last;
        }
        if used == 0 && made == 0 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Quiet;
    impl Progress for Quiet {}

    fn noise(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect()
    }

    /// Every entry, Stored or Deflated, small or across several blocks, is digested as its
    /// content is, and the seal's hash is that of the bytes before the directory.
    #[test]
    fn the_pass_digests_every_entry_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let mut contents: Vec<(String, Vec<u8>, bool)> = Vec::new();
        contents.push(("big.bin".into(), noise(1, 9 << 20), false));
        let text: Vec<u8> = "聊天记录 line of chat text 12345\n".repeat(200_000).into_bytes();
        contents.push(("big.txt".into(), text, true));
        contents.push(("empty".into(), Vec::new(), false));
        for i in 0..300 {
            let deflated = i % 2 == 0;
            let body = if deflated {
                format!("small text {i} ").repeat(i * 7).into_bytes()
            } else {
                noise(i as u32 + 10, i * 997)
            };
            contents.push((format!("s/{i}"), body, deflated));
        }
        {
            let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
            for (name, body, deflated) in &contents {
                let method = if *deflated {
                    zip::CompressionMethod::Deflated
                } else {
                    zip::CompressionMethod::Stored
                };
                let opts = zip::write::SimpleFileOptions::default().compression_method(method);
                z.start_file(name, opts).unwrap();
                z.write_all(body).unwrap();
            }
            z.finish().unwrap();
        }
        let mut zip = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap();
        let mut plan = Vec::new();
        let mut dir_start = u64::MAX;
        for i in 0..zip.len() {
            let e = zip.by_index_raw(i).unwrap();
            dir_start = dir_start.min(e.header_start());
            plan.push(Planned {
                index: i,
                header_start: e.header_start(),
                compressed: e.compressed_size(),
                deflated: e.compression() == zip::CompressionMethod::Deflated,
                name: e.name_raw().to_vec(),
                head: false,
            });
        }
        let bytes = std::fs::read(&path).unwrap();
        let hash_len = zip.central_directory_start();
        let Some((file, align)) = open(&path) else {
            eprintln!("skipped: the temporary folder takes no direct reads");
            return;
        };
        // The hash state is kept at the start, inside and across blocks, and at the end.
        let marks = [
            0,
            1,
            4095,
            BLOCK as u64,
            BLOCK as u64 + 7,
            3 * BLOCK as u64 - 1,
            hash_len,
        ];
        let pass = run(file, align, None, hash_len, &plan, &marks, None, &Quiet);
        assert_eq!(
            pass.seal.unwrap(),
            Sha256Digest(Sha256::digest(&bytes[..hash_len as usize]).into())
        );
        assert_eq!(pass.marks.len(), marks.len());
        for ((at, state), want) in pass.marks.into_iter().zip(marks) {
            assert_eq!(at, want);
            assert_eq!(
                Sha256Digest(state.finalize().into()),
                Sha256Digest(Sha256::digest(&bytes[..at as usize]).into()),
                "at {at}"
            );
        }
        assert_eq!(pass.entries.len(), contents.len());
        for (i, (_, body, _)) in contents.iter().enumerate() {
            let d = pass.entries[i].as_ref().expect("every entry is digested");
            assert_eq!(d.header_problem, None);
            assert_eq!(d.total, body.len() as u64);
            assert_eq!(d.crc, crc32fast::hash(body));
            assert_eq!(d.digest, Sha256Digest(Sha256::digest(body).into()));
        }
        // A byte flipped in a deflated entry's data: that entry is left to the ordinary check
        // (or digested otherwise), the others are still right.
        let mut damaged = bytes.clone();
        let e = zip.by_index_raw(1).unwrap();
        let at = e.data_start().unwrap() as usize + 1000;
        drop(e);
        damaged[at] ^= 0x55;
        let other = dir.path().join("b.zip");
        std::fs::write(&other, &damaged).unwrap();
        let (file, align) = open(&other).unwrap();
        let pass = run(file, align, None, hash_len, &plan, &[], None, &Quiet);
        assert_ne!(
            pass.seal.unwrap(),
            Sha256Digest(Sha256::digest(&bytes[..hash_len as usize]).into())
        );
        let text = &contents[1].1;
        if let Some(d) = &pass.entries[1] {
            assert!(d.crc != crc32fast::hash(text) || d.total != text.len() as u64);
        }
        assert_eq!(
            pass.entries[0].as_ref().map(|d| d.digest),
            Some(Sha256Digest(Sha256::digest(&contents[0].1).into()))
        );
        assert!(pass.entries.iter().filter(|d| d.is_some()).count() >= contents.len() - 1);
    }
}
