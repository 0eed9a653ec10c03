//! Streaming parser for the MHT ("网页格式") export of the legacy QQ Message Manager.
//!
//! # What the file looks like
//!
//! A MIME `multipart/related` envelope (`From: <Save by Tencent MsgMgr>`, header lines often
//! without a space after the colon, a `boundary="----=_NextPart_…"` parameter on a folded
//! `Content-Type`), then one HTML part, then one base64 part per embedded image, each named by
//! `Content-Location:{GUID}.dat`. The HTML is one `<table>` with one `<tr>` per row:
//! `消息分组:` / `消息对象:` rows open a conversation (an "all messages" export holds many),
//! `日期:` rows give the day of the messages below them, and each message row carries a sender,
//! a time of day (24 h, `上午&nbsp;h:mm:ss`, or `h:mm:ss&nbsp;PM`) and an HTML body in which
//! `<IMG src="{GUID}.dat">` points at an image part.
//!
//! Quirks handled: a UTF-8 BOM; CRLF or LF; a hand-trimmed file whose HTML part has no part
//! header (its HTML follows the envelope directly, before any boundary line); a boundary that is
//! not declared (learned from the first `------=_NextPart_` line); UTF-8 HTML labelled `7bit`
//! (another declared charset is decoded with `encoding_rs`); rows spread over physical lines in
//! any way (rows are split on `<tr`, not on lines); image names in mixed case (matched
//! case-insensitively); broken or cut base64 and damaged images (handed over anyway, and
//! reported).
//!
//! # Memory
//!
//! Exports reach 100+ GB, almost all of it base64 images, so the file is read piece by piece:
//! at most one physical line (capped at [`MAX_PIECE`] bytes; longer lines are read in pieces),
//! one HTML row (capped at [`MAX_ROW`] bytes; a longer row is reported and skipped) and one
//! decoded image part (capped at [`MAX_PART`] bytes; the rest of a larger part is dropped and the
//! part reported as broken) are held at a time. Besides that the parser keeps the names of the
//! images the HTML refers to, to join them with the parts that follow: about 150 bytes per
//! distinct image name, so some 70 MB for the largest export reported in the wild (450,000
//! images).
//!
//! # Choices (not documented by QQ; see the format notes)
//!
//! - A sender that is empty or only `&nbsp;` (QQ uses these for received files and window
//!   shakes) gives a message with `sender: ""`, `sender_id: None` and `system: true`.
//!   `系统消息(10000)` and the like (nickname `系统消息` with a numeric id, as in the TXT parser)
//!   are system messages too.
//! - The sender is split like the TXT header: the last `(id)` or `<id>` at the very end is the
//!   id, the rest is the nickname, kept as written; empty brackets are not an id.
//! - `&nbsp;` becomes a plain space: QQ writes it for spaces the user typed.
//! - Raw line breaks inside a row (QQ writes `<br>`, so these come from edited files) become
//!   `\n` like `<br>`.
//! - A message row coloured `#42B475` is taken as the exporting user's (inferred from samples);
//!   such senders are listed in [`MhtConversationStats::self_senders`].
//! - A message takes the day of the last `日期:` row above it, also across conversation
//!   blocks; a message before any readable `日期:` row (or after an unreadable one) has no day
//!   and is reported as not understood: the day is never guessed.
//! - The kind of a conversation is guessed from its `消息分组` ([`kind_of_group`]).
//! - The English-UI labels `group:` / `contact:` (seen only in a code comment) are accepted
//!   for `消息分组:` / `消息对象:`.
//! - Text before the first boundary that is not blank is taken as the HTML (the hand-trimmed
//!   variant); a part with no headers is HTML when its first line starts with `<`.
//! - Decoded parts that are GIF, PNG or JPEG (by magic bytes) are checked for structure, since
//!   damage can hide behind well-formed base64. A damaged part is still handed to
//!   [`ChatSink::embedded`], then reported as [`ParseFinding::BrokenPart`].
//! - [`ParseFinding::UnreferencedPart`] is reported when the part ends,
//!   [`ParseFinding::MissingPart`] at the end of the file; `not_understood` gets the line on
//!   which the row's `<tr` starts and the row's raw HTML.

mod base64_stream;
mod html;
mod image_check;

use crate::sink::{ChatSink, ParseFinding};
use qqvault_core::{Attachment, ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, Read};

use base64_stream::Base64Stream;
use html::{ParsedMessage, Row, RowEvent, RowSplitter};

