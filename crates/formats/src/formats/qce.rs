//! Parsers for the outputs of qq-chat-exporter (QCE), the exporter of record for new (NT) QQ:
//! its TXT, its single-file JSON and its chunked JSONL (a `manifest.json` plus
//! `chunks/*.jsonl`). Format notes §5.1.
//!
//! * **TXT** ([`parse_txt`]): an optional banner and `聊天名称:`/`聊天类型:` header, then per
//!   message `sender:` / `时间: YYYY-MM-DD HH:MM:SS` / `内容: text` (further content lines
//!   without prefix) / optional `资源: N 个文件` with `  - type: file` lines / optional `提及:`
//!   and `回复:` lines, messages separated by two empty lines, and an optional footer. Users
//!   often delete the header and footer; both are optional here. A line is a sender line only
//!   when it ends with `:` and the next line is a `时间:` line, so content lines that end with a
//!   colon and empty lines inside contents are kept as content.
//! * **JSON** ([`parse_json`]): streamed with a serde visitor, so the `messages` array is never
//!   held whole; only `chatInfo` (small) and one message at a time are in memory.
//! * **Chunked JSONL** ([`parse_manifest`], [`parse_jsonl_chunk`]): the manifest names the
//!   conversation and the chunk files; each chunk line is one message in the JSON's message
//!   shape.
//!
//! Mapping to the model:
//! * key: family [`ExportFamily::Qce`], scope = the chat type normalised to `group`,
//!   `private`, `temp` or `unknown` ([`normalise_chat_type`]), peer = `peerUin`, else the chat
//!   name, else `peerUid`, else the file stem. The TXT names no number, so its peer is the chat
//!   name: a TXT and a JSON export of the same chat get different keys;
//! * kind: group → [`ChatKind::Group`], private → [`ChatKind::Friend`], else
//!   [`ChatKind::Unknown`];
//! * sender = `sender.name` (else `sender.nickname`), sender id = `sender.uin` (else
//!   `sender.uid`); in the TXT the sender line as written (a group title prefix such as
//!   `[管理员] ` included) and no id;
//! * time = `timestamp` (epoch ms; seconds are recognised too) converted to wall-clock time by
//!   a [`WallClock`], else the `time` string as written; TXT times are kept as written (they
//!   are already the exporter's wall-clock time);
//! * text = `content.text` (TXT: the `内容:` lines), placeholders such as `[图片]` and recalled
//!   messages kept as exported; the `提及:`/`回复:` lines of the TXT are not part of the text
//!   (the JSON's `content.text` has no such lines either);
//! * system = the `system` flag, or type `system` / `type_5`; in the TXT, content
//!   `[系统消息]`;
//! * attachments = the resources' file names (`content.resources[].filename`, TXT `  - type:
//!   name` lines).

use crate::body::LineBody;
use crate::decode::{LineReader, LineSplit};
use crate::sink::{ChatSink, ParseFinding};
use qqvault_core::{
    Attachment, ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message, MessageTime,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

/// Longest line (TXT line or JSONL message) read whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;
/// Longest TXT message content kept whole.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024 * 1024;

/// How epoch timestamps become wall-clock times: a fixed UTC offset or an IANA time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WallClock {
    /// Seconds east of UTC.
    Offset(i32),
    Zone(jiff::tz::TimeZone),
}

impl Default for WallClock {
    /// UTC+08:00, China's civil time (QQ is a mainland product).
    fn default() -> Self {
        WallClock::Offset(8 * 3600)
    }
}

/// A `--tz` value that is neither an offset nor a known time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidWallClock(pub String);

impl fmt::Display for InvalidWallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a UTC offset (+08:00) or IANA time zone (Asia/Shanghai): {:?}",
            self.0
        )
    }
}

impl std::error::Error for InvalidWallClock {}

