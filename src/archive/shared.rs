//! A buffered reader of a file that can be cloned: each clone reads at its own position through
//! the one open file. A `ZipArchive` over it can then be cloned for a second thread, which
//! shares the parsed central directory instead of parsing it again (for 200,000 entries the
//! directory takes some 60 MB).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

const BUF: usize = 1 << 20;

pub struct SharedReader {
    file: Arc<File>,
    /// Where the next read starts.
    pos: u64,
    buf: Vec<u8>,
    /// The file offset of `buf[0]`, and how much of `buf` is filled.
    buf_start: u64,
    buf_len: usize,
}

impl SharedReader {
    pub fn new(file: File) -> Self {
        SharedReader {
            file: Arc::new(file),
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
        }
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&*self.file, buf, at)
    }
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&*self.file, buf, at)
    }
    #[cfg(not(any(unix, windows)))]
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        // Elsewhere clones share the cursor: a seek before every read keeps each at its place
        // as long as they are not read at the same instant.
        let mut f = &*self.file;
        f.seek(SeekFrom::Start(at))?;
        f.read(buf)
    }
}

impl Clone for SharedReader {
    fn clone(&self) -> Self {
        SharedReader {
            file: Arc::clone(&self.file),
            pos: self.pos,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
        }
    }
}

impl Read for SharedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let in_buf = self.pos >= self.buf_start && self.pos < self.buf_start + self.buf_len as u64;
        if !in_buf {
            if out.len() >= BUF {
                // Large reads go straight to the caller's buffer.
                let n = self.read_at(out, self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            if self.buf.is_empty() {
                self.buf = vec![0; BUF];
            }
            let mut buf = std::mem::take(&mut self.buf);
            let filled = self.read_at(&mut buf, self.pos);
            self.buf = buf;
            self.buf_start = self.pos;
            self.buf_len = filled?;
            if self.buf_len == 0 {
                return Ok(0);
            }
        }
        let from = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf_len - from);
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.file.metadata()?.len().checked_add_signed(d),
        };
        self.pos =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn clones_read_at_their_own_positions() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..3 * BUF + 17).map(|i| (i * 7 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let mut a = SharedReader::new(f);
        a.seek(SeekFrom::Start(10)).unwrap();
        let mut b = a.clone();
        let mut x = [0u8; 5];
        a.read_exact(&mut x).unwrap();
        assert_eq!(x, data[10..15]);
        b.seek(SeekFrom::End(-7)).unwrap();
        let mut y = Vec::new();
        b.read_to_end(&mut y).unwrap();
        assert_eq!(y, data[data.len() - 7..]);
        a.read_exact(&mut x).unwrap();
        assert_eq!(x, data[15..20]);
        let mut rest = Vec::new();
        a.seek(SeekFrom::Current(-20)).unwrap();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data);
    }
}
