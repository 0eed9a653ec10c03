//! Building an index: messages in, a directory of files out, ready to be copied into the
//! archive as they are.
//!
//! Tantivy indexes on `threads` threads, each with its share of the memory budget; segments
//! are not merged while messages arrive (that would redo work) but, if at all, once at the end
//! ([`SegmentMerge`]). [`IndexBuilder::finish`] then deletes everything that is not part of the
//! final index (tantivy's bookkeeping, lock files) and writes [`INFO_FILE`].

use crate::fold::{fold, FoldOptions};
use crate::schema::{build_schema, encode_time, Fields, IndexInfo, F_TIME, INFO_FILE};
use crate::tokenizer;
use qqvault_core::MessageTime;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::TantivyDocument;
use tantivy::store::Compressor;
use tantivy::{Index, IndexSettings, IndexSortByField, IndexWriter, Order};

/// Segments an index may have (a large build, or updates that add a segment each) before
/// [`SegmentMerge::Auto`] merges them all (which also drops the messages deleted from them).
pub const MAX_SEGMENTS: usize = 8;

/// Smallest memory budget tantivy accepts per indexing thread.
pub const MIN_MEMORY_PER_THREAD: usize = 15_000_000;

/// One message as the index sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDoc {
    /// The chat id (`ConversationKey::id`); not empty.
    pub chat: String,
    /// The message ordinal within its chat.
    pub seq: u64,
    pub time: MessageTime,
    pub sender: String,
    pub sender_id: Option<String>,
    /// The message text, unfolded.
    pub text: String,
}

/// How to build an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Memory the indexing threads may use together, in bytes. Raised to
    /// [`MIN_MEMORY_PER_THREAD`] when smaller; threads are reduced first so that the budget
    /// holds whenever it allows one thread.
    pub memory_budget_bytes: usize,
    /// Indexing threads (at least 1).
    pub threads: usize,
    /// The folding of texts and terms.
    pub folding: FoldOptions,
    /// Also store every message text (lz4-compressed), so that each hit is verified against
    /// it. Costs about 0.9 times the text size and a third of the build speed; off by default,
    /// since the phrase queries over positioned bigrams are exact without it.
    pub store_text: bool,
    /// When to merge the segments the indexing threads wrote into one.
    pub merge: SegmentMerge,
}

/// When [`IndexBuilder::finish`] merges segments into one.
///
/// Each indexing thread writes its own segments, one more each time its share of the memory
/// budget fills. One segment is about 7-12% smaller than two to four (one term dictionary
/// instead of several) and searches as fast, but merging costs about 40% of the build time
/// (measured on 2 million short Chinese messages, 2 threads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SegmentMerge {
    /// Merge only when the index has more than [`MAX_SEGMENTS`] segments (each indexing
    /// thread writes one each time its share of the memory budget fills: 2 million short
    /// messages make 4 with 192 MB on 2 threads), and then everything. A search reads each
    /// segment, and stops early in each, so a few cost it about a millisecond; the merge cost
    /// the backup about a third of the index build, at its end where nothing hides it. An
    /// index that updates extend collects a segment each, and is merged likewise.
    #[default]
    Auto,
    /// Always merge into one segment: the smallest index.
    Always,
    /// Never merge.
    Never,
}

impl BuildOptions {
    /// The given budget and threads, default folding, no stored text.
    pub fn new(memory_budget_bytes: usize, threads: usize) -> Self {
        BuildOptions {
            memory_budget_bytes,
            threads,
            folding: FoldOptions::default(),
            store_text: false,
            merge: SegmentMerge::Auto,
        }
    }
}

/// What a build did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexBuildStats {
    /// Messages indexed.
    pub docs: u64,
    /// Bytes of message text (UTF-8) indexed.
    pub text_bytes: u64,
    /// Bytes of all files in the finished directory.
    pub index_bytes: u64,
    /// The files of the finished directory (names only), sorted.
    pub files: Vec<String>,
    /// Threads and memory budget actually used.
    pub threads: usize,
    pub memory_budget_bytes: usize,
    /// Segments written by the indexing threads, and segments in the finished index.
    pub segments_written: usize,
    pub segments: usize,
    /// Time spent adding messages, committing (indexing what remained in memory and writing
    /// it), and merging segments.
    pub add_time: Duration,
    pub commit_time: Duration,
    pub merge_time: Duration,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("index directory {path} is not empty")]
    DirectoryNotEmpty { path: PathBuf },
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("indexing failed")]
    Tantivy(#[source] tantivy::TantivyError),
    #[error("the index in {path} cannot be added to: {reason}")]
    NotExtendable { path: PathBuf, reason: String },
}

impl From<tantivy::TantivyError> for BuildError {
    fn from(e: tantivy::TantivyError) -> Self {
        BuildError::Tantivy(e)
    }
}

/// Builds an index in a directory; see the module documentation.
pub struct IndexBuilder {
    dir: PathBuf,
    index: Index,
    writer: IndexWriter,
    fields: Fields,
    folding: FoldOptions,
    store_text: bool,
    merge: SegmentMerge,
    docs: u64,
    text_bytes: u64,
    threads: usize,
    memory_budget_bytes: usize,
    started: Instant,
}

