//! Encoding detection and streaming decoding of text exports to UTF-8, and a bounded line
//! splitter for the decoded text.
//!
//! QQ's Message Manager wrote its TXT export in UTF-8 with a BOM in every file seen so far, but
//! older clients (and hand-converted copies) may be UTF-16 or a mainland code page (GBK, which
//! GB18030 contains), and a copy that went through a Taiwanese or Hong Kong machine may be Big5.
//! [`detect`] guesses the encoding from the first [`DETECT_PREFIX_LEN`] bytes, and
//! [`DecodingReader`] turns any reader into a reader of UTF-8 bytes, streaming, with bounded
//! memory, replacing undecodable input by U+FFFD and counting how often it had to.
//!
//! [`LineReader`] splits the decoded bytes into lines, either on CRLF only (the Message Manager
//! TXT, where a lone CR or LF is a line break *inside* a message) or on LF, holding at most one
//! line, and never more than a fixed number of bytes of it.

use encoding_rs::{DecoderResult, Encoding, BIG5, GB18030, UTF_16BE, UTF_16LE, UTF_8};
use std::io::{self, BufRead, Read};

/// How many leading bytes [`detect`] (and [`open`]) look at.
pub const DETECT_PREFIX_LEN: usize = 64 * 1024;

/// The encodings a text export is read in. The BOM variants say that the file starts with a
/// byte-order mark (which the decoder skips).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    Utf8Bom,
    Utf8,
    Utf16LeBom,
    Utf16BeBom,
    /// UTF-16 little-endian without a BOM.
    Utf16Le,
    /// UTF-16 big-endian without a BOM.
    Utf16Be,
    /// GB18030, a superset of GBK and GB2312 (the Windows "ANSI" code page of mainland China).
    Gb18030,
    Big5,
}

impl TextEncoding {
    /// A stable lowercase name for manifests and reports.
    pub fn label(&self) -> &'static str {
        match self {
            TextEncoding::Utf8Bom => "utf-8-bom",
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf16LeBom => "utf-16le-bom",
            TextEncoding::Utf16BeBom => "utf-16be-bom",
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16Be => "utf-16be",
            TextEncoding::Gb18030 => "gb18030",
            TextEncoding::Big5 => "big5",
        }
    }

    /// The `encoding_rs` encoding that decodes it.
    pub fn encoding(&self) -> &'static Encoding {
        match self {
            TextEncoding::Utf8Bom | TextEncoding::Utf8 => UTF_8,
            TextEncoding::Utf16LeBom | TextEncoding::Utf16Le => UTF_16LE,
            TextEncoding::Utf16BeBom | TextEncoding::Utf16Be => UTF_16BE,
            TextEncoding::Gb18030 => GB18030,
            TextEncoding::Big5 => BIG5,
        }
    }

    /// A fresh streaming decoder. For the Unicode encodings a leading BOM is removed (also
    /// when the caller chose a BOM-less variant for a file that does have one); the legacy code
    /// pages have no BOM to remove.
    fn new_decoder(&self) -> encoding_rs::Decoder {
        match self {
            TextEncoding::Gb18030 | TextEncoding::Big5 => self.encoding().new_decoder_without_bom_handling(),
            _ => self.encoding().new_decoder_with_bom_removal(),
        }
    }
}

impl std::fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Guesses the encoding of a text file from its first bytes (give it up to
/// [`DETECT_PREFIX_LEN`]; more is ignored).
///
/// In order:
/// 1. a BOM decides (`EF BB BF`, `FF FE`, `FE FF`);
/// 2. NUL bytes concentrated at odd (or even) offsets mean UTF-16 without a BOM: every ASCII
///    character (digits, `-`, `:`, CR, LF, which a chat export is full of) has a zero high
///    byte, while UTF-8 and the CJK code pages never contain NUL in text;
/// 3. strict UTF-8, tolerating a multi-byte character cut off by the end of the prefix, or
///    UTF-8 with rare damage (see `is_mostly_utf8`);
/// 4. otherwise GB18030 or Big5, see [`guess_cjk_code_page`]; GB18030 is the default since QQ
///    is a mainland product.
pub fn detect(prefix: &[u8]) -> TextEncoding {
    let prefix = &prefix[..prefix.len().min(DETECT_PREFIX_LEN)];
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return TextEncoding::Utf8Bom;
    }
    if prefix.starts_with(&[0xFF, 0xFE]) {
        return TextEncoding::Utf16LeBom;
    }
    if prefix.starts_with(&[0xFE, 0xFF]) {
        return TextEncoding::Utf16BeBom;
    }
    if let Some(utf16) = guess_utf16_without_bom(prefix) {
        return utf16;
    }
    if is_utf8_prefix(prefix) || is_mostly_utf8(prefix) {
        return TextEncoding::Utf8;
    }
    guess_cjk_code_page(prefix)
}

