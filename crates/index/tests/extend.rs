//! Extending an index (as an update of an archive does): conversations taken out and added
//! give the same hits as an index built anew from the final messages, newest first still.

use qqvault_core::MessageTime;
use qqvault_index::{
    BuildOptions, Filters, IndexBuilder, IndexDoc, IndexInfo, Query, Searcher, SortOrder, INFO_FILE,
    MAX_SEGMENTS,
};
use std::collections::BTreeMap;
use std::path::Path;

/// `n` messages of `chat`, one a minute from `start` minutes past a fixed hour, every third
/// one saying 苹果.
fn chat(chat: &str, n: u64, start: u64) -> Vec<IndexDoc> {
    (0..n)
        .map(|seq| {
            let minute = start + seq;
            let time = MessageTime::new(
                2020,
                1 + (minute / (28 * 24 * 60)) as u8,
                1 + ((minute / (24 * 60)) % 28) as u8,
                ((minute / 60) % 24) as u8,
                (minute % 60) as u8,
                0,
            )
            .expect("time");
            IndexDoc {
                chat: chat.to_string(),
                seq,
                time,
                sender: format!("成员{}", seq % 4),
                sender_id: None,
                text: if seq % 3 == 0 {
                    format!("我买了苹果 {seq}")
                } else {
                    format!("今天天气 {seq}")
                },
            }
        })
        .collect()
}

fn build(dir: &Path, docs: &[IndexDoc]) {
    let mut b = IndexBuilder::create_with(dir, BuildOptions::new(20_000_000, 1)).expect("create");
    for d in docs {
        b.add(d).expect("add");
    }
    b.finish().expect("finish");
}

/// Every hit of 苹果, newest first: (chat, seq, time).
fn hits(dir: &Path) -> Vec<(String, u64, MessageTime)> {
    let s = Searcher::open_dir(dir).expect("open");
    let q = Query::parse("苹果").expect("query");
    let filters = Filters {
        sort: SortOrder::Newest,
        ..Filters::default()
    };
    s.search(&q, &filters)
        .expect("search")
        .into_iter()
        .map(|h| (h.chat, h.seq, h.time))
        .collect()
}

fn info(dir: &Path) -> IndexInfo {
    serde_json::from_slice(&std::fs::read(dir.join(INFO_FILE)).expect("info")).expect("json")
}

#[test]
fn a_conversation_replaced_and_one_added_give_what_a_new_build_gives() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ext = tmp.path().join("extended");
    let mut a = chat("a", 900, 0);
    let b = chat("b", 600, 300);
    build(&ext, &[a.clone(), b.clone()].concat());
    assert_eq!(info(&ext).doc_count, 1500);

    // Conversation a gets 100 more messages (merged anew: all of it is indexed again), and c
    // is new.
    a.extend(chat("a", 1000, 0).into_iter().skip(900));
    let c = chat("c", 400, 2000);
    let mut x = IndexBuilder::open_existing(&ext, BuildOptions::new(20_000_000, 1)).expect("open existing");
    assert_eq!(x.docs(), 1500);
    x.delete_chat("a", 900).expect("delete");
    for d in a.iter().chain(&c) {
        x.add(d).expect("add");
    }
    let stats = x.finish().expect("finish");
    assert_eq!(stats.docs, 2000);
    assert_eq!(stats.segments, 2, "the earlier segment is kept apart, not merged");
    assert_eq!(info(&ext).doc_count, 2000);

    let fresh = tmp.path().join("fresh");
    build(&fresh, &[b.clone(), a.clone(), c.clone()].concat());
    let got = hits(&ext);
    let want = hits(&fresh);
    // Same hits; newest first (the order between messages of one minute may differ).
    let key = |v: &[(String, u64, MessageTime)]| {
        let mut k: Vec<_> = v.iter().map(|(c, s, _)| (c.clone(), *s)).collect();
        k.sort();
        k
    };
    assert_eq!(key(&got), key(&want));
    assert!(got.windows(2).all(|w| w[0].2 >= w[1].2), "not newest first");
    let per_chat: BTreeMap<&str, usize> = got.iter().fold(BTreeMap::new(), |mut m, (c, _, _)| {
        *m.entry(c.as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_chat.get("a"), Some(&334));
    assert_eq!(per_chat.get("b"), Some(&200));
    assert_eq!(per_chat.get("c"), Some(&134));

    // A limited newest-first search stops early per segment and still gives the newest.
    let s = Searcher::open_dir(&ext).expect("open");
    let limited = s
        .search(
            &Query::parse("苹果").expect("query"),
            &Filters {
                sort: SortOrder::Newest,
                limit: 25,
                ..Filters::default()
            },
        )
        .expect("search");
    let limited: Vec<(String, u64)> = limited.into_iter().map(|h| (h.chat, h.seq)).collect();
    let first: Vec<(String, u64)> = want.iter().take(25).map(|(c, s, _)| (c.clone(), *s)).collect();
    let times = |v: &[(String, u64)]| -> Vec<MessageTime> {
        v.iter()
            .map(|k| {
                want.iter()
                    .find(|(c, s, _)| (c, s) == (&k.0, &k.1))
                    .expect("hit")
                    .2
            })
            .collect()
    };
    assert_eq!(times(&limited), times(&first));
}

#[test]
fn segments_are_merged_once_there_are_too_many() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("index");
    build(&dir, &chat("c0", 50, 0));
    let mut last = 1;
    for i in 1..=MAX_SEGMENTS as u64 + 1 {
        let mut x = IndexBuilder::open_existing(&dir, BuildOptions::new(20_000_000, 1)).expect("open");
        if i % 2 == 0 {
            x.delete_chat("c0", 50).expect("delete");
            for d in chat("c0", 50, 0) {
                x.add(&d).expect("add");
            }
        }
        for d in chat(&format!("c{i}"), 50, i * 100) {
            x.add(&d).expect("add");
        }
        let stats = x.finish().expect("finish");
        assert!(stats.segments <= MAX_SEGMENTS, "{} segments", stats.segments);
        last = stats.segments;
        assert_eq!(stats.docs, 50 * (i + 1));
        let found = hits(&dir);
        assert_eq!(found.len() as u64, 17 * (i + 1), "after update {i}");
    }
    assert!(last < MAX_SEGMENTS, "never merged: {last} segments");
}

#[test]
fn an_index_of_another_version_is_not_extended() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("index");
    build(&dir, &chat("a", 10, 0));
    let path = dir.join(INFO_FILE);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    v["schema_version"] = serde_json::json!(1);
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    assert!(IndexBuilder::open_existing(&dir, BuildOptions::new(20_000_000, 1)).is_err());
}
