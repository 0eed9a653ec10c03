//! Figures for the index on generated Chinese chat messages: build throughput, index size
//! against text size, and search latency and memory.
//!
//! ```text
//! cargo run --release -p qqvault-index --example index_figures -- build 200000 /tmp/idx [budget_mb] [threads] [auto|always|never] [store]
//! cargo run --release -p qqvault-index --example index_figures -- search /tmp/idx 北京 [limit]
//! ```
//! `build` needs an empty or missing directory. `search` is meant to be timed as a fresh
//! process (for example with hyperfine); it prints the hit count, the time inside the process
//! and the peak resident memory.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use qqvault_index::{BuildOptions, Filters, IndexBuilder, Query, Searcher, SegmentMerge, SortOrder};
use std::path::Path;
use std::time::Instant;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("build") => {
            let n: usize = args.get(2).map_or(Ok(200_000), |s| s.parse())?;
            let dir = Path::new(args.get(3).ok_or("missing directory")?);
            let budget_mb: usize = args.get(4).map_or(Ok(256), |s| s.parse())?;
            let threads: usize = args.get(5).map_or(Ok(2), |s| s.parse())?;
            let docs = corpus::generate(n, 40, 42);
            let chars: usize = docs.iter().map(|d| d.text.chars().count()).sum();
            let started = Instant::now();
            let merge = match args.get(6).map(String::as_str) {
                Some("always") => SegmentMerge::Always,
                Some("never") => SegmentMerge::Never,
                _ => SegmentMerge::Auto,
            };
            let store_text = args.get(7).map(String::as_str) == Some("store");
            let opts = BuildOptions { merge, store_text, ..BuildOptions::new(budget_mb << 20, threads) };
            let mut builder = IndexBuilder::create_with(dir, opts)?;
            for d in &docs {
                builder.add(d)?;
            }
            let stats = builder.finish()?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "docs {} text {} bytes ({:.1} chars/msg), threads {}, budget {} MB",
                stats.docs,
                stats.text_bytes,
                chars as f64 / n as f64,
                stats.threads,
                stats.memory_budget_bytes >> 20
            );
            println!(
                "build {:.2} s = {:.0} msg/s (add {:.2} s, commit {:.2} s, merge {} -> {} segments {:.2} s); peak RSS {} MiB",
                secs,
                n as f64 / secs,
                stats.add_time.as_secs_f64(),
                stats.commit_time.as_secs_f64(),
                stats.segments_written,
                stats.segments,
                stats.merge_time.as_secs_f64(),
                peak_rss_kib() >> 10
            );
            println!(
                "index {} bytes = {:.2} x text",
                stats.index_bytes,
                stats.index_bytes as f64 / stats.text_bytes as f64
            );
            for f in &stats.files {
                let len = std::fs::metadata(dir.join(f))?.len();
                println!(
                    "  {:>12} {:>5.2} x text  {}",
                    len,
                    len as f64 / stats.text_bytes as f64,
                    f
                );
            }
        }
        Some("search") => {
            let started = Instant::now();
            let dir = Path::new(args.get(2).ok_or("missing directory")?);
            let query = Query::parse(args.get(3).ok_or("missing query")?)?;
            let limit: usize = args.get(4).map_or(Ok(20), |s| s.parse())?;
            let sort = if args.get(5).map(String::as_str) == Some("relevance") {
                SortOrder::Relevance
            } else {
                SortOrder::Newest
            };
            let searcher = Searcher::open_dir(dir)?;
            let opened = started.elapsed();
            let hits = searcher.search(&query, &Filters { limit, sort, ..Filters::default() })?;
            println!(
                "{} hits; open {:.2} ms, total {:.2} ms; peak RSS {} KiB",
                hits.len(),
                opened.as_secs_f64() * 1e3,
                started.elapsed().as_secs_f64() * 1e3,
                peak_rss_kib()
            );
        }
        Some("bench") => {
            // In one process: the first and the best of five runs of each query.
            let dir = Path::new(args.get(2).ok_or("missing directory")?);
            let searcher = Searcher::open_dir(dir)?;
            for q in &args[3..] {
                let query = Query::parse(q)?;
                let filters = Filters { limit: 20, ..Filters::default() };
                let mut times = Vec::new();
                let mut n = 0;
                for _ in 0..5 {
                    let t = Instant::now();
                    n = searcher.search(&query, &filters)?.len();
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
                let all = searcher.search(&query, &Filters::default())?.len();
                println!(
                    "{q}: {n} of {all} hits; first {:.2} ms, best {:.2} ms",
                    times[0],
                    times.iter().cloned().fold(f64::MAX, f64::min)
                );
            }
        }
        Some("space") => {
            // Per-field space of an index (a scratch copy: tantivy may add a lock file).
            let index = tantivy::Index::open_in_dir(args.get(2).ok_or("missing directory")?)?;
            let searcher = index.reader()?.searcher();
            let usage = searcher.space_usage()?;
            for segment in usage.segments() {
                let show = |what: &str, per_field: &tantivy::space_usage::PerFieldSpaceUsage| {
                    for u in per_field.fields() {
                        println!("{what:>10} {:>12} {:>12}", u.field_name(), u.total().get_bytes());
                    }
                };
                show("termdict", segment.termdict());
                show("postings", segment.postings());
                show("positions", segment.positions());
                show("fast", segment.fast_fields());
                show("fieldnorm", segment.fieldnorms());
                println!("{:>10} {:>12}", "store", segment.store().total().get_bytes());
            }
        }
        _ => return Err("usage: index_figures build N DIR [budget_mb] [threads] [auto|always|never] [store] | search DIR QUERY [limit] [relevance] | bench DIR QUERY... | space DIR".into()),
    }
    Ok(())
}
