//! Resuming an interrupted backup: what the `.partial` file of an earlier run already holds.
//!
//! An interrupted run leaves its `.partial` file without a central directory. Its entries are
//! found by walking their local headers from the start (the writer fills in each header's CRC
//! and sizes before it starts the next entry, so every entry before the last one is complete);
//! each is read back and checked against its CRC, and hashed. The walk stops at the first
//! entry that is cut short or does not check. A central directory for the good entries is then
//! appended, so that the file opens as a zip and its entries can be copied as they are.

use crate::archive::manifest::Method;
use crate::progress::Progress;
use qqvault_core::Sha256Digest;
use qqvault_formats::sniff::ExportKind;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An entry of an interrupted run that was read back whole and checked.
#[derive(Clone, Debug)]
pub struct Salvaged {
    pub name: String,
    pub method: Method,
    pub crc32: u32,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// The MS-DOS time and date of the local header (the source file's modification time).
    pub dos_time: u16,
    pub dos_date: u16,
    /// What the entry's first bytes say it is, for a `files/` entry: the export it is, if any.
    pub export: Option<ExportKind>,
}

/// The checked entries of an interrupted run, in a file that now opens as a zip.
pub struct Salvage {
    pub path: PathBuf,
    pub entries: HashMap<String, Salvaged>,
    /// Their names in the order they lie in the file.
    pub order: Vec<String>,
    /// The entries as found, in order, for the zip directory (see [`Salvage::keep_first`]).
    found: Vec<Found>,
    /// The SHA-256 state of the file after each entry, in order, when one pass read them.
    states: Option<Vec<Sha256>>,
}

impl Salvage {
    /// The file's start up to the end of its first `k` entries, when one pass read them.
    pub fn prefix(&self, k: usize) -> Option<SalvagedPrefix> {
        let state = self.states.as_ref()?.get(k.checked_sub(1)?)?.clone();
        Some(SalvagedPrefix::of(&self.found[..k], state))
    }

    /// Keeps only the first `k` entries: the file is cut after them and made a zip of them (a
    /// resumed run goes on after the entries it reuses; what followed them, made from all the
    /// files, is made again).
    pub fn keep_first(&mut self, k: usize) -> io::Result<()> {
        if k >= self.found.len() {
            return Ok(());
        }
        let end = self.found[..k].last().map_or(0, |x| x.header_offset + x.data_len);
        seal_as_zip(&self.path, end, &self.found[..k])?;
        for x in self.found.drain(k..) {
            self.entries.remove(&x.entry.name);
        }
        self.order.truncate(k);
        if let Some(s) = self.states.as_mut() {
            s.truncate(k);
        }
        Ok(())
    }
}

/// The start of the file that holds checked entries, as the pass that checked them read it:
/// the writing can go on after it and the check of the finished archive need not read it
/// again (see [`crate::archive::verify::KnownPrefix`]).
pub struct SalvagedPrefix {
    /// How many bytes from the start (the end of the last entry kept).
    pub len: u64,
    /// The SHA-256 state after them.
    pub state: Sha256,
    /// Each entry's name with where it lies, from its local header to the end of its data.
    pub spans: HashMap<String, std::ops::Range<u64>>,
}

impl SalvagedPrefix {
    /// The start made by the entries `kept` (the first ones of the file, in order), the hash
    /// state after them being `state`.
    fn of(kept: &[Found], state: Sha256) -> Self {
        SalvagedPrefix {
            len: kept.last().map_or(0, |x| x.header_offset + x.data_len),
            state,
            spans: kept
                .iter()
                .map(|x| {
                    (
                        x.entry.name.clone(),
                        x.header_offset..x.header_offset + x.data_len,
                    )
                })
                .collect(),
        }
    }

    /// What the check of the finished archive at `path` (this same file) takes of it: a start
    /// read back by this run, not read again, whose entries are proven when their manifest
    /// records are `records`.
    pub fn into_known(
        self,
        path: &Path,
        records: HashMap<String, crate::archive::manifest::EntryRecord>,
    ) -> crate::archive::verify::KnownPrefix {
        crate::archive::verify::KnownPrefix {
            from: path.to_path_buf(),
            len: self.len,
            compared: self.len,
            state: self.state,
            records,
            spans: self.spans,
            moved: HashMap::new(),
        }
    }
}

/// Says which export a `files/` entry is, from its path (without the prefix) and first bytes.
pub type Recognise<'a> = dyn Fn(&str, &[u8]) -> Option<ExportKind> + Sync + 'a;

struct Found {
    entry: Salvaged,
    header_offset: u64,
    /// From the local header to the end of the data.
    data_len: u64,
    compressed: u64,
    version_needed: u16,
    flags: u16,
    method_code: u16,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The first bytes read through it are kept.
struct Head<'a, R> {
    inner: R,
    head: &'a mut Vec<u8>,
    want: usize,
}

impl<R: Read> Read for Head<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let take = n.min(self.want.saturating_sub(self.head.len()));
        self.head.extend_from_slice(&buf[..take]);
        Ok(n)
    }
}

/// A local header, read where an entry starts.
struct Local {
    version_needed: u16,
    flags: u16,
    method_code: u16,
    method: Method,
    dos_time: u16,
    dos_date: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    name: String,
    data_end: u64,
}

