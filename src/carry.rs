//! What an update takes over from the archive it updates instead of parsing, rendering and
//! indexing it again.
//!
//! A conversation that no new export holds cannot change: its JSON Lines, transcript and
//! viewer pages are copied as they are (raw, without decompressing), and its messages stay in
//! the earlier search index, which the update extends. A conversation that a new export holds
//! is merged anew from the new export and every earlier export it came from (the merge rule
//! needs each export's own counts), and replaces its earlier entries and index documents.
//!
//! This only holds when the earlier archive was written by this same version of qqvault (the
//! pages and the index would otherwise mix two renderings and index versions) and has the
//! index and viewer this run makes; otherwise everything is parsed again, as in a first
//! backup.

use crate::archive::layout;
use crate::archive::manifest::{ConversationRecord, EntryRecord, ExportRecord, Manifest};
use crate::archive::read::ArchiveReader;
use crate::archive::write::ArchiveWriter;
use crate::error::{Error, Result};
use crate::search_index::{self, CatalogChat, CatalogFile};
use crate::viewer::{self, IndexRow};
use qqvault_core::ConversationKey;
use qqvault_formats::sniff::ExportKind;
use std::collections::{HashMap, HashSet};

/// The earlier archive's conversations and where their derived entries are.
pub struct CarryPlan {
    conversations: Vec<ConversationRecord>,
    /// The earlier index's catalog, when this run makes an index.
    catalog: Option<search_index::Catalog>,
    /// Each conversation's viewer pages (below the viewer's root), in the order written,
    /// when this run makes the viewer.
    pages: Option<HashMap<String, Vec<String>>>,
    /// Entry records by name.
    entries: HashMap<String, EntryRecord>,
    /// Export records, for the chunks of chunked exports.
    exports: Vec<ExportRecord>,
}

/// The earlier index, for an update to extend.
pub struct IndexExtension {
    /// Its files, where they lie in the earlier archive, with the CRC-32 of each one's entry
    /// (None when its entry has no record).
    pub files: Vec<(CatalogFile, Option<u32>)>,
    /// Conversations to take out of it, as they are indexed again: (id, messages).
    pub replaced: Vec<(String, u64)>,
}

/// What was carried over.
#[derive(Default)]
pub struct Carried {
    /// The earlier conversations no new export holds, in their earlier order.
    pub conversations: Vec<ConversationRecord>,
    /// Where their JSON Lines now lie.
    pub locations: Vec<CatalogChat>,
}

impl CarryPlan {
    /// The plan for an update of `reader`'s archive, or None when its derived entries cannot be
    /// taken over and everything is to be parsed again.
    pub fn new(reader: &ArchiveReader, want_index: bool, want_viewer: bool) -> Result<Option<CarryPlan>> {
        let m: &Manifest = &reader.manifest;
        if m.tool.version != env!("CARGO_PKG_VERSION") || m.schema != layout::LAYOUT_VERSION {
            return Ok(None);
        }
        let entries: HashMap<String, EntryRecord> =
            m.entries.iter().map(|e| (e.name.clone(), e.clone())).collect();
        let mut plan = CarryPlan {
            conversations: m.conversations.clone(),
            catalog: None,
            pages: None,
            entries,
            exports: m.exports.clone(),
        };
        if plan.conversations.is_empty() {
            return Ok(Some(plan));
        }
        let ids: HashSet<&str> = plan.conversations.iter().map(|c| c.id.as_str()).collect();
        if ids.len() != plan.conversations.len()
            || plan
                .conversations
                .iter()
                .any(|c| !plan.entries.contains_key(&c.entry) || !plan.entries.contains_key(&c.transcript))
        {
            return Ok(None);
        }
        if want_index {
            match search_index::read_catalog(&reader.path)? {
                Ok(c) if c.chats.iter().filter(|x| ids.contains(x.id.as_str())).count() == ids.len() => {
                    plan.catalog = Some(c)
                }
                _ => return Ok(None),
            }
        }
        if want_viewer {
            let index_page = format!("{}{}", viewer::ARCHIVE_ROOT, viewer::INDEX_PAGE);
            if !plan.entries.contains_key(&index_page) {
                return Ok(None);
            }
            let chats_root = format!("{}chats/", viewer::ARCHIVE_ROOT);
            let mut pages: HashMap<String, Vec<String>> = HashMap::new();
            for e in &m.entries {
                if let Some(rest) = e.name.strip_prefix(&chats_root) {
                    if let Some((dir, _)) = rest.split_once('/') {
                        pages
                            .entry(dir.to_string())
                            .or_default()
                            .push(e.name[viewer::ARCHIVE_ROOT.len()..].to_string());
                    }
                }
            }
            if plan
                .conversations
                .iter()
                .any(|c| !pages.contains_key(&viewer::dir_name(&c.id)))
            {
                return Ok(None);
            }
            plan.pages = Some(pages);
        }
        Ok(Some(plan))
    }