impl WallClock {
    /// Parses `+08:00`, `+0800`, `+8`, `-05:30`, `UTC`, `Z`, `UTC+8`, or an IANA name such as
    /// `Asia/Shanghai` (from the bundled time-zone database).
    pub fn parse(s: &str) -> Result<Self, InvalidWallClock> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(WallClock::Offset(0));
        }
        let offset_text = ["UTC", "utc", "GMT", "gmt"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        if let Some(seconds) = parse_offset(offset_text) {
            return Ok(WallClock::Offset(seconds));
        }
        jiff::tz::TimeZone::get(t)
            .map(WallClock::Zone)
            .map_err(|_| InvalidWallClock(s.to_owned()))
    }

    /// The wall-clock time of an epoch timestamp in milliseconds (a value between 10^9 and
    /// 10^10 is taken as seconds, as QCE itself does for old data).
    pub fn to_message_time(&self, epoch: i64) -> Option<MessageTime> {
        let ms = if epoch > 1_000_000_000 && epoch < 10_000_000_000 {
            epoch.checked_mul(1000)?
        } else {
            epoch
        };
        if ms <= 0 {
            return None;
        }
        let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
        let dt = match self {
            WallClock::Offset(secs) => jiff::tz::Offset::from_seconds(*secs).ok()?.to_datetime(ts),
            WallClock::Zone(tz) => tz.to_datetime(ts),
        };
        MessageTime::new(
            u16::try_from(dt.year()).ok()?,
            u8::try_from(dt.month()).ok()?,
            u8::try_from(dt.day()).ok()?,
            u8::try_from(dt.hour()).ok()?,
            u8::try_from(dt.minute()).ok()?,
            u8::try_from(dt.second()).ok()?,
        )
    }
}

