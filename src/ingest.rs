//! The chat stage of a backup: recognise the exports among the stored files, decode and parse
//! them, store the images they embed (once each, sharing storage with identical photo files),
//! keep a UTF-8 rendition of exports written in another encoding, merge conversations, and write
//! them as JSON Lines and transcripts.
//!
//! Exports are read again here (the write stage read them once to store them); everything else
//! is not. Large text exports are read again as soon as the write stage finds them, beside the
//! writing ([`AheadParser`]). What the parsers could not understand is reported, never fatal: the originals are in
//! the archive whatever the parser made of them.

use crate::archive::layout;
use crate::archive::manifest::{ConversationRecord, EntryKind, ExportRecord};
use crate::archive::write::{ArchiveWriter, StreamError};
use crate::chats::{self, Collector, MessageLine};
use crate::error::{Error, Result};
use crate::scan::ScannedFile;
use crate::search_index;
use qqvault_core::{ConversationKey, Sha256Digest};
use qqvault_formats::decode::{self, TextEncoding};
use qqvault_formats::formats::{self as parsers, mht, qce, ParseSummary, TextParse};
use qqvault_formats::sniff::ExportKind;
use qqvault_formats::spill::SpillMerger;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// How many bytes of messages one export may hold in memory before they wait in temporary
/// files (the merge's budget; see `qqvault_formats::spill`).
pub const SPOOL_BUDGET: usize = 32 << 20;

/// The merge's budget: [`SPOOL_BUDGET`], or `QQVAULT_MERGE_BUDGET` (bytes) when it is set.
pub fn spool_budget() -> usize {
    std::env::var("QQVAULT_MERGE_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(SPOOL_BUDGET)
}

/// The merged conversations, read back from the merge's temporary files (removed on drop).
pub struct MergedChats {
    merger: SpillMerger,
    scratch: std::path::PathBuf,
}

impl MergedChats {
    /// The messages of the `i`-th conversation as stored lines, in time order.
    pub fn lines<'a>(
        &'a self,
        i: usize,
        id: &'a str,
    ) -> io::Result<impl Iterator<Item = io::Result<MessageLine>> + 'a> {
        Ok(self
            .merger
            .messages(i)?
            .map(move |m| m.map(|m| MessageLine::from_message(id, m))))
    }

    pub fn is_empty(&self) -> bool {
        self.merger.conversations().is_empty()
    }
}

/// The conversations written, in order, for the later stages: their ids and their places
/// among the merged ones.
pub struct MergedSource<'a> {
    pub merged: &'a MergedChats,
    pub ids: Vec<String>,
    pub order: Vec<usize>,
}

impl chats::ConversationSource for MergedSource<'_> {
    fn messages(&mut self, i: usize) -> Result<Box<dyn Iterator<Item = io::Result<MessageLine>> + '_>> {
        let id = self.ids.get(i).map(String::as_str).unwrap_or("");
        let at = self.order.get(i).copied().unwrap_or(usize::MAX);
        let it = self
            .merged
            .lines(at, id)
            .map_err(|e| Error::read(&self.merged.scratch, e))?;
        Ok(Box::new(it))
    }
    fn origin(&self) -> std::path::PathBuf {
        self.merged.scratch.clone()
    }
}

/// An input file recognised as an export.
pub struct FoundExport {
    pub file: usize,
    pub kind: ExportKind,
}

/// What the chat stage produced.
pub struct ChatOutcome {
    pub exports: Vec<ExportRecord>,
    /// The conversations written.
    pub conversations: Vec<ConversationRecord>,
    pub placeholder_matches: u64,
    /// The merged conversations' messages, in temporary files.
    pub merged: MergedChats,
    /// For each conversation written, its place among the merged ones.
    pub order: Vec<usize>,
    /// Where each conversation's JSON Lines lie in the archive, in the order of
    /// `conversations`.
    pub chat_locations: Vec<search_index::CatalogChat>,
}

impl ChatOutcome {
    /// The messages of the conversations written, in their order.
    pub fn source(&self) -> MergedSource<'_> {
        MergedSource {
            merged: &self.merged,
            ids: self.conversations.iter().map(|c| c.id.clone()).collect(),
            order: self.order.clone(),
        }
    }
}

/// Exports parsed so far and their conversations merged: what [`Ingest::write`] stores.
pub struct ChatParse {
    merger: SpillMerger,
    exports: Vec<ExportRecord>,
    /// The exports each conversation came from.
    sources: HashMap<ConversationKey, BTreeSet<String>>,
    self_senders: HashMap<ConversationKey, BTreeSet<String>>,
}

