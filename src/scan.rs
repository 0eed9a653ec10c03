//! The `scan` stage: walk the inputs and list what is there, without reading any content.
//!
//! Every regular file becomes a [`ScannedFile`] with its archive path (the input's own name as
//! the top folder). What cannot be archived (FIFOs, sockets, unreadable folders, broken links,
//! link loops) becomes a [`Skipped`] record instead of an error, so that the rest is still
//! saved. Symbolic links are listed, and followed only when asked.

use crate::names::{ArchivePath, RawName};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an input was not archived. The names are stable and documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    PermissionDenied,
    Vanished,
    NotRegularFile,
    BrokenSymlink,
    SymlinkLoop,
    ChangedWhileReading,
    Unreadable,
    /// A reason written by a later version.
    #[serde(other)]
    Other,
}

impl SkipReason {
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::PermissionDenied => SkipReason::PermissionDenied,
            io::ErrorKind::NotFound => SkipReason::Vanished,
            _ => SkipReason::Unreadable,
        }
    }
}

/// An input that was not archived, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Skipped {
    /// The path as it is on disk (lossy where it is not UTF-8).
    pub path: String,
    pub reason: SkipReason,
    pub detail: String,
}

/// A symbolic link met during the walk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SymlinkRecord {
    /// Its archive path.
    pub path: String,
    /// Where it points, as stored in the link.
    pub target: String,
    /// Whether the walk followed it (`--follow-symlinks`).
    pub followed: bool,
}

/// One input argument.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRoot {
    /// The path as given on the command line.
    pub given: String,
    /// Its top folder in the archive (the input's own name, made distinct when two inputs share
    /// a name).
    pub top: String,
    pub is_dir: bool,
}

/// A file's modification time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FileTime {
    pub secs: i64,
    pub nanos: u32,
}

