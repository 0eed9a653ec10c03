//! The backup driver: the one place that knows the order of the stages.
//!
//! scan -> plan (group by size; hash only files that share a size) -> write (originals once each,
//! parsed chats, manifest last) -> verify the written file whole -> seal -> sync -> rename.
//! A failed or interrupted run leaves the final name untouched: everything is written to
//! `ARCHIVE.partial` first.

use crate::archive::layout;
use crate::archive::manifest::{EntryKind, FileRecord, Manifest, Method, ToolInfo, Totals};
use crate::archive::seal::Seal;
use crate::archive::verify::{self, VerifyOptions};
use crate::archive::write::{self, ArchiveWriter, StreamError, SMALL_FILE_LIMIT};
use crate::chats::ChatTotals;
use crate::error::{Error, Result};
use crate::ingest::{self, FoundExport, Ingest};
use crate::progress::Progress;
use crate::scan::{self, ScanOptions, ScannedFile, SkipReason, Skipped, SymlinkRecord};
use qqvault_core::Sha256Digest;
use qqvault_formats::sniff::ExportKind;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct BackupOptions {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub force: bool,
    pub follow_symlinks: bool,
    /// The wall clock used where an export stores instants (qq-chat-exporter's epoch times).
    pub tz: qqvault_formats::formats::qce::WallClock,
    /// Leave out the HTML pages under `viewer/`.
    pub no_viewer: bool,
    /// Leave out the search index (`search` then scans every message; `reindex` adds it).
    pub no_index: bool,
    /// Add the inputs to the existing archive at `output` instead of writing a new one.
    pub update: bool,
    /// With `update`: only say what the update would add, change and keep.
    pub dry_run: bool,
}

/// What an update would do, or did (`backup --update --dry-run` prints it).
#[derive(Debug, Default, Serialize)]
pub struct UpdatePlan {
    /// Paths the archive does not hold yet.
    pub added: Vec<String>,
    /// Paths that arrive with new content (the earlier content stays as a version).
    pub changed: Vec<String>,
    /// Input paths whose content the archive already holds at that path.
    pub unchanged: u64,
    /// Paths the archive holds that are not among these inputs (kept as they are).
    pub kept: u64,
    /// Distinct contents to store, and their size.
    pub new_contents: u64,
    pub new_bytes: u64,
    /// What became of the conversations (not in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chats: Option<ChatUpdate>,
    /// Bytes at the start of the earlier archive (its README, originals and images, up to the
    /// first entry that changes) copied into the new one as one block (not in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied_as_block: Option<u64>,
}

/// How an update brought the conversations up to date.
#[derive(Debug, Default, Serialize)]
pub struct ChatUpdate {
    /// Earlier conversations that no new export holds: copied as they were, with their pages,
    /// and kept in the search index.
    pub carried: u64,
    /// Conversations merged and written anew (those the new exports hold).
    pub merged: u64,
    /// Earlier exports parsed again, for the conversations merged anew.
    pub exports_parsed_again: u64,
    /// Whether everything was parsed again (the archive was written by another version of
    /// qqvault, or without the index or viewer this run makes).
    pub rebuilt: bool,
    /// Whether the earlier search index was extended rather than built anew.
    pub index_extended: bool,
}

/// The length of an update's block and the SHA-256 state after it, made by the block copy from
/// the bytes it wrote and handed to the check of the earlier archive's seal.
type BlockHash = (u64, sha2::Sha256);

/// The archive an update starts from.
struct Earlier {
    reader: crate::archive::read::ArchiveReader,
    /// Content hash -> entry, for every stored file and image.
    stored: HashMap<Sha256Digest, String>,
    by_path: HashMap<String, FileRecord>,
    /// `versions/<when>/` for contents this update replaces.
    version_prefix: String,
    /// The check of its seal, running while the update copies it.
    seal_check: Option<std::thread::JoinHandle<verify::SealCheck>>,
    /// Whether that check matched (then it is not made again).
    intact: bool,
    /// The hash state after the block copied from its start (see `verify::KnownPrefix`).
    copied: Option<(u64, sha2::Sha256)>,
    /// The entries in that block, with where each lies in it.
    block: HashMap<String, std::ops::Range<u64>>,
}

impl Earlier {
    fn open(path: &Path, progress: &dyn Progress) -> Result<Self> {
        let reader = match crate::archive::read::ArchiveReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                // Say what is damaged when it is damage.
                verify::require_intact(path, progress, "restore what it holds into a new backup")?;
                return Err(e);
            }
        };
        let m = &reader.manifest;
        let mut stored = HashMap::new();
        for e in &m.entries {
            if matches!(e.kind, EntryKind::File | EntryKind::Media) {
                stored.entry(e.sha256).or_insert_with(|| e.name.clone());
            }
        }
        let by_path = m.files.iter().map(|f| (f.path.clone(), f.clone())).collect();
        // The folder of the contents this update replaces: unique even for two updates within
        // one second.
        let when = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H-%M-%S%.3fZ")
            .to_string();
        let mut prefix = format!("versions/{when}/");
        let mut n = 2;
        while m.entries.iter().any(|e| e.name.starts_with(&prefix)) {
            prefix = format!("versions/{when}-{n}/");
            n += 1;
        }
        Ok(Earlier {
            reader,
            stored,
            by_path,
            version_prefix: prefix,
            seal_check: None,
            intact: false,
            copied: None,
            block: HashMap::new(),
        })
    }

    /// Starts the check of its seal on a thread of its own. Never build on damage: copied
    /// entries would carry it into the new archive, and the failure would only show at the
    /// end, blamed on the new file. The seal holds the hash of all the archive's bytes,
    /// written once it had been checked whole, so its hash is checked, beside the update's
    /// work (see `require_intact`). `copied`: where the block copy (see [`BlockCopy`]) hands
    /// over its length and the hash's state after it, made from the very bytes it wrote; the
    /// check goes on from there, and that state is kept for the check of the new archive.
    /// Without it (no block, or a copy that stopped short) the check hashes the archive from
    /// its start.
    fn check_seal(&mut self, copied: Option<std::sync::mpsc::Receiver<BlockHash>>) {
        if self.seal_check.is_none() && !self.intact {
            let sealed = self.reader.path.clone();
            // A thread that panics is taken as no match (`require_intact`).
            self.seal_check = Some(std::thread::spawn(move || {
                let start = copied.and_then(|r| r.recv().ok());
                verify::seal_matches(&sealed, start)
            }));
        }
    }

    /// Waits for the seal's check; when the bytes do not match it, checks the archive whole
    /// to say what is damaged, and refuses to go on.
    fn require_intact(&mut self, progress: &dyn Progress) -> Result<()> {
        if self.intact {
            return Ok(());
        }
        self.check_seal(None);
        let check = match self.seal_check.take() {
            Some(h) => h.join().unwrap_or_default(),
            None => verify::SealCheck::default(),
        };
        if check.matched {
            self.intact = true;
            self.copied = check.state_at;
            return Ok(());
        }
        verify::require_intact(
            &self.reader.path,
            progress,
            "run `qqvault verify` on it, and restore what it holds into a new backup",
        )?;
        // Whole but for its seal: still not something to build on.
        Err(Error::Damaged {
            path: self.reader.path.clone(),
            detail: "its bytes do not match its seal; run `qqvault verify` on it, and restore what it holds into a new backup".into(),
        })
    }
}

impl Earlier {
    /// What the check of the new archive may take as known of this archive (see
    /// `verify::KnownPrefix`): only once its seal matched (`require_intact`), which went on
    /// from the hash of the bytes the block copy wrote: those are proven to be the sealed
    /// bytes. `copies`: the entries copied from it as they are.
    fn known_prefix(&mut self, copies: Vec<crate::archive::write::RawCopy>) -> Option<verify::KnownPrefix> {
        // Without a block (an archive whose README this version does not write, say), the
        // entries copied one by one are still compared: the state after no bytes is a fresh
        // one, and only a whole archive gets here.
        let (len, state) = match self.copied.take() {
            Some(kept) => kept,
            None if self.intact => (0, <sha2::Sha256 as sha2::Digest>::new()),
            None => return None,
        };
        Some(verify::KnownPrefix {
            from: self.reader.path.clone(),
            len,
            compared: len,
            spans: std::mem::take(&mut self.block),
            moved: copies
                .into_iter()
                .filter(|c| c.source == self.reader.path)
                .map(|c| (c.name.clone(), c))
                .collect(),
            state,
            records: self
                .reader
                .manifest
                .entries
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect(),
        })
    }
}

/// What a backup did. Serialised as the `backup --json` summary; fields are only ever added.
#[derive(Debug, Serialize)]
pub struct BackupSummary {
    pub archive: String,
    /// Input files archived (every path, duplicates included).
    pub files: u64,
    /// Distinct contents among them.
    pub unique_files: u64,
    /// Their total size.
    pub bytes_in: u64,
    /// Compressed size of the file data in the archive.
    pub bytes_stored: u64,
    /// Inputs not archived, and why.
    pub skipped: Vec<Skipped>,
    /// Symbolic links met (followed only with --follow-symlinks).
    pub symlinks: Vec<SymlinkRecord>,
    /// Zip entries written.
    pub entries: u64,
    /// Size of the archive file.
    pub archive_bytes: u64,
    /// Chat exports found per format (labels as in the README).
    pub exports: std::collections::BTreeMap<String, u64>,
    /// Chat exports per text encoding.
    pub encodings: std::collections::BTreeMap<String, u64>,
    /// Conversations in the archive.
    pub conversations: u64,
    /// Messages in them.
    pub messages: u64,
    /// Lines of exports that are neither part of a message nor of the export's framing.
    pub lines_not_understood: u64,
    /// Messages of a TXT and an MHT export matched with placeholders set aside.
    pub placeholder_matches: u64,
    /// Wall time of each stage, in seconds.
    pub timings: std::collections::BTreeMap<String, f64>,
    /// With --update: what the update added, changed and kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdatePlan>,
    /// With --dry-run: nothing was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Files whose entries an interrupted earlier run had written, reused after a check.
    pub resumed_files: u64,
    /// Whether the writing went on in the interrupted run's file (true) or its entries were
    /// copied into a new one (some of them were not reused).
    pub resumed_in_place: bool,
    /// Each export with what was read from it (and what went wrong).
    pub export_reports: Vec<crate::archive::manifest::ExportRecord>,
}

impl BackupSummary {
    fn plan_only(
        output: &Path,
        plan: UpdatePlan,
        skipped: Vec<Skipped>,
        symlinks: Vec<SymlinkRecord>,
    ) -> Self {
        BackupSummary {
            archive: output.display().to_string(),
            files: 0,
            unique_files: 0,
            bytes_in: 0,
            bytes_stored: 0,
            skipped,
            symlinks,
            entries: 0,
            archive_bytes: 0,
            exports: Default::default(),
            encodings: Default::default(),
            conversations: 0,
            messages: 0,
            lines_not_understood: 0,
            placeholder_matches: 0,
            export_reports: Vec::new(),
            timings: Default::default(),
            update: Some(plan),
            dry_run: true,
            resumed_files: 0,
            resumed_in_place: false,
        }
    }

    /// Exit code 2 when anything could not be read; 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.skipped.is_empty() {
            0
        } else {
            2
        }
    }
}

/// Where the partial file of an interrupted run is kept while a new run reuses it.
pub fn resume_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".resume");
    output.with_file_name(name)
}

/// The temporary name an archive is written under.
/// The file whose lock a run writing the archive `output` holds (see [`RunLock`]).
pub fn lock_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    output.with_file_name(name)
}