/// UTF-8 with a few damaged bytes: at least 16 well-formed multi-byte characters and at most
/// one malformed sequence per 100 of them. GBK or Big5 text read as UTF-8 fails on nearly
/// every character, so a corrupted byte in a UTF-8 export does not send the whole file to a
/// legacy code page (the decoder replaces and counts the damage instead).
fn is_mostly_utf8(prefix: &[u8]) -> bool {
    let mut multibyte = 0usize;
    let mut errors = 0usize;
    let mut chunks = prefix.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        multibyte += chunk.valid().bytes().filter(|&b| b >= 0xC0).count();
        let invalid = chunk.invalid();
        // A character cut off by the end of the prefix is not damage.
        let cut_at_end = chunks.peek().is_none() && invalid.len() < 4;
        if !invalid.is_empty() && !cut_at_end {
            errors += 1;
        }
    }
    multibyte >= 16 && errors * 100 <= multibyte
}

/// UTF-16 without a BOM: at least 8 NUL bytes, at least 90% of them on one parity, and that
/// parity at least 5% NUL. Text in the legacy encodings never has NUL bytes; a binary file
/// usually has them on both parities.
fn guess_utf16_without_bom(prefix: &[u8]) -> Option<TextEncoding> {
    let mut nul_even = 0usize;
    let mut nul_odd = 0usize;
    for (i, &b) in prefix.iter().enumerate() {
        if b == 0 {
            if i % 2 == 0 {
                nul_even += 1;
            } else {
                nul_odd += 1;
            }
        }
    }
    let total = nul_even + nul_odd;
    let pairs = prefix.len() / 2;
    if total < 8 || pairs == 0 {
        return None;
    }
    let (major, minor, enc) = if nul_odd >= nul_even {
        // ASCII in little-endian UTF-16 is `xx 00`: the zero lands on odd offsets.
        (nul_odd, nul_even, TextEncoding::Utf16Le)
    } else {
        (nul_even, nul_odd, TextEncoding::Utf16Be)
    };
    if major * 10 >= total * 9 && major * 20 >= pairs && minor * 10 <= total {
        Some(enc)
    } else {
        None
    }
}

/// Strict UTF-8, except that the prefix may end in the middle of a character.
fn is_utf8_prefix(prefix: &[u8]) -> bool {
    match std::str::from_utf8(prefix) {
        Ok(_) => true,
        // `error_len() == None` means "valid so far, but the input ends inside a character".
        Err(e) => e.error_len().is_none() && prefix.len() - e.valid_up_to() < 4,
    }
}

