//! Streaming base64 decoding for MHT parts: any line width, white space ignored, and a damaged
//! stream keeps every byte decoded before the damage (the caller reports the part as broken).

/// Table entry of a byte that is not base64.
const INVALID: u8 = 0xFF;
/// Table entry of white space, which is skipped.
const SPACE: u8 = 0xFE;

/// Maps each byte to its 6-bit value, [`SPACE`] or [`INVALID`].
static TABLE: [u8; 256] = build_table();

const fn build_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table
}

/// Decodes base64 fed in pieces of any size.
pub(super) struct Base64Stream {
    /// Sextets of the group being read, most significant first.
    acc: u32,
    /// How many sextets `acc` holds (0–3).
    held: u8,
    /// `=` seen in the current final group.
    padding: u8,
    /// A padded final group was completed: more data is an error.
    done: bool,
    /// Base64 characters read so far (for error messages).
    consumed: u64,
    /// The first error; nothing is decoded after it.
    error: Option<String>,
}

impl Base64Stream {
    pub(super) fn new() -> Self {
        Base64Stream {
            acc: 0,
            held: 0,
            padding: 0,
            done: false,
            consumed: 0,
            error: None,
        }
    }

    /// Decodes `input`, appending to `out`. Once `out` holds `max_out` bytes or more, or after
    /// an error, further input is ignored and the error is kept for [`Base64Stream::finish`].
    pub(super) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, max_out: usize) {
        if self.error.is_some() {
            return;
        }
        if out.len() >= max_out {
            self.error = Some(format!(
                "the part is larger than {max_out} bytes; only its first {} bytes were kept",
                out.len()
            ));
            return;
        }
        out.reserve(input.len() / 4 * 3 + 3);
        let mut i = 0;
        while i < input.len() {
            if self.held == 0 && self.padding == 0 && !self.done {
                // Fast path: whole groups of four valid characters, written into room made
                // beforehand (the room not used is cut off again).
                let groups = (input.len() - i) / 4;
                let start = out.len();
                out.resize(start + groups * 3, 0);
                let mut decoded = 0;
                for (src, dst) in input[i..].chunks_exact(4).zip(out[start..].chunks_exact_mut(3)) {
                    let (a, b, c, d) = (
                        TABLE[usize::from(src[0])],
                        TABLE[usize::from(src[1])],
                        TABLE[usize::from(src[2])],
                        TABLE[usize::from(src[3])],
                    );
                    if (a | b | c | d) >= 64 {
                        break;
                    }
                    let word = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
                    dst[0] = (word >> 16) as u8;
                    dst[1] = (word >> 8) as u8;
                    dst[2] = word as u8;
                    decoded += 1;
                }
                out.truncate(start + decoded * 3);
                self.consumed += decoded as u64 * 4;
                i += decoded * 4;
                if i >= input.len() {
                    break;
                }
            }
            if !self.byte(input[i], out) {
                return;
            }
            i += 1;
        }
    }

    /// Takes one character on the slow path; false after an error.
    fn byte(&mut self, byte: u8, out: &mut Vec<u8>) -> bool {
        let value = TABLE[usize::from(byte)];
        if value == SPACE {
            return true;
        }
        if value < 64 {
            if self.padding > 0 || self.done {
                return self.fail("data after the '=' padding".to_string(), out);
            }
            self.consumed += 1;
            self.acc = self.acc << 6 | u32::from(value);
            self.held += 1;
            if self.held == 4 {
                let word = self.acc;
                out.extend_from_slice(&[(word >> 16) as u8, (word >> 8) as u8, word as u8]);
                self.acc = 0;
                self.held = 0;
            }
            return true;
        }
        if byte == b'=' {
            self.consumed += 1;
            match (self.held, self.padding) {
                (2, 0) => self.padding = 1,
                (2, 1) => {
                    out.push((self.acc >> 4) as u8);
                    self.end_group();
                }
                (3, 0) => {
                    out.extend_from_slice(&[(self.acc >> 10) as u8, (self.acc >> 2) as u8]);
                    self.end_group();
                }
                _ => return self.fail("misplaced '=' padding".to_string(), out),
            }
            return true;
        }
        self.fail(format!("invalid base64 byte 0x{byte:02X}"), out)
    }

    fn end_group(&mut self) {
        self.acc = 0;
        self.held = 0;
        self.padding = 0;
        self.done = true;
    }

    fn fail(&mut self, what: String, out: &[u8]) -> bool {
        self.error = Some(format!(
            "{what} after {} base64 characters; the {} bytes decoded before it were kept",
            self.consumed,
            out.len()
        ));
        false
    }

    /// Ends the stream: decodes what an unpadded final group allows and returns the first
    /// problem, if any. A final group cut short (no padding, or padding not completed) means
    /// the data was truncated.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let kept = match self.held {
            0 => return Ok(()),
            2 => {
                out.push((self.acc >> 4) as u8);
                1
            }
            3 => {
                out.extend_from_slice(&[(self.acc >> 10) as u8, (self.acc >> 2) as u8]);
                2
            }
            _ => 0,
        };
        self.acc = 0;
        self.held = 0;
        Err(format!(
            "the base64 ends in the middle of a group (cut short?) after {} characters; \
             {kept} byte(s) of the last group were kept",
            self.consumed
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> (Vec<u8>, Result<(), String>) {
        let mut stream = Base64Stream::new();
        let mut out = Vec::new();
        for piece in pieces {
            stream.feed(piece, &mut out, usize::MAX);
        }
        let result = stream.finish(&mut out);
        (out, result)
    }

    #[test]
    fn any_width_and_white_space() {
        assert_eq!(
            decode(&[b"aGVsbG8gd29y", b"bGQ="]),
            (b"hello world".to_vec(), Ok(()))
        );
        assert_eq!(
            decode(&[b"aGV", b"sbG8g d29y\r\n", b"bG", b"Q", b"="]).0,
            b"hello world"
        );
        assert_eq!(decode(&[b"aGk="]), (b"hi".to_vec(), Ok(())));
        assert_eq!(decode(&[b"aA=", b"="]), (b"h".to_vec(), Ok(())));
        assert_eq!(decode(&[b""]), (Vec::new(), Ok(())));
    }

    #[test]
    fn damage_keeps_the_prefix() {
        let (out, result) = decode(&[b"aGVsbG8g", b"d2*9y"]);
        assert_eq!(out, b"hello ");
        assert!(result.unwrap_err().contains("0x2A"));
        let (out, result) = decode(&[b"aGVsbG8gd29"]);
        assert_eq!(out, b"hello wo");
        assert!(result.is_err());
        let (out, result) = decode(&[b"aGk=aGk="]);
        assert_eq!(out, b"hi");
        assert!(result.is_err());
        let (_, result) = decode(&[b"a==="]);
        assert!(result.is_err());
    }

    #[test]
    fn size_cap() {
        let mut stream = Base64Stream::new();
        let mut out = Vec::new();
        stream.feed(b"aGVsbG8g", &mut out, 4);
        stream.feed(b"aGVsbG8g", &mut out, 4);
        assert_eq!(out, b"hello ");
        assert!(stream.finish(&mut out).is_err());
    }
}
