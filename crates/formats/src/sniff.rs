//! Recognising which kind of QQ export a file is, from its content where the content can tell.
//!
//! [`sniff`] decodes the file's first bytes with [`crate::decode::detect`] (so GBK and UTF-16
//! exports are recognised too) and looks for each format's own marks:
//!
//! * Message Manager TXT: the title line `消息记录（此消息记录为文本格式，不支持重新导入）`; or a
//!   separator of `=` followed by `消息分组:`/`消息对象:`; or, when the title and block were cut
//!   off, a leading message header followed by body text and a second header after an empty
//!   line;
//! * Message Manager MHT: `From: <Save by Tencent MsgMgr>` or `Subject: Tencent IM Message`
//!   near the top (after an optional BOM), or `multipart/related` with a boundary of QQ's own
//!   `----=_NextPart_XXXXXXXX_XXXX_XXXX_XXXX.XXXXXXXXXXXX` shape (hand-trimmed copies lack some
//!   lines; the generic `NextPart_000_…` boundaries of other MHTML writers are not claimed);
//! * qq-chat-exporter TXT: its `[QQChatExporter` banner; or the `聊天名称:` header with
//!   `聊天类型:` or `导出时间:`; or, header removed, a first message `name:` / `时间: YYYY-MM-DD
//!   HH:MM:SS` / `内容: …`;
//! * qq-chat-exporter JSON: an object with `"chatInfo"` and `"metadata"` or `"messages"` keys;
//!   the chunked-JSONL manifest has a `"chunked": {` object (or, when a long `statistics`
//!   section pushes it out of the prefix, is named `manifest.json` and has no `"messages"`);
//! * a JSONL chunk: its first line is a JSON object with `timestamp` and `sender` keys.
//!
//! Three kinds can only be known by their **names**, because their content is encrypted:
//! * `*.bak` (Message Manager backup), claimed only when the content is not text and not an
//!   image or archive;
//! * `Msg3.0.db` (and the older `Msg2.0.db`) and `nt_msg.db`, claimed only when they do not
//!   start with the plain SQLite magic `SQLite format 3\0` (QQ's are encrypted; a plain SQLite
//!   file with that name is some other program's database or an already decrypted copy,
//!   which the parsers here cannot read either).
//!
//! Any other file, text or binary, gives `None`.

use crate::decode::{decode_prefix, detect, DETECT_PREFIX_LEN};
use crate::formats::qce::parse_local_time;
use crate::formats::qq_txt::parse_header;

/// The kinds of export this tool knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExportKind {
    /// Message Manager TXT export.
    QqTxt,
    /// Message Manager MHT export.
    QqMht,
    /// qq-chat-exporter TXT.
    QceTxt,
    /// qq-chat-exporter single-file JSON.
    QceJson,
    /// qq-chat-exporter chunked-JSONL `manifest.json`.
    QceJsonlManifest,
    /// One `chunks/*.jsonl` file of a chunked-JSONL export.
    QceJsonlChunk,
    /// Message Manager `.bak` backup (encrypted; archived, never parsed).
    MsgMgrBak,
    /// Legacy QQ `Msg3.0.db` (encrypted SQLite).
    LegacyMsgDb,
    /// QQNT `nt_msg.db` (SQLCipher).
    NtMsgDb,
}

impl ExportKind {
    /// A stable lowercase name for manifests and reports.
    pub fn label(&self) -> &'static str {
        match self {
            ExportKind::QqTxt => "qq-txt",
            ExportKind::QqMht => "qq-mht",
            ExportKind::QceTxt => "qce-txt",
            ExportKind::QceJson => "qce-json",
            ExportKind::QceJsonlManifest => "qce-jsonl-manifest",
            ExportKind::QceJsonlChunk => "qce-jsonl-chunk",
            ExportKind::MsgMgrBak => "msgmgr-bak",
            ExportKind::LegacyMsgDb => "legacy-msg-db",
            ExportKind::NtMsgDb => "nt-msg-db",
        }
    }

    /// Every kind, for listings.
    pub const ALL: [ExportKind; 9] = [
        ExportKind::QqTxt,
        ExportKind::QqMht,
        ExportKind::QceTxt,
        ExportKind::QceJson,
        ExportKind::QceJsonlManifest,
        ExportKind::QceJsonlChunk,
        ExportKind::MsgMgrBak,
        ExportKind::LegacyMsgDb,
        ExportKind::NtMsgDb,
    ];
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Lines of the decoded prefix looked at for the text formats' headers.
const HEAD_LINES: usize = 40;

