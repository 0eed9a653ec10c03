//! Streaming parser for the legacy PC QQ Message Manager TXT export ("导出全部消息记录" →
//! 文本文件), one line at a time, holding at most one message body.
//!
//! The input is UTF-8 (decode it first with [`crate::decode::DecodingReader`]); a leading BOM
//! that survived is ignored. The layout:
//!
//! ```text
//! 消息记录（此消息记录为文本格式，不支持重新导入）      title
//!                                                     blank
//! ================================================================
//! 消息分组:我的QQ群                                   conversation block, repeated per
//! ================================================================   conversation (and
//! 消息对象:某群                                        possibly per conversation more than once)
//! ================================================================
//!                                                     blank
//! 2016-07-19 15:27:15 昵称(10001)                      message header
//! body, with lone CR / LF for the sender's line breaks
//!                                                     blank line ends the record
//! ```
//!
//! How a file is read (format notes §1.6 and checklist §8):
//! * **Records end with CRLF only.** A lone CR or LF is a line break typed by the sender and
//!   becomes `\n` in the text; `\r\r\n` is a body ending with a lone CR, which becomes a final
//!   `\n`. When the first 64 KiB have no CRLF at all, or have CRLFs but never an empty CRLF
//!   line (a copy converted by git, where `\r\r\n` became the only CRLFs left), the file is read
//!   LF-only ([`TxtStats::lf_only`]); see [`choose_line_split`]. In such a copy a sender's LF
//!   cannot be told from a record end, so two things differ from the original: a body that
//!   ended with a lone LF loses that final `\n` (3 of the 3,089 messages of the real sample),
//!   and a body line shaped like a header right after an empty body line would start a new
//!   message. Message counts, times and senders of the real sample are unchanged.
//! * **Headers** (`<date> <time> <sender>`) are recognised only after an empty line, at the
//!   start of the file or after the block framing; anywhere else such a line is body text. The
//!   hour, month and day may be unpadded; `AM`/`PM` after the time and `上午`/`下午` before it
//!   are turned into 24-hour time. A header is a single physical line: a line holding a lone
//!   CR or LF is never one.
//! * A line that is *only* a timestamp (`2006-01-02 15:04:05`, nothing after it) is never a
//!   header, even after an empty line: a real header always names a sender (at least `(id)`),
//!   so a bare timestamp is a message's text. This keeps the known case of a message whose
//!   text is a timestamp intact, also in LF-only copies where the message's own line breaks
//!   look like record ends.
//! * **Sender**: the text after the time is the nickname plus the LAST `(id)` or `<id>` group
//!   ending the line (see [`split_sender`]); brackets earlier in the nickname stay in it; an
//!   empty nickname is allowed; no such group means no id.
//! * **Body**: every line between the header and the next header, less the empty line(s) just
//!   before the next header, the next block or the end of the file. So a body can be empty,
//!   span several CRLF lines (system file shares) and contain empty lines of its own.
//! * **Separators** are lines of at least 10 `=`. Inside a message, a separator that follows an
//!   empty line is taken as the start of a new conversation block only if the next line is a
//!   `消息分组`/`消息对象` line; otherwise both are body text (`=.=`, `====` typed by users).
//!   `消息分组` and `消息对象` take `:` or `：`.
//! * The title line is framing at the start and after an empty line (concatenated exports).
//! * Every line is part of a message, framing (title, separators, `消息分组`/`消息对象`, empty
//!   lines between records), or reported through [`ChatSink::not_understood`] (text before the
//!   first header, stray lines inside the block framing).
//! * A separator at the very end of the file, after an empty line, is taken as framing.
//!
//! Memory: one line (at most [`MAX_LINE_BYTES`]) and one body (at most [`MAX_BODY_BYTES`]);
//! longer ones are cut, counted in [`TxtStats::truncated`] and reported as findings.

use crate::body::LineBody;
use crate::decode::{read_prefix, LineReader, LineSplit, DETECT_PREFIX_LEN};
use crate::sink::{ChatSink, ParseFinding};
use qqvault_core::{ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message, MessageTime};
use std::borrow::Cow;
use std::io::{self, BufRead};

