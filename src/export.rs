//! `export`: the conversations of an archive written out for people, in one of three forms.
//!
//! - **html**: the viewer's pages (see [`crate::viewer`]) at the top of the folder
//!   (`index.html`, `chats/<id>/...`), and every picture and file the messages refer to copied
//!   out of the archive under its entry path (`files/...`, `media/...`), so the pages' relative
//!   links resolve and the folder opens from disk with no network.
//! - **txt**: one UTF-8 transcript per conversation, `<name> (<id>).txt`, CRLF line ends (the
//!   same text as the archive's `transcript.txt`).
//! - **jsonl**: the JSON Lines of each conversation, `<name> (<id>).jsonl`, copied as stored.
//!
//! Export streams one conversation at a time: messages are read from the archive line by line
//! and each page or transcript is written as it is made, so memory stays bounded by one page,
//! whatever the size of the archive.
//!
//! The folder must be empty or new, unless the caller allows writing into it (`--overwrite`):
//! then files of the same name are replaced and nothing else in the folder is touched.

use crate::archive::read::ArchiveReader;
use crate::chats::{self, MessageLine};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::viewer::{self, ConversationRenderer, ViewerOptions};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The form of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Html,
    Txt,
    Jsonl,
}

impl ExportFormat {
    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Html => "html",
            ExportFormat::Txt => "txt",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The folder to write into.
    pub dir: PathBuf,
    pub format: ExportFormat,
    /// Write into a folder that is not empty (files of the same name are replaced).
    pub overwrite: bool,
}

/// What an export did. Serialised as `export --json`; fields are only ever added.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub dir: String,
    pub format: ExportFormat,
    pub conversations: u64,
    pub messages: u64,
    /// HTML pages written (html).
    pub pages: u64,
    /// Largest page written, in bytes (html).
    pub largest_page: u64,
    /// Pictures and files copied out of the archive (html).
    pub media: u64,
    /// Files written in all.
    pub files_written: u64,
    pub bytes_written: u64,
    /// The first page to open (html): `index.html` below `dir`.
    pub index: Option<String>,
    /// What could not be exported; the rest was.
    pub problems: Vec<ExportProblem>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportProblem {
    /// The archive entry concerned, when one is.
    pub entry: Option<String>,
    pub detail: String,
}

impl ExportReport {
    /// 0 when everything was exported, 2 when anything was not.
    pub fn exit_code(&self) -> i32 {
        if self.problems.is_empty() {
            0
        } else {
            2
        }
    }
}

/// Exports the conversations of an opened archive.
pub fn export(
    reader: &mut ArchiveReader,
    opts: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    prepare_dir(&opts.dir, opts.overwrite)?;
    let mut out = Out {
        dir: opts.dir.clone(),
        files: 0,
        bytes: 0,
    };
    let mut report = ExportReport {
        dir: opts.dir.display().to_string(),
        format: opts.format,
        conversations: 0,
        messages: 0,
        pages: 0,
        largest_page: 0,
        media: 0,
        files_written: 0,
        bytes_written: 0,
        index: None,
        problems: Vec::new(),
    };
    // A spinner: the trait counts bytes, not messages; the `advance` calls below make it turn.
    progress.phase("exporting", None);
    match opts.format {
        ExportFormat::Html => export_html(reader, &mut out, &mut report, progress)?,
        ExportFormat::Txt | ExportFormat::Jsonl => {
            export_text(reader, opts.format, &mut out, &mut report, progress)?
        }
    }
    progress.finish_phase();
    report.files_written = out.files;
    report.bytes_written = out.bytes;
    Ok(report)
}

/// Refuses a folder that is not empty (unless allowed), and creates it when missing.
fn prepare_dir(dir: &Path, overwrite: bool) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::Usage(format!(
                "{} exists and is not a folder; give a folder to export into",
                dir.display()
            )))
        }
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
            if entries.next().is_some() && !overwrite {
                return Err(Error::Usage(format!(
                    "{} is not empty; give a new or empty folder, or pass --overwrite to write into it (files of the same name are replaced, nothing else is touched)",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::read(dir, e)),
    }
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))
}

/// The export folder, counting what is written into it.
struct Out {
    dir: PathBuf,
    files: u64,
    bytes: u64,
}