/// Longest piece of a physical line read at once; longer lines are handed on in pieces.
pub const MAX_PIECE: usize = 1 << 20;
/// Longest HTML row kept; a longer one is reported as not understood and skipped.
pub const MAX_ROW: usize = 16 << 20;
/// Largest decoded image part kept; the rest of a larger part is dropped and reported.
pub const MAX_PART: usize = 256 << 20;

/// Most header lines read for the envelope or a part (QQ writes four).
const MAX_HEADER_LINES: usize = 64;
/// Longest unfolded header value kept.
const MAX_HEADER_VALUE: usize = 16 * 1024;

/// The self colour of Message Manager exports: rows in this colour are the exporting user's.
const SELF_COLOUR: &str = "42B475";

/// A sender as split from an MHT row: nickname and optional id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderName {
    pub name: String,
    pub id: Option<String>,
}

/// What one conversation (all its blocks in the file together) held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MhtConversationStats {
    pub key: ConversationKey,
    /// How many `消息对象` blocks of this conversation the file has (1 unless repeated).
    pub blocks: u32,
    pub messages: u64,
    /// Senders whose rows carry the self colour `#42B475` (the exporting user, inferred),
    /// sorted. The [`Message`] type has no field for this.
    pub self_senders: Vec<SenderName>,
}

/// Counts of what an MHT file held, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MhtStats {
    /// Bytes read.
    pub bytes: u64,
    /// Physical lines read.
    pub lines: u64,
    /// The charset the HTML was decoded with (`UTF-8` unless the file declares another).
    pub html_charset: String,
    /// Bytes of the HTML that were not valid in that charset (each run became U+FFFD).
    pub malformed_bytes: u64,
    /// One entry per distinct conversation, in order of first appearance.
    pub conversations: Vec<MhtConversationStats>,
    /// Messages handed to the sink.
    pub messages: u64,
    /// Of those, system messages (系统消息, and rows with an empty sender).
    pub system_messages: u64,
    /// `<IMG>` references in message bodies.
    pub image_references: u64,
    /// Embedded parts handed to the sink.
    pub parts: u64,
    /// Referenced names with no part ([`ParseFinding::MissingPart`]).
    pub missing_parts: u64,
    /// Parts nothing refers to ([`ParseFinding::UnreferencedPart`]).
    pub unreferenced_parts: u64,
    /// Parts with broken base64 or damaged image data ([`ParseFinding::BrokenPart`]).
    pub broken_parts: u64,
    /// Rows handed to [`ChatSink::not_understood`].
    pub not_understood: u64,
}

/// Reads an MHT export from `reader` (raw bytes) and hands conversations, messages, image parts
/// and findings to `sink` in file order.
///
/// `file_stem` names the conversation when the file has no `消息对象` row. Errors are those of
/// the reader only: malformed content is reported through the sink and the returned stats.
pub fn parse<R: BufRead>(mut reader: R, file_stem: &str, sink: &mut dyn ChatSink) -> io::Result<MhtStats> {
    let mut parser = Parser::new(file_stem, sink);
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut line_no = 0u64;
    let mut continuing = false;
    loop {
        buf.clear();
        let read = (&mut reader).take(MAX_PIECE as u64).read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        parser.stats.bytes += read as u64;
        let starts_line = !continuing;
        if starts_line {
            line_no += 1;
        }
        let ends_line = buf.last() == Some(&b'\n');
        continuing = !ends_line;
        let mut data = &buf[..];
        if ends_line {
            data = &data[..data.len() - 1];
            if let Some(rest) = data.strip_suffix(b"\r") {
                data = rest;
            }
        }
        parser.piece(Piece {
            data,
            line_no,
            starts_line,
            ends_line,
        });
    }
    parser.stats.lines = line_no;
    Ok(parser.finish())
}

/// A physical line, or a piece of one longer than [`MAX_PIECE`], without its line end.
#[derive(Clone, Copy)]
struct Piece<'a> {
    data: &'a [u8],
    line_no: u64,
    /// The piece begins a physical line.
    starts_line: bool,
    /// The piece ends a physical line (it was followed by LF).
    ends_line: bool,
}

impl Piece<'_> {
    /// A whole physical line (the last line of a file may lack its line end).
    fn is_whole(&self) -> bool {
        self.starts_line && (self.ends_line || self.data.len() < MAX_PIECE)
    }

    fn is_blank(&self) -> bool {
        self.data.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
    }
}