/// Longest line kept whole; the rest of a longer line is dropped (and reported).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Longest message text kept whole; the rest is dropped (and reported).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The title line QQ writes at the top of the export.
pub const TITLE: &str = "消息记录（此消息记录为文本格式，不支持重新导入）";

/// What a parse found, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxtStats {
    /// Messages handed to the sink.
    pub messages: u64,
    /// Conversations handed to the sink (one per block, repeated blocks counted again).
    pub conversations: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines handed to [`ChatSink::not_understood`].
    pub lines_not_understood: u64,
    /// The file was split on LF because it showed no CRLF record ends.
    pub lf_only: bool,
    /// Lines or bodies cut at [`MAX_LINE_BYTES`] / [`MAX_BODY_BYTES`].
    pub truncated: u64,
}

/// Parses a Message Manager TXT export (already decoded to UTF-8) and hands conversations and
/// messages to `sink` in file order. `file_stem` names the conversation when the file has no
/// `消息分组`/`消息对象` block at all. Only I/O errors are errors: any content is parsed as well
/// as it can be, never panicking.
pub fn parse<R: BufRead>(mut reader: R, file_stem: &str, sink: &mut dyn ChatSink) -> io::Result<TxtStats> {
    let prefix = read_prefix(&mut reader, DETECT_PREFIX_LEN)?;
    let split = choose_line_split(&prefix);
    let mut lines = LineReader::with_prefix(prefix, reader, split, MAX_LINE_BYTES);
    let mut parser = Parser::new(file_stem, sink);
    parser.stats.lf_only = split != LineSplit::CrLf;
    while let Some(line) = lines.next_line()? {
        parser.stats.lines += 1;
        if line.truncated {
            parser.stats.truncated += 1;
            parser.sink.finding(ParseFinding::Other {
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
        parser.line(line.no, &text);
    }
    parser.finish();
    Ok(parser.stats)
}

/// Decides how to split records, from the first bytes of the file: CRLF, unless the prefix has
/// no CRLF at all, or has CRLFs but no empty CRLF line (`\r\n\r\n`). Every real export has
/// such an empty line after the title and after each message, while a copy whose CRLFs were
/// turned into LF (git `core.autocrlf`) keeps a CRLF only where a body ended with a lone CR.
pub fn choose_line_split(prefix: &[u8]) -> LineSplit {
    let lf_only = LineSplit::Lf { strip_cr: false };
    if memchr::memmem::find(prefix, b"\r\n").is_none() {
        return lf_only;
    }
    if memchr::memmem::find(prefix, b"\r\n\r\n").is_none() {
        return lf_only;
    }
    LineSplit::CrLf
}

/// A parsed message header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub time: MessageTime,
    /// The nickname, exactly as written ("" when empty).
    pub nick: &'a str,
    /// The id from the last `(…)`/`<…>` group, if any.
    pub id: Option<&'a str>,
}

/// Parses `<date> <time> <sender>`:
/// `YYYY-M-D [上午|下午 ]H:MM:SS[ AM|PM] sender`, month, day and hour unpadded or padded.
/// The sender must not be blank. `AM`/`PM` is a designator only with an hour of 1 to 12 and
/// text after it (otherwise it is the start of the nickname). Returns `None` for anything
/// else, including lines holding a CR or LF.
pub fn parse_header(line: &str) -> Option<Header<'_>> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let b = line.as_bytes();
    if b.len() < 16 || !b[0].is_ascii_digit() || memchr::memchr2(b'\r', b'\n', b).is_some() {
        return None;
    }
    let mut pos = 0;
    let year = digits(b, &mut pos, 4, 4)?;
    expect(b, &mut pos, b'-')?;
    let month = digits(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b'-')?;
    let day = digits(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b' ')?;
    let rest = &line[pos..];
    let (cn_designator, rest) = if let Some(r) = rest.strip_prefix("上午") {
        (Some(false), r.strip_prefix(' ').unwrap_or(r))
    } else if let Some(r) = rest.strip_prefix("下午") {
        (Some(true), r.strip_prefix(' ').unwrap_or(r))
    } else {
        (None, rest)
    };
    pos = line.len() - rest.len();
    let hour = digits(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b':')?;
    let minute = digits(b, &mut pos, 2, 2)?;
    expect(b, &mut pos, b':')?;
    let second = digits(b, &mut pos, 2, 2)?;
    let mut rest = &line[pos..];
    let mut pm = cn_designator;
    if pm.is_none() && (1..=12).contains(&hour) {
        for (word, is_pm) in [(" AM ", false), (" PM ", true), (" am ", false), (" pm ", true)] {
            if let Some(r) = rest.strip_prefix(word) {
                if !r.trim().is_empty() {
                    pm = Some(is_pm);
                    // Keep the separating space for the common path below.
                    rest = &rest[word.len() - 1..];
                }
                break;
            }
        }
    }
    let sender = rest.strip_prefix(' ')?;
    if sender.trim().is_empty() {
        return None;
    }
    let hour = match pm {
        Some(true) if hour < 12 => hour + 12,
        Some(false) if hour == 12 => 0,
        _ => hour,
    };
    let time = MessageTime::new(
        year,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )?;
    let (nick, id) = split_sender(sender);
    Some(Header { time, nick, id })
}

/// Reads `min..=max` ASCII digits at `*pos`.
fn digits(b: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u16> {
    let start = *pos;
    let mut value: u16 = 0;
    while *pos < b.len() && *pos - start < max && b[*pos].is_ascii_digit() {
        value = value * 10 + u16::from(b[*pos] - b'0');
        *pos += 1;
    }
    if *pos - start < min {
        return None;
    }
    Some(value)
}

fn expect(b: &[u8], pos: &mut usize, c: u8) -> Option<()> {
    if b.get(*pos) == Some(&c) {
        *pos += 1;
        Some(())
    } else {
        None
    }
}

/// Splits a sender into nickname and id: the id is the content of a `(…)` or `<…>` group that
/// ends the text and holds no bracket of its own kind (so the LAST group wins, and brackets
/// earlier in the nickname stay there: `(A(123)` is nick `(A`, id `123`). An empty group is
/// not an id. Without a group, the whole text is the nickname.
pub fn split_sender(sender: &str) -> (&str, Option<&str>) {
    let pair = if sender.ends_with(')') {
        Some(('(', ')'))
    } else if sender.ends_with('>') {
        Some(('<', '>'))
    } else {
        None
    };
    if let Some((open, close)) = pair {
        if let Some(start) = sender.rfind(open) {
            let inner = &sender[start + 1..sender.len() - 1];
            if !inner.is_empty() && !inner.contains(close) {
                return (&sender[..start], Some(inner));
            }
        }
    }
    (sender, None)
}

/// The best-effort kind of a Message Manager conversation, from its `消息分组` and, for
/// user-defined groups, whether the first message's sender shows an id:
/// * `我的QQ群`, `我加入的群聊`, `我的群聊`, `已退出的群`, `已退出的群聊`, `我创建的群`,
///   `我管理的群` → [`ChatKind::Group`];
/// * a name containing `多人聊天` or `讨论组` (including `已退出的多人聊天`) →
///   [`ChatKind::Discussion`];
/// * `我的好友` → [`ChatKind::Friend`];
/// * `最近联系人` (a view over every kind of chat) → [`ChatKind::Unknown`];
/// * any other (user-defined friend groups such as `同学`, also `陌生人`, `黑名单`) →
///   [`ChatKind::Friend`], unless the first sender shows an id (friend exports show bare
///   names; such a group holding a QQ group's messages is then [`ChatKind::Unknown`]);
/// * no `消息分组` → [`ChatKind::Unknown`].
///
/// The MHT parser uses the same rule (it names the kind before any sender, so with `None`).
pub fn chat_kind_for(group: Option<&str>, first_sender_has_id: Option<bool>) -> ChatKind {
    const GROUP_LISTS: [&str; 8] = [
        "我的QQ群",
        "我加入的群聊",
        "我加入的群",
        "我的群聊",
        "已退出的群",
        "已退出的群聊",
        "我创建的群",
        "我管理的群",
    ];
    let Some(group) = group.map(str::trim).filter(|g| !g.is_empty()) else {
        return ChatKind::Unknown;
    };
    if GROUP_LISTS.contains(&group) {
        ChatKind::Group
    } else if group.contains("多人聊天") || group.contains("讨论组") {
        ChatKind::Discussion
    } else if group == "最近联系人" {
        ChatKind::Unknown
    } else if group == "我的好友" || first_sender_has_id != Some(true) {
        ChatKind::Friend
    } else {
        ChatKind::Unknown
    }
}

fn is_separator(line: &str) -> bool {
    line.len() >= 10 && line.bytes().all(|c| c == b'=')
}

fn is_title(line: &str) -> bool {
    line.starts_with("消息记录（此消息记录为文本格式")
}

/// The value of a `label:value` / `label：value` framing line.
fn framing_value<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(label)?;
    let value = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
    Some(value.trim())
}

/// What the previous line was, for the "header only after an empty line" rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prev {
    Start,
    Blank,
    Framing,
    Header,
    Body,
    Junk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before any block or message: title, empty lines.
    Preamble,
    /// Inside the separator / 消息分组 / 消息对象 framing of a block.
    BlockHeader,
    /// After a message header.
    Messages,
}

