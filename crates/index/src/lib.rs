//! The full-text index of qqvault: exact substring search over chat messages.
//!
//! A term matches a message when the folded term ([`fold`]: NFKC, then lower case) is a
//! substring of the folded message text. The index finds exactly what such a scan finds: 灯
//! finds 大灯, 京大 finds 北京大学, ABC finds ａｂｃ, 138 finds 13812345678.
//!
//! How (see each module for the why):
//! - [`tokenizer`]: the folded text is indexed as overlapping character bigrams with real
//!   positions, plus single characters;
//! - [`build`]: [`IndexBuilder`] writes a directory of files that the archive stores as they are,
//!   with a version file, [`INFO_FILE`];
//! - [`search`]: [`Searcher`] opens those files in place (byte ranges of the archive, through a
//!   read-only tantivy directory), turns each term into an exact phrase query over its bigrams,
//!   and verifies every hit against its stored text with [`Query::matches`], the same function a
//!   scan uses.
//!
//! An index written by a build with another schema, tokenizer or folding is refused with
//! [`OpenError::VersionMismatch`], so the caller can fall back to a scan with [`fold`],
//! [`Query::matches`], [`Filters::accepts`] and [`SortOrder::compare`].

pub mod build;
mod directory;
mod fold;
mod query;
mod schema;
pub mod search;
pub mod tokenizer;

pub use build::{BuildError, BuildOptions, IndexBuildStats, IndexBuilder, IndexDoc};
pub use directory::IndexFileSlice;
pub use fold::{fold, FoldOptions, ScriptFolding};
pub use query::{Query, QueryError, QueryTerm};
pub use schema::{IndexInfo, INFO_FILE, SCHEMA_VERSION};
pub use search::{Filters, Hit, OpenError, SearchError, Searcher, SortOrder};
pub use tokenizer::TOKENIZER_VERSION;