/// Where in the MIME structure the parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The top-level header lines.
    Envelope,
    /// After the envelope, before the first boundary.
    Preamble,
    /// After a boundary line: the part's header lines.
    PartHeaders,
    /// A part whose headers do not say what it is: its first line decides.
    BodyStart,
    /// Inside the HTML.
    Html,
    /// After `</html>`, until the next boundary.
    AfterHtml,
    /// Inside an embedded (base64) part.
    Embedded,
    /// Inside a part that is not read, or after the closing boundary.
    Skip,
}

/// Header lines of the envelope or of a part, unfolded.
#[derive(Default)]
struct Headers {
    lines: Vec<(String, String)>,
}

impl Headers {
    fn get(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The MIME type of `Content-Type`, lower-cased, without parameters.
    fn mime_type(&self) -> String {
        let value = self.get("Content-Type").unwrap_or("");
        let end = value
            .find(|c: char| c == ';' || c.is_whitespace())
            .unwrap_or(value.len());
        value[..end].trim().to_ascii_lowercase()
    }

    fn transfer_encoding(&self) -> String {
        self.get("Content-Transfer-Encoding")
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    fn content_type_param(&self, param: &str) -> Option<String> {
        self.get("Content-Type").and_then(|v| header_param(v, param))
    }

    /// Takes one complete line; returns false when it is not a header line (or when the
    /// headers grow past what any MIME header holds: the rest is then read as body).
    fn push_line(&mut self, line: &[u8]) -> bool {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, value)) = self.lines.last_mut().filter(|(_, v)| v.len() < MAX_HEADER_VALUE) {
                value.push(' ');
                value.push_str(String::from_utf8_lossy(line).trim());
                return true;
            }
            return false;
        }
        if self.lines.len() >= MAX_HEADER_LINES {
            return false;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return false;
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]).trim().to_string();
        self.lines
            .push((String::from_utf8_lossy(name).into_owned(), value));
        true
    }
}

/// The value of `param=value` or `param="value"` inside a header value. Parameters are found
/// wherever they stand, since QQ folds its `Content-Type` without `;` between some of them.
fn header_param(value: &str, param: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let wanted = format!("{}=", param.to_ascii_lowercase());
    let mut from = 0;
    while let Some(found) = lower[from..].find(&wanted) {
        let at = from + found;
        from = at + wanted.len();
        let at_token_start = at == 0 || matches!(lower.as_bytes()[at - 1], b';' | b' ' | b'\t' | b'"');
        if !at_token_start {
            continue;
        }
        let rest = &value[at + wanted.len()..];
        let found_value = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').map_or(quoted, |end| &quoted[..end])
        } else {
            let end = rest
                .find(|c: char| c == ';' || c.is_whitespace())
                .unwrap_or(rest.len());
            &rest[..end]
        };
        return Some(found_value.to_string());
    }
    None
}

/// An embedded part being decoded.
struct EmbeddedPart {
    name: String,
    content_type: String,
    decoder: Base64Stream,
    bytes: Vec<u8>,
}

/// One image name the HTML refers to.
struct Reference {
    /// As first written in the HTML.
    name: String,
    matched: bool,
}

/// Everything the parser knows while reading.
struct Parser<'s> {
    sink: &'s mut dyn ChatSink,
    file_stem: String,
    stats: MhtStats,
    mode: Mode,
    /// The physical line being read.
    line_no: u64,
    boundary: Option<Vec<u8>>,
    envelope: Headers,
    part: Headers,
    parts_started: u64,
    /// The HTML of the current HTML part.
    html: Option<HtmlPart>,
    /// Conversation, day and reference state carried across rows (and HTML parts).
    rows: RowState,
    embedded: Option<EmbeddedPart>,
    /// Some HTML part has been read to its end: parts after it can be checked at once.
    html_done: bool,
    /// Parts seen before the end of the HTML (unusual): checked at the end.
    early_parts: Vec<String>,
}

/// Decoding and row splitting of one HTML part.
struct HtmlPart {
    decoder: encoding_rs::Decoder,
    decoded: String,
    splitter: RowSplitter,
    at_start: bool,
}

/// Per-row state: the current conversation and day, and the image references.
struct RowState {
    date: Option<(u16, u8, u8)>,
    pending_group: Option<String>,
    current: Option<usize>,
    conv_index: HashMap<ConversationKey, usize>,
    self_senders: Vec<BTreeSet<SenderName>>,
    references: Vec<Reference>,
    reference_index: HashMap<String, usize>,
}