#[derive(Default)]
struct Block {
    group: Option<String>,
    object: Option<String>,
    emitted: bool,
}

/// The message being read.
struct Pending {
    time: MessageTime,
    sender: String,
    sender_id: Option<String>,
    system: bool,
    header_line: u64,
    body: LineBody,
}

struct Parser<'a> {
    sink: &'a mut dyn ChatSink,
    file_stem: String,
    stats: TxtStats,
    phase: Phase,
    prev: Prev,
    block: Option<Block>,
    current: Option<Pending>,
    /// A separator that followed an empty line inside a message: a new block if the next line
    /// is 消息分组/消息对象, else body text.
    held_separator: Option<String>,
}

impl<'a> Parser<'a> {
    fn new(file_stem: &str, sink: &'a mut dyn ChatSink) -> Self {
        Parser {
            sink,
            file_stem: file_stem.to_owned(),
            stats: TxtStats::default(),
            phase: Phase::Preamble,
            prev: Prev::Start,
            block: None,
            current: None,
            held_separator: None,
        }
    }

    fn line(&mut self, no: u64, text: &str) {
        // A BOM left at the start of a line (the file's own, or one in the middle of
        // concatenated exports) does not stop framing or headers from being recognised.
        let bare = text.strip_prefix('\u{feff}').unwrap_or(text);

        if let Some(separator) = self.held_separator.take() {
            if framing_value(bare, "消息分组").is_some() || framing_value(bare, "消息对象").is_some()
            {
                self.finish_message();
                self.start_block();
                self.phase = Phase::BlockHeader;
                self.block_line(no, text, bare);
                return;
            }
            // Not a block after all: the empty lines and the separator were text.
            if let Some(cur) = self.current.as_mut() {
                cur.body.push_line(&separator);
            }
            self.prev = Prev::Body;
        }

        match self.phase {
            Phase::Messages => self.message_line(text, bare),
            Phase::BlockHeader => self.block_line(no, text, bare),
            Phase::Preamble => self.preamble_line(no, text, bare),
        }
    }

