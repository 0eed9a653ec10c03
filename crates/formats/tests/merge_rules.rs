//! Every merge rule, one test each, with exact counts.

use qqvault_core::{
    Attachment, ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message, MessageTime, Sha256Digest,
};
use qqvault_formats::merge::{MergeStats, Merger, SourceFormat};

fn key(scope: &str, peer: &str) -> ConversationKey {
    ConversationKey {
        family: ExportFamily::MessageManager,
        scope: scope.into(),
        peer: peer.into(),
    }
}

fn meta(peer: &str) -> ConversationMeta {
    ConversationMeta {
        key: key("我的好友", peer),
        name: peer.into(),
        group: Some("我的好友".into()),
        kind: ChatKind::Friend,
    }
}

fn at(second: u8) -> MessageTime {
    MessageTime::new(2020, 3, 22, 8, 0, second).expect("valid time")
}

fn m(second: u8, sender: &str, text: &str) -> Message {
    Message {
        time: at(second),
        sender: sender.into(),
        sender_id: Some("10001".into()),
        text: text.into(),
        system: false,
        attachments: Vec::new(),
    }
}

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

fn merge(files: Vec<(SourceFormat, Vec<Message>)>) -> (Vec<Message>, MergeStats) {
    let mut merger = Merger::new();
    for (source, messages) in files {
        merger.add_file(source, vec![(meta("甲"), messages)]);
    }
    let mut result = merger.finish();
    assert_eq!(result.conversations.len(), 1);
    let stats = result.stats.clone();
    assert_eq!(
        stats.messages_out,
        stats.messages_in - stats.duplicates_dropped - stats.placeholder_matches
    );
    (result.conversations.remove(0).1, stats)
}

#[test]
fn conversations_are_joined_by_key_and_their_meta_completed() {
    let mut merger = Merger::new();
    let bare = ConversationMeta {
        key: key("我的好友", "甲"),
        name: String::new(),
        group: None,
        kind: ChatKind::Unknown,
    };
    merger.add_file(
        SourceFormat::Txt,
        vec![(bare, vec![m(1, "甲", "a")]), (meta("乙"), vec![m(1, "乙", "b")])],
    );
    let mut full = meta("甲");
    full.name = "甲的名字".into();
    merger.add_file(SourceFormat::Mht, vec![(full, vec![m(2, "甲", "c")])]);
    let mut other_kind = meta("甲");
    other_kind.kind = ChatKind::Group;
    other_kind.name = "later".into();
    merger.add_file(SourceFormat::Txt, vec![(other_kind, vec![])]);
    let result = merger.finish();
    assert_eq!(result.conversations.len(), 2);
    let (first, messages) = &result.conversations[0];
    assert_eq!(first.key, key("我的好友", "甲"));
    assert_eq!(first.name, "甲的名字");
    assert_eq!(first.group.as_deref(), Some("我的好友"));
    assert_eq!(first.kind, ChatKind::Friend);
    assert_eq!(texts(messages), vec!["a", "c"]);
    assert_eq!(result.conversations[1].0.key.peer, "乙");
    assert_eq!(result.stats.files, 3);
    assert_eq!(result.stats.conversations, 2);
}

#[test]
fn copies_within_one_file_all_count() {
    // Twice in one block, and again in a repeated block of the same file.
    let mut merger = Merger::new();
    merger.add_file(
        SourceFormat::Txt,
        vec![
            (meta("甲"), vec![m(1, "甲", "x"), m(1, "甲", "x")]),
            (meta("甲"), vec![m(1, "甲", "x")]),
        ],
    );
    let result = merger.finish();
    assert_eq!(result.conversations.len(), 1);
    assert_eq!(texts(&result.conversations[0].1), vec!["x", "x", "x"]);
    assert_eq!(result.stats.duplicates_dropped, 0);
}

#[test]
fn across_files_the_largest_count_of_any_one_file_is_kept() {
    let (messages, stats) = merge(vec![
        (SourceFormat::Txt, vec![m(1, "甲", "x"), m(2, "甲", "y")]),
        (
            SourceFormat::Txt,
            vec![m(1, "甲", "x"), m(1, "甲", "x"), m(2, "甲", "y")],
        ),
        (SourceFormat::Mht, vec![m(1, "甲", "x")]),
    ]);
    assert_eq!(texts(&messages), vec!["x", "x", "y"]);
    assert_eq!(stats.duplicates_dropped, 3);
    assert_eq!(stats.messages_in, 6);
    assert_eq!(stats.messages_out, 3);
}