impl Out {
    /// Creates `rel` (a '/'-separated path this module made or checked) for writing. An
    /// existing file or link of that name is removed first, so a link is never followed.
    fn create(&mut self, rel: &str) -> Result<BufWriter<File>> {
        let mut path = self.dir.clone();
        path.extend(rel.split('/'));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
        }
        if let Ok(m) = fs::symlink_metadata(&path) {
            if m.is_dir() {
                return Err(Error::write(
                    &path,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a folder of that name is in the way",
                    ),
                ));
            }
            fs::remove_file(&path).map_err(|e| Error::write(&path, e))?;
        }
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::write(&path, e))?;
        self.files += 1;
        Ok(BufWriter::with_capacity(256 << 10, f))
    }

    fn write_file(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let mut w = self.create(rel)?;
        w.write_all(bytes)
            .map_err(|e| Error::write(self.dir.join(rel), e))?;
        self.finish(rel, w)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn finish(&self, rel: &str, w: BufWriter<File>) -> Result<()> {
        // Flushed, not synced: an export can be made again from the archive at any time.
        w.into_inner()
            .map(drop)
            .map_err(|e| Error::write(self.dir.join(rel), e.into_error()))
    }
}

/// Reads the messages of one conversation entry, line by line, handing each to `each`.
/// Returns the problem that stopped it, if any.
fn for_each_message(
    reader: &mut ArchiveReader,
    entry: &str,
    mut each: impl FnMut(MessageLine) -> Result<()>,
) -> Result<Option<ExportProblem>> {
    let problem = |detail: String| {
        Ok(Some(ExportProblem {
            entry: Some(entry.to_string()),
            detail,
        }))
    };
    let file = match reader.zip.by_name(entry) {
        Ok(f) => f,
        Err(e) => return problem(format!("the archive has no readable entry {entry}: {e}")),
    };
    let mut lines = BufReader::with_capacity(256 << 10, file);
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                return problem(format!(
                    "reading stopped after line {line_no}: {e}; run `qqvault verify`"
                ))
            }
        }
        line_no += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<MessageLine>(text) {
            Ok(m) => each(m)?,
            Err(e) => return problem(format!("line {line_no} is not a message: {e}")),
        }
    }
}

fn export_html(
    reader: &mut ArchiveReader,
    out: &mut Out,
    report: &mut ExportReport,
    progress: &dyn Progress,
) -> Result<()> {
    let mut vopts = ViewerOptions::at_top();
    let name = reader
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    vopts.note = Some(format!(
        "导出自归档 {name}（创建于 {}）/ exported from the archive {name}, made {}",
        reader.manifest.created, reader.manifest.created
    ));
    let records = reader.manifest.conversations.clone();
    let mut media: BTreeSet<String> = BTreeSet::new();
    let mut summaries = Vec::with_capacity(records.len());
    for rec in &records {
        let mut renderer = ConversationRenderer::new(&vopts, rec);
        let mut pages_written = 0u64;
        let mut largest = 0u64;
        let mut count = 0u64;
        let stopped = for_each_message(reader, &rec.entry, |m| {
            count += 1;
            for a in &m.attachments {
                if let Some(e) = a.entry.as_deref().filter(|e| viewer::linkable(e)) {
                    if !media.contains(e) {
                        media.insert(e.to_string());
                    }
                }
            }
            if let Some(page) = renderer.push(&m) {
                out.write_file(&page.path, &page.bytes)?;
                pages_written += 1;
                largest = largest.max(page.bytes.len() as u64);
            }
            if count.is_multiple_of(4096) {
                progress.advance(4096);
            }
            Ok(())
        })?;
        progress.advance(count % 4096);
        report.problems.extend(stopped);
        let (pages, summary) = renderer.finish();
        for page in pages {
            out.write_file(&page.path, &page.bytes)?;
            pages_written += 1;
            largest = largest.max(page.bytes.len() as u64);
        }
        report.pages += pages_written;
        report.largest_page = report.largest_page.max(largest);
        report.messages += count;
        report.conversations += 1;
        summaries.push(summary.row());
    }
    for page in viewer::render_index(&vopts, &summaries) {
        out.write_file(&page.path, &page.bytes)?;
        report.pages += 1;
        report.largest_page = report.largest_page.max(page.bytes.len() as u64);
    }
    report.index = Some(viewer::INDEX_PAGE.to_string());

    // The pictures and files the pages link to, under their entry paths.
    for entry in &media {
        let mut src = match reader.zip.by_name(entry) {
            Ok(f) => f,
            Err(e) => {
                report.problems.push(ExportProblem {
                    entry: Some(entry.clone()),
                    detail: format!(
                        "a message refers to it but the archive has no readable entry of that name: {e}"
                    ),
                });
                continue;
            }
        };
        let mut w = out.create(entry)?;
        match copy(&mut src, &mut w) {
            Ok(n) => {
                drop(src);
                out.finish(entry, w)?;
                out.bytes += n;
                report.media += 1;
            }
            Err(CopyError::Read(e)) => report.problems.push(ExportProblem {
                entry: Some(entry.clone()),
                detail: format!("it cannot be read from the archive: {e}; run `qqvault verify`"),
            }),
            Err(CopyError::Write(e)) => return Err(Error::write(out.dir.join(entry), e)),
        }
    }
    Ok(())
}