impl<'s> Parser<'s> {
    fn new(file_stem: &str, sink: &'s mut dyn ChatSink) -> Self {
        Parser {
            sink,
            file_stem: file_stem.to_string(),
            stats: MhtStats {
                html_charset: "UTF-8".to_string(),
                ..MhtStats::default()
            },
            mode: Mode::Envelope,
            line_no: 0,
            boundary: None,
            envelope: Headers::default(),
            part: Headers::default(),
            parts_started: 0,
            html: None,
            rows: RowState {
                date: None,
                pending_group: None,
                current: None,
                conv_index: HashMap::new(),
                self_senders: Vec::new(),
                references: Vec::new(),
                reference_index: HashMap::new(),
            },
            embedded: None,
            html_done: false,
            early_parts: Vec::new(),
        }
    }

    fn piece(&mut self, mut piece: Piece<'_>) {
        self.line_no = piece.line_no;
        if piece.line_no == 1 && piece.starts_line {
            if let Some(rest) = piece.data.strip_prefix(b"\xEF\xBB\xBF") {
                piece.data = rest;
            }
        }
        // Every mode but the envelope ends at a boundary line.
        if self.mode != Mode::Envelope {
            if let Some(closing) = self.boundary_line(&piece) {
                self.end_part();
                self.mode = if closing { Mode::Skip } else { Mode::PartHeaders };
                self.part = Headers::default();
                return;
            }
        }
        match self.mode {
            Mode::Envelope => self.envelope_piece(piece),
            Mode::Preamble => {
                // Text before any boundary is the HTML of a hand-trimmed file.
                if !(piece.is_whole() && piece.is_blank()) {
                    let charset = self.envelope.content_type_param("charset");
                    self.start_html(charset);
                    self.html_piece(piece);
                }
            }
            Mode::PartHeaders => self.part_header_piece(piece),
            Mode::BodyStart => {
                if !(piece.is_whole() && piece.is_blank()) {
                    self.start_unlabelled_body(piece);
                }
            }
            Mode::Html => self.html_piece(piece),
            Mode::Embedded => {
                if let Some(part) = self.embedded.as_mut() {
                    part.decoder.feed(piece.data, &mut part.bytes, MAX_PART);
                }
            }
            Mode::AfterHtml | Mode::Skip => {}
        }
    }

    /// Whether the piece is a boundary line (`Some(true)` for the closing one). Learns the
    /// boundary from the first `------=_NextPart_` line when the envelope declared none.
    fn boundary_line(&mut self, piece: &Piece<'_>) -> Option<bool> {
        if !piece.is_whole() {
            return None;
        }
        let rest = piece.data.strip_prefix(b"--")?;
        if self.boundary.is_none() && rest.starts_with(b"----=_NextPart_") {
            let mut learned = rest;
            while let Some(shorter) = learned.strip_suffix(b" ").or(learned.strip_suffix(b"\t")) {
                learned = shorter;
            }
            if let Some(shorter) = learned.strip_suffix(b"--") {
                learned = shorter;
            }
            self.boundary = Some(learned.to_vec());
        }
        let boundary = self.boundary.as_deref()?;
        let after = rest.strip_prefix(boundary)?;
        let (closing, tail) = match after.strip_prefix(b"--") {
            Some(tail) => (true, tail),
            None => (false, after),
        };
        tail.iter().all(|b| matches!(b, b' ' | b'\t')).then_some(closing)
    }

    fn envelope_piece(&mut self, piece: Piece<'_>) {
        if piece.is_whole() {
            if piece.is_blank() {
                self.end_envelope();
                return;
            }
            if self.envelope.push_line(piece.data) {
                return;
            }
        }
        // Not a header: the envelope is over (or absent) and this line belongs to what follows.
        self.end_envelope();
        self.piece(piece);
    }

    fn end_envelope(&mut self) {
        if let Some(boundary) = self.envelope.content_type_param("boundary") {
            if !boundary.is_empty() {
                self.boundary = Some(boundary.into_bytes());
            }
        }
        self.mode = Mode::Preamble;
    }

    fn part_header_piece(&mut self, piece: Piece<'_>) {
        if piece.is_whole() {
            if piece.is_blank() {
                self.start_labelled_body();
                return;
            }
            if self.part.push_line(piece.data) {
                return;
            }
        }
        // A part without the blank line after its headers, or with no headers at all.
        self.start_labelled_body();
        self.piece(piece);
    }

