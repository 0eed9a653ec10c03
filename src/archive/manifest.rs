//! The manifest: the archive's last entry, a JSON document that lists every input file, every
//! zip entry with its hash, what was skipped, and the totals. Schema version 1; fields are only
//! ever added, never renamed. The README documents every field.

use crate::names::RawPath;
use crate::scan::{FileTime, InputRoot, Skipped, SymlinkRecord};
use qqvault_core::Sha256Digest;
use serde::{Deserialize, Serialize};

/// `Files` is how the list of files is held: a backup writes it record by record from what it
/// holds anyway (see `backup`); everything that reads a manifest gets the records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest<Files = Vec<FileRecord>> {
    /// Always "qqvault-archive".
    pub format: String,
    /// The layout and manifest schema version.
    pub schema: u32,
    pub tool: ToolInfo,
    /// When the backup ran (UTC, RFC 3339).
    pub created: String,
    pub inputs: Vec<InputRoot>,
    /// Every input file archived, duplicates included.
    pub files: Files,
    /// Every zip entry except README.txt's own record below and this manifest.
    pub entries: Vec<EntryRecord>,
    pub skipped: Vec<Skipped>,
    pub symlinks: Vec<SymlinkRecord>,
    /// Earlier contents of paths that an update gave new content (newest first is in `files`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRecord>,
    pub totals: Totals,
    /// Chat exports found among the files (see the README: conversations).
    #[serde(default)]
    pub exports: Vec<ExportRecord>,
    /// The conversations parsed from those exports.
    #[serde(default)]
    pub conversations: Vec<ConversationRecord>,
}

impl<Files> Manifest<Files> {
    /// Its entries' records, by entry name.
    pub fn entries_by_name(&self) -> std::collections::HashMap<&str, &EntryRecord> {
        self.entries.iter().map(|e| (e.name.as_str(), e)).collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// One input file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// `top/relative/path`, UTF-8, '/' separated.
    pub path: String,
    /// The original bytes of the relative path when it was not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_path: Option<RawPath>,
    /// The zip entry that holds its bytes (shared by every file of the same content).
    pub entry: String,
    pub size: u64,
    pub mtime: FileTime,
    pub sha256: Sha256Digest,
    /// The file changed while it was read: the stored bytes may mix old and new content.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changed_while_reading: bool,
}

/// An earlier content of a path: its file record as it was, and when an update replaced it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    #[serde(flatten)]
    pub file: FileRecord,
    /// When the update that gave the path new content ran (UTC).
    pub replaced: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Stored,
    Deflate,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Readme,
    File,
    Chat,
    Media,
    Text,
    Index,
    Viewer,
    /// A kind written by a later version: read as such, never an error.
    #[serde(other)]
    Other,
}

/// One zip entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryRecord {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub method: Method,
    pub crc32: u32,
    pub sha256: Sha256Digest,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Input files archived (every path, duplicates included).
    pub files: u64,
    /// Distinct contents among them.
    pub unique_files: u64,
    /// Total size of the input files.
    pub bytes_in: u64,
    /// Zip entries, README.txt and manifest.json included.
    pub entries: u64,
    /// Inputs skipped.
    pub skipped: u64,
}

/// A chat export recognised among the input files.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExportRecord {
    /// The file's `path` (as in `files`).
    pub path: String,
    /// Its format (see the README).
    pub format: String,
    /// The entry that holds its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The text encoding chosen, for text formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Bytes that could not be decoded in that encoding (replaced by U+FFFD in renditions).
    #[serde(default)]
    pub undecodable_bytes: u64,
    /// The UTF-8 rendition's entry, when the file was in another encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utf8_entry: Option<String>,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub conversations: u64,
    #[serde(default)]
    pub lines_not_understood: u64,
    /// Up to a few lines that were not understood, for the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_not_understood: Vec<String>,
    /// Embedded images referenced and found (MHT).
    #[serde(default)]
    pub images_found: u64,
    /// Image references without a part (MHT).
    #[serde(default)]
    pub images_missing: u64,
    /// Parts that nothing references (MHT).
    #[serde(default)]
    pub images_unreferenced: u64,
    /// Image parts whose data is damaged (MHT): kept as far as it could be decoded.
    #[serde(default)]
    pub images_damaged: u64,
    /// `[图片]` placeholders in the messages of exports that embed no images (TXT, JSON): the
    /// pictures were never in such an export, so they are counted, not missing.
    #[serde(default)]
    pub image_placeholders: u64,
    /// Findings in words (broken images, errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Whether this file is kept only as an opaque original (encrypted databases, .bak).
    #[serde(default)]
    pub opaque: bool,
}

/// A conversation held in the archive.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub kind: qqvault_core::ChatKind,
    pub key: qqvault_core::ConversationKey,
    pub messages: u64,
    pub first: Option<qqvault_core::MessageTime>,
    pub last: Option<qqvault_core::MessageTime>,
    /// The JSON Lines entry.
    pub entry: String,
    /// The readable transcript entry.
    pub transcript: String,
    /// Export files it was read from.
    pub sources: Vec<String>,
    /// Sender names the export marks as the exporting user (MHT colours), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub self_senders: Vec<String>,
}

/// Reads a manifest from a stream without holding its text (the manifest of 200,000 files is
/// about 100 MB of JSON). An error with `is_io()` means the bytes could not be read (a bad
/// checksum included); any other, that they are not a manifest of this schema.
pub fn read_manifest(r: impl std::io::Read) -> Result<Manifest, serde_json::Error> {
    serde_json::from_reader(std::io::BufReader::with_capacity(256 << 10, r))
}