/// The entry whose local header is at `pos`, if a complete one is: not one this writer never
/// writes (data descriptor, another method), not cut short, and not the entry that was being
/// written when the run stopped (it still has the zero sizes its header starts with: it looks
/// empty, but what follows is its data, not another header).
fn local_header(f: &mut &File, pos: u64, len: u64) -> io::Result<Option<Local>> {
    let mut hdr = [0u8; 30];
    if pos + 30 > len {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(pos))?;
    f.read_exact(&mut hdr)?;
    if u32_at(&hdr, 0) != 0x0403_4b50 {
        return Ok(None);
    }
    let (version_needed, flags, method_code) = (u16_at(&hdr, 4), u16_at(&hdr, 6), u16_at(&hdr, 8));
    let (dos_time, dos_date, crc32) = (u16_at(&hdr, 10), u16_at(&hdr, 12), u32_at(&hdr, 14));
    let (mut compressed, mut size) = (u64::from(u32_at(&hdr, 18)), u64::from(u32_at(&hdr, 22)));
    let (name_len, extra_len) = (u16_at(&hdr, 26) as usize, u16_at(&hdr, 28) as usize);
    if flags & 0x08 != 0 {
        return Ok(None); // sizes in a data descriptor: never written by this writer
    }
    let method = match method_code {
        0 => Method::Stored,
        8 => Method::Deflate,
        _ => return Ok(None),
    };
    let mut name_extra = vec![0u8; name_len + extra_len];
    if f.read_exact(&mut name_extra).is_err() {
        return Ok(None);
    }
    let Ok(name) = String::from_utf8(name_extra[..name_len].to_vec()) else {
        return Ok(None);
    };
    // ZIP64: the sizes are in the extra field when the header says 0xFFFFFFFF.
    let extra = &name_extra[name_len..];
    let mut i = 0;
    while i + 4 <= extra.len() {
        let (id, n) = (u16_at(extra, i), u16_at(extra, i + 2) as usize);
        if id == 1 && i + 4 + n <= extra.len() {
            let mut v = &extra[i + 4..i + 4 + n];
            let mut take = |field: &mut u64| {
                if *field == 0xFFFF_FFFF && v.len() >= 8 {
                    *field = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
                    v = &v[8..];
                }
            };
            take(&mut size);
            take(&mut compressed);
        }
        i += 4 + n;
    }
    let data_start = pos + 30 + (name_len + extra_len) as u64;
    let Some(data_end) = data_start.checked_add(compressed).filter(|e| *e <= len) else {
        return Ok(None);
    };
    if compressed == 0 && data_end + 4 <= len {
        let mut next = [0u8; 4];
        f.seek(SeekFrom::Start(data_end))?;
        f.read_exact(&mut next)?;
        if !matches!(u32_at(&next, 0), 0x0403_4b50 | 0x0201_4b50) {
            return Ok(None);
        }
    }
    Ok(Some(Local {
        version_needed,
        flags,
        method_code,
        method,
        dos_time,
        dos_date,
        crc32,
        compressed,
        size,
        name,
        data_end,
    }))
}

impl Found {
    /// The entry whose header `h` is at `header_offset`, with the hash and export kind found
    /// when it was read back.
    fn new(h: Local, header_offset: u64, sha256: Sha256Digest, export: Option<ExportKind>) -> Self {
        Found {
            entry: Salvaged {
                name: h.name,
                method: h.method,
                crc32: h.crc32,
                size: h.size,
                sha256,
                dos_time: h.dos_time,
                dos_date: h.dos_date,
                export,
            },
            header_offset,
            data_len: h.data_end - header_offset,
            compressed: h.compressed,
            version_needed: h.version_needed,
            flags: h.flags,
            method_code: h.method_code,
        }
    }
}

/// Makes the file `to`, whose first `end` bytes are (or are being made) a copy of those of the
/// archive `from`, cut between two entries, a zip of the entries they hold, trusted as they
/// are: the records of `from`'s central directory (`count` of them from `cd_start`) for the
/// entries that start before `end` are written after `end` as they are, followed by the end
/// records. Nothing of the entries themselves is read: their local headers lie all over the
/// gigabytes copied, and walking them cost a read of the disk per entry (2.5 s for 23,000
/// entries, before the copy could start). The records are `from`'s own bytes, which the check
/// of `from`'s seal covers. Returns the entries' names in file order, each with where it lies
/// (from its local header to the next one, or to `end`).
pub fn seal_prefix(
    from: &Path,
    cd_start: u64,
    count: usize,
    to: &Path,
    end: u64,
) -> io::Result<Vec<(String, std::ops::Range<u64>)>> {
    let bad = |what: String| io::Error::other(format!("{}: {what}", from.display()));
    let mut r = io::BufReader::with_capacity(1 << 20, File::open(from)?);
    r.seek(SeekFrom::Start(cd_start))?;
    let mut kept: Vec<(u64, String, Vec<u8>, u64)> = Vec::new();
    for i in 0..count {
        let mut rec = vec![0u8; 46];
        r.read_exact(&mut rec)?;
        if u32_at(&rec, 0) != 0x0201_4b50 {
            return Err(bad(format!("central directory record {i} is not one")));
        }
        let (n, m, k) = (
            u16_at(&rec, 28) as usize,
            u16_at(&rec, 30) as usize,
            u16_at(&rec, 32) as usize,
        );
        rec.resize(46 + n + m + k, 0);
        r.read_exact(&mut rec[46..])?;
        let (offset, compressed) = record_location(&rec, n, m)
            .ok_or_else(|| bad(format!("central directory record {i} has no offset")))?;
        if offset < end {
            let name = String::from_utf8(rec[46..46 + n].to_vec()).map_err(|_| {
                bad(format!(
                    "central directory record {i} has a name that is not UTF-8"
                ))
            })?;
            // Where its data ends at the least (its local extra field may be longer).
            let least_end = offset.saturating_add(30 + n as u64).saturating_add(compressed);
            kept.push((offset, name, rec, least_end));
        }
    }
    // More records than the archive's reader counted (two of one name, which no sealed archive
    // has) would be left out: refused instead.
    let mut next = [0u8; 4];
    if r.read_exact(&mut next).is_ok() && u32_at(&next, 0) == 0x0201_4b50 {
        return Err(bad(
            "its central directory holds more records than its entries".into()
        ));
    }
    kept.sort_by_key(|x| x.0);
    let follow = kept.first().is_none_or(|x| x.0 == 0)
        && kept.windows(2).all(|w| w[0].3 <= w[1].0)
        && kept.last().is_none_or(|x| x.3 <= end);
    if !follow {
        return Err(bad(
            "its first entries do not follow one another from its start".into()
        ));
    }
    let file = OpenOptions::new().write(true).open(to)?;
    file.set_len(end)?;
    let mut w = BufWriter::new(file);
    w.seek(SeekFrom::Start(end))?;
    let mut cd_size = 0u64;
    for (_, _, rec, _) in &kept {
        w.write_all(rec)?;
        cd_size += rec.len() as u64;
    }
    write_end_records(&mut w, end, cd_size, kept.len() as u64)?;
    w.flush()?;
    w.get_ref().sync_all()?;
    let starts: Vec<u64> = kept.iter().map(|x| x.0).chain([end]).collect();
    Ok(kept
        .into_iter()
        .zip(starts.windows(2))
        .map(|((_, name, _, _), w)| (name, w[0]..w[1]))
        .collect())
}

