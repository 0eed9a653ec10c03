//! A structural check of decoded image parts, so that an image whose base64 is well-formed but
//! whose bytes were cut or damaged (a real case: a GIF with lines of its base64 replaced) is
//! still reported. Only GIF, PNG and JPEG, the types QQ embeds, are checked, by their magic
//! bytes rather than the declared `Content-Type`; other data passes.

/// Ok when the data is not a recognised image or its structure holds together to its end
/// marker; otherwise what is wrong.
pub(super) fn check(data: &[u8]) -> Result<(), String> {
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        check_gif(data).map_err(|e| format!("damaged GIF: {e}"))
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        check_png(data).map_err(|e| format!("damaged PNG: {e}"))
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        check_jpeg(data).map_err(|e| format!("damaged JPEG: {e}"))
    } else {
        Ok(())
    }
}

fn cut_short(at: usize) -> String {
    format!("the data ends at byte {at} before the end marker")
}

/// Size in bytes of a GIF colour table announced by a packed flags byte (0 when absent).
fn gif_colour_table(packed: u8) -> usize {
    if packed & 0x80 == 0 {
        0
    } else {
        3 << ((packed & 0x07) + 1)
    }
}

/// Walks GIF blocks (extensions and images, each a chain of sub-blocks) to the trailer.
fn check_gif(data: &[u8]) -> Result<(), String> {
    let packed = *data.get(10).ok_or_else(|| cut_short(data.len()))?;
    let mut at = 13 + gif_colour_table(packed);
    loop {
        match data.get(at) {
            None => return Err(cut_short(data.len())),
            Some(0x3B) => return Ok(()),
            Some(0x21) => at = skip_sub_blocks(data, at + 2)?,
            Some(0x2C) => {
                let packed = *data.get(at + 9).ok_or_else(|| cut_short(data.len()))?;
                // Descriptor, local colour table, then the LZW minimum code size byte.
                at = skip_sub_blocks(data, at + 10 + gif_colour_table(packed) + 1)?;
            }
            Some(other) => {
                return Err(format!(
                    "unexpected byte 0x{other:02X} at {at} where a block starts"
                ))
            }
        }
    }
}

/// Skips a chain of GIF sub-blocks starting at `at`; returns the position after its terminator.
fn skip_sub_blocks(data: &[u8], mut at: usize) -> Result<usize, String> {
    loop {
        let size = usize::from(*data.get(at).ok_or_else(|| cut_short(data.len()))?);
        at += 1;
        if size == 0 {
            return Ok(at);
        }
        at += size;
        if at > data.len() {
            return Err(cut_short(data.len()));
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Walks PNG chunks, checking each CRC, to `IEND`.
fn check_png(data: &[u8]) -> Result<(), String> {
    let mut at = 8;
    loop {
        let header = data.get(at..at + 8).ok_or_else(|| cut_short(data.len()))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let body_end = (at + 8)
            .checked_add(length)
            .ok_or_else(|| cut_short(data.len()))?;
        let crc_end = body_end.checked_add(4).ok_or_else(|| cut_short(data.len()))?;
        let stored = data.get(body_end..crc_end).ok_or_else(|| cut_short(data.len()))?;
        let stored = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
        if crc32(&data[at + 4..body_end]) != stored {
            let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
            return Err(format!("chunk '{kind}' at byte {at} fails its CRC"));
        }
        if &header[4..8] == b"IEND" {
            return Ok(());
        }
        at = crc_end;
    }
}

/// Walks JPEG marker segments and entropy-coded data to the EOI marker.
fn check_jpeg(data: &[u8]) -> Result<(), String> {
    let mut at = 2;
    loop {
        if *data.get(at).ok_or_else(|| cut_short(data.len()))? != 0xFF {
            return Err(format!("no marker at byte {at}"));
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data.get(at).ok_or_else(|| cut_short(data.len()))?;
        at += 1;
        match marker {
            0xD9 => return Ok(()),
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let length = data.get(at..at + 2).ok_or_else(|| cut_short(data.len()))?;
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if length < 2 {
            return Err(format!("segment length {length} at byte {at}"));
        }
        at += length;
        if at > data.len() {
            return Err(cut_short(data.len()));
        }
        if marker == 0xDA {
            at = skip_entropy_data(data, at)?;
        }
    }
}

/// Skips scan data (where 0xFF is followed by 0x00 or a restart marker) to the next marker.
fn skip_entropy_data(data: &[u8], mut at: usize) -> Result<usize, String> {
    loop {
        at += memchr::memchr(0xFF, data.get(at..).unwrap_or(&[])).ok_or_else(|| cut_short(data.len()))?;
        match data.get(at + 1) {
            None => return Err(cut_short(data.len())),
            Some(0x00 | 0xD0..=0xD7) => at += 2,
            Some(0xFF) => at += 1,
            Some(_) => return Ok(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut chunk = (body.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(body);
        let crc = crc32(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        chunk
    }

    #[test]
    fn png() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        png.extend(png_chunk(b"IEND", &[]));
        assert_eq!(check(&png), Ok(()));
        assert!(check(&png[..png.len() - 3]).is_err());
        png[20] ^= 1;
        assert!(check(&png).is_err());
    }

    #[test]
    fn gif() {
        // 1x1 GIF, no colour table, one image with one data sub-block.
        let gif =
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
        assert_eq!(check(gif), Ok(()));
        assert!(check(&gif[..gif.len() - 1]).is_err());
        assert!(check(&gif[..gif.len() - 4]).is_err());
    }

    #[test]
    fn jpeg() {
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0x34,
            0xFF, 0xD0, 0x56, 0xFF, 0xD9,
        ];
        assert_eq!(check(&jpeg), Ok(()));
        assert!(check(&jpeg[..jpeg.len() - 2]).is_err());
        assert!(check(&jpeg[..5]).is_err());
    }

    #[test]
    fn other_data_passes() {
        assert_eq!(check(b"not an image"), Ok(()));
    }
}