impl IndexBuilder {
    /// Starts an index in `dir` (created if missing, must be empty) with the default folding.
    pub fn create(
        dir: &Path,
        memory_budget_bytes: usize,
        threads: usize,
    ) -> Result<IndexBuilder, BuildError> {
        IndexBuilder::create_with(dir, BuildOptions::new(memory_budget_bytes, threads))
    }

    /// Starts an index in `dir` (created if missing, must be empty).
    pub fn create_with(dir: &Path, opts: BuildOptions) -> Result<IndexBuilder, BuildError> {
        let io_err = |source| BuildError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        if fs::read_dir(dir).map_err(io_err)?.next().is_some() {
            return Err(BuildError::DirectoryNotEmpty {
                path: dir.to_path_buf(),
            });
        }
        let (schema, fields) = build_schema(opts.store_text);
        let settings = IndexSettings {
            // Newest first within every segment (and kept so by merges), so that a search for
            // the newest hits can stop at the first `limit` it finds (schema 2).
            sort_by_field: Some(IndexSortByField {
                field: F_TIME.to_string(),
                order: Order::Desc,
            }),
            docstore_compression: Compressor::Lz4,
            // Larger blocks compress Chinese text better; a hit costs one block decompression.
            docstore_blocksize: 32_768,
            ..IndexSettings::default()
        };
        let index = Index::create(unsynced_dir(dir)?, schema, settings)?;
        let start = IndexInfo::new(opts.folding, opts.store_text, 0, 0);
        IndexBuilder::with_writer(dir, index, fields, opts, start)
    }

