//! Message Manager TXT parser: one byte-literal fixture per quirk, each run in every supported
//! encoding through `decode::open`, with exact counts and field values; and the shared real
//! sample (skipped when absent).

use qqvault_core::{ChatKind, ConversationMeta, ExportFamily, Message, MessageTime};
use qqvault_formats::decode::{self, TextEncoding};
use qqvault_formats::formats::qq_txt::{self, TxtStats};
use qqvault_formats::{ChatSink, ParseFinding};
use std::io::BufReader;
use std::path::PathBuf;

#[derive(Default, Debug)]
struct Collect {
    convs: Vec<ConversationMeta>,
    /// (index of the conversation it belongs to, message)
    msgs: Vec<(usize, Message)>,
    junk: Vec<(u64, String)>,
    findings: Vec<ParseFinding>,
}

impl ChatSink for Collect {
    fn conversation(&mut self, meta: ConversationMeta) {
        self.convs.push(meta);
    }
    fn message(&mut self, message: Message) {
        let conv = self.convs.len().saturating_sub(1);
        self.msgs.push((conv, message));
    }
    fn not_understood(&mut self, line_no: u64, line: &str) {
        self.junk.push((line_no, line.to_owned()));
    }
    fn finding(&mut self, finding: ParseFinding) {
        self.findings.push(finding);
    }
}

const ENCODINGS: [TextEncoding; 7] = [
    TextEncoding::Utf8Bom,
    TextEncoding::Utf8,
    TextEncoding::Utf16LeBom,
    TextEncoding::Utf16BeBom,
    TextEncoding::Utf16Le,
    TextEncoding::Utf16Be,
    TextEncoding::Gb18030,
];

fn encode(text: &str, enc: TextEncoding) -> Vec<u8> {
    let utf16 = |big: bool, bom: bool| {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big { &[0xFE, 0xFF] } else { &[0xFF, 0xFE] });
        }
        for unit in text.encode_utf16() {
            let b = if big {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            out.extend_from_slice(&b);
        }
        out
    };
    match enc {
        TextEncoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        TextEncoding::Utf8 => text.as_bytes().to_vec(),
        TextEncoding::Utf16LeBom => utf16(false, true),
        TextEncoding::Utf16BeBom => utf16(true, true),
        TextEncoding::Utf16Le => utf16(false, false),
        TextEncoding::Utf16Be => utf16(true, false),
        TextEncoding::Gb18030 => encoding_rs::GB18030.encode(text).0.into_owned(),
        TextEncoding::Big5 => encoding_rs::BIG5.encode(text).0.into_owned(),
    }
}

fn run_bytes(bytes: &[u8], stem: &str) -> (Collect, TxtStats, TextEncoding, u64) {
    let reader = decode::open(bytes).expect("in-memory read");
    let enc = reader.encoding();
    let mut buf = BufReader::new(reader);
    let mut sink = Collect::default();
    let stats = qq_txt::parse(&mut buf, stem, &mut sink).expect("in-memory read");
    let malformed = buf.get_ref().malformed();
    (sink, stats, enc, malformed)
}

/// Runs `text` in every encoding; checks that each is detected, decodes cleanly and gives the
/// same result; returns that result.
fn run_all(text: &str) -> (Collect, TxtStats) {
    let mut first: Option<(Collect, TxtStats)> = None;
    for enc in ENCODINGS {
        let bytes = encode(text, enc);
        let (sink, stats, detected, malformed) = run_bytes(&bytes, "stem");
        // ASCII-only text is the same bytes in UTF-8 and GB18030.
        let expected = if enc == TextEncoding::Gb18030 && bytes.is_ascii() {
            TextEncoding::Utf8
        } else {
            enc
        };
        assert_eq!(detected, expected, "detected encoding");
        assert_eq!(malformed, 0, "{enc}: malformed input");
        match &first {
            None => first = Some((sink, stats)),
            Some((s0, st0)) => {
                assert_eq!(st0, &stats, "{enc}: stats differ from UTF-8 BOM");
                assert_eq!(s0.convs, sink.convs, "{enc}: conversations differ");
                assert_eq!(s0.msgs, sink.msgs, "{enc}: messages differ");
                assert_eq!(s0.junk, sink.junk, "{enc}: not-understood lines differ");
            }
        }
    }
    first.expect("at least one encoding")
}

