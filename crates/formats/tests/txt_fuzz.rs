//! Property tests for the Message Manager TXT parser: arbitrary bytes, and arbitrary
//! sequences of format-shaped lines, never panic, always terminate, and account for every
//! message they report.

use proptest::prelude::*;
use qqvault_core::{ConversationMeta, Message};
use qqvault_formats::decode;
use qqvault_formats::formats::qq_txt;
use qqvault_formats::ChatSink;
use std::io::BufReader;

#[derive(Default)]
struct Count {
    convs: u64,
    msgs: u64,
    junk: u64,
    messages_before_conversation: bool,
}

impl ChatSink for Count {
    fn conversation(&mut self, _: ConversationMeta) {
        self.convs += 1;
    }
    fn message(&mut self, m: Message) {
        if self.convs == 0 {
            self.messages_before_conversation = true;
        }
        assert!(!m.text.contains('\r'));
        self.msgs += 1;
    }
    fn not_understood(&mut self, _: u64, _: &str) {
        self.junk += 1;
    }
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let reader = BufReader::with_capacity(7, decode::open(bytes).expect("in-memory"));
    let mut sink = Count::default();
    let stats = qq_txt::parse(reader, "stem", &mut sink).expect("in-memory");
    prop_assert_eq!(stats.messages, sink.msgs);
    prop_assert_eq!(stats.conversations, sink.convs);
    prop_assert_eq!(stats.lines_not_understood, sink.junk);
    prop_assert!(!sink.messages_before_conversation);
    prop_assert!(stats.lines_not_understood <= stats.lines);
    Ok(())
}

const PIECES: [&str; 16] = [
    "\r\n",
    "\n",
    "\r",
    "\u{feff}",
    "消息记录（此消息记录为文本格式，不支持重新导入）",
    "================================================================",
    "==========",
    "消息分组:我的QQ群",
    "消息对象：某人",
    "2016-07-19 15:27:15 移游(2700005)",
    "2016-7-9 9:05:01 PM a<b@c>",
    "2016-07-19 上午 1:02:03 (1)",
    "2006-01-02 15:04:05",
    "系统消息(10000)",
    "正文 text",
    "=.=",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn txt_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes)?;
    }

    #[test]
    fn txt_format_shaped_lines_never_panic(picks in proptest::collection::vec(0usize..PIECES.len(), 0..200)) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        check(text.as_bytes())?;
        let mut gbk = encoding_rs::GBK.encode(&text).0.into_owned();
        check(&gbk)?;
        gbk.truncate(gbk.len() / 2);
        check(&gbk)?;
    }
}