/// `+HH`, `+H`, `+HH:MM`, `+HHMM` (sign required, at most 18 hours).
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = if let Some(r) = s.strip_prefix('+') {
        (1, r)
    } else if let Some(r) = s.strip_prefix('-') {
        (-1, r)
    } else {
        return None;
    };
    if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit() || c == b':') {
        return None;
    }
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() <= 2 => (rest, "0"),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => return None,
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Parses a local `YYYY-M-D H:MM:SS` (also with `T` or `/`), as QCE writes in `time` and in
/// its TXT `时间:` lines. Fractions of a second are ignored.
pub fn parse_local_time(s: &str) -> Option<MessageTime> {
    let b = s.trim().as_bytes();
    let mut pos = 0;
    let num = |min: usize, max: usize, pos: &mut usize| -> Option<u16> {
        let start = *pos;
        let mut v: u16 = 0;
        while *pos < b.len() && *pos - start < max && b[*pos].is_ascii_digit() {
            v = v * 10 + u16::from(b[*pos] - b'0');
            *pos += 1;
        }
        (*pos - start >= min).then_some(v)
    };
    let sep = |pos: &mut usize, allowed: &[u8]| -> Option<()> {
        let c = *b.get(*pos)?;
        allowed.contains(&c).then(|| *pos += 1)
    };
    let year = num(4, 4, &mut pos)?;
    sep(&mut pos, b"-/")?;
    let month = num(1, 2, &mut pos)?;
    sep(&mut pos, b"-/")?;
    let day = num(1, 2, &mut pos)?;
    sep(&mut pos, b" T")?;
    let hour = num(1, 2, &mut pos)?;
    sep(&mut pos, b":")?;
    let minute = num(2, 2, &mut pos)?;
    sep(&mut pos, b":")?;
    let second = num(2, 2, &mut pos)?;
    if pos < b.len() {
        // Allow `.123` and a trailing `Z`/offset-free suffix of digits only.
        if b[pos] != b'.' || !b[pos + 1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    MessageTime::new(
        year,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
}

/// Normalises a QCE chat type (`group`/`群聊`/2, `private`/`私聊`/1, `temp`/`临时会话`/100)
/// to `group`, `private`, `temp` or `unknown`.
pub fn normalise_chat_type(raw: &str) -> &'static str {
    match raw.trim().to_ascii_lowercase().as_str() {
        "group" | "群聊" | "2" => "group",
        "private" | "私聊" | "friend" | "c2c" | "1" => "private",
        "temp" | "临时会话" | "100" => "temp",
        _ => "unknown",
    }
}

fn kind_for_scope(scope: &str) -> ChatKind {
    match scope {
        "group" => ChatKind::Group,
        "private" => ChatKind::Friend,
        _ => ChatKind::Unknown,
    }
}

/// What a QCE parse found, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QceStats {
    /// Messages handed to the sink.
    pub messages: u64,
    /// Conversations handed to the sink.
    pub conversations: u64,
    /// Lines read (TXT and JSONL).
    pub lines: u64,
    /// Lines handed to [`ChatSink::not_understood`], or JSON messages that were not objects.
    pub not_understood: u64,
    /// Messages with neither a usable `timestamp` nor `time`: kept, with the zero time, and
    /// reported as findings.
    pub messages_without_time: u64,
    /// Lines or contents cut at the size limits.
    pub truncated: u64,
}

/// A string from a JSON string or number (ids are written either way across versions).
fn value_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The conversation a QCE `chatInfo` object describes.
pub fn conversation_from_chat_info(info: Option<&Value>, fallback_name: &str) -> ConversationMeta {
    let field = |k: &str| info.and_then(|i| value_str(i.get(k)));
    let name = field("name").unwrap_or_else(|| fallback_name.to_owned());
    let scope = normalise_chat_type(&field("type").unwrap_or_default());
    let peer = field("peerUin")
        .filter(|u| u != "0")
        .or_else(|| field("name"))
        .or_else(|| field("peerUid"))
        .unwrap_or_else(|| fallback_name.to_owned());
    ConversationMeta {
        key: ConversationKey {
            family: ExportFamily::Qce,
            scope: scope.to_owned(),
            peer,
        },
        name,
        group: None,
        kind: kind_for_scope(scope),
    }
}

/// The message fields the parsers read; everything else (`rawMessage`, `elements`, …) is
/// skipped without being kept.
const MESSAGE_FIELDS: [&str; 6] = ["timestamp", "time", "sender", "type", "content", "system"];

/// Picks some fields of a JSON object as [`Value`]s, skipping the others; anything that is not
/// an object gives `None` (and is skipped).
struct Pick<'f>(&'f [&'f str]);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Option<Vec<Option<Value>>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Option<Vec<Option<Value>>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<Option<Value>> = vec![None; self.0.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.0.iter().position(|f| *f == key) {
                Some(i) => out[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Turns the picked fields of one QCE message into a [`Message`]. The bool says whether a time
/// was found.
fn message_from_fields(fields: &[Option<Value>], tz: &WallClock) -> (Message, bool) {
    let get = |name: &str| {
        MESSAGE_FIELDS
            .iter()
            .position(|f| *f == name)
            .and_then(|i| fields.get(i))
            .and_then(Option::as_ref)
    };
    let epoch = match get("timestamp") {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let time = epoch
        .and_then(|e| tz.to_message_time(e))
        .or_else(|| match get("time") {
            Some(Value::String(s)) => parse_local_time(s),
            _ => None,
        });

    let sender = get("sender");
    let (sender_name, sender_id) = match sender {
        Some(Value::Object(o)) => (
            value_str(o.get("name"))
                .or_else(|| value_str(o.get("nickname")))
                .unwrap_or_default(),
            value_str(o.get("uin"))
                .filter(|u| u != "0")
                .or_else(|| value_str(o.get("uid"))),
        ),
        Some(Value::String(s)) => (s.clone(), None),
        _ => (String::new(), None),
    };

    let content = get("content");
    let text = match content {
        Some(Value::Object(o)) => match o.get("text") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        },
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let mut attachments = Vec::new();
    if let Some(Value::Array(resources)) = content.and_then(|c| c.get("resources")) {
        for r in resources {
            let name = value_str(r.get("filename")).or_else(|| {
                value_str(r.get("localPath")).and_then(|p| {
                    p.rsplit(['/', '\\'])
                        .next()
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                })
            });
            if let Some(name) = name {
                attachments.push(Attachment {
                    name,
                    sha256: None,
                    entry: None,
                });
            }
        }
    }

    let kind = match get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let system = matches!(get("system"), Some(Value::Bool(true))) || kind == "system" || kind == "type_5";

    (
        Message {
            time: time.unwrap_or_default(),
            sender: sender_name,
            sender_id,
            text,
            system,
            attachments,
        },
        time.is_some(),
    )
}

/// Shared by the JSON and JSONL parsers: hands one picked message to the sink.
struct Emitter<'s, 't> {
    sink: &'s mut dyn ChatSink,
    tz: &'t WallClock,
    stats: QceStats,
}

impl Emitter<'_, '_> {
    fn message(&mut self, picked: Option<Vec<Option<Value>>>, where_: impl fmt::Display) {
        let Some(fields) = picked else {
            self.stats.not_understood += 1;
            self.sink.finding(ParseFinding::Other {
                detail: format!("{where_}: a message that is not a JSON object was skipped"),
            });
            return;
        };
        let (message, has_time) = message_from_fields(&fields, self.tz);
        if !has_time {
            self.stats.messages_without_time += 1;
            self.sink.finding(ParseFinding::Other {
                detail: format!("{where_}: a message without a usable time was kept with time zero"),
            });
        }
        self.stats.messages += 1;
        self.sink.message(message);
    }

    fn conversation(&mut self, meta: ConversationMeta) {
        self.stats.conversations += 1;
        self.sink.conversation(meta);
    }
}

/// Parses a QCE single-file JSON export, streaming the `messages` array.
///
/// The conversation is handed over when `messages` starts (QCE writes `chatInfo` before it);
/// should a file put `chatInfo` after `messages`, the conversation is named from `file_stem`.
/// A syntax error is an [`io::ErrorKind::InvalidData`] error, after the messages before it
/// were handed over.
pub fn parse_json<R: BufRead>(
    reader: R,
    file_stem: &str,
    tz: &WallClock,
    sink: &mut dyn ChatSink,
) -> io::Result<QceStats> {
    let mut state = JsonState {
        emitter: Emitter {
            sink,
            tz,
            stats: QceStats::default(),
        },
        file_stem,
        chat_info: None,
        emitted: false,
        index: 0,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    de::Deserializer::deserialize_map(&mut de, TopVisitor(&mut state)).map_err(io::Error::from)?;
    if de.end().is_err() {
        state.emitter.sink.finding(ParseFinding::Other {
            detail: "text after the end of the JSON document was ignored".to_owned(),
        });
    }
    state.ensure_conversation();
    Ok(state.emitter.stats)
}

struct JsonState<'s, 't, 'f> {
    emitter: Emitter<'s, 't>,
    file_stem: &'f str,
    chat_info: Option<Value>,
    emitted: bool,
    index: u64,
}

impl JsonState<'_, '_, '_> {
    fn ensure_conversation(&mut self) {
        if !self.emitted {
            self.emitted = true;
            let meta = conversation_from_chat_info(self.chat_info.as_ref(), self.file_stem);
            self.emitter.conversation(meta);
        }
    }
}

struct TopVisitor<'a, 's, 't, 'f>(&'a mut JsonState<'s, 't, 'f>);

impl<'de> Visitor<'de> for TopVisitor<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a qq-chat-exporter JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "chatInfo" => self.0.chat_info = Some(map.next_value::<Value>()?),
                "messages" => {
                    self.0.ensure_conversation();
                    map.next_value_seed(MessagesSeed(self.0))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct MessagesSeed<'a, 's, 't, 'f>(&'a mut JsonState<'s, 't, 'f>);

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(picked) = seq.next_element_seed(Pick(&MESSAGE_FIELDS))? {
            self.0.index += 1;
            let index = self.0.index;
            self.0
                .emitter
                .message(picked, format_args!("messages[{}]", index - 1));
        }
        Ok(())
    }

    // Anything but an array: nothing to read.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// What a chunked-JSONL `manifest.json` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QceManifest {
    /// The conversation, from the manifest's `chatInfo`.
    pub meta: ConversationMeta,
    /// The chunk files, relative to the manifest's folder, `/`-separated, in index order.
    pub chunk_paths: Vec<String>,
    /// Chunk paths that were refused because they are absolute or climb out with `..`.
    pub rejected_paths: Vec<String>,
}

/// Reads a chunked-JSONL manifest (small: it lists chunks, not messages). Errors with
/// [`io::ErrorKind::InvalidData`] when it is not JSON or has no `chunked` object.
pub fn parse_manifest(bytes: &[u8]) -> io::Result<QceManifest> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let root: Value = serde_json::from_slice(bytes).map_err(io::Error::from)?;
    let Some(chunked) = root.get("chunked").filter(|c| c.is_object()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a qq-chat-exporter chunked-JSONL manifest: no \"chunked\" object",
        ));
    };
    let meta = conversation_from_chat_info(root.get("chatInfo"), "");
    let chunks_dir = value_str(chunked.get("chunksDir")).unwrap_or_else(|| "chunks".to_owned());
    let mut listed: Vec<(i64, usize, String)> = Vec::new();
    if let Some(Value::Array(chunks)) = chunked.get("chunks") {
        for (pos, chunk) in chunks.iter().enumerate() {
            let path = value_str(chunk.get("relativePath"))
                .or_else(|| value_str(chunk.get("fileName")).map(|f| format!("{chunks_dir}/{f}")));
            let index = chunk.get("index").and_then(Value::as_i64).unwrap_or(i64::MAX);
            if let Some(path) = path {
                listed.push((index, pos, path));
            }
        }
    }
    listed.sort();
    let mut chunk_paths = Vec::new();
    let mut rejected_paths = Vec::new();
    for (_, _, path) in listed {
        let normal = path.replace('\\', "/");
        let unsafe_path = normal.starts_with('/')
            || normal.as_bytes().get(1) == Some(&b':')
            || normal.split('/').any(|part| part == "..");
        if unsafe_path {
            rejected_paths.push(path);
        } else {
            chunk_paths.push(normal);
        }
    }
    Ok(QceManifest {
        meta,
        chunk_paths,
        rejected_paths,
    })
}

