//! Conversations in the archive: reading chat exports found among the input files (the
//! `decode` and `parse` stages, through `qqvault-formats`), merging them, and the two forms they
//! are kept in: JSON Lines (`chats/<id>/messages.jsonl`) and a readable transcript
//! (`chats/<id>/transcript.txt`).

use crate::archive::layout;
use crate::archive::manifest::{ConversationRecord, ExportRecord};
use qqvault_core::{Attachment, ConversationKey, ConversationMeta, Message, MessageTime, Sha256Digest};
use qqvault_formats::merge::SourceFormat;
use qqvault_formats::sink::{ChatSink, ParseFinding};
use qqvault_formats::sniff::ExportKind;
use qqvault_formats::spill::FileSpool;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// How many bytes of a file's start are kept for recognising exports.
pub const HEAD_LEN: usize = 64 << 10;
/// How many lines not understood are kept as samples per export.
const SAMPLES: usize = 5;

/// One message as stored in `messages.jsonl` and printed by `show --json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageLine {
    pub chat: String,
    pub time: MessageTime,
    pub sender: String,
    pub sender_id: Option<String>,
    pub text: String,
    pub system: bool,
    pub attachments: Vec<Attachment>,
}

impl MessageLine {
    /// Takes the message's fields without copying them.
    pub fn from_message(chat: &str, m: Message) -> Self {
        MessageLine {
            chat: chat.to_string(),
            time: m.time,
            sender: m.sender,
            sender_id: m.sender_id,
            text: m.text,
            system: m.system,
            attachments: m.attachments,
        }
    }

    pub fn new(chat: &str, m: &Message) -> Self {
        MessageLine {
            chat: chat.to_string(),
            time: m.time,
            sender: m.sender.clone(),
            sender_id: m.sender_id.clone(),
            text: m.text.clone(),
            system: m.system,
            attachments: m.attachments.clone(),
        }
    }
}

/// A reader over chunks of bytes produced on demand: streams a rendering into the archive
/// without holding all of it. A chunk that fails ends the read with its error.
pub struct ChunkReader<I> {
    chunks: I,
    current: Vec<u8>,
    pos: usize,
}

