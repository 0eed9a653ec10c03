//! `reindex`: rebuild an archive's search index from the conversations it holds, writing a new
//! archive atomically as backup does (the old one stays until the new one has passed its check).
//! Every other entry is copied across as it is, without being decompressed and compressed again.

use crate::archive::layout;
use crate::archive::manifest::EntryRecord;
use crate::archive::read::ArchiveReader;
use crate::archive::verify;
use crate::archive::write::ArchiveWriter;
use crate::backup::{partial_path, seal_and_commit, RunLock};
use crate::chats::{ConversationSource, MessageLine};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::search_index;
use serde::Serialize;
use std::io::BufRead;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ReindexSummary {
    pub archive: String,
    pub conversations: u64,
    pub messages: u64,
    pub entries: u64,
}

pub fn reindex(archive: &Path, progress: &dyn Progress) -> Result<ReindexSummary> {
    // One run at a time writes an archive (see `RunLock`).
    let _lock = RunLock::acquire(archive)?;
    // Never build on damage: the new archive would carry it on under a fresh seal.
    verify::require_intact(archive, progress, "run `qqvault verify` for the whole report")?;
    let mut old = ArchiveReader::open(archive)?;
    let mut manifest = old.manifest.clone();
    let partial = partial_path(archive);
    crate::scratch::sweep(crate::scratch::folder_of(&partial));
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
        writer.raw_copy(file, rec.clone(), Some(archive))?;
    }
    progress.finish_phase();
    progress.phase("indexing", None);
    // Each conversation is streamed twice from the old archive (once copied with its
    // checkpoints, once indexed), never held whole.
    let mut locations = Vec::new();
    for c in &manifest.conversations {
        let entry = old
            .zip
            .by_name(&c.entry)
            .map_err(|e| Error::zip(archive, format!("{}: {e}", c.entry)))?;
        locations.push(search_index::add_chat_lines(&mut writer, c, entry)?);
    }
    let mut seal_records = Vec::new();
    let mut source = ArchiveSource {
        reader: &mut old,
        entries: manifest.conversations.iter().map(|c| c.entry.clone()).collect(),
        count: 0,
    };
    if !manifest.conversations.is_empty() {
        let scratch = crate::scratch::folder_of(&partial);
        seal_records.push(search_index::build_and_write(
            &mut writer,
            scratch,
            locations,
            manifest.conversations.len(),
            &mut source,
            None,
        )?);
    }
    let messages = source.count;
    progress.finish_phase();
    manifest.entries = writer.entries().to_vec();
    manifest.totals.entries = manifest.entries.len() as u64 + 1;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::zip(&partial, e))?;
    let direct = writer.writes_direct();
    writer.finish(&json, seal_records.clone())?;
    // The old archive is closed before the new one takes its name (Windows cannot rename
    // over an open file).
    drop(old);
    seal_and_commit(&partial, archive, seal_records, None, direct, progress)?;
    Ok(ReindexSummary {
        archive: archive.display().to_string(),
        conversations: manifest.conversations.len() as u64,
        messages,
        entries: manifest.totals.entries,
    })
}

/// Conversations read from an archive's JSON Lines, one entry at a time, streamed.
struct ArchiveSource<'a> {
    reader: &'a mut ArchiveReader,
    entries: Vec<String>,
    /// Messages read so far.
    count: u64,
}

impl ConversationSource for ArchiveSource<'_> {
    fn messages(&mut self, i: usize) -> Result<Box<dyn Iterator<Item = std::io::Result<MessageLine>> + '_>> {
        let name = self.entries.get(i).cloned().unwrap_or_default();
        let path = self.reader.path.clone();
        let file = self
            .reader
            .zip
            .by_name(&name)
            .map_err(|e| Error::zip(&path, format!("{name}: {e}")))?;
        let count = &mut self.count;
        let lines = std::io::BufReader::with_capacity(64 << 10, file)
            .split(b'\n')
            .filter(|l| l.as_ref().map_or(true, |l| !l.is_empty()))
            .map(move |l| {
                let l = l?;
                *count += 1;
                serde_json::from_slice::<MessageLine>(&l)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{name}: {e}")))
            });
        Ok(Box::new(lines))
    }
    fn origin(&self) -> std::path::PathBuf {
        self.reader.path.clone()
    }
}