/// Held by a run that writes an archive, for as long as it runs. A second run for the same
/// archive (a second window, a script started twice) would otherwise take the first one's
/// partial file for an interrupted run's, move it aside and build on a file that is still being
/// written. The lock is the system's, on a small file beside the archive (`ARCHIVE.zip.lock`):
/// it is released when the process ends, however it ends, and the file is removed when the run
/// is done (one left by a killed run is taken over by the next).
pub struct RunLock {
    file: Option<File>,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock for `output`; a usage error when another run holds it.
    pub fn acquire(output: &Path) -> Result<Self> {
        let path = lock_path(output);
        // A run that ends removes the file after taking it: the lock taken must still be on
        // the file under that name, or it is taken again.
        for _ in 0..10 {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::write(&path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Usage(format!(
                        "another qqvault run is writing {} (it holds {}); wait until it ends, or stop it, and run this again",
                        output.display(),
                        path.display()
                    )))
                }
                // A file system without locks: the run goes on unguarded, as before locks.
                Err(std::fs::TryLockError::Error(_)) => {}
            }
            if same_file(&file, &path) {
                return Ok(RunLock {
                    file: Some(file),
                    path,
                });
            }
        }
        Err(Error::Usage(format!(
            "cannot hold {}: other qqvault runs keep taking it; wait until they end",
            path.display()
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so that no other run takes a lock on a file on its way out.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

/// Whether the open `file` is the one at `path` now: by the system's identity of files (device
/// and inode; on Windows, volume and file index), so the same on every system. A file that is
/// open can be removed on Windows as well (the standard library opens files sharing delete).
fn same_file(file: &File, path: &Path) -> bool {
    match (
        file.try_clone().and_then(same_file::Handle::from_file),
        same_file::Handle::from_path(path),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    output.with_file_name(name)
}

/// Where the bytes of a file of this run are: its own entry (`files/<its path>`, by far the most
/// common, and then not spelled out until the manifest is written), or another one.
#[derive(Clone, Debug)]
enum EntryName {
    Own,
    Named(String),
}

impl EntryName {
    fn of(f: &ScannedFile, entry: String) -> Self {
        match entry.strip_prefix(layout::FILES_PREFIX) {
            Some(rest) if rest == f.archive_path.name => EntryName::Own,
            _ => EntryName::Named(entry),
        }
    }

    /// The entry's name as two parts that, joined, spell it (to compare entries without
    /// spelling them out).
    fn parts<'a>(&'a self, f: &'a ScannedFile) -> (&'a str, &'a str) {
        match self {
            EntryName::Own => (layout::FILES_PREFIX, &f.archive_path.name),
            EntryName::Named(n) => match n.strip_prefix(layout::FILES_PREFIX) {
                Some(rest) => (layout::FILES_PREFIX, rest),
                None => ("", n),
            },
        }
    }

    fn spelled(&self, f: &ScannedFile) -> String {
        match self {
            EntryName::Own => layout::file_entry(&f.archive_path.name),
            EntryName::Named(n) => n.clone(),
        }
    }
}

/// What the write stage learnt of a scanned file: its manifest record, less what the scan
/// holds already (path, modification time). One is kept for every file until the manifest is
/// written, so it is kept small: for 200,000 files every byte here is 200 KB.
#[derive(Clone, Debug)]
struct Placed {
    entry: EntryName,
    size: u64,
    sha256: Sha256Digest,
    changed: bool,
}

impl Placed {
    fn new(f: &ScannedFile, entry: String, size: u64, sha256: Sha256Digest, changed: bool) -> Self {
        Placed {
            entry: EntryName::of(f, entry),
            size,
            sha256,
            changed,
        }
    }

    /// The manifest record of file `f`, placed here.
    fn record(&self, f: &ScannedFile) -> FileRecord {
        FileRecord {
            path: f.archive_path.name.clone(),
            raw_path: f.archive_path.raw.as_deref().cloned(),
            entry: self.entry.spelled(f),
            size: self.size,
            mtime: f.mtime,
            sha256: self.sha256,
            changed_while_reading: self.changed,
        }
    }
}

/// The manifest's `files`, written record by record from the scan and what the write placed, so
/// that the records of every file are never all spelled out in memory at once.
struct PlacedFiles<'a> {
    files: &'a [ScannedFile],
    placed: &'a [Option<Placed>],
}

impl Serialize for PlacedFiles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.placed.iter().flatten().count()))?;
        for (f, p) in self.files.iter().zip(self.placed) {
            if let Some(p) = p {
                seq.serialize_element(&p.record(f))?;
            }
        }
        seq.end()
    }
}

/// The manifest's `files`: as placed by this run, or (an update, which merges in the earlier
/// archive's records) spelled out.
enum ManifestFiles<'a> {
    Placed(PlacedFiles<'a>),
    Records(Vec<FileRecord>),
}

impl ManifestFiles<'_> {
    /// Files listed, distinct entries among theirs, and their total size.
    fn totals(&self) -> (u64, u64, u64) {
        match self {
            ManifestFiles::Placed(p) => {
                let mut entries: Vec<(&str, &str)> = Vec::new();
                let mut bytes = 0;
                for (f, placed) in p.files.iter().zip(p.placed) {
                    if let Some(placed) = placed {
                        entries.push(placed.entry.parts(f));
                        bytes += placed.size;
                    }
                }
                let files = entries.len() as u64;
                entries.sort_unstable();
                entries.dedup();
                (files, entries.len() as u64, bytes)
            }
            ManifestFiles::Records(r) => {
                let mut entries: Vec<&str> = r.iter().map(|r| r.entry.as_str()).collect();
                entries.sort_unstable();
                entries.dedup();
                (
                    r.len() as u64,
                    entries.len() as u64,
                    r.iter().map(|r| r.size).sum(),
                )
            }
        }
    }
}

impl Serialize for ManifestFiles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ManifestFiles::Placed(p) => p.serialize(s),
            ManifestFiles::Records(r) => r.serialize(s),
        }
    }
}

/// A file read and prepared on a worker thread: its index, its hash known in advance, and the
/// prepared entry with the export kind its content was recognised as.
type PreparedItem = (
    usize,
    Option<Sha256Digest>,
    io::Result<(write::PreparedFile, Option<ExportKind>)>,
);

enum Batch {
    /// Prepared entries (recognising exports runs on the worker threads too).
    Prepared(Vec<PreparedItem>),
    /// A file streamed on its own (its index).
    Large(usize),
}

