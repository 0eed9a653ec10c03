//! One parser per export format, and a small dispatcher for the text formats.

pub mod mht;
pub mod qce;
pub mod qq_txt;

use crate::decode::{self, TextEncoding};
use crate::sink::ChatSink;
use crate::sniff::ExportKind;
use std::io::{self, BufReader, Read};

/// What [`parse_text_export`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseSummary {
    QqTxt(qq_txt::TxtStats),
    Qce(qce::QceStats),
}

/// The result of [`parse_text_export`]: the parser's counts and how the bytes were decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextParse {
    pub summary: ParseSummary,
    pub encoding: TextEncoding,
    /// Undecodable input sequences replaced by U+FFFD.
    pub malformed: u64,
}

/// Detects the encoding of `reader`, decodes it and runs the parser for `kind`: Message
/// Manager TXT, QCE TXT or QCE JSON. Returns `Ok(None)` for the kinds that need something else
/// (MHT: its own parser; chunked JSONL: [`qce::parse_manifest`] then
/// [`qce::parse_jsonl_chunk`] per chunk; the opaque kinds: nothing to parse).
pub fn parse_text_export<R: Read>(
    kind: ExportKind,
    reader: R,
    file_stem: &str,
    tz: &qce::WallClock,
    sink: &mut dyn ChatSink,
) -> io::Result<Option<TextParse>> {
    if !matches!(kind, ExportKind::QqTxt | ExportKind::QceTxt | ExportKind::QceJson) {
        return Ok(None);
    }
    let decoder = decode::open(reader)?;
    let encoding = decoder.encoding();
    let mut text = BufReader::with_capacity(64 * 1024, decoder);
    let summary = match kind {
        ExportKind::QqTxt => ParseSummary::QqTxt(qq_txt::parse(&mut text, file_stem, sink)?),
        ExportKind::QceTxt => ParseSummary::Qce(qce::parse_txt(&mut text, file_stem, tz, sink)?),
        _ => ParseSummary::Qce(qce::parse_json(&mut text, file_stem, tz, sink)?),
    };
    Ok(Some(TextParse {
        summary,
        encoding,
        malformed: text.get_ref().malformed(),
    }))
}