    /// Chooses how to read the body of a part from its headers.
    fn start_labelled_body(&mut self) {
        self.parts_started += 1;
        let mime = self.part.mime_type();
        let encoding = self.part.transfer_encoding();
        if mime == "text/html" {
            if encoding == "base64" || encoding == "quoted-printable" {
                self.skip_part(&format!(
                    "an HTML part in {encoding} encoding is not read (QQ writes it as 7bit)"
                ));
            } else {
                let charset = self
                    .part
                    .content_type_param("charset")
                    .or_else(|| self.envelope.content_type_param("charset"));
                self.start_html(charset);
            }
        } else if encoding == "base64" {
            self.start_embedded(mime);
        } else if mime.is_empty() && encoding.is_empty() {
            self.mode = Mode::BodyStart;
        } else {
            self.skip_part(&format!(
                "a part of type '{mime}' in '{encoding}' encoding is not read"
            ));
        }
    }

    /// A part whose headers said nothing: HTML if it starts like HTML.
    fn start_unlabelled_body(&mut self, piece: Piece<'_>) {
        let first = piece.data.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'<') {
            let charset = self.envelope.content_type_param("charset");
            self.start_html(charset);
            self.html_piece(piece);
        } else {
            self.skip_part("a part without headers that does not start like HTML is not read");
        }
    }

    fn skip_part(&mut self, detail: &str) {
        self.sink.finding(ParseFinding::Other {
            detail: detail.to_string(),
        });
        self.mode = Mode::Skip;
    }

    fn start_embedded(&mut self, mime: String) {
        let name = self
            .part
            .get("Content-Location")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                let id = self.part.get("Content-ID")?.trim_matches(['<', '>']).to_string();
                (!id.is_empty()).then_some(id)
            })
            .unwrap_or_else(|| format!("unnamed-part-{}", self.parts_started));
        self.embedded = Some(EmbeddedPart {
            name,
            content_type: mime,
            decoder: Base64Stream::new(),
            bytes: Vec::new(),
        });
        self.mode = Mode::Embedded;
    }

    fn start_html(&mut self, charset: Option<String>) {
        let mut encoding = encoding_rs::UTF_8;
        if let Some(label) = charset.filter(|l| !l.trim().is_empty()) {
            match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
                // Lines are split on LF bytes, which UTF-16 does not allow; QQ never writes it.
                Some(found) if found.is_ascii_compatible() => encoding = found,
                _ => self.sink.finding(ParseFinding::Other {
                    detail: format!("HTML charset '{label}' is not supported; read as UTF-8"),
                }),
            }
        }
        self.stats.html_charset = encoding.name().to_string();
        self.html = Some(HtmlPart {
            decoder: encoding.new_decoder_without_bom_handling(),
            decoded: String::new(),
            splitter: RowSplitter::new(),
            at_start: true,
        });
        self.mode = Mode::Html;
    }

    fn html_piece(&mut self, piece: Piece<'_>) {
        let Some(html) = self.html.as_mut() else { return };
        let mut data = piece.data;
        if html.at_start {
            html.at_start = false;
            data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        }
        html.decoded.clear();
        self.stats.malformed_bytes += decode_into(&mut html.decoder, data, &mut html.decoded, false);
        let Parser {
            html,
            rows,
            sink,
            stats,
            file_stem,
            ..
        } = self;
        let Some(html) = html.as_mut() else { return };
        let ended = html
            .splitter
            .push(&html.decoded, piece.line_no, piece.ends_line, &mut |event| {
                rows.event(event, &mut **sink, stats, file_stem)
            });
        if ended {
            self.end_html();
            self.mode = Mode::AfterHtml;
        }
    }

    /// The HTML is over: hand over its last row.
    fn end_html(&mut self) {
        let line = self.line_no;
        let Parser {
            html,
            rows,
            sink,
            stats,
            file_stem,
            ..
        } = self;
        if let Some(mut part) = html.take() {
            part.decoded.clear();
            stats.malformed_bytes += decode_into(&mut part.decoder, b"", &mut part.decoded, true);
            part.splitter.push(&part.decoded, line, false, &mut |event| {
                rows.event(event, &mut **sink, stats, file_stem)
            });
            part.splitter
                .finish(&mut |event| rows.event(event, &mut **sink, stats, file_stem));
            self.html_done = true;
        }
    }

    /// The current part is over (a boundary, or the end of the file).
    fn end_part(&mut self) {
        match self.mode {
            Mode::Html => self.end_html(),
            Mode::Embedded => self.end_embedded(),
            _ => {}
        }
    }

    fn end_embedded(&mut self) {
        let Some(mut part) = self.embedded.take() else {
            return;
        };
        let mut broken = part.decoder.finish(&mut part.bytes).err();
        if broken.is_none() {
            broken = if part.bytes.is_empty() {
                Some("the part holds no data".to_string())
            } else {
                image_check::check(&part.bytes).err()
            };
        }
        self.sink.embedded(&part.name, &part.content_type, &part.bytes);
        self.stats.parts += 1;
        if let Some(detail) = broken {
            self.stats.broken_parts += 1;
            self.sink.finding(ParseFinding::BrokenPart {
                name: part.name.clone(),
                detail,
            });
        }
        if self.html_done {
            self.check_part_referenced(part.name);
        } else {
            self.early_parts.push(part.name);
        }
    }

    fn check_part_referenced(&mut self, name: String) {
        let key = name.to_lowercase();
        match self.rows.reference_index.get(&key) {
            Some(&index) => self.rows.references[index].matched = true,
            None => {
                self.stats.unreferenced_parts += 1;
                self.sink.finding(ParseFinding::UnreferencedPart { name });
            }
        }
    }

    fn finish(mut self) -> MhtStats {
        if self.mode == Mode::Embedded {
            let name = self.embedded.as_ref().map(|p| p.name.clone()).unwrap_or_default();
            self.sink.finding(ParseFinding::Other {
                detail: format!("the file ends inside part '{name}', without a closing boundary"),
            });
        }
        self.end_part();
        if !self.html_done {
            self.sink.finding(ParseFinding::Other {
                detail: "no HTML part found".to_string(),
            });
            self.html_done = true;
        }
        for name in std::mem::take(&mut self.early_parts) {
            self.check_part_referenced(name);
        }
        for reference in &self.rows.references {
            if !reference.matched {
                self.stats.missing_parts += 1;
                self.sink.finding(ParseFinding::MissingPart {
                    name: reference.name.clone(),
                });
            }
        }
        for (conv, senders) in self.stats.conversations.iter_mut().zip(self.rows.self_senders) {
            conv.self_senders = senders.into_iter().collect();
        }
        self.stats
    }
}