fn export_text(
    reader: &mut ArchiveReader,
    format: ExportFormat,
    out: &mut Out,
    report: &mut ExportReport,
    progress: &dyn Progress,
) -> Result<()> {
    let records = reader.manifest.conversations.clone();
    for rec in &records {
        let rel = format!("{}.{}", file_stem(&rec.name, &rec.id), format.label());
        let mut w = out.create(&rel)?;
        let path = out.dir.join(&rel);
        let mut count = 0u64;
        let mut written = 0u64;
        if format == ExportFormat::Jsonl {
            // Copied as stored; messages counted by their lines.
            match reader.zip.by_name(&rec.entry) {
                Ok(mut src) => {
                    let mut counter = LineCounter {
                        inner: &mut w,
                        lines: 0,
                        last: b'\n',
                    };
                    match copy(&mut src, &mut counter) {
                        Ok(n) => {
                            written = n;
                            count = counter.lines + u64::from(n > 0 && counter.last != b'\n');
                        }
                        Err(CopyError::Read(e)) => report.problems.push(ExportProblem {
                            entry: Some(rec.entry.clone()),
                            detail: format!("it cannot be read from the archive: {e}; run `qqvault verify`"),
                        }),
                        Err(CopyError::Write(e)) => return Err(Error::write(&path, e)),
                    }
                }
                Err(e) => report.problems.push(ExportProblem {
                    entry: Some(rec.entry.clone()),
                    detail: format!("the archive has no readable entry of that name: {e}"),
                }),
            }
        } else {
            const EOL: &str = "\r\n";
            let mut head = chats::transcript_heading(rec, EOL);
            head.push_str(EOL);
            w.write_all(head.as_bytes()).map_err(|e| Error::write(&path, e))?;
            written += head.len() as u64;
            let stopped = for_each_message(reader, &rec.entry, |m| {
                let s = chats::transcript_message(&m, EOL);
                w.write_all(s.as_bytes()).map_err(|e| Error::write(&path, e))?;
                written += s.len() as u64;
                count += 1;
                if count.is_multiple_of(4096) {
                    progress.advance(4096);
                }
                Ok(())
            })?;
            report.problems.extend(stopped);
        }
        progress.advance(count % 4096);
        out.finish(&rel, w)?;
        out.bytes += written;
        report.messages += count;
        report.conversations += 1;
    }
    Ok(())
}

/// A file name for a conversation: its name made safe on every system, then its id, which
/// keeps names distinct.
pub fn file_stem(name: &str, id: &str) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .take(60)
        .collect();
    clean = clean
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if clean.is_empty() {
        clean = "conversation".into();
    }
    format!("{clean} ({})", viewer::dir_name(id))
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(src: &mut impl Read, dst: &mut impl Write) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        let k = match src.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        dst.write_all(&buf[..k]).map_err(CopyError::Write)?;
        n += k as u64;
    }
}

/// Counts line ends on their way through.
struct LineCounter<'a, W: Write> {
    inner: &'a mut W,
    lines: u64,
    last: u8,
}

impl<W: Write> Write for LineCounter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if n > 0 {
            self.last = buf[n - 1];
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("小明", "c1"), "小明 (c1)");
        assert_eq!(file_stem("a/b:c*?", "c1"), "a_b_c__ (c1)");
        assert_eq!(file_stem("..", "c1"), "conversation (c1)");
        assert!(!file_stem("x", "../../etc").contains('/'));
    }
}
