//! The search index inside the archive: building it during backup (or `reindex`), finding it
//! without walking the central directory, and fetching the messages it points at.
//!
//! Layout: every file of the index is a Stored entry `index/<name>`, and `index/catalog.json`
//! (Stored too) says where each of them lies in the archive file and where each conversation's
//! `messages.jsonl` lies, with the byte offset of every 512th message. The seal's `index` record
//! holds the catalog's offset and length, so a search reads the seal (the last 4 KiB), the
//! catalog, the index files it needs and the few messages it shows: nothing else. Conversations'
//! JSON Lines are Stored for the same reason: a hit is read where it lies.

use crate::archive::layout;
use crate::archive::manifest::{ConversationRecord, EntryKind, Method};
use crate::archive::read::read_seal;
use crate::archive::write::{ArchiveWriter, StreamError};
use crate::chats::MessageLine;
use crate::error::{Error, Result};
use qqvault_index::{BuildOptions, IndexBuilder, IndexDoc, IndexFileSlice};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const CATALOG_ENTRY: &str = "index/catalog.json";
/// The seal record that locates the catalog: `<offset>:<length>`, both 20 digits.
pub const SEAL_KEY: &str = "index";
/// Every this many messages, the catalog records where a conversation's line starts.
pub const CHECKPOINT_EVERY: u64 = 512;
pub const CATALOG_SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Catalog {
    pub schema: u32,
    pub files: Vec<CatalogFile>,
    pub chats: Vec<CatalogChat>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CatalogFile {
    pub name: String,
    pub offset: u64,
    pub len: u64,
}

/// Where a conversation's JSON Lines lie in the archive file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CatalogChat {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub entry: String,
    pub offset: u64,
    pub len: u64,
    pub messages: u64,
    /// Byte offset (within the entry) of message 0, 512, 1024, ...
    pub checkpoints: Vec<u64>,
}

/// A reader that records where every [`CHECKPOINT_EVERY`]th line starts while the JSON Lines
/// stream into the archive.
pub struct CheckpointReader<R> {
    inner: R,
    pos: u64,
    lines: u64,
    at_line_start: bool,
    out: Arc<Mutex<Vec<u64>>>,
}

impl<R: Read> CheckpointReader<R> {
    pub fn new(inner: R) -> (Self, Arc<Mutex<Vec<u64>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        (
            CheckpointReader {
                inner,
                pos: 0,
                lines: 0,
                at_line_start: true,
                out: out.clone(),
            },
            out,
        )
    }
}