/// Decodes `src` into `dst`, replacing malformed sequences with U+FFFD; returns the number of
/// malformed bytes.
fn decode_into(decoder: &mut encoding_rs::Decoder, src: &[u8], dst: &mut String, last: bool) -> u64 {
    let mut malformed = 0u64;
    let mut src = src;
    loop {
        let needed = decoder
            .max_utf8_buffer_length_without_replacement(src.len())
            .unwrap_or(src.len() * 3 + 16);
        dst.reserve(needed.max(4));
        let (result, read) = decoder.decode_to_string_without_replacement(src, dst, last);
        src = &src[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => return malformed,
            encoding_rs::DecoderResult::OutputFull => {}
            encoding_rs::DecoderResult::Malformed(bad, _) => {
                malformed += u64::from(bad);
                dst.push('\u{FFFD}');
            }
        }
    }
}

impl RowState {
    /// Handles one event of the row splitter.
    fn event(&mut self, event: RowEvent<'_>, sink: &mut dyn ChatSink, stats: &mut MhtStats, file_stem: &str) {
        match event {
            RowEvent::Row { text, line_no } => self.row(text, line_no, sink, stats, file_stem),
            RowEvent::Oversized { prefix, line_no } => {
                stats.not_understood += 1;
                sink.not_understood(line_no, prefix);
                sink.finding(ParseFinding::Other {
                    detail: format!("row at line {line_no} is longer than {MAX_ROW} bytes and was skipped"),
                });
            }
        }
    }

    fn row(
        &mut self,
        text: &str,
        line_no: u64,
        sink: &mut dyn ChatSink,
        stats: &mut MhtStats,
        file_stem: &str,
    ) {
        match html::parse_row(text) {
            Row::Framing => {}
            Row::Group(group) => self.pending_group = Some(group),
            Row::Peer(peer) => {
                let group = self.pending_group.take();
                self.start_conversation(group, Some(peer), sink, stats, file_stem);
            }
            Row::Date(Some(date)) => self.date = Some(date),
            Row::Date(None) => {
                // A day we cannot read: later messages must not take the previous day.
                self.date = None;
                not_understood(line_no, text, sink, stats);
            }
            Row::Message(message) => self.message(message, line_no, text, sink, stats, file_stem),
            Row::Unknown => not_understood(line_no, text, sink, stats),
        }
    }

