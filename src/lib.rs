//! qqvault: turn QQ chat exports and data folders into one verified zip archive.
//!
//! The pipeline (one way through):
//!
//! ```text
//! inputs -> scan -> plan (group by size, hash twins) -> decode + parse chat exports
//!        -> write (originals once each, chats, media, index, manifest last)
//!        -> verify the written file -> seal -> sync -> rename
//! archive -> verify / restore / list / show / search / info   (the read side needs only the archive)
//! ```
//!
//! [`backup`] is the driver; [`archive`] holds the format; the parsers live in the
//! `qqvault-formats` crate and the index in `qqvault-index`. The library never prints: it reports
//! progress through [`progress::Progress`] and returns findings as data.

pub mod archive;
pub mod backup;
pub mod block_reuse;
pub mod carry;
pub mod chats;
pub mod conversations;
pub mod error;
pub mod export;
pub mod info;
pub mod ingest;
pub mod names;
pub mod progress;
pub mod reindex;
pub mod scan;
pub mod scratch;
pub mod search_index;
pub mod viewer;

pub use error::{Error, Result};