/// Parses one JSONL chunk: one message object per line. `meta` (from [`parse_manifest`]) is
/// handed to the sink first, so each chunk stands alone (a sink sees the same conversation
/// start again with every chunk). A line that is not a JSON object is reported through
/// [`ChatSink::not_understood`] and skipped.
pub fn parse_jsonl_chunk<R: BufRead>(
    reader: R,
    meta: &ConversationMeta,
    tz: &WallClock,
    sink: &mut dyn ChatSink,
) -> io::Result<QceStats> {
    let mut emitter = Emitter {
        sink,
        tz,
        stats: QceStats::default(),
    };
    emitter.conversation(meta.clone());
    let mut lines = LineReader::new(reader, LineSplit::Lf { strip_cr: true }, MAX_LINE_BYTES);
    while let Some(line) = lines.next_line()? {
        emitter.stats.lines += 1;
        let bytes = line.bytes;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bytes = if line.no == 1 {
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
        } else {
            bytes
        };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let picked = Pick(&MESSAGE_FIELDS)
            .deserialize(&mut de)
            .ok()
            .and_then(|p| de.end().ok().map(|_| p));
        match picked {
            Some(Some(fields)) => emitter.message(Some(fields), format_args!("line {}", line.no)),
            _ => {
                if line.truncated {
                    emitter.stats.truncated += 1;
                }
                emitter.stats.not_understood += 1;
                let text = String::from_utf8_lossy(bytes);
                emitter.sink.not_understood(line.no, &text);
            }
        }
    }
    Ok(emitter.stats)
}

