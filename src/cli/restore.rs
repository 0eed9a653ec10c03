//! `qqvault restore ARCHIVE -o DIR`

use super::printer::{self, human_bytes, CliResult};
use qqvault::archive::read::ArchiveReader;
use qqvault::archive::restore::{self, Action};
use std::io::Write;
use std::path::PathBuf;

/// Restore every archived file, byte for byte, with its name and modification time.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// The folder to restore into.
    #[arg(short, long)]
    output: PathBuf,
    /// Print the plan without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Replace files that already exist.
    #[arg(long)]
    overwrite: bool,
    /// Also restore the earlier contents that updates replaced, under versions/<when>/<path>.
    #[arg(long)]
    versions: bool,
}

pub fn run(a: Args) -> CliResult {
    let mut reader = ArchiveReader::open(&a.archive)?;
    let items = restore::plan(
        &reader,
        &a.output,
        a.overwrite,
        a.versions,
        restore::NameRules::NATIVE,
    );
    let mut out = printer::stdout();
    if a.dry_run {
        let mut code = 0;
        for it in &items {
            let verb = match it.action {
                Action::Create => "create",
                Action::Overwrite => "overwrite",
                Action::KeepExisting => "keep existing",
                Action::Refuse => "REFUSE",
            };
            if matches!(it.action, Action::Refuse | Action::KeepExisting) {
                code = 2;
            }
            writeln!(
                out,
                "{verb}: {} ({}){}",
                it.dest.display(),
                human_bytes(it.size),
                it.reason.as_ref().map(|r| format!(" - {r}")).unwrap_or_default()
            )?;
        }
        out.flush()?;
        return Ok(code);
    }
    std::fs::create_dir_all(&a.output).map_err(|e| qqvault::Error::write(&a.output, e))?;
    let report = restore::execute(&mut reader, items)?;
    writeln!(
        out,
        "restored: {} files, {}",
        report.restored,
        human_bytes(report.bytes)
    )?;
    for it in &report.refused {
        writeln!(
            out,
            "refused: {}: {}",
            it.path,
            it.reason.as_deref().unwrap_or("")
        )?;
    }
    for (p, why) in &report.renamed {
        writeln!(out, "restored under another name: {p}: {why}")?;
    }
    for p in &report.kept_existing {
        writeln!(out, "kept existing (pass --overwrite to replace): {p}")?;
    }
    for (p, e) in &report.failed {
        writeln!(out, "failed: {p}: {e}")?;
    }
    out.flush()?;
    Ok(report.exit_code())
}