/// The local header offset and compressed size of a central directory record (`n`: its name's
/// length, `m`: its extra field's). Each is taken from the ZIP64 extra field when the record
/// says 0xFFFFFFFF; there the values that are present come in the order uncompressed size,
/// compressed size, offset.
fn record_location(rec: &[u8], n: usize, m: usize) -> Option<(u64, u64)> {
    const MAX32: u32 = 0xFFFF_FFFF;
    let (size, compressed, offset) = (u32_at(rec, 24), u32_at(rec, 20), u32_at(rec, 42));
    if size != MAX32 && compressed != MAX32 && offset != MAX32 {
        return Some((u64::from(offset), u64::from(compressed)));
    }
    let extra = rec.get(46 + n..46 + n + m)?;
    let mut i = 0;
    while i + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, i), u16_at(extra, i + 2) as usize);
        let body = extra.get(i + 4..i + 4 + len)?;
        if id == 1 {
            let mut at = 0;
            let mut take = |field: u32| -> Option<u64> {
                if field != MAX32 {
                    return Some(u64::from(field));
                }
                let v = body.get(at..at + 8)?;
                at += 8;
                Some(u64::from_le_bytes(v.try_into().ok()?))
            };
            take(size)?;
            let compressed = take(compressed)?;
            let offset = take(offset)?;
            return Some((offset, compressed));
        }
        i += 4 + len;
    }
    None
}

/// Walks the local headers of `path` and keeps every complete, checked entry; then makes the
/// file a zip of those entries. Returns None when nothing could be kept. `recognise` is given
/// each `files/` entry's path (without the prefix) and first [`crate::chats::HEAD_LEN`] bytes,
/// and says which export it is.
pub fn salvage(
    path: &Path,
    recognise: &Recognise<'_>,
    progress: &dyn Progress,
) -> io::Result<Option<Salvage>> {
    #[cfg(target_os = "linux")]
    if let Some((direct, align)) = crate::archive::sequential::open(path) {
        let whole = Walk {
            limit: u64::MAX,
            max_entries: usize::MAX,
            every_mark: true,
        };
        if let Some(k) = in_one_pass(path, direct, align, None, whole, Some(recognise), progress)? {
            return finish(path, k.end, k.found, k.states);
        }
    }
    entry_by_entry(path, recognise, progress)
}

/// [`salvage`] that reads each entry on its own through the page cache (where the system takes
/// no direct reads, or the pass could not read the file).
fn entry_by_entry(
    path: &Path,
    recognise: &Recognise<'_>,
    progress: &dyn Progress,
) -> io::Result<Option<Salvage>> {
    let file = File::open(path)?;
    let mut f = &file;
    let len = f.metadata()?.len();
    let mut pos = 0u64;
    let mut found: Vec<Found> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::with_capacity(crate::chats::HEAD_LEN);
    // One decompressor for every entry: one each left the allocator's heap fragmented by
    // their buffers, some hundred MB for 20,000 entries.
    let mut inflater: Option<flate2::read::DeflateDecoder<io::Take<&File>>> = None;
    while let Some(h) = local_header(&mut f, pos, len)? {
        let (name, method, crc32, compressed, size, data_end) =
            (&h.name, h.method, h.crc32, h.compressed, h.size, h.data_end);
        f.seek(SeekFrom::Start(data_end - compressed))?;
        // Read it back: CRC and size must be those of the header; the hash is kept.
        let mut hasher = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let raw = f.take(compressed);
        let is_file = name.starts_with(crate::archive::layout::FILES_PREFIX);
        head.clear();
        let want = if is_file { crate::chats::HEAD_LEN } else { 0 };
        let (total, failure) = match method {
            Method::Stored => {
                let mut r = Head {
                    inner: raw,
                    head: &mut head,
                    want,
                };
                crate::archive::digest_reader(&mut r, &mut buf, &mut hasher, Some(&mut crc))
            }
            Method::Deflate => {
                let d = match inflater.as_mut() {
                    Some(d) => {
                        d.reset(raw);
                        d
                    }
                    None => inflater.insert(flate2::read::DeflateDecoder::new(raw)),
                };
                let mut r = Head {
                    inner: d,
                    head: &mut head,
                    want,
                };
                crate::archive::digest_reader(&mut r, &mut buf, &mut hasher, Some(&mut crc))
            }
        };
        if failure.is_some() || total != size || crc.finalize() != crc32 || (size > 0 && compressed == 0) {
            break;
        }
        let export = if is_file {
            recognise(&name[crate::archive::layout::FILES_PREFIX.len()..], &head)
        } else {
            None
        };
        found.push(Found::new(h, pos, Sha256Digest(hasher.finalize().into()), export));
        progress.advance(data_end - pos);
        pos = data_end;
    }
    drop(inflater);
    drop(file);
    finish(path, pos, found, None)
}