pub fn backup(opts: &BackupOptions, progress: &dyn Progress) -> Result<BackupSummary> {
    let output = &opts.output;
    if output.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a folder; give the archive's file name, such as backup.zip",
            output.display()
        )));
    }
    if opts.update && !output.is_file() {
        return Err(Error::Usage(format!(
            "--update needs an existing archive, and {} is not one; leave out --update to write a new archive",
            output.display()
        )));
    }
    if output.exists() && !opts.force && !opts.update {
        return Err(Error::Exists { path: output.clone() });
    }
    let partial = partial_path(output);
    // One run at a time writes an archive (a dry run writes nothing and does not wait).
    let _lock = if opts.dry_run {
        None
    } else {
        Some(RunLock::acquire(output)?)
    };
    // Temporary folders that a killed run left beside the archive (extracted exports can be
    // large) go now.
    crate::scratch::sweep(crate::scratch::folder_of(&partial));
    // An interrupted earlier run of this backup: what its partial file holds, checked, is
    // reused instead of being read and compressed again (read back after the scan).
    let resume = resume_path(output);
    let resuming = !opts.update && !opts.dry_run;
    if resuming && partial.exists() {
        std::fs::rename(&partial, &resume).map_err(|e| Error::write(&resume, e))?;
    }
    let mut earlier = if opts.update {
        Some(Earlier::open(output, progress)?)
    } else {
        None
    };

    let mut clock = crate::progress::Timings::default();
    progress.phase("scanning", None);
    let mut scanned = scan::scan(
        &opts.inputs,
        &ScanOptions {
            follow_symlinks: opts.follow_symlinks,
            exclude: vec![output.clone(), partial.clone(), resume.clone(), lock_path(output)],
            earlier_roots: earlier
                .as_ref()
                .map(|e| e.reader.manifest.inputs.clone())
                .unwrap_or_default(),
        },
    );
    progress.finish_phase();
    let mut skipped = scanned.skipped.clone();
    let files = &scanned.files;
    // Large text exports are parsed beside everything else from now on (see `AheadParser`).
    // Not those of an update (most are in the archive already and are not parsed again), nor
    // files that share their size with another (one of them may be a twin that is not written).
    let ahead = crate::ingest::AheadParser::start(&opts.tz, crate::scratch::folder_of(&partial));
    if !opts.dry_run && !opts.update {
        let mut sizes: HashMap<u64, u32> = HashMap::new();
        for f in files {
            *sizes.entry(f.size).or_default() += 1;
        }
        for (i, f) in files.iter().enumerate() {
            if sizes.get(&f.size) == Some(&1) {
                ahead.look(i, f);
            }
        }
    }
    clock.lap("scan");
    let salvage = if resuming && resume.exists() {
        let len = std::fs::metadata(&resume).map(|m| m.len()).ok();
        progress.phase("checking the interrupted run", len);
        // It reads the file and writes a zip directory at its end: a failure for want of space
        // is the writing's.
        let s = crate::archive::salvage::salvage(&resume, &ingest::recognise, progress).map_err(|e| {
            use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
            match e.kind() {
                StorageFull | QuotaExceeded | FileTooLarge => Error::write(&resume, e),
                _ => Error::read(&resume, e),
            }
        })?;
        progress.finish_phase();
        clock.lap("resume_check");
        s
    } else {
        None
    };

    // Plan: only files that share a size can be twins; hash those first.
    let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        by_size.entry(f.size).or_default().push(i);
    }
    // An update hashes every input first: most of them are in the archive already, and only
    // the hash says which. Small files are not hashed first even when they share a size: the
    // write stage reads each whole into memory anyway, hashes it there and leaves out a content
    // already stored, so they are read once.
    let shared: Vec<usize> = by_size
        .iter()
        .filter(|(&size, v)| earlier.is_some() || (v.len() > 1 && size > SMALL_FILE_LIMIT))
        .flat_map(|(_, v)| v)
        .copied()
        .collect();
    drop(by_size);
    let shared_bytes: u64 = shared.iter().map(|&i| files[i].size).sum();
    progress.phase("hashing", Some(shared_bytes));
    let prehashed: HashMap<usize, io::Result<Sha256Digest>> = shared
        .par_iter()
        .map(|&i| {
            let r = crate::archive::hash_file(&files[i].disk_path);
            progress.advance(files[i].size);
            (i, r)
        })
        .collect();
    progress.finish_phase();
    // The hash of a file to write, when it was hashed beforehand.
    let expected_of = |i: usize| prehashed.get(&i).and_then(|r| r.as_ref().ok()).copied();

    // The files to write, by index: one per distinct content as far as is known beforehand.
    let mut jobs: Vec<usize> = Vec::new();
    let mut twin_of: HashMap<usize, Sha256Digest> = HashMap::new();
    let mut first_of: HashMap<Sha256Digest, usize> = HashMap::new();
    let mut unreadable: Vec<usize> = Vec::new();
    for i in 0..files.len() {
        match prehashed.get(&i) {
            None => jobs.push(i),
            Some(Err(_)) => unreadable.push(i),
            Some(Ok(d)) => {
                if first_of.contains_key(d) || earlier.as_ref().is_some_and(|e| e.stored.contains_key(d)) {
                    twin_of.insert(i, *d);
                } else {
                    first_of.insert(*d, i);
                    jobs.push(i);
                }
            }
        }
    }
    for &i in &unreadable {
        if let Some(Err(e)) = prehashed.get(&i) {
            skipped.push(Skipped {
                path: files[i].disk_path.display().to_string(),
                reason: SkipReason::from_io(e),
                detail: e.to_string(),
            });
        }
    }

    // An update: what is new, what changed, what the archive keeps; earlier contents of changed
    // paths move to versions/ so that the new content takes the path.
    let mut plan = UpdatePlan::default();
    let mut renames: HashMap<String, String> = HashMap::new();
    if let Some(e) = earlier.as_mut() {
        let mut seen = std::collections::HashSet::new();
        for (i, f) in files.iter().enumerate() {
            let Some(Ok(d)) = prehashed.get(&i) else { continue };
            seen.insert(f.archive_path.name.clone());
            match e.by_path.get(&f.archive_path.name) {
                None => plan.added.push(f.archive_path.name.clone()),
                Some(old) if old.sha256 == *d => plan.unchanged += 1,
                Some(_) => plan.changed.push(f.archive_path.name.clone()),
            }
        }
        plan.kept = e.by_path.keys().filter(|p| !seen.contains(*p)).count() as u64;
        plan.new_contents = jobs.len() as u64;
        plan.new_bytes = jobs.iter().map(|&j| files[j].size).sum();
        let taken: std::collections::HashSet<&str> = e
            .reader
            .manifest
            .entries
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        for &j in &jobs {
            let name = layout::file_entry(&files[j].archive_path.name);
            if taken.contains(name.as_str()) {
                let moved = format!("{}{}", e.version_prefix, &name[layout::FILES_PREFIX.len()..]);
                renames.insert(name, moved);
            }
        }
        for entry in e.stored.values_mut() {
            if let Some(n) = renames.get(entry) {
                *entry = n.clone();
            }
        }
    }
    // Contents the interrupted run stored already, read back and checked: same name, same size,
    // same modification time, and the same hash where the hash is known in advance.
    let mut reused: Vec<(usize, crate::archive::salvage::Salvaged)> = Vec::new();
    if let Some(sv) = &salvage {
        jobs.retain(|&j| {
            let f = &files[j];
            let taken = sv
                .entries
                .get(&layout::file_entry(&f.archive_path.name))
                .filter(|e| {
                    e.size == f.size
                        && write::dos_time(f.mtime) == (e.dos_time, e.dos_date)
                        && expected_of(j).is_none_or(|d| d == e.sha256)
                });
            match taken {
                Some(e) => {
                    reused.push((j, e.clone()));
                    false
                }
                None => true,
            }
        });
    }
    if opts.dry_run {
        if let Some(e) = earlier.as_mut() {
            e.require_intact(progress)?;
        }
        return Ok(BackupSummary::plan_only(output, plan, skipped, scanned.symlinks));
    }
    // When the interrupted run's file starts with what is reused (after this version's README),
    // the writing goes on in it instead of copying its entries into a new file. What follows
    // them (conversations, pages: made from all the files, so made again) is cut off.
    let readme = layout::readme_text(env!("CARGO_PKG_VERSION"));
    let mut salvage = salvage;
    let in_place = match salvage.as_mut() {
        None => None,
        Some(sv) => {
            let reused_names: std::collections::HashSet<&str> =
                reused.iter().map(|(_, e)| e.name.as_str()).collect();
            let first = sv.order.first().and_then(|n| sv.entries.get(n));
            let fits = first.is_some_and(|first| {
                first.name == layout::README_ENTRY
                    && first.sha256 == Sha256Digest::of(readme.as_bytes())
                    && sv.order.len() > reused_names.len()
                    && sv.order[1..=reused_names.len()]
                        .iter()
                        .all(|n| reused_names.contains(n.as_str()))
            });
            let keep = reused_names.len() + 1;
            drop(reused_names);
            if fits {
                sv.keep_first(keep).map_err(|e| Error::write(&sv.path, e))?;
            }
            fits.then_some(sv)
        }
    }
    .map(|sv| {
        sv.order
            .iter()
            .filter_map(|n| sv.entries.get(n))
            .map(|e| crate::archive::manifest::EntryRecord {
                name: e.name.clone(),
                kind: if e.name == layout::README_ENTRY {
                    EntryKind::Readme
                } else {
                    EntryKind::File
                },
                size: e.size,
                method: e.method,
                crc32: e.crc32,
                sha256: e.sha256,
            })
            .collect::<Vec<_>>()
    });
    let resumed_in_place = in_place.is_some();
    // Going on in the interrupted run's file, after the entries read back in one pass: the
    // check of the finished archive goes on from that pass's hash of them instead of reading
    // them again (see `verify::KnownPrefix`).
    let salvaged_prefix = salvage.as_ref().and_then(|sv| sv.prefix(sv.order.len()));
    let mut resumed_prefix = match (&in_place, salvaged_prefix) {
        (Some(records), Some(p)) => Some(p.into_known(
            &partial,
            records.iter().map(|r| (r.name.clone(), r.clone())).collect(),
        )),
        _ => None,
    };
    // An update: the start of the earlier archive that it keeps as it is (README, originals,
    // images) is copied as one block, by the system where it can (a copy without reading the
    // bytes through this program; a clone on file systems that share blocks).
    let prefix = match (earlier.as_mut(), &in_place) {
        (Some(e), None) => earlier_prefix(e, &renames, &readme)?,
        _ => None,
    };
    let copied_before = prefix.unwrap_or(0);
    // The block copy hands its hash over to the check of the earlier archive's seal.
    let (handoff, handed) = match prefix {
        Some(_) => {
            let (tx, rx) = std::sync::mpsc::channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    if let Some(e) = earlier.as_mut() {
        plan.copied_as_block = Some(copied_before);
        e.check_seal(handed);
    }
    let mut block_copy = None;
    let mut writer = match (in_place, prefix) {
        (Some(records), _) => {
            std::fs::rename(&resume, &partial).map_err(|e| Error::write(&partial, e))?;
            ArchiveWriter::append_past_cache(&partial, records)?
        }
        (None, Some(end)) => {
            let e = earlier
                .as_mut()
                .ok_or_else(|| Error::zip(output, "no archive to update"))?;
            match writer_after_prefix(e, &partial, end, handoff) {
                Ok((w, copy)) => {
                    block_copy = copy;
                    w
                }
                Err(err) => {
                    // Damage explains it best, when it is damage.
                    let refused = e.require_intact(progress).err();
                    let _ = std::fs::remove_file(&partial);
                    return Err(refused.unwrap_or(err));
                }
            }
        }
        (None, None) => {
            // A partial file left by an interrupted run is ours to replace.
            let mut w = ArchiveWriter::create(&partial)?;
            w.add_bytes(layout::README_ENTRY, EntryKind::Readme, readme.as_bytes())?;
            w
        }
    };

    // A resumed run writes on where the entries it reused end, which it read back: were that
    // anywhere else, none of them is taken as read back (the check reads them again).
    if resumed_prefix
        .as_ref()
        .is_some_and(|k| writer.position() != Some(k.len))
    {
        resumed_prefix = None;
    }
    let total_bytes: u64 = jobs.iter().map(|&j| files[j].size).sum();
    clock.lap("hash");
    progress.phase("writing", Some(total_bytes));
    let mut stored: HashMap<Sha256Digest, String> = HashMap::new();
    if let Some(e) = earlier.as_mut() {
        if let Err(err) = copy_earlier(&mut writer, e, &renames, copied_before) {
            let refused = e.require_intact(progress).err();
            discard_update(writer, block_copy.take(), &partial);
            return Err(refused.unwrap_or(err));
        }
        stored = e.stored.clone();
    }
    let mut placed: Vec<Option<Placed>> = vec![None; files.len()];
    let mut retry: Vec<usize> = Vec::new();
    let mut found: Vec<FoundExport> = Vec::new();
    if let Some(sv) = &salvage {
        reuse_salvaged(
            &mut writer,
            sv,
            resumed_in_place,
            &reused,
            files,
            &mut placed,
            &mut stored,
            &mut found,
        )?;
    }
    for fx in &found {
        ahead.offer(fx.file, fx.kind, &files[fx.file]);
    }
    let jobs_total = jobs.len() as u64;
    let mut jobs_done = 0u64;
    // Shared with the workers while the files are written: they leave out a content stored
    // already instead of compressing it again.
    let stored_now: StoredMap = std::sync::Mutex::new(std::mem::take(&mut stored));
    {
        let mut on_written =
            |i: usize, expected: Option<Sha256Digest>, outcome: WriteOutcome, skipped: &mut Vec<Skipped>| {
                jobs_done += 1;
                progress.files(jobs_done, jobs_total);
                let f = &files[i];
                match outcome {
                    WriteOutcome::Written {
                        entry,
                        sha256,
                        bytes_read,
                        kind,
                    } => {
                        if let Some(kind) = kind {
                            found.push(FoundExport { file: i, kind });
                            ahead.offer(i, kind, f);
                        }
                        let changed = bytes_read != f.size
                            || expected.is_some_and(|d| d != sha256)
                            || changed_on_disk(f);
                        if changed {
                            skipped.push(changed_while_reading(f));
                            if expected.is_some_and(|d| d != sha256) {
                                retry.push(i);
                            }
                        }
                        lock(&stored_now).entry(sha256).or_insert_with(|| entry.clone());
                        placed[i] = Some(Placed::new(f, entry, bytes_read, sha256, changed));
                    }
                    WriteOutcome::Duplicate { sha256, bytes_read } => {
                        let mismatch = expected.is_some_and(|d| d != sha256);
                        let changed = bytes_read != f.size || mismatch || changed_on_disk(f);
                        if changed {
                            skipped.push(changed_while_reading(f));
                            // The content it was hashed with is still to be stored, from a twin.
                            if mismatch {
                                retry.push(i);
                            }
                        }
                        // The content's entry was recorded when it was first written.
                        let entry = lock(&stored_now).get(&sha256).cloned().unwrap_or_default();
                        placed[i] = Some(Placed::new(f, entry, bytes_read, sha256, changed));
                    }
                    WriteOutcome::Unreadable(e) => {
                        skipped.push(Skipped {
                            path: f.disk_path.display().to_string(),
                            reason: SkipReason::from_io(&e),
                            detail: e.to_string(),
                        });
                        if expected.is_some() {
                            retry.push(i);
                        }
                    }
                }
            };
        run_jobs(
            &mut writer,
            files,
            jobs,
            WriteContext {
                expected: &expected_of,
                stored: &stored_now,
                ahead: &ahead,
            },
            progress,
            &mut |i, exp, out| on_written(i, exp, out, &mut skipped),
        )?;
    }
    let mut stored = stored_now
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    progress.finish_phase();

    // Twins of a content whose first file failed or changed: store the next one of the group.
    let failed_digests: Vec<Sha256Digest> = retry
        .iter()
        .filter_map(|i| prehashed.get(i).and_then(|r| r.as_ref().ok()).copied())
        .collect();
    for d in failed_digests {
        if stored.contains_key(&d) {
            continue;
        }
        if let Some(&next) = twin_of.iter().filter(|(_, t)| **t == d).map(|(i, _)| i).min() {
            twin_of.remove(&next);
            let f = &files[next];
            let name = layout::file_entry(&f.archive_path.name);
            match File::open(&f.disk_path) {
                Ok(src) => {
                    match writer.add_stream(&name, EntryKind::File, src, f.size, Some(f.mtime), &|_| {}) {
                        Ok(s) => {
                            if let Some(kind) = ingest::recognise(&f.archive_path.name, &s.head) {
                                found.push(FoundExport { file: next, kind });
                            }
                            stored.entry(s.record.sha256).or_insert(name.clone());
                            let changed = s.record.sha256 != d;
                            placed[next] = Some(Placed::new(f, name, s.bytes_read, s.record.sha256, changed));
                        }
                        Err(StreamError::Archive(e)) => return Err(e),
                        Err(StreamError::Source(e)) => skipped.push(Skipped {
                            path: f.disk_path.display().to_string(),
                            reason: SkipReason::from_io(&e),
                            detail: e.to_string(),
                        }),
                    }
                }
                Err(e) => skipped.push(Skipped {
                    path: f.disk_path.display().to_string(),
                    reason: SkipReason::from_io(&e),
                    detail: e.to_string(),
                }),
            }
        }
    }
    for (&i, d) in &twin_of {
        let f = &files[i];
        match stored.get(d) {
            Some(entry) => {
                placed[i] = Some(Placed::new(f, entry.clone(), f.size, *d, false));
            }
            None => skipped.push(Skipped {
                path: f.disk_path.display().to_string(),
                reason: SkipReason::Unreadable,
                detail: "no readable copy of its content could be stored".into(),
            }),
        }
    }

    // Chats: parse the exports found, store their images and conversations. An update parses
    // again, from the archive, the earlier exports that the conversations of the new ones came
    // from, so that these merge with the rule of the conversations (within one export every copy
    // counts, across exports the largest count any one holds) exactly as if everything had been
    // backed up at once; the other conversations cannot change and are carried over.
    found.sort_by_key(|f| f.file);
    let scratch_dir = crate::scratch::folder_of(&partial).to_path_buf();
    let mut carried_exports = Vec::new();
    let mut export_entries: HashMap<String, String> = HashMap::new();
    clock.lap("write");
    // A new archive written past the page cache is read back in two parts (see
    // `start_read_back`): an update's start is checked against the archive it updates; a
    // resumed run's reading back goes on after what it reused, which it read back when it
    // began.
    let mut read_back: Option<ReadBackJob> = None;
    let reads_back = earlier.is_none();
    // A resumed run goes on reading back from the end of what it reused, which it read back
    // when it began: the hash of the file up to there, and the entries there.
    let read_back_from = resumed_prefix.as_ref().map(|k| (k.len, k.state.clone()));
    progress.phase("reading chats", None);
    let mut parse = crate::ingest::ChatParse::new(&scratch_dir);
    let mut parsed_ahead = ahead.finish();
    // The files of QCE resources folders, as stored, for the exports' messages to name: those
    // of the archive being updated, then this run's.
    let mut resources = crate::ingest::ResourceFiles::default();
    if let Some(e) = earlier.as_ref() {
        for r in e.by_path.values() {
            let entry = renames.get(&r.entry).unwrap_or(&r.entry);
            resources.add(&r.path, r.sha256, entry);
        }
    }
    for (f, p) in scanned.files.iter().zip(&placed) {
        if let Some(p) = p {
            resources.add(&f.archive_path.name, p.sha256, &p.entry.spelled(f));
        }
    }
    Ingest::new(&mut writer, &scanned.files, &mut stored, &opts.tz, &scratch_dir)
        .with_resources(&resources)
        .parse(found, &mut parse, &mut parsed_ahead)?;
    // An update: the conversations the new exports hold are merged with what the earlier
    // exports they came from hold; the others are carried over as they are (see
    // `crate::carry`), unless the earlier archive's derived entries cannot be taken over.
    let mut touched: std::collections::HashSet<qqvault_core::ConversationKey> =
        parse.keys().cloned().collect();
    // Nothing is built on the archive being updated unless its seal says it is whole. Its
    // check goes on meanwhile, on a thread of its own, and is awaited before the new archive
    // is finished: what is read from the archive before then is read knowing that it may be
    // damaged (entries whose CRC-32 is checked as they are read, index files checked before
    // the index reader opens them), and a failure before then is explained by the check.
    let carry_plan = match earlier.as_mut() {
        Some(e) => match crate::carry::CarryPlan::new(&e.reader, !opts.no_index, !opts.no_viewer) {
            Ok(p) => p,
            Err(err) => {
                let refused = e.require_intact(progress).err();
                discard_update(writer, block_copy.take(), &partial);
                return Err(refused.unwrap_or(err));
            }
        },
        None => None,
    };
    // Entries moved to an earlier version: links to them are made anew.
    if let (Some(p), false) = (&carry_plan, renames.is_empty()) {
        touched.extend(p.linking().cloned());
    }
    // Files new or changed in a QCE resources folder: the conversations of the exports beside
    // it link to them anew.
    if let Some(p) = &carry_plan {
        let folders = crate::ingest::ResourceFiles::folders_of(plan.added.iter().chain(&plan.changed));
        if !folders.is_empty() {
            touched.extend(p.beside_resources(&folders).cloned());
        }
    }
    let reparse = carry_plan.as_ref().map(|p| p.reparse(&touched));
    let rebuilt = carry_plan.is_none();
    let mut moved_sources: HashMap<String, String> = HashMap::new();
    let mut exports_parsed_again = 0u64;
    let _extracted = match earlier.as_mut() {
        Some(e) => {
            let mut more = Vec::new();
            let dir = match extract_earlier_exports(
                e,
                &mut writer,
                &renames,
                &scratch_dir,
                &mut scanned.files,
                &mut more,
                &mut carried_exports,
                &mut export_entries,
                reparse.as_ref(),
                &mut moved_sources,
            ) {
                Ok(dir) => dir,
                Err(err) => {
                    let refused = e.require_intact(progress).err();
                    discard_update(writer, block_copy.take(), &partial);
                    return Err(refused.unwrap_or(err));
                }
            };
            let more_count = more.len() as u64;
            // The files of the scan, and after them the earlier exports taken out of the archive.
            Ingest::new(&mut writer, &scanned.files, &mut stored, &opts.tz, &scratch_dir)
                .with_resources(&resources)
                .parse(more, &mut parse, &mut parsed_ahead)?;
            exports_parsed_again = more_count;
            Some(dir)
        }
        None => None,
    };
    let files = &scanned.files;
    let carry_all = carry_plan.is_none();
    let mut chat = parse.finish(&scratch_dir, |k| carry_all || touched.contains(k));
    let written = chat.conversations.len();
    let carried_count = carry_plan.as_ref().map(|p| p.carried(&touched)).unwrap_or(0);
    let any_chats = written + carried_count > 0;
    let make_index = !opts.no_index && any_chats;
    let extend = match (
        &earlier,
        carry_plan.as_ref().and_then(|p| p.index_extension(&touched)),
    ) {
        (Some(e), Some(x)) if make_index => Some(crate::search_index::ExtendFrom {
            archive: e.reader.path.clone(),
            files: x.files,
            replaced: x.replaced,
        }),
        _ => None,
    };
    let index_extended = extend.is_some();
    let ids: Vec<String> = chat.conversations.iter().map(|c| c.id.clone()).collect();
    let merged = &chat.merged;
    let order = &chat.order;
    let conversations = &chat.conversations;
    let staged = std::thread::scope(|s| -> Result<_> {
        // INDEX: built on a thread of its own (it needs only the merged messages) while the
        // conversations and pages are written; written into the archive after them.
        let index_job = make_index.then(|| {
            let (ids, scratch) = (&ids, &scratch_dir);
            s.spawn(move || {
                let started = std::time::Instant::now();
                let mut source = crate::ingest::MergedSource {
                    merged,
                    ids: ids.clone(),
                    order: order.clone(),
                };
                let built = crate::search_index::build(scratch, ids, &mut source, extend);
                (built, started.elapsed().as_secs_f64())
            })
        });
        let chat_locations = Ingest::new(&mut writer, files, &mut stored, &opts.tz, &scratch_dir)
            .write_chats_of(merged, conversations, order)?;
        progress.finish_phase();
        clock.lap("chats");
        // VIEWER: the HTML viewer pages are written here, from the merged messages; an update
        // writes them while its block is still being copied, with the index page's rows of
        // the conversations it carries over.
        let carried_rows = carry_plan.as_ref().map(|p| p.rows(&touched)).unwrap_or_default();
        if !opts.no_viewer && any_chats {
            progress.phase("writing the viewer", None);
            let mut source = crate::ingest::MergedSource {
                merged,
                ids: ids.clone(),
                order: order.clone(),
            };
            crate::viewer::render_all(
                &crate::viewer::ViewerOptions::in_archive(),
                conversations,
                &mut source,
                carried_rows,
                |path, bytes| {
                    let name = format!("{}{path}", crate::viewer::ARCHIVE_ROOT);
                    writer.add_bytes(&name, EntryKind::Viewer, bytes)?;
                    // The first page finished the last conversation's entries.
                    if reads_back && read_back.is_none() {
                        read_back = start_read_back(&writer, &partial, read_back_from.clone());
                    }
                    Ok(())
                },
            )?;
            progress.finish_phase();
        }
        clock.lap("viewer");
        // What is carried over is copied once the block is written: the two would write into
        // the same file at once, past and through the page cache, and each slow the other.
        let block_done = block_copy.take().map(BlockCopy::finish);
        let carried = match (carry_plan, earlier.as_mut()) {
            (Some(plan), Some(e)) => plan.copy(&mut writer, &mut e.reader, &touched, &moved_sources)?,
            _ => crate::carry::Carried::default(),
        };
        if earlier.is_some() {
            clock.lap("carried");
        }
        if make_index {
            progress.phase("indexing", None);
        }
        let built = match index_job {
            Some(h) => {
                let (built, secs) = h
                    .join()
                    .map_err(|_| Error::zip(&scratch_dir, "the indexing thread failed"))?;
                // Beside the stages above, not after them: not a lap.
                clock
                    .laps
                    .insert("index_build".into(), (secs * 1000.0).round() / 1000.0);
                Some(built?)
            }
            None => None,
        };
        Ok((chat_locations, carried, built, block_done))
    });
    // The archive being updated must be whole before anything built on it is finished; a
    // failure in reading it is explained by its check. An update that fails here leaves
    // nothing behind (it does not resume), nor does one whose block could not be copied.
    let staged = match earlier.as_mut() {
        None => staged,
        Some(e) => match e.require_intact(progress) {
            Err(refused) => Err(refused),
            Ok(()) => match staged {
                Ok((_, _, _, Some(Err(err)))) => Err(err),
                other => other,
            },
        },
    };
    if earlier.is_some() {
        if let Err(err) = staged {
            discard_update(writer, block_copy.take(), &partial);
            return Err(err);
        }
    }
    // (A failed block copy failed `staged` above.)
    let (chat_locations, carried, built, _) = staged?;
    chat.chat_locations = chat_locations;
    chat.exports.extend(carried_exports);
    // Each export names the entry that holds it, so that an update finds it by content even
    // after its path was given new content.
    let unnamed: std::collections::HashSet<&str> = chat
        .exports
        .iter()
        .filter(|x| x.entry.is_none())
        .map(|x| x.path.as_str())
        .collect();
    let mut own_entries: HashMap<String, String> = HashMap::new();
    for (f, p) in files.iter().zip(&placed) {
        if let Some(p) = p {
            if unnamed.contains(f.archive_path.name.as_str()) {
                own_entries.insert(f.archive_path.name.clone(), p.entry.spelled(f));
            }
        }
    }
    drop(unnamed);
    for (path, entry) in own_entries {
        export_entries.entry(path).or_insert(entry);
    }
    // What the viewer, the index and the manifest do not need goes first.
    drop(stored);
    drop(prehashed);
    drop(twin_of);
    drop(first_of);
    for x in &mut chat.exports {
        if x.entry.is_none() {
            x.entry = export_entries.get(&x.path).cloned();
        }
    }
    let mut seal_records: Vec<(String, String)> = Vec::new();
    if let Some(built) = built {
        let mut locations = chat.chat_locations.clone();
        locations.extend(carried.locations);
        seal_records.push(crate::search_index::write_index(&mut writer, built, locations)?);
        progress.finish_phase();
    }
    if opts.update {
        plan.chats = Some(ChatUpdate {
            carried: carried.conversations.len() as u64,
            merged: written as u64,
            exports_parsed_again,
            rebuilt,
            index_extended,
        });
    }
    chat.conversations.extend(carried.conversations);

    let mut versions = Vec::new();
    let mut inputs = scanned.roots.clone();
    let mut manifest_skipped = skipped.clone();
    let manifest_files = match earlier.as_ref() {
        None => ManifestFiles::Placed(PlacedFiles {
            files,
            placed: &placed,
        }),
        Some(e) => {
            let mut file_records: Vec<FileRecord> = files
                .iter()
                .zip(&placed)
                .filter_map(|(f, p)| p.as_ref().map(|p| p.record(f)))
                .collect();
            let replaced = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let new_paths: HashMap<String, Sha256Digest> =
                file_records.iter().map(|r| (r.path.clone(), r.sha256)).collect();
            versions = e.reader.manifest.versions.clone();
            for old in e.reader.manifest.files.iter() {
                let mut old = old.clone();
                if let Some(n) = renames.get(&old.entry) {
                    old.entry = n.clone();
                }
                match new_paths.get(&old.path) {
                    None => file_records.push(old),
                    Some(d) if *d == old.sha256 => {}
                    Some(_) => versions.push(crate::archive::manifest::VersionRecord {
                        file: old,
                        replaced: replaced.clone(),
                    }),
                }
            }
            file_records.sort_by(|a, b| a.path.cmp(&b.path));
            // What earlier runs could not read stays listed until a run archives it.
            let archived: std::collections::HashSet<String> =
                files.iter().map(|f| f.disk_path.display().to_string()).collect();
            for s in &e.reader.manifest.skipped {
                if !archived.contains(&s.path) && !manifest_skipped.iter().any(|x: &Skipped| x.path == s.path)
                {
                    manifest_skipped.push(s.clone());
                }
            }
            for r in &e.reader.manifest.inputs {
                if !inputs.iter().any(|x| x.top == r.top) {
                    inputs.push(r.clone());
                }
            }
            ManifestFiles::Records(file_records)
        }
    };
    let (files_total, unique_files, bytes_in) = manifest_files.totals();
    let entries = writer.take_entries();
    // What the thread reading back the files found: the start of the file it read, with each
    // entry's record as read (a record that differs from the one written is not taken as
    // proven: the check reads that entry again and says what is wrong).
    let read_back = read_back
        .and_then(|h| h.join().ok())
        .and_then(|(r, secs)| {
            // Beside the stages, not after them: not a lap.
            clock
                .laps
                .insert("read_back".into(), (secs * 1000.0).round() / 1000.0);
            r.ok().flatten()
        })
        // What was read back must be the first entries written, in the order written (the walk
        // goes from the start of the file, or from the end of what a resumed run reused):
        // anything else is not taken, and the check reads everything.
        .filter(|rb| {
            // The entries a resumed run reused, which its writer started with.
            let resumed_entries = resumed_prefix.as_ref().map_or(0, |k| k.records.len());
            rb.entries.len() + resumed_entries <= entries.len()
                && rb
                    .entries
                    .iter()
                    .zip(&entries[resumed_entries..])
                    .all(|(x, w)| x.name == w.name)
        })
        .map(|rb| {
            let written: HashMap<&str, &crate::archive::manifest::EntryRecord> =
                entries.iter().map(|e| (e.name.as_str(), e)).collect();
            let records = rb
                .entries
                .iter()
                .filter_map(|x| {
                    let w = written.get(x.name.as_str())?;
                    Some((
                        x.name.clone(),
                        crate::archive::manifest::EntryRecord {
                            name: x.name.clone(),
                            kind: w.kind,
                            size: x.size,
                            method: x.method,
                            crc32: x.crc32,
                            sha256: x.sha256,
                        },
                    ))
                })
                .collect();
            match resumed_prefix.take() {
                None => rb.prefix.into_known(&partial, records),
                // After what the resumed run reused: the start read back grows to take both.
                Some(mut k) => {
                    k.len = rb.prefix.len;
                    k.compared = rb.prefix.len;
                    k.state = rb.prefix.state;
                    k.records.extend(records);
                    k.spans.extend(rb.prefix.spans);
                    k
                }
            }
        });
    if read_back.is_some() {
        resumed_prefix = read_back;
    }
    let totals = Totals {
        files: files_total,
        unique_files,
        bytes_in,
        entries: entries.len() as u64 + 1,
        skipped: manifest_skipped.len() as u64,
    };
    let manifest = Manifest {
        format: layout::FORMAT_NAME.into(),
        schema: layout::LAYOUT_VERSION,
        tool: ToolInfo {
            name: "qqvault".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        created: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        inputs,
        files: manifest_files,
        versions,
        entries,
        skipped: manifest_skipped,
        symlinks: scanned.symlinks.clone(),
        totals: totals.clone(),
        exports: chat.exports.clone(),
        conversations: chat.conversations.clone(),
    };
    // An update copies entries as they are only from the archive it updates.
    let copies = writer.take_copies();
    let direct = writer.writes_direct();
    writer.finish_serialized(&manifest, &scratch_dir, seal_records.clone())?;
    // The check reads everything back: what the write needed goes first, so that the two do
    // not add up (the records of 200,000 files are some hundred MB).
    drop(manifest);
    drop(placed);
    // The merge's temporary files go too.
    drop(chat.merged);
    let symlinks = std::mem::take(&mut scanned.symlinks);
    drop(scanned);

    clock.lap("index_and_manifest");
    // The block copied from the archive being updated is proven by the hash of the bytes
    // written, which went on into that archive's seal (see `verify::KnownPrefix`). That
    // archive is closed before the new one takes its name (Windows cannot rename over an open
    // file).
    // (A failed copy stopped the update above, once the archive's seal was checked.)
    let known = earlier
        .as_mut()
        .and_then(|e| e.known_prefix(copies))
        .or(resumed_prefix.take());
    drop(earlier);
    let report = seal_and_commit(&partial, output, seal_records, known.as_ref(), direct, progress)?;
    // The interrupted run's file has served.
    let _ = std::fs::remove_file(&resume);
    clock.lap("verify");
    let chat_totals = ChatTotals::from_records(&chat.exports, &chat.conversations, chat.placeholder_matches);
    let archive_bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        archive: output.display().to_string(),
        files: totals.files,
        unique_files: totals.unique_files,
        bytes_in: totals.bytes_in,
        bytes_stored: report.file_bytes_stored,
        skipped,
        symlinks,
        entries: totals.entries,
        archive_bytes,
        exports: chat_totals.exports,
        encodings: chat_totals.encodings,
        conversations: chat_totals.conversations,
        messages: chat_totals.messages,
        lines_not_understood: chat_totals.lines_not_understood,
        placeholder_matches: chat_totals.placeholder_matches,
        export_reports: chat.exports,
        timings: clock.laps,
        update: opts.update.then_some(plan),
        dry_run: false,
        resumed_files: reused.len() as u64,
        resumed_in_place,
    })
}

