//! Throughput of the Message Manager TXT parser on the shared real sample replicated to about
//! 100 MB. Ignored by default; run in release mode:
//! `cargo test -p qqvault-formats --release --test txt_throughput -- --ignored --nocapture`

use qqvault_core::{ConversationMeta, Message};
use qqvault_formats::decode;
use qqvault_formats::formats::qq_txt;
use qqvault_formats::ChatSink;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

/// CPU time of this thread in seconds (Linux), so that other processes on a busy machine do not
/// skew the figure; `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Runs `f`, returning (wall seconds, CPU seconds if known).
fn timed(f: impl FnOnce()) -> (f64, Option<f64>) {
    let cpu0 = thread_cpu_seconds();
    let start = Instant::now();
    f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu0.and_then(|c0| Some(thread_cpu_seconds()? - c0));
    (wall, cpu)
}

fn rate(mb: f64, (wall, cpu): (f64, Option<f64>)) -> String {
    match cpu {
        Some(cpu) => format!("{:.0} MB/s wall, {:.0} MB/s CPU", mb / wall, mb / cpu),
        None => format!("{:.0} MB/s wall", mb / wall),
    }
}

#[derive(Default)]
struct Count {
    msgs: u64,
    text_bytes: u64,
}

impl ChatSink for Count {
    fn conversation(&mut self, _: ConversationMeta) {}
    fn message(&mut self, m: Message) {
        self.msgs += 1;
        self.text_bytes += m.text.len() as u64;
    }
    fn not_understood(&mut self, _: u64, _: &str) {}
}

#[test]
#[ignore = "throughput measurement; run in release mode"]
fn txt_throughput_100mb() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    let Ok(sample) = std::fs::read(dir.join("txt/group-2016-all-messages.anon.txt")) else {
        println!("skipping: shared fixtures absent");
        return;
    };
    let copies = (100 * 1024 * 1024) / sample.len() + 1;
    // Concatenated copies: each starts with a BOM and the title, like appended exports.
    let data = sample.repeat(copies);
    let mb = data.len() as f64 / (1024.0 * 1024.0);

    for round in 0..3 {
        let parse_only = timed(|| {
            let mut sink = Count::default();
            let stats = qq_txt::parse(&data[..], "s", &mut sink).expect("in-memory");
            assert_eq!(stats.messages, 3089 * copies as u64);
            assert_eq!(stats.lines_not_understood, 0);
        });
        let with_decode = timed(|| {
            let mut sink = Count::default();
            let reader = BufReader::with_capacity(64 * 1024, decode::open(&data[..]).expect("mem"));
            let stats = qq_txt::parse(reader, "s", &mut sink).expect("in-memory");
            assert_eq!(stats.messages, 3089 * copies as u64);
        });
        println!(
            "round {round}: {mb:.1} MB, {} messages: parse {}; decode+parse {}",
            3089 * copies,
            rate(mb, parse_only),
            rate(mb, with_decode)
        );
    }
}
