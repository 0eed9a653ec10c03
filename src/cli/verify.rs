//! `qqvault verify ARCHIVE [--against DIR...]`

use super::printer::{self, human_bytes, CliResult};
use super::{EXIT_NEGATIVE, EXIT_OK};
use qqvault::archive::verify::{self, VerifyOptions};
use std::io::Write;
use std::path::PathBuf;

/// Re-read the whole archive and check every byte: seal, structure, CRCs, hashes, manifest.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// Also compare the archive with these source folders as they are now.
    #[arg(long, num_args = 1..)]
    against: Vec<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let bar = printer::Bar::new(a.json);
    // An archive that is not in the page cache (one just written past it, or days old) is
    // read once from the disk past the cache; a cached one through a map. The environment
    // variable picks the way (tests run the damage suite both ways).
    let sequential = match std::env::var("QQVAULT_VERIFY_SEQUENTIAL").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => !verify::mostly_cached(&a.archive),
    };
    let opts = VerifyOptions {
        sequential,
        ..VerifyOptions::default()
    };
    let mut report = verify::verify(&a.archive, opts, &bar)?;
    if !a.against.is_empty() {
        if let Some(m) = report.manifest.as_ref() {
            let extra = qqvault::archive::verify::compare_sources(m, &a.against, &bar);
            report.problems.extend(extra);
        }
        report.ok = report.problems.is_empty();
    }
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &report)?;
    } else {
        for p in &report.problems {
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            writeln!(
                out,
                "{}: {kind}: {}",
                p.entry.as_deref().unwrap_or("(archive)"),
                p.detail
            )?;
        }
        if report.ok {
            writeln!(
                out,
                "OK: {} entries, {} checked; seal intact",
                report.entries,
                human_bytes(report.bytes)
            )?;
        } else {
            writeln!(
                out,
                "DAMAGED or different: {} problem(s) in {} ({} entries, {} checked)",
                report.problems.len(),
                a.archive.display(),
                report.entries,
                human_bytes(report.bytes)
            )?;
        }
    }
    out.flush()?;
    Ok(if report.ok { EXIT_OK } else { EXIT_NEGATIVE })
}