impl<R: Read> Read for CheckpointReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut cps = self.out.lock().map_err(|_| io::Error::other("poisoned"))?;
        if n > 0 && self.at_line_start {
            if self.lines.is_multiple_of(CHECKPOINT_EVERY) {
                cps.push(self.pos);
            }
            self.at_line_start = false;
        }
        for end in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.lines += 1;
            if end + 1 < n {
                if self.lines.is_multiple_of(CHECKPOINT_EVERY) {
                    cps.push(self.pos + end as u64 + 1);
                }
            } else {
                // The next line starts with the next read.
                self.at_line_start = true;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Streams a conversation's JSON Lines into the archive as a Stored entry and returns where
/// they lie.
pub fn add_chat_lines(
    writer: &mut ArchiveWriter,
    rec: &ConversationRecord,
    source: impl Read + Send,
) -> Result<CatalogChat> {
    let (reader, cps) = CheckpointReader::new(source);
    let streamed = writer
        .add_stream_with(
            &rec.entry,
            EntryKind::Chat,
            reader,
            u64::MAX,
            None,
            Some(Method::Stored),
            &|_| {},
        )
        .map_err(|e| match e {
            StreamError::Archive(e) => e,
            StreamError::Source(e) => Error::zip(writer.path(), format!("{}: {e}", rec.entry)),
        })?;
    let checkpoints = cps.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(CatalogChat {
        id: rec.id.clone(),
        name: rec.name.clone(),
        group: rec.group.clone(),
        entry: rec.entry.clone(),
        offset: streamed.data_offset,
        len: streamed.bytes_read,
        messages: rec.messages,
        checkpoints,
    })
}

/// The index writer's memory budget: a setting chosen by measuring (see the README's figures).
pub const INDEX_MEMORY_BUDGET: usize = 192 << 20;

/// The index of an earlier archive that an update extends instead of indexing everything again.
pub struct ExtendFrom {
    /// The earlier archive and its index files (from its catalog), each with the CRC-32 that
    /// its entry's record gives (None when it has no record). An update reads them before the
    /// earlier archive's seal is checked, so each is checked on its own before it is opened.
    pub archive: std::path::PathBuf,
    pub files: Vec<(CatalogFile, Option<u32>)>,
    /// Conversations whose messages it holds but that are indexed again: (id, messages).
    pub replaced: Vec<(String, u64)>,
}

/// Builds the index and writes it, and the catalog, into the archive. The first `indexed` of
/// `chats` are indexed from `source`; the others are already in `extend`'s index. Returns the
/// seal record that locates the catalog.
pub fn build_and_write(
    writer: &mut ArchiveWriter,
    scratch_parent: &Path,
    chats: Vec<CatalogChat>,
    indexed: usize,
    source: &mut dyn crate::chats::ConversationSource,
    extend: Option<ExtendFrom>,
) -> Result<(String, String)> {
    let ids: Vec<String> = chats.iter().take(indexed).map(|c| c.id.clone()).collect();
    let built = build(scratch_parent, &ids, source, extend)?;
    write_index(writer, built, chats)
}

/// An index built in a temporary folder, to be written into the archive.
pub struct BuiltIndex {
    /// Removed, with the index in it, when dropped.
    tmp: crate::scratch::ScratchDir,
}

/// Builds the index of the conversations `ids` (their messages from `source`, in order) in a
/// temporary folder beside the archive, extending `extend`'s index when given. Needs nothing of
/// the archive being written, so it runs beside the stages that write.
pub fn build(
    scratch_parent: &Path,
    ids: &[String],
    source: &mut dyn crate::chats::ConversationSource,
    extend: Option<ExtendFrom>,
) -> Result<BuiltIndex> {
    let tmp = crate::scratch::ScratchDir::new(scratch_parent, "index")
        .map_err(|e| Error::write(scratch_parent, e))?;
    let dir = tmp.path().join("index");
    let index_err = |e: qqvault_index::BuildError| {
        Error::zip(writer_path_hint(), format!("building the search index: {e}"))
    };
    let opts = BuildOptions::new(INDEX_MEMORY_BUDGET, 2);
    let mut builder = match extend {
        None => IndexBuilder::create_with(&dir, opts).map_err(index_err)?,
        Some(x) => {
            extract_index(&x.archive, &x.files, &dir)?;
            let mut b = IndexBuilder::open_existing(&dir, opts).map_err(index_err)?;
            for (id, messages) in &x.replaced {
                b.delete_chat(id, *messages).map_err(index_err)?;
            }
            b
        }
    };
    let origin = source.origin();
    for (i, id) in ids.iter().enumerate() {
        for (seq, m) in source.messages(i)?.enumerate() {
            let m = m.map_err(|e| Error::read(&origin, e))?;
            builder
                .add(&IndexDoc {
                    chat: id.clone(),
                    seq: seq as u64,
                    time: m.time,
                    sender: m.sender,
                    sender_id: m.sender_id,
                    text: m.text,
                })
                .map_err(index_err)?;
        }
    }
    builder.finish().map_err(index_err)?;
    Ok(BuiltIndex { tmp })
}

/// Writes a built index, and the catalog of it and of the conversations' JSON Lines, into the
/// archive. Returns the seal record that locates the catalog.
pub fn write_index(
    writer: &mut ArchiveWriter,
    built: BuiltIndex,
    chats: Vec<CatalogChat>,
) -> Result<(String, String)> {
    let dir = built.tmp.path().join("index");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Error::read(&dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut files = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let f = File::open(&path).map_err(|e| Error::read(&path, e))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let entry = format!("{}{name}", layout::INDEX_PREFIX);
        let s = writer
            .add_stream_with(
                &entry,
                EntryKind::Index,
                f,
                size,
                None,
                Some(Method::Stored),
                &|_| {},
            )
            .map_err(|e| match e {
                StreamError::Archive(e) => e,
                StreamError::Source(e) => Error::read(&path, e),
            })?;
        files.push(CatalogFile {
            name,
            offset: s.data_offset,
            len: s.bytes_read,
        });
    }
    let catalog = Catalog {
        schema: CATALOG_SCHEMA,
        files,
        chats,
    };
    let json = serde_json::to_vec(&catalog).map_err(|e| Error::zip(writer.path(), e))?;
    let s = writer
        .add_stream_with(
            CATALOG_ENTRY,
            EntryKind::Index,
            &json[..],
            json.len() as u64,
            None,
            Some(Method::Stored),
            &|_| {},
        )
        .map_err(|e| match e {
            StreamError::Archive(e) => e,
            StreamError::Source(e) => Error::zip(writer.path(), e),
        })?;
    Ok((
        SEAL_KEY.to_string(),
        format!("{:020}:{:020}", s.data_offset, s.bytes_read),
    ))
}

/// Copies the index files out of an archive into `dir` (created), each checked against the
/// CRC-32 given with it: the index reader is never handed damaged bytes.
fn extract_index(archive: &Path, files: &[(CatalogFile, Option<u32>)], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let mut src = File::open(archive).map_err(|e| Error::read(archive, e))?;
    let mut buf = vec![0u8; 1 << 20];
    for (f, crc32) in files {
        let Some(crc32) = *crc32 else {
            return Err(Error::zip(
                archive,
                format!(
                    "index file {} is not in its manifest; run `qqvault verify` on it",
                    f.name
                ),
            ));
        };
        if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            return Err(Error::zip(
                archive,
                format!("the index catalog names a file {:?}", f.name),
            ));
        }
        src.seek(SeekFrom::Start(f.offset))
            .map_err(|e| Error::read(archive, e))?;
        let path = dir.join(&f.name);
        let mut out = File::create(&path).map_err(|e| Error::write(&path, e))?;
        let mut crc = crc32fast::Hasher::new();
        let mut left = f.len;
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match src.read_exact(&mut buf[..n]) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::zip(archive, format!("index file {} is cut short", f.name)));
                }
                Err(e) => return Err(Error::read(archive, e)),
            }
            crc.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| Error::write(&path, e))?;
            left -= n as u64;
        }
        if crc.finalize() != crc32 {
            return Err(Error::Damaged {
                path: archive.to_path_buf(),
                detail: format!(
                    "index file {} does not match its CRC-32; run `qqvault verify` on it",
                    f.name
                ),
            });
        }
    }
    Ok(())
}

