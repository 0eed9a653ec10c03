//! `qqvault reindex ARCHIVE`

use super::printer::{self, CliResult};
use std::io::Write;
use std::path::PathBuf;

/// Rebuild the search index from the conversations in the archive (a new archive replaces the
/// old one only after it has passed its check).
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let bar = printer::Bar::new(a.json);
    let s = qqvault::reindex::reindex(&a.archive, &bar)?;
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &s)?;
    } else {
        writeln!(
            out,
            "reindexed {}: {} conversations, {} messages; verified and sealed",
            s.archive, s.conversations, s.messages
        )?;
    }
    out.flush()?;
    Ok(0)
}