impl ChatParse {
    pub fn new(scratch: &Path) -> Self {
        ChatParse {
            merger: SpillMerger::new(scratch, spool_budget()),
            exports: Vec::new(),
            sources: HashMap::new(),
            self_senders: HashMap::new(),
        }
    }

    /// The conversations merged so far.
    pub fn keys(&self) -> impl Iterator<Item = &ConversationKey> {
        self.merger.conversations().iter().map(|c| &c.meta.key)
    }

    /// Ends the parsing: the merged conversations that `keep` accepts are the ones to write
    /// ([`Ingest::write_chats`]); the merge's files are read from `scratch`.
    pub fn finish(self, scratch: &Path, keep: impl Fn(&ConversationKey) -> bool) -> ChatOutcome {
        let ChatParse {
            merger,
            exports,
            sources,
            self_senders,
        } = self;
        let stats = merger.stats();
        let mut conversations = Vec::new();
        let mut order = Vec::new();
        for (i, c) in merger.conversations().iter().enumerate() {
            if !keep(&c.meta.key) {
                continue;
            }
            order.push(i);
            let meta = &c.meta;
            let id = meta.key.id();
            conversations.push(ConversationRecord {
                name: meta.name.clone(),
                group: meta.group.clone(),
                kind: meta.kind,
                key: meta.key.clone(),
                messages: c.messages,
                first: c.first,
                last: c.last,
                entry: chats::messages_entry(&id),
                transcript: chats::transcript_entry(&id),
                sources: sources
                    .get(&meta.key)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                self_senders: self_senders
                    .get(&meta.key)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                id,
            });
        }
        ChatOutcome {
            exports,
            conversations,
            placeholder_matches: stats.placeholder_matches,
            merged: MergedChats {
                merger,
                scratch: scratch.to_path_buf(),
            },
            order,
            chat_locations: Vec::new(),
        }
    }
}

/// The files that QCE exports keep beside themselves, `resources/{images,videos,audios,files}/
/// <name>` (see the formats document, 5.1), as stored: by the folder that holds `resources/`
/// (its archive path in lower case, ending in `/`; empty at the top), then by lower-case file
/// name, one slot per kind of resource. The exports' messages name their resources by file
/// name only.
#[derive(Default)]
pub struct ResourceFiles(HashMap<String, HashMap<String, [Option<Resource>; 4]>>);

/// One stored resource: its archive path, hash and entry.
type Resource = (String, Sha256Digest, String);

/// The folders of `resources/` that QCE writes, one per kind of resource, pictures first.
const RESOURCE_KINDS: [&str; 4] = ["images", "videos", "audios", "files"];

impl ResourceFiles {
    /// Where a file at `archive_path` lies if it is a QCE resource: the folder holding
    /// `resources/` (lower case), the kind, and its lower-case name.
    fn place(archive_path: &str) -> Option<(String, usize, String)> {
        let lower = archive_path.to_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        let n = parts.len();
        if n < 3 || parts[n - 3] != "resources" {
            return None;
        }
        let kind = RESOURCE_KINDS.iter().position(|k| *k == parts[n - 2])?;
        let base: String = parts[..n - 3].iter().map(|p| format!("{p}/")).collect();
        Some((base, kind, parts[n - 1].to_string()))
    }

    /// Takes the stored file at `archive_path` when it lies in a QCE resources folder. The same
    /// path again is its newer content (an update's); of two paths whose names differ only in
    /// case, the first in byte order wins, whatever order they come in, so that an update and a
    /// backup of everything link the same one.
    pub fn add(&mut self, archive_path: &str, sha256: Sha256Digest, entry: &str) {
        let Some((base, kind, name)) = Self::place(archive_path) else {
            return;
        };
        let slot = &mut self.0.entry(base).or_default().entry(name).or_default()[kind];
        if slot.as_ref().is_none_or(|(p, _, _)| archive_path <= p.as_str()) {
            *slot = Some((archive_path.to_string(), sha256, entry.to_string()));
        }
    }