/// Recognises an export from its file name (a bare name or a path) and its first bytes (give
/// up to [`DETECT_PREFIX_LEN`]). See the module docs for the rules.
pub fn sniff(file_name: &str, prefix: &[u8]) -> Option<ExportKind> {
    let prefix = &prefix[..prefix.len().min(DETECT_PREFIX_LEN)];
    let base = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_name)
        .to_lowercase();

    if prefix.starts_with(SQLITE_MAGIC) {
        return None;
    }
    if !prefix.is_empty() {
        match base.as_str() {
            "msg3.0.db" | "msg2.0.db" => return Some(ExportKind::LegacyMsgDb),
            "nt_msg.db" => return Some(ExportKind::NtMsgDb),
            _ => {}
        }
    }

    let text = decode_prefix(prefix, detect(prefix));
    if looks_like_text(&text) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        return sniff_text(&base, text, prefix.len() >= DETECT_PREFIX_LEN);
    }
    if base.ends_with(".bak") && !prefix.is_empty() && !is_known_binary(prefix) {
        return Some(ExportKind::MsgMgrBak);
    }
    None
}

/// Text: at most 1% of the characters are U+FFFD or control characters other than tab, CR,
/// LF and form feed.
fn looks_like_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut bad = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) {
            bad += 1;
        }
    }
    total > 0 && bad * 100 <= total
}

/// Images and archives that are never an export, whatever their name.
fn is_known_binary(prefix: &[u8]) -> bool {
    const MAGICS: [&[u8]; 8] = [
        b"\xFF\xD8\xFF",
        b"\x89PNG",
        b"GIF8",
        b"BM",
        b"PK\x03\x04",
        b"7z\xBC\xAF",
        b"Rar!",
        b"\x1F\x8B",
    ];
    MAGICS.iter().any(|m| prefix.starts_with(m))
}

fn sniff_text(base: &str, text: &str, cut: bool) -> Option<ExportKind> {
    let trimmed = text.trim_start();
    if is_qq_mht(trimmed) {
        return Some(ExportKind::QqMht);
    }
    if trimmed.starts_with('{') {
        return sniff_json(base, trimmed, cut);
    }
    let lines: Vec<&str> = text
        .split('\n')
        .take(HEAD_LINES)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if is_qq_txt(&lines) {
        return Some(ExportKind::QqTxt);
    }
    if is_qce_txt(&lines) {
        return Some(ExportKind::QceTxt);
    }
    None
}

fn is_qq_mht(text: &str) -> bool {
    let head = head_chars(text, 4096);
    let mut lines = head.lines().map(str::trim_end);
    if lines.any(|l| l == "From: <Save by Tencent MsgMgr>" || l == "Subject: Tencent IM Message") {
        return true;
    }
    head.contains("multipart/related") && has_qq_boundary(head)
}

/// The first `n` bytes of `text`, cut on a character boundary.
fn head_chars(text: &str, n: usize) -> &str {
    if text.len() <= n {
        return text;
    }
    let mut cut = n;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// `----=_NextPart_` + hex{8} `_` hex{4} `_` hex{4} `_` hex{4} `.` hex{12}.
fn has_qq_boundary(text: &str) -> bool {
    text.match_indices("----=_NextPart_").any(|(i, m)| {
        let rest = &text.as_bytes()[i + m.len()..];
        let shape: &[(usize, u8)] = &[(8, b'_'), (4, b'_'), (4, b'_'), (4, b'.'), (12, 0)];
        let mut pos = 0;
        for &(len, sep) in shape {
            let Some(part) = rest.get(pos..pos + len) else {
                return false;
            };
            if !part.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            pos += len;
            if sep != 0 {
                if rest.get(pos) != Some(&sep) {
                    return false;
                }
                pos += 1;
            }
        }
        true
    })
}

/// Whether `text` has `"key"` followed by `:` (a JSON key, not a value).
fn has_json_key(text: &str, key: &str) -> bool {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted)
        .any(|(i, _)| text[i + quoted.len()..].trim_start().starts_with(':'))
}