    /// The builder of `index`, which holds what `start` says (its folding, stored text and
    /// counts), with its indexing threads started.
    fn with_writer(
        dir: &Path,
        index: Index,
        fields: Fields,
        opts: BuildOptions,
        start: IndexInfo,
    ) -> Result<IndexBuilder, BuildError> {
        let (threads, memory_budget_bytes) = fit_threads(opts.memory_budget_bytes, opts.threads);
        tokenizer::register(&index, start.folding);
        let writer: IndexWriter = index.writer_with_num_threads(threads, memory_budget_bytes)?;
        // Merging while messages arrive would rewrite the same postings several times; one
        // merge at the end is cheaper.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        Ok(IndexBuilder {
            dir: dir.to_path_buf(),
            index,
            writer,
            fields,
            folding: start.folding,
            store_text: start.stored_text,
            merge: opts.merge,
            docs: start.doc_count,
            text_bytes: start.text_bytes,
            threads,
            memory_budget_bytes,
            started: Instant::now(),
        })
    }

    /// Opens the index that an earlier build left in `dir` (as [`IndexBuilder::finish`] left
    /// it) to add messages to it and take conversations out of it. Its folding and stored
    /// text are kept (those of `opts` are ignored); an index of another schema or tokenizer
    /// version is refused, and the caller builds a new one instead. The segments it has stay
    /// as they are unless [`SegmentMerge`] says otherwise at [`IndexBuilder::finish`].
    pub fn open_existing(dir: &Path, opts: BuildOptions) -> Result<IndexBuilder, BuildError> {
        let refuse = |reason: String| BuildError::NotExtendable {
            path: dir.to_path_buf(),
            reason,
        };
        let info_path = dir.join(INFO_FILE);
        let bytes = fs::read(&info_path).map_err(|source| BuildError::Io {
            path: info_path.clone(),
            source,
        })?;
        let info = crate::search::check_info(&bytes).map_err(|e| refuse(e.to_string()))?;
        let index = Index::open(unsynced_dir(dir)?).map_err(|e| refuse(e.to_string()))?;
        if !crate::schema::newest_first(&index) {
            return Err(refuse("its segments are not sorted newest first".into()));
        }
        let fields = crate::schema::fields_of(&index.schema())
            .filter(|f| f.text.is_some() == info.stored_text)
            .ok_or_else(|| refuse("its fields are not the expected ones".into()))?;
        IndexBuilder::with_writer(dir, index, fields, opts, info)
    }

    /// Takes every message of one conversation out of the index (to add its new messages
    /// after). `messages` is how many it holds, for the version file's count.
    pub fn delete_chat(&mut self, chat: &str, messages: u64) -> Result<(), BuildError> {
        let term = tantivy::Term::from_field_text(self.fields.chat, chat);
        // The chat id is a fast column, not indexed: a range over the column's dictionary
        // finds its documents.
        let query = tantivy::query::RangeQuery::new(
            std::ops::Bound::Included(term.clone()),
            std::ops::Bound::Included(term),
        );
        self.writer.delete_query(Box::new(query))?;
        self.docs = self.docs.saturating_sub(messages);
        Ok(())
    }

    /// Adds one message. The text is folded and tokenized on the indexing threads.
    pub fn add(&mut self, doc: &IndexDoc) -> Result<(), BuildError> {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        if let Some(text) = f.text {
            d.add_text(text, &doc.text);
        }
        d.add_text(f.grams, &doc.text);
        d.add_text(f.chat, &doc.chat);
        d.add_text(f.sender_name, fold(&doc.sender, self.folding));
        if let Some(id) = &doc.sender_id {
            d.add_text(f.sender_id, fold(id, self.folding));
        }
        d.add_u64(f.time, encode_time(doc.time));
        d.add_u64(f.seq, doc.seq);
        self.writer.add_document(d)?;
        self.docs += 1;
        self.text_bytes += doc.text.len() as u64;
        Ok(())
    }

    /// Messages added so far.
    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Commits, merges into one segment, removes everything but the index's own files, and
    /// writes the version file.
    pub fn finish(self) -> Result<IndexBuildStats, BuildError> {
        let add_time = self.started.elapsed();
        let finish_started = Instant::now();
        let IndexBuilder {
            dir,
            index,
            mut writer,
            folding,
            store_text,
            merge,
            docs,
            text_bytes,
            threads,
            memory_budget_bytes,
            ..
        } = self;
        writer.commit()?;
        let commit_time = finish_started.elapsed();
        let segments = index.searchable_segment_ids()?;
        let to_merge = match merge {
            SegmentMerge::Auto if segments.len() > MAX_SEGMENTS => segments.clone(),
            SegmentMerge::Always if segments.len() > 1 => segments.clone(),
            _ => Vec::new(),
        };
        if !to_merge.is_empty() {
            writer.merge(&to_merge).wait()?;
        }
        writer.wait_merging_threads()?;
        let merge_time = finish_started.elapsed() - commit_time;

        // Keep meta.json and the files of the living segments; anything else in the directory
        // (created empty by us) is tantivy bookkeeping or garbage.
        let living: Vec<String> = index
            .searchable_segment_metas()?
            .iter()
            .map(|m| m.id().uuid_string())
            .collect();
        let mut keep: HashSet<String> = HashSet::new();
        keep.insert("meta.json".to_string());
        let info = IndexInfo::new(folding, store_text, docs, text_bytes);
        let info_json = serde_json::to_vec_pretty(&info).map_err(|e| BuildError::Io {
            path: dir.join(INFO_FILE),
            source: io::Error::other(e),
        })?;
        let info_path = dir.join(INFO_FILE);
        fs::write(&info_path, info_json).map_err(|source| BuildError::Io {
            path: info_path.clone(),
            source,
        })?;
        keep.insert(INFO_FILE.to_string());
        // Every file of a segment is named `<segment uuid>.<component>`.
        let is_kept = |name: &str| {
            keep.contains(name)
                || living.iter().any(|uuid| {
                    name.strip_prefix(uuid.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        };

        let mut files = Vec::new();
        let mut index_bytes = 0;
        let entries = fs::read_dir(&dir).map_err(|source| BuildError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| BuildError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let io_err = |source| BuildError::Io {
                path: path.clone(),
                source,
            };
            if is_kept(&name) && entry.file_type().map_err(io_err)?.is_file() {
                index_bytes += entry.metadata().map_err(io_err)?.len();
                files.push(name);
            } else if entry.file_type().map_err(io_err)?.is_dir() {
                fs::remove_dir_all(&path).map_err(io_err)?;
            } else {
                fs::remove_file(&path).map_err(io_err)?;
            }
        }
        files.sort();
        Ok(IndexBuildStats {
            docs,
            text_bytes,
            index_bytes,
            files,
            threads,
            memory_budget_bytes,
            segments_written: segments.len(),
            segments: living.len(),
            add_time,
            commit_time,
            merge_time,
        })
    }
}

/// The directory to build in: tantivy's, without its syncs (see the `unsynced` module).
fn unsynced_dir(dir: &Path) -> Result<crate::unsynced::UnsyncedDirectory, BuildError> {
    crate::unsynced::UnsyncedDirectory::open(dir).map_err(|e| BuildError::Io {
        path: dir.to_path_buf(),
        source: io::Error::other(e),
    })
}

/// Largest memory budget tantivy accepts per indexing thread (its arena addresses are 32-bit).
const MAX_MEMORY_PER_THREAD: usize = 4_000_000_000;

/// Threads and total budget such that each thread gets at least tantivy's minimum and at
/// most its maximum.
fn fit_threads(memory_budget_bytes: usize, threads: usize) -> (usize, usize) {
    let budget = memory_budget_bytes.max(MIN_MEMORY_PER_THREAD);
    let threads = threads.clamp(1, (budget / MIN_MEMORY_PER_THREAD).max(1));
    (threads, budget.min(threads.saturating_mul(MAX_MEMORY_PER_THREAD)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_fit_the_budget() {
        assert_eq!(fit_threads(0, 4), (1, MIN_MEMORY_PER_THREAD));
        assert_eq!(fit_threads(40_000_000, 4), (2, 40_000_000));
        assert_eq!(fit_threads(1_000_000_000, 2), (2, 1_000_000_000));
        assert_eq!(fit_threads(1_000_000_000, 0), (1, 1_000_000_000));
        assert_eq!(fit_threads(usize::MAX, 2), (2, 2 * MAX_MEMORY_PER_THREAD));
    }
}
