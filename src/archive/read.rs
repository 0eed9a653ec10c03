//! Opening an archive for reading: the seal, the manifest and entry access. Everything on the
//! read side (restore, list, show, search, info) starts here; none of it needs the inputs.

use crate::archive::layout;
use crate::archive::manifest::Manifest;
use crate::archive::seal::{self, Seal};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// How many bytes at the end of a file are searched for the seal.
pub const TAIL: u64 = 4096;

/// Where the seal starts and what it says, read from the end of the file.
pub fn read_seal(file: &mut File, len: u64) -> std::io::Result<Option<(u64, Result<Seal, String>)>> {
    let tail_len = len.min(TAIL);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    Ok(seal::find_in_tail(&tail).map(|pos| (len - tail_len + pos as u64, Seal::parse(&tail[pos..]))))
}

/// An archive opened for reading, its manifest parsed.
pub struct ArchiveReader {
    pub path: PathBuf,
    pub zip: ZipArchive<BufReader<File>>,
    pub manifest: Manifest,
    pub seal: Option<Seal>,
}

impl ArchiveReader {
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::read(path, e))?;
        let len = file.metadata().map_err(|e| Error::read(path, e))?.len();
        let seal = read_seal(&mut file, len)
            .map_err(|e| Error::read(path, e))?
            .and_then(|(_, s)| s.ok());
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::read(path, e))?;
        let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| Error::NotAnArchive {
            path: path.to_path_buf(),
            detail: format!("{e}; run `qqvault verify` on it for details"),
        })?;
        let manifest = {
            let mut entry = zip
                .by_name(layout::MANIFEST_ENTRY)
                .map_err(|_| Error::NotAnArchive {
                    path: path.to_path_buf(),
                    detail: "it has no manifest.json".into(),
                })?;
            crate::archive::manifest::read_manifest(&mut entry).map_err(|e| Error::NotAnArchive {
                path: path.to_path_buf(),
                detail: if e.is_io() {
                    format!("its manifest cannot be read ({e}); run `qqvault verify` on it")
                } else {
                    format!("its manifest is not valid ({e})")
                },
            })?
        };
        Ok(ArchiveReader {
            path: path.to_path_buf(),
            zip,
            manifest,
            seal,
        })
    }

    /// Reads a whole (small) entry.
    pub fn read_entry(&mut self, name: &str) -> Result<Vec<u8>> {
        let mut entry = self
            .zip
            .by_name(name)
            .map_err(|e| Error::zip(&self.path, format!("{name}: {e}")))?;
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| Error::zip(&self.path, format!("{name}: {e}")))?;
        Ok(buf)
    }
}
