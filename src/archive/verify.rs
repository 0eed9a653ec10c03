//! Checking an archive: the one function behind both the check that every backup makes before
//! it names its archive, and the `verify` command. It returns findings, never stops at the first:
//! the caller decides the exit code from them.
//!
//! What is checked: the seal (SHA-256 of every byte before it, so any flipped byte anywhere is
//! caught), the zip structure, each entry's local header against the central directory, each
//! entry's CRC-32 and SHA-256 against the manifest, that the manifest lists every entry and
//! nothing else, that every file record points at an entry of its content, and the totals.
//! Two threads: one hashes the raw file for the seal while the other reads the entries.

use crate::archive::layout;
use crate::archive::manifest::{Manifest, Method};
use crate::archive::read::read_seal;
use crate::archive::seal::Seal;
use crate::archive::shared::SharedReader;
use crate::error::{Error, Result};
use crate::progress::Progress;
use qqvault_core::Sha256Digest;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use zip::ZipArchive;

/// The kinds of problem, as stable snake_case names (documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    NotAZip,
    Truncated,
    Structure,
    SealMissing,
    SealMismatch,
    ManifestMissing,
    ManifestUnreadable,
    EntryMissing,
    EntryUnlisted,
    HeaderMismatch,
    CrcMismatch,
    HashMismatch,
    SizeMismatch,
    EntryUnreadable,
    FileRecordMismatch,
    TotalsMismatch,
    MissingFromArchive,
    ChangedSinceBackup,
    SourceUnreadable,
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub entry: Option<String>,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Zip entries checked.
    pub entries: u64,
    /// Bytes of entry data checked (uncompressed).
    pub bytes: u64,
    pub problems: Vec<Problem>,
    #[serde(skip)]
    pub computed_seal: Option<Sha256Digest>,
    #[serde(skip)]
    pub seal_start: Option<u64>,
    #[serde(skip)]
    pub seal: Option<Seal>,
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    /// Compressed size of the entries under files/.
    #[serde(skip)]
    pub file_bytes_stored: u64,
    #[serde(skip)]
    pub manifest_offset: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// The archive was just written and carries a placeholder seal: compute the seal, do not
    /// compare it.
    pub unsealed: bool,
    /// Read the file once from the disk, past the page cache, where the system allows it (see
    /// [`crate::archive::sequential`]): for an archive just written past the page cache. The
    /// findings are the same; `QQVAULT_VERIFY_SEQUENTIAL=1` turns it on for `verify` too.
    pub sequential: bool,
}

impl VerifyReport {
    fn problem(&mut self, entry: Option<&str>, kind: ProblemKind, detail: impl Into<String>) {
        self.problems.push(Problem {
            entry: entry.map(str::to_string),
            kind,
            detail: detail.into(),
        });
    }
}

/// Checks the archive at `path`. Only a file that cannot be opened at all is an `Err`.
pub fn verify(path: &Path, opts: VerifyOptions, progress: &dyn Progress) -> Result<VerifyReport> {
    verify_with(path, opts, None, progress)
}

/// [`verify`], for an archive whose start is `known` (see [`KnownPrefix`]).
pub fn verify_with(
    path: &Path,
    opts: VerifyOptions,
    known: Option<&KnownPrefix>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let mut file = File::open(path).map_err(|e| Error::read(path, e))?;
    let meta = file.metadata().map_err(|e| Error::read(path, e))?;
    if meta.is_dir() {
        return Err(Error::read(
            path,
            io::Error::other("it is a folder, not an archive"),
        ));
    }
    let len = meta.len();
    let mut report = VerifyReport::default();
    let seal = read_seal(&mut file, len).map_err(|e| Error::read(path, e))?;
    let seal_start = seal.as_ref().map(|(s, _)| *s);
    report.seal_start = seal_start;
    match &seal {
        None => report.problem(
            None,
            ProblemKind::SealMissing,
            "no qqvault seal at the end of the file: it is truncated, damaged, or not written by qqvault",
        ),
        Some((_, Err(e))) => report.problem(
            None,
            ProblemKind::SealMismatch,
            format!("the seal cannot be read: {e}"),
        ),
        Some((_, Ok(s))) => report.seal = Some(s.clone()),
    }
    progress.phase("verifying", Some(len));
    let hash_len = seal_start.unwrap_or(len);
    let sequential = if opts.sequential && known.is_none() {
        open_sequential(path)
    } else {
        None
    };
    // A file written past the page cache whose start was read back already is checked through
    // the map: what little of it went through the cache (local headers filled in once an
    // entry's size was known, the last block) is dropped from the cache first, so that this
    // check too reads the disk, not memory (the file is synced: those pages are clean).
    if opts.sequential && known.is_some() {
        drop_cached(&file);
    }
    // One read-only map of the file, shared by the seal's hash and the entries' checks: no copy
    // and no system call per block, and the pages are faulted in once for both. SAFETY: the
    // map is only read; another program truncating the file while it is checked could make a
    // read fault (qqvault never writes a file it checks). Without a map, plain reads are used.
    let map = if sequential.is_some() {
        None
    } else {
        unsafe { memmap2::MmapOptions::new().map(&file) }.ok()
    };
    let seal_path = path.to_path_buf();
    if let Some(direct) = sequential {
        let streamed = check_entries(path, &mut report, None, None, Some((direct, hash_len, progress)));
        let seal_hash = match streamed {
            Some(Ok(d)) => Ok(d),
            // A read that failed (a file system that opens for direct reads but refuses them,
            // say, or a file shorter than it says): the ordinary check reads the file again and
            // names what is wrong, if anything is.
            Some(Err(_)) => {
                progress.finish_phase();
                let ordinary = VerifyOptions {
                    sequential: false,
                    ..opts
                };
                return verify_with(path, ordinary, known, progress);
            }
            // The directory could not be read, so there was no pass: the seal is hashed alone.
            None => hash_prefix(&seal_path, hash_len, None, progress).map_err(SealFailure::Io),
        };
        progress.finish_phase();
        return Ok(conclude(report, seal_hash, opts, known));
    }
    let (seal_hash, ()) = std::thread::scope(|s| {
        let map = map.as_ref();
        let hasher = s.spawn(move || match known {
            Some(k) => hash_after_known(&seal_path, hash_len, map, k, progress),
            None => hash_prefix(&seal_path, hash_len, map, progress).map_err(SealFailure::Io),
        });
        check_entries(path, &mut report, map, known, None);
        (
            hasher
                .join()
                .unwrap_or_else(|_| Err(SealFailure::Io(io::Error::other("hash thread failed")))),
            (),
        )
    });
    progress.finish_phase();
    Ok(conclude(report, seal_hash, opts, known))
}