fn t(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> MessageTime {
    MessageTime::new(y, mo, d, h, mi, s).expect("valid test time")
}

fn msg(time: MessageTime, sender: &str, id: Option<&str>, text: &str) -> Message {
    Message {
        time,
        sender: sender.to_owned(),
        sender_id: id.map(str::to_owned),
        text: text.to_owned(),
        system: false,
        attachments: Vec::new(),
    }
}

const SEP: &str = "================================================================";

fn head(group: &str, object: &str) -> String {
    format!(
        "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{SEP}\r\n消息分组:{group}\r\n{SEP}\r\n消息对象:{object}\r\n{SEP}\r\n\r\n"
    )
}

#[test]
fn txt_basic_layout_and_conversation() {
    let text = format!(
        "{}2016-07-19 15:27:15 移游(2700005)\r\n内推来啦\r\n\r\n2016-07-19 15:27:19 大数据<qinsh@qq.com>\r\nrap\r\n\r\n",
        head("我的QQ群", "2015软院群")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 2);
    assert_eq!(stats.conversations, 1);
    assert_eq!(stats.lines_not_understood, 0);
    assert!(!stats.lf_only);
    assert_eq!(sink.convs.len(), 1);
    let c = &sink.convs[0];
    assert_eq!(c.key.family, ExportFamily::MessageManager);
    assert_eq!(c.key.scope, "我的QQ群");
    assert_eq!(c.key.peer, "2015软院群");
    assert_eq!(c.name, "2015软院群");
    assert_eq!(c.group.as_deref(), Some("我的QQ群"));
    assert_eq!(c.kind, ChatKind::Group);
    assert_eq!(
        sink.msgs,
        vec![
            (
                0,
                msg(t(2016, 7, 19, 15, 27, 15), "移游", Some("2700005"), "内推来啦")
            ),
            (
                0,
                msg(t(2016, 7, 19, 15, 27, 19), "大数据", Some("qinsh@qq.com"), "rap")
            ),
        ]
    );
}

#[test]
fn txt_lone_cr_and_lf_inside_bodies() {
    // PC clients send CR, others LF, some both; `\r\r\n` is a body ending in a lone CR.
    let text = format!(
        "{}2016-07-19 15:27:15 A(1001)\r\nline1\rline2\nline3\r\n\r\n2016-07-19 15:27:16 B(1002)\r\n内推码：508YD75\r\r\n\r\n2016-07-19 15:27:17 C(1003)\r\n\nstarts with LF\r\n\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 3);
    let texts: Vec<&str> = sink.msgs.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["line1\nline2\nline3", "内推码：508YD75\n", "\nstarts with LF"]
    );
}

#[test]
fn txt_unpadded_and_twelve_hour_times() {
    let text = format!(
        "{}2016-07-20 0:00:37 A(1001)\r\na\r\n\r\n2016-7-2 9:52:19 A(1001)\r\nb\r\n\r\n2019-09-23 8:43:38 PM 骰娘-Roll100(87200175)\r\nc\r\n\r\n2019-09-23 12:05:00 AM D(1)\r\nd\r\n\r\n2019-09-23 12:05:00 PM D(1)\r\ne\r\n\r\n2019-09-24 上午 11:30:25 E(2)\r\nf\r\n\r\n2019-09-24 下午 1:42:48 E(2)\r\ng\r\n\r\n2019-09-24 下午 12:00:01 E(2)\r\nh\r\n\r\n2019-09-24 15:00:00 AM(3)\r\ni\r\n\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 9);
    let got: Vec<(MessageTime, &str)> = sink
        .msgs
        .iter()
        .map(|(_, m)| (m.time, m.sender.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (t(2016, 7, 20, 0, 0, 37), "A"),
            (t(2016, 7, 2, 9, 52, 19), "A"),
            (t(2019, 9, 23, 20, 43, 38), "骰娘-Roll100"),
            (t(2019, 9, 23, 0, 5, 0), "D"),
            (t(2019, 9, 23, 12, 5, 0), "D"),
            (t(2019, 9, 24, 11, 30, 25), "E"),
            (t(2019, 9, 24, 13, 42, 48), "E"),
            (t(2019, 9, 24, 12, 0, 1), "E"),
            // An hour of 15 cannot take a designator: "AM" is the nickname.
            (t(2019, 9, 24, 15, 0, 0), "AM"),
        ]
    );
}

#[test]
fn txt_sender_variants() {
    let senders = [
        "(7471018)",
        "大数据-曹亮<angel_x@qq.com>",
        "大数据 - 江瀚<18820000013>",
        "2700005(2700005)",
        "  白无常(5001)",
        "【金融】王一艳(5002)",
        "(A(123123)",
        "(B)(456456)",
        "(o´・ω・`)σ<mail@example.com>",
        "Victor.Woo",
        "～。～",
        "nick()",
    ];
    let mut text = head("我的QQ群", "g");
    for (i, s) in senders.iter().enumerate() {
        text.push_str(&format!("2016-07-19 10:00:{i:02} {s}\r\nx\r\n\r\n"));
    }
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, senders.len() as u64);
    let got: Vec<(&str, Option<&str>)> = sink
        .msgs
        .iter()
        .map(|(_, m)| (m.sender.as_str(), m.sender_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("", Some("7471018")),
            ("大数据-曹亮", Some("angel_x@qq.com")),
            ("大数据 - 江瀚", Some("18820000013")),
            ("2700005", Some("2700005")),
            ("  白无常", Some("5001")),
            ("【金融】王一艳", Some("5002")),
            ("(A", Some("123123")),
            ("(B)", Some("456456")),
            ("(o´・ω・`)σ", Some("mail@example.com")),
            ("Victor.Woo", None),
            ("～。～", None),
            ("nick()", None),
        ]
    );
}

#[test]
fn txt_empty_bodies_and_trailing_blank_lines() {
    let text = format!(
        "{}2016-07-19 10:00:00 A(1)\r\n\r\n\r\n2016-07-19 10:00:01 B(2)\r\nbody\r\n\r\n\r\n2016-07-19 10:00:02 C(3)\r\n\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 3);
    let texts: Vec<&str> = sink.msgs.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(texts, ["", "body", ""]);
}

#[test]
fn txt_multi_line_system_message() {
    let text = format!(
        "{}2016-07-20 17:22:58 系统消息(10000)\r\n[图片] 1245720 分享文件 15:15:36\r\n\"Quality intern JD.docx\" 下载\r\n\r\n2016-07-20 17:23:00 系统消息(1000000)\r\nX邀请Y加入了本群。\r\n\r\n2016-07-20 17:23:01 系统消息\r\nno id: not flagged\r\n\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 3);
    let m = &sink.msgs[0].1;
    assert_eq!(m.sender, "系统消息");
    assert_eq!(m.sender_id.as_deref(), Some("10000"));
    assert!(m.system);
    assert_eq!(
        m.text,
        "[图片] 1245720 分享文件 15:15:36\n\"Quality intern JD.docx\" 下载"
    );
    assert!(sink.msgs[1].1.system);
    assert!(!sink.msgs[2].1.system);
}

#[test]
fn txt_body_lines_that_look_like_framing_or_headers() {
    let text = format!(
        "{}2016-07-19 10:00:00 A(1)\r\n2016-07-19 10:00:01 B(2)\r\n\r\n\
2016-07-19 10:00:02 C(3)\r\n=.=\r\n\r\n\
2016-07-19 10:00:03 D(4)\r\n{SEP}\r\n消息对象:假的\r\n\r\n\
2016-07-19 10:00:04 系统消息(10000)\r\nfirst\r\n\r\n2006-01-02 15:04:05\r\n\r\n\
2016-07-19 10:00:05 E(5)\r\nabove\r\n\r\n{SEP}\r\nnot a block\r\n\r\n\
2016-07-19 10:00:06 F(6)\r\nx\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.messages, 6);
    assert_eq!(stats.conversations, 1);
    assert_eq!(stats.lines_not_understood, 0);
    let got: Vec<(&str, &str)> = sink
        .msgs
        .iter()
        .map(|(_, m)| (m.sender.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            // A header-shaped line not preceded by an empty line is body text.
            ("A", "2016-07-19 10:00:01 B(2)"),
            ("C", "=.="),
            // A separator right after the header, then a 消息对象-like line: body text.
            ("D", &*format!("{SEP}\n消息对象:假的")),
            // A bare timestamp after an empty line inside a body stays body text.
            ("系统消息", "first\n\n2006-01-02 15:04:05"),
            // A separator after an empty line not followed by 消息分组/消息对象: body text.
            ("E", &*format!("above\n\n{SEP}\nnot a block")),
            ("F", "x"),
        ]
    );
}

#[test]
fn txt_repeated_blocks_and_full_width_colons() {
    let text = format!(
        "{}2016-07-19 10:00:00 A(1)\r\na\r\n\r\n{SEP}\r\n消息分组：我的好友\r\n{SEP}\r\n消息对象：Victor.Woo\r\n{SEP}\r\n\r\n2010-01-06 16:57:28 Victor.Woo\r\nhi\r\n\r\n{SEP}\r\n消息分组:我的QQ群\r\n{SEP}\r\n消息对象:g\r\n{SEP}\r\n\r\n2016-07-20 10:00:00 B(2)\r\nb\r\n\r\n",
        head("我的QQ群", "g")
    );
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.conversations, 3);
    assert_eq!(stats.messages, 3);
    let convs: Vec<(&str, &str, ChatKind)> = sink
        .convs
        .iter()
        .map(|c| (c.key.scope.as_str(), c.key.peer.as_str(), c.kind))
        .collect();
    assert_eq!(
        convs,
        vec![
            ("我的QQ群", "g", ChatKind::Group),
            ("我的好友", "Victor.Woo", ChatKind::Friend),
            ("我的QQ群", "g", ChatKind::Group),
        ]
    );
    let owners: Vec<(usize, &str)> = sink.msgs.iter().map(|(c, m)| (*c, m.text.as_str())).collect();
    assert_eq!(owners, vec![(0, "a"), (1, "hi"), (2, "b")]);
    // The block's separator is not part of the previous body.
    assert_eq!(sink.msgs[0].1.text, "a");
}

#[test]
fn txt_chat_kind_rules() {
    let blocks = [
        ("我加入的群聊", "x(1)", ChatKind::Group),
        ("已退出的群", "x(1)", ChatKind::Group),
        ("多人聊天", "番茄", ChatKind::Discussion),
        ("已退出的多人聊天", "番茄", ChatKind::Discussion),
        ("技术.关注", "此消彼长<qq_g@163.com>", ChatKind::Unknown),
        ("同学", "张三", ChatKind::Friend),
    ];
    let mut text = String::new();
    for (i, (group, sender, _)) in blocks.iter().enumerate() {
        text.push_str(&format!(
            "{SEP}\r\n消息分组:{group}\r\n{SEP}\r\n消息对象:o{i}\r\n{SEP}\r\n\r\n2013-06-23 15:52:3{i} {sender}\r\nm\r\n\r\n"
        ));
    }
    // A block with no message at all is still a conversation.
    text.push_str(&format!(
        "{SEP}\r\n消息分组:同学\r\n{SEP}\r\n消息对象:empty\r\n{SEP}\r\n\r\n"
    ));
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.conversations, 7);
    assert_eq!(stats.messages, 6);
    for (i, (_, _, kind)) in blocks.iter().enumerate() {
        assert_eq!(sink.convs[i].kind, *kind, "block {i}");
        assert_eq!(sink.convs[i].key.peer, format!("o{i}"));
    }
    // A user-defined group is a friend group unless a sender shows an id.
    assert_eq!(sink.convs[6].kind, ChatKind::Friend);
    assert_eq!(sink.convs[6].key.peer, "empty");
}

#[test]
fn txt_no_block_header_uses_file_stem_and_reports_stray_text() {
    let text = "some note the user typed\r\n\r\n2016-07-19 10:00:00 A(1)\r\nhello\r\n\r\n";
    let (sink, stats) = run_all(text);
    assert_eq!(stats.messages, 1);
    assert_eq!(stats.lines_not_understood, 1);
    assert_eq!(sink.junk, vec![(1, "some note the user typed".to_owned())]);
    assert_eq!(sink.convs.len(), 1);
    let c = &sink.convs[0];
    assert_eq!(c.key.scope, "");
    assert_eq!(c.key.peer, "stem");
    assert_eq!(c.name, "stem");
    assert_eq!(c.group, None);
    assert_eq!(c.kind, ChatKind::Unknown);
}

#[test]
fn txt_lf_only_copy() {
    // A copy whose CRLFs became LF: `\r\r\n` became `\r\n`, the only CRLFs left.
    let text = format!(
        "{}2016-07-19 10:00:00 A(1)\nline1\rline2\n\n2016-07-19 10:00:01 B(2)\n内推码\r\n\n2016-07-19 10:00:02 C(3)\nc\n\n",
        head("我的QQ群", "g").replace("\r\n", "\n")
    );
    let (sink, stats) = run_all(&text);
    assert!(stats.lf_only);
    assert_eq!(stats.messages, 3);
    let texts: Vec<&str> = sink.msgs.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(texts, ["line1\nline2", "内推码\n", "c"]);
}

#[test]
fn txt_concatenated_exports_with_inner_bom() {
    let one = head("我的QQ群", "g") + "2016-07-19 10:00:00 A(1)\r\na\r\n\r\n";
    let text = format!("{one}\u{feff}{one}");
    let (sink, stats) = run_all(&text);
    assert_eq!(stats.conversations, 2);
    assert_eq!(stats.messages, 2);
    assert_eq!(stats.lines_not_understood, 0);
    assert_eq!(sink.msgs[0].1.text, "a");
    assert_eq!(sink.msgs[1].1.text, "a");
}

#[test]
fn txt_header_parser_edges() {
    assert!(qq_txt::parse_header("2006-01-02 15:04:05").is_none());
    assert!(qq_txt::parse_header("2006-01-02 15:04:05 ").is_none());
    assert!(qq_txt::parse_header("2006-13-02 15:04:05 A").is_none());
    assert!(qq_txt::parse_header("2006-01-02 25:04:05 A").is_none());
    assert!(qq_txt::parse_header("2006-01-02 15:04:05 A\rB").is_none());
    let h = qq_txt::parse_header("2006-01-02 8:04:05 PM").expect("PM is a nickname here");
    assert_eq!((h.time.hour, h.nick, h.id), (8, "PM", None));
    assert_eq!(qq_txt::split_sender("a<b>(c)"), ("a<b>", Some("c")));
    assert_eq!(qq_txt::split_sender("a(b)c)"), ("a(b)c)", None));
}

#[test]
fn txt_invalid_utf8_is_replaced_and_counted() {
    // Valid UTF-8 prefix, then one stray byte: detected as GB18030? No: as not-UTF-8. Check a
    // UTF-8-BOM file with a broken byte instead: BOM forces UTF-8, the byte becomes U+FFFD.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(format!("{}2016-07-19 10:00:00 A(1)\r\n", head("我的QQ群", "g")).as_bytes());
    bytes.extend_from_slice(b"ab\xFFcd\r\n\r\n");
    let (sink, stats, enc, malformed) = run_bytes(&bytes, "s");
    assert_eq!(enc, TextEncoding::Utf8Bom);
    assert_eq!(malformed, 1);
    assert_eq!(stats.messages, 1);
    assert_eq!(sink.msgs[0].1.text, "ab\u{FFFD}cd");
}

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping: shared fixtures absent");
        None
    }
}

