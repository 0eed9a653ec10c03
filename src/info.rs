//! What an archive holds, read from its manifest and seal alone (no entry is re-read), and the
//! one question a person asks before deleting a QQ account: is everything in there?
//!
//! The verdict is `safe_to_delete` only when nothing was skipped, no line of a chat export was
//! left not understood, no export that holds something yielded nothing, no MHT picture is
//! missing or damaged, and the archive carries a valid seal (backup seals an archive only after
//! it passed the same check as `verify`). Anything else is named in `reasons`. Facts that do not
//! stand in the way are `notes`: TXT exports never held pictures (their `[图片]` placeholders
//! are counted, not missing), encrypted databases are kept byte for byte but cannot be read.
//!
//! A damaged MHT picture (a part whose data is cut or corrupt) is kept as far as it decodes,
//! and the original export is kept byte for byte; but the picture itself is not whole in the
//! archive, and QQ may still hold it whole, so it makes the verdict "not yet": export that
//! chat again before deleting the account.

use crate::archive::manifest::Manifest;
use crate::archive::seal::Seal;
use crate::scan::{InputRoot, Skipped};
use qqvault_core::MessageTime;
use qqvault_formats::sniff::ExportKind;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Everything `qqvault info` says. Serialised as `info --json`; fields are only ever added.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveInfo {
    pub archive: String,
    /// When the backup ran (UTC).
    pub created: String,
    /// The qqvault version that wrote it.
    pub tool_version: String,
    /// When the archive passed its check and was sealed (UTC): the last verification qqvault
    /// recorded. None when it carries no valid seal.
    pub verified: Option<String>,
    pub inputs: Vec<InputRoot>,
    pub files: FileCounts,
    /// Zip entries, README and manifest included.
    pub entries: u64,
    pub exports: ExportCounts,
    pub conversations: u64,
    pub messages: u64,
    /// The first and last message times over every conversation.
    pub first: Option<MessageTime>,
    pub last: Option<MessageTime>,
    pub images: ImageCounts,
    pub lines_not_understood: u64,
    /// Exports with lines not understood, and a few of those lines.
    pub not_understood: Vec<NotUnderstood>,
    pub skipped: Vec<Skipped>,
    /// Whatever the exports reported (damaged parts, failed reads, cut lines...).
    pub problems: Vec<ExportProblem>,
    /// Whether the archive carries the HTML viewer (`viewer/index.html`).
    pub viewer: bool,
    /// The verdict: can the account be deleted, as far as this archive goes?
    pub safe_to_delete: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
    /// Facts worth knowing that do not change the verdict.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct FileCounts {
    /// Input files archived, duplicates included.
    pub total: u64,
    /// Distinct contents among them (each stored once).
    pub distinct: u64,
    /// Files whose content another file already had.
    pub duplicates: u64,
    /// Size of every input file.
    pub bytes: u64,
    /// Size of the distinct contents.
    pub bytes_distinct: u64,
    /// What storing each content once saved: `bytes - bytes_distinct`.
    pub bytes_saved_by_dedup: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ExportCounts {
    pub total: u64,
    /// By format label (as in the README).
    pub by_format: BTreeMap<String, u64>,
    /// By text encoding.
    pub by_encoding: BTreeMap<String, u64>,
    /// Files kept only as opaque originals (encrypted databases, .bak).
    pub opaque: Vec<String>,
    /// Exports that are not empty but yielded no message.
    pub without_messages: Vec<String>,
    /// Bytes that were not valid in their export's encoding.
    pub undecodable_bytes: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ImageCounts {
    /// Picture references in MHT exports.
    pub mht_referenced: u64,
    /// Of those, the ones whose picture the export holds (damaged ones included).
    pub mht_found: u64,
    /// References without a picture in the export.
    pub mht_missing: u64,
    /// Pictures whose data is damaged (kept as far as they decode).
    pub mht_damaged: u64,
    /// Pictures in MHT exports that no message refers to (kept).
    pub mht_unreferenced: u64,
    /// `[图片]` placeholders in exports that embed no pictures (TXT, JSON): not missing, the
    /// format never carried them.
    pub placeholders_in_text_exports: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotUnderstood {
    pub path: String,
    pub lines: u64,
    pub samples: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportProblem {
    pub path: String,
    pub problem: String,
}

/// How many skipped inputs, lines and such are named one by one in the reasons.
const NAMED: usize = 5;

/// Sums up a manifest. `seal` is the archive's seal when it carries a valid one.
pub fn summarize(archive: &str, manifest: &Manifest, seal: Option<&Seal>) -> ArchiveInfo {
    // Files and dedup: each distinct content is one entry.
    let mut distinct: HashMap<&str, u64> = HashMap::new();
    for f in &manifest.files {
        distinct.entry(f.entry.as_str()).or_insert(f.size);
    }
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let bytes_distinct: u64 = distinct.values().sum();
    let files = FileCounts {
        total: manifest.files.len() as u64,
        distinct: distinct.len() as u64,
        duplicates: (manifest.files.len() - distinct.len()) as u64,
        bytes,
        bytes_distinct,
        bytes_saved_by_dedup: bytes.saturating_sub(bytes_distinct),
    };

    let mut exports = ExportCounts {
        total: manifest.exports.len() as u64,
        ..Default::default()
    };
    let mut images = ImageCounts::default();
    let mut not_understood = Vec::new();
    let mut problems = Vec::new();
    let mut failed_reads = Vec::new();
    let mut lines_not_understood = 0;
    let mht = ExportKind::QqMht.label();
    for e in &manifest.exports {
        *exports.by_format.entry(e.format.clone()).or_default() += 1;
        if let Some(enc) = &e.encoding {
            *exports.by_encoding.entry(enc.clone()).or_default() += 1;
        }
        exports.undecodable_bytes += e.undecodable_bytes;
        if e.opaque {
            exports.opaque.push(e.path.clone());
            continue;
        }
        if e.messages == 0 && e.format != ExportKind::QceJsonlChunk.label() {
            exports.without_messages.push(e.path.clone());
        }
        if e.format == mht {
            // Older manifests have no damaged count: the problems name each damaged part.
            let damaged_named = e
                .problems
                .iter()
                .filter(|p| p.starts_with("part ") && p.contains(" is damaged"))
                .count() as u64;
            images.mht_found += e.images_found;
            images.mht_missing += e.images_missing;
            images.mht_referenced += e.images_found + e.images_missing;
            images.mht_damaged += e.images_damaged.max(damaged_named);
            images.mht_unreferenced += e.images_unreferenced;
        } else {
            images.placeholders_in_text_exports += e.image_placeholders;
        }
        if e.lines_not_understood > 0 {
            lines_not_understood += e.lines_not_understood;
            not_understood.push(NotUnderstood {
                path: e.path.clone(),
                lines: e.lines_not_understood,
                samples: e.samples_not_understood.clone(),
            });
        }
        for p in &e.problems {
            if p.starts_with("reading the export failed") {
                failed_reads.push(e.path.clone());
            }
            problems.push(ExportProblem {
                path: e.path.clone(),
                problem: p.clone(),
            });
        }
    }

    let convs = &manifest.conversations;
    let first = convs.iter().filter_map(|c| c.first).filter(|t| t.year > 0).min();
    let last = convs.iter().filter_map(|c| c.last).filter(|t| t.year > 0).max();
    let viewer = manifest
        .entries
        .iter()
        .any(|e| e.name == format!("{}{}", crate::viewer::ARCHIVE_ROOT, crate::viewer::INDEX_PAGE));

    // The verdict.
    let mut reasons = Vec::new();
    if !manifest.skipped.is_empty() {
        let named: Vec<String> = manifest
            .skipped
            .iter()
            .take(NAMED)
            .map(|s| format!("{} ({})", s.path, reason_label(s)))
            .collect();
        reasons.push(format!(
            "{} input(s) were skipped or changed while read, so the archive may lack them: {}{}",
            manifest.skipped.len(),
            named.join("; "),
            more(manifest.skipped.len())
        ));
    }
    if lines_not_understood > 0 {
        let named: Vec<String> = not_understood
            .iter()
            .take(NAMED)
            .map(|n| format!("{} ({})", n.path, n.lines))
            .collect();
        reasons.push(format!(
            "{lines_not_understood} line(s) of chat exports were not understood, so messages may be missing from the conversations (the export files themselves are kept): {}{}",
            named.join("; "),
            more(not_understood.len())
        ));
    }
    if !exports.without_messages.is_empty() {
        reasons.push(format!(
            "{} export(s) are not empty but no message could be read from them: {}{}",
            exports.without_messages.len(),
            exports
                .without_messages
                .iter()
                .take(NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            more(exports.without_messages.len())
        ));
    }
    failed_reads.dedup();
    if !failed_reads.is_empty() {
        reasons.push(format!(
            "reading {} export(s) failed part way: {}{}",
            failed_reads.len(),
            failed_reads
                .iter()
                .take(NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            more(failed_reads.len())
        ));
    }
    if images.mht_missing > 0 {
        reasons.push(format!(
            "{} picture(s) referenced by MHT exports are not in those exports",
            images.mht_missing
        ));
    }
    if images.mht_damaged > 0 {
        reasons.push(format!(
            "{} picture(s) in MHT exports are damaged (kept only as far as they decode); export those chats again from QQ if the pictures matter",
            images.mht_damaged
        ));
    }
    if seal.is_none() {
        reasons.push(
            "the archive carries no valid seal, so it is not known to have passed its check when written; run `qqvault verify`"
                .into(),
        );
    }

    let mut notes = Vec::new();
    if images.placeholders_in_text_exports > 0 {
        notes.push(format!(
            "TXT exports hold no pictures at all: {} [图片] placeholder(s) stand where pictures were. They are not missing from the archive; the export never had them (MHT exports and QQ's own picture folders do)",
            images.placeholders_in_text_exports
        ));
    }
    if !exports.opaque.is_empty() {
        notes.push(format!(
            "{} file(s) are kept only as opaque originals (encrypted QQ databases or backups): byte for byte, but their messages cannot be read from the archive",
            exports.opaque.len()
        ));
    }
    if exports.undecodable_bytes > 0 {
        notes.push(format!(
            "{} byte(s) of exports were not valid in their encoding and show as U+FFFD in the conversations; the original files are kept byte for byte",
            exports.undecodable_bytes
        ));
    }
    if images.mht_unreferenced > 0 {
        notes.push(format!(
            "{} picture(s) in MHT exports are referenced by no message (kept)",
            images.mht_unreferenced
        ));
    }

    ArchiveInfo {
        archive: archive.to_string(),
        created: manifest.created.clone(),
        tool_version: manifest.tool.version.clone(),
        verified: seal.map(|s| s.sealed_at.clone()),
        inputs: manifest.inputs.clone(),
        files,
        entries: manifest.totals.entries,
        exports,
        conversations: convs.len() as u64,
        messages: convs.iter().map(|c| c.messages).sum(),
        first,
        last,
        images,
        lines_not_understood,
        not_understood,
        skipped: manifest.skipped.clone(),
        problems,
        viewer,
        safe_to_delete: reasons.is_empty(),
        reasons,
        notes,
    }
}

fn reason_label(s: &Skipped) -> String {
    serde_json::to_value(s.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn more(n: usize) -> String {
    if n > NAMED {
        format!("; and {} more", n - NAMED)
    } else {
        String::new()
    }
}