/// Whether most of the file at `path` is in the page cache (true where that cannot be told):
/// a check then reads it through a map rather than from the disk.
pub fn mostly_cached(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        File::open(path).is_ok_and(|f| crate::archive::sequential::mostly_cached(&f))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        true
    }
}

/// Asks the system to drop the file's clean pages from the page cache (Linux; elsewhere
/// nothing).
fn drop_cached(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; it reads no memory of ours.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
    }
}

/// The direct-read handle for a sequential check, when the system gives one.
#[cfg(target_os = "linux")]
fn open_sequential(path: &Path) -> Option<(File, usize)> {
    crate::archive::sequential::open(path)
}
#[cfg(not(target_os = "linux"))]
fn open_sequential(_path: &Path) -> Option<(File, usize)> {
    None
}

/// The seal's verdict, added to what the entries' check found.
fn conclude(
    mut report: VerifyReport,
    seal_hash: std::result::Result<Sha256Digest, SealFailure>,
    opts: VerifyOptions,
    known: Option<&KnownPrefix>,
) -> VerifyReport {
    match seal_hash {
        Ok(d) => {
            report.computed_seal = Some(d);
            if !opts.unsealed {
                if let Some(s) = &report.seal {
                    if s.sha256 != d {
                        let detail = if report.problems.is_empty() {
                            "the file's bytes do not match its seal: something outside the entries' data (a header, the central directory) was changed".to_string()
                        } else {
                            "the file's bytes do not match its seal".to_string()
                        };
                        report.problem(None, ProblemKind::SealMismatch, detail);
                    }
                }
            }
        }
        Err(SealFailure::Io(e)) => report.problem(
            None,
            ProblemKind::Truncated,
            format!("cannot read the file to its end: {e}"),
        ),
        Err(SealFailure::CopyDiffers(at)) => report.problem(
            None,
            ProblemKind::HashMismatch,
            format!(
                "the bytes copied from {} differ from it at offset {at}: the copy is not whole",
                known.map_or_else(String::new, |k| k.from.display().to_string())
            ),
        ),
    }
    if let (false, Some(s), Some(off)) = (opts.unsealed, &report.seal, report.manifest_offset) {
        if s.manifest_offset != off {
            report.problem(
                Some(layout::MANIFEST_ENTRY),
                ProblemKind::SealMismatch,
                format!(
                    "the seal says the manifest starts at {} but it starts at {off}",
                    s.manifest_offset
                ),
            );
        }
    }
    report.ok = report.problems.is_empty();
    report
}

/// Checks an archive that is about to be built on (updated, reindexed): a damaged one is an
/// error that names the first problem and says what to do (`next`).
pub fn require_intact(path: &Path, progress: &dyn Progress, next: &str) -> Result<()> {
    let check = verify(path, VerifyOptions::default(), progress)?;
    if check.ok {
        return Ok(());
    }
    let first = check
        .problems
        .first()
        .map(|p| format!("{}: {}", p.entry.as_deref().unwrap_or("archive"), p.detail))
        .unwrap_or_default();
    Err(Error::Damaged {
        path: path.to_path_buf(),
        detail: format!("{first}; {next}"),
    })
}

/// Whether the archive's bytes match its seal: one read of the file, none of the entries'
/// checks. The seal was written after the archive was checked whole, so a match says the
/// archive is as it was then; anything else (no seal, another hash, a read error) is for
/// [`require_intact`] to explain. With `from`, the hash goes on from that state after that many
/// bytes, hashed by the caller (an update's block copy, from the bytes it wrote), and the
/// state is kept when the seal matches (for [`KnownPrefix`]).
pub fn seal_matches(path: &Path, from: Option<(u64, Sha256)>) -> SealCheck {
    let mut found = SealCheck::default();
    let Ok(mut file) = File::open(path) else {
        return found;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return found;
    };
    let Ok(Some((start, Ok(seal)))) = read_seal(&mut file, len) else {
        return found;
    };
    // SAFETY: as in `verify`: read only.
    let map = unsafe { memmap2::MmapOptions::new().map(&file) }.ok();
    let silent = &crate::progress::Silent;
    let mut hasher = Sha256::new();
    let mut kept = None;
    let mut hashed = 0;
    if let Some((k, state)) = from.filter(|(k, _)| *k <= start) {
        hasher = state.clone();
        kept = Some((k, state));
        hashed = k;
    }
    if hash_range(&mut hasher, path, hashed..start, map.as_ref(), silent).is_err() {
        return found;
    }
    found.matched = Sha256Digest(hasher.finalize().into()) == seal.sha256;
    if found.matched {
        found.state_at = kept;
    }
    found
}

/// What [`seal_matches`] found.
#[derive(Default)]
pub struct SealCheck {
    /// The bytes before the seal hash to what it says.
    pub matched: bool,
    /// When the hash went on from a state given and the seal matched: that state, with how
    /// many bytes it is after.
    pub state_at: Option<(u64, Sha256)>,
}