    fn message_line(&mut self, text: &str, bare: &str) {
        if text.is_empty() {
            if let Some(cur) = self.current.as_mut() {
                cur.body.blank_run = cur.body.blank_run.saturating_add(1);
            }
            self.prev = Prev::Blank;
            return;
        }
        if self.prev == Prev::Blank {
            if is_separator(bare) {
                self.held_separator = Some(text.to_owned());
                self.prev = Prev::Framing;
                return;
            }
            if is_title(bare) {
                self.finish_message();
                self.phase = Phase::Preamble;
                self.prev = Prev::Framing;
                return;
            }
            if let Some(header) = parse_header(bare) {
                self.finish_message();
                self.start_message(&header);
                return;
            }
        }
        if let Some(cur) = self.current.as_mut() {
            cur.body.push_line(text);
        }
        self.prev = Prev::Body;
    }

    fn block_line(&mut self, no: u64, text: &str, bare: &str) {
        if text.is_empty() {
            self.prev = Prev::Blank;
        } else if is_separator(bare) || is_title(bare) {
            self.prev = Prev::Framing;
        } else if let Some(group) = framing_value(bare, "消息分组") {
            if self.block.as_ref().is_none_or(|b| b.object.is_some()) {
                self.start_block();
            }
            if let Some(block) = self.block.as_mut() {
                block.group = Some(group.to_owned());
            }
            self.prev = Prev::Framing;
        } else if let Some(object) = framing_value(bare, "消息对象") {
            if self.block.as_ref().is_none_or(|b| b.object.is_some()) {
                self.start_block();
            }
            if let Some(block) = self.block.as_mut() {
                block.object = Some(object.to_owned());
            }
            self.prev = Prev::Framing;
        } else if let Some(header) = parse_header(bare) {
            self.start_message(&header);
        } else {
            self.not_understood(no, text);
        }
    }

