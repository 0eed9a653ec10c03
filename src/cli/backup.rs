//! `qqvault backup INPUT... -o ARCHIVE.zip`

use super::printer::{self, human_bytes, CliResult};
use qqvault::backup::{self, BackupOptions};
use qqvault_formats::formats::qce::WallClock;
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
    /// The time zone of exports that store instants rather than wall times (qq-chat-exporter):
    /// an offset such as +08:00 or a zone name such as Asia/Shanghai.
    #[arg(long, default_value = "+08:00")]
    tz: String,
    /// Leave out the HTML pages under viewer/ (the conversations shown in a browser).
    #[arg(long)]
    no_viewer: bool,
    /// Leave out the search index (search then scans every message; reindex adds it later).
    #[arg(long)]
    no_index: bool,
    /// Add the inputs to the existing ARCHIVE: new files are stored once, changed paths keep
    /// their earlier content as a version, conversations merge, and the new archive replaces the
    /// old one only after it has passed its check.
    #[arg(long)]
    update: bool,
    /// With --update: say what the update would add, change and keep, and write nothing.
    #[arg(long, requires = "update")]
    dry_run: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let bar = printer::Bar::new(a.json);
    let tz = WallClock::parse(&a.tz).map_err(|e| qqvault::Error::Usage(format!("--tz {}: {e}", a.tz)))?;
    let opts = BackupOptions {
        inputs: a.inputs,
        output: a.output,
        force: a.force,
        follow_symlinks: a.follow_symlinks,
        tz,
        no_viewer: a.no_viewer,
        no_index: a.no_index,
        update: a.update,
        dry_run: a.dry_run,
    };
    let summary = backup::backup(&opts, &bar)?;
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &summary)?;
    } else if let (true, Some(plan)) = (summary.dry_run, summary.update.as_ref()) {
        writeln!(out, "update of {} (dry run: nothing written)", summary.archive)?;
        writeln!(out, "  add:    {} paths", plan.added.len())?;
        for p in plan.added.iter().take(50) {
            writeln!(out, "    + {p}")?;
        }
        writeln!(
            out,
            "  change: {} paths (their earlier content stays as a version)",
            plan.changed.len()
        )?;
        for p in plan.changed.iter().take(50) {
            writeln!(out, "    ~ {p}")?;
        }
        writeln!(
            out,
            "  unchanged: {} paths; kept from the archive: {} paths",
            plan.unchanged, plan.kept
        )?;
        writeln!(
            out,
            "  new contents to store: {} ({})",
            plan.new_contents,
            human_bytes(plan.new_bytes)
        )?;
        for s in &summary.skipped {
            writeln!(out, "  would skip {}: {}", s.path, s.detail)?;
        }
    } else {
        writeln!(
            out,
            "archive: {} ({}), verified and sealed",
            summary.archive,
            human_bytes(summary.archive_bytes)
        )?;
        if let Some(plan) = &summary.update {
            writeln!(
                out,
                "update: {} paths added, {} changed (earlier content kept under versions/), {} unchanged, {} kept from the archive",
                plan.added.len(),
                plan.changed.len(),
                plan.unchanged,
                plan.kept
            )?;
            if let Some(c) = &plan.chats {
                if c.rebuilt {
                    writeln!(
                        out,
                        "conversations: {} merged; every export parsed again (the archive was written by another version of qqvault, or without its index or viewer)",
                        c.merged
                    )?;
                } else {
                    writeln!(
                        out,
                        "conversations: {} merged anew ({} earlier exports parsed again), {} carried over as they were; search index {}",
                        c.merged,
                        c.exports_parsed_again,
                        c.carried,
                        if c.index_extended { "extended" } else { "built anew" }
                    )?;
                }
            }
        }
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
        if !summary.exports.is_empty() {
            let formats: Vec<String> = summary.exports.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let encodings: Vec<String> = summary
                .encodings
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(
                out,
                "chat exports: {} (encodings: {})",
                formats.join(", "),
                encodings.join(", ")
            )?;
            writeln!(
                out,
                "conversations: {}, messages: {}, lines not understood: {}",
                summary.conversations, summary.messages, summary.lines_not_understood
            )?;
            if summary.placeholder_matches > 0 {
                writeln!(
                    out,
                    "  {} messages found in both a TXT and an MHT export were matched with placeholders set aside (the MHT version is kept)",
                    summary.placeholder_matches
                )?;
            }
            for e in &summary.export_reports {
                if e.opaque {
                    writeln!(
                        out,
                        "  {} [{}]: kept as an opaque original (encrypted; not readable)",
                        e.path, e.format
                    )?;
                    continue;
                }
                if e.problems.is_empty() && e.lines_not_understood == 0 && e.undecodable_bytes == 0 {
                    continue;
                }
                writeln!(out, "  {} [{}]: {} messages", e.path, e.format, e.messages)?;
                for p in &e.problems {
                    writeln!(out, "    {p}")?;
                }
                if e.lines_not_understood > 0 {
                    writeln!(
                        out,
                        "    {} lines not understood, for example:",
                        e.lines_not_understood
                    )?;
                    for s in &e.samples_not_understood {
                        writeln!(out, "      {s}")?;
                    }
                }
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
