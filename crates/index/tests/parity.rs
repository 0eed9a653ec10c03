//! The index must find exactly what a substring scan finds: random queries over a generated
//! corpus, compared hit for hit with a scan that uses the crate's own reference functions
//! (`fold`, `Query::matches`, `Filters::accepts`, `SortOrder::compare`).

mod corpus;

use corpus::{Rng, HANZI};
use qqvault_core::MessageTime;
use qqvault_index::{
    fold, BuildOptions, Filters, FoldOptions, Hit, IndexBuilder, IndexDoc, Query, Searcher, SegmentMerge,
    SortOrder,
};
use std::path::Path;
use std::sync::OnceLock;

/// Messages that the terms of the search issue must find.
const REGRESSION: &[(&str, &str)] = &[
    ("简单", "这个问题其实很简单啊"),
    ("处理", "我晚点来处理一下"),
    ("灯", "车的大灯坏了"),
    ("本田", "他开的是本田雅阁"),
    ("北京", "下周去北京出差"),
    ("大学", "我们大学同学聚会"),
    ("记录", "把聊天记录导出来"),
    ("京大", "她在北京大学读书"),
    ("聊", "有空再聊"),
    ("ABC", "键盘上打出ａｂｃ"),
    ("138", "电话13812345678"),
];

fn corpus_docs() -> Vec<IndexDoc> {
    let mut docs = corpus::generate(4000, 12, 7);
    let time = MessageTime::new(2020, 5, 4, 3, 2, 1).expect("valid time");
    for (i, (_, text)) in REGRESSION.iter().enumerate() {
        docs.push(IndexDoc {
            chat: "cregression0".to_string(),
            seq: i as u64,
            time,
            sender: "回归".to_string(),
            sender_id: None,
            text: (*text).to_string(),
        });
    }
    // A long message and some edge cases: empty text, whitespace only, repeated characters.
    let extra = [
        "",
        " ",
        "\n\n",
        "哈哈哈哈哈哈哈哈",
        "a  b",
        &"长消息".repeat(2000),
    ];
    for (i, text) in extra.iter().enumerate() {
        docs.push(IndexDoc {
            chat: "cedge0000000".to_string(),
            seq: i as u64,
            time,
            sender: "Edge".to_string(),
            sender_id: Some("E1".to_string()),
            text: (*text).to_string(),
        });
    }
    docs
}

fn build(dir: &Path, docs: &[IndexDoc], store_text: bool) {
    let opts = BuildOptions {
        store_text,
        ..BuildOptions::new(40_000_000, 2)
    };
    let mut builder = IndexBuilder::create_with(dir, opts).expect("create");
    for d in docs {
        builder.add(d).expect("add");
    }
    builder.finish().expect("finish");
}

struct Fixture {
    dir: tempfile::TempDir,
    docs: Vec<IndexDoc>,
}

/// The corpus and its index, built once per test binary for each mode.
fn fixture(store_text: bool) -> &'static Fixture {
    static WITH_TEXT: OnceLock<Fixture> = OnceLock::new();
    static WITHOUT_TEXT: OnceLock<Fixture> = OnceLock::new();
    let cell = if store_text { &WITH_TEXT } else { &WITHOUT_TEXT };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let docs = corpus_docs();
        build(dir.path(), &docs, store_text);
        Fixture { dir, docs }
    })
}

fn open(store_text: bool) -> (Searcher, &'static [IndexDoc]) {
    let f = fixture(store_text);
    let searcher = Searcher::open_dir(f.dir.path()).expect("open");
    assert_eq!(searcher.info().stored_text, store_text);
    (searcher, &f.docs)
}

/// The reference: a scan over every message.
fn scan(docs: &[IndexDoc], query: &Query, filters: &Filters) -> Vec<Hit> {
    let folding = FoldOptions::default();
    static FOLDED: OnceLock<Vec<String>> = OnceLock::new();
    // Every fixture has the same corpus: fold it once.
    let folded = FOLDED.get_or_init(|| docs.iter().map(|d| fold(&d.text, folding)).collect());
    scan_folded(docs, folded, query, filters)
}

/// [`scan`] over texts already folded.
fn scan_folded(docs: &[IndexDoc], folded: &[String], query: &Query, filters: &Filters) -> Vec<Hit> {
    let folding = FoldOptions::default();
    assert_eq!(folded.len(), docs.len());
    let mut hits: Vec<Hit> = docs
        .iter()
        .zip(folded)
        .filter(|(d, text)| {
            filters.accepts(&d.chat, d.time, &d.sender, d.sender_id.as_deref(), folding)
                && query.matches(text)
        })
        .map(|(d, _)| d)
        .map(|d| Hit {
            chat: d.chat.clone(),
            seq: d.seq,
            time: d.time,
            score: 0.0,
        })
        .collect();
    hits.sort_by(|a, b| SortOrder::Newest.compare(a, b));
    if filters.limit > 0 {
        hits.truncate(filters.limit);
    }
    hits
}

