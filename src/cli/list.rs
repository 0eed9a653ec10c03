//! `qqvault list ARCHIVE [--json]`

use super::printer::{self, CliResult};
use qqvault::archive::read::ArchiveReader;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// List the conversations in an archive.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// JSON Lines: one object per conversation.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    id: &'a str,
    name: &'a str,
    group: Option<&'a str>,
    kind: qqvault_core::ChatKind,
    messages: u64,
    first: Option<qqvault_core::MessageTime>,
    last: Option<qqvault_core::MessageTime>,
}

pub fn run(a: Args) -> CliResult {
    let reader = ArchiveReader::open(&a.archive)?;
    let mut out = printer::stdout();
    let convs = &reader.manifest.conversations;
    if a.json {
        for c in convs {
            printer::json_line(
                &mut out,
                &Line {
                    id: &c.id,
                    name: &c.name,
                    group: c.group.as_deref(),
                    kind: c.kind,
                    messages: c.messages,
                    first: c.first,
                    last: c.last,
                },
            )?;
        }
    } else {
        if convs.is_empty() {
            writeln!(
                out,
                "no conversations in {} (no chat export was found among its files)",
                a.archive.display()
            )?;
        }
        for c in convs {
            let kind = serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let range = match (c.first, c.last) {
                (Some(f), Some(l)) => format!("{} — {}", f.date_string(), l.date_string()),
                _ => String::new(),
            };
            let group = c.group.as_deref().map(|g| format!(" [{g}]")).unwrap_or_default();
            writeln!(
                out,
                "{}  {:<10} {:>8} msgs  {range}  {}{group}",
                c.id, kind, c.messages, c.name
            )?;
        }
    }
    out.flush()?;
    Ok(0)
}
