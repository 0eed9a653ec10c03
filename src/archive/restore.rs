//! Restoring files from an archive: plan first (what goes where, what is refused), then execute
//! the same plan, so that `--dry-run` shows exactly what a real run would do.

use crate::archive::read::ArchiveReader;
use crate::error::{Error, Result};
use crate::names;
use crate::scan::FileTime;
use qqvault_core::Sha256Digest;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Overwrite,
    /// A file is already there and --overwrite was not given.
    KeepExisting,
    /// The path would leave the target folder.
    Refuse,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanItem {
    pub path: String,
    pub dest: PathBuf,
    pub entry: String,
    pub size: u64,
    pub action: Action,
    pub reason: Option<String>,
    /// The name it is restored under when this system cannot hold its own (see
    /// [`names::windows_name`]), relative to the target folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
    #[serde(skip)]
    pub sha256: Sha256Digest,
    #[serde(skip)]
    pub mtime: FileTime,
}

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub restored: u64,
    pub bytes: u64,
    pub kept_existing: Vec<String>,
    pub refused: Vec<PlanItem>,
    /// Restored under another name: the archived path, and why and as what (the plan's reason).
    pub renamed: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
}

impl RestoreReport {
    pub fn exit_code(&self) -> i32 {
        if self.kept_existing.is_empty() && self.refused.is_empty() && self.failed.is_empty() {
            0
        } else {
            2
        }
    }
}

/// Which names the system restored onto can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRules {
    /// Any name but `/` and NUL (Unix).
    Unix,
    /// Windows: no `<>:"|?*\`, control characters, trailing dots or spaces, or device names.
    Windows,
}

impl NameRules {
    /// Whether names that differ only in letter case are one name (Windows; macOS, whose
    /// file system folds case unless made otherwise).
    pub fn folds_case(self) -> bool {
        self == NameRules::Windows || cfg!(target_os = "macos")
    }
    pub const NATIVE: NameRules = if cfg!(windows) {
        NameRules::Windows
    } else {
        NameRules::Unix
    };
}