fn key(h: &Hit) -> (String, u64, MessageTime) {
    (h.chat.clone(), h.seq, h.time)
}

/// Checks the index against the scan for one query and one set of filters.
fn check(searcher: &Searcher, docs: &[IndexDoc], query: &Query, filters: &Filters) {
    let found = searcher.search(query, filters).expect("search");
    match filters.sort {
        SortOrder::Newest => {
            let expected = scan(docs, query, filters);
            let found: Vec<_> = found.iter().map(key).collect();
            let expected: Vec<_> = expected.iter().map(key).collect();
            assert_eq!(found, expected, "query {query} filters {filters:?}");
        }
        SortOrder::Relevance => {
            let all = scan(
                docs,
                query,
                &Filters {
                    limit: 0,
                    ..filters.clone()
                },
            );
            let mut all_keys: Vec<_> = all.iter().map(key).collect();
            all_keys.sort();
            let mut found_keys: Vec<_> = found.iter().map(key).collect();
            found_keys.sort();
            found_keys.dedup();
            assert_eq!(found_keys.len(), found.len(), "duplicate hits for {query}");
            if filters.limit == 0 {
                assert_eq!(found_keys, all_keys, "query {query} filters {filters:?}");
            } else {
                assert_eq!(found.len(), all.len().min(filters.limit), "query {query}");
                assert!(found_keys.iter().all(|k| all_keys.binary_search(k).is_ok()));
            }
            assert!(
                found.windows(2).all(|w| w[0].score >= w[1].score),
                "scores not in order for {query}"
            );
        }
    }
}

/// A random query string: substrings of real messages, random characters, Latin, digits,
/// full-width forms, phrases with spaces, exclusions.
fn random_query(rng: &mut Rng, docs: &[IndexDoc], hanzi: &[char]) -> String {
    let mut parts = Vec::new();
    let terms = 1 + rng.zipf(3);
    for i in 0..terms {
        let mut term = match rng.below(10) {
            0..=4 => {
                // A substring of a message, 1 to 8 characters.
                let text: Vec<char> = docs[rng.below(docs.len())].text.chars().collect();
                if text.is_empty() {
                    "的".to_string()
                } else {
                    let start = rng.below(text.len());
                    let len = 1 + rng.below(8).min(text.len() - start - 1);
                    text[start..start + len].iter().collect()
                }
            }
            5..=6 => (0..1 + rng.zipf(4))
                .map(|_| hanzi[rng.zipf(hanzi.len())])
                .collect(),
            7 => rng
                .pick(&[
                    "ok",
                    "OK",
                    "abc",
                    "ＡＢＣ",
                    "ｈｅｌｌｏ",
                    "Hello World",
                    "qq",
                    "Σ",
                    "σ",
                ])
                .to_string(),
            8 => (0..1 + rng.below(4))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect(),
            _ => rng
                .pick(&[
                    "㍻", "平成", "ﬁ", "fi", "①", "1", "㎏", "kg", "ｶﾞ", "ガ", "¨", "[图片]",
                ])
                .to_string(),
        };
        // Quotes cannot be searched for; whitespace makes a phrase.
        term.retain(|c| c != '"');
        if term.trim().is_empty() {
            continue;
        }
        let quoted = term.chars().any(char::is_whitespace) || term.starts_with('-');
        let term = if quoted { format!("\"{term}\"") } else { term };
        if i > 0 && rng.chance(25) {
            parts.push(format!("-{term}"));
        } else {
            parts.push(term);
        }
    }
    parts.join(" ")
}

#[test]
fn index_equals_scan() {
    index_equals_scan_in(false);
}

#[test]
fn index_with_stored_text_equals_scan() {
    index_equals_scan_in(true);
}

fn index_equals_scan_in(store_text: bool) {
    let (searcher, docs) = open(store_text);
    assert_eq!(searcher.num_docs(), docs.len() as u64);

    let hanzi: Vec<char> = HANZI.chars().collect();
    let mut rng = Rng::new(99);
    let mut with_hits = 0;
    let mut checked = 0;
    while checked < 600 {
        let text = random_query(&mut rng, docs, &hanzi);
        let Ok(query) = Query::parse(&text) else { continue };
        let limit = *rng.pick(&[0, 0, 1, 5, 20]);
        let sort = if rng.chance(25) {
            SortOrder::Relevance
        } else {
            SortOrder::Newest
        };
        let filters = Filters {
            limit,
            sort,
            ..Filters::default()
        };
        if !scan(docs, &query, &filters).is_empty() {
            with_hits += 1;
        }
        check(&searcher, docs, &query, &filters);
        checked += 1;
    }
    // The generator must exercise real matches, not only empty results.
    assert!(with_hits > 300, "only {with_hits} queries had hits");
}