fn hash_prefix(
    path: &Path,
    len: u64,
    map: Option<&memmap2::Mmap>,
    progress: &dyn Progress,
) -> io::Result<Sha256Digest> {
    let mut hasher = Sha256::new();
    hash_range(&mut hasher, path, 0..len, map, progress)?;
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// Feeds the bytes `range` of the file (through `map` when there is one) to `hasher`.
fn hash_range(
    hasher: &mut Sha256,
    path: &Path,
    range: std::ops::Range<u64>,
    map: Option<&memmap2::Mmap>,
    progress: &dyn Progress,
) -> io::Result<()> {
    let span = usize::try_from(range.start)
        .ok()
        .zip(usize::try_from(range.end).ok());
    if let Some((m, (start, end))) = map.zip(span).filter(|(m, (_, end))| *end <= m.len()) {
        let mut at = start;
        for chunk in m[start..end].chunks(1 << 22) {
            hasher.update(chunk);
            progress.advance(chunk.len() as u64);
            release(m, at, chunk.len());
            at += chunk.len();
        }
        return Ok(());
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(range.start))?;
    let mut left = range.end.saturating_sub(range.start);
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..want])?;
        hasher.update(&buf[..want]);
        left -= want as u64;
        progress.advance(want as u64);
    }
    Ok(())
}

/// The seal's hash of an archive whose start is [`KnownPrefix`]: those bytes are compared
/// with the archive they were copied from, and the hash goes on from that archive's state
/// after them.
fn hash_after_known(
    path: &Path,
    len: u64,
    map: Option<&memmap2::Mmap>,
    known: &KnownPrefix,
    progress: &dyn Progress,
) -> std::result::Result<Sha256Digest, SealFailure> {
    if known.len > len {
        return Err(SealFailure::CopyDiffers(len));
    }
    let from = File::open(&known.from).map_err(SealFailure::Io)?;
    // SAFETY: read only, as the map of the file checked.
    let from_map = unsafe { memmap2::MmapOptions::new().map(&from) }.ok();
    let end = usize::try_from(known.len).map_err(|e| SealFailure::Io(io::Error::other(e)))?;
    let start = usize::try_from(known.compared.min(known.len)).unwrap_or(0);
    progress.advance(start as u64);
    match (map, from_map.as_ref()) {
        (Some(a), Some(b)) if a.len() >= end && b.len() >= end => {
            let mut at = start;
            while at < end {
                let n = (end - at).min(1 << 22);
                if a[at..at + n] != b[at..at + n] {
                    let first = (at..at + n).find(|&i| a[i] != b[i]).unwrap_or(at);
                    return Err(SealFailure::CopyDiffers(first as u64));
                }
                progress.advance(n as u64);
                release(a, at, n);
                release(b, at, n);
                at += n;
            }
        }
        _ => {
            let (mut a, mut b) = (File::open(path).map_err(SealFailure::Io)?, from);
            a.seek(SeekFrom::Start(start as u64)).map_err(SealFailure::Io)?;
            b.seek(SeekFrom::Start(start as u64)).map_err(SealFailure::Io)?;
            let (mut a, mut b) = (io::BufReader::new(a), io::BufReader::new(b));
            let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
            let mut at = start as u64;
            while at < known.len {
                let n = (known.len - at).min(1 << 20) as usize;
                a.read_exact(&mut x[..n]).map_err(SealFailure::Io)?;
                b.read_exact(&mut y[..n]).map_err(SealFailure::Io)?;
                if x[..n] != y[..n] {
                    let first = (0..n).find(|&i| x[i] != y[i]).unwrap_or(0);
                    return Err(SealFailure::CopyDiffers(at + first as u64));
                }
                progress.advance(n as u64);
                at += n as u64;
            }
        }
    }
    let mut hasher = known.state.clone();
    hash_range(&mut hasher, path, known.len..len, map, progress).map_err(SealFailure::Io)?;
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// Why the seal's hash of a file could not be made.
enum SealFailure {
    Io(io::Error),
    /// The bytes copied from another archive ([`KnownPrefix`]) differ from it from here on.
    CopyDiffers(u64),
}

/// The start of an archive just written that is a copy of the start of another, sealed
/// archive, whose seal was found to match its bytes (an update copies the unchanged start of
/// the archive it updates). Bytes of it not yet proven (from `compared` on) are compared with
/// that archive's instead of hashed, and the hash goes on from that archive's state after
/// them; the entries that lie in them, recorded as in that archive's manifest, are proven:
/// they were checked whole before that archive was sealed. An update's block is proven whole
/// (`compared` is `len`): the state is the hash of the very bytes the copy wrote, in order,
/// and that archive's seal matched when its check went on from it.
///
/// A resumed backup that goes on in its interrupted run's file has such a start too: the
/// entries that the resumed run read back, in one pass that hashed every byte up to their end
/// (see [`crate::archive::salvage`]). Then `from` is the file itself and `compared` is `len`:
/// those bytes were read back by this run, before it wrote after them, and are not read again.
pub struct KnownPrefix {
    /// The archive the bytes were copied from.
    pub from: std::path::PathBuf,
    /// How many bytes from the start.
    pub len: u64,
    /// Of those, how many from the start are proven already (hashed as they were written, or
    /// read back by a resumed run): they are not read again.
    pub compared: u64,
    /// The SHA-256 state after them, from the check of that archive's seal.
    pub state: Sha256,
    /// That archive's manifest records, by entry name.
    pub records: HashMap<String, crate::archive::manifest::EntryRecord>,
    /// The entries in those bytes, by name, each with where it lies: from its local header to
    /// the next entry's (or the end of those bytes), as that archive's directory or headers
    /// say (an entry's data ends where the next one starts: no data descriptors, no gaps in
    /// what qqvault writes). An entry of the zip directory with
    /// this name and header offset is proven by the comparison; its local header is not read.
    pub spans: HashMap<String, std::ops::Range<u64>>,
    /// Entries copied as they are from that archive, after the start, by their name here: their
    /// data is compared with that archive's instead of decompressed and hashed, when their
    /// records are that archive's.
    pub moved: HashMap<String, crate::archive::write::RawCopy>,
}

/// What the checks of the entries take from a [`KnownPrefix`].
#[derive(Clone, Copy)]
struct Proofs<'a> {
    /// The entries that lie in the compared start.
    proven: &'a HashSet<usize>,
    /// The other archive, mapped, for the entries copied from it.
    moved: Option<(&'a KnownPrefix, &'a memmap2::Mmap)>,
}

