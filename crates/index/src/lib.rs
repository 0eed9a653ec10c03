//! The full-text index of qqvault: exact substring search over chat messages.
//!
//! A term matches a message when the folded term ([`fold`]: NFKC, then lower case) is a
//! substring of the folded message text. The index finds exactly what such a scan finds: 灯
//! finds 大灯, 京大 finds 北京大学, ABC finds ａｂｃ, 138 finds 13812345678.
//!
//! # How
//! - **Tokens.** The folded text is indexed as overlapping character bigrams with real,
//!   increasing positions, plus its last character alone (tokenizer module). Every character
//!   takes part: CJK, Latin, digits, punctuation, whitespace.
//! - **Terms.** A term of two characters is a term query; a longer one is a phrase query of
//!   bigrams pinned at offsets that cover every character, which is an exact substring test.
//!   A one-character term is the union of the postings of all tokens starting with it (a range
//!   of the term dictionary), merged lazily a window of documents at a time. The terms are
//!   intersected in document order; exclusions are skipped to.
//! - **Order.** Every segment holds its documents newest first (tantivy's index sorting on the
//!   time column), so a "newest first" search with a limit stops reading a segment once it has
//!   `limit` candidates and reaches an older document: a common term costs no more than a rare
//!   one.
//! - **Filters.** Chat, sender and time are fast columns, checked per candidate; the best
//!   `limit` candidates are kept by selection, so a common term does not allocate per match.
//! - **Verification.** With [`BuildOptions::store_text`] the texts are stored and every hit is
//!   checked with [`Query::matches`], the function a scan uses. It is off by default: the
//!   phrase queries are exact by construction (the parity tests compare thousands of random
//!   queries with a scan, with and without stored text), and storing costs about 0.9 times the
//!   text. The caller, which fetches each hit's message from the archive anyway, can re-check
//!   it with `query.matches(&fold(&text, searcher.info().folding))` at no cost.
//! - **Files.** [`IndexBuilder`] writes a directory the archive stores as it is, with a version
//!   file, [`INFO_FILE`]. [`Searcher::open_slices`] reads those files in place, as byte ranges
//!   of the archive, through a read-only tantivy directory that writes nothing anywhere.
//!
//! An index written with another schema, tokenizer or folding is refused with
//! [`OpenError::VersionMismatch`], so the caller can fall back to a scan with [`fold`],
//! [`Query::matches`], [`Filters::accepts`] and [`SortOrder::compare`].
//!
//! # Figures (generated short Chinese messages, 22 characters and 58 bytes on average; 2 cores)
//! | messages | segments | build | index / text |
//! |---|---|---|---|
//! | 200,000 | 2 (as the threads wrote them) | 126k msg/s | 2.48 |
//! | 200,000 | 1 (merged) | 70k msg/s | 2.29 |
//! | 2,000,000 | 2 (1 GB budget) | 91k msg/s | 1.92 |
//! | 2,000,000 | 1 (merged) | 64k msg/s | 1.78 |
//!
//! Searching 2 million messages for a word with 70,000 hits, newest 20, takes 2 to 4 ms in a
//! warm process and 7 to 15 ms as a fresh process; a common single character (的, in 46% of
//! the messages) about 20 ms warm. Stored text adds about 0.9 to the ratio.
//!
//! These figures are of schema 1, whose documents were in the order they were added. Schema 2
//! sorts them newest first, which costs the build about 5% and lets a newest-first search with
//! a limit stop early; the README's Benchmarks give the figures of the command-line search.

mod build;
mod directory;
mod fold;
mod query;
mod schema;
mod search;
mod tokenizer;
mod unsynced;

pub use build::{
    BuildError, BuildOptions, IndexBuildStats, IndexBuilder, IndexDoc, SegmentMerge, MAX_SEGMENTS,
    MIN_MEMORY_PER_THREAD,
};
pub use directory::IndexFileSlice;
pub use fold::{fold, FoldOptions, ScriptFolding};
pub use query::{Query, QueryError, QueryTerm};
pub use schema::{IndexInfo, INFO_FILE, SCHEMA_VERSION};
pub use search::{Filters, Hit, OpenError, SearchError, Searcher, SortOrder};
pub use tokenizer::TOKENIZER_VERSION;
