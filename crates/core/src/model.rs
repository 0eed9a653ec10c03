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

    /// The time as `YYYY-MM-DD` `sep` `HH:MM:SS`, written digit by digit: formatting millions of
    /// message times through `write!` was a measurable share of writing the conversations. None
    /// for a field wider than its digits (a year after 9999), which [`fmt::Display`] writes
    /// in full.
    pub fn iso_bytes(&self, sep: u8) -> Option<[u8; 19]> {
        let two = |v: u8| -> Option<[u8; 2]> { (v < 100).then(|| [b'0' + v / 10, b'0' + v % 10]) };
        if self.year > 9999 {
            return None;
        }
        let y = self.year;
        let mut b = [0u8; 19];
        b[..4].copy_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
        ]);
        b[4] = b'-';
        b[5..7].copy_from_slice(&two(self.month)?);
        b[7] = b'-';
        b[8..10].copy_from_slice(&two(self.day)?);
        b[10] = sep;
        b[11..13].copy_from_slice(&two(self.hour)?);
        b[13] = b':';
        b[14..16].copy_from_slice(&two(self.minute)?);
        b[16] = b':';
        b[17..19].copy_from_slice(&two(self.second)?);
        Some(b)
    }

    /// Appends the time as `YYYY-MM-DD` `sep` `HH:MM:SS` to `out` (see [`MessageTime::iso_bytes`]).
    pub fn push_iso(&self, out: &mut String, sep: char) {
        let fast = u8::try_from(sep)
            .ok()
            .filter(u8::is_ascii)
            .and_then(|s| self.iso_bytes(s));
        match fast.as_ref().and_then(|b| std::str::from_utf8(b).ok()) {
            Some(text) => out.push_str(text),
            None => {
                use std::fmt::Write;
                let _ = write!(
                    out,
                    "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
                    self.year, self.month, self.day, self.hour, self.minute, self.second
                );
            }
        }
    }
}

impl fmt::Display for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(19);
        self.push_iso(&mut s, 'T');
        f.write_str(&s)
    }
}

impl fmt::Debug for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for MessageTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(19);
        self.push_iso(&mut text, 'T');
        s.serialize_str(&text)
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

#[cfg(test)]
mod tests {
    use super::MessageTime;

    /// Written digit by digit, the time reads as `write!` with the widths would write it, the
    /// unknown time and years beyond four digits included.
    #[test]
    fn times_are_written_as_with_format_widths() {
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let mut times = vec![
            MessageTime {
                year: 0,
                month: 0,
                day: 0,
                hour: 0,
                minute: 0,
                second: 0,
            },
            MessageTime {
                year: 65535,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 60,
            },
            MessageTime {
                year: 9999,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            },
            MessageTime {
                year: 10000,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            },
            MessageTime {
                year: 2024,
                month: 255,
                day: 100,
                hour: 99,
                minute: 100,
                second: 7,
            },
        ];
        for _ in 0..2000 {
            times.push(MessageTime {
                year: next(12000) as u16,
                month: next(14) as u8,
                day: next(33) as u8,
                hour: next(25) as u8,
                minute: next(61) as u8,
                second: next(62) as u8,
            });
        }
        for t in times {
            let want = |sep: char| {
                format!(
                    "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
                    t.year, t.month, t.day, t.hour, t.minute, t.second
                )
            };
            assert_eq!(t.to_string(), want('T'));
            let mut s = String::from("x");
            t.push_iso(&mut s, ' ');
            assert_eq!(s, format!("x{}", want(' ')));
            let mut wide = String::new();
            t.push_iso(&mut wide, '日');
            assert_eq!(wide, want('日'));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", want('T')));
        }
    }
}