/// Whether the entry `name`, whose data is `data` at `at` in the archive checked, is a copy of
/// its entry in the archive of `k`, found whole ([`KnownPrefix::moved`]): the same bytes, and
/// the same record in both manifests (and in the zip directory).
#[allow(clippy::too_many_arguments)]
fn same_as_copied(
    k: &KnownPrefix,
    old_map: &memmap2::Mmap,
    map: &memmap2::Mmap,
    name: &str,
    data: &[u8],
    at: usize,
    new: Option<&&crate::archive::manifest::EntryRecord>,
    directory: (u32, u64, zip::CompressionMethod),
) -> bool {
    let Some(c) = k.moved.get(name) else {
        return false;
    };
    let (Some(old), Some(new)) = (k.records.get(&c.from_name), new) else {
        return false;
    };
    let same_record = new.size == old.size
        && new.crc32 == old.crc32
        && new.sha256 == old.sha256
        && new.method == old.method
        && new.kind == old.kind
        && directory == (old.crc32, old.size, method_of(old.method));
    let (Ok(from), Ok(len)) = (usize::try_from(c.from), usize::try_from(c.len)) else {
        return false;
    };
    if !same_record || c.to != at as u64 || len != data.len() {
        return false;
    }
    let Some(there) = from.checked_add(len).and_then(|end| old_map.get(from..end)) else {
        return false;
    };
    for (i, (a, b)) in data.chunks(1 << 22).zip(there.chunks(1 << 22)).enumerate() {
        if a != b {
            return false;
        }
        release(map, at + (i << 22), a.len());
        release(old_map, from + (i << 22), b.len());
    }
    true
}

/// With `stream` (a direct-read handle, its alignment, the seal's length and the progress), the
/// entries' data and the seal's hash come from one sequential pass over the file; the seal's
/// hash is returned then (None when the directory could not be read and no pass was made).
fn check_entries(
    path: &Path,
    report: &mut VerifyReport,
    map: Option<&memmap2::Mmap>,
    known: Option<&KnownPrefix>,
    stream: Option<((File, usize), u64, &dyn Progress)>,
) -> Option<io::Result<Sha256Digest>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            report.problem(None, ProblemKind::Structure, format!("cannot open: {e}"));
            return None;
        }
    };
    let mut head = [0u8; 4];
    let starts_like_zip = {
        let mut f = &file;
        f.read_exact(&mut head).is_ok() && &head == b"PK\x03\x04"
    };
    let mut zip = match ZipArchive::new(SharedReader::new(file)) {
        Ok(z) => z,
        Err(e) => {
            let (kind, detail) = if starts_like_zip {
                (
                    ProblemKind::Truncated,
                    format!(
                        "the zip directory cannot be read ({e}): the file is truncated or its end is damaged"
                    ),
                )
            } else {
                (ProblemKind::NotAZip, format!("not a zip file ({e})"))
            };
            report.problem(None, kind, detail);
            return None;
        }
    };
    if zip.has_duplicate_names() {
        report.problem(
            None,
            ProblemKind::Structure,
            "the zip directory names an entry twice",
        );
    }
    let count = zip.len();
    report.entries = count as u64;
    // The sequential pass goes first, before the manifest is read: the two are not in memory
    // at once.
    let pass = stream.map(|(direct, hash_len, progress)| sequential_pass(&zip, direct, hash_len, progress));
    let (seal, pre) = match pass {
        Some((seal, pre)) => (Some(seal), Some(pre)),
        None => (None, None),
    };
    // The manifest first: it says what every other entry must hold.
    let manifest_index = zip.index_for_name(layout::MANIFEST_ENTRY);
    let manifest = match manifest_index {
        None => {
            report.problem(
                Some(layout::MANIFEST_ENTRY),
                ProblemKind::ManifestMissing,
                "the archive has no manifest.json",
            );
            None
        }
        Some(i) => {
            if i + 1 != count {
                report.problem(
                    Some(layout::MANIFEST_ENTRY),
                    ProblemKind::Structure,
                    "manifest.json is not the last entry",
                );
            }
            let read = zip.by_index(i).map_err(|e| e.to_string()).map(|mut e| {
                report.manifest_offset = Some(e.header_start());
                crate::archive::manifest::read_manifest(&mut e)
            });
            match read {
                Err(e) => {
                    report.problem(
                        Some(layout::MANIFEST_ENTRY),
                        ProblemKind::ManifestUnreadable,
                        format!("cannot read the manifest: {e}"),
                    );
                    None
                }
                Ok(Ok(m)) => Some(m),
                Ok(Err(e)) if e.is_io() => {
                    report.problem(
                        Some(layout::MANIFEST_ENTRY),
                        ProblemKind::ManifestUnreadable,
                        format!("cannot read the manifest: {e}"),
                    );
                    None
                }
                Ok(Err(e)) => {
                    report.problem(
                        Some(layout::MANIFEST_ENTRY),
                        ProblemKind::ManifestUnreadable,
                        format!("the manifest is not valid JSON of this schema: {e}"),
                    );
                    None
                }
            }
        }
    };
    let expected: HashMap<&str, &crate::archive::manifest::EntryRecord> = manifest
        .as_ref()
        .map(Manifest::entries_by_name)
        .unwrap_or_default();
    let have_manifest = manifest.is_some();
    // Two threads share the entries (the seal's hash runs on a third): each opens the archive
    // on its own, and takes every other entry in order of size, so both finish together.
    // Entries proven by the comparison with the archive they were copied from weigh nothing.
    let from = known.and_then(|k| File::open(&k.from).ok());
    // SAFETY: read only, as the map of the file checked.
    let old_map = from.and_then(|f| unsafe { memmap2::MmapOptions::new().map(&f) }.ok());
    // (Decided from the zip directory alone: reading the local headers of gigabytes of copied
    // entries would read the disk once per entry.)
    let proven: HashSet<usize> = match known {
        Some(k) => (0..count)
            .filter(|&i| {
                zip.by_index_data(i).is_ok_and(|e| {
                    let name = e.name().map(|n| n.to_string()).unwrap_or_default();
                    let inside = k
                        .spans
                        .get(name.as_str())
                        .is_some_and(|s| s.start == e.header_start() && s.end <= k.len);
                    inside
                        && k.records.get(name.as_str()).is_some_and(|old| {
                            expected.get(name.as_str()).is_some_and(|new| *new == old)
                                && old.crc32 == e.crc32()
                                && old.size == e.size()
                                && method_of(old.method) == e.compression()
                        })
                })
            })
            .collect(),
        None => HashSet::new(),
    };
    let mut order: Vec<(usize, u64)> = (0..count)
        .map(|i| {
            let size = zip
                .name_for_index(i)
                .and_then(|n| n.ok())
                .and_then(|n| expected.get(n.as_ref()).map(|r| r.size));
            (i, if proven.contains(&i) { 0 } else { size.unwrap_or(0) })
        })
        .collect();
    order.sort_by_key(|x| std::cmp::Reverse(x.1));
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut lw, mut rw) = (0u64, 0u64);
    for (i, w) in order {
        if lw <= rw {
            left.push(i);
            lw += w;
        } else {
            right.push(i);
            rw += w;
        }
    }
    left.sort_unstable();
    right.sort_unstable();
    let proofs = Proofs {
        proven: &proven,
        moved: known.zip(old_map.as_ref()),
    };

    // The second thread reads through a clone that shares the parsed directory.
    let mut second = zip.clone();
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            check_some(
                path,
                &mut second,
                &right,
                manifest_index,
                &expected,
                have_manifest,
                map,
                proofs,
                pre.as_ref(),
            )
        });
        let mine = check_some(
            path,
            &mut zip,
            &left,
            manifest_index,
            &expected,
            have_manifest,
            map,
            proofs,
            pre.as_ref(),
        );
        (mine, other.join().unwrap_or_default())
    });
    let mut present: HashSet<String> = HashSet::new();
    for part in [a, b] {
        report.problems.extend(part.problems);
        present.extend(part.present);
        report.bytes += part.bytes;
        report.file_bytes_stored += part.file_bytes_stored;
    }
    if let Some(m) = &manifest {
        for rec in &m.entries {
            if !present.contains(&rec.name) {
                report.problem(
                    Some(&rec.name),
                    ProblemKind::EntryMissing,
                    "the manifest lists this entry but the zip does not hold it",
                );
            }
        }
        check_manifest_consistency(m, count as u64, report);
    }
    report.manifest = manifest;
    seal
}