#[test]
fn txt_shared_sample_group_2016() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("txt/group-2016-all-messages.anon.txt")).expect("sample");
    let (sink, stats, enc, malformed) = run_bytes(&bytes, "group-2016-all-messages.anon");
    assert_eq!(enc, TextEncoding::Utf8Bom);
    assert_eq!(malformed, 0);
    assert!(!stats.lf_only);
    assert_eq!(stats.conversations, 1);
    assert_eq!(sink.convs[0].group.as_deref(), Some("我的QQ群"));
    assert_eq!(sink.convs[0].kind, ChatKind::Group);
    assert_eq!(stats.messages, 3089);
    assert_eq!(sink.msgs.len(), 3089);
    assert_eq!(stats.lines_not_understood, 0);
    assert!(sink.findings.is_empty());
    let msgs: Vec<&Message> = sink.msgs.iter().map(|(_, m)| m).collect();
    assert_eq!(msgs[0].time.to_string(), "2016-07-19T15:27:15");
    assert_eq!(msgs[3088].time.to_string(), "2016-11-10T22:21:53");
    assert!(msgs.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(msgs.iter().filter(|m| m.text.is_empty()).count(), 11);
    assert_eq!(msgs.iter().filter(|m| m.text.contains('\n')).count(), 93);
    assert!(msgs.iter().all(|m| m.sender_id.is_some()));
    assert!(msgs.iter().all(|m| !m.text.contains('\r')));
}