/// The catalog of an archive's index, found through its seal.
pub fn read_catalog(path: &Path) -> Result<std::result::Result<Catalog, Unavailable>> {
    let mut file = File::open(path).map_err(|e| Error::read(path, e))?;
    let len = file.metadata().map_err(|e| Error::read(path, e))?.len();
    let seal = match read_seal(&mut file, len).map_err(|e| Error::read(path, e))? {
        Some((_, Ok(s))) => s,
        Some((_, Err(e))) => return Ok(Err(Unavailable::Damaged(format!("the seal cannot be read: {e}")))),
        None => return Ok(Err(Unavailable::Absent)),
    };
    let Some((_, v)) = seal.other.iter().find(|(k, _)| k == SEAL_KEY) else {
        return Ok(Err(Unavailable::Absent));
    };
    let parsed = v
        .split_once(':')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    let Some((offset, clen)) = parsed.filter(|(o, l)| o.saturating_add(*l) <= len && *l < (256 << 20)) else {
        return Ok(Err(Unavailable::Damaged(format!(
            "the seal's index record {v:?} is not valid"
        ))));
    };
    let mut buf = vec![0u8; clen as usize];
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::read(path, e))?;
    file.read_exact(&mut buf).map_err(|e| Error::read(path, e))?;
    let catalog: Catalog = match serde_json::from_slice(&buf) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err(Unavailable::Damaged(format!(
                "the index catalog is not valid: {e}"
            ))))
        }
    };
    if catalog.schema != CATALOG_SCHEMA {
        return Ok(Err(Unavailable::OtherVersion(format!(
            "index catalog schema {}",
            catalog.schema
        ))));
    }
    Ok(Ok(catalog))
}

fn writer_path_hint() -> &'static str {
    "the archive being written"
}

/// The index of an archive, opened for searching.
pub struct OpenedIndex {
    pub catalog: Catalog,
    pub searcher: qqvault_index::Searcher,
}