#[test]
fn every_field_of_the_identity_matters() {
    let mut other_id = m(1, "甲", "x");
    other_id.sender_id = Some("10002".into());
    let mut no_id = m(1, "甲", "x");
    no_id.sender_id = None;
    let (messages, stats) = merge(vec![
        (SourceFormat::Txt, vec![m(1, "甲", "x")]),
        (
            SourceFormat::Txt,
            vec![
                m(2, "甲", "x"),
                m(1, "乙", "x"),
                m(1, "甲", "x "),
                other_id,
                no_id,
            ],
        ),
    ]);
    assert_eq!(messages.len(), 6);
    assert_eq!(stats.duplicates_dropped, 0);
}

fn attachment(name: &str, known: bool) -> Attachment {
    Attachment {
        name: name.into(),
        sha256: known.then(|| Sha256Digest::of(name.as_bytes())),
        entry: known.then(|| format!("media/{name}")),
    }
}

#[test]
fn attachments_of_merged_copies_are_united() {
    let mut first = m(1, "甲", "[图片][图片]");
    first.attachments = vec![attachment("{A}.dat", false), attachment("{B}.dat", true)];
    let mut second = m(1, "甲", "[图片][图片]");
    second.attachments = vec![attachment("{a}.DAT", true), attachment("{C}.dat", true)];
    let (messages, stats) = merge(vec![
        (SourceFormat::Mht, vec![first]),
        (SourceFormat::Mht, vec![second]),
    ]);
    assert_eq!(messages.len(), 1);
    assert_eq!(stats.duplicates_dropped, 1);
    let got = &messages[0].attachments;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].name, "{A}.dat");
    assert_eq!(got[0].sha256, Some(Sha256Digest::of(b"{a}.DAT")));
    assert_eq!(got[0].entry.as_deref(), Some("media/{a}.DAT"));
    assert_eq!(got[1], attachment("{B}.dat", true));
    assert_eq!(got[2], attachment("{C}.dat", true));
}

fn mht_version() -> Message {
    let mut mht = m(5, "甲", "[图片]你好 世界[图片]");
    mht.attachments = vec![attachment("{E}.dat", false), attachment("{F}.dat", false)];
    mht
}

#[test]
fn txt_then_mht_keeps_the_mht_version() {
    let (messages, stats) = merge(vec![
        (
            SourceFormat::Txt,
            vec![
                m(4, "甲", "before"),
                m(5, "甲", "[表情]你好世界 [阴险]"),
                m(6, "甲", "after"),
            ],
        ),
        (
            SourceFormat::Mht,
            vec![m(4, "甲", "before"), mht_version(), m(6, "甲", "after")],
        ),
    ]);
    assert_eq!(texts(&messages), vec!["before", "[图片]你好 世界[图片]", "after"]);
    assert_eq!(messages[1].attachments, mht_version().attachments);
    assert_eq!(stats.placeholder_matches, 1);
    assert_eq!(stats.duplicates_dropped, 2);
}

#[test]
fn mht_then_txt_keeps_the_mht_version() {
    let (messages, stats) = merge(vec![
        (SourceFormat::Mht, vec![mht_version()]),
        (SourceFormat::Txt, vec![m(5, "甲", "[表情]你好世界[表情]")]),
    ]);
    assert_eq!(messages, vec![mht_version()]);
    assert_eq!(stats.placeholder_matches, 1);
}

#[test]
fn only_placeholders_on_both_sides_match() {
    let (messages, stats) = merge(vec![
        (
            SourceFormat::Txt,
            vec![m(5, "甲", "[阴险]"), m(5, "甲", "[表情]")],
        ),
        (SourceFormat::Mht, vec![m(5, "甲", "[图片]"), m(5, "甲", "")]),
    ]);
    assert_eq!(texts(&messages), vec!["[图片]", ""]);
    assert_eq!(stats.placeholder_matches, 2);
}