#[test]
fn txt_shared_sample_converted_to_lf_only() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("txt/group-2016-all-messages.anon.txt")).expect("sample");
    let (crlf, _, _, _) = run_bytes(&bytes, "s");
    // What git's autocrlf does: every CRLF becomes LF (`\r\r\n` becomes `\r\n`).
    let text = String::from_utf8(bytes).expect("UTF-8 sample");
    let lf = text.replace("\r\n", "\n");
    let (sink, stats, _, _) = run_bytes(lf.as_bytes(), "s");
    assert!(stats.lf_only);
    assert_eq!(stats.messages, 3089);
    assert_eq!(stats.conversations, 1);
    assert_eq!(stats.lines_not_understood, 0);
    // Same times and senders. The texts differ only where a body ended with a lone LF: in the
    // copy that LF is indistinguishable from the empty line that ends the record, so the final
    // `\n` is lost (3 messages; a body ending in a lone CR keeps it, the CR survives).
    let mut differing = 0;
    for ((_, a), (_, b)) in crlf.msgs.iter().zip(&sink.msgs) {
        assert_eq!(
            (a.time, &a.sender, &a.sender_id),
            (b.time, &b.sender, &b.sender_id)
        );
        if a.text != b.text {
            differing += 1;
            assert_eq!(a.text, format!("{}\n", b.text));
        }
    }
    assert_eq!(differing, 3);
    let with_newline = sink.msgs.iter().filter(|(_, m)| m.text.contains('\n')).count();
    assert_eq!(with_newline, 92);
    let empty = sink.msgs.iter().filter(|(_, m)| m.text.is_empty()).count();
    assert_eq!(empty, 11);
}

