//! How the library tells its caller what it is doing without printing: a small trait that the
//! CLI implements with a progress bar, and that tests and `--json` runs leave silent.

/// Receives progress of a long operation. Every method has a silent default.
pub trait Progress: Sync {
    /// A phase starts (such as "scanning", "hashing", "writing", "verifying"), with the total
    /// amount of bytes it will go through when known.
    fn phase(&self, _name: &str, _total_bytes: Option<u64>) {}
    /// Some bytes of the current phase are done.
    fn advance(&self, _bytes: u64) {}
    /// The current phase is over.
    fn finish_phase(&self) {}
}

/// A progress sink that ignores everything.
pub struct Silent;
impl Progress for Silent {}