/// The sequential pass over every entry of `zip` (see [`crate::archive::sequential`]).
#[cfg(target_os = "linux")]
fn sequential_pass(
    zip: &ZipArchive<SharedReader>,
    (file, align): (File, usize),
    hash_len: u64,
    progress: &dyn Progress,
) -> (io::Result<Sha256Digest>, Digests) {
    use crate::archive::sequential::{run, Planned};
    let plan: Vec<Planned> = (0..zip.len())
        .filter_map(|i| {
            let e = zip.by_index_data(i).ok()?;
            // Encrypted entries are left to the ordinary check, which refuses to read them.
            if e.encrypted() {
                return None;
            }
            let deflated = match e.compression() {
                zip::CompressionMethod::Stored => false,
                zip::CompressionMethod::Deflated => true,
                _ => return None,
            };
            Some(Planned {
                index: i,
                header_start: e.header_start(),
                compressed: e.compressed_size(),
                deflated,
                name: e.name_raw().to_vec(),
                head: false,
            })
        })
        .collect();
    let pass = run(file, align, None, hash_len, &plan, &[], None, progress);
    (pass.seal, pass.entries)
}
#[cfg(not(target_os = "linux"))]
fn sequential_pass(
    _zip: &ZipArchive<SharedReader>,
    _direct: (File, usize),
    _hash_len: u64,
    _progress: &dyn Progress,
) -> (io::Result<Sha256Digest>, Digests) {
    (
        Err(io::Error::other("no direct reads on this system")),
        Vec::new(),
    )
}

/// Entries as a sequential pass found them, by zip index.
#[cfg(target_os = "linux")]
type Digests = Vec<Option<crate::archive::sequential::Digested>>;
#[cfg(not(target_os = "linux"))]
type Digests = Vec<Option<Digested>>;
/// Stands for the pass's findings where there is no pass.
#[cfg(not(target_os = "linux"))]
#[allow(dead_code)]
struct Digested {
    total: u64,
    crc: u32,
    digest: Sha256Digest,
    header_problem: Option<String>,
}

/// Compares an entry's local header with what the central directory says of it.
fn check_local_header(
    f: &mut File,
    offset: u64,
    name: &[u8],
    method: zip::CompressionMethod,
) -> Result<(), String> {
    let mut hdr = [0u8; 30];
    f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    f.read_exact(&mut hdr)
        .map_err(|e| format!("cannot read its local header: {e}"))?;
    let name_len = u16::from_le_bytes([hdr[26], hdr[27]]) as usize;
    let mut whole = hdr.to_vec();
    if name_len == name.len() {
        whole.resize(30 + name_len, 0);
        f.read_exact(&mut whole[30..]).map_err(|e| e.to_string())?;
    }
    local_header_matches(&whole, name, method)
}

