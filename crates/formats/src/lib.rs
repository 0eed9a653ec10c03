//! Decoding and parsing of QQ chat exports: the `decode` and `parse` stages of the pipeline.
//!
//! Everything here is pure: bytes (or a reader) in, model types and findings out, through a
//! [`ChatSink`]. Nothing here prints, touches the archive or knows about other stages.

mod body;
pub mod decode;
pub mod formats;
pub mod merge;
pub mod sink;
pub mod sniff;
pub mod spill;

pub use sink::{ChatSink, ParseFinding};
