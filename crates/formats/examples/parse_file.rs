//! Decodes and parses one export file with a sink that only counts, and prints what it found
//! and how fast: the decode+parse benchmark (bench/parse.sh).
//!
//! Usage: parse_file FILE

use qqvault_core::{ConversationMeta, Message};
use qqvault_formats::formats::{self, mht, qce};
use qqvault_formats::sink::ChatSink;
use qqvault_formats::sniff::{self, ExportKind};
use std::fs::File;
use std::io::{BufReader, Read};
use std::time::Instant;

#[derive(Default)]
struct Count {
    messages: u64,
    conversations: u64,
    not_understood: u64,
    embedded: u64,
}

impl ChatSink for Count {
    fn conversation(&mut self, _meta: ConversationMeta) {
        self.conversations += 1;
    }
    fn message(&mut self, _message: Message) {
        self.messages += 1;
    }
    fn not_understood(&mut self, _line_no: u64, _line: &str) {
        self.not_understood += 1;
    }
    fn embedded(&mut self, _name: &str, _content_type: &str, _bytes: &[u8]) {
        self.embedded += 1;
    }
}

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: parse_file FILE");
    let size = std::fs::metadata(&path)?.len();
    let mut head = vec![0u8; 64 << 10];
    let n = File::open(&path)?.read(&mut head)?;
    head.truncate(n);
    let kind = sniff::sniff(&path, &head).expect("not a recognised export");
    let start = Instant::now();
    let mut sink = Count::default();
    let reader = BufReader::with_capacity(256 << 10, File::open(&path)?);
    let encoding = match kind {
        ExportKind::QqMht => {
            mht::parse(reader, "bench", &mut sink)?;
            "utf-8".to_string()
        }
        _ => {
            let tz = qce::WallClock::default();
            let p =
                formats::parse_text_export(kind, reader, "bench", &tz, &mut sink)?.expect("a text export");
            p.encoding.label().to_string()
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} {} {:.1} MB: {} messages, {} conversations, {} parts, {} not understood in {:.2} s = {:.0} MB/s, {:.0} messages/s",
        kind.label(),
        encoding,
        size as f64 / 1e6,
        sink.messages,
        sink.conversations,
        sink.embedded,
        sink.not_understood,
        secs,
        size as f64 / 1e6 / secs,
        sink.messages as f64 / secs
    );
    Ok(())
}