/// Parses a QCE TXT export (already decoded to UTF-8). `file_stem` names the conversation when
/// the `聊天名称:` header was removed. `tz` is accepted so that every QCE entry point takes the
/// same options, but TXT times are the exporter's wall-clock time already and are kept as
/// written.
pub fn parse_txt<R: BufRead>(
    reader: R,
    file_stem: &str,
    tz: &WallClock,
    sink: &mut dyn ChatSink,
) -> io::Result<QceStats> {
    let _ = tz;
    let mut lines = LineReader::new(reader, LineSplit::Lf { strip_cr: true }, MAX_LINE_BYTES);
    let mut p = TxtParser {
        sink,
        file_stem,
        stats: QceStats::default(),
        phase: TxtPhase::Head,
        chat_name: None,
        chat_type: None,
        emitted: false,
        current: None,
        held_sender: None,
        held_footer: None,
    };
    while let Some(line) = lines.next_line()? {
        p.stats.lines += 1;
        if line.truncated {
            p.stats.truncated += 1;
            p.sink.finding(ParseFinding::Other {
                detail: format!(
                    "line {} is longer than {} bytes; only its start was read",
                    line.no, MAX_LINE_BYTES
                ),
            });
        }
        let text = match simdutf8::basic::from_utf8(line.bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(line.bytes),
        };
        let text = if line.no == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned().into()
        } else {
            text
        };
        p.line(line.no, &text);
    }
    p.finish();
    Ok(p.stats)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxtPhase {
    /// Banner and header, before the first message.
    Head,
    Messages,
    /// After the `导出完成` footer.
    Foot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// After `时间:`, before `内容:`.
    BeforeContent,
    /// In the content (its first line had `内容: `).
    Content,
    /// In the `资源:`/`提及:`/`回复:` lines after the content.
    Fields,
}

