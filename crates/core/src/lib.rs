//! The ground floor of qqvault: the domain types that every stage shares.
//!
//! The parsers (`qqvault-formats`) produce these types, the archive writer stores them and the
//! search index (`qqvault-index`) reads them; none of those depends on another, only on this crate.

mod digest;
mod model;

pub use digest::{Sha256Digest, Sha256Writer};
pub use model::*;