    /// The folders holding `resources/` that some of `paths` lie in.
    pub fn folders_of<'p>(paths: impl Iterator<Item = &'p String>) -> std::collections::HashSet<String> {
        paths
            .filter_map(|p| Self::place(p))
            .map(|(base, _, _)| base)
            .collect()
    }

    /// The folders where the resources of the export `kind` at `archive_path` may lie, when it
    /// is one of QCE's (see [`ResourceFiles::folders`]).
    pub fn export_folders(archive_path: &str, kind: ExportKind) -> Option<Vec<String>> {
        match kind {
            ExportKind::QceTxt | ExportKind::QceJson | ExportKind::QceJsonlManifest => {
                Some(Self::folders(archive_path, false))
            }
            ExportKind::QceJsonlChunk => Some(Self::folders(archive_path, true)),
            _ => None,
        }
    }

    /// The folders where the resources of the export at `archive_path` may lie: its own, then
    /// the one above it (where a chunked export's folder lies). A `chunk` lies in the `chunks/`
    /// folder of its export: it counts from that export's folder.
    fn folders(archive_path: &str, chunk: bool) -> Vec<String> {
        let lower = archive_path.to_lowercase();
        let mut dirs: Vec<&str> = lower.split('/').collect();
        dirs.pop();
        if chunk {
            dirs.pop();
        }
        let mut out = vec![dirs.iter().map(|d| format!("{d}/")).collect::<String>()];
        if !dirs.is_empty() {
            dirs.pop();
            out.push(dirs.iter().map(|d| format!("{d}/")).collect());
        }
        out
    }

    /// The stored resource named `name` in the first of `folders` that holds one.
    pub fn find(&self, folders: &[String], name: &str) -> Option<(Sha256Digest, String)> {
        let name = name.to_lowercase();
        folders.iter().find_map(|d| {
            let slots = self.0.get(d)?.get(&name)?;
            slots
                .iter()
                .flatten()
                .next()
                .map(|(_, sha, entry)| (*sha, entry.clone()))
        })
    }
}

pub struct Ingest<'a> {
    pub writer: &'a mut ArchiveWriter,
    pub files: &'a [ScannedFile],
    /// Content already stored, by hash: entry name.
    pub stored: &'a mut HashMap<Sha256Digest, String>,
    pub tz: &'a qce::WallClock,
    /// Where the merge's temporary files go (the archive's folder).
    pub scratch: &'a Path,
    /// An archive write that failed inside a parser callback: fatal, reported after the stage.
    pub fatal: Option<Error>,
    /// The stored files of QCE resources folders, which QCE exports' messages name.
    pub resources: Option<&'a ResourceFiles>,
}

impl<'a> Ingest<'a> {
    pub fn new(
        writer: &'a mut ArchiveWriter,
        files: &'a [ScannedFile],
        stored: &'a mut HashMap<Sha256Digest, String>,
        tz: &'a qce::WallClock,
        scratch: &'a Path,
    ) -> Self {
        Ingest {
            writer,
            files,
            stored,
            tz,
            scratch,
            fatal: None,
            resources: None,
        }
    }

    /// Links the attachments of QCE exports to the stored files of their resources folders.
    pub fn with_resources(mut self, resources: &'a ResourceFiles) -> Self {
        self.resources = Some(resources);
        self
    }
}

fn stem(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => base.to_string(),
    }
}