struct TxtPending {
    time: MessageTime,
    sender: String,
    content: LineBody,
    field: Field,
    attachments: Vec<Attachment>,
}

struct TxtParser<'s, 'f> {
    sink: &'s mut dyn ChatSink,
    file_stem: &'f str,
    stats: QceStats,
    phase: TxtPhase,
    chat_name: Option<String>,
    chat_type: Option<String>,
    emitted: bool,
    current: Option<TxtPending>,
    /// A line ending with `:` that starts a message if the next line is a `时间:` line.
    held_sender: Option<(u64, String)>,
    /// A separator after an empty line that is the footer if the next line is `导出完成`.
    held_footer: Option<(u64, String)>,
}

fn is_separator(line: &str) -> bool {
    line.len() >= 10 && line.bytes().all(|c| c == b'=')
}

fn labelled<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(label)?;
    let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `资源: N 个文件`.
fn is_resource_count(line: &str) -> bool {
    labelled(line, "资源").is_some_and(|r| {
        r.strip_suffix("个文件")
            .map(str::trim)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
    })
}

impl TxtParser<'_, '_> {
    fn line(&mut self, no: u64, text: &str) {
        if let Some((held_no, held)) = self.held_sender.take() {
            if let Some(time) = labelled(text, "时间").and_then(parse_local_time) {
                let sender = held.strip_suffix(':').unwrap_or(&held).to_owned();
                self.start_message(sender, time);
                return;
            }
            self.plain_line(held_no, &held);
        }
        if let Some((held_no, held)) = self.held_footer.take() {
            if text.trim() == "导出完成" {
                self.finish_message();
                self.phase = TxtPhase::Foot;
                return;
            }
            self.plain_line(held_no, &held);
        }
        if text.ends_with(':') && self.phase != TxtPhase::Foot {
            self.held_sender = Some((no, text.to_owned()));
            return;
        }
        if self.phase == TxtPhase::Messages
            && is_separator(text)
            && self.current.as_ref().is_some_and(|c| c.content.blank_run > 0)
        {
            self.held_footer = Some((no, text.to_owned()));
            return;
        }
        self.plain_line(no, text);
    }

    /// A line that is neither a confirmed sender line nor a footer start.
    fn plain_line(&mut self, no: u64, text: &str) {
        match self.phase {
            TxtPhase::Head => self.head_line(no, text),
            TxtPhase::Foot => self.foot_line(no, text),
            TxtPhase::Messages => self.message_line(text),
        }
    }

    fn head_line(&mut self, no: u64, text: &str) {
        let t = text.trim();
        if t.is_empty() || is_separator(t) || t == "QQ聊天记录导出文件" {
            return;
        }
        if t.starts_with('[') && t.ends_with(']') {
            // The banner: `[QQChatExporter V5 / …]` and the notice under it.
            return;
        }
        if let Some(name) = labelled(t, "聊天名称") {
            self.chat_name = Some(name.trim().to_owned());
            return;
        }
        if let Some(kind) = labelled(t, "聊天类型") {
            self.chat_type = Some(kind.trim().to_owned());
            return;
        }
        if ["参与人数", "导出时间", "消息总数", "时间范围"]
            .iter()
            .any(|l| labelled(t, l).is_some())
        {
            return;
        }
        self.not_understood(no, text);
    }