/// Removes the partial file of an update that failed: an update does not resume, so what it
/// wrote is of no use. Its writer and block copy stop first (Windows cannot remove a file that
/// is still open).
fn discard_update(writer: ArchiveWriter, block_copy: Option<BlockCopy>, partial: &Path) {
    drop(writer);
    drop(block_copy);
    let _ = std::fs::remove_file(partial);
}

/// At most so many entries are read back while the pages and index are made (see
/// `start_read_back`): what is kept of each until the check (its name, record and place) stays
/// small beside the rest of the run, which with 200,000 files holds their records too (reading
/// back 200,000 entries took 90 MB more at the peak, some 450 bytes each).
const READ_BACK_ENTRIES: usize = 32_768;

/// What the thread reading back a new archive's start found, and how long it took.
type ReadBackJob = std::thread::JoinHandle<(std::io::Result<Option<crate::archive::salvage::ReadBack>>, f64)>;

/// Starts reading back what the archive being written at `partial` holds on the disk so far
/// (the files, the conversations; at most [`READ_BACK_ENTRIES`] entries): a thread does it while
/// the pages and the index are made, when the disk is idle, so that the check of the finished
/// archive reads only what follows (see `verify::KnownPrefix`). Without conversations there is
/// nothing to do beside it, and it is not started. None where the archive is not written past
/// the page cache.
fn start_read_back(
    writer: &ArchiveWriter,
    partial: &Path,
    from: Option<(u64, sha2::Sha256)>,
) -> Option<ReadBackJob> {
    let limit = writer.settled_end()?;
    let path = partial.to_path_buf();
    std::thread::Builder::new()
        .name("read-back".into())
        .spawn(move || {
            lower_priority();
            let started = std::time::Instant::now();
            let found = crate::archive::salvage::read_back(
                &path,
                from,
                limit,
                READ_BACK_ENTRIES,
                &crate::progress::Silent,
            );
            (found, started.elapsed().as_secs_f64())
        })
        .ok()
}

