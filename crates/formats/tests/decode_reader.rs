//! Encoding detection, the streaming decoder and the line splitter.

use proptest::prelude::*;
use qqvault_formats::decode::{
    self, detect, DecodingReader, LineReader, LineSplit, TextEncoding, DETECT_PREFIX_LEN,
};
use std::io::{BufReader, Read};

/// A reader that hands out at most `step` bytes per read, to split characters and CRLFs.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn utf16(text: &str, big: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|u| if big { u.to_be_bytes() } else { u.to_le_bytes() })
        .collect()
}

const SAMPLE: &str = "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n2016-07-19 15:27:15 移游(2700005)\r\n网易有道内推来啦！😀\r\n\r\n";

#[test]
fn decode_detects_each_encoding() {
    let mut bom8 = b"\xEF\xBB\xBF".to_vec();
    bom8.extend_from_slice(SAMPLE.as_bytes());
    assert_eq!(detect(&bom8), TextEncoding::Utf8Bom);
    assert_eq!(detect(SAMPLE.as_bytes()), TextEncoding::Utf8);
    assert_eq!(
        detect(&[&[0xFF, 0xFE][..], &utf16(SAMPLE, false)].concat()),
        TextEncoding::Utf16LeBom
    );
    assert_eq!(
        detect(&[&[0xFE, 0xFF][..], &utf16(SAMPLE, true)].concat()),
        TextEncoding::Utf16BeBom
    );
    assert_eq!(detect(&utf16(SAMPLE, false)), TextEncoding::Utf16Le);
    assert_eq!(detect(&utf16(SAMPLE, true)), TextEncoding::Utf16Be);
    let gbk = encoding_rs::GBK.encode(SAMPLE).0;
    assert_eq!(detect(&gbk), TextEncoding::Gb18030);
    let big5 = encoding_rs::BIG5
        .encode("消息記錄（此消息記錄為文本格式，不支持重新導入）\r\n\r\n2016-07-19 15:27:15 測試(2700005)\r\n網易有道內推來啦！這是繁體中文的聊天記錄。\r\n\r\n")
        .0;
    assert_eq!(detect(&big5), TextEncoding::Big5);
    assert_eq!(detect(b"plain ascii\r\n"), TextEncoding::Utf8);
    assert_eq!(detect(b""), TextEncoding::Utf8);
    assert_eq!(TextEncoding::Utf8Bom.label(), "utf-8-bom");
    assert_eq!(TextEncoding::Utf16Le.label(), "utf-16le");
    assert_eq!(TextEncoding::Gb18030.label(), "gb18030");
    assert_eq!(TextEncoding::Big5.label(), "big5");
}

#[test]
fn decode_utf8_with_a_damaged_byte_is_still_utf8() {
    let text = SAMPLE.repeat(3);
    let mut bytes = text.clone().into_bytes();
    bytes.insert(text.find("2016").expect("fixture"), 0xFF);
    assert_eq!(detect(&bytes), TextEncoding::Utf8);
    let mut r = decode::open(&bytes[..]).expect("in-memory");
    let mut out = String::new();
    r.read_to_string(&mut out).expect("replaced");
    assert_eq!(r.malformed(), 1);
    assert_eq!(out.chars().filter(|&c| c == '\u{FFFD}').count(), 1);
    // GBK text is not "mostly UTF-8".
    let gbk = encoding_rs::GBK.encode(&SAMPLE.repeat(3)).0.into_owned();
    assert_eq!(detect(&gbk), TextEncoding::Gb18030);
}

#[test]
fn decode_utf8_prefix_cut_inside_a_character_is_still_utf8() {
    let mut text = String::new();
    while text.len() < DETECT_PREFIX_LEN + 10 {
        text.push_str("消息记录");
    }
    // Cut the 64 KiB prefix so that it ends inside a three-byte character.
    let bytes = text.as_bytes();
    let mut cut = DETECT_PREFIX_LEN;
    while text.is_char_boundary(cut) {
        cut -= 1;
    }
    assert_eq!(detect(&bytes[..cut]), TextEncoding::Utf8);
}

#[test]
fn decode_streams_split_characters_and_skips_bom() {
    let encodings: Vec<(TextEncoding, Vec<u8>)> = vec![
        (
            TextEncoding::Utf8Bom,
            [b"\xEF\xBB\xBF".as_slice(), SAMPLE.as_bytes()].concat(),
        ),
        (TextEncoding::Utf8, SAMPLE.as_bytes().to_vec()),
        (
            TextEncoding::Utf16LeBom,
            [&[0xFF, 0xFE][..], &utf16(SAMPLE, false)].concat(),
        ),
        (
            TextEncoding::Utf16BeBom,
            [&[0xFE, 0xFF][..], &utf16(SAMPLE, true)].concat(),
        ),
        (TextEncoding::Utf16Le, utf16(SAMPLE, false)),
        (TextEncoding::Utf16Be, utf16(SAMPLE, true)),
        (
            TextEncoding::Gb18030,
            encoding_rs::GB18030.encode(SAMPLE).0.into_owned(),
        ),
    ];
    for (enc, bytes) in encodings {
        for step in [1, 2, 3, 7, 4096] {
            let mut r = DecodingReader::new(Trickle { data: &bytes, step }, enc);
            let mut out = String::new();
            r.read_to_string(&mut out).expect("valid text");
            assert_eq!(out, SAMPLE, "{enc} step {step}");
            assert_eq!(r.malformed(), 0);
            assert_eq!(r.encoding(), enc);
        }
        let mut r = decode::open(Trickle {
            data: &bytes,
            step: 5,
        })
        .expect("in-memory");
        assert_eq!(r.encoding(), enc);
        let mut out = String::new();
        r.read_to_string(&mut out).expect("valid text");
        assert_eq!(out, SAMPLE, "open {enc}");
    }
}