#[test]
fn regression_terms_find_their_message() {
    let (searcher, docs) = open(false);
    for (i, (term, _)) in REGRESSION.iter().enumerate() {
        let query = Query::parse(term).expect("query");
        let filters = Filters::default();
        let hits = searcher.search(&query, &filters).expect("search");
        assert!(
            hits.iter().any(|h| h.chat == "cregression0" && h.seq == i as u64),
            "{term} does not find its message"
        );
        check(&searcher, docs, &query, &filters);
    }
}

#[test]
fn filters_and_orders() {
    let (searcher, docs) = open(false);
    let chats = [
        corpus::chat_id(0),
        corpus::chat_id(3),
        "cregression0".to_string(),
        "nope".into(),
    ];
    let senders = ["张", "1000", "alice", "ＢＯＢ", "zhao", "", "不存在"];
    let times = [
        MessageTime::new(2015, 1, 1, 0, 0, 0),
        MessageTime::new(2016, 6, 15, 12, 0, 0),
        MessageTime::new(2020, 5, 4, 3, 2, 1),
    ];
    let mut rng = Rng::new(5);
    for q in [
        "的", "好", "哈哈", "北京", "a", "1", "[图片]", "我 你", "的 -了", "ok",
    ] {
        let query = Query::parse(q).expect("query");
        for _ in 0..25 {
            let filters = Filters {
                chat: rng.chance(40).then(|| rng.pick(&chats).clone()),
                sender: rng.chance(40).then(|| rng.pick(&senders).to_string()),
                since: if rng.chance(40) { *rng.pick(&times) } else { None },
                until: if rng.chance(40) { *rng.pick(&times) } else { None },
                limit: *rng.pick(&[0, 1, 3, 50]),
                sort: if rng.chance(30) {
                    SortOrder::Relevance
                } else {
                    SortOrder::Newest
                },
            };
            check(&searcher, docs, &query, &filters);
        }
    }
}

#[test]
fn newest_first_and_limit() {
    let (searcher, _) = open(false);
    let query = Query::parse("的").expect("query");
    let all = searcher.search(&query, &Filters::default()).expect("search");
    assert!(all.len() > 100);
    assert!(all.windows(2).all(|w| w[0].time >= w[1].time));
    let five = searcher
        .search(
            &query,
            &Filters {
                limit: 5,
                ..Filters::default()
            },
        )
        .expect("search");
    assert_eq!(five[..], all[..5]);
    // One-character terms do not score; longer ones do.
    let relevance = Filters {
        limit: 5,
        sort: SortOrder::Relevance,
        ..Filters::default()
    };
    let best = searcher.search(&query, &relevance).expect("search");
    assert!(best.iter().all(|h| h.score == 0.0));
    assert_eq!(best[..], all[..5]);
    let query = Query::parse("哈哈").expect("query");
    let best = searcher.search(&query, &relevance).expect("search");
    assert_eq!(best.len(), 5);
    assert!(best.iter().all(|h| h.score > 0.0));
}

/// A search that stops early (segments newest first, "newest first" with a limit) must still
/// break ties at the limit's time by chat and sequence number, in one segment or several.
#[test]
fn early_stop_keeps_ties_at_the_limit() {
    let times = [
        MessageTime::new(2019, 1, 1, 0, 0, 0).expect("valid time"),
        MessageTime::new(2019, 1, 1, 0, 0, 1).expect("valid time"),
        MessageTime::new(2021, 7, 1, 12, 0, 0).expect("valid time"),
    ];
    let mut rng = Rng::new(11);
    let mut docs = corpus::generate(3000, 5, 3);
    for d in &mut docs {
        d.time = *rng.pick(&times);
    }
    for merge in [SegmentMerge::Never, SegmentMerge::Always] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = BuildOptions {
            merge,
            ..BuildOptions::new(40_000_000, 2)
        };
        let mut builder = IndexBuilder::create_with(dir.path(), opts).expect("create");
        for d in &docs {
            builder.add(d).expect("add");
        }
        builder.finish().expect("finish");
        let searcher = Searcher::open_dir(dir.path()).expect("open");
        let folded: Vec<String> = docs
            .iter()
            .map(|d| fold(&d.text, FoldOptions::default()))
            .collect();
        for q in ["的", "哈哈", "的 好", "的 -了", "a", "[图片]"] {
            let query = Query::parse(q).expect("query");
            for limit in [1, 2, 7, 50, 400] {
                for since in [None, Some(times[1])] {
                    let filters = Filters {
                        limit,
                        since,
                        ..Filters::default()
                    };
                    let found: Vec<_> = searcher.search(&query, &filters).expect("search");
                    let expected = scan_folded(&docs, &folded, &query, &filters);
                    assert_eq!(
                        found.iter().map(key).collect::<Vec<_>>(),
                        expected.iter().map(key).collect::<Vec<_>>(),
                        "query {query} filters {filters:?} merge {merge:?}"
                    );
                }
            }
        }
    }
}