#[test]
fn placeholder_matching_needs_txt_against_mht_and_the_same_rest() {
    let cases: Vec<(SourceFormat, SourceFormat, Message)> = vec![
        (SourceFormat::Txt, SourceFormat::Txt, m(5, "甲", "[图片]你好世界")),
        (SourceFormat::Mht, SourceFormat::Mht, m(5, "甲", "[图片]你好世界")),
        (SourceFormat::Qce, SourceFormat::Mht, m(5, "甲", "[图片]你好世界")),
        (SourceFormat::Txt, SourceFormat::Mht, m(5, "乙", "[图片]你好世界")),
        (SourceFormat::Txt, SourceFormat::Mht, m(6, "甲", "[图片]你好世界")),
        (
            SourceFormat::Txt,
            SourceFormat::Mht,
            m(5, "甲", "[图片]你好世界!"),
        ),
        (
            SourceFormat::Txt,
            SourceFormat::Mht,
            m(5, "甲", "[表情32]你好世界"),
        ),
    ];
    for (first, second, other) in cases {
        let (messages, stats) = merge(vec![
            (first, vec![m(5, "甲", "[表情]你好世界")]),
            (second, vec![other.clone()]),
        ]);
        assert_eq!(messages.len(), 2, "{first:?} {second:?} {other:?}");
        assert_eq!(stats.placeholder_matches, 0);
    }
}

#[test]
fn exact_matches_win_over_placeholder_matches() {
    // The MHT copy "[图片]" matches the TXT "[图片]" exactly, not the "[表情]" before it.
    let (messages, stats) = merge(vec![
        (
            SourceFormat::Txt,
            vec![m(5, "甲", "[表情]"), m(5, "甲", "[图片]")],
        ),
        (SourceFormat::Mht, vec![m(5, "甲", "[图片]")]),
    ]);
    assert_eq!(texts(&messages), vec!["[表情]", "[图片]"]);
    assert_eq!((stats.duplicates_dropped, stats.placeholder_matches), (1, 0));
}

#[test]
fn output_is_sorted_by_time_and_stable_within_a_second() {
    // A repeated block puts older messages after newer ones in the file.
    let (messages, _) = merge(vec![(
        SourceFormat::Txt,
        vec![
            m(3, "甲", "c1"),
            m(3, "甲", "c2"),
            m(1, "甲", "a"),
            m(3, "甲", "c3"),
            m(2, "甲", "b"),
        ],
    )]);
    assert_eq!(texts(&messages), vec!["a", "b", "c1", "c2", "c3"]);
}

#[test]
fn new_messages_of_a_second_go_next_to_their_neighbours() {
    let first = vec![m(1, "甲", "A"), m(1, "甲", "C")];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["A", "B", "C"], vec!["A", "B", "C"]),
        (vec!["B", "A"], vec!["B", "A", "C"]),
        (vec!["C", "D"], vec!["A", "C", "D"]),
        (vec!["D", "E"], vec!["A", "C", "D", "E"]),
        (vec!["A", "B1", "B2", "C", "D"], vec!["A", "B1", "B2", "C", "D"]),
    ];
    for (second, expected) in cases {
        let second_file: Vec<Message> = second.iter().map(|t| m(1, "甲", t)).collect();
        let (messages, _) = merge(vec![
            (SourceFormat::Txt, first.clone()),
            (SourceFormat::Txt, second_file),
        ]);
        assert_eq!(texts(&messages), expected, "second file {second:?}");
    }
}

#[test]
fn crowded_second_pairs_through_a_map() {
    // 40 × 40 copies in one second take the hashed path; counts must be those of the rules.
    let first: Vec<Message> = (0..40).map(|i| m(9, "甲", &format!("{}", i % 20))).collect();
    let second: Vec<Message> = (0..40)
        .rev()
        .map(|i| m(9, "甲", &format!("{}", i % 25)))
        .collect();
    let (messages, stats) = merge(vec![(SourceFormat::Txt, first), (SourceFormat::Txt, second)]);
    // Texts 0..20 appear twice in the first file; in the second, 0..15 twice and 15..25 once.
    // Max per text: 0..20 → 2 (40), 20..25 → 1 (5).
    assert_eq!(messages.len(), 45);
    assert_eq!(stats.duplicates_dropped, 35);
}