impl FileTime {
    pub fn from_system(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => FileTime {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                if d.subsec_nanos() == 0 {
                    FileTime {
                        secs: -(d.as_secs() as i64),
                        nanos: 0,
                    }
                } else {
                    FileTime {
                        secs: -(d.as_secs() as i64) - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }
    pub fn to_system(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + std::time::Duration::new(self.secs as u64, self.nanos)
        } else {
            UNIX_EPOCH - std::time::Duration::from_secs(self.secs.unsigned_abs())
                + std::time::Duration::from_nanos(self.nanos as u64)
        }
    }
}

/// A regular file found by the walk.
#[derive(Clone, Debug)]
pub struct ScannedFile {
    /// Where it is on disk.
    pub disk_path: PathBuf,
    /// Where it goes in the archive, below `files/`.
    pub archive_path: ArchivePath,
    pub size: u64,
    pub mtime: FileTime,
}

#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    pub follow_symlinks: bool,
    /// Files never taken as inputs (the archive being written and its temporary file).
    pub exclude: Vec<PathBuf>,
    /// The inputs of the archive being updated: an input given by the same path, or else of the
    /// same name, goes to the same top folder, so that its files keep their archive paths.
    pub earlier_roots: Vec<InputRoot>,
}

#[derive(Debug, Default)]
pub struct ScanResult {
    pub roots: Vec<InputRoot>,
    pub files: Vec<ScannedFile>,
    pub skipped: Vec<Skipped>,
    pub symlinks: Vec<SymlinkRecord>,
    /// Files left out because they are the archive itself or its temporary file.
    pub excluded: Vec<String>,
}

/// Walks every input and lists what is there.
pub fn scan(inputs: &[PathBuf], opts: &ScanOptions) -> ScanResult {
    let mut result = ScanResult::default();
    let exclude: Vec<PathBuf> = opts
        .exclude
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect();
    let exclude_names: HashSet<std::ffi::OsString> = opts
        .exclude
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
        .collect();
    let mut tops = HashSet::new();
    // New inputs must not take the top folder of an earlier input they are not.
    let mut reserved: HashSet<String> = opts.earlier_roots.iter().map(|r| r.top.clone()).collect();
    let mut seen_names = HashSet::new();
    for input in inputs {
        let top = match earlier_top(input, &opts.earlier_roots, &mut tops) {
            Some(t) => {
                reserved.remove(&t);
                t
            }
            None => distinct_top(input, &mut tops, &reserved),
        };
        let meta = match fs::symlink_metadata(input) {
            Ok(m) => m,
            Err(e) => {
                result.skipped.push(Skipped {
                    path: input.display().to_string(),
                    reason: SkipReason::from_io(&e),
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let is_dir = fs::metadata(input).map(|m| m.is_dir()).unwrap_or(meta.is_dir());
        result.roots.push(InputRoot {
            given: input.display().to_string(),
            top: top.clone(),
            is_dir,
        });
        let walker = walkdir::WalkDir::new(input)
            .follow_links(opts.follow_symlinks)
            .follow_root_links(true)
            .sort_by_file_name();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    let path = err
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| input.display().to_string());
                    let (reason, detail) = if err.loop_ancestor().is_some() {
                        (
                            SkipReason::SymlinkLoop,
                            format!(
                                "link loop back to {}",
                                err.loop_ancestor()
                                    .map(|p| p.display().to_string())
                                    .unwrap_or_default()
                            ),
                        )
                    } else if let Some(ioe) = err.io_error() {
                        let is_link = err
                            .path()
                            .and_then(|p| fs::symlink_metadata(p).ok())
                            .is_some_and(|m| m.file_type().is_symlink());
                        if is_link && ioe.kind() == io::ErrorKind::NotFound {
                            (
                                SkipReason::BrokenSymlink,
                                "the link points at nothing".to_string(),
                            )
                        } else {
                            (SkipReason::from_io(ioe), ioe.to_string())
                        }
                    } else {
                        (SkipReason::Unreadable, err.to_string())
                    };
                    result.skipped.push(Skipped { path, reason, detail });
                    continue;
                }
            };
            let rel = entry.path().strip_prefix(input).unwrap_or(Path::new(""));
            let archive_path = ArchivePath::from_parts(&top, rel);
            let ft = entry.file_type();
            if entry.path_is_symlink() {
                let target = fs::read_link(entry.path())
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                if !opts.follow_symlinks {
                    if fs::metadata(entry.path()).is_err() {
                        result.skipped.push(Skipped {
                            path: entry.path().display().to_string(),
                            reason: SkipReason::BrokenSymlink,
                            detail: format!("the link points at {target}, which does not exist"),
                        });
                    } else {
                        result.symlinks.push(SymlinkRecord {
                            path: archive_path.name.clone(),
                            target,
                            followed: false,
                        });
                    }
                    continue;
                }
                result.symlinks.push(SymlinkRecord {
                    path: archive_path.name.clone(),
                    target,
                    followed: true,
                });
            }
            if ft.is_dir() {
                continue;
            }
            if !ft.is_file() {
                result.skipped.push(Skipped {
                    path: entry.path().display().to_string(),
                    reason: SkipReason::NotRegularFile,
                    detail: describe_special(&ft).to_string(),
                });
                continue;
            }
            if entry.file_name() != "" && exclude_names.contains(entry.file_name()) {
                if let Ok(canon) = fs::canonicalize(entry.path()) {
                    if exclude.contains(&canon) {
                        result.excluded.push(entry.path().display().to_string());
                        continue;
                    }
                }
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(err) => {
                    let ioe = err.io_error().map(|e| io::Error::new(e.kind(), e.to_string()));
                    let reason = ioe
                        .as_ref()
                        .map(SkipReason::from_io)
                        .unwrap_or(SkipReason::Unreadable);
                    result.skipped.push(Skipped {
                        path: entry.path().display().to_string(),
                        reason,
                        detail: err.to_string(),
                    });
                    continue;
                }
            };
            // Two different raw names can decode to one archive name (invalid bytes replaced):
            // keep every file by making the later name distinct.
            let archive_path = archive_path.made_distinct(&mut seen_names, Some(rel));
            result.files.push(ScannedFile {
                disk_path: entry.path().to_path_buf(),
                archive_path,
                size: meta.len(),
                mtime: meta.modified().map(FileTime::from_system).unwrap_or_default(),
            });
        }
    }
    // The list lives until the manifest is written: no room to spare for more files.
    result.files.shrink_to_fit();
    result
}

fn describe_special(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe): its content is not a file's";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    let _ = ft;
    "not a regular file"
}

/// The top folder an earlier input of the same path, or else of the same name, had.
fn earlier_top(input: &Path, earlier: &[InputRoot], tops: &mut HashSet<String>) -> Option<String> {
    let canon = fs::canonicalize(input).ok();
    let same_path = earlier
        .iter()
        .find(|r| canon.is_some() && fs::canonicalize(&r.given).ok() == canon);
    let name = input.file_name().map(|n| RawName::from_os(n).decoded);
    let same_name = || {
        earlier
            .iter()
            .find(|r| Some(&r.top) == name.as_ref() && !tops.contains(&r.top))
    };
    let root = same_path.or_else(same_name)?;
    if tops.insert(root.top.clone()) {
        Some(root.top.clone())
    } else {
        None
    }
}

/// The input's own name as its top folder, made distinct from earlier inputs' tops.
fn distinct_top(input: &Path, tops: &mut HashSet<String>, reserved: &HashSet<String>) -> String {
    let base = input
        .file_name()
        .map(|n| RawName::from_os(n).decoded)
        .or_else(|| {
            fs::canonicalize(input)
                .ok()
                .and_then(|c| c.file_name().map(|n| RawName::from_os(n).decoded))
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "input".to_string());
    let base = base.replace(['/', '\\'], "_");
    let mut top = base.clone();
    let mut n = 2;
    while reserved.contains(&top) || !tops.insert(top.clone()) {
        top = format!("{base}~{n}");
        n += 1;
    }
    top
}