#[test]
fn txt_dispatch_through_parse_text_export() {
    use qqvault_formats::formats::qce::WallClock;
    use qqvault_formats::formats::{parse_text_export, ParseSummary};
    use qqvault_formats::sniff::{sniff, ExportKind};

    let text = format!(
        "{}2016-07-19 10:00:00 甲(1)\r\n乙\r\n\r\n",
        head("我的QQ群", "群")
    );
    let bytes = encode(&text, TextEncoding::Gb18030);
    let kind = sniff("全部消息记录.txt", &bytes).expect("recognised");
    assert_eq!(kind, ExportKind::QqTxt);
    let mut sink = Collect::default();
    let done = parse_text_export(kind, &bytes[..], "全部消息记录", &WallClock::default(), &mut sink)
        .expect("in-memory")
        .expect("a text kind");
    assert_eq!(done.encoding, TextEncoding::Gb18030);
    assert_eq!(done.malformed, 0);
    match done.summary {
        ParseSummary::QqTxt(stats) => assert_eq!(stats.messages, 1),
        other => panic!("unexpected summary {other:?}"),
    }
    assert_eq!(sink.msgs[0].1.text, "乙");

    let qce = "A:\n时间: 2023-07-29 12:27:41\n内容: x\n";
    let kind = sniff("q.txt", qce.as_bytes()).expect("recognised");
    let mut sink = Collect::default();
    let done = parse_text_export(kind, qce.as_bytes(), "q", &WallClock::default(), &mut sink)
        .expect("in-memory")
        .expect("a text kind");
    assert!(matches!(done.summary, ParseSummary::Qce(ref s) if s.messages == 1));

    let mut sink = Collect::default();
    let none = parse_text_export(ExportKind::QqMht, &b""[..], "m", &WallClock::default(), &mut sink)
        .expect("in-memory");
    assert!(none.is_none());
}