/// Gives the calling thread, and the threads it starts, a lower share of the processor than the
/// others: the reading back is not what the run waits for, the index is (Linux: a thread's
/// nice value, which the threads it starts inherit; elsewhere nothing).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread; they read no memory of ours.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        }
    }
}

enum WriteOutcome {
    Written {
        entry: String,
        sha256: Sha256Digest,
        bytes_read: u64,
        kind: Option<ExportKind>,
    },
    /// A small file whose content was already stored: nothing was written.
    Duplicate {
        sha256: Sha256Digest,
        bytes_read: u64,
    },
    Unreadable(io::Error),
}

/// The contents stored so far and their entries, shared by the writing thread, which adds to
/// it, and the workers, which leave out a content stored already instead of compressing it.
type StoredMap = std::sync::Mutex<HashMap<Sha256Digest, String>>;

fn lock(stored: &StoredMap) -> std::sync::MutexGuard<'_, HashMap<Sha256Digest, String>> {
    stored.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Input bytes of large files that may be compressed apart at once: their compressed copies
/// wait in temporary files until they are copied in.
const APART_BUDGET: u64 = 1 << 30;

/// What the threads of the write stage consult.
struct WriteContext<'a> {
    /// A file's hash, when it was hashed beforehand.
    expected: &'a (dyn Fn(usize) -> Option<Sha256Digest> + Sync),
    /// The contents stored so far.
    stored: &'a StoredMap,
    /// Where the exports found are offered to be parsed ahead.
    ahead: &'a crate::ingest::AheadParser,
}