/// Why the index could not be used (the caller scans instead, with a note).
pub enum Unavailable {
    /// The archive has no index record (written before indexes, or by `--no-index`).
    Absent,
    /// The index is of another version.
    OtherVersion(String),
    /// The index or its catalog is damaged.
    Damaged(String),
}

/// Streams the messages of a conversation's entry, with their places in it.
fn for_each_line(
    reader: &mut crate::archive::read::ArchiveReader,
    path: &Path,
    entry: &str,
    each: &mut dyn FnMut(u64, MessageLine),
) -> Result<()> {
    let file = reader
        .zip
        .by_name(entry)
        .map_err(|e| Error::zip(path, format!("{entry}: {e}")))?;
    let mut seq = 0u64;
    for line in io::BufReader::with_capacity(64 << 10, file).split(b'\n') {
        let line = line.map_err(|e| Error::zip(path, format!("{entry}: {e}")))?;
        if line.is_empty() {
            continue;
        }
        let m: MessageLine =
            serde_json::from_slice(&line).map_err(|e| Error::zip(path, format!("{entry}: {e}")))?;
        each(seq, m);
        seq += 1;
    }
    Ok(())
}

/// Reads the seal and the catalog, and opens the index in place.
pub fn open(path: &Path) -> Result<std::result::Result<OpenedIndex, Unavailable>> {
    let catalog = match read_catalog(path)? {
        Ok(c) => c,
        Err(u) => return Ok(Err(u)),
    };
    let slices: Vec<IndexFileSlice> = catalog
        .files
        .iter()
        .map(|f| IndexFileSlice {
            name: f.name.clone(),
            offset: f.offset,
            len: f.len,
        })
        .collect();
    match qqvault_index::Searcher::open_slices(path, &slices) {
        Ok(searcher) => Ok(Ok(OpenedIndex { catalog, searcher })),
        Err(qqvault_index::OpenError::VersionMismatch { found, expected }) => Ok(Err(
            Unavailable::OtherVersion(format!("index version {found}, this qqvault reads {expected}")),
        )),
        Err(e) => Ok(Err(Unavailable::Damaged(e.to_string()))),
    }
}

/// Reads messages of the conversations where they lie, a checkpoint interval (the lines from
/// one recorded offset to the next) at a time. The hits of a search cluster (the newest 50 of
/// a common word lie among a few hundred messages), so an interval is read once, and its lines
/// found once, however many hits it holds, instead of once per hit.
pub struct MessageFetcher<'a> {
    file: &'a File,
    /// (conversation entry, interval) -> the interval.
    intervals: HashMap<(String, usize), Interval>,
}

/// The bytes of one checkpoint interval and where its lines start, found as far as needed.
struct Interval {
    bytes: Vec<u8>,
    starts: Vec<usize>,
}

impl Interval {
    /// Line `i` of the interval (with its newline), if there is one.
    fn line(&mut self, i: usize) -> Option<&[u8]> {
        while self.starts.len() <= i + 1 {
            let last = *self.starts.last()?;
            if last >= self.bytes.len() {
                break;
            }
            let next = memchr::memchr(b'\n', &self.bytes[last..]).map_or(self.bytes.len(), |n| last + n + 1);
            self.starts.push(next);
        }
        let (&start, &end) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        (start < end).then(|| &self.bytes[start..end])
    }
}

impl<'a> MessageFetcher<'a> {
    pub fn new(file: &'a File) -> Self {
        MessageFetcher {
            file,
            intervals: HashMap::new(),
        }
    }

    /// Messages `from..=to` (sequence numbers) of a conversation, those that exist.
    pub fn fetch(&mut self, chat: &CatalogChat, from: u64, to: u64) -> io::Result<Vec<(u64, MessageLine)>> {
        let to = to.min(chat.messages.saturating_sub(1));
        let mut out = Vec::new();
        if chat.messages == 0 || from > to {
            return Ok(out);
        }
        for seq in from..=to {
            let cp = (seq / CHECKPOINT_EVERY) as usize;
            let interval = match self.intervals.entry((chat.entry.clone(), cp)) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(read_interval(self.file, chat, cp)?),
            };
            let line = interval.line((seq % CHECKPOINT_EVERY) as usize).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} has no message {seq}", chat.entry),
                )
            })?;
            let m: MessageLine =
                serde_json::from_slice(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            out.push((seq, m));
        }
        Ok(out)
    }
}

