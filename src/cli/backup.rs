//! `qqvault backup INPUT... -o ARCHIVE.zip`

use super::printer::{self, human_bytes, CliResult};
use qqvault::backup::{self, BackupOptions};
use std::io::Write;
use std::path::PathBuf;

/// Back up folders and files into one verified zip archive.
#[derive(clap::Args)]
pub struct Args {
    /// Folders or files to archive (exported chats, the QQ data folder, photo folders...).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The archive to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing archive.
    #[arg(long)]
    force: bool,
    /// Follow symbolic links (loops are detected and skipped).
    #[arg(long)]
    follow_symlinks: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let bar = printer::Bar::new(a.json);
    let opts = BackupOptions {
        inputs: a.inputs,
        output: a.output,
        force: a.force,
        follow_symlinks: a.follow_symlinks,
    };
    let summary = backup::backup(&opts, &bar)?;
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &summary)?;
    } else {
        writeln!(
            out,
            "archive: {} ({}), verified and sealed",
            summary.archive,
            human_bytes(summary.archive_bytes)
        )?;
        writeln!(
            out,
            "files: {} archived, {} distinct contents ({} duplicates stored once)",
            summary.files,
            summary.unique_files,
            summary.files - summary.unique_files
        )?;
        writeln!(
            out,
            "bytes: {} read, {} stored",
            human_bytes(summary.bytes_in),
            human_bytes(summary.bytes_stored)
        )?;
        if !summary.symlinks.is_empty() {
            let followed = summary.symlinks.iter().filter(|s| s.followed).count();
            writeln!(
                out,
                "symlinks: {} ({} followed)",
                summary.symlinks.len(),
                followed
            )?;
            for s in summary.symlinks.iter().filter(|s| !s.followed).take(20) {
                writeln!(out, "  not followed: {} -> {}", s.path, s.target)?;
            }
        }
        if !summary.skipped.is_empty() {
            writeln!(
                out,
                "skipped: {} (listed in the archive's manifest too)",
                summary.skipped.len()
            )?;
            for s in &summary.skipped {
                writeln!(
                    out,
                    "  {} [{}]: {}",
                    s.path,
                    serde_json::to_value(s.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    s.detail
                )?;
            }
            writeln!(out, "Everything else is saved. Fix what is listed (permissions, files in use) and run the backup again with --force.")?;
        }
    }
    out.flush()?;
    Ok(summary.exit_code())
}
