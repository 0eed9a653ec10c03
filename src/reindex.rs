//! `reindex`: rebuild an archive's search index from the conversations it holds, writing a new
//! archive atomically as backup does (the old one stays until the new one has passed its check).
//! Every other entry is copied across as it is, without being decompressed and compressed again.

use crate::archive::layout;
use crate::archive::manifest::EntryRecord;
use crate::archive::read::ArchiveReader;
use crate::archive::verify;
use crate::archive::write::ArchiveWriter;
use crate::backup::{partial_path, seal_and_commit};
use crate::chats::{ChunkReader, MessageLine};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::search_index;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ReindexSummary {
    pub archive: String,
    pub conversations: u64,
    pub messages: u64,
    pub entries: u64,
}

pub fn reindex(archive: &Path, progress: &dyn Progress) -> Result<ReindexSummary> {
    // Never build on damage: the new archive would carry it on under a fresh seal.
    verify::require_intact(archive, progress, "run `qqvault verify` for the whole report")?;
    let mut old = ArchiveReader::open(archive)?;
    let mut manifest = old.manifest.clone();
    let partial = partial_path(archive);
    let mut writer = ArchiveWriter::create(&partial)?;
    let by_name: std::collections::HashMap<String, EntryRecord> = manifest
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.clone()))
        .collect();
    let chat_entries: std::collections::HashSet<String> =
        manifest.conversations.iter().map(|c| c.entry.clone()).collect();
    progress.phase("copying", None);
    for i in 0..old.zip.len() {
        let file = old.zip.by_index_raw(i).map_err(|e| Error::zip(archive, e))?;
        let name = file
            .name()
            .map(|n| n.to_string())
            .map_err(|e| Error::zip(archive, e))?;
        if name == layout::MANIFEST_ENTRY
            || name.starts_with(layout::INDEX_PREFIX)
            || chat_entries.contains(&name)
        {
            continue;
        }
        let Some(rec) = by_name.get(&name) else {
            return Err(Error::zip(archive, format!("{name} is not in the manifest")));
        };
        writer.raw_copy(file, rec.clone())?;
    }
    progress.finish_phase();
    progress.phase("indexing", None);
    let mut locations = Vec::new();
    let mut all_lines: Vec<Vec<MessageLine>> = Vec::new();
    let mut messages = 0u64;
    for c in manifest.conversations.clone() {
        let data = old.read_entry(&c.entry)?;
        let mut lines = Vec::new();
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines.push(
                serde_json::from_slice::<MessageLine>(line)
                    .map_err(|e| Error::zip(archive, format!("{}: {e}", c.entry)))?,
            );
        }
        messages += lines.len() as u64;
        locations.push(search_index::add_chat_lines(
            &mut writer,
            &c,
            ChunkReader::new(std::iter::once(data)),
        )?);
        all_lines.push(lines);
    }
    let mut seal_records = Vec::new();
    if !manifest.conversations.is_empty() {
        let scratch = partial
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        seal_records.push(search_index::build_and_write(
            &mut writer,
            scratch,
            locations,
            &all_lines,
        )?);
    }
    progress.finish_phase();
    manifest.entries = writer.entries().to_vec();
    manifest.totals.entries = manifest.entries.len() as u64 + 1;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::zip(&partial, e))?;
    writer.finish(&json, seal_records.clone())?;
    // The old archive is closed before the new one takes its name (Windows cannot rename
    // over an open file).
    drop(old);
    seal_and_commit(&partial, archive, seal_records, progress)?;
    Ok(ReindexSummary {
        archive: archive.display().to_string(),
        conversations: manifest.conversations.len() as u64,
        messages,
        entries: manifest.totals.entries,
    })
}