/// Reads checkpoint interval `cp` of a conversation.
fn read_interval(file: &File, chat: &CatalogChat, cp: usize) -> io::Result<Interval> {
    let start = *chat
        .checkpoints
        .get(cp)
        .ok_or_else(|| io::Error::other("missing checkpoint"))?;
    let end = chat.checkpoints.get(cp + 1).copied().unwrap_or(chat.len);
    if start > end || end > chat.len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "checkpoints out of order",
        ));
    }
    let mut bytes = vec![0; usize::try_from(end - start).map_err(io::Error::other)?];
    let mut reader = file;
    reader.seek(SeekFrom::Start(chat.offset + start))?;
    reader.read_exact(&mut bytes)?;
    Ok(Interval {
        bytes,
        starts: vec![0],
    })
}

/// One hit, with the message and its context.
#[derive(Clone, Debug)]
pub struct FoundMessage {
    pub chat: String,
    pub chat_name: String,
    pub seq: u64,
    pub message: MessageLine,
    /// Messages before and after it in the conversation (`-C N`), in order.
    pub before: Vec<MessageLine>,
    pub after: Vec<MessageLine>,
}

pub struct SearchOutcome {
    pub hits: Vec<FoundMessage>,
    /// Said when the index could not be used and every message was scanned instead.
    pub note: Option<String>,
}

/// Searches an archive: with its index where it can, by scanning every message otherwise. The
/// result is the same either way. `chat` is an id or an exact name (resolved here).
pub fn search(
    path: &Path,
    query: &qqvault_index::Query,
    filters: &qqvault_index::Filters,
    chat: Option<&str>,
    context: u64,
) -> Result<SearchOutcome> {
    match open(path)? {
        Ok(idx) => search_indexed(path, idx, query, filters, chat, context),
        Err(why) => {
            let note = match why {
                Unavailable::Absent => "this archive has no search index; every message was scanned (run `qqvault reindex` to add one)".to_string(),
                Unavailable::OtherVersion(v) => format!("the archive's search index is of another version ({v}); every message was scanned (run `qqvault reindex` to rebuild it)"),
                Unavailable::Damaged(d) => format!("the archive's search index cannot be used ({d}); every message was scanned (run `qqvault verify`)"),
            };
            let mut out = scan(path, query, filters, chat, context)?;
            let note = if filters.sort == qqvault_index::SortOrder::Relevance {
                format!("{note}; without the index hits are sorted newest first, not by relevance")
            } else {
                note
            };
            out.note = Some(note);
            Ok(out)
        }
    }
}

fn resolve_chat<'a>(chats: &'a [CatalogChat], chat: &str) -> Result<&'a CatalogChat> {
    // The same rule as `show`: an id, or an exact name only one conversation has.
    let records: Vec<ConversationRecord> = chats
        .iter()
        .map(|c| ConversationRecord {
            id: c.id.clone(),
            name: c.name.clone(),
            group: c.group.clone(),
            kind: qqvault_core::ChatKind::Unknown,
            key: qqvault_core::ConversationKey {
                family: qqvault_core::ExportFamily::MessageManager,
                scope: String::new(),
                peer: String::new(),
            },
            messages: c.messages,
            first: None,
            last: None,
            entry: c.entry.clone(),
            transcript: String::new(),
            sources: Vec::new(),
            self_senders: Vec::new(),
        })
        .collect();
    let found = crate::conversations::resolve(&records, chat)?;
    chats
        .iter()
        .find(|c| c.id == found.id)
        .ok_or_else(|| Error::Usage(format!("no conversation {chat:?}")))
}