/// Makes the file a zip of the entries `found`, which end at `end`.
fn finish(
    path: &Path,
    end: u64,
    found: Vec<Found>,
    states: Option<Vec<Sha256>>,
) -> io::Result<Option<Salvage>> {
    if found.is_empty() {
        return Ok(None);
    }
    seal_as_zip(path, end, &found)?;
    Ok(Some(Salvage {
        path: path.to_path_buf(),
        order: found.iter().map(|x| x.entry.name.clone()).collect(),
        entries: found
            .iter()
            .map(|x| (x.entry.name.clone(), x.entry.clone()))
            .collect(),
        found,
        states,
    }))
}

/// What [`in_one_pass`] keeps: the entries, where they end, the hash state after each.
#[cfg(target_os = "linux")]
struct Kept {
    found: Vec<Found>,
    end: u64,
    states: Option<Vec<Sha256>>,
}

/// The entries of the file, found by walking their local headers, then read back in one
/// sequential pass past the page cache (see [`crate::archive::sequential`]): the file was
/// written that way, and read through the cache it would cost about as much again. Returns the
/// entries kept, where they end, and the hash state after them when the pass read exactly to
/// there; None when the pass could not read the file (the caller reads it entry by entry).
#[cfg(target_os = "linux")]
fn in_one_pass(
    path: &Path,
    direct: File,
    align: usize,
    from: Option<(u64, Sha256)>,
    walk: Walk,
    recognise: Option<&Recognise<'_>>,
    progress: &dyn Progress,
) -> io::Result<Option<Kept>> {
    use crate::archive::layout::FILES_PREFIX;
    use crate::archive::sequential::{run, Planned};
    let file = File::open(path)?;
    let mut f = &file;
    let len = f.metadata()?.len().min(walk.limit);
    let mut walked: Vec<(u64, Local)> = Vec::new();
    let mut pos = from.as_ref().map_or(0, |(at, _)| *at);
    while walked.len() < walk.max_entries {
        let Some(h) = local_header(&mut f, pos, len)? else {
            break;
        };
        let next = h.data_end;
        walked.push((pos, h));
        pos = next;
    }
    drop(file);
    let walked_to = pos;
    let plan: Vec<Planned> = walked
        .iter()
        .enumerate()
        .map(|(k, (at, h))| Planned {
            index: k,
            header_start: *at,
            compressed: h.compressed,
            deflated: h.method == Method::Deflate,
            name: h.name.as_bytes().to_vec(),
            head: recognise.is_some() && h.name.starts_with(FILES_PREFIX),
        })
        .collect();
    let look = |name: &[u8], head: &[u8]| {
        std::str::from_utf8(name)
            .ok()
            .and_then(|n| n.strip_prefix(FILES_PREFIX))
            .and_then(|n| recognise.and_then(|r| r(n, head)))
    };
    let marks: Vec<u64> = match walk.every_mark {
        true => walked.iter().map(|(_, h)| h.data_end).collect(),
        false => vec![walked_to],
    };
    let walked_count = walked.len();
    let look: Option<&crate::archive::sequential::Look<'_>> = match recognise {
        Some(_) => Some(&look),
        None => None,
    };
    let pass = run(direct, align, from, walked_to, &plan, &marks, look, progress);
    drop(marks);
    drop(plan);
    if pass.seal.is_err() {
        return Ok(None);
    }
    let mut found = Vec::new();
    let mut end = 0u64;
    for ((at, h), d) in walked.into_iter().zip(pass.entries) {
        let Some(d) = d else { break };
        let checks = d.header_problem.is_none()
            && d.total == h.size
            && d.crc == h.crc32
            && !(h.size > 0 && h.compressed == 0);
        if !checks {
            break;
        }
        end = h.data_end;
        found.push(Found::new(h, at, d.digest, d.export));
    }
    // The hash state after each entry kept (the pass read every byte walked); with one mark,
    // after the last one, when every entry walked was kept.
    let states = match walk.every_mark {
        true => {
            let states: Vec<Sha256> = pass
                .marks
                .into_iter()
                .zip(&found)
                .filter(|((at, _), x)| *at == x.header_offset + x.data_len)
                .map(|(m, _)| m.1)
                .collect();
            (states.len() == found.len()).then_some(states)
        }
        false => pass
            .marks
            .into_iter()
            .find(|(at, _)| found.len() == walked_count && *at == end)
            .map(|(_, state)| vec![state]),
    };
    Ok(Some(Kept { found, end, states }))
}

/// How far [`in_one_pass`] walks the local headers, and where it keeps the hash state.
#[cfg(target_os = "linux")]
struct Walk {
    /// Only entries that end before this offset.
    limit: u64,
    /// At most this many entries.
    max_entries: usize,
    /// The state after each entry (else only after the last one walked).
    every_mark: bool,
}

/// The entries of a file still being written, read back from the disk while the writing goes
/// on: those that end before `limit` (where the writer says the file holds final bytes, see
/// [`crate::archive::write::ArchiveWriter::settled_end`]), each checked against its CRC and
/// hashed, in one pass that also hashes every byte for the seal. The file is not changed.
pub struct ReadBack {
    pub entries: Vec<Salvaged>,
    /// The start they make, for the check of the finished archive.
    pub prefix: SalvagedPrefix,
}