/// [`check_local_header`] of a local header's bytes (its fixed part, then at least the name).
pub(crate) fn local_header_matches(
    hdr: &[u8],
    name: &[u8],
    method: zip::CompressionMethod,
) -> Result<(), String> {
    if hdr.len() < 30 {
        return Err("its local header is cut short".into());
    }
    if &hdr[..4] != b"PK\x03\x04" {
        return Err("its local header signature is damaged".into());
    }
    let m = u16::from_le_bytes([hdr[8], hdr[9]]);
    let expected_method = match method {
        zip::CompressionMethod::Stored => 0,
        zip::CompressionMethod::Deflated => 8,
        _ => 0xFFFF,
    };
    if m != expected_method {
        return Err(format!("its local header says compression method {m}"));
    }
    let name_len = u16::from_le_bytes([hdr[26], hdr[27]]) as usize;
    if name_len != name.len() {
        return Err("its local header holds a name of another length".into());
    }
    let Some(local_name) = hdr.get(30..30 + name_len) else {
        return Err("its local header is cut short".into());
    };
    if local_name != name {
        return Err(format!(
            "its local header names it {:?}",
            String::from_utf8_lossy(local_name)
        ));
    }
    Ok(())
}

fn check_manifest_consistency(m: &Manifest, zip_entries: u64, report: &mut VerifyReport) {
    let by_name = m.entries_by_name();
    let mut distinct = HashSet::new();
    let mut bytes_in = 0u64;
    for f in &m.files {
        bytes_in += f.size;
        distinct.insert(f.entry.as_str());
        match by_name.get(f.entry.as_str()) {
            None => report.problem(
                Some(&f.entry),
                ProblemKind::FileRecordMismatch,
                format!("file {} points at an entry the manifest does not list", f.path),
            ),
            Some(e) => {
                if e.sha256 != f.sha256 || e.size != f.size {
                    report.problem(
                        Some(&f.entry),
                        ProblemKind::FileRecordMismatch,
                        format!(
                            "file {} says SHA-256 {} and {} bytes, its entry holds {} and {} bytes",
                            f.path, f.sha256, f.size, e.sha256, e.size
                        ),
                    );
                }
            }
        }
    }
    let t = &m.totals;
    let mut bad = Vec::new();
    if t.files != m.files.len() as u64 {
        bad.push(format!("files {} (listed: {})", t.files, m.files.len()));
    }
    if t.unique_files != distinct.len() as u64 {
        bad.push(format!(
            "unique_files {} (listed: {})",
            t.unique_files,
            distinct.len()
        ));
    }
    if t.bytes_in != bytes_in {
        bad.push(format!("bytes_in {} (listed: {bytes_in})", t.bytes_in));
    }
    if t.entries != zip_entries {
        bad.push(format!("entries {} (in the zip: {zip_entries})", t.entries));
    }
    if t.skipped != m.skipped.len() as u64 {
        bad.push(format!("skipped {} (listed: {})", t.skipped, m.skipped.len()));
    }
    if !bad.is_empty() {
        report.problem(
            Some(layout::MANIFEST_ENTRY),
            ProblemKind::TotalsMismatch,
            format!(
                "the manifest's totals disagree with its lists: {}",
                bad.join(", ")
            ),
        );
    }
}

/// Compares the archive's manifest with source folders as they are now: files missing from the
/// archive and files whose content changed since the backup. This answers "is it safe to delete
/// the originals". Every source file whose size matches is hashed (sizes alone prove nothing).
pub fn compare_sources(m: &Manifest, dirs: &[std::path::PathBuf], progress: &dyn Progress) -> Vec<Problem> {
    let mut problems = Vec::new();
    let by_path: HashMap<&str, &crate::archive::manifest::FileRecord> =
        m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for dir in dirs {
        // Which top folder of the archive holds this input: the one given by the same path, else
        // the one of the same name.
        let canon = std::fs::canonicalize(dir).ok();
        let top = m
            .inputs
            .iter()
            .find(|r| canon.is_some() && std::fs::canonicalize(&r.given).ok() == canon)
            .or_else(|| {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                m.inputs.iter().find(|r| Some(&r.top) == name.as_ref())
            })
            .map(|r| r.top.clone());
        let Some(top) = top else {
            problems.push(Problem {
                entry: None,
                kind: ProblemKind::MissingFromArchive,
                detail: format!(
                    "{} was not an input of this archive: none of its files are in it",
                    dir.display()
                ),
            });
            continue;
        };
        let scanned = crate::scan::scan(std::slice::from_ref(dir), &crate::scan::ScanOptions::default());
        for s in &scanned.skipped {
            problems.push(Problem {
                entry: None,
                kind: ProblemKind::SourceUnreadable,
                detail: format!("{}: {}", s.path, s.detail),
            });
        }
        let total: u64 = scanned.files.iter().map(|f| f.size).sum();
        progress.phase("comparing", Some(total));
        for f in &scanned.files {
            // The scan names the top by the folder's own name; the archive may use another.
            let rel = f.archive_path.name.split_once('/').map(|(_, r)| r).unwrap_or("");
            let path = if rel.is_empty() {
                top.clone()
            } else {
                format!("{top}/{rel}")
            };
            match by_path.get(path.as_str()) {
                None => problems.push(Problem {
                    entry: None,
                    kind: ProblemKind::MissingFromArchive,
                    detail: format!("{} is not in the archive", f.disk_path.display()),
                }),
                Some(rec) => {
                    let changed = if rec.size != f.size {
                        Some(format!("{} bytes now, {} in the archive", f.size, rec.size))
                    } else {
                        match crate::archive::hash_file(&f.disk_path) {
                            Ok(d) if d == rec.sha256 => None,
                            Ok(d) => Some(format!("SHA-256 is {d} now, {} in the archive", rec.sha256)),
                            Err(e) => {
                                problems.push(Problem {
                                    entry: None,
                                    kind: ProblemKind::SourceUnreadable,
                                    detail: format!("{}: {e}", f.disk_path.display()),
                                });
                                None
                            }
                        }
                    };
                    if let Some(detail) = changed {
                        problems.push(Problem {
                            entry: Some(rec.entry.clone()),
                            kind: ProblemKind::ChangedSinceBackup,
                            detail: format!("{} changed since the backup: {detail}", f.disk_path.display()),
                        });
                    }
                }
            }
            progress.advance(f.size);
        }
        progress.finish_phase();
    }
    problems
}