impl<I: Iterator<Item = std::io::Result<Vec<u8>>>> ChunkReader<I> {
    pub fn new(chunks: I) -> Self {
        ChunkReader {
            chunks,
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl<I: Iterator<Item = std::io::Result<Vec<u8>>>> std::io::Read for ChunkReader<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.chunks.next() {
                Some(c) => {
                    self.current = c?;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Chunks of about `per_chunk` messages, each rendered by `render` into one buffer.
pub fn render_chunks<'a>(
    mut messages: impl Iterator<Item = std::io::Result<MessageLine>> + 'a,
    per_chunk: usize,
    render: impl Fn(&MessageLine, &mut Vec<u8>) + 'a,
) -> impl Iterator<Item = std::io::Result<Vec<u8>>> + 'a {
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        for _ in 0..per_chunk {
            match messages.next() {
                Some(Ok(m)) => render(&m, &mut buf),
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        (!buf.is_empty()).then_some(Ok(buf))
    })
}

/// A message as one line of `messages.jsonl`.
pub fn jsonl_line(m: &MessageLine, buf: &mut Vec<u8>) {
    // Serialising plain data into memory cannot fail.
    let _ = serde_json::to_writer(&mut *buf, m);
    buf.push(b'\n');
}

/// Where the later stages read the merged conversations from, one at a time, in time order:
/// the merge's temporary files during a backup, the archive's JSON Lines during a reindex.
pub trait ConversationSource {
    /// The messages of the `i`-th conversation.
    fn messages(
        &mut self,
        i: usize,
    ) -> crate::error::Result<Box<dyn Iterator<Item = std::io::Result<MessageLine>> + '_>>;
    /// Names what is read, for errors.
    fn origin(&self) -> std::path::PathBuf;
}

/// The entry names of a conversation.
pub fn messages_entry(id: &str) -> String {
    format!("{}{id}/messages.jsonl", layout::CHATS_PREFIX)
}
pub fn transcript_entry(id: &str) -> String {
    format!("{}{id}/transcript.txt", layout::CHATS_PREFIX)
}

/// A message's sender as a person reads it: `name(id)`, or the bare name.
pub fn sender_label(sender: &str, sender_id: Option<&str>) -> String {
    let mut s = String::new();
    push_sender_label(&mut s, sender, sender_id);
    s
}

/// [`sender_label`], appended to `s`.
pub fn push_sender_label(s: &mut String, sender: &str, sender_id: Option<&str>) {
    s.push_str(sender);
    if let Some(id) = sender_id {
        s.push('(');
        s.push_str(id);
        s.push(')');
    }
}

/// The heading of a transcript.
pub fn transcript_heading(rec: &ConversationRecord, eol: &str) -> String {
    let mut s = format!("会话 / Conversation: {}{eol}", rec.name);
    if let Some(g) = &rec.group {
        s.push_str(&format!("消息分组 / Group: {g}{eol}"));
    }
    let kind = serde_json::to_value(rec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    s.push_str(&format!(
        "ID: {}   类型 / Kind: {kind}   消息 / Messages: {}",
        rec.id, rec.messages
    ));
    if let (Some(a), Some(b)) = (rec.first, rec.last) {
        s.push_str(&format!("   {} — {}", fmt_time(a), fmt_time(b)));
    }
    s.push_str(eol);
    s
}

/// `YYYY-MM-DD HH:MM:SS`, as people read it.
pub fn fmt_time(t: MessageTime) -> String {
    let mut s = String::with_capacity(19);
    t.push_iso(&mut s, ' ');
    s
}

/// One message as transcript lines: the header line, then the text indented.
pub fn transcript_message(m: &MessageLine, eol: &str) -> String {
    let mut s = String::new();
    push_transcript_message(&mut s, m, eol);
    s
}

/// [`transcript_message`], appended to `s`.
pub fn push_transcript_message(s: &mut String, m: &MessageLine, eol: &str) {
    m.time.push_iso(s, ' ');
    s.push(' ');
    if m.system {
        s.push_str("[系统消息] ");
    }
    push_sender_label(s, &m.sender, m.sender_id.as_deref());
    s.push_str(eol);
    for line in m.text.split('\n') {
        s.push_str("    ");
        s.push_str(line);
        s.push_str(eol);
    }
    for a in &m.attachments {
        match &a.entry {
            Some(e) => s.push_str(&format!("    [附件 attachment] {} -> {e}{eol}", a.name)),
            None => s.push_str(&format!("    [附件缺失 attachment missing] {}{eol}", a.name)),
        }
    }
    s.push_str(eol);
}

/// Receives an embedded part: its name in the export, its content type, its bytes.
pub type MediaStore<'a> = dyn FnMut(&str, &str, &[u8]) + 'a;

/// Collects what one export file's parser hands over.
pub struct Collector<'a> {
    /// Where embedded parts go as they arrive (MHT images are stored while the file is read,
    /// so a file of many GB never has its images in memory). Without it they are collected in
    /// `embedded`.
    pub media: Option<&'a mut MediaStore<'a>>,
    /// The file's messages, by conversation (in temporary files beyond a budget).
    pub spool: FileSpool,
    pub not_understood: u64,
    pub samples: Vec<String>,
    /// Embedded parts by lower-cased name: (sha256, bytes length, content type).
    pub embedded: Vec<(String, String, Vec<u8>)>,
    pub findings: Vec<ParseFinding>,
    /// A conversation meta to start with (chunked JSONL chunks carry their manifest's).
    pub preset: Option<ConversationMeta>,
}

impl Collector<'_> {
    pub fn new(spool: FileSpool) -> Self {
        Collector {
            media: None,
            spool,
            not_understood: 0,
            samples: Vec::new(),
            embedded: Vec::new(),
            findings: Vec::new(),
            preset: None,
        }
    }
}

impl ChatSink for Collector<'_> {
    fn conversation(&mut self, meta: ConversationMeta) {
        self.spool.conversation(meta);
    }
    fn message(&mut self, message: Message) {
        if !self.spool.has_conversation() {
            let meta = self.preset.clone().unwrap_or_else(|| ConversationMeta {
                key: ConversationKey {
                    family: qqvault_core::ExportFamily::MessageManager,
                    scope: String::new(),
                    peer: String::new(),
                },
                name: String::new(),
                group: None,
                kind: qqvault_core::ChatKind::Unknown,
            });
            self.spool.conversation(meta);
        }
        self.spool.push(message);
    }
    fn not_understood(&mut self, line_no: u64, line: &str) {
        self.not_understood += 1;
        if self.samples.len() < SAMPLES {
            let mut l: String = line.chars().take(120).collect();
            if l.len() < line.len() {
                l.push('…');
            }
            self.samples.push(format!("line {line_no}: {l}"));
        }
    }
    fn embedded(&mut self, name: &str, content_type: &str, bytes: &[u8]) {
        match self.media.as_mut() {
            Some(store) => store(name, content_type, bytes),
            None => self
                .embedded
                .push((name.to_string(), content_type.to_string(), bytes.to_vec())),
        }
    }
    fn finding(&mut self, finding: ParseFinding) {
        self.findings.push(finding);
    }
}

pub fn finding_text(f: &ParseFinding) -> String {
    match f {
        ParseFinding::MissingPart { name } => {
            format!("image {name} is referenced but the file holds no such part")
        }
        ParseFinding::UnreferencedPart { name } => {
            format!("part {name} is not referenced by any message (kept)")
        }
        ParseFinding::BrokenPart { name, detail } => {
            format!("part {name} is damaged: {detail} (the bytes that could be decoded are kept)")
        }
        ParseFinding::Other { detail } => detail.clone(),
    }
}

pub fn source_of(kind: ExportKind) -> SourceFormat {
    match kind {
        ExportKind::QqTxt => SourceFormat::Txt,
        ExportKind::QqMht => SourceFormat::Mht,
        _ => SourceFormat::Qce,
    }
}

/// The image file extension for stored media: from the bytes' magic, else the content type.
pub fn media_extension(bytes: &[u8], content_type: &str) -> &'static str {
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        "jpg"
    } else if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(b"GIF8") {
        "gif"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "webp"
    } else if bytes.starts_with(b"BM") {
        "bmp"
    } else {
        match content_type.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" => "jpg",
            "image/png" => "png",
            "image/gif" => "gif",
            _ => "bin",
        }
    }
}

