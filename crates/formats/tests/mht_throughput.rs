//! Throughput of the MHT parser on a large generated file. Ignored by default; run with
//! `cargo test --release -p qqvault-formats --test mht_throughput -- --ignored --nocapture`
//! (`QQVAULT_MHT_BENCH_MB` sets the size of each file, 512 MB unless told; with
//! `QQVAULT_MHT_BENCH_KEEP` set, the generated files are kept in the temp dir and reused).

#[path = "mht_support/mod.rs"]
mod support;

use qqvault_core::{ConversationMeta, Message};
use qqvault_formats::formats::mht;
use qqvault_formats::ChatSink;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;
use support::*;

/// Counts what it is given, and touches the bytes, like a real sink would.
#[derive(Default)]
struct Counter {
    messages: u64,
    text_bytes: u64,
    parts: u64,
    part_bytes: u64,
}

impl ChatSink for Counter {
    fn conversation(&mut self, _meta: ConversationMeta) {}
    fn message(&mut self, message: Message) {
        self.messages += 1;
        self.text_bytes += message.text.len() as u64;
    }
    fn not_understood(&mut self, _line_no: u64, _line: &str) {}
    fn embedded(&mut self, _name: &str, _content_type: &str, bytes: &[u8]) {
        self.parts += 1;
        self.part_bytes += bytes.len() as u64;
    }
}

struct Out {
    file: BufWriter<std::fs::File>,
    written: u64,
}

impl Out {
    fn put(&mut self, s: &str) -> std::io::Result<()> {
        self.written += s.len() as u64;
        self.file.write_all(s.as_bytes())
    }
}

/// Writes an MHT of about `target` bytes: `html_share` of it message rows, the rest images.
fn generate(path: &std::path::Path, target: u64, html_share: f64) -> std::io::Result<u64> {
    let mut out = Out {
        file: BufWriter::new(std::fs::File::create(path)?),
        written: 0,
    };
    let put = |out: &mut Out, s: &str| out.put(s);
    put(&mut out, &envelope("\r\n"))?;
    put(&mut out, &html_part_header("\r\n"))?;
    put(&mut out, HEAD)?;
    put(&mut out, &title_rows("我的QQ群", "测试群"))?;
    let html_target = (target as f64 * html_share) as u64;
    let mut images = 0u64;
    let mut i = 0u64;
    let mut html_written = 0u64;
    while html_written < html_target {
        if i.is_multiple_of(500) {
            let row = date_row(&format!(
                "20{:02}-{:02}-{:02}",
                10 + (i / 500 / 300) % 80,
                1 + (i / 500 / 28) % 12,
                1 + (i / 500) % 28
            ));
            html_written += row.len() as u64;
            put(&mut out, &row)?;
        }
        let body = if i.is_multiple_of(10) {
            images += 1;
            format!(
                "<IMG src=\"{{{:08X}-AAAA-4bbb-CCCC-{:012X}}}.dat\">看看这个&lt;图&gt;",
                images, images
            )
        } else {
            font(&format!(
                "第{i}条消息，内容是一些普通的文字 with some ASCII too &amp; 符号<br>第二行"
            ))
        };
        let colour = if i.is_multiple_of(3) { "42B475" } else { "006EFE" };
        let time = if i.is_multiple_of(2) {
            format!("下午&nbsp;{}:{:02}:{:02}", 1 + i % 12, i % 60, (i / 60) % 60)
        } else {
            format!("{}:{:02}:{:02}", i % 24, i % 60, (i / 60) % 60)
        };
        let row = message_row(
            colour,
            &format!("成员{}({})", i % 97, 10000 + i % 97),
            &time,
            &body,
        );
        html_written += row.len() as u64 + 2;
        put(&mut out, &row)?;
        put(&mut out, "\r\n")?;
        i += 1;
    }
    put(&mut out, TAIL)?;
    put(&mut out, "\r\n")?;
    // Image parts: ~60 KB each, base64 at 100 columns, until the target is reached.
    // Half GIF, half PNG (whose check computes CRCs), as in real exports.
    use base64::Engine;
    let gif = base64::engine::general_purpose::STANDARD.encode(big_gif(300_000));
    let png = base64::engine::general_purpose::STANDARD.encode(big_png(300_000));
    let mut n = 0u64;
    while out.written < target && n < images {
        n += 1;
        let name = format!("{{{:08X}-AAAA-4bbb-CCCC-{:012X}}}.dat", n, n);
        let (content_type, encoded) = if n.is_multiple_of(2) {
            ("image/png", &png)
        } else {
            ("image/gif", &gif)
        };
        put(&mut out, &image_part("\r\n", content_type, &name, encoded, 100))?;
    }
    put(&mut out, &closing("\r\n"))?;
    out.file.flush()?;
    Ok(out.written)
}

/// A structurally valid GIF of about `size` bytes (one image, many data sub-blocks).
fn big_gif(size: usize) -> Vec<u8> {
    let mut gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02".to_vec();
    while gif.len() < size {
        gif.push(255);
        gif.extend((0..255u32).map(|i| (i * 7) as u8));
    }
    gif.extend_from_slice(b"\x00;");
    gif
}

/// A structurally valid PNG of about `size` bytes (CRCs right; the pixels are not).
fn big_png(size: usize) -> Vec<u8> {
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(body);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 1, 0, 0, 0, 1, 0, 8, 2, 0, 0, 0]);
    let data: Vec<u8> = (0..size as u32).map(|i| (i * 31 % 251) as u8).collect();
    for part in data.chunks(65_536) {
        chunk(&mut png, b"IDAT", part);
    }
    chunk(&mut png, b"IEND", &[]);
    png
}

fn measure(label: &str, html_share: f64) {
    let megabytes: u64 = std::env::var("QQVAULT_MHT_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let path = std::env::temp_dir().join(format!("qqvault-mht-bench-{label}-{}.mht", std::process::id()));
    let keep = std::env::var_os("QQVAULT_MHT_BENCH_KEEP").is_some();
    let path = if keep {
        std::env::temp_dir().join(format!("qqvault-mht-bench-{label}.mht"))
    } else {
        path
    };
    let size = if keep && path.is_file() {
        std::fs::metadata(&path).unwrap().len()
    } else {
        generate(&path, megabytes << 20, html_share).expect("generate")
    };
    // Read once to warm the page cache, so the disk is not what is measured.
    std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut std::io::sink()).unwrap();
    let start = Instant::now();
    let mut counter = Counter::default();
    let reader = BufReader::with_capacity(1 << 16, std::fs::File::open(&path).unwrap());
    let stats = mht::parse(reader, "bench", &mut counter).expect("parse");
    let seconds = start.elapsed().as_secs_f64();
    if !keep {
        let _ = std::fs::remove_file(&path);
    }
    println!(
        "{label}: {:.0} MB in {:.2} s = {:.0} MB/s ({} messages, {} parts; not understood {}, missing parts {}, unreferenced {}, broken {})",
        size as f64 / 1e6,
        seconds,
        size as f64 / 1e6 / seconds,
        counter.messages,
        counter.parts,
        stats.not_understood,
        stats.missing_parts,
        stats.unreferenced_parts,
        stats.broken_parts,
    );
    assert_eq!(stats.not_understood, 0);
    assert_eq!(stats.broken_parts, 0);
}

#[test]
#[ignore = "benchmark: run in release with --ignored"]
fn throughput_mostly_images() {
    measure("images", 0.02);
}

#[test]
#[ignore = "benchmark: run in release with --ignored"]
fn throughput_all_html() {
    measure("html", 1.0);
}