/// The restore plan: every file at its path, and with `versions` also every earlier content
/// an update replaced, at its `versions/<when>/<path>`. A name that `rules` do not allow (a
/// file archived on another system) is given the nearest one they do, and said.
pub fn plan(
    reader: &ArchiveReader,
    target: &Path,
    overwrite: bool,
    versions: bool,
    rules: NameRules,
) -> Vec<PlanItem> {
    let earlier = reader.manifest.versions.iter().filter(|_| versions).map(|v| {
        let mut f = v.file.clone();
        // `versions/<when>/<path>`, <when> as a name every file system accepts.
        f.path = format!("versions/{}/{}", v.replaced.replace(':', "-"), v.file.path);
        f.raw_path = None;
        f
    });
    let files: Vec<_> = reader.manifest.files.iter().cloned().chain(earlier).collect();
    // What each file would be called here before names are told apart: refused, or its own
    // name, or (where this system cannot hold that) its nearest one.
    let firsts: Vec<(Option<&'static str>, Option<String>)> = files
        .iter()
        .map(|f| {
            let unsafe_reason = names::unsafe_reason(&f.path).or_else(|| {
                f.path
                    .split('/')
                    .any(|p| p.is_empty() || p == ".")
                    .then_some("empty or '.' path component")
            });
            // Names recorded as the system's own bytes were that system's names: only a name
            // spelled from UTF-8 can be one this system cannot hold.
            let own_bytes = f.raw_path.as_ref().is_some_and(|r| {
                r.os == if rules == NameRules::Windows {
                    "windows"
                } else {
                    "unix"
                }
            });
            let fitted = match rules {
                NameRules::Windows if !own_bytes && unsafe_reason.is_none() => names::windows_path(&f.path),
                _ => None,
            };
            (unsafe_reason, fitted)
        })
        .collect();
    // Where letter case does not tell names apart, a name kept as it is belongs to the first
    // file that has it; any other file that would take it (a second one but for case, or a
    // name given above) is numbered as the archive numbers twins (`a~2.jpg`), past every name
    // a file has of its own.
    let folds = rules.folds_case();
    let mut owner: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    if folds {
        for (i, (f, (unsafe_reason, fitted))) in files.iter().zip(&firsts).enumerate() {
            if unsafe_reason.is_none() && fitted.is_none() {
                owner.entry(names::case_key(&f.path)).or_insert(i);
            }
        }
    }
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    files
        .into_iter()
        .zip(firsts)
        .enumerate()
        .map(|(i, (f, (unsafe_reason, mut fitted)))| {
            let mut why = Vec::new();
            if fitted.is_some() {
                why.push("this system cannot hold the original name");
            }
            if folds && unsafe_reason.is_none() {
                let name = fitted.clone().unwrap_or_else(|| f.path.clone());
                let key = names::case_key(&name);
                let free = |k: &String, taken: &std::collections::HashSet<String>| {
                    !taken.contains(k) && owner.get(k).is_none_or(|&o| o == i)
                };
                if free(&key, &taken) {
                    taken.insert(key);
                } else {
                    let distinct = (2..)
                        .map(|n| names::numbered(&name, n))
                        .find(|c| free(&names::case_key(c), &taken))
                        .unwrap_or(name);
                    taken.insert(names::case_key(&distinct));
                    fitted = Some(distinct);
                    why.push("another file has that name here, letter case aside");
                }
            }
            let name = fitted.as_deref().unwrap_or(&f.path);
            let dest = names::restore_path(
                target,
                name,
                if fitted.is_some() {
                    None
                } else {
                    f.raw_path.as_ref()
                },
            );
            // Every part must be one plain name on this system: `c:x` or `a\b` are on Windows
            // a drive or two names, and would put the file elsewhere.
            let escapes = match dest.strip_prefix(target) {
                Ok(rel) => {
                    let parts: Vec<_> = rel.components().collect();
                    parts.len() != name.split('/').count()
                        || parts
                            .iter()
                            .any(|c| !matches!(c, std::path::Component::Normal(_)))
                }
                Err(_) => true,
            };
            let (action, reason) = if let Some(r) = unsafe_reason {
                (Action::Refuse, Some(r.to_string()))
            } else if escapes {
                (
                    Action::Refuse,
                    Some("the original name leaves the target folder".to_string()),
                )
            } else if dest.symlink_metadata().is_ok() {
                if overwrite {
                    (Action::Overwrite, None)
                } else {
                    (
                        Action::KeepExisting,
                        Some("a file is already there; pass --overwrite to replace it".to_string()),
                    )
                }
            } else {
                (Action::Create, None)
            };
            let reason = match (&fitted, action) {
                (Some(n), Action::Create | Action::Overwrite) => {
                    Some(format!("restored as {n}: {}", why.join("; ")))
                }
                _ => reason,
            };
            PlanItem {
                path: f.path.clone(),
                dest,
                entry: f.entry.clone(),
                size: f.size,
                action,
                reason,
                renamed_to: fitted,
                sha256: f.sha256,
                mtime: f.mtime,
            }
        })
        .collect()
}

pub fn execute(reader: &mut ArchiveReader, items: Vec<PlanItem>) -> Result<RestoreReport> {
    let mut report = RestoreReport::default();
    for item in items {
        match item.action {
            Action::Refuse => report.refused.push(item),
            Action::KeepExisting => report.kept_existing.push(item.path),
            // A file where the plan found none: another file of this archive took the name
            // (a system that tells apart fewer names than the plan knew of), or something else
            // did. Nothing is replaced that the plan did not say it would replace.
            Action::Create if item.dest.symlink_metadata().is_ok() => report.failed.push((
                item.path.clone(),
                format!(
                    "{} is there already, though it was not when this restore began (this system takes another file's name for it); nothing was replaced: restore into an empty folder, or on a system that tells the two names apart",
                    item.dest.display()
                ),
            )),
            Action::Create | Action::Overwrite => match restore_one(reader, &item) {
                Ok(()) => {
                    report.restored += 1;
                    report.bytes += item.size;
                    if item.renamed_to.is_some() {
                        report.renamed.push((item.path, item.reason.unwrap_or_default()));
                    }
                }
                Err(e) => report.failed.push((item.path.clone(), e)),
            },
        }
    }
    Ok(report)
}

fn restore_one(reader: &mut ArchiveReader, item: &PlanItem) -> std::result::Result<(), String> {
    let parent = item.dest.parent().ok_or("no parent folder")?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let mut tmp_name = item
        .dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".qqvault-restoring");
    let tmp = item.dest.with_file_name(tmp_name);
    let result = (|| -> std::result::Result<(), String> {
        let mut entry = reader
            .zip
            .by_name(&item.entry)
            .map_err(|e| format!("entry {}: {e}", item.entry))?;
        let mut out = fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("entry {} cannot be read: {e}", item.entry)),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        }
        let digest = Sha256Digest(hasher.finalize().into());
        if digest != item.sha256 {
            return Err(format!(
                "entry {} does not hold the recorded content (SHA-256 {digest}); run qqvault verify",
                item.entry
            ));
        }
        out.set_modified(item.mtime.to_system())
            .map_err(|e| format!("cannot set the time of {}: {e}", tmp.display()))?;
        out.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &item.dest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot move into place {}: {e}", item.dest.display())
    })
}

/// Opens the archive and restores every file below `target`.
pub fn restore(archive: &Path, target: &Path, overwrite: bool) -> Result<RestoreReport> {
    let mut reader = ArchiveReader::open(archive)?;
    fs::create_dir_all(target).map_err(|e| Error::write(target, e))?;
    let items = plan(&reader, target, overwrite, false, NameRules::NATIVE);
    execute(&mut reader, items)
}
