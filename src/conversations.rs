//! Finding conversations in an archive's manifest: by id or exact name, and time bounds for
//! `show` and `search`.

use crate::archive::manifest::ConversationRecord;
use crate::error::{Error, Result};
use qqvault_core::MessageTime;

/// Finds the conversation CHAT names: its id, or its exact name when only one has it.
pub fn resolve<'a>(convs: &'a [ConversationRecord], chat: &str) -> Result<&'a ConversationRecord> {
    if let Some(c) = convs.iter().find(|c| c.id == chat) {
        return Ok(c);
    }
    let by_name: Vec<&ConversationRecord> = convs.iter().filter(|c| c.name == chat).collect();
    match by_name.len() {
        1 => Ok(by_name[0]),
        0 => {
            let mut msg = format!("no conversation has the id or name {chat:?}.");
            let near: Vec<&ConversationRecord> =
                convs.iter().filter(|c| c.name.contains(chat)).take(20).collect();
            if near.is_empty() {
                msg.push_str(" Run `qqvault list ARCHIVE` to see them all.");
            } else {
                msg.push_str(" Names that contain it:");
                for c in near {
                    msg.push_str(&format!("\n  {}  {}", c.id, c.name));
                }
            }
            Err(Error::Usage(msg))
        }
        _ => {
            let mut msg = format!(
                "{} conversations are named {chat:?}; give one of their ids:",
                by_name.len()
            );
            for c in by_name {
                msg.push_str(&format!(
                    "\n  {}  {} [{}]",
                    c.id,
                    c.name,
                    c.group.as_deref().unwrap_or("-")
                ));
            }
            Err(Error::Usage(msg))
        }
    }
}

/// A time bound from the command line: `YYYY-MM-DD` (the day's start, or its end for an upper
/// bound) or `YYYY-MM-DDTHH:MM:SS`.
#[derive(Clone, Copy, Debug)]
pub struct TimeBound(pub MessageTime);

impl TimeBound {
    pub fn parse(s: &str, upper: bool) -> Result<Self> {
        if let Some(t) = MessageTime::parse_iso(s) {
            return Ok(TimeBound(t));
        }
        let bad = || {
            Error::Usage(format!(
                "{s:?} is not a date: give YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
            ))
        };
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
            return Err(bad());
        }
        let y: u16 = parts[0].parse().map_err(|_| bad())?;
        let m: u8 = parts[1].parse().map_err(|_| bad())?;
        let d: u8 = parts[2].parse().map_err(|_| bad())?;
        let t = if upper {
            MessageTime::new(y, m, d, 23, 59, 59)
        } else {
            MessageTime::new(y, m, d, 0, 0, 0)
        };
        t.map(TimeBound).ok_or_else(bad)
    }
}