/// Runs the write jobs: small files are read, hashed and compressed in parallel batches on
/// the rayon pool while this thread appends the previous batch; large files are streamed.
/// Large files worth deflating (a chat export of some hundred MB, say) are deflated on a thread
/// of their own into temporary files while this thread writes the rest, and copied in between
/// two batches as each is ready: otherwise this thread deflated them while everything else
/// waited.
///
/// A small file whose content is in `stored`, or was written earlier in the run, is not
/// written again (reported as `Duplicate`). `on_written` is what adds written contents to
/// `stored`.
fn run_jobs(
    writer: &mut ArchiveWriter,
    files: &[ScannedFile],
    jobs: Vec<usize>,
    context: WriteContext,
    progress: &dyn Progress,
    on_written: &mut dyn FnMut(usize, Option<Sha256Digest>, WriteOutcome),
) -> Result<()> {
    let WriteContext {
        expected,
        stored,
        ahead,
    } = context;
    let is_stored = |d: &Sha256Digest| lock(stored).contains_key(d);
    const BATCH_BYTES: u64 = 16 << 20;
    const BATCH_FILES: usize = 256;
    let (tx, rx) = crossbeam_channel::bounded::<Batch>(2);
    let (apart_tx, apart_jobs) = crossbeam_channel::unbounded::<usize>();
    let (apart_done, apart_rx) = crossbeam_channel::unbounded::<(usize, Result<write::Apart, StreamError>)>();
    let scratch = crate::scratch::folder_of(writer.path()).to_path_buf();
    std::thread::scope(|s| {
        // Owned here, so that a failure that returns early drops them: the threads that hand
        // work over then find no one taking it and stop, and the scope's wait ends (they would
        // wait for ever on a full channel otherwise).
        let (rx, apart_rx) = (rx, apart_rx);
        let scratch = &scratch;
        s.spawn(move || {
            for job in apart_jobs {
                let f = &files[job];
                // An export is parsed while it is compressed here, not after everything else.
                if let Some(kind) = ingest::read_head(&f.disk_path, write::HEAD_LEN)
                    .ok()
                    .and_then(|head| ingest::recognise(&f.archive_path.name, &head))
                {
                    ahead.offer(job, kind, f);
                }
                let result = match File::open(&f.disk_path) {
                    Err(e) => Err(StreamError::Source(e)),
                    Ok(src) => write::compress_apart(
                        scratch,
                        &layout::file_entry(&f.archive_path.name),
                        EntryKind::File,
                        src,
                        f.size,
                        Some(f.mtime),
                        Method::Deflate,
                        &|n| progress.advance(n),
                    ),
                };
                if apart_done.send((job, result)).is_err() {
                    return;
                }
            }
        });
        s.spawn(move || {
            let mut apart_bytes = 0u64;
            let mut pending: Vec<usize> = Vec::new();
            let mut pending_bytes = 0u64;
            let flush = |pending: &mut Vec<usize>, tx: &crossbeam_channel::Sender<Batch>| -> bool {
                if pending.is_empty() {
                    return true;
                }
                let batch: Vec<_> = pending
                    .par_iter()
                    .map(|&j| {
                        let f = &files[j];
                        (
                            j,
                            expected(j),
                            write::prepare_file(
                                &f.disk_path,
                                &layout::file_entry(&f.archive_path.name),
                                f.mtime,
                                &is_stored,
                            )
                            .map(|p| match p {
                                write::PreparedFile::Entry(mut p) => {
                                    let kind = ingest::recognise(&f.archive_path.name, &p.head);
                                    p.head = Vec::new();
                                    (write::PreparedFile::Entry(p), kind)
                                }
                                known => (known, None),
                            }),
                        )
                    })
                    .collect();
                pending.clear();
                tx.send(Batch::Prepared(batch)).is_ok()
            };
            for job in jobs {
                let size = files[job].size;
                if size > SMALL_FILE_LIMIT {
                    let f = &files[job];
                    if apart_bytes + size <= APART_BUDGET
                        && write::worth_deflating(&f.archive_path.name, &f.disk_path).unwrap_or(false)
                    {
                        apart_bytes += size;
                        if apart_tx.send(job).is_err() {
                            return;
                        }
                        continue;
                    }
                    if !flush(&mut pending, &tx) {
                        return;
                    }
                    pending_bytes = 0;
                    if tx.send(Batch::Large(job)).is_err() {
                        return;
                    }
                    continue;
                }
                pending_bytes += size;
                pending.push(job);
                if pending_bytes >= BATCH_BYTES || pending.len() >= BATCH_FILES {
                    if !flush(&mut pending, &tx) {
                        return;
                    }
                    pending_bytes = 0;
                }
            }
            flush(&mut pending, &tx);
        });
        for batch in rx.iter() {
            match batch {
                Batch::Prepared(items) => {
                    for (i, expected, prepared) in items {
                        match prepared {
                            Ok((write::PreparedFile::Known { sha256, bytes_read }, _)) => {
                                progress.advance(bytes_read);
                                on_written(i, expected, WriteOutcome::Duplicate { sha256, bytes_read });
                            }
                            Ok((write::PreparedFile::Entry(p), kind)) => {
                                let bytes_read = p.bytes_read;
                                progress.advance(bytes_read);
                                let sha = p.record.sha256;
                                // Twins prepared at the same time both come here: the second
                                // is left out now.
                                if is_stored(&sha) {
                                    on_written(
                                        i,
                                        expected,
                                        WriteOutcome::Duplicate {
                                            sha256: sha,
                                            bytes_read,
                                        },
                                    );
                                    continue;
                                }
                                let entry = p.record.name.clone();
                                writer.add_prepared(*p)?;
                                on_written(
                                    i,
                                    expected,
                                    WriteOutcome::Written {
                                        entry,
                                        sha256: sha,
                                        bytes_read,
                                        kind,
                                    },
                                );
                            }
                            Err(e) => on_written(i, expected, WriteOutcome::Unreadable(e)),
                        }
                    }
                }
                Batch::Large(job) => {
                    let f = &files[job];
                    let name = layout::file_entry(&f.archive_path.name);
                    let outcome = match File::open(&f.disk_path) {
                        Err(e) => WriteOutcome::Unreadable(e),
                        Ok(src) => match writer.add_stream(
                            &name,
                            EntryKind::File,
                            src,
                            f.size,
                            Some(f.mtime),
                            &|n| progress.advance(n),
                        ) {
                            Ok(s) => WriteOutcome::Written {
                                entry: name,
                                sha256: s.record.sha256,
                                bytes_read: s.bytes_read,
                                kind: ingest::recognise(&f.archive_path.name, &s.head),
                            },
                            Err(StreamError::Source(e)) => WriteOutcome::Unreadable(e),
                            Err(StreamError::Archive(e)) => return Err(e),
                        },
                    };
                    on_written(job, expected(job), outcome);
                }
            }
            // What was compressed apart goes in as soon as it is ready, not after everything
            // else: an interrupted run then holds it, and its run again reuses it instead of
            // compressing it again (a chat export of some hundred MB takes seconds).
            while let Ok((job, result)) = apart_rx.try_recv() {
                add_apart(writer, &files[job], job, result, expected(job), on_written)?;
            }
        }
        for (job, result) in apart_rx.iter() {
            add_apart(writer, &files[job], job, result, expected(job), on_written)?;
        }
        Ok(())
    })
}

/// Copies in the file `job` (`f`) that was compressed apart, and reports it.
fn add_apart(
    writer: &mut ArchiveWriter,
    f: &ScannedFile,
    job: usize,
    result: std::result::Result<write::Apart, StreamError>,
    expected: Option<Sha256Digest>,
    on_written: &mut dyn FnMut(usize, Option<Sha256Digest>, WriteOutcome),
) -> Result<()> {
    let outcome = match result {
        Ok(apart) => {
            let kind = ingest::recognise(&f.archive_path.name, &apart.streamed.head);
            let bytes_read = apart.streamed.bytes_read;
            let record = writer.add_apart(apart)?;
            WriteOutcome::Written {
                entry: record.name,
                sha256: record.sha256,
                bytes_read,
                kind,
            }
        }
        Err(StreamError::Source(e)) => WriteOutcome::Unreadable(e),
        Err(StreamError::Archive(e)) => return Err(e),
    };
    on_written(job, expected, outcome);
    Ok(())
}

/// The report of a file that changed while it was read.
fn changed_while_reading(f: &ScannedFile) -> Skipped {
    Skipped {
        path: f.disk_path.display().to_string(),
        reason: SkipReason::ChangedWhileReading,
        detail: "the file changed while it was read; the bytes read are archived, run the backup again for a consistent copy".into(),
    }
}

/// Whether a file's size or modification time differs from what the scan saw.
fn changed_on_disk(f: &ScannedFile) -> bool {
    match std::fs::metadata(&f.disk_path) {
        Ok(m) => m.len() != f.size || m.modified().map(scan::FileTime::from_system).ok() != Some(f.mtime),
        Err(_) => true,
    }
}

/// The last steps of every run that writes an archive: check the written file whole (the same
/// check as `verify`; a file that fails it stays under its temporary name), fill in the seal,
/// sync, and give it its final name. `known`: the start that is proven already (see
/// `verify::KnownPrefix`), not read again. `direct`: the archive was
/// written past the page cache, and is read back the same way (see `VerifyOptions::sequential`).
pub fn seal_and_commit(
    partial: &Path,
    output: &Path,
    seal_records: Vec<(String, String)>,
    known: Option<&verify::KnownPrefix>,
    direct: bool,
    progress: &dyn Progress,
) -> Result<verify::VerifyReport> {
    let opts = VerifyOptions {
        unsealed: true,
        sequential: direct,
    };
    // The writer only started the file's pages on their way to the disk. A file written past
    // the page cache is synced before its check, which drops what little went through the
    // cache so as to read it from the disk (only clean pages can be dropped). Otherwise (an
    // update's file, written through the cache and checked from it) the sync runs beside the
    // check: neither needs the other. Both are done before the seal is written and the file
    // takes its name.
    // Opened for writing: Windows flushes only such a handle.
    let sync = |path: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.sync_all())
    };
    let syncing = if direct {
        sync(partial).map_err(|e| Error::write(partial, e))?;
        None
    } else {
        let path = partial.to_path_buf();
        Some(std::thread::spawn(move || sync(&path)))
    };
    let report = verify::verify_with(partial, opts, known, progress);
    let synced = syncing.map(|t| {
        t.join()
            .unwrap_or_else(|_| Err(io::Error::other("the syncing thread failed")))
    });
    let report = report?;
    if let Some(synced) = synced {
        synced.map_err(|e| Error::write(partial, e))?;
    }
    if !report.ok {
        let first = report
            .problems
            .iter()
            .take(3)
            .map(|p| format!("{}: {}", p.entry.as_deref().unwrap_or("archive"), p.detail))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::VerifyFailed {
            path: partial.to_path_buf(),
            detail: first,
        });
    }
    let (Some(seal_start), Some(digest), Some(manifest_offset)) =
        (report.seal_start, report.computed_seal, report.manifest_offset)
    else {
        return Err(Error::VerifyFailed {
            path: partial.to_path_buf(),
            detail: "the seal placeholder was not found".into(),
        });
    };
    let seal = Seal {
        sha256: digest,
        manifest_offset,
        sealed_at: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        other: seal_records,
    };
    write::fill_seal(partial, seal_start, &seal)?;
    commit(partial, output)?;
    Ok(report)
}

/// Moves the finished, sealed file to its final name and makes the rename durable.
pub fn commit(partial: &Path, output: &Path) -> Result<()> {
    std::fs::rename(partial, output).map_err(|e| Error::write(output, e))?;
    sync_dir(output);
    Ok(())
}

#[cfg(unix)]
fn sync_dir(path: &Path) {
    let dir = crate::scratch::folder_of(path);
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) {
    // Windows has no directory handles to sync; MoveFileEx with write-through is what rename does.
}

/// Copies what an earlier archive holds into the new one, as it is (no recompression): every
/// original, earlier version and image. What is derived from them (conversations, viewer, index,
/// renditions, README, manifest) is made anew. `renames` moves earlier contents of changed paths
/// to `versions/`.
/// Whether an entry of an archive being updated is copied into the new one whatever the
/// update brings: originals, images, earlier versions.
fn kept_as_is(name: &str) -> bool {
    name.starts_with(layout::FILES_PREFIX)
        || name.starts_with(layout::MEDIA_PREFIX)
        || name.starts_with("versions/")
}

/// Where the part of the earlier archive that an update keeps as it is ends, when there is
/// such a part beyond the README: the entries from the start that are this version's README
/// and then originals, images and versions that keep their names. The next entry starts there.
fn earlier_prefix(e: &Earlier, renames: &HashMap<String, String>, readme: &str) -> Result<Option<u64>> {
    let path = &e.reader.path;
    let records = e.reader.manifest.entries_by_name();
    let mut starts: Vec<(u64, String)> = Vec::with_capacity(e.reader.zip.len());
    let zip = &e.reader.zip;
    // From the zip directory alone, as is the directory written for the block
    // (`salvage::seal_prefix`): its local headers are never walked.
    for i in 0..zip.len() {
        let file = zip.by_index_data(i).map_err(|err| Error::zip(path, err))?;
        let name = file.name().map_err(|err| Error::zip(path, err))?.to_string();
        starts.push((file.header_start(), name));
    }
    starts.sort_unstable();
    let readme_ok = starts.first().is_some_and(|(at, n)| {
        *at == 0
            && n == layout::README_ENTRY
            && records
                .get(n.as_str())
                .is_some_and(|r| r.sha256 == Sha256Digest::of(readme.as_bytes()))
    });
    if !readme_ok {
        return Ok(None);
    }
    let kept = starts[1..]
        .iter()
        .take_while(|(_, n)| kept_as_is(n) && !renames.contains_key(n) && records.contains_key(n.as_str()))
        .count();
    match starts.get(kept + 1) {
        Some((end, _)) if kept > 0 => Ok(Some(*end)),
        _ => Ok(None),
    }
}