/// Per-conversation facts gathered across exports.
#[derive(Default)]
pub struct ConversationExtras {
    pub sources: HashMap<ConversationKey, BTreeSet<String>>,
    pub self_senders: HashMap<ConversationKey, BTreeSet<String>>,
}

/// Totals over the exports, for the backup report.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ChatTotals {
    /// Exports found, by format label.
    pub exports: std::collections::BTreeMap<String, u64>,
    /// Exports by encoding label.
    pub encodings: std::collections::BTreeMap<String, u64>,
    pub conversations: u64,
    pub messages: u64,
    pub lines_not_understood: u64,
    /// Messages matched across a TXT and an MHT export with placeholders set aside.
    pub placeholder_matches: u64,
    /// Exports that yielded no message although they are not empty.
    pub exports_without_messages: u64,
}

impl ChatTotals {
    pub fn from_records(
        exports: &[ExportRecord],
        conversations: &[ConversationRecord],
        placeholder_matches: u64,
    ) -> Self {
        let mut t = ChatTotals {
            placeholder_matches,
            ..Default::default()
        };
        for e in exports {
            *t.exports.entry(e.format.clone()).or_default() += 1;
            if let Some(enc) = &e.encoding {
                *t.encodings.entry(enc.clone()).or_default() += 1;
            }
            t.lines_not_understood += e.lines_not_understood;
            if !e.opaque && e.messages == 0 && e.format != ExportKind::QceJsonlChunk.label() {
                t.exports_without_messages += 1;
            }
        }
        t.conversations = conversations.len() as u64;
        t.messages = conversations.iter().map(|c| c.messages).sum();
        t
    }
}

/// Resolves MHT attachment names against the parts one file held.
pub fn resolve_attachments(message: &mut Message, parts: &HashMap<String, (Sha256Digest, String)>) {
    for a in &mut message.attachments {
        if let Some((sha, entry)) = parts.get(&a.name.to_lowercase()) {
            a.sha256 = Some(*sha);
            a.entry = Some(entry.clone());
        }
    }
}
