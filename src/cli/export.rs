//! `qqvault export ARCHIVE -o DIR [--format html|txt|jsonl] [--overwrite] [--json]`

use super::printer::{self, human_bytes, CliResult};
use qqvault::archive::read::ArchiveReader;
use qqvault::export::{self, ExportFormat, ExportOptions};
use std::io::Write;
use std::path::PathBuf;

/// Write the conversations out for people: browsable pages (html), transcripts (txt) or
/// JSON Lines (jsonl).
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// The folder to write into: new or empty, unless --overwrite is given.
    #[arg(short, long)]
    output: PathBuf,
    /// html: pages that open in any browser, offline, with the pictures copied beside them;
    /// txt: one UTF-8 transcript per conversation; jsonl: one JSON Lines file per conversation.
    #[arg(long, value_enum, default_value = "html")]
    format: Format,
    /// Write into a folder that is not empty: files of the same name are replaced, nothing
    /// else in it is touched.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Html,
    Txt,
    Jsonl,
}

pub fn run(a: Args) -> CliResult {
    let format = match a.format {
        Format::Html => ExportFormat::Html,
        Format::Txt => ExportFormat::Txt,
        Format::Jsonl => ExportFormat::Jsonl,
    };
    let mut reader = ArchiveReader::open(&a.archive)?;
    let bar = printer::Bar::new(a.json);
    let report = export::export(
        &mut reader,
        &ExportOptions {
            dir: a.output.clone(),
            format,
            overwrite: a.overwrite,
        },
        &bar,
    )?;
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &report)?;
    } else {
        writeln!(
            out,
            "exported {} conversations, {} messages as {} into {} ({} files, {})",
            report.conversations,
            report.messages,
            format.label(),
            a.output.display(),
            report.files_written,
            human_bytes(report.bytes_written)
        )?;
        if format == ExportFormat::Html {
            writeln!(
                out,
                "{} pages (the largest {}), {} pictures and files copied",
                report.pages,
                human_bytes(report.largest_page),
                report.media
            )?;
            if let Some(index) = &report.index {
                writeln!(out, "open {} in a browser", a.output.join(index).display())?;
            }
        }
        if !report.problems.is_empty() {
            writeln!(out, "not exported: {}", report.problems.len())?;
            for p in &report.problems {
                writeln!(out, "  {}: {}", p.entry.as_deref().unwrap_or("archive"), p.detail)?;
            }
        }
    }
    out.flush()?;
    Ok(report.exit_code())
}