/// A writer for `partial` that starts with the first `end` bytes of the archive being
/// updated, copied as one block, and goes on after them. The block is copied on a thread of
/// its own (the [`BlockCopy`] returned), beside the rest of the update: the writer writes
/// after it, and nothing reads it before the check of the new archive. On Windows the copy
/// is done before the writer writes anything (see [`COPY_BLOCK_FIRST`]): no copy is returned,
/// and a copy that failed fails here.
fn writer_after_prefix(
    e: &mut Earlier,
    partial: &Path,
    end: u64,
    mut handoff: Option<std::sync::mpsc::Sender<BlockHash>>,
) -> Result<(ArchiveWriter, Option<BlockCopy>)> {
    File::create(partial)
        .and_then(|f| {
            // The block's place is allocated first: writes into allocated blocks leave the
            // file's lock shared, so the copy's writes do not hold up the writer's after them.
            #[cfg(target_os = "linux")]
            {
                use std::os::unix::io::AsRawFd;
                // SAFETY: fallocate on an open descriptor; a refusal (a file system without
                // it) changes nothing, and `set_len` gives the length.
                if let Ok(len) = libc::off_t::try_from(end) {
                    unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) };
                }
            }
            f.set_len(end)
        })
        .map_err(|err| Error::write(partial, err))?;
    // On Windows, a write past what a file holds makes NTFS write zeros up to it first: the
    // directory written after the block would cost the block's length in zeros, written before
    // the copy writes it again. There the block is copied first, and nothing beside it.
    if COPY_BLOCK_FIRST {
        BlockCopy::start(&e.reader.path, partial, end, handoff.take())?.finish()?;
    }
    let zip = &e.reader.zip;
    let names = crate::archive::salvage::seal_prefix(
        &e.reader.path,
        zip.central_directory_start(),
        zip.len(),
        partial,
        end,
    )
    .map_err(|err| Error::read(&e.reader.path, err))?;
    let by_name = e.reader.manifest.entries_by_name();
    let records = names
        .iter()
        .map(|(n, _)| {
            by_name.get(n.as_str()).map(|r| (*r).clone()).ok_or_else(|| {
                Error::zip(
                    &e.reader.path,
                    format!("{n} is not in its manifest; run `qqvault verify` on it"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let writer = ArchiveWriter::append(partial, records)?;
    let copy = if COPY_BLOCK_FIRST {
        None
    } else {
        Some(BlockCopy::start(&e.reader.path, partial, end, handoff)?)
    };
    e.block = names.into_iter().collect();
    Ok((writer, copy))
}

/// Whether an update copies its block before writing anything after it (see
/// [`writer_after_prefix`]), rather than beside the rest of the update.
const COPY_BLOCK_FIRST: bool = cfg!(windows);

/// The copy of the first bytes of one file into another, which is already that long, on a
/// thread of its own (see [`copy_block`]).
struct BlockCopy {
    from: std::path::PathBuf,
    to: std::path::PathBuf,
    thread: Option<std::thread::JoinHandle<std::result::Result<Copied, CopyError>>>,
    /// Asks the thread to stop (a run that fails before the copy is needed).
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    end: u64,
}

impl BlockCopy {
    /// `handoff` gets the block's length and the hash's state after it once the whole block is
    /// copied (see [`Earlier::check_seal`]).
    fn start(
        from: &Path,
        to: &Path,
        end: u64,
        handoff: Option<std::sync::mpsc::Sender<BlockHash>>,
    ) -> Result<Self> {
        let src = File::open(from).map_err(|e| Error::read(from, e))?;
        let dst = std::fs::OpenOptions::new()
            .write(true)
            .open(to)
            .map_err(|e| Error::write(to, e))?;
        let target = to.to_path_buf();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("block-copy".into())
            .spawn(move || {
                let copied = copy_block(src, dst, &target, end, &stopped, DIRECT_PIECE);
                if let (Ok(c), Some(tx)) = (&copied, handoff) {
                    if c.bytes == end {
                        let _ = tx.send((end, c.state.clone()));
                    }
                }
                copied
            })
            .map_err(|e| Error::write(to, e))?;
        Ok(BlockCopy {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            thread: Some(thread),
            stop,
            end,
        })
    }

    /// Waits for the copy to end; an error unless it copied the whole block.
    fn finish(mut self) -> Result<()> {
        let done = match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(CopyError::Target(io::Error::other("the copying thread failed"))),
        };
        let short = || {
            Error::read(
                &self.from,
                io::Error::other("the archive is shorter than its directory says"),
            )
        };
        match done {
            Ok(c) if c.bytes == self.end => Ok(()),
            Ok(_) => Err(short()),
            Err(CopyError::Source(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short()),
            Err(CopyError::Source(e)) => Err(Error::read(&self.from, e)),
            Err(CopyError::Target(e)) => Err(Error::write(&self.to, e)),
        }
    }
}

impl Drop for BlockCopy {
    /// A run that stops early stops the copy and waits for it, so that nothing writes to its
    /// file after.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What [`copy_block`] did.
struct Copied {
    /// Bytes copied.
    bytes: u64,
    /// The SHA-256 state after those bytes, hashed in order from the very buffers that were
    /// written: once it goes on to the earlier archive's seal, the copy is proven to be the
    /// sealed bytes.
    state: sha2::Sha256,
}

/// Why [`copy_block`] failed: reading the archive copied, or writing the copy.
enum CopyError {
    Source(io::Error),
    Target(io::Error),
}

/// Copies the first `end` bytes of `src` into `dst` (`to`), to the same offsets, until `stop`,
/// hashing every byte in order from the buffer it is written from.
/// On Linux the bulk is written with `O_DIRECT` ([`copy_direct`]); the rest, or
/// everything where that cannot be, goes through a buffer of half a MiB, which stays in the
/// processor's cache between its copies (`copy_file_range`, the system's own copy, took
/// twice as long on ext4: it moves 64 KiB at a time through a pipe, and it would leave
/// nothing to hash).
fn copy_block(
    mut src: File,
    mut dst: File,
    to: &Path,
    end: u64,
    stop: &std::sync::atomic::AtomicBool,
    piece: usize,
) -> std::result::Result<Copied, CopyError> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom, Write};
    #[cfg(target_os = "linux")]
    let (direct, mut state) = copy_direct(&mut src, to, end, stop, piece)?;
    #[cfg(not(target_os = "linux"))]
    let (direct, mut state) = {
        let _ = (to, piece);
        (0u64, sha2::Sha256::new())
    };
    let mut copied = direct;
    src.seek(SeekFrom::Start(copied)).map_err(CopyError::Source)?;
    dst.seek(SeekFrom::Start(copied)).map_err(CopyError::Target)?;
    let mut src = src.take(end - copied);
    let mut buf = vec![0u8; 512 << 10];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Source(e)),
        };
        state.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(CopyError::Target)?;
        copied += n as u64;
        // Asked now and then, so that the sync before the rename finds it written.
        if copied % (64 << 20) < n as u64 {
            crate::archive::write::start_writeback(&dst, copied.saturating_sub(64 << 20), copied);
        }
    }
    crate::archive::write::start_writeback(&dst, 0, end);
    Ok(Copied { bytes: copied, state })
}

/// The size of the pieces an update's block is copied in, past the page cache, [`COPIERS`] at
/// a time. Pieces of 32 MiB on three threads copied the block of `bench/update.sh` faster than
/// 4 MiB on six, by turns: updates of 15.6 s against 17.2 s on average over eleven pairs (a
/// tenth less; three of the eleven went the other way), for 70 MB more memory (the
/// buffers); 16 MiB on three or four threads fell between. Fewer, larger writes leave the
/// file system fewer extents to mark written as they land.
const DIRECT_PIECE: usize = 32 << 20;

/// Pieces copied at once, each by a thread of its own: the disk is given several reads and
/// writes at a time, while a piece waits for its turn to be hashed.
#[cfg(target_os = "linux")]
const COPIERS: usize = 3;

/// Copies the first `end` bytes of `src` into the file `to` with `O_DIRECT`, in whole blocks
/// of pieces of `piece` bytes (a multiple of the block), several at a time, and hashes the
/// pieces in order (each from the buffer it is written from) as they come. The bytes go
/// straight from the buffer to the disk, without the copy into the page cache that costs the
/// processor more than anything else an update does with them (a buffered copy of 2.6 GB took
/// 5.2 s of system time here, a direct one 0.5 s).
///
/// A block is the largest of 4 KiB, the memory page and the file system's block, so that the
/// last page written directly holds nothing that is written through the page cache (the rest
/// of the block, by the caller, and what the archive's writer writes after it). Returns how
/// many bytes from the start were copied and hashed, with the hash's state after them: 0 and
/// a fresh state where the file system does not take direct writes.
#[cfg(target_os = "linux")]
fn copy_direct(
    src: &mut File,
    to: &Path,
    end: u64,
    stop: &std::sync::atomic::AtomicBool,
    piece: usize,
) -> std::result::Result<(u64, sha2::Sha256), CopyError> {
    use sha2::Digest;
    use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
    use std::sync::atomic::{AtomicU64, Ordering};
    let fresh = || Ok((0, sha2::Sha256::new()));
    let Ok(dst) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(to)
    else {
        return fresh();
    };
    // SAFETY: sysconf reads a system constant.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
    let fs_block = dst.metadata().map(|m| m.blksize() as usize).unwrap_or(0);
    let block = page.max(fs_block).max(4096);
    if !block.is_power_of_two() || !piece.is_multiple_of(block) {
        return fresh();
    }
    let whole = end - end % block as u64;
    let pieces = whole.div_ceil(piece as u64);
    let next = AtomicU64::new(0);
    // The first piece that could not be written directly (the file system refused).
    let refused = AtomicU64::new(u64::MAX);
    // The first read that failed.
    let failed: std::sync::Mutex<Option<io::Error>> = std::sync::Mutex::new(None);
    // Which piece is hashed next, the hash so far, and whether the copy goes on.
    struct Turn {
        next: u64,
        state: sha2::Sha256,
        open: bool,
    }
    let turn = std::sync::Mutex::new(Turn {
        next: 0,
        state: sha2::Sha256::new(),
        open: true,
    });
    let turned = std::sync::Condvar::new();
    let close = || {
        if let Ok(mut t) = turn.lock() {
            t.open = false;
        }
        turned.notify_all();
    };
    // A thread that panics closes the turn, so that none waits for a piece it held.
    struct CloseOnPanic<F: Fn()>(F);
    impl<F: Fn()> Drop for CloseOnPanic<F> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                (self.0)();
            }
        }
    }
    let src = &*src;
    std::thread::scope(|s| {
        for _ in 0..COPIERS {
            s.spawn(|| {
                let _closes = CloseOnPanic(close);
                // Direct reads and writes need buffers aligned to the block.
                let mut raw = vec![0u8; piece + block];
                let skew = raw.as_ptr().align_offset(block);
                let buf = &mut raw[skew..skew + piece];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= pieces || k >= refused.load(Ordering::Relaxed) {
                        return;
                    }
                    if stop.load(Ordering::Relaxed) {
                        close();
                        return;
                    }
                    let at = k * piece as u64;
                    let n = (whole - at).min(piece as u64) as usize;
                    // The source is read through the page cache: its read-ahead kept the disk
                    // busier than direct reads of the pieces (an update of the set of
                    // `bench/update.sh` took 14.2 to 17.3 s against 16.9 to 17.4 s).
                    if let Err(e) = src.read_exact_at(&mut buf[..n], at) {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        close();
                        return;
                    }
                    if dst.write_all_at(&buf[..n], at).is_err() {
                        // Not a file system for direct writes: the caller copies from the
                        // first such piece on (the pieces before it are hashed still).
                        if let Ok(_t) = turn.lock() {
                            refused.fetch_min(k, Ordering::Relaxed);
                        }
                        turned.notify_all();
                        return;
                    }
                    // Hashed in order, from the buffer just written.
                    let Ok(mut t) = turn.lock() else {
                        close();
                        return;
                    };
                    while t.open && t.next != k && k < refused.load(Ordering::Relaxed) {
                        t = match turned.wait(t) {
                            Ok(t) => t,
                            Err(_) => return,
                        };
                    }
                    if !t.open || t.next != k {
                        return;
                    }
                    t.state.update(&buf[..n]);
                    t.next += 1;
                    drop(t);
                    turned.notify_all();
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(CopyError::Source(e));
    }
    if stop.load(Ordering::Relaxed) {
        return fresh();
    }
    let Ok(t) = turn.into_inner() else {
        return fresh();
    };
    // Every piece before the first refused one was copied and hashed.
    Ok(((t.next * piece as u64).min(whole), t.state))
}

fn copy_earlier(
    writer: &mut ArchiveWriter,
    e: &mut Earlier,
    renames: &HashMap<String, String>,
    copied_before: u64,
) -> Result<()> {
    let records: HashMap<String, crate::archive::manifest::EntryRecord> = e
        .reader
        .manifest
        .entries
        .iter()
        .map(|r| (r.name.clone(), r.clone()))
        .collect();
    let path = e.reader.path.clone();
    for i in 0..e.reader.zip.len() {
        // Decided from the zip directory alone: opening an entry reads its local header, a
        // seek for each of the (many thousand) entries of the block, which are not copied here.
        let data = e
            .reader
            .zip
            .by_index_data(i)
            .map_err(|err| Error::zip(&path, err))?;
        let name = data
            .name()
            .map(|n| n.to_string())
            .map_err(|err| Error::zip(&path, err))?;
        if data.header_start() < copied_before || !kept_as_is(&name) {
            continue;
        }
        let file = e
            .reader
            .zip
            .by_index_raw(i)
            .map_err(|err| Error::zip(&path, err))?;
        let Some(rec) = records.get(&name) else {
            return Err(Error::zip(
                &path,
                format!("{name} is in the zip but not in its manifest; run `qqvault verify` on it"),
            ));
        };
        match renames.get(&name) {
            Some(new_name) => {
                let mut rec = rec.clone();
                rec.name = new_name.clone();
                writer.raw_copy_renamed(file, new_name, rec, Some(&path))?;
            }
            None => {
                writer.raw_copy(file, rec.clone(), Some(&path))?;
            }
        }
    }
    Ok(())
}

/// Extracts the exports an earlier archive holds into a scratch folder (mirroring their archive
/// paths, so that a chunked export's manifest finds its chunks) and adds them to the exports to
/// parse. Opaque ones (encrypted databases) are carried over as they were recorded.
///
/// With `reparse`, only the exports it names are extracted; the others are carried over as
/// they were recorded (their UTF-8 renditions copied), and `moved` maps the path of each of
/// them that now goes by an earlier version's name to that name.
#[allow(clippy::too_many_arguments)]
fn extract_earlier_exports(
    e: &mut Earlier,
    writer: &mut ArchiveWriter,
    renames: &HashMap<String, String>,
    scratch: &Path,
    all_files: &mut Vec<ScannedFile>,
    found: &mut Vec<FoundExport>,
    carried: &mut Vec<crate::archive::manifest::ExportRecord>,
    entries_of: &mut HashMap<String, String>,
    reparse: Option<&std::collections::HashSet<String>>,
    moved: &mut HashMap<String, String>,
) -> Result<crate::scratch::ScratchDir> {
    let tmp = crate::scratch::ScratchDir::new(scratch, "update").map_err(|err| Error::write(scratch, err))?;
    let exports = e.reader.manifest.exports.clone();
    let by_path = e.by_path.clone();
    let texts: HashMap<String, crate::archive::manifest::EntryRecord> = e
        .reader
        .manifest
        .entries
        .iter()
        .filter(|r| r.name.starts_with(layout::TEXT_PREFIX))
        .map(|r| (r.name.clone(), r.clone()))
        .collect();
    let versions: HashMap<String, FileRecord> = e
        .reader
        .manifest
        .versions
        .iter()
        .map(|v| (v.file.entry.clone(), v.file.clone()))
        .collect();
    // The scratch copies' paths so far, as a case-blind system compares them (see below).
    let mut scratch_names: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut apart = 0u32;
    for x in exports {
        if x.opaque {
            carried.push(x);
            continue;
        }
        // Where its bytes are now, and the name it goes by.
        // Where its bytes are now, and the name it goes by: by the entry the manifest names
        // (its path may hold newer content by now), by its path in older manifests.
        let name_for = |entry: &str| {
            if entry.starts_with("versions/") {
                entry.to_string()
            } else {
                x.path.clone()
            }
        };
        let by_entry = x.entry.as_ref().and_then(|en| {
            let now = renames.get(en).cloned().unwrap_or_else(|| en.clone());
            match by_path.values().find(|r| &r.entry == en) {
                Some(r) => Some((now.clone(), name_for(&now), r.clone())),
                // An earlier version: named after its entry, apart from the path's new content.
                None => versions.get(en).map(|v| (now.clone(), now.clone(), v.clone())),
            }
        });
        let by_old_path = || {
            by_path.get(&x.path).map(|r| {
                let entry = renames.get(&r.entry).cloned().unwrap_or_else(|| r.entry.clone());
                (entry.clone(), name_for(&entry), r.clone())
            })
        };
        let (entry, name, rec) = match by_entry.or_else(by_old_path) {
            Some(found) => found,
            None => match versions.get(&x.path) {
                Some(v) => (x.path.clone(), x.path.clone(), v.clone()),
                None => continue,
            },
        };
        entries_of.insert(name.clone(), entry.clone());
        if reparse.is_some_and(|r| !r.contains(&x.path)) {
            let mut kept = x.clone();
            if name != x.path {
                moved.insert(x.path.clone(), name.clone());
            }
            if let Some(text) = &x.utf8_entry {
                let new_text = format!("{}{name}", layout::TEXT_PREFIX);
                crate::carry::copy_entry_as(writer, &mut e.reader, &texts, text, &new_text)?;
                kept.utf8_entry = Some(new_text);
            }
            kept.path = name;
            kept.entry = Some(entry);
            carried.push(kept);
            continue;
        }
        // Its folders and name as in the archive, where this system can hold them; on Windows
        // a name from another system may need its nearest Windows form (`12:30` as `12：30`),
        // which only this scratch copy takes (the export keeps its archived name).
        let fitted = crate::names::windows_path(&name).filter(|_| cfg!(windows));
        let rel: std::path::PathBuf = fitted.as_deref().unwrap_or(&name).split('/').collect();
        // Two names this system takes for one (`Chat.txt` and `chat.txt` from Linux on
        // Windows, or a name and another's nearest Windows form) would share one scratch file,
        // and one export would be read from the other's bytes: the second goes in a folder of
        // its own (its chunks, if any, are then not beside it, and it says so).
        let key = crate::names::case_key(fitted.as_deref().unwrap_or(&name));
        let dest = if scratch_names.insert(key) {
            tmp.path().join(&rel)
        } else {
            apart += 1;
            tmp.path().join(format!("~{apart}")).join(&rel)
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|err| Error::write(parent, err))?;
        }
        let path = e.reader.path.clone();
        let lookup = if e.reader.zip.index_for_name(&entry).is_some() {
            entry.clone()
        } else {
            rec.entry.clone()
        };
        let mut src = e
            .reader
            .zip
            .by_name(&lookup)
            .map_err(|err| Error::zip(&path, format!("{lookup}: {err}")))?;
        let mut out = File::create(&dest).map_err(|err| Error::write(&dest, err))?;
        io::copy(&mut src, &mut out).map_err(|err| Error::write(&dest, err))?;
        drop(out);
        let head = ingest::read_head(&dest, crate::chats::HEAD_LEN).map_err(|err| Error::read(&dest, err))?;
        if let Some(kind) = ingest::recognise(&name, &head) {
            found.push(FoundExport {
                file: all_files.len(),
                kind,
            });
            all_files.push(ScannedFile {
                disk_path: dest,
                archive_path: crate::names::ArchivePath::plain(&name),
                size: rec.size,
                mtime: rec.mtime,
            });
        }
    }
    Ok(tmp)
}

/// Copies the entries an interrupted run stored, as they are (unless the writing goes on in
/// its file: `in_place`), and records their files.
#[allow(clippy::too_many_arguments)]
fn reuse_salvaged(
    writer: &mut ArchiveWriter,
    sv: &crate::archive::salvage::Salvage,
    in_place: bool,
    reused: &[(usize, crate::archive::salvage::Salvaged)],
    files: &[ScannedFile],
    placed: &mut [Option<Placed>],
    stored: &mut HashMap<Sha256Digest, String>,
    found: &mut Vec<FoundExport>,
) -> Result<()> {
    if reused.is_empty() {
        return Ok(());
    }
    let mut zip = match in_place {
        true => None,
        false => {
            let src = File::open(&sv.path).map_err(|e| Error::read(&sv.path, e))?;
            Some(zip::ZipArchive::new(io::BufReader::new(src)).map_err(|e| Error::zip(&sv.path, e))?)
        }
    };
    for (i, e) in reused {
        let f = &files[*i];
        // Recognised from its first bytes when it was read back, as a freshly written file is.
        if let Some(kind) = e.export {
            found.push(FoundExport { file: *i, kind });
        }
        stored.entry(e.sha256).or_insert_with(|| e.name.clone());
        placed[*i] = Some(Placed::new(f, e.name.clone(), e.size, e.sha256, false));
        let Some(zip) = zip.as_mut() else { continue };
        let index = zip.index_for_name(&e.name).ok_or_else(|| {
            Error::zip(
                &sv.path,
                format!("{} is not in the interrupted run's file", e.name),
            )
        })?;
        let raw = zip
            .by_index_raw(index)
            .map_err(|err| Error::zip(&sv.path, format!("{}: {err}", e.name)))?;
        let record = crate::archive::manifest::EntryRecord {
            name: e.name.clone(),
            kind: EntryKind::File,
            size: e.size,
            method: e.method,
            crc32: e.crc32,
            sha256: e.sha256,
        };
        writer.raw_copy(raw, record, Some(&sv.path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy of an archive's start is the source's bytes, up to `end`, whatever the number
    /// of pieces copied at once, and the hash it hands over is theirs, in order.
    #[test]
    fn a_block_copy_in_pieces_is_the_source_start() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.zip"), dir.path().join("b.zip.partial"));
        let mut x = 7u32;
        let data: Vec<u8> = (0..(29 << 20) + 12_345)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        std::fs::write(&from, &data).unwrap();
        let end = (27 << 20) + 4_321;
        let stop = std::sync::atomic::AtomicBool::new(false);
        // Seven pieces of 4 MiB, several in flight at once; and one short of the real size.
        for piece in [4 << 20, DIRECT_PIECE] {
            let Ok(copied) = copy_block(
                File::open(&from).unwrap(),
                File::create(&to).unwrap(),
                &to,
                end,
                &stop,
                piece,
            ) else {
                panic!("the copy failed");
            };
            assert_eq!(copied.bytes, end);
            let copy = std::fs::read(&to).unwrap();
            assert_eq!(copy.len() as u64, end);
            assert!(copy[..] == data[..end as usize]);
            use sha2::Digest;
            assert_eq!(
                copied.state.finalize()[..],
                sha2::Sha256::digest(&data[..end as usize])[..]
            );
        }
    }

    /// A copy finished before anything else is written (as on Windows) has handed its hash
    /// over by then, and the block is whole; one longer than its source is not.
    #[test]
    fn a_block_copy_finished_first_is_whole_and_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.zip"), dir.path().join("b.zip.partial"));
        let data: Vec<u8> = (0..(9u32 << 20) + 77).map(|i| (i % 251) as u8).collect();
        std::fs::write(&from, &data).unwrap();
        let end = (9 << 20) + 5;
        let f = File::create(&to).unwrap();
        f.set_len(end).unwrap();
        drop(f);
        let (tx, rx) = std::sync::mpsc::channel();
        let copy = BlockCopy::start(&from, &to, end, Some(tx)).unwrap();
        assert!(copy.finish().is_ok());
        let (len, state) = rx
            .try_recv()
            .expect("the hash was handed over when the copy ended");
        assert_eq!(len, end);
        use sha2::Digest;
        assert_eq!(
            state.finalize()[..],
            sha2::Sha256::digest(&data[..end as usize])[..]
        );
        assert!(std::fs::read(&to).unwrap()[..] == data[..end as usize]);
        let short = BlockCopy::start(&from, &to, data.len() as u64 + 1, None).unwrap();
        assert!(short.finish().is_err());
    }

    /// A copy asked to stop before it begins hands over nothing whole: no bytes, so the check
    /// of the seal hashes the archive from its start.
    #[test]
    fn a_stopped_block_copy_copies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a.zip"), dir.path().join("b.zip.partial"));
        std::fs::write(&from, vec![5u8; 9 << 20]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(true);
        let Ok(copied) = copy_block(
            File::open(&from).unwrap(),
            File::create(&to).unwrap(),
            &to,
            9 << 20,
            &stop,
            DIRECT_PIECE,
        ) else {
            panic!("the copy failed");
        };
        assert_eq!(copied.bytes, 0);
    }
}