    fn preamble_line(&mut self, no: u64, text: &str, bare: &str) {
        if text.is_empty() {
            self.prev = Prev::Blank;
        } else if is_title(bare) {
            self.prev = Prev::Framing;
        } else if is_separator(bare)
            || framing_value(bare, "消息分组").is_some()
            || framing_value(bare, "消息对象").is_some()
        {
            self.start_block();
            self.phase = Phase::BlockHeader;
            self.block_line(no, text, bare);
        } else if let Some(header) = parse_header(bare) {
            // Text before the first header was reported; the header still counts.
            self.start_message(&header);
        } else {
            self.not_understood(no, text);
        }
    }

    fn not_understood(&mut self, no: u64, text: &str) {
        self.stats.lines_not_understood += 1;
        self.sink.not_understood(no, text);
        self.prev = Prev::Junk;
    }

    /// Starts a new block, first handing over the previous one if it never had a message.
    fn start_block(&mut self) {
        self.emit_block_if_pending(None);
        self.block = Some(Block::default());
    }

    fn emit_block_if_pending(&mut self, first_sender_has_id: Option<bool>) {
        let Some(block) = self.block.as_mut() else {
            return;
        };
        if block.emitted {
            return;
        }
        block.emitted = true;
        let name = block.object.clone().unwrap_or_else(|| self.file_stem.clone());
        let meta = ConversationMeta {
            key: ConversationKey {
                family: ExportFamily::MessageManager,
                scope: block.group.clone().unwrap_or_default(),
                peer: name.clone(),
            },
            name,
            group: block.group.clone(),
            kind: chat_kind_for(block.group.as_deref(), first_sender_has_id),
        };
        self.stats.conversations += 1;
        self.sink.conversation(meta);
    }

    fn start_message(&mut self, header: &Header<'_>) {
        if self.block.is_none() {
            self.block = Some(Block::default());
        }
        self.emit_block_if_pending(Some(header.id.is_some()));
        let system = header.nick == "系统消息"
            && header
                .id
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()));
        self.current = Some(Pending {
            time: header.time,
            sender: header.nick.to_owned(),
            sender_id: header.id.map(str::to_owned),
            system,
            header_line: self.stats.lines,
            body: LineBody::new(MAX_BODY_BYTES, true),
        });
        self.phase = Phase::Messages;
        self.prev = Prev::Header;
    }

    /// Hands over the message being read; the empty lines after its body are dropped.
    fn finish_message(&mut self) {
        let Some(pending) = self.current.take() else {
            return;
        };
        if pending.body.truncated {
            self.stats.truncated += 1;
            self.sink.finding(ParseFinding::Other {
                detail: format!(
                    "the message at line {} is longer than {} bytes; its text was cut",
                    pending.header_line, MAX_BODY_BYTES
                ),
            });
        }
        self.stats.messages += 1;
        self.sink.message(Message {
            time: pending.time,
            sender: pending.sender,
            sender_id: pending.sender_id,
            text: pending.body.text,
            system: pending.system,
            attachments: Vec::new(),
        });
    }

    fn finish(&mut self) {
        // A separator held at the very end is taken as framing.
        self.held_separator = None;
        self.finish_message();
        self.emit_block_if_pending(None);
    }
}