fn search_indexed(
    path: &Path,
    idx: OpenedIndex,
    query: &qqvault_index::Query,
    filters: &qqvault_index::Filters,
    chat: Option<&str>,
    context: u64,
) -> Result<SearchOutcome> {
    let mut filters = filters.clone();
    if let Some(c) = chat {
        filters.chat = Some(resolve_chat(&idx.catalog.chats, c)?.id.clone());
    }
    let folding = idx.searcher.info().folding;
    let query = query.refold(folding);
    let hits = idx
        .searcher
        .search(&query, &filters)
        .map_err(|e| Error::zip(path, format!("searching the index: {e}")))?;
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let mut fetcher = MessageFetcher::new(&file);
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let Some(c) = idx.catalog.chats.iter().find(|c| c.id == hit.chat) else {
            continue;
        };
        let from = hit.seq.saturating_sub(context);
        let got = fetcher
            .fetch(c, from, hit.seq.saturating_add(context))
            .map_err(|e| Error::read(path, e))?;
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut message = None;
        for (seq, m) in got {
            match seq.cmp(&hit.seq) {
                std::cmp::Ordering::Less => before.push(m),
                std::cmp::Ordering::Equal => message = Some(m),
                std::cmp::Ordering::Greater => after.push(m),
            }
        }
        let Some(message) = message else {
            return Err(Error::zip(
                path,
                format!(
                    "the index points at message {} of {}, which is not there; run `qqvault verify`",
                    hit.seq, c.entry
                ),
            ));
        };
        // The index is exact by construction; checking again costs nothing next to the read.
        if !query.matches(&qqvault_index::fold(&message.text, folding)) {
            continue;
        }
        out.push(FoundMessage {
            chat: c.id.clone(),
            chat_name: c.name.clone(),
            seq: hit.seq,
            message,
            before,
            after,
        });
    }
    Ok(SearchOutcome {
        hits: out,
        note: None,
    })
}

