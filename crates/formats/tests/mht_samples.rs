//! The anonymised real exports in the shared fixtures, with the counts their README gives.
//! Each test skips, saying so, when the shared fixtures are absent.

#[path = "mht_support/mod.rs"]
mod support;

use qqvault_core::ChatKind;
use qqvault_formats::formats::mht::SenderName;
use qqvault_formats::ParseFinding;
use std::collections::{BTreeMap, BTreeSet};
use support::*;

fn read(relative: &str) -> Option<Vec<u8>> {
    let path = shared_fixture(relative)?;
    Some(std::fs::read(path).expect("shared fixture readable"))
}

/// How many times each attachment name is referenced by the messages.
fn references(rec: &Recorder) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in rec.messages() {
        for attachment in &message.attachments {
            *counts.entry(attachment.name.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

fn senders(rec: &Recorder) -> BTreeSet<(String, Option<String>)> {
    rec.messages()
        .iter()
        .map(|m| (m.sender.clone(), m.sender_id.clone()))
        .collect()
}

#[test]
fn private_2023_with_12h_times() {
    let Some(bytes) = read("mht/private-2023-12h-times.mht") else {
        return;
    };
    let (rec, stats) = parse(&bytes, "private-2023-12h-times");
    assert_eq!(rec.conversations.len(), 1);
    let (meta, messages) = &rec.conversations[0];
    assert_eq!(
        (meta.key.scope.as_str(), meta.key.peer.as_str()),
        ("同好", "匿名B")
    );
    assert_eq!(
        (meta.name.as_str(), meta.group.as_deref(), meta.kind),
        ("匿名B", Some("同好"), ChatKind::Friend)
    );
    assert_eq!(messages.len(), 57);
    let days: BTreeSet<String> = messages.iter().map(|m| m.time.date_string()).collect();
    assert_eq!(
        days,
        BTreeSet::from(["2023-10-29".to_string(), "2023-10-31".to_string()])
    );
    assert_eq!(
        senders(&rec),
        BTreeSet::from([("匿名A".to_string(), None), ("匿名B".to_string(), None)])
    );
    assert!(messages.iter().all(|m| !m.system));
    // 12 h times: 下午 rows come out after noon.
    assert_eq!(messages[0].time.to_string(), "2023-10-29T11:29:53");
    assert_eq!(
        messages.last().map(|m| m.time.to_string()).as_deref(),
        Some("2023-10-31T19:19:29")
    );

    assert_eq!(rec.embedded.len(), 3);
    let refs = references(&rec);
    assert_eq!(refs.len(), 3);
    for (name, _, _) in &rec.embedded {
        assert_eq!(refs.get(&name.to_lowercase()), Some(&1), "{name} referenced once");
    }
    let png = rec
        .embedded
        .iter()
        .filter(|(_, _, d)| d.starts_with(b"\x89PNG\r\n\x1a\n"))
        .count();
    let jpeg = rec
        .embedded
        .iter()
        .filter(|(_, _, d)| d.starts_with(&[0xFF, 0xD8, 0xFF]))
        .count();
    assert_eq!((png, jpeg), (2, 1));
    assert!(rec.findings.is_empty(), "{:?}", rec.findings);
    assert!(rec.not_understood.is_empty(), "{:?}", rec.not_understood);
    assert_eq!(stats.messages, 57);
    assert_eq!(
        (stats.parts, stats.image_references, stats.broken_parts),
        (3, 3, 0)
    );
    assert_eq!(
        stats.conversations[0].self_senders,
        vec![SenderName {
            name: "匿名A".into(),
            id: None
        }]
    );
}

#[test]
fn trimmed_lf() {
    let Some(bytes) = read("mht/trimmed-lf.mht") else {
        return;
    };
    let (rec, stats) = parse(&bytes, "trimmed-lf");
    assert_eq!(rec.conversations.len(), 1);
    let (meta, messages) = &rec.conversations[0];
    assert_eq!(
        (meta.key.scope.as_str(), meta.key.peer.as_str()),
        ("好友", "对方")
    );
    assert_eq!(messages.len(), 14);
    let first = messages.iter().map(|m| m.time).min().map(|t| t.date_string());
    let last = messages.iter().map(|m| m.time).max().map(|t| t.date_string());
    assert_eq!(first.as_deref(), Some("2020-03-22"));
    assert_eq!(last.as_deref(), Some("2020-08-26"));
    assert_eq!(
        senders(&rec),
        BTreeSet::from([("对方".to_string(), None), ("我".to_string(), None)])
    );
    assert_eq!(rec.embedded.len(), 1);
    assert!(rec.embedded[0].2.starts_with(b"GIF89a"));
    assert_eq!(references(&rec).len(), 1);
    assert!(rec.findings.is_empty(), "{:?}", rec.findings);
    assert!(rec.not_understood.is_empty());
    assert_eq!(
        stats.conversations[0].self_senders,
        vec![SenderName {
            name: "我".into(),
            id: None
        }]
    );
}

#[test]
fn truncated_image_is_kept_and_reported() {
    let Some(bytes) = read("mht/truncated-image.mht") else {
        return;
    };
    let (rec, stats) = parse(&bytes, "truncated-image");
    assert_eq!(rec.messages().len(), 14);
    assert_eq!(rec.embedded.len(), 1);
    let (name, content_type, data) = &rec.embedded[0];
    assert_eq!(content_type, "image/gif");
    assert!(data.starts_with(b"GIF89a") && data.len() > 1000);
    assert!(matches!(
        &rec.findings[..],
        [ParseFinding::BrokenPart { name: broken, .. }] if broken == name
    ));
    assert_eq!(stats.broken_parts, 1);
    assert!(rec.not_understood.is_empty());
}