/// Chooses between GB18030 and Big5 for text that is not UTF-8.
///
/// The two are double-byte encodings over nearly the same lead-byte range, so the choice uses
/// two pieces of evidence, both cheap:
/// 1. decoding errors: GBK trail bytes 0x80–0xA0 and GB18030 four-byte sequences do not exist
///    in Big5, and Big5 has no byte pairs that GB18030 rejects, so fewer errors wins;
/// 2. when neither has more errors (Big5 text always decodes as GBK, to nonsense): how many
///    double-byte characters have a trail byte below 0x7F. Everyday simplified Chinese sits in
///    the GB2312 area where both bytes are 0xA1 or above, so such trail bytes are rare; in
///    Big5, about 40% of the common characters have one. More than 20% means Big5.
///
/// Ties and empty input give GB18030.
pub fn guess_cjk_code_page(prefix: &[u8]) -> TextEncoding {
    let gb_errors = count_malformed(GB18030, prefix);
    let big5_errors = count_malformed(BIG5, prefix);
    if big5_errors < gb_errors {
        return TextEncoding::Big5;
    }
    if gb_errors < big5_errors {
        return TextEncoding::Gb18030;
    }
    let mut pairs = 0usize;
    let mut low_trail = 0usize;
    let mut i = 0;
    while i + 1 < prefix.len() {
        let lead = prefix[i];
        if (0x81..=0xFE).contains(&lead) {
            let trail = prefix[i + 1];
            pairs += 1;
            if (0x40..=0x7E).contains(&trail) {
                low_trail += 1;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    if pairs >= 4 && low_trail * 5 > pairs {
        TextEncoding::Big5
    } else {
        TextEncoding::Gb18030
    }
}

/// Malformed sequences when decoding `bytes` as `encoding`, not counting a character cut off
/// at the end (the bytes are a prefix).
fn count_malformed(encoding: &'static Encoding, bytes: &[u8]) -> u64 {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = vec![0u8; 16 * 1024];
    let mut src = bytes;
    let mut errors = 0u64;
    loop {
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(src, &mut out, false);
        src = &src[read..];
        match result {
            DecoderResult::InputEmpty => return errors,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(_, _) => errors += 1,
        }
    }
}

/// Decodes a prefix of a file (not its end: a character cut off at the end is dropped, not
/// replaced) to a string, replacing undecodable input with U+FFFD. Used for sniffing.
pub fn decode_prefix(prefix: &[u8], enc: TextEncoding) -> String {
    let mut decoder = enc.new_decoder();
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length(prefix.len())
            .unwrap_or(prefix.len().saturating_mul(3)),
    );
    let mut src = prefix;
    loop {
        let (result, read, _) = decoder.decode_to_string(src, &mut out, false);
        src = &src[read..];
        match result {
            encoding_rs::CoderResult::InputEmpty => return out,
            encoding_rs::CoderResult::OutputFull => out.reserve(src.len().saturating_mul(3) + 16),
        }
    }
}

/// Size of the input chunk a [`DecodingReader`] reads at a time.
const INPUT_CHUNK: usize = 64 * 1024;
/// Room kept free at the end of the output buffer for one U+FFFD (3 bytes in UTF-8).
const REPLACEMENT_ROOM: usize = 3;
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// A reader of UTF-8 bytes decoded, streaming, from a reader in some [`TextEncoding`].
///
/// A BOM at the start is skipped. Undecodable input becomes U+FFFD, and each malformed
/// sequence is counted ([`malformed`](DecodingReader::malformed)). Characters split across
/// reads are handled by the decoder's state. Memory is two fixed buffers of about 64 KiB and
/// 192 KiB. Wrap it in a [`std::io::BufReader`] for line-oriented parsing.
pub struct DecodingReader<R> {
    inner: R,
    enc: TextEncoding,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    output: Box<[u8]>,
    out_start: usize,
    out_end: usize,
    inner_eof: bool,
    finished: bool,
    malformed: u64,
}

impl<R: Read> DecodingReader<R> {
    /// Decodes `inner` as `enc` from its current position.
    pub fn new(inner: R, enc: TextEncoding) -> Self {
        Self::with_buffered_input(inner, enc, Vec::new())
    }

    /// `already_read` holds bytes taken from `inner` before (a sniffed prefix); they are
    /// decoded first.
    fn with_buffered_input(inner: R, enc: TextEncoding, already_read: Vec<u8>) -> Self {
        let mut input = already_read;
        let in_end = input.len();
        if input.len() < INPUT_CHUNK {
            input.resize(INPUT_CHUNK, 0);
        }
        let decoder = enc.new_decoder();
        // Enough for any input chunk in any of the encodings (GB18030 and Big5 can turn 2 bytes
        // into 3), plus room for a replacement character.
        let out_len = decoder
            .max_utf8_buffer_length_without_replacement(input.len())
            .unwrap_or(input.len().saturating_mul(3))
            .max(16)
            + REPLACEMENT_ROOM;
        DecodingReader {
            inner,
            enc,
            decoder,
            input: input.into_boxed_slice(),
            in_start: 0,
            in_end,
            output: vec![0u8; out_len].into_boxed_slice(),
            out_start: 0,
            out_end: 0,
            inner_eof: false,
            finished: false,
            malformed: 0,
        }
    }

    /// The encoding being decoded.
    pub fn encoding(&self) -> TextEncoding {
        self.enc
    }

    /// Malformed input sequences replaced by U+FFFD so far.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Decodes more input into the (drained) output buffer. Returns without output only at
    /// the end of the input.
    fn refill(&mut self) -> io::Result<()> {
        self.out_start = 0;
        self.out_end = 0;
        while self.out_end == 0 && !self.finished {
            if self.in_start == self.in_end && !self.inner_eof {
                self.in_start = 0;
                self.in_end = 0;
                let n = loop {
                    match self.inner.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if n == 0 {
                    self.inner_eof = true;
                } else {
                    self.in_end = n;
                }
            }
            let last = self.inner_eof;
            let dst_len = self.output.len() - REPLACEMENT_ROOM;
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.in_start..self.in_end],
                &mut self.output[..dst_len],
                last,
            );
            self.in_start += read;
            self.out_end = written;
            match result {
                DecoderResult::InputEmpty => {
                    if last {
                        self.finished = true;
                    }
                }
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    self.malformed += 1;
                    let at = self.out_end;
                    self.output[at..at + REPLACEMENT.len()].copy_from_slice(REPLACEMENT);
                    self.out_end += REPLACEMENT.len();
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.out_start == self.out_end {
            self.refill()?;
        }
        let n = buf.len().min(self.out_end - self.out_start);
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Reads the first [`DETECT_PREFIX_LEN`] bytes of `reader`, detects their encoding and returns
/// a [`DecodingReader`] that decodes the whole input, prefix included.
pub fn open<R: Read>(mut reader: R) -> io::Result<DecodingReader<R>> {
    let prefix = read_prefix(&mut reader, DETECT_PREFIX_LEN)?;
    let enc = detect(&prefix);
    Ok(DecodingReader::with_buffered_input(reader, enc, prefix))
}

/// Reads up to `limit` bytes (fewer only at the end of the input).
pub fn read_prefix<R: Read>(reader: &mut R, limit: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(limit.min(DETECT_PREFIX_LEN));
    reader.by_ref().take(limit as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Where one line ends and the next begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineSplit {
    /// Only CRLF ends a line; a lone CR or LF stays inside the line.
    CrLf,
    /// LF ends a line. With `strip_cr`, a CR right before the LF is dropped too.
    Lf { strip_cr: bool },
}

/// One line from a [`LineReader`], without its terminator.
#[derive(Debug)]
pub struct Line<'a> {
    /// 1-based line number.
    pub no: u64,
    pub bytes: &'a [u8],
    /// The line was longer than the reader's limit; only its first bytes are here (cut on a
    /// character boundary when the bytes are UTF-8).
    pub truncated: bool,
}

/// Splits a byte stream into lines, holding one line at a time and at most `max_line` bytes of
/// it (the rest of an over-long line is skipped, and the line is flagged truncated).
pub struct LineReader<R> {
    reader: R,
    prefix: Vec<u8>,
    prefix_pos: usize,
    split: LineSplit,
    max_line: usize,
    line_no: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R, split: LineSplit, max_line: usize) -> Self {
        Self::with_prefix(Vec::new(), reader, split, max_line)
    }

    /// `prefix` holds bytes already taken from `reader`; they come first.
    pub fn with_prefix(prefix: Vec<u8>, reader: R, split: LineSplit, max_line: usize) -> Self {
        LineReader {
            reader,
            prefix,
            prefix_pos: 0,
            split,
            max_line: max_line.max(1),
            line_no: 0,
            buf: Vec::new(),
        }
    }

    /// Lines returned so far.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// The next line, or `None` at the end of the input. A final line without a terminator is
    /// returned; a terminator at the very end does not produce an empty last line.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut started = false;
        let mut truncated = false;
        // Whether the byte before the current chunk was a CR (a CRLF split across chunks).
        let mut prev_cr = false;
        loop {
            let from_prefix = self.prefix_pos < self.prefix.len();
            let avail: &[u8] = if from_prefix {
                &self.prefix[self.prefix_pos..]
            } else {
                if !self.prefix.is_empty() {
                    self.prefix = Vec::new();
                    self.prefix_pos = 0;
                }
                match self.reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if avail.is_empty() {
                if !started {
                    return Ok(None);
                }
                break;
            }
            started = true;
            let mut search_from = 0;
            let mut end = None;
            while let Some(i) = memchr::memchr(b'\n', &avail[search_from..]) {
                let pos = search_from + i;
                let is_end = match self.split {
                    LineSplit::Lf { .. } => true,
                    LineSplit::CrLf => {
                        if pos > 0 {
                            avail[pos - 1] == b'\r'
                        } else {
                            prev_cr
                        }
                    }
                };
                if is_end {
                    end = Some(pos);
                    break;
                }
                search_from = pos + 1;
            }
            let take = end.unwrap_or(avail.len());
            let room = self.max_line.saturating_sub(self.buf.len());
            if take > room {
                truncated = true;
            }
            self.buf.extend_from_slice(&avail[..take.min(room)]);
            prev_cr = if take > 0 {
                avail[take - 1] == b'\r'
            } else {
                prev_cr
            };
            let consumed = match end {
                Some(pos) => pos + 1,
                None => avail.len(),
            };
            if from_prefix {
                self.prefix_pos += consumed;
            } else {
                self.reader.consume(consumed);
            }
            if end.is_some() {
                let drop_cr = match self.split {
                    LineSplit::CrLf => true,
                    LineSplit::Lf { strip_cr } => strip_cr,
                };
                if drop_cr && prev_cr && self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                break;
            }
        }
        if truncated {
            // Cut back to a character boundary so that the kept part stays valid UTF-8.
            if let Err(e) = std::str::from_utf8(&self.buf) {
                if e.error_len().is_none() {
                    self.buf.truncate(e.valid_up_to());
                }
            }
        }
        self.line_no += 1;
        Ok(Some(Line {
            no: self.line_no,
            bytes: &self.buf,
            truncated,
        }))
    }
}