#[test]
fn decode_counts_and_replaces_malformed_input() {
    // A stray continuation byte, an invalid lead, and a character cut off at the end.
    let bytes = b"ab\x80cd\xFFef\xE6\xB6";
    let mut r = DecodingReader::new(&bytes[..], TextEncoding::Utf8);
    let mut out = String::new();
    r.read_to_string(&mut out).expect("replaced");
    assert_eq!(out, "ab\u{FFFD}cd\u{FFFD}ef\u{FFFD}");
    assert_eq!(r.malformed(), 3);

    // UTF-16 with an odd byte count and a lone surrogate.
    let bytes = [0x41, 0x00, 0x00, 0xD8, 0x42, 0x00, 0x43];
    let mut r = DecodingReader::new(&bytes[..], TextEncoding::Utf16Le);
    let mut out = String::new();
    r.read_to_string(&mut out).expect("replaced");
    assert_eq!(out, "A\u{FFFD}B\u{FFFD}");
    assert_eq!(r.malformed(), 2);
}

#[test]
fn decode_large_input_through_bufreader() {
    let line = "2016-07-19 15:27:15 移游(2700005)\r\n網易😀内推\r\n\r\n";
    let text = line.repeat(20_000);
    for enc in [TextEncoding::Utf8, TextEncoding::Gb18030, TextEncoding::Utf16Le] {
        let bytes = match enc {
            TextEncoding::Utf16Le => utf16(&text, false),
            TextEncoding::Gb18030 => encoding_rs::GB18030.encode(&text).0.into_owned(),
            _ => text.as_bytes().to_vec(),
        };
        let r = decode::open(&bytes[..]).expect("in-memory");
        assert_eq!(r.encoding(), enc);
        let mut out = String::new();
        BufReader::new(r).read_to_string(&mut out).expect("valid");
        assert!(out == text, "{enc}: round trip");
    }
}

fn lines_of(data: &[u8], split: LineSplit, cap: usize, max: usize) -> Vec<(Vec<u8>, bool)> {
    let reader = BufReader::with_capacity(cap, data);
    let mut lr = LineReader::new(reader, split, max);
    let mut out = Vec::new();
    while let Some(line) = lr.next_line().expect("in-memory") {
        out.push((line.bytes.to_vec(), line.truncated));
    }
    out
}

#[test]
fn decode_line_reader_splits_on_crlf_only() {
    let data = b"a\rb\nc\r\n\r\nd\r\r\ne";
    for cap in [1, 2, 3, 64] {
        let got = lines_of(data, LineSplit::CrLf, cap, 1024);
        let want: Vec<(Vec<u8>, bool)> = vec![
            (b"a\rb\nc".to_vec(), false),
            (b"".to_vec(), false),
            (b"d\r".to_vec(), false),
            (b"e".to_vec(), false),
        ];
        assert_eq!(got, want, "capacity {cap}");
    }
    let got = lines_of(b"x\r\n", LineSplit::CrLf, 1, 1024);
    assert_eq!(got, vec![(b"x".to_vec(), false)]);
    assert!(lines_of(b"", LineSplit::CrLf, 8, 1024).is_empty());
}

#[test]
fn decode_line_reader_lf_and_truncation() {
    for cap in [1, 3, 64] {
        let got = lines_of(b"a\r\nb\n\nc\r", LineSplit::Lf { strip_cr: true }, cap, 1024);
        let want: Vec<(Vec<u8>, bool)> = vec![
            (b"a".to_vec(), false),
            (b"b".to_vec(), false),
            (b"".to_vec(), false),
            (b"c\r".to_vec(), false),
        ];
        assert_eq!(got, want, "capacity {cap}");
        let got = lines_of(b"a\r\nb", LineSplit::Lf { strip_cr: false }, cap, 1024);
        assert_eq!(got[0], (b"a\r".to_vec(), false));
    }
    // A line over the limit keeps its start, cut on a character boundary; the next line is
    // intact.
    let data = "消息记录消息记录\r\nok\r\n".as_bytes();
    let got = lines_of(data, LineSplit::CrLf, 4, 7);
    assert_eq!(got[0], ("消息".as_bytes().to_vec(), true));
    assert_eq!(got[1], (b"ok".to_vec(), false));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        step in 1usize..64,
        enc_index in 0usize..8,
    ) {
        let encs = [
            TextEncoding::Utf8Bom, TextEncoding::Utf8, TextEncoding::Utf16LeBom,
            TextEncoding::Utf16BeBom, TextEncoding::Utf16Le, TextEncoding::Utf16Be,
            TextEncoding::Gb18030, TextEncoding::Big5,
        ];
        let _ = detect(&bytes);
        let mut r = DecodingReader::new(Trickle { data: &bytes, step }, encs[enc_index]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("in-memory");
        prop_assert!(std::str::from_utf8(&out).is_ok());
        let mut r = decode::open(&bytes[..]).expect("in-memory");
        let mut out = String::new();
        r.read_to_string(&mut out).expect("always valid UTF-8");
        for split in [LineSplit::CrLf, LineSplit::Lf { strip_cr: true }] {
            let mut lr = LineReader::new(BufReader::with_capacity(step, &bytes[..]), split, 100);
            let mut n = 0;
            while let Some(line) = lr.next_line().expect("in-memory") {
                prop_assert!(line.bytes.len() <= 100);
                n += 1;
                prop_assert!(n <= bytes.len() + 1);
            }
        }
    }
}