/// What one checking thread found in its share of the entries.
#[derive(Default)]
struct Partial {
    problems: Vec<Problem>,
    present: HashSet<String>,
    bytes: u64,
    file_bytes_stored: u64,
}

impl Partial {
    fn problem(&mut self, entry: Option<&str>, kind: ProblemKind, detail: impl Into<String>) {
        self.problems.push(Problem {
            entry: entry.map(str::to_string),
            kind,
            detail: detail.into(),
        });
    }

    /// Notes the entry as present (its name as UTF-8, or as read where it is not) and counts
    /// its stored bytes when it holds a file; returns the name.
    fn present(&mut self, name: Option<String>, raw: &[u8], compressed: u64) -> String {
        let name = name.unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned());
        self.present.insert(name.clone());
        if name.starts_with(layout::FILES_PREFIX) {
            self.file_bytes_stored += compressed;
        }
        name
    }
}

/// Checks the entries `indices` of the archive: local header, CRC, SHA-256 and size against
/// the manifest's records. The data of those that `proofs` proves is compared instead, or not
/// read again (see [`KnownPrefix`]).
#[allow(clippy::too_many_arguments)]
fn check_some(
    path: &Path,
    zip: &mut ZipArchive<SharedReader>,
    indices: &[usize],
    manifest_index: Option<usize>,
    expected: &HashMap<&str, &crate::archive::manifest::EntryRecord>,
    have_manifest: bool,
    map: Option<&memmap2::Mmap>,
    proofs: Proofs,
    pre: Option<&Digests>,
) -> Partial {
    let mut part = Partial::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut raw = File::open(path).ok();
    for &i in indices {
        if Some(i) == manifest_index {
            continue;
        }
        if proofs.proven.contains(&i) {
            // Its bytes equal those of the archive they were copied from (see `KnownPrefix`).
            if let Ok(e) = zip.by_index_data(i) {
                let name = e.name().map(|n| n.to_string()).unwrap_or_default();
                if name.starts_with(layout::FILES_PREFIX) {
                    part.file_bytes_stored += e.compressed_size();
                }
                part.bytes += e.size();
                part.present.insert(name);
            }
            continue;
        }
        let passed = pre.and_then(|p| p.get(i)).and_then(Option::as_ref);
        if let Some((d, Ok(e))) = passed.map(|d| (d, zip.by_index_data(i))) {
            // The sequential pass read its header and data: judged from the zip directory and
            // what the pass found, without reading the file again.
            let name = part.present(
                e.name().ok().map(|n| n.to_string()),
                e.name_raw(),
                e.compressed_size(),
            );
            if let Some(detail) = &d.header_problem {
                part.problem(Some(&name), ProblemKind::HeaderMismatch, detail.clone());
            }
            let (cd_crc, cd_size, method) = (e.crc32(), e.size(), e.compression());
            part.bytes += d.total;
            let crc = d.crc;
            let found = Found {
                total: d.total,
                digest: d.digest,
                failure: (crc != cd_crc).then(|| {
                    io::Error::other(format!(
                        "CRC-32 is {crc:08x}, the zip directory says {cd_crc:08x} (checksum)"
                    ))
                }),
            };
            judge(
                &mut part,
                &name,
                found,
                (cd_crc, cd_size, method),
                have_manifest,
                expected,
            );
            continue;
        }
        let listed_name = zip.name_for_index(i).and_then(|r| r.ok()).map(|n| n.into_owned());
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                if let Some(n) = &listed_name {
                    part.present.insert(n.clone());
                }
                part.problem(
                    listed_name.as_deref(),
                    ProblemKind::EntryUnreadable,
                    format!("cannot open the entry: {e}"),
                );
                continue;
            }
        };
        let name = part.present(
            entry.name().ok().map(|n| n.to_string()),
            entry.name_raw(),
            entry.compressed_size(),
        );
        if let Some(f) = raw.as_mut() {
            if let Err(detail) =
                check_local_header(f, entry.header_start(), entry.name_raw(), entry.compression())
            {
                part.problem(Some(&name), ProblemKind::HeaderMismatch, detail);
            }
        }
        let cd_crc = entry.crc32();
        let cd_size = entry.size();
        let method = entry.compression();
        let mut hasher = Sha256::new();
        let total: u64;
        let mut failure: Option<io::Error>;
        // The entry's data where it lies in the mapped file: hashed, checked and inflated
        // without a copy or a system call per block. Without a map, through the zip reader.
        let span = entry.data_start().and_then(|s| {
            let start = usize::try_from(s).ok()?;
            Some((
                start,
                start.checked_add(usize::try_from(entry.compressed_size()).ok()?)?,
            ))
        });
        let mapped = map.and_then(|m| span.and_then(|(start, end)| m.get(start..end)));
        if let (Some((k, old_map)), Some(m), Some(data), Some((start, _))) = (proofs.moved, map, mapped, span)
        {
            let directory = (cd_crc, cd_size, method);
            if same_as_copied(
                k,
                old_map,
                m,
                &name,
                data,
                start,
                expected.get(name.as_str()),
                directory,
            ) {
                part.bytes += cd_size;
                continue;
            }
        }
        match (mapped, method) {
            (Some(data), zip::CompressionMethod::Stored) => {
                let mut crc = crc32fast::Hasher::new();
                let start = span.map_or(0, |(s, _)| s);
                for (i, chunk) in data.chunks(1 << 22).enumerate() {
                    hasher.update(chunk);
                    crc.update(chunk);
                    if let Some(m) = map {
                        release(m, start + (i << 22), chunk.len());
                    }
                }
                total = data.len() as u64;
                let crc = crc.finalize();
                failure = (crc != cd_crc).then(|| {
                    io::Error::other(format!(
                        "CRC-32 is {crc:08x}, the zip directory says {cd_crc:08x} (checksum)"
                    ))
                });
            }
            (Some(data), zip::CompressionMethod::Deflated) => {
                let input = ReleasingReader {
                    data,
                    pos: 0,
                    released: 0,
                    base: span.map_or(0, |(s, _)| s),
                    map,
                };
                let mut dec = flate2::read::DeflateDecoder::new(input);
                let mut crc = crc32fast::Hasher::new();
                (total, failure) =
                    crate::archive::digest_reader(&mut dec, &mut buf, &mut hasher, Some(&mut crc));
                let crc = crc.finalize();
                if failure.is_none() && crc != cd_crc {
                    failure = Some(io::Error::other(format!(
                        "CRC-32 is {crc:08x}, the zip directory says {cd_crc:08x} (checksum)"
                    )));
                }
            }
            _ => (total, failure) = crate::archive::digest_reader(&mut entry, &mut buf, &mut hasher, None),
        }
        if let (Some(m), Some((start, end)), Some(_)) = (map, span, mapped) {
            release(m, start, end - start);
        }
        part.bytes += total;
        let digest = Sha256Digest(hasher.finalize().into());
        let found = Found {
            total,
            digest,
            failure,
        };
        judge(
            &mut part,
            &name,
            found,
            (cd_crc, cd_size, method),
            have_manifest,
            expected,
        );
    }
    part
}

