//! Helpers shared by the end-to-end tests: run the real binary, make input trees, check with
//! independent readers.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn qqvault() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qqvault"))
}

pub fn run(args: &[&str]) -> Output {
    qqvault().args(args).output().expect("run qqvault")
}

pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    qqvault()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run qqvault")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts an exit code, showing the output when it differs.
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(
        code(o),
        want,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every regular file below `root`, as (relative path, bytes), sorted.
pub fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.push((
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                fs::read(e.path()).unwrap(),
            ));
        }
    }
    out
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `unzip -tq` must accept the archive.
pub fn unzip_test(archive: &Path) {
    if !have("unzip") {
        eprintln!("skipping unzip -t: unzip is not installed");
        return;
    }
    let o = Command::new("unzip").arg("-tq").arg(archive).output().unwrap();
    assert!(
        o.status.success(),
        "unzip -t failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Python's zipfile must read every entry with a good CRC.
pub fn python_zip_test(archive: &Path) {
    if !have("python3") {
        eprintln!("skipping Python zipfile test: python3 is not installed");
        return;
    }
    let o = Command::new("python3")
        .arg("-c")
        .arg("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\nassert bad is None, bad\nprint(len(z.infolist()))")
        .arg(archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "python zipfile test failed: {}", stderr(&o));
}

pub fn python(script: &str, args: &[&Path]) -> Output {
    let mut c = Command::new("python3");
    c.arg("-c").arg(script);
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

/// `qqvault backup INPUT -o ARCHIVE --json EXTRA...`, which must succeed: its summary.
pub fn backup_json(input: &Path, archive: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "backup",
        input.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    expect_code(&o, 0);
    json(&o)
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

pub fn shared_fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: shared fixtures absent (../shared/fixtures)");
        None
    }
}

/// Runs qqvault with `args` and kills it (SIGKILL on Unix) once `partial` has grown to `bytes`:
/// a run interrupted in the middle of writing. Fails if the run ends first.
pub fn kill_mid_write(args: &[&str], partial: &Path, bytes: u64) {
    let mut child = qqvault().args(args).spawn().expect("start qqvault");
    let start = std::time::Instant::now();
    while fs::metadata(partial).map(|m| m.len()).unwrap_or(0) < bytes {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            start.elapsed().as_secs() < 60,
            "the partial file never grew to {bytes} bytes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