/// The reference search: every message of every conversation, folded and matched.
pub fn scan(
    path: &Path,
    query: &qqvault_index::Query,
    filters: &qqvault_index::Filters,
    chat: Option<&str>,
    context: u64,
) -> Result<SearchOutcome> {
    let mut reader = crate::archive::read::ArchiveReader::open(path)?;
    let convs = reader.manifest.conversations.clone();
    let mut filters = filters.clone();
    if let Some(c) = chat {
        filters.chat = Some(crate::conversations::resolve(&convs, c)?.id.clone());
    }
    let folding = qqvault_index::FoldOptions::default();
    let context = usize::try_from(context).unwrap_or(usize::MAX);
    let order = |a: &(qqvault_index::Hit, usize), b: &(qqvault_index::Hit, usize)| {
        qqvault_index::SortOrder::Newest.compare(&a.0, &b.0)
    };
    // First pass: each conversation streamed from its entry, keeping only where the best hits
    // are (at most twice the limit at any time).
    let mut found: Vec<(qqvault_index::Hit, usize)> = Vec::new();
    for (ci, c) in convs.iter().enumerate() {
        if filters.chat.as_deref().is_some_and(|want| want != c.id) {
            continue;
        }
        for_each_line(&mut reader, path, &c.entry, &mut |seq, m| {
            if filters.accepts(&c.id, m.time, &m.sender, m.sender_id.as_deref(), folding)
                && query.matches(&qqvault_index::fold(&m.text, folding))
            {
                found.push((
                    qqvault_index::Hit {
                        chat: c.id.clone(),
                        seq,
                        time: m.time,
                        score: 0.0,
                    },
                    ci,
                ));
                if filters.limit > 0 && found.len() >= 2 * filters.limit {
                    found.sort_by(order);
                    found.truncate(filters.limit);
                }
            }
        })?;
    }
    // Relevance cannot be scored without the index: a scan sorts newest first either way (the
    // note the caller prints says so).
    found.sort_by(order);
    if filters.limit > 0 {
        found.truncate(filters.limit);
    }
    // Second pass: the conversations that hold hits, streamed again for the hits and their
    // context; what is held is what is printed.
    let mut slots: Vec<Option<FoundMessage>> = (0..found.len()).map(|_| None).collect();
    let mut by_chat: std::collections::BTreeMap<usize, Vec<(u64, usize)>> = std::collections::BTreeMap::new();
    for (slot, (h, ci)) in found.iter().enumerate() {
        by_chat.entry(*ci).or_default().push((h.seq, slot));
    }
    for (ci, mut wanted) in by_chat {
        wanted.sort_unstable();
        let c = &convs[ci];
        let mut next = 0;
        let mut recent: std::collections::VecDeque<MessageLine> = std::collections::VecDeque::new();
        // Hits still taking the messages after them.
        let mut open: Vec<usize> = Vec::new();
        for_each_line(&mut reader, path, &c.entry, &mut |seq, m| {
            open.retain(|&slot| {
                let Some(f) = slots[slot].as_mut() else {
                    return false;
                };
                if f.after.len() < context {
                    f.after.push(m.clone());
                }
                f.after.len() < context
            });
            while next < wanted.len() && wanted[next].0 == seq {
                let slot = wanted[next].1;
                slots[slot] = Some(FoundMessage {
                    chat: c.id.clone(),
                    chat_name: c.name.clone(),
                    seq,
                    message: m.clone(),
                    before: recent.iter().cloned().collect(),
                    after: Vec::new(),
                });
                if context > 0 {
                    open.push(slot);
                }
                next += 1;
            }
            if context > 0 {
                if recent.len() == context {
                    recent.pop_front();
                }
                recent.push_back(m);
            }
        })?;
    }
    let hits: Vec<FoundMessage> = slots.into_iter().flatten().collect();
    Ok(SearchOutcome { hits, note: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn index_files_are_taken_out_only_when_their_crc_matches() {
        let t = tempfile::tempdir().unwrap();
        let archive = t.path().join("a.zip");
        let mut bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&archive, &bytes).unwrap();
        let file = |name: &str, offset: u64, len: u64| CatalogFile {
            name: name.into(),
            offset,
            len,
        };
        let crc = |b: &[u8]| crc32fast::hash(b);
        let files = vec![
            (file("meta.json", 10, 1000), Some(crc(&bytes[10..1010]))),
            (file("seg.idx", 5000, 90_000), Some(crc(&bytes[5000..95_000]))),
        ];
        let out = t.path().join("whole");
        extract_index(&archive, &files, &out).unwrap();
        assert_eq!(std::fs::read(out.join("seg.idx")).unwrap(), &bytes[5000..95_000]);
        // One bit flipped in the second file: refused as damage, naming the file.
        bytes[60_000] ^= 1;
        std::fs::write(&archive, &bytes).unwrap();
        match extract_index(&archive, &files, &t.path().join("damaged")) {
            Err(Error::Damaged { detail, .. }) => assert!(detail.contains("seg.idx"), "{detail}"),
            other => panic!("not refused as damage: {:?}", other.map(|_| ())),
        }
        // One that runs past the end of the archive.
        let long = vec![(file("seg.idx", 95_000, 10_000), Some(0))];
        let e = extract_index(&archive, &long, &t.path().join("long")).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        // A file that its manifest does not list is not read.
        let unlisted = vec![(file("meta.json", 10, 1000), None)];
        let e = extract_index(&archive, &unlisted, &t.path().join("unlisted")).unwrap_err();
        assert!(e.to_string().contains("not in its manifest"), "{e}");
    }

    /// Reads in pieces of the given sizes, over and over.
    struct Pieces<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = self.sizes[self.turn % self.sizes.len()].min(buf.len());
            self.turn += 1;
            let n = want.min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    proptest! {
        /// Checkpoints are where line 0, CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY ... start,
        /// however the reads cut the lines.
        #[test]
        fn checkpoints_are_where_every_nth_line_starts(
            lens in prop::collection::vec(0usize..12, 0..3000),
            sizes in prop::collection::vec(1usize..40, 1..8),
            last_newline in any::<bool>(),
        ) {
            let mut data = Vec::new();
            let mut starts = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                starts.push(data.len() as u64);
                data.extend(std::iter::repeat_n(b'x', *len));
                if i + 1 < lens.len() || last_newline {
                    data.push(b'\n');
                }
            }
            // A line exists only where a byte is: an empty last line after the final newline
            // is no line.
            let expected: Vec<u64> = starts
                .iter()
                .enumerate()
                .filter(|(i, at)| (*i as u64).is_multiple_of(CHECKPOINT_EVERY) && (**at as usize) < data.len())
                .map(|(_, at)| *at)
                .collect();
            let (mut reader, cps) = CheckpointReader::new(Pieces { data: &data, sizes, turn: 0 });
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            prop_assert_eq!(&out, &data);
            prop_assert_eq!(cps.lock().unwrap().clone(), expected);
        }
    }
}
