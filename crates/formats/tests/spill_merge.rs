//! The merge through temporary files gives exactly what the in-memory reference merge gives,
//! whatever the budget: files cut into many runs, runs out of time order, repeated blocks of a
//! conversation, TXT/MHT placeholder matches, attachments.

use proptest::prelude::*;
use qqvault_core::{
    Attachment, ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message, MessageTime,
};
use qqvault_formats::merge::{Merger, SourceFormat};
use qqvault_formats::spill::SpillMerger;

fn meta(peer: u8, named: bool) -> ConversationMeta {
    ConversationMeta {
        key: ConversationKey {
            family: ExportFamily::MessageManager,
            scope: "我的好友".into(),
            peer: format!("peer{peer}"),
        },
        name: if named {
            format!("好友{peer}")
        } else {
            String::new()
        },
        group: None,
        kind: if named {
            ChatKind::Friend
        } else {
            ChatKind::Unknown
        },
    }
}

const TEXTS: &[&str] = &[
    "你好",
    "[图片]你好",
    "你 好[表情]",
    "[阴险]",
    "",
    "a\nb",
    "长长的一段话",
];

fn message() -> impl Strategy<Value = Message> {
    (0u8..6, 0u8..3, 0usize..TEXTS.len(), any::<bool>(), 0u8..3).prop_map(|(sec, who, text, system, att)| {
        Message {
            time: if sec == 5 {
                MessageTime::default()
            } else {
                MessageTime::new(2021, 1, 2, 3, 4, sec).expect("valid")
            },
            sender: format!("人{who}"),
            sender_id: (who != 2).then(|| format!("1000{who}")),
            text: TEXTS[text].into(),
            system,
            attachments: (0..att)
                .map(|i| Attachment {
                    name: if i == 0 {
                        "{AB}.dat".into()
                    } else {
                        "{ab}.DAT".into()
                    },
                    sha256: None,
                    entry: (att == 2).then(|| format!("media/{i}.png")),
                })
                .collect(),
        }
    })
}

type File = (SourceFormat, Vec<(u8, bool, Vec<Message>)>);

fn file() -> impl Strategy<Value = File> {
    (
        prop_oneof![
            Just(SourceFormat::Txt),
            Just(SourceFormat::Mht),
            Just(SourceFormat::Qce)
        ],
        prop::collection::vec(
            (0u8..3, any::<bool>(), prop::collection::vec(message(), 0..40)),
            0..5,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn spilled_merge_equals_the_reference(
        files in prop::collection::vec(file(), 1..5),
        budget in 0usize..4000,
        // Which files' spools write out what they hold before they are merged (a spool parsed
        // ahead of its turn does).
        held_out in prop::collection::vec(any::<bool>(), 5),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut reference = Merger::new();
        let mut spilled = SpillMerger::new(dir.path(), budget);
        let mut seen_by_each = 0u64;
        for (n, (source, blocks)) in files.iter().enumerate() {
            let mut spool = spilled.spool();
            let mut conversations = Vec::new();
            for (peer, named, messages) in blocks {
                spool.conversation(meta(*peer, *named));
                for m in messages {
                    spool.push(m.clone());
                }
                conversations.push((meta(*peer, *named), messages.clone()));
            }
            if held_out[n] {
                spool.spill_held();
            }
            reference.add_file(*source, conversations);
            spilled.add_file(*source, spool, &mut |_| seen_by_each += 1).expect("merge");
        }
        let expected = reference.finish();
        let got = spilled.stats();
        prop_assert_eq!(&got, &expected.stats);
        prop_assert_eq!(seen_by_each, expected.stats.messages_in);
        prop_assert_eq!(spilled.conversations().len(), expected.conversations.len());
        for (i, (meta, messages)) in expected.conversations.iter().enumerate() {
            let c = &spilled.conversations()[i];
            prop_assert_eq!(&c.meta, meta);
            prop_assert_eq!(c.messages, messages.len() as u64);
            prop_assert_eq!(c.first, messages.first().map(|m| m.time));
            prop_assert_eq!(c.last, messages.last().map(|m| m.time));
            let read: Vec<Message> = spilled
                .messages(i)
                .expect("open")
                .collect::<std::io::Result<_>>()
                .expect("read");
            prop_assert_eq!(&read, messages);
        }
    }
}

/// A conversation cut into more runs than may be open at once, out of time order, still comes
/// out sorted with file order kept within each second; and the temporary files are gone after.
#[test]
fn many_runs_out_of_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut merger = SpillMerger::new(dir.path(), 0);
    let mut spool = merger.spool();
    spool.conversation(meta(1, true));
    let mut expected = Vec::new();
    for i in 0..500u32 {
        // Times go down and up again, so that every spill (one message each) starts a run.
        let sec = ((i * 7) % 60) as u8;
        let m = Message {
            time: MessageTime::new(2020, 1, 1, 0, 0, sec).expect("valid"),
            sender: "甲".into(),
            sender_id: None,
            text: format!("第{i}条"),
            system: false,
            attachments: Vec::new(),
        };
        expected.push(m.clone());
        spool.push(m);
    }
    merger
        .add_file(SourceFormat::Qce, spool, &mut |_| {})
        .expect("merge");
    expected.sort_by_key(|m| m.time);
    let got: Vec<Message> = merger
        .messages(0)
        .expect("open")
        .collect::<std::io::Result<_>>()
        .expect("read");
    assert_eq!(got, expected);
    drop(merger);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}