/// What reading an entry's data found.
struct Found {
    total: u64,
    digest: Sha256Digest,
    failure: Option<io::Error>,
}

/// Judges what was found of an entry against its zip directory record (`cd`: CRC-32, size,
/// method) and the manifest's.
fn judge(
    part: &mut Partial,
    name: &str,
    found: Found,
    (cd_crc, cd_size, method): (u32, u64, zip::CompressionMethod),
    have_manifest: bool,
    expected: &HashMap<&str, &crate::archive::manifest::EntryRecord>,
) {
    let Found {
        total,
        digest,
        failure,
    } = found;
    if let Some(e) = failure {
        let msg = e.to_string();
        let kind =
            if msg.to_ascii_lowercase().contains("checksum") || msg.to_ascii_lowercase().contains("crc") {
                ProblemKind::CrcMismatch
            } else {
                ProblemKind::EntryUnreadable
            };
        part.problem(Some(name), kind, format!("reading the entry failed: {msg}"));
        return;
    }
    if total != cd_size {
        part.problem(
            Some(name),
            ProblemKind::SizeMismatch,
            format!("the zip directory says {cd_size} bytes, the entry holds {total}"),
        );
    }
    if !have_manifest {
        return;
    }
    match expected.get(name) {
        None => part.problem(
            Some(name),
            ProblemKind::EntryUnlisted,
            "the entry is in the zip but not in the manifest",
        ),
        Some(rec) => {
            if rec.sha256 != digest {
                part.problem(
                    Some(name),
                    ProblemKind::HashMismatch,
                    format!("SHA-256 is {digest}, the manifest says {}", rec.sha256),
                );
            }
            if rec.size != total {
                part.problem(
                    Some(name),
                    ProblemKind::SizeMismatch,
                    format!("the entry holds {total} bytes, the manifest says {}", rec.size),
                );
            }
            if rec.crc32 != cd_crc {
                part.problem(
                    Some(name),
                    ProblemKind::CrcMismatch,
                    format!(
                        "CRC-32 in the zip directory is {cd_crc:08x}, the manifest says {:08x}",
                        rec.crc32
                    ),
                );
            }
            if method != method_of(rec.method) {
                part.problem(
                    Some(name),
                    ProblemKind::HeaderMismatch,
                    format!("compression method {method:?} differs from the manifest's"),
                );
            }
        }
    }
}

/// The zip method of a manifest's method.
fn method_of(m: Method) -> zip::CompressionMethod {
    match m {
        Method::Stored => zip::CompressionMethod::Stored,
        Method::Deflate => zip::CompressionMethod::Deflated,
    }
}

/// Lets the kernel take back the pages of a range once it has been read: they stay in the page
/// cache, so the resident size of a check stays small whatever the archive's size.
///
/// A fault maps the pages around it too (64 KiB on Linux), so touching one entry maps the
/// edges of its neighbours, which another thread may have released already: the range is
/// widened by [`RELEASE_MARGIN`] on both sides so that such pages go too. Without the margin a
/// check of 23,000 small entries kept about 120 MB of such pages.
fn release(map: &memmap2::Mmap, offset: usize, len: usize) {
    #[cfg(unix)]
    // SAFETY: the map is read-only and backed by the file: a page dropped here is read from the
    // file again if touched, with the same content, so no slice ever sees other bytes.
    unsafe {
        let start = offset.saturating_sub(RELEASE_MARGIN);
        let end = offset
            .saturating_add(len)
            .saturating_add(RELEASE_MARGIN)
            .min(map.len());
        if start < end {
            let _ = map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start);
        }
    }
    #[cfg(not(unix))]
    let _ = (map, offset, len);
}

/// How far beyond a range [`release`] lets pages go (where it does: on Unix).
#[cfg(unix)]
const RELEASE_MARGIN: usize = 256 << 10;

/// Reads a mapped range and lets its pages go every 4 MiB, as `release` does.
struct ReleasingReader<'a> {
    data: &'a [u8],
    pos: usize,
    released: usize,
    /// Where `data` starts in the map.
    base: usize,
    map: Option<&'a memmap2::Mmap>,
}

impl Read for ReleasingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos - self.released >= 1 << 22 || (n == 0 && self.pos > self.released) {
            if let Some(m) = self.map {
                release(m, self.base + self.released, self.pos - self.released);
            }
            self.released = self.pos;
        }
        Ok(n)
    }
}