    fn foot_line(&mut self, no: u64, text: &str) {
        let t = text.trim();
        let known = t.is_empty()
            || is_separator(t)
            || t == "导出完成"
            || (t.starts_with("总计导出") && t.ends_with("条消息"))
            || labelled(t, "导出时间").is_some();
        if !known {
            self.not_understood(no, text);
        }
    }

    fn message_line(&mut self, text: &str) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if text.is_empty() {
            cur.content.blank_run = cur.content.blank_run.saturating_add(1);
            return;
        }
        let direct = cur.content.blank_run == 0;
        match cur.field {
            Field::BeforeContent => {
                if labelled(text, "类型").is_some() {
                    return;
                }
                cur.field = Field::Content;
                match text.strip_prefix("内容:") {
                    Some(first) => cur.content.push_line(first.strip_prefix(' ').unwrap_or(first)),
                    None => cur.content.push_line(text),
                }
            }
            Field::Content | Field::Fields if direct && is_resource_count(text) => {
                cur.field = Field::Fields;
            }
            Field::Content | Field::Fields
                if direct && (labelled(text, "提及").is_some() || labelled(text, "回复").is_some()) =>
            {
                cur.field = Field::Fields;
            }
            Field::Fields => {
                // `  - type: name` under `资源:`; other lines continue a 提及/回复 field (a
                // quoted reply can span lines) and are not part of the text.
                if let Some(item) = text.strip_prefix("  - ") {
                    let name = item.split_once(": ").map_or(item, |(_, n)| n).trim();
                    if !name.is_empty() {
                        cur.attachments.push(Attachment {
                            name: name.to_owned(),
                            sha256: None,
                            entry: None,
                        });
                    }
                }
                cur.content.blank_run = 0;
            }
            Field::Content => cur.content.push_line(text),
        }
    }

    fn not_understood(&mut self, no: u64, text: &str) {
        self.stats.not_understood += 1;
        self.sink.not_understood(no, text);
    }

    fn ensure_conversation(&mut self) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let name = self
            .chat_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.file_stem.to_owned());
        let scope = normalise_chat_type(self.chat_type.as_deref().unwrap_or(""));
        let meta = ConversationMeta {
            key: ConversationKey {
                family: ExportFamily::Qce,
                scope: scope.to_owned(),
                peer: name.clone(),
            },
            name,
            group: None,
            kind: kind_for_scope(scope),
        };
        self.stats.conversations += 1;
        self.sink.conversation(meta);
    }

    fn start_message(&mut self, sender: String, time: MessageTime) {
        self.finish_message();
        self.ensure_conversation();
        self.phase = TxtPhase::Messages;
        self.current = Some(TxtPending {
            time,
            sender,
            content: LineBody::new(MAX_CONTENT_BYTES, false),
            field: Field::BeforeContent,
            attachments: Vec::new(),
        });
    }

    fn finish_message(&mut self) {
        let Some(p) = self.current.take() else {
            return;
        };
        if p.content.truncated {
            self.stats.truncated += 1;
            self.sink.finding(ParseFinding::Other {
                detail: format!("a message content is longer than {MAX_CONTENT_BYTES} bytes; it was cut"),
            });
        }
        self.stats.messages += 1;
        let system = p.content.text == "[系统消息]";
        self.sink.message(Message {
            time: p.time,
            sender: p.sender,
            sender_id: None,
            text: p.content.text,
            system,
            attachments: p.attachments,
        });
    }

    fn finish(&mut self) {
        if let Some((no, held)) = self.held_sender.take() {
            self.plain_line(no, &held);
        }
        if let Some((no, held)) = self.held_footer.take() {
            self.plain_line(no, &held);
        }
        self.finish_message();
        if self.chat_name.is_some() || self.chat_type.is_some() {
            self.ensure_conversation();
        }
    }
}