    /// The earlier exports to parse again: those the conversations in `touched` came from,
    /// with the chunks of a chunked export whose manifest is among them.
    pub fn reparse(&self, touched: &HashSet<ConversationKey>) -> HashSet<String> {
        let mut paths: HashSet<String> = self
            .conversations
            .iter()
            .filter(|c| touched.contains(&c.key))
            .flat_map(|c| c.sources.iter().cloned())
            .collect();
        let manifest_label = ExportKind::QceJsonlManifest.label();
        let chunk_label = ExportKind::QceJsonlChunk.label();
        let folders: Vec<String> = self
            .exports
            .iter()
            .filter(|x| x.format == manifest_label && paths.contains(&x.path))
            .map(|x| {
                x.path
                    .rsplit_once('/')
                    .map(|(d, _)| format!("{d}/"))
                    .unwrap_or_default()
            })
            .collect();
        for x in &self.exports {
            if x.format == chunk_label && folders.iter().any(|f| x.path.starts_with(f.as_str())) {
                paths.insert(x.path.clone());
            }
        }
        paths
    }

    /// The earlier conversations whose messages may link to stored files (read from exports
    /// that embed pictures, MHT, or name the files of their resources folder, QCE's). When an
    /// update moves an entry to an earlier version, such links are made anew, so these
    /// conversations are merged anew.
    pub fn linking(&self) -> impl Iterator<Item = &ConversationKey> {
        let plain = ExportKind::QqTxt.label();
        self.read_from(move |x| x.format != plain)
    }

    /// The earlier conversations read from an export that `export` says yes to.
    fn read_from(&self, export: impl Fn(&ExportRecord) -> bool) -> impl Iterator<Item = &ConversationKey> {
        let sources: HashSet<&str> = self
            .exports
            .iter()
            .filter(|x| export(x))
            .map(|x| x.path.as_str())
            .collect();
        self.conversations
            .iter()
            .filter(move |c| c.sources.iter().any(|s| sources.contains(s.as_str())))
            .map(|c| &c.key)
    }

