//! How the library tells its caller what it is doing without printing: a small trait that the
//! CLI implements with a progress bar, and that tests and `--json` runs leave silent.

/// Receives progress of a long operation. Every method has a silent default.
pub trait Progress: Sync {
    /// A phase starts (such as "scanning", "hashing", "writing", "verifying"), with the total
    /// amount of bytes it will go through when known.
    fn phase(&self, _name: &str, _total_bytes: Option<u64>) {}
    /// Some bytes of the current phase are done.
    fn advance(&self, _bytes: u64) {}
    /// Files of the current phase done so far, of how many.
    fn files(&self, _done: u64, _total: u64) {}
    /// The current phase is over.
    fn finish_phase(&self) {}
}

/// A progress sink that ignores everything.
pub struct Silent;
impl Progress for Silent {}

/// Wall time of each stage of a run, for the report (`backup --json` "timings") and the
/// benchmarks.
#[derive(Debug)]
pub struct Timings {
    last: std::time::Instant,
    pub laps: std::collections::BTreeMap<String, f64>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            last: std::time::Instant::now(),
            laps: Default::default(),
        }
    }
}

impl Timings {
    /// Records the time since the previous lap under `stage`.
    pub fn lap(&mut self, stage: &str) {
        let now = std::time::Instant::now();
        let secs = (now - self.last).as_secs_f64();
        *self.laps.entry(stage.to_string()).or_default() += (secs * 1000.0).round() / 1000.0;
        self.last = now;
    }
}