fn has_json_object_key(text: &str, key: &str) -> bool {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted).any(|(i, _)| {
        text[i + quoted.len()..]
            .trim_start()
            .strip_prefix(':')
            .is_some_and(|r| r.trim_start().starts_with('{'))
    })
}

fn sniff_json(base: &str, text: &str, cut: bool) -> Option<ExportKind> {
    // A JSONL chunk: the first line is a whole message object.
    let first_line = text.split('\n').next().unwrap_or("").trim_end();
    let first_complete = text.contains('\n') || !cut;
    if first_complete {
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(first_line) {
            if o.contains_key("timestamp") && o.contains_key("sender") {
                return Some(ExportKind::QceJsonlChunk);
            }
        }
    } else if base.ends_with(".jsonl") && has_json_key(text, "timestamp") && has_json_key(text, "sender") {
        return Some(ExportKind::QceJsonlChunk);
    }

    let chat_info = has_json_object_key(text, "chatInfo");
    let metadata = has_json_object_key(text, "metadata");
    let messages = has_json_key(text, "messages");
    if !chat_info {
        return None;
    }
    if has_json_object_key(text, "chunked") {
        return Some(ExportKind::QceJsonlManifest);
    }
    if messages {
        return Some(ExportKind::QceJson);
    }
    if metadata {
        if cut && base == "manifest.json" {
            return Some(ExportKind::QceJsonlManifest);
        }
        return Some(ExportKind::QceJson);
    }
    None
}

fn is_title(line: &str) -> bool {
    line.starts_with("消息记录（此消息记录为文本格式")
}

fn is_separator(line: &str) -> bool {
    line.len() >= 10 && line.bytes().all(|c| c == b'=')
}

fn is_block_line(line: &str) -> bool {
    ["消息分组", "消息对象"].iter().any(|label| {
        line.strip_prefix(label)
            .is_some_and(|r| r.starts_with(':') || r.starts_with('：'))
    })
}

fn is_qq_txt(lines: &[&str]) -> bool {
    let non_empty: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i, *l))
        .collect();
    let Some(&(first_idx, first)) = non_empty.first() else {
        return false;
    };
    if is_title(first) {
        return true;
    }
    if is_separator(first) {
        return non_empty.get(1).is_some_and(|(_, l)| is_block_line(l));
    }
    if is_block_line(first) {
        return non_empty.get(1).is_some_and(|(_, l)| is_separator(l));
    }
    // Title and block cut off: header, body, empty line, header.
    if parse_header(first).is_none() {
        return false;
    }
    let mut had_body = false;
    for i in first_idx + 1..lines.len() {
        let line = lines[i];
        if i > 0 && lines[i - 1].is_empty() && parse_header(line).is_some() {
            return had_body;
        }
        if !line.is_empty() {
            had_body = true;
        }
    }
    false
}

fn is_qce_txt(lines: &[&str]) -> bool {
    let first = lines.iter().find(|l| !l.trim().is_empty());
    if first.is_some_and(|l| l.starts_with("[QQChatExporter")) {
        return true;
    }
    let has = |label: &str| {
        lines.iter().any(|l| {
            l.strip_prefix(label)
                .is_some_and(|r| r.starts_with(':') || r.starts_with('：'))
        })
    };
    if has("聊天名称") && (has("聊天类型") || has("导出时间")) {
        return true;
    }
    // Header removed: the first message.
    let Some(start) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return false;
    };
    let sender = lines[start];
    let time = lines.get(start + 1).copied().unwrap_or("");
    let after = lines.get(start + 2).copied().unwrap_or("");
    sender.ends_with(':')
        && time.strip_prefix("时间: ").and_then(parse_local_time).is_some()
        && (after.starts_with("内容:") || after.starts_with("类型:"))
}
