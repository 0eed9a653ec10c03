//! `qqvault info ARCHIVE [--json]`

use super::printer::{self, human_bytes, CliResult};
use qqvault::archive::read::ArchiveReader;
use qqvault::info;
use std::io::Write;
use std::path::PathBuf;

/// What an archive holds, from its manifest (quick: nothing is re-read), ending with whether
/// it is safe to delete the QQ account.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// Print one JSON object (the verdict is `safe_to_delete`, with `reasons`).
    #[arg(long)]
    json: bool,
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(a: Args) -> CliResult {
    let reader = ArchiveReader::open(&a.archive)?;
    let info = info::summarize(
        &a.archive.display().to_string(),
        &reader.manifest,
        reader.seal.as_ref(),
    );
    let mut out = printer::stdout();
    if a.json {
        printer::json_line(&mut out, &info)?;
        out.flush()?;
        return Ok(0);
    }
    writeln!(
        out,
        "archive: {} (made {} by qqvault {})",
        info.archive, info.created, info.tool_version
    )?;
    match &info.verified {
        Some(t) => writeln!(
            out,
            "checked: {t}, when it was written (the seal records that it passed)"
        )?,
        None => writeln!(out, "checked: unknown (no valid seal)")?,
    }
    writeln!(out, "inputs: {}", info.inputs.len())?;
    for i in &info.inputs {
        writeln!(
            out,
            "  {} -> files/{}{}",
            i.given,
            i.top,
            if i.is_dir { "/" } else { "" }
        )?;
    }
    let f = &info.files;
    writeln!(
        out,
        "files: {} ({}), {} distinct contents; {} duplicates stored once, saving {}",
        f.total,
        human_bytes(f.bytes),
        f.distinct,
        f.duplicates,
        human_bytes(f.bytes_saved_by_dedup)
    )?;
    let e = &info.exports;
    writeln!(out, "chat exports: {} ({})", e.total, counts(&e.by_format))?;
    if !e.by_encoding.is_empty() {
        writeln!(out, "  encodings: {}", counts(&e.by_encoding))?;
    }
    let range = match (info.first, info.last) {
        (Some(a), Some(b)) => format!(", {} — {}", a.date_string(), b.date_string()),
        _ => String::new(),
    };
    writeln!(
        out,
        "conversations: {}, messages: {}{range}",
        info.conversations, info.messages
    )?;
    let im = &info.images;
    if im.mht_referenced > 0 || im.mht_unreferenced > 0 {
        writeln!(
            out,
            "MHT pictures: {} referenced, {} found, {} missing, {} damaged, {} not referenced",
            im.mht_referenced, im.mht_found, im.mht_missing, im.mht_damaged, im.mht_unreferenced
        )?;
    }
    writeln!(out, "lines not understood: {}", info.lines_not_understood)?;
    for n in &info.not_understood {
        writeln!(out, "  {}: {} lines", n.path, n.lines)?;
        for s in &n.samples {
            writeln!(out, "    {s}")?;
        }
    }
    writeln!(out, "skipped: {}", info.skipped.len())?;
    for s in &info.skipped {
        let reason = serde_json::to_value(s.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        writeln!(out, "  {} [{reason}]: {}", s.path, s.detail)?;
    }
    if !info.problems.is_empty() {
        writeln!(out, "reported by the exports:")?;
        for p in &info.problems {
            writeln!(out, "  {}: {}", p.path, p.problem)?;
        }
    }
    writeln!(
        out,
        "viewer: {}",
        if info.viewer {
            "viewer/index.html (unzip, then open it in a browser)"
        } else {
            "none (made with --no-viewer, or no conversations); `qqvault export` makes one"
        }
    )?;
    for n in &info.notes {
        writeln!(out, "note: {n}")?;
    }
    if !info.reasons.is_empty() {
        writeln!(out, "not safe to delete the account yet, because:")?;
        for r in &info.reasons {
            writeln!(out, "  - {r}")?;
        }
    }
    let verify = format!("`qqvault verify {}` re-reads every byte", a.archive.display());
    if info.safe_to_delete {
        writeln!(
            out,
            "verdict: safe to delete the account: YES (nothing skipped, every line understood, no MHT picture missing or damaged, checked when written; this read the manifest only, {verify})"
        )?;
    } else {
        writeln!(
            out,
            "verdict: safe to delete the account: NO ({} reason(s) above; this read the manifest only, {verify})",
            info.reasons.len()
        )?;
    }
    out.flush()?;
    Ok(0)
}