impl Ingest<'_> {
    /// Parses the exports (of `self.files`) into the merge; images they embed are stored. The
    /// exports in `ahead` were parsed already (see [`AheadParser`]): they are merged in their
    /// turn, exactly as if they were parsed here.
    pub fn parse(
        &mut self,
        found: Vec<FoundExport>,
        parse: &mut ChatParse,
        ahead: &mut HashMap<usize, ParsedAhead>,
    ) -> Result<()> {
        let ChatParse {
            merger,
            exports,
            sources,
            self_senders,
        } = parse;
        // Chunks claimed by a chunked-JSONL manifest are parsed with it.
        let mut claimed: HashMap<std::path::PathBuf, usize> = HashMap::new();
        let by_disk: HashMap<&Path, usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.disk_path.as_path(), i))
            .collect();
        let mut manifests = Vec::new();
        for fx in &found {
            if fx.kind == ExportKind::QceJsonlManifest {
                let f = &self.files[fx.file];
                let parsed = std::fs::read(&f.disk_path).and_then(|b| qce::parse_manifest(&b));
                if let Ok(m) = &parsed {
                    let dir = f.disk_path.parent().unwrap_or(Path::new(""));
                    for c in &m.chunk_paths {
                        let p = dir.join(c);
                        if by_disk.contains_key(p.as_path()) {
                            claimed.insert(p, fx.file);
                        }
                    }
                }
                manifests.push((fx.file, parsed));
            }
        }
        for fx in &found {
            let f = &self.files[fx.file];
            let mut rec = ExportRecord {
                path: f.archive_path.name.clone(),
                format: fx.kind.label().to_string(),
                ..Default::default()
            };
            match fx.kind {
                ExportKind::MsgMgrBak | ExportKind::LegacyMsgDb | ExportKind::NtMsgDb => {
                    rec.opaque = true;
                    exports.push(rec);
                    continue;
                }
                ExportKind::QceJsonlChunk if claimed.contains_key(&f.disk_path) => {
                    rec.problems.push("parsed with its chunked-JSONL manifest".into());
                    exports.push(rec);
                    continue;
                }
                _ => {}
            }
            let mut col = Collector::new(merger.spool());
            let mut mht_parts: HashMap<String, (Sha256Digest, String)> = HashMap::new();
            let parsed: io::Result<()> = match fx.kind {
                ExportKind::QqTxt | ExportKind::QceTxt | ExportKind::QceJson => {
                    // Parsed ahead as the same kind (its first bytes read again may say otherwise).
                    let text = match ahead.remove(&fx.file) {
                        Some(done) if done.kind == fx.kind => done.into_collector(&mut col),
                        _ => read_text(fx.kind, f, self.tz, &mut col),
                    };
                    text.and_then(|p| match p {
                        Some(p) => self.record_text(f, p, &mut rec),
                        None => Ok(()),
                    })
                }
                ExportKind::QqMht => {
                    // Images are stored as the parser hands them over, once each by hash.
                    let writer = &mut *self.writer;
                    let stored = &mut *self.stored;
                    let mut media_error: Option<Error> = None;
                    let mut store = |name: &str, ctype: &str, bytes: &[u8]| {
                        if media_error.is_some() {
                            return;
                        }
                        let sha = Sha256Digest::of(bytes);
                        let entry = match stored.get(&sha) {
                            Some(e) => e.clone(),
                            None => {
                                let entry = format!(
                                    "{}{}.{}",
                                    layout::MEDIA_PREFIX,
                                    sha,
                                    chats::media_extension(bytes, ctype)
                                );
                                if let Err(e) = writer.add_bytes(&entry, EntryKind::Media, bytes) {
                                    media_error = Some(e);
                                    return;
                                }
                                stored.insert(sha, entry.clone());
                                entry
                            }
                        };
                        mht_parts.insert(name.to_lowercase(), (sha, entry));
                    };
                    let mut mcol = Collector {
                        media: Some(&mut store),
                        ..Collector::new(merger.spool())
                    };
                    let r = File::open(&f.disk_path).and_then(|file| {
                        mht::parse(
                            BufReader::with_capacity(256 << 10, file),
                            &stem(&f.archive_path.name),
                            &mut mcol,
                        )
                    });
                    col.spool = std::mem::replace(&mut mcol.spool, merger.spool());
                    col.not_understood = mcol.not_understood;
                    col.samples = std::mem::take(&mut mcol.samples);
                    col.findings = std::mem::take(&mut mcol.findings);
                    drop(mcol);
                    if let Some(e) = media_error {
                        return Err(e);
                    }
                    r.map(|stats| {
                        rec.encoding = Some(stats.html_charset.to_lowercase());
                        rec.undecodable_bytes = stats.malformed_bytes;
                        rec.images_missing = stats.missing_parts;
                        rec.images_unreferenced = stats.unreferenced_parts;
                        for c in &stats.conversations {
                            let names = self_senders.entry(c.key.clone()).or_default();
                            names.extend(c.self_senders.iter().map(|s| s.name.clone()));
                        }
                    })
                }
                ExportKind::QceJsonlManifest => {
                    let m = manifests.iter().find(|(i, _)| *i == fx.file).map(|(_, m)| m);
                    match m {
                        Some(Ok(m)) => {
                            let dir = f.disk_path.parent().unwrap_or(Path::new("")).to_path_buf();
                            let mut result = Ok(());
                            for c in &m.chunk_paths {
                                let p = dir.join(c);
                                if !by_disk.contains_key(p.as_path()) {
                                    rec.problems.push(format!(
                                        "chunk {c} is listed by the manifest but was not among the inputs"
                                    ));
                                    continue;
                                }
                                let r = File::open(&p).and_then(|file| {
                                    qce::parse_jsonl_chunk(BufReader::new(file), &m.meta, self.tz, &mut col)
                                        .map(|_| ())
                                });
                                if let Err(e) = r {
                                    result = Err(e);
                                    break;
                                }
                            }
                            for r in &m.rejected_paths {
                                rec.problems
                                    .push(format!("chunk path {r} refused: it leaves the export's folder"));
                            }
                            result
                        }
                        Some(Err(e)) => Err(io::Error::new(e.kind(), e.to_string())),
                        None => Ok(()),
                    }
                }
                ExportKind::QceJsonlChunk => {
                    // A chunk without its manifest: the conversation is named after its folder.
                    let parent = f
                        .archive_path
                        .name
                        .rsplitn(3, '/')
                        .nth(2)
                        .map(stem)
                        .unwrap_or_else(|| stem(&f.archive_path.name));
                    let meta = qce::conversation_from_chat_info(None, &parent);
                    rec.problems.push(
                        "a chunk without its manifest.json: the conversation is named after its folder"
                            .into(),
                    );
                    File::open(&f.disk_path).and_then(|file| {
                        qce::parse_jsonl_chunk(BufReader::new(file), &meta, self.tz, &mut col).map(|_| ())
                    })
                }
                _ => Ok(()),
            };
            if let Some(e) = self.fatal.take() {
                return Err(e);
            }
            if let Some(e) = col.spool.take_error() {
                return Err(Error::write(self.scratch, e));
            }
            if let Err(e) = parsed {
                rec.problems.push(format!(
                    "reading the export failed: {e}; the original is archived unchanged"
                ));
            }
            // Embedded images: stored once each (MHT images were stored while parsing).
            let mut parts: HashMap<String, (Sha256Digest, String)> = std::mem::take(&mut mht_parts);
            for (name, ctype, bytes) in &col.embedded {
                let sha = Sha256Digest::of(bytes);
                let entry = match self.stored.get(&sha) {
                    Some(e) => e.clone(),
                    None => {
                        let entry = format!(
                            "{}{}.{}",
                            layout::MEDIA_PREFIX,
                            sha,
                            chats::media_extension(bytes, ctype)
                        );
                        self.writer.add_bytes(&entry, EntryKind::Media, bytes)?;
                        self.stored.insert(sha, entry.clone());
                        entry
                    }
                };
                parts.insert(name.to_lowercase(), (sha, entry));
            }
            // QCE names each message's resources by file name; the files lie in the resources
            // folder beside the export (what it embeds comes first).
            let beside = self
                .resources
                .zip(ResourceFiles::export_folders(&f.archive_path.name, fx.kind));
            rec.problems.extend(col.findings.iter().map(chats::finding_text));
            rec.images_damaged = col
                .findings
                .iter()
                .filter(|f| matches!(f, qqvault_formats::sink::ParseFinding::BrokenPart { .. }))
                .count() as u64;
            rec.lines_not_understood += col.not_understood;
            rec.samples_not_understood = col.samples.clone();
            let mut keys = BTreeSet::new();
            for (meta, count) in col.spool.conversations() {
                rec.messages += count;
                keys.insert(meta.key.clone());
            }
            rec.conversations = keys.len() as u64;
            for k in keys {
                sources.entry(k).or_default().insert(f.archive_path.name.clone());
            }
            if rec.messages == 0 && f.size > 0 {
                rec.problems
                    .push("this export is not empty but no message could be read from it".into());
            }
            // Attachments are resolved, and images counted, as the merge reads each message.
            // MHT writes `[图片]` for each picture it embeds; other formats carry none.
            let count_placeholders = fx.kind != ExportKind::QqMht;
            let (mut found, mut placeholders) = (0u64, 0u64);
            let spool = std::mem::replace(&mut col.spool, merger.spool());
            merger
                .add_file(chats::source_of(fx.kind), spool, &mut |m| {
                    chats::resolve_attachments(m, &parts);
                    if let Some((r, folders)) = &beside {
                        for a in m.attachments.iter_mut().filter(|a| a.entry.is_none()) {
                            if let Some((sha, entry)) = r.find(folders, &a.name) {
                                a.sha256 = Some(sha);
                                a.entry = Some(entry);
                            }
                        }
                    }
                    found += m.attachments.iter().filter(|a| a.entry.is_some()).count() as u64;
                    if count_placeholders {
                        placeholders += m.text.matches("[图片]").count() as u64;
                    }
                })
                .map_err(|e| Error::write(self.scratch, e))?;
            rec.images_found = found;
            if count_placeholders {
                rec.image_placeholders = placeholders;
            }
            exports.push(rec);
        }
        Ok(())
    }

    /// Stores the conversations (`order` says where each is among the merged ones) as JSON
    /// Lines and transcripts; returns where each one's JSON Lines lie.
    pub fn write_chats_of(
        &mut self,
        merged: &MergedChats,
        conversations: &[ConversationRecord],
        order: &[usize],
    ) -> Result<Vec<search_index::CatalogChat>> {
        let mut chat_locations = Vec::with_capacity(conversations.len());
        for (rec, &i) in conversations.iter().zip(order) {
            let id = &rec.id;
            // Both forms are streamed into the archive from the merge's files, a few hundred
            // messages at a time, so a conversation of millions of messages is never whole in
            // memory.
            let jsonl = chats::ChunkReader::new(chats::render_chunks(
                merged.lines(i, id).map_err(|e| Error::read(self.scratch, e))?,
                512,
                chats::jsonl_line,
            ));
            chat_locations.push(search_index::add_chat_lines(self.writer, rec, jsonl)?);
            let heading = format!("{}\r\n", chats::transcript_heading(rec, "\r\n")).into_bytes();
            let scratch = std::cell::RefCell::new(String::new());
            let body = chats::render_chunks(
                merged.lines(i, id).map_err(|e| Error::read(self.scratch, e))?,
                512,
                move |m, buf| {
                    let mut text = scratch.borrow_mut();
                    text.clear();
                    chats::push_transcript_message(&mut text, m, "\r\n");
                    buf.extend_from_slice(text.as_bytes());
                },
            );
            let transcript = chats::ChunkReader::new(std::iter::once(Ok(heading)).chain(body));
            self.add_chat_stream(&rec.transcript, transcript)?;
        }
        Ok(chat_locations)
    }

    fn add_chat_stream(&mut self, name: &str, source: impl Read + Send) -> Result<()> {
        match self
            .writer
            .add_stream(name, EntryKind::Chat, source, u64::MAX, None, &|_| {})
        {
            Ok(_) => Ok(()),
            Err(StreamError::Archive(e)) => Err(e),
            Err(StreamError::Source(e)) => Err(Error::zip(self.writer.path(), format!("{name}: {e}"))),
        }
    }

    /// What the parse of a TXT or JSON export ([`read_text`]) found goes in its record; a UTF-8
    /// rendition is kept when the file was in another encoding.
    fn record_text(&mut self, f: &ScannedFile, p: TextParse, rec: &mut ExportRecord) -> io::Result<()> {
        rec.encoding = Some(p.encoding.label().to_string());
        rec.undecodable_bytes = p.malformed;
        match &p.summary {
            ParseSummary::QqTxt(s) => {
                if s.lf_only {
                    rec.problems.push("no CRLF record ends (an LF-only copy): line breaks inside messages cannot be told from record ends, so they are split by the blank-line and header rule".into());
                }
                if s.truncated > 0 {
                    rec.problems
                        .push(format!("{} overlong lines or bodies were cut", s.truncated));
                }
            }
            ParseSummary::Qce(s) => {
                if s.messages_without_time > 0 {
                    rec.problems
                        .push(format!("{} messages have no time", s.messages_without_time));
                }
                if s.truncated > 0 {
                    rec.problems
                        .push(format!("{} overlong lines or contents were cut", s.truncated));
                }
            }
        }
        if p.malformed > 0 {
            rec.problems.push(format!(
                "{} byte sequences are not valid {} and were replaced by U+FFFD in the parsed text",
                p.malformed,
                p.encoding.label()
            ));
        }
        if !matches!(p.encoding, TextEncoding::Utf8 | TextEncoding::Utf8Bom) {
            let entry = format!("{}{}", layout::TEXT_PREFIX, f.archive_path.name);
            let file = File::open(&f.disk_path)?;
            let reader = decode::DecodingReader::new(file, p.encoding);
            match self
                .writer
                .add_stream(&entry, EntryKind::Text, reader, u64::MAX, Some(f.mtime), &|_| {})
            {
                Ok(_) => rec.utf8_entry = Some(entry),
                Err(StreamError::Source(e)) => rec
                    .problems
                    .push(format!("the UTF-8 rendition could not be made: {e}")),
                Err(StreamError::Archive(e)) => {
                    let detail = e.to_string();
                    self.fatal = Some(e);
                    return Err(io::Error::other(detail));
                }
            }
        }
        Ok(())
    }
}