    fn start_conversation(
        &mut self,
        group: Option<String>,
        peer: Option<String>,
        sink: &mut dyn ChatSink,
        stats: &mut MhtStats,
        file_stem: &str,
    ) {
        let peer = peer
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| file_stem.to_string());
        let group = group.filter(|g| !g.is_empty());
        let key = ConversationKey {
            family: ExportFamily::MessageManager,
            scope: group.clone().unwrap_or_default(),
            peer: peer.clone(),
        };
        let kind = kind_of_group(group.as_deref());
        let index = match self.conv_index.get(&key) {
            Some(&index) => index,
            None => {
                stats.conversations.push(MhtConversationStats {
                    key: key.clone(),
                    blocks: 0,
                    messages: 0,
                    self_senders: Vec::new(),
                });
                self.self_senders.push(BTreeSet::new());
                let index = stats.conversations.len() - 1;
                self.conv_index.insert(key.clone(), index);
                index
            }
        };
        if let Some(conv) = stats.conversations.get_mut(index) {
            conv.blocks += 1;
        }
        self.current = Some(index);
        // The day is kept: a message takes the day of the last 日期 row above it, wherever.
        sink.conversation(ConversationMeta {
            key,
            name: peer,
            group,
            kind,
        });
    }

    fn message(
        &mut self,
        parsed: ParsedMessage,
        line_no: u64,
        text: &str,
        sink: &mut dyn ChatSink,
        stats: &mut MhtStats,
        file_stem: &str,
    ) {
        let Some((year, month, day)) = self.date else {
            not_understood(line_no, text, sink, stats);
            return;
        };
        let (hour, minute, second) = parsed.time;
        let Some(time) = qqvault_core::MessageTime::new(year, month, day, hour, minute, second) else {
            not_understood(line_no, text, sink, stats);
            return;
        };
        if self.current.is_none() || self.pending_group.is_some() {
            // Messages before any 消息对象 row (or after a 消息分组 row without one).
            let group = self.pending_group.take();
            self.start_conversation(group, None, sink, stats, file_stem);
        }
        let (sender, sender_id, system) = if parsed.sender.trim().is_empty() {
            (String::new(), None, true)
        } else {
            let (name, id) = html::split_sender(&parsed.sender);
            // As the TXT parser decides: 系统消息 with a numeric id (10000, 1000000, …).
            let system = name == "系统消息"
                && id
                    .as_deref()
                    .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            (name, id, system)
        };
        if let Some(index) = self.current {
            if let Some(conv) = stats.conversations.get_mut(index) {
                conv.messages += 1;
            }
            let is_self = parsed
                .colour
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(SELF_COLOUR));
            if is_self && !system {
                if let Some(set) = self.self_senders.get_mut(index) {
                    set.insert(SenderName {
                        name: sender.clone(),
                        id: sender_id.clone(),
                    });
                }
            }
        }
        let mut attachments = Vec::with_capacity(parsed.images.len());
        for name in parsed.images {
            stats.image_references += 1;
            let key = name.to_lowercase();
            if !self.reference_index.contains_key(&key) {
                self.reference_index.insert(key, self.references.len());
                self.references.push(Reference {
                    name: name.clone(),
                    matched: false,
                });
            }
            attachments.push(Attachment {
                name,
                sha256: None,
                entry: None,
            });
        }
        stats.messages += 1;
        if system {
            stats.system_messages += 1;
        }
        sink.message(Message {
            time,
            sender,
            sender_id,
            text: parsed.text,
            system,
            attachments,
        });
    }
}

fn not_understood(line_no: u64, text: &str, sink: &mut dyn ChatSink, stats: &mut MhtStats) {
    stats.not_understood += 1;
    sink.not_understood(line_no, text.trim_end());
}

/// The kind of chat a `消息分组` suggests (best effort: QQ's built-in group names, and any other
/// name taken as a user-made friend group).
pub fn kind_of_group(group: Option<&str>) -> ChatKind {
    crate::formats::qq_txt::chat_kind_for(group, None)
}