/// Reads back the start of the file being written at `path` (see [`ReadBack`]): at most
/// `max_entries` entries, so that what is kept of each stays small beside the rest of the run.
/// With `from` (an offset where an entry starts, and the hash state of the bytes before it),
/// the reading goes on from there: those bytes were read back already (a resumed run's start).
/// None where the system takes no direct reads, the pass could not read the file, an entry did
/// not check, or no entry ends before `limit`; the check of the finished archive then reads
/// everything (and names what is wrong).
pub fn read_back(
    path: &Path,
    from: Option<(u64, Sha256)>,
    limit: u64,
    max_entries: usize,
    progress: &dyn Progress,
) -> io::Result<Option<ReadBack>> {
    #[cfg(target_os = "linux")]
    {
        let Some((direct, align)) = crate::archive::sequential::open(path) else {
            return Ok(None);
        };
        let Some(Kept {
            found,
            states: Some(states),
            ..
        }) = in_one_pass(
            path,
            direct,
            align,
            from,
            Walk {
                limit,
                max_entries,
                every_mark: false,
            },
            None,
            progress,
        )?
        else {
            return Ok(None);
        };
        let Some(state) = states.into_iter().last().filter(|_| !found.is_empty()) else {
            return Ok(None);
        };
        let prefix = SalvagedPrefix::of(&found, state);
        Ok(Some(ReadBack {
            entries: found.into_iter().map(|x| x.entry).collect(),
            prefix,
        }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, from, limit, max_entries, progress);
        Ok(None)
    }
}

/// Cuts the file after its last good entry and appends a central directory (ZIP64 where
/// needed) for the good entries.
fn seal_as_zip(path: &Path, end: u64, found: &[Found]) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(end)?;
    let mut w = BufWriter::new(file);
    w.seek(SeekFrom::Start(end))?;
    let mut cd_size = 0u64;
    const MAX32: u64 = 0xFFFF_FFFF;
    for x in found {
        let e = &x.entry;
        let mut zip64 = Vec::new();
        let size32 = if e.size >= MAX32 {
            zip64.extend_from_slice(&e.size.to_le_bytes());
            MAX32 as u32
        } else {
            e.size as u32
        };
        let comp32 = if x.compressed >= MAX32 {
            zip64.extend_from_slice(&x.compressed.to_le_bytes());
            MAX32 as u32
        } else {
            x.compressed as u32
        };
        let off32 = if x.header_offset >= MAX32 {
            zip64.extend_from_slice(&x.header_offset.to_le_bytes());
            MAX32 as u32
        } else {
            x.header_offset as u32
        };
        let mut extra = Vec::new();
        if !zip64.is_empty() {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&(zip64.len() as u16).to_le_bytes());
            extra.extend_from_slice(&zip64);
        }
        let name = e.name.as_bytes();
        let mut rec = Vec::with_capacity(46 + name.len() + extra.len());
        rec.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        rec.extend_from_slice(&(0x0300u16 | 45).to_le_bytes()); // made by: Unix, 4.5
        rec.extend_from_slice(&x.version_needed.to_le_bytes());
        rec.extend_from_slice(&x.flags.to_le_bytes());
        rec.extend_from_slice(&x.method_code.to_le_bytes());
        rec.extend_from_slice(&e.dos_time.to_le_bytes());
        rec.extend_from_slice(&e.dos_date.to_le_bytes());
        rec.extend_from_slice(&e.crc32.to_le_bytes());
        rec.extend_from_slice(&comp32.to_le_bytes());
        rec.extend_from_slice(&size32.to_le_bytes());
        rec.extend_from_slice(&(name.len() as u16).to_le_bytes());
        rec.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        rec.extend_from_slice(&0u16.to_le_bytes()); // comment
        rec.extend_from_slice(&0u16.to_le_bytes()); // disk
        rec.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        rec.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
        rec.extend_from_slice(&off32.to_le_bytes());
        rec.extend_from_slice(name);
        rec.extend_from_slice(&extra);
        w.write_all(&rec)?;
        cd_size += rec.len() as u64;
    }
    write_end_records(&mut w, end, cd_size, found.len() as u64)?;
    w.flush()?;
    w.get_ref().sync_all()
}

/// The end records of a central directory of `count` records, `cd_size` bytes from `end`
/// (ZIP64 ones too where a value does not fit the classic record).
fn write_end_records(w: &mut impl Write, end: u64, cd_size: u64, count: u64) -> io::Result<()> {
    const MAX32: u64 = 0xFFFF_FFFF;
    let cd_end = end + cd_size;
    if count >= 0xFFFF || end >= MAX32 || cd_size >= MAX32 {
        let mut z = Vec::new();
        z.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        z.extend_from_slice(&44u64.to_le_bytes());
        z.extend_from_slice(&(0x0300u16 | 45).to_le_bytes());
        z.extend_from_slice(&45u16.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&count.to_le_bytes());
        z.extend_from_slice(&count.to_le_bytes());
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&end.to_le_bytes());
        z.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&cd_end.to_le_bytes());
        z.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&z)?;
    }
    let mut eocd = Vec::new();
    eocd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    eocd.extend_from_slice(&0u16.to_le_bytes());
    eocd.extend_from_slice(&0u16.to_le_bytes());
    let c16 = count.min(0xFFFF) as u16;
    eocd.extend_from_slice(&c16.to_le_bytes());
    eocd.extend_from_slice(&c16.to_le_bytes());
    eocd.extend_from_slice(&(cd_size.min(MAX32) as u32).to_le_bytes());
    eocd.extend_from_slice(&(end.min(MAX32) as u32).to_le_bytes());
    eocd.extend_from_slice(&0u16.to_le_bytes());
    w.write_all(&eocd)?;
    Ok(())
}

