//! Property tests for the qq-chat-exporter parsers: arbitrary bytes and format-shaped input
//! never panic and always terminate.

use proptest::prelude::*;
use qqvault_core::{ChatKind, ConversationKey, ConversationMeta, ExportFamily, Message};
use qqvault_formats::formats::qce::{self, WallClock};
use qqvault_formats::ChatSink;
use std::io::BufReader;

#[derive(Default)]
struct Count {
    msgs: u64,
}

impl ChatSink for Count {
    fn conversation(&mut self, _: ConversationMeta) {}
    fn message(&mut self, _: Message) {
        self.msgs += 1;
    }
    fn not_understood(&mut self, _: u64, _: &str) {}
}

fn meta() -> ConversationMeta {
    ConversationMeta {
        key: ConversationKey {
            family: ExportFamily::Qce,
            scope: "group".into(),
            peer: "1".into(),
        },
        name: "n".into(),
        group: None,
        kind: ChatKind::Group,
    }
}

fn run_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    let tz = WallClock::default();
    let mut sink = Count::default();
    let stats = qce::parse_txt(BufReader::with_capacity(5, bytes), "s", &tz, &mut sink).expect("in-memory");
    prop_assert_eq!(stats.messages, sink.msgs);
    let mut sink = Count::default();
    let _ = qce::parse_json(BufReader::new(bytes), "s", &tz, &mut sink);
    let mut sink = Count::default();
    let stats = qce::parse_jsonl_chunk(BufReader::new(bytes), &meta(), &tz, &mut sink).expect("in-memory");
    prop_assert_eq!(stats.messages, sink.msgs);
    let _ = qce::parse_manifest(bytes);
    Ok(())
}

const PIECES: [&str; 14] = [
    "\n",
    "\r\n",
    "[QQChatExporter V5]",
    "聊天名称: x",
    "===============================================",
    "导出完成",
    "Alice:",
    "时间: 2023-07-29 12:27:42",
    "内容: hi",
    "资源: 1 个文件",
    "  - image: a.png",
    "回复: x - y",
    "{\"timestamp\":1690604861000,\"sender\":{\"name\":\"A\"},\"content\":{\"text\":\"a\"}}",
    "{\"chatInfo\":{},\"messages\":[{\"timestamp\":\"1\"},",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn qce_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        run_all(&bytes)?;
    }

    #[test]
    fn qce_format_shaped_input_never_panics(picks in proptest::collection::vec(0usize..PIECES.len(), 0..200)) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        run_all(text.as_bytes())?;
    }

    #[test]
    fn qce_arbitrary_json_values_never_panic(depth in 0usize..200, t in any::<i64>(), s in ".{0,40}") {
        let doc = format!(
            "{{\"chatInfo\":{{\"name\":{s:?},\"type\":{t},\"peerUin\":{t}}},\"messages\":[{open}{{\"timestamp\":{t},\"time\":{s:?},\"sender\":{t},\"content\":[{s:?}]}}{close}]}}",
            open = "[".repeat(depth),
            close = "]".repeat(depth),
        );
        run_all(doc.as_bytes())?;
        let tz = WallClock::default();
        let _ = tz.to_message_time(t);
        let _ = WallClock::parse(&s);
        let _ = qce::parse_local_time(&s);
    }
}
