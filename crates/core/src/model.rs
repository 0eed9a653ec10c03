//! Conversations, messages and attachments as every stage sees them.

use crate::Sha256Digest;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A local wall-clock time exactly as an export wrote it. Exports carry no zone, so none is
/// stored: ordering and display are those of the wall time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl MessageTime {
    /// Builds a time, checking the ranges of each field (and the day against the month).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        Some(MessageTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` (the form this crate writes), or `YYYY-MM-DD HH:MM:SS`.
    pub fn parse_iso(s: &str) -> Option<Self> {
        if s == "0000-00-00T00:00:00" {
            // The unknown time (a message whose export gave none), as Display writes it.
            return Some(MessageTime::default());
        }
        let b = s.as_bytes();
        if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = s.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        MessageTime::new(
            num(0..4)?,
            num(5..7)? as u8,
            num(8..10)? as u8,
            num(11..13)? as u8,
            num(14..16)? as u8,
            num(17..19)? as u8,
        )
    }

    /// `YYYY-MM-DD`.
    pub fn date_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Debug for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for MessageTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MessageTime::parse_iso(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a YYYY-MM-DDTHH:MM:SS time: {s}")))
    }
}

/// What kind of conversation, best effort from what the export says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Friend,
    Group,
    Discussion,
    /// Also what a kind written by a later version reads as.
    #[serde(other)]
    Unknown,
}

/// Which family of export a conversation came from; part of its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFamily {
    /// QQ Message Manager (TXT or MHT): identified by (消息分组, 消息对象).
    MessageManager,
    /// qq-chat-exporter (JSON, chunked JSONL, TXT): identified by chat type and peer.
    Qce,
}

/// The identity of a conversation: stable across exports, updates and rebuilds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationKey {
    pub family: ExportFamily,
    /// Message Manager: the 消息分组 (may be empty when the export has none).
    /// qq-chat-exporter: the chat type as written (群聊, 私聊, group, private ...), normalised
    /// to `group`, `private`, `temp` or `unknown`.
    pub scope: String,
    /// Message Manager: the 消息对象. qq-chat-exporter: the peer number, or the name when the
    /// export names no number.
    pub peer: String,
}

impl ConversationKey {
    /// A short, shell-friendly ASCII id derived from the identity alone: the first 12 hex
    /// characters of the SHA-256 of the canonical key text.
    pub fn id(&self) -> String {
        let family = match self.family {
            ExportFamily::MessageManager => "mm",
            ExportFamily::Qce => "qce",
        };
        let canonical = format!("{family}\u{1f}{}\u{1f}{}", self.scope, self.peer);
        let digest = Sha256Digest::of(canonical.as_bytes()).to_hex();
        format!("c{}", &digest[..11])
    }
}

/// What an export says about a conversation, before any message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationMeta {
    pub key: ConversationKey,
    /// The display name (消息对象, or the QCE chat name).
    pub name: String,
    /// The 消息分组, or None where the format has none.
    pub group: Option<String>,
    pub kind: ChatKind,
}

/// A file an export refers to from a message (an MHT image, a QCE resource).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attachment {
    /// The name in the export, such as `{GUID}.dat` or `A.JPG`.
    pub name: String,
    /// Hash of the bytes when the archive holds them.
    pub sha256: Option<Sha256Digest>,
    /// The archive entry that holds the bytes, when it holds them.
    pub entry: Option<String>,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub time: MessageTime,
    /// The sender's name exactly as exported, without the id part ("" when empty).
    pub sender: String,
    /// QQ number, e-mail, phone, or None when the export shows none.
    pub sender_id: Option<String>,
    /// The text with newlines as `\n`, placeholders such as `[图片]` kept literally.
    pub text: String,
    pub system: bool,
    pub attachments: Vec<Attachment>,
}