/// TXT and JSON exports: detects the encoding and parses into `col`.
fn read_text(
    kind: ExportKind,
    f: &ScannedFile,
    tz: &qce::WallClock,
    col: &mut Collector,
) -> io::Result<Option<TextParse>> {
    let file = File::open(&f.disk_path)?;
    parsers::parse_text_export(
        kind,
        BufReader::with_capacity(256 << 10, file),
        &stem(&f.archive_path.name),
        tz,
        col,
    )
}

/// Text exports from this size on are parsed ahead (see [`AheadParser`]); smaller ones take
/// a moment in the chat stage. `QQVAULT_PARSE_AHEAD_MIN` (bytes) sets another size.
const AHEAD_MIN: u64 = 4 << 20;
/// At most this many exports wait parsed ahead (each keeps a temporary file open); the ones
/// offered after that are parsed in the chat stage.
const AHEAD_MAX: usize = 8;

/// A text export parsed ahead of the chat stage: what [`read_text`] collected.
pub struct ParsedAhead {
    /// What it was parsed as.
    kind: ExportKind,
    spool: qqvault_formats::spill::FileSpool,
    not_understood: u64,
    samples: Vec<String>,
    embedded: Vec<(String, String, Vec<u8>)>,
    findings: Vec<qqvault_formats::sink::ParseFinding>,
    parsed: io::Result<Option<TextParse>>,
}

