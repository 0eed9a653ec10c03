//! `qqvault show ARCHIVE CHAT [--since DATE] [--until DATE] [--json]`

use super::printer::{self, CliResult};
use qqvault::archive::read::ArchiveReader;
use qqvault::chats::{self, MessageLine};
use qqvault::conversations::{self, TimeBound};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Show one conversation as a transcript, or as JSON Lines.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// The conversation: its id (from `list`) or its exact name.
    chat: String,
    /// Only messages from this time on: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.
    #[arg(long)]
    since: Option<String>,
    /// Only messages up to this time: YYYY-MM-DD (the whole day) or YYYY-MM-DDTHH:MM:SS.
    #[arg(long)]
    until: Option<String>,
    /// JSON Lines in time order.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let since = a
        .since
        .as_deref()
        .map(|s| TimeBound::parse(s, false))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| TimeBound::parse(s, true))
        .transpose()?;
    let mut reader = ArchiveReader::open(&a.archive)?;
    let conv = conversations::resolve(&reader.manifest.conversations, &a.chat)?.clone();
    // Streamed: a conversation of millions of messages is never held whole.
    let entry = reader
        .zip
        .by_name(&conv.entry)
        .map_err(|e| qqvault::Error::zip(&a.archive, format!("{}: {e}", conv.entry)))?;
    let data = std::io::BufReader::with_capacity(64 << 10, entry);
    let mut out = printer::stdout();
    if !a.json {
        write!(out, "{}", chats::transcript_heading(&conv, "\n"))?;
        writeln!(out)?;
    }
    for line in data.lines() {
        let line = line.map_err(|e| qqvault::Error::read(&a.archive, e))?;
        if line.is_empty() {
            continue;
        }
        let m: MessageLine = serde_json::from_str(&line)
            .map_err(|e| qqvault::Error::zip(&a.archive, format!("{}: {e}", conv.entry)))?;
        if since.is_some_and(|s| m.time < s.0) || until.is_some_and(|u| m.time > u.0) {
            continue;
        }
        if a.json {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        } else {
            write!(out, "{}", chats::transcript_message(&m, "\n"))?;
        }
    }
    out.flush()?;
    Ok(0)
}
