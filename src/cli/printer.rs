//! The only code that prints: human text, JSON, error messages and the progress bar.

use qqvault::progress::Progress;
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;

/// Why a command stopped early.
pub enum Failure {
    /// The reader of our output went away (`| head`): not an error.
    BrokenPipe,
    Error(qqvault::Error),
}

impl From<qqvault::Error> for Failure {
    fn from(e: qqvault::Error) -> Self {
        Failure::Error(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Error(qqvault::Error::write("standard output", e))
        }
    }
}

pub type CliResult = Result<i32, Failure>;

/// Standard output, locked and buffered.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

pub fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Prints an error and its causes to stderr.
pub fn error(e: &qqvault::Error) {
    let mut msg = format!("qqvault: error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{msg}");
    if let Some(hint) = e.hint() {
        eprintln!("qqvault: {hint}");
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal.
pub struct Bar {
    bar: Mutex<Option<indicatif::ProgressBar>>,
    enabled: bool,
    phase: Mutex<String>,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        Bar {
            bar: Mutex::new(None),
            enabled: !quiet && io::stderr().is_terminal(),
            phase: Mutex::new(String::new()),
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total_bytes: Option<u64>) {
        if !self.enabled {
            return;
        }
        let bar = match total_bytes {
            Some(t) => {
                let b = indicatif::ProgressBar::new(t);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            }
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_message(name.to_string());
        if let Ok(mut p) = self.phase.lock() {
            *p = name.to_string();
        }
        if let Ok(mut g) = self.bar.lock() {
            *g = Some(bar);
        }
    }
    fn files(&self, done: u64, total: u64) {
        if let (Ok(g), Ok(p)) = (self.bar.lock(), self.phase.lock()) {
            if let Some(b) = g.as_ref() {
                b.set_message(format!("{p} {done}/{total} files"));
            }
        }
    }
    fn advance(&self, bytes: u64) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.inc(bytes);
            }
        }
    }
    fn finish_phase(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
    }
}