impl ParsedAhead {
    /// Puts what was collected into `col`, as if the export had been parsed into it.
    fn into_collector(self, col: &mut Collector) -> io::Result<Option<TextParse>> {
        col.spool = self.spool;
        col.not_understood = self.not_understood;
        col.samples = self.samples;
        col.embedded = self.embedded;
        col.findings = self.findings;
        self.parsed
    }
}

/// Parses the large text exports (TXT, JSON) on a thread of its own as soon as they are known,
/// while the files are still being written: the parse then runs on the core the writing leaves
/// idle instead of after it. Only the parse moves: the chat stage merges every export in file
/// order ([`Ingest::parse`]), so the result is the same. Large files are looked at as soon as
/// the scan has found them ([`AheadParser::look`]): a resumed backup reuses the exports that its
/// interrupted run wrote, and their parse would otherwise wait until the reused part was read
/// back.
pub struct AheadParser {
    min: u64,
    tx: Option<crossbeam_channel::Sender<Ahead>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<HashMap<usize, ParsedAhead>>>,
}

impl AheadParser {
    /// Starts the thread; the merge's temporary files go in `scratch`.
    pub fn start(tz: &qce::WallClock, scratch: &Path) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Ahead>();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tz, scratch, stopped) = (tz.clone(), scratch.to_path_buf(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("parse-ahead".into())
            .spawn(move || {
                let mut done: HashMap<usize, ParsedAhead> = HashMap::new();
                for job in rx {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let (i, kind, f) = match job {
                        Ahead::Parse(i, kind, f) => (i, kind, f),
                        Ahead::Look(i, f) => {
                            if done.contains_key(&i) {
                                continue;
                            }
                            let kind = read_head(&f.disk_path, chats::HEAD_LEN)
                                .ok()
                                .and_then(|head| recognise(&f.archive_path.name, &head));
                            match kind {
                                Some(k) if is_text_export(k) => (i, k, f),
                                _ => continue,
                            }
                        }
                    };
                    if done.len() >= AHEAD_MAX || done.contains_key(&i) {
                        continue;
                    }
                    let mut col =
                        Collector::new(qqvault_formats::spill::FileSpool::new(&scratch, spool_budget()));
                    let parsed = read_text(kind, &f, &tz, &mut col);
                    col.spool.spill_held();
                    let Collector {
                        spool,
                        not_understood,
                        samples,
                        embedded,
                        findings,
                        ..
                    } = col;
                    done.insert(
                        i,
                        ParsedAhead {
                            kind,
                            spool,
                            not_understood,
                            samples,
                            embedded,
                            findings,
                            parsed,
                        },
                    );
                }
                done
            })
            .ok();
        AheadParser {
            min: std::env::var("QQVAULT_PARSE_AHEAD_MIN")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(AHEAD_MIN),
            tx: handle.is_some().then_some(tx),
            stop,
            handle,
        }
    }

    /// Offers the export `kind` found in the scan's file `i` (`f`): parsed now if it is a large
    /// text export (see [`AHEAD_MIN`]) and fewer than [`AHEAD_MAX`] wait; offering it again
    /// does nothing.
    pub fn offer(&self, i: usize, kind: ExportKind, f: &ScannedFile) {
        if let (true, true, Some(tx)) = (is_text_export(kind), f.size >= self.min, &self.tx) {
            let _ = tx.send(Ahead::Parse(i, kind, f.clone()));
        }
    }

    /// Has the scan's file `i` (`f`) looked at: parsed now, as if offered, when its first bytes
    /// say it is a large text export. Photos and other compressed formats are passed over by
    /// their names, unread.
    pub fn look(&self, i: usize, f: &ScannedFile) {
        if f.size < self.min || crate::archive::write::has_compressed_extension(&f.archive_path.name) {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Ahead::Look(i, f.clone()));
        }
    }

    /// Waits for the exports offered to be parsed, by the scan's file index.
    pub fn finish(mut self) -> HashMap<usize, ParsedAhead> {
        drop(self.tx.take());
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

/// What the parsing thread is given: an export to parse, or a file to look at first.
enum Ahead {
    Parse(usize, ExportKind, ScannedFile),
    Look(usize, ScannedFile),
}

/// The exports that are parsed ahead: the text ones, which are read as a stream.
fn is_text_export(kind: ExportKind) -> bool {
    matches!(kind, ExportKind::QqTxt | ExportKind::QceTxt | ExportKind::QceJson)
}

impl Drop for AheadParser {
    /// A run that ends early does not leave the thread parsing: what waits is dropped, and
    /// the parse under way is waited for.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Recognises an export from a file's archive path and its first bytes.
pub fn recognise(archive_path: &str, head: &[u8]) -> Option<ExportKind> {
    // Photos, videos and archives are most of what people bring: no export starts like one,
    // so they are passed over before any decoding is tried.
    if crate::archive::write::is_compressed_format(head) {
        return None;
    }
    qqvault_formats::sniff::sniff(archive_path, head)
}

/// Reads up to `n` bytes from the start of a file.
pub fn read_head(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match f.read(&mut buf[filled..])? {
            0 => break,
            k => filled += k,
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_found_beside_an_export_and_beside_its_folder() {
        let d = |b: u8| Sha256Digest([b; 32]);
        let mut r = ResourceFiles::default();
        r.add(
            "in/群/resources/images/A.JPG",
            d(1),
            "files/in/群/resources/images/A.JPG",
        );
        r.add(
            "in/群/resources/files/a.jpg",
            d(2),
            "files/in/群/resources/files/a.jpg",
        );
        r.add(
            "in/群/resources/files/报告.pdf",
            d(3),
            "files/in/群/resources/files/报告.pdf",
        );
        // Not a resources folder of QCE's: other kinds, deeper folders, a file named resources.
        r.add("in/群/resources/other/b.jpg", d(4), "x");
        r.add("in/群/resources/images/sub/c.jpg", d(5), "x");
        r.add("in/群/resources", d(6), "x");
        r.add(
            "in/私聊/resources/videos/v.mp4",
            d(7),
            "files/in/私聊/resources/videos/v.mp4",
        );
        // At the top: an export and its resources given as two inputs.
        r.add("resources/images/top.png", d(8), "files/resources/images/top.png");
        let at = |r: &ResourceFiles, path: &str, chunk: bool, name: &str| {
            r.find(&ResourceFiles::folders(path, chunk), name)
                .map(|(sha, _)| sha)
        };
        // The picture's folder comes before the files' for one name in both.
        assert_eq!(
            r.find(&ResourceFiles::folders("in/群/群.json", false), "a.JPG"),
            Some((d(1), "files/in/群/resources/images/A.JPG".to_string()))
        );
        assert_eq!(at(&r, "in/群/群.json", false, "报告.pdf"), Some(d(3)));
        assert_eq!(at(&r, "in/群/群.json", false, "b.jpg"), None);
        assert_eq!(at(&r, "in/群/群.json", false, "c.jpg"), None);
        // Its own folder, the one above it; a chunk counts from its export's folder.
        assert_eq!(at(&r, "in/私聊/manifest.json", false, "v.mp4"), Some(d(7)));
        assert_eq!(
            at(&r, "in/私聊/p_chunked_jsonl/manifest.json", false, "v.mp4"),
            Some(d(7))
        );
        let chunk = "in/私聊/p_chunked_jsonl/chunks/c000001.jsonl";
        assert_eq!(at(&r, chunk, true, "v.mp4"), Some(d(7)));
        assert_eq!(
            at(&r, "in/私聊/p_chunked_jsonl/deeper/x.json", false, "v.mp4"),
            None
        );
        assert_eq!(at(&r, "g.json", false, "top.png"), Some(d(8)));
        assert_eq!(at(&r, "in/g.json", false, "top.png"), Some(d(8)));
        // A later content for the same path replaces the earlier one (an update's new file).
        r.add(
            "in/群/resources/files/报告.pdf",
            d(9),
            "files/in/群/resources/files/报告.pdf",
        );
        assert_eq!(at(&r, "in/群/x.json", false, "报告.pdf"), Some(d(9)));
        // Names that differ only in case: the first path in byte order, in either order added.
        let (upper, lower) = ("in/群/resources/images/B.png", "in/群/resources/images/b.png");
        for order in [[upper, lower], [lower, upper]] {
            let mut r = ResourceFiles::default();
            for (k, p) in order.iter().enumerate() {
                r.add(p, d(10 + k as u8), p);
            }
            let found = r.find(&ResourceFiles::folders("in/群/x.json", false), "b.PNG");
            assert_eq!(found.map(|(_, e)| e).as_deref(), Some(upper));
        }
        let changed = [
            "in/群/resources/files/报告.pdf".to_string(),
            "in/其他.txt".to_string(),
        ];
        let folders = ResourceFiles::folders_of(changed.iter());
        assert_eq!(folders.into_iter().collect::<Vec<_>>(), ["in/群/"]);
    }
}