    /// The earlier conversations read from QCE exports beside one of `folders` (folders that
    /// hold `resources/`, as [`crate::ingest::ResourceFiles::folders`] gives them): an update
    /// that brings files into those resources folders merges them anew, so that their messages
    /// link to the files as in a backup of everything at once.
    pub fn beside_resources<'s>(
        &'s self,
        folders: &'s HashSet<String>,
    ) -> impl Iterator<Item = &'s ConversationKey> {
        self.read_from(move |x| {
            ExportKind::ALL
                .iter()
                .find(|k| k.label() == x.format)
                .and_then(|k| crate::ingest::ResourceFiles::export_folders(&x.path, *k))
                .is_some_and(|fs| fs.iter().any(|f| folders.contains(f)))
        })
    }

    /// How many earlier conversations are carried over.
    pub fn carried(&self, touched: &HashSet<ConversationKey>) -> usize {
        self.conversations
            .iter()
            .filter(|c| !touched.contains(&c.key))
            .count()
    }

    /// The earlier index to extend, and the conversations to take out of it (id, messages):
    /// None when this run makes no index or nothing of the earlier one stays (a new one is
    /// then smaller than one with every document deleted).
    pub fn index_extension(&self, touched: &HashSet<ConversationKey>) -> Option<IndexExtension> {
        let catalog = self.catalog.as_ref()?;
        if self.carried(touched) == 0 {
            return None;
        }
        let replaced = self
            .conversations
            .iter()
            .filter(|c| touched.contains(&c.key))
            .map(|c| (c.id.clone(), c.messages))
            .collect();
        let files = catalog
            .files
            .iter()
            .map(|f| {
                let crc32 = self
                    .entries
                    .get(&format!("{}{}", layout::INDEX_PREFIX, f.name))
                    .map(|r| r.crc32);
                (f.clone(), crc32)
            })
            .collect();
        Some(IndexExtension { files, replaced })
    }

    /// The rows on the viewer's index page of the conversations `touched` does not hold, in
    /// their earlier order (none when this run makes no viewer): known before they are copied,
    /// so that the viewer is written while the update's block is still being copied.
    pub fn rows(&self, touched: &HashSet<ConversationKey>) -> Vec<IndexRow> {
        let Some(pages) = &self.pages else {
            return Vec::new();
        };
        self.conversations
            .iter()
            .filter(|c| !touched.contains(&c.key))
            .map(|c| {
                let mine = pages.get(&viewer::dir_name(&c.id)).cloned().unwrap_or_default();
                IndexRow::from_pages(c.clone(), &mine)
            })
            .collect()
    }

    /// Copies the entries of the conversations `touched` does not hold into `writer`, raw.
    /// `moved` renames the sources whose export was moved to an earlier version.
    pub fn copy(
        self,
        writer: &mut ArchiveWriter,
        reader: &mut ArchiveReader,
        touched: &HashSet<ConversationKey>,
        moved: &HashMap<String, String>,
    ) -> Result<Carried> {
        let mut out = Carried::default();
        let mut catalog: HashMap<String, CatalogChat> = self
            .catalog
            .map(|c| c.chats.into_iter().map(|x| (x.id.clone(), x)).collect())
            .unwrap_or_default();
        for mut c in self.conversations {
            if touched.contains(&c.key) {
                continue;
            }
            let jsonl_at = copy_entry(writer, reader, &self.entries, &c.entry)?;
            copy_entry(writer, reader, &self.entries, &c.transcript)?;
            if let Some(mut loc) = catalog.remove(&c.id) {
                loc.offset = jsonl_at;
                out.locations.push(loc);
            }
            if let Some(pages) = &self.pages {
                for p in pages.get(&viewer::dir_name(&c.id)).into_iter().flatten() {
                    copy_entry(
                        writer,
                        reader,
                        &self.entries,
                        &format!("{}{p}", viewer::ARCHIVE_ROOT),
                    )?;
                }
            }
            for s in &mut c.sources {
                if let Some(n) = moved.get(s) {
                    *s = n.clone();
                }
            }
            out.conversations.push(c);
        }
        Ok(out)
    }
}

/// Copies one entry of the earlier archive as it is; returns where its data now lies.
pub fn copy_entry(
    writer: &mut ArchiveWriter,
    reader: &mut ArchiveReader,
    records: &HashMap<String, EntryRecord>,
    name: &str,
) -> Result<u64> {
    copy_entry_as(writer, reader, records, name, name)
}

/// [`copy_entry`] under another name.
pub fn copy_entry_as(
    writer: &mut ArchiveWriter,
    reader: &mut ArchiveReader,
    records: &HashMap<String, EntryRecord>,
    name: &str,
    new_name: &str,
) -> Result<u64> {
    let path = reader.path.clone();
    let missing = || {
        Error::zip(
            &path,
            format!("{name} is not in the archive; run `qqvault verify` on it"),
        )
    };
    let rec = records.get(name).ok_or_else(missing)?;
    let i = reader.zip.index_for_name(name).ok_or_else(missing)?;
    let file = reader.zip.by_index_raw(i).map_err(|e| Error::zip(&path, e))?;
    if name == new_name {
        writer.raw_copy(file, rec.clone(), Some(&path))
    } else {
        let mut rec = rec.clone();
        rec.name = new_name.to_string();
        writer.raw_copy_renamed(file, new_name, rec, Some(&path))
    }
}