/// The pass exists on Linux only.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

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

    fn export_text() -> Vec<u8> {
        let sep = "=".repeat(64);
        let mut t = format!("{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:甲\r\n{sep}\r\n\r\n");
        for i in 0..3000 {
            t.push_str(&format!(
                "2020-01-01 10:{:02}:{:02} 甲\r\n第{i}条消息\r\n\r\n",
                i / 60 % 60,
                i % 60
            ));
        }
        t.into_bytes()
    }

    /// A file like the one an interrupted run leaves: whole entries, then one cut short in its
    /// data. Returns its bytes and where the cut entry's header starts.
    fn interrupted(path: &Path) -> (Vec<u8>, u64) {
        let entries: Vec<(&str, Vec<u8>, bool)> = vec![
            ("README.txt", b"qqvault archive\n".to_vec(), true),
            (
                "files/in/a.jpg",
                [b"\xFF\xD8\xFF\xE0".to_vec(), noise(1, 5 << 20)].concat(),
                false,
            ),
            ("files/in/全部消息记录.txt", export_text(), true),
            ("files/in/b.bin", noise(2, 6 << 20), false),
            ("files/in/empty.txt", Vec::new(), false),
            (
                "files/in/c.txt",
                "可以压缩的文字 text\n".repeat(5000).into_bytes(),
                true,
            ),
            ("files/in/d.jpg", noise(3, 3 << 20), false),
        ];
        {
            let mut z = zip::ZipWriter::new(File::create(path).unwrap());
            for (name, body, deflated) in &entries {
                let method = if *deflated {
                    zip::CompressionMethod::Deflated
                } else {
                    zip::CompressionMethod::Stored
                };
                let opts = zip::write::SimpleFileOptions::default().compression_method(method);
                z.start_file(*name, opts).unwrap();
                z.write_all(body).unwrap();
            }
            z.finish().unwrap();
        }
        let mut zip = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
        let last = zip.by_index_raw(entries.len() - 1).unwrap();
        let (cut_entry, cut_at) = (last.header_start(), last.data_start().unwrap() + 1000);
        drop(last);
        let bytes = std::fs::read(path).unwrap()[..cut_at as usize].to_vec();
        std::fs::write(path, &bytes).unwrap();
        (bytes, cut_entry)
    }

    /// The file `a` salvaged by the pass, and its copy `b` entry by entry; None (with a note)
    /// where the temporary folder takes no direct reads.
    fn both_ways(a: &Path, b: &Path) -> Option<(Salvage, Salvage)> {
        if crate::archive::sequential::open(a).is_none() {
            eprintln!("skipped: the temporary folder takes no direct reads");
            return None;
        }
        let by_pass = salvage(a, &crate::ingest::recognise, &Quiet).unwrap().unwrap();
        let one_by_one = entry_by_entry(b, &crate::ingest::recognise, &Quiet)
            .unwrap()
            .unwrap();
        assert_eq!(summary(&by_pass), summary(&one_by_one));
        Some((by_pass, one_by_one))
    }

    fn summary(s: &Salvage) -> Vec<(String, u32, u64, Sha256Digest, bool)> {
        s.order
            .iter()
            .map(|n| {
                let e = &s.entries[n];
                (n.clone(), e.crc32, e.size, e.sha256, e.export.is_some())
            })
            .collect()
    }

    /// The pass keeps what reading entry by entry keeps (the same entries, hashes and exports,
    /// and the same file afterwards), and its hash state is that of the bytes kept.
    #[test]
    fn the_pass_keeps_what_reading_entry_by_entry_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.zip.resume"), dir.path().join("b.zip.resume"));
        let (bytes, cut) = interrupted(&a);
        std::fs::write(&b, &bytes).unwrap();
        let Some((by_pass, one_by_one)) = both_ways(&a, &b) else {
            return;
        };
        assert_eq!(by_pass.order.len(), 6);
        assert!(by_pass.entries["files/in/全部消息记录.txt"].export.is_some());
        assert!(by_pass.entries["files/in/c.txt"].export.is_none());
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
        assert!(one_by_one.prefix(6).is_none());
        let prefix = by_pass.prefix(6).expect("the pass read every byte kept");
        assert_eq!(prefix.len, cut);
        assert_eq!(
            Sha256Digest(prefix.state.finalize().into()),
            Sha256Digest(Sha256::digest(&bytes[..cut as usize]).into())
        );
        let mut zip = zip::ZipArchive::new(File::open(&a).unwrap()).unwrap();
        let mut ends = Vec::new();
        for i in 0..zip.len() {
            let e = zip.by_index_raw(i).unwrap();
            let span = e.header_start()..e.data_start().unwrap() + e.compressed_size();
            let name = e.name().unwrap().to_string();
            assert_eq!(prefix.spans[&name], span, "{name}");
            ends.push(span.end);
        }
        drop(zip);
        // The start up to any entry: its hash state is that of its bytes.
        for k in 1..=6 {
            let p = by_pass.prefix(k).unwrap();
            assert_eq!(p.len, ends[k - 1]);
            assert_eq!(p.spans.len(), k);
            assert_eq!(
                Sha256Digest(p.state.finalize().into()),
                Sha256Digest(Sha256::digest(&bytes[..p.len as usize]).into())
            );
        }
        // Keeping the first three: the file is a zip of them, and ends after them.
        let mut by_pass = by_pass;
        by_pass.keep_first(3).unwrap();
        assert_eq!(by_pass.order.len(), 3);
        assert_eq!(by_pass.entries.len(), 3);
        let mut zip = zip::ZipArchive::new(File::open(&a).unwrap()).unwrap();
        assert_eq!(zip.len(), 3);
        assert_eq!(zip.central_directory_start(), ends[2]);
        for i in 0..3 {
            let mut e = zip.by_index(i).unwrap();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            assert_eq!(
                Sha256Digest(Sha256::digest(&content).into()),
                by_pass.entries[e.name().unwrap().as_ref()].sha256
            );
        }
        assert_eq!(by_pass.prefix(3).unwrap().len, ends[2]);
    }

    /// A damaged entry ends what is kept, both ways; the pass's hash state after the entries
    /// before it is still that of their bytes.
    #[test]
    fn a_damaged_entry_ends_what_the_pass_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.zip.resume"), dir.path().join("b.zip.resume"));
        let (mut bytes, _) = interrupted(&a);
        let damaged_at = {
            // The cut file has no directory: b.bin's data is found after its name.
            let name = "files/in/b.bin".as_bytes();
            let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
            at + name.len() + 4096
        };
        bytes[damaged_at] ^= 0x20;
        std::fs::write(&a, &bytes).unwrap();
        std::fs::write(&b, &bytes).unwrap();
        let Some((by_pass, _)) = both_ways(&a, &b) else {
            return;
        };
        assert_eq!(
            by_pass.order,
            ["README.txt", "files/in/a.jpg", "files/in/全部消息记录.txt"]
        );
        let p = by_pass.prefix(3).expect("the pass read the entries kept");
        assert_eq!(
            Sha256Digest(p.state.finalize().into()),
            Sha256Digest(Sha256::digest(&bytes[..p.len as usize]).into())
        );
        assert!(by_pass.prefix(4).is_none());
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    }

    /// A file still being written is read back up to where its writer says it holds final bytes:
    /// the entries before are found with the records written, the entry still open is not, and
    /// the bytes hashed are those of the finished file.
    #[test]
    fn a_file_being_written_is_read_back_up_to_its_settled_end() {
        use crate::archive::manifest::EntryKind;
        use crate::archive::write::ArchiveWriter;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip.partial");
        let mut w = ArchiveWriter::create(&path).unwrap();
        let Some(_) = w.settled_end() else {
            eprintln!("skipped: the temporary folder takes no direct writes");
            return;
        };
        w.add_bytes("README.txt", EntryKind::Readme, b"qqvault archive\n")
            .unwrap();
        let bodies = [
            (
                "files/in/a.jpg",
                [b"\xFF\xD8\xFF\xE0".to_vec(), noise(1, 5 << 20)].concat(),
            ),
            ("files/in/全部消息记录.txt", export_text()),
            ("files/in/b.bin", noise(2, 6 << 20)),
            (
                "files/in/c.txt",
                "可以压缩的文字 text\n".repeat(5000).into_bytes(),
            ),
            // Last, still open: a zip file, whose data starts as a local header does.
            (
                "files/in/d.zip",
                [b"PK\x03\x04".to_vec(), noise(3, 3 << 20)].concat(),
            ),
        ];
        for (name, body) in &bodies {
            let streamed = w.add_stream_with(
                name,
                EntryKind::File,
                &body[..],
                body.len() as u64,
                None,
                None,
                &|_| {},
            );
            assert!(streamed.is_ok());
        }
        let limit = w.settled_end().unwrap();
        let rb = read_back(&path, None, limit, usize::MAX, &Quiet)
            .unwrap()
            .expect("a file written direct is read direct");
        // At most so many entries: the start they make.
        let first_two = read_back(&path, None, limit, 2, &Quiet).unwrap().unwrap();
        assert_eq!(first_two.entries.len(), 2);
        assert_eq!(first_two.prefix.len, rb.prefix.spans[&rb.entries[1].name].end);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            first_two.prefix.state.clone().finalize(),
            Sha256::digest(&bytes[..first_two.prefix.len as usize])
        );
        // The last entry is still open (its local header is filled in later): not read back.
        let written: Vec<_> = w.entries().to_vec();
        assert!(!rb.entries.is_empty() && rb.entries.len() < written.len());
        assert!(rb.entries.iter().all(|x| x.name != "files/in/d.zip"));
        for (x, r) in rb.entries.iter().zip(&written) {
            assert_eq!(
                (&x.name, x.size, x.crc32, x.sha256, x.method),
                (&r.name, r.size, r.crc32, r.sha256, r.method)
            );
        }
        assert!(rb.prefix.len <= limit);
        assert_eq!(rb.prefix.spans.len(), rb.entries.len());
        // Going on from the first two (a resumed run reads back after what it reused): the
        // entries after them, and the same hash of the file as one pass from the start.
        let rest = read_back(
            &path,
            Some((first_two.prefix.len, first_two.prefix.state.clone())),
            limit,
            usize::MAX,
            &Quiet,
        )
        .unwrap()
        .expect("read back from where the first two end");
        let names = |v: &[Salvaged]| v.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&rest.entries), names(&rb.entries[2..]));
        for (x, y) in rest.entries.iter().zip(&rb.entries[2..]) {
            assert_eq!((x.size, x.crc32, x.sha256), (y.size, y.crc32, y.sha256));
        }
        assert_eq!(rest.prefix.len, rb.prefix.len);
        assert_eq!(
            rest.prefix.state.clone().finalize(),
            rb.prefix.state.clone().finalize()
        );
        assert!(rest
            .prefix
            .spans
            .keys()
            .all(|n| !first_two.prefix.spans.contains_key(n)));
        // From a state that is not that of the bytes before: the hash differs (it is carried
        // on, not computed anew).
        let wrong = read_back(
            &path,
            Some((first_two.prefix.len, Sha256::new())),
            limit,
            usize::MAX,
            &Quiet,
        )
        .unwrap()
        .unwrap();
        assert_ne!(wrong.prefix.state.finalize(), rb.prefix.state.clone().finalize());
        // More is written, and the archive finished: its start is still what was hashed.
        w.add_bytes("files/in/e.txt", EntryKind::File, b"after").unwrap();
        w.finish(b"{}", Vec::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let whole = Sha256::digest(&bytes[..rb.prefix.len as usize]);
        assert_eq!(rb.prefix.state.finalize(), whole);
        let mut zip = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap();
        for x in &rb.entries {
            let e = zip.by_name(&x.name).unwrap();
            assert_eq!(rb.prefix.spans[&x.name].start, e.header_start());
        }
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    fn zip_of(path: &Path, entries: &[(&str, Vec<u8>)]) {
        let mut z = zip::ZipWriter::new(File::create(path).unwrap());
        for (i, (name, body)) in entries.iter().enumerate() {
            let method = if i % 2 == 0 {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            z.write_all(body).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn the_directory_of_a_prefix_is_the_archives_own_records() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, to) = (tmp.path().join("a.zip"), tmp.path().join("b.zip"));
        let entries: Vec<(&str, Vec<u8>)> = vec![
            ("README.txt", b"qqvault archive\n".to_vec()),
            ("files/in/照片.jpg", vec![7u8; 70_000]),
            ("files/in/全部消息记录.txt", "消息\r\n".repeat(9000).into_bytes()),
            ("files/in/empty.txt", Vec::new()),
            ("chats/x/messages.jsonl", b"{}\n".repeat(100)),
            ("manifest.json", b"{}".to_vec()),
        ];
        zip_of(&from, &entries);
        let mut zip = zip::ZipArchive::new(File::open(&from).unwrap()).unwrap();
        let starts: Vec<u64> = (0..zip.len())
            .map(|i| zip.by_index_raw(i).unwrap().header_start())
            .collect();
        let bytes = std::fs::read(&from).unwrap();
        for k in 1..entries.len() {
            let end = starts[k];
            std::fs::write(&to, &bytes[..end as usize]).unwrap();
            let spans = seal_prefix(&from, zip.central_directory_start(), zip.len(), &to, end).unwrap();
            let want: Vec<(String, std::ops::Range<u64>)> = (0..k)
                .map(|i| (entries[i].0.to_string(), starts[i]..starts[i + 1]))
                .collect();
            assert_eq!(spans, want, "cut before entry {k}");
            // The cut file opens as a zip of those entries, each whole.
            let mut cut = zip::ZipArchive::new(File::open(&to).unwrap()).unwrap();
            assert_eq!(cut.len(), k);
            for (i, (name, body)) in entries.iter().take(k).enumerate() {
                let mut e = cut.by_index(i).unwrap();
                assert_eq!(e.name().unwrap(), *name);
                let mut got = Vec::new();
                e.read_to_end(&mut got).unwrap();
                assert_eq!(&got, body, "{name}");
            }
        }
        // An end inside an entry's data is refused, as is a count of records that leaves
        // some out.
        std::fs::write(&to, &bytes[..starts[3] as usize]).unwrap();
        assert!(seal_prefix(
            &from,
            zip.central_directory_start(),
            zip.len(),
            &to,
            starts[3] - 1
        )
        .is_err());
        assert!(seal_prefix(
            &from,
            zip.central_directory_start(),
            zip.len() - 1,
            &to,
            starts[3]
        )
        .is_err());
        // A directory that is not where it is said to be is refused.
        std::fs::write(&to, &bytes[..starts[2] as usize]).unwrap();
        assert!(seal_prefix(
            &from,
            zip.central_directory_start() + 1,
            zip.len(),
            &to,
            starts[2]
        )
        .is_err());
    }

    #[test]
    fn a_zip64_record_gives_its_place_after_the_sizes_it_holds() {
        let name = b"files/big.bin";
        let mut rec = vec![0u8; 46];
        rec[0..4].copy_from_slice(&0x0201_4b50u32.to_le_bytes());
        // Compressed and uncompressed sizes and the offset all in the extra field.
        rec[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        rec[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        rec[42..46].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut extra = Vec::new();
        // Another extra field first (an extended timestamp), then the ZIP64 one.
        extra.extend_from_slice(&0x5455u16.to_le_bytes());
        extra.extend_from_slice(&5u16.to_le_bytes());
        extra.extend_from_slice(&[1, 0, 0, 0, 0]);
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&24u16.to_le_bytes());
        extra.extend_from_slice(&(5u64 << 32).to_le_bytes());
        extra.extend_from_slice(&(5u64 << 32).to_le_bytes());
        extra.extend_from_slice(&(9u64 << 32).to_le_bytes());
        rec.extend_from_slice(name);
        rec.extend_from_slice(&extra);
        assert_eq!(
            record_location(&rec, name.len(), extra.len()),
            Some((9 << 32, 5 << 32))
        );
        // Only the offset there: it comes first.
        rec[20..24].copy_from_slice(&7u32.to_le_bytes());
        rec[24..28].copy_from_slice(&7u32.to_le_bytes());
        let mut short = rec[..46 + name.len()].to_vec();
        short.extend_from_slice(&1u16.to_le_bytes());
        short.extend_from_slice(&8u16.to_le_bytes());
        short.extend_from_slice(&(6u64 << 32).to_le_bytes());
        assert_eq!(record_location(&short, name.len(), 12), Some((6 << 32, 7)));
        // Said to be in an extra field that is not there.
        assert_eq!(record_location(&rec[..46 + name.len()], name.len(), 0), None);
        // A small offset is the record's own.
        let mut small = rec.clone();
        small[42..46].copy_from_slice(&1234u32.to_le_bytes());
        assert_eq!(record_location(&small, name.len(), extra.len()), Some((1234, 7)));
    }
}
