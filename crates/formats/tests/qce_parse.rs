//! qq-chat-exporter parsers: TXT (with and without banner/header/footer), single-file JSON,
//! chunked JSONL, and the time-zone option; plus the shared real TXT sample.

use qqvault_core::{Attachment, ChatKind, ConversationMeta, ExportFamily, Message, MessageTime};
use qqvault_formats::decode;
use qqvault_formats::formats::qce::{self, WallClock};
use qqvault_formats::{ChatSink, ParseFinding};
use std::io::BufReader;
use std::path::PathBuf;

#[derive(Default, Debug)]
struct Collect {
    convs: Vec<ConversationMeta>,
    msgs: Vec<Message>,
    junk: Vec<(u64, String)>,
    findings: Vec<ParseFinding>,
}

impl ChatSink for Collect {
    fn conversation(&mut self, meta: ConversationMeta) {
        self.convs.push(meta);
    }
    fn message(&mut self, message: Message) {
        self.msgs.push(message);
    }
    fn not_understood(&mut self, line_no: u64, line: &str) {
        self.junk.push((line_no, line.to_owned()));
    }
    fn finding(&mut self, finding: ParseFinding) {
        self.findings.push(finding);
    }
}

fn t(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> MessageTime {
    MessageTime::new(y, mo, d, h, mi, s).expect("valid test time")
}

fn att(name: &str) -> Attachment {
    Attachment {
        name: name.to_owned(),
        sha256: None,
        entry: None,
    }
}

fn txt(bytes: &[u8], stem: &str) -> (Collect, qce::QceStats) {
    let reader = BufReader::new(decode::open(bytes).expect("in-memory"));
    let mut sink = Collect::default();
    let stats = qce::parse_txt(reader, stem, &WallClock::default(), &mut sink).expect("in-memory");
    (sink, stats)
}

const FULL_TXT: &str = "[QQChatExporter V5 / https://github.com/shuakami/qq-chat-exporter]
[本软件是免费的开源项目~ 如果您是买来的，请立即退款！如果有帮助到您，欢迎给我点个Star~]

===============================================
           QQ聊天记录导出文件
===============================================

聊天名称: 技术群
聊天类型: 群聊
参与人数: 4
导出时间: 2025-03-01 10:00:00
消息总数: 5
时间范围: 2023-07-29 12:27:41 - 2023-07-29 12:30:00


[管理员] Alice:
时间: 2023-07-29 12:27:41
内容: first line
second line ending with a colon:

fourth line after an empty one


Bob:
时间: 2023-07-29 12:27:42
内容: [图片: f527.vla]
资源: 2 个文件
  - image: e991721c50f31ac42f5533572d2ff000.png
  - video: 0c1d.mp4
提及: Alice, Carol
回复: 07-29 12:27 Alice - first line
quoted second line


0:
时间: 2023-07-29 12:28:23
内容: [17]


系统:
时间: 2023-07-29 12:29:00
内容: [系统消息]


Carol:
时间: 2023-07-29 12:30:00
类型: text
内容: 时间: 2023-07-29 12:30:00

===============================================
              导出完成
===============================================
总计导出 5 条消息
导出时间: 2025-03-01 10:00:00";

fn expected_full() -> Vec<Message> {
    let m = |time, sender: &str, text: &str, attachments: Vec<Attachment>| Message {
        time,
        sender: sender.to_owned(),
        sender_id: None,
        text: text.to_owned(),
        system: false,
        attachments,
    };
    let mut sys = m(t(2023, 7, 29, 12, 29, 0), "系统", "[系统消息]", vec![]);
    sys.system = true;
    vec![
        m(
            t(2023, 7, 29, 12, 27, 41),
            "[管理员] Alice",
            "first line\nsecond line ending with a colon:\n\nfourth line after an empty one",
            vec![],
        ),
        m(
            t(2023, 7, 29, 12, 27, 42),
            "Bob",
            "[图片: f527.vla]",
            vec![att("e991721c50f31ac42f5533572d2ff000.png"), att("0c1d.mp4")],
        ),
        m(t(2023, 7, 29, 12, 28, 23), "0", "[17]", vec![]),
        sys,
        m(
            t(2023, 7, 29, 12, 30, 0),
            "Carol",
            "时间: 2023-07-29 12:30:00",
            vec![],
        ),
    ]
}

#[test]
fn qce_txt_with_banner_header_and_footer() {
    for bytes in [
        FULL_TXT.as_bytes().to_vec(),
        [b"\xEF\xBB\xBF".as_slice(), FULL_TXT.as_bytes()].concat(),
        FULL_TXT.replace('\n', "\r\n").into_bytes(),
    ] {
        let (sink, stats) = txt(&bytes, "stem");
        assert_eq!(stats.messages, 5);
        assert_eq!(stats.conversations, 1);
        assert_eq!(stats.not_understood, 0, "{:?}", sink.junk);
        let c = &sink.convs[0];
        assert_eq!(c.key.family, ExportFamily::Qce);
        assert_eq!(c.key.scope, "group");
        assert_eq!(c.key.peer, "技术群");
        assert_eq!(c.name, "技术群");
        assert_eq!(c.group, None);
        assert_eq!(c.kind, ChatKind::Group);
        assert_eq!(sink.msgs, expected_full());
    }
}

#[test]
fn qce_txt_without_header_and_footer() {
    let start = FULL_TXT.find("[管理员] Alice:").expect("fixture");
    let end = FULL_TXT
        .find("\n===============================================\n              导出完成")
        .expect("fixture");
    let body = &FULL_TXT[start..end];
    let (sink, stats) = txt(body.as_bytes(), "QQ聊天记录");
    assert_eq!(stats.messages, 5);
    assert_eq!(stats.not_understood, 0);
    let c = &sink.convs[0];
    assert_eq!(
        (c.key.scope.as_str(), c.key.peer.as_str()),
        ("unknown", "QQ聊天记录")
    );
    assert_eq!(c.kind, ChatKind::Unknown);
    assert_eq!(sink.msgs, expected_full());
}

#[test]
fn qce_txt_private_and_stray_lines() {
    let text = "聊天名称: 好友\n聊天类型: 私聊\nthis line means nothing\n\n\nA:\n时间: 2024-1-2 3:04:05\n内容: hi\n\n\nnot a sender:\nstill content? no: after blank lines it is content\n";
    let (sink, stats) = txt(text.as_bytes(), "s");
    assert_eq!(sink.convs[0].key.scope, "private");
    assert_eq!(sink.convs[0].kind, ChatKind::Friend);
    assert_eq!(stats.not_understood, 1);
    assert_eq!(sink.junk, vec![(3, "this line means nothing".to_owned())]);
    assert_eq!(stats.messages, 1);
    assert_eq!(sink.msgs[0].time, t(2024, 1, 2, 3, 4, 5));
    assert_eq!(
        sink.msgs[0].text,
        "hi\n\n\nnot a sender:\nstill content? no: after blank lines it is content"
    );
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
fn qce_shared_sample_private_2023() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("qce/private-2023-qce.anon.txt")).expect("sample");
    let (sink, stats) = txt(&bytes, "private-2023-qce.anon");
    assert_eq!(stats.messages, 778);
    assert_eq!(sink.msgs.len(), 778);
    assert_eq!(stats.not_understood, 0);
    assert_eq!(stats.conversations, 1);
    assert_eq!(sink.convs[0].key.peer, "private-2023-qce.anon");
    let first = &sink.msgs[0];
    assert_eq!(first.sender, "Hlm^Egw");
    assert_eq!(first.time, t(2023, 6, 25, 14, 25, 26));
    assert_eq!(first.text, "睳慏肉吮坅銗娌[表情32]");
    let last = &sink.msgs[777];
    assert_eq!(last.time, t(2025, 2, 25, 0, 22, 41));
    assert_eq!(last.text, "嵧愊");
    let attachments: usize = sink.msgs.iter().map(|m| m.attachments.len()).sum();
    assert_eq!(attachments, 169);
    assert!(sink.msgs.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(sink.msgs.iter().any(|m| m.sender == "2" && m.text == "[17]"));
}

const JSON: &str = r#"{
  "metadata": {"name": "QQChatExporter", "copyright": "https://github.com/shuakami/qq-chat-exporter", "version": "6.0.0"},
  "chatInfo": {"name": "✨群✨", "type": "group", "selfUid": "u_self", "selfUin": "123", "peerUid": "u_peer", "peerUin": "987654", "participantCount": 4},
  "statistics": {"totalMessages": 4, "senders": [{"uid": "u_a", "name": "A", "messageCount": 2}]},
  "messages": [
    {"id": "1", "seq": "1", "timestamp": 1770571107000, "time": "2026-02-09 01:18:27",
     "sender": {"uid": "u_a", "uin": "10001", "name": "Alice", "nickname": "alice"},
     "type": "text",
     "content": {"text": "hello\nworld", "html": "<b>ignored</b>", "elements": [{"type": "text", "data": {"text": "hello"}}],
                 "resources": [{"type": "image", "filename": "A.JPG", "size": 1}, {"type": "file", "localPath": "C:\\x\\report.pdf"}],
                 "mentions": []},
     "recalled": false, "system": false, "rawMessage": {"huge": [1, 2, 3]}},
    {"id": "2", "timestamp": "bad", "time": "2026-02-09 01:20:00",
     "sender": {"uid": "u_b", "name": "", "nickname": "bob"}, "type": "system",
     "content": {"text": "X撤回了一条消息"}, "recalled": true},
    42,
    {"id": "3", "sender": {"uid": "u_c", "uin": "0", "name": "C"}, "content": {"text": "no time"}, "system": true}
  ],
  "avatars": {"10001": "aGVsbG8="},
  "exportOptions": {"options": {"encoding": "utf-8"}}
}"#;

fn json(text: &str, tz: &WallClock) -> (Collect, qce::QceStats) {
    let reader = BufReader::new(decode::open(text.as_bytes()).expect("in-memory"));
    let mut sink = Collect::default();
    let stats = qce::parse_json(reader, "stem", tz, &mut sink).expect("valid JSON");
    (sink, stats)
}

#[test]
fn qce_json_single_file() {
    let (sink, stats) = json(JSON, &WallClock::default());
    assert_eq!(stats.messages, 3);
    assert_eq!(stats.not_understood, 1);
    assert_eq!(stats.messages_without_time, 1);
    assert_eq!(sink.findings.len(), 2);
    assert_eq!(sink.convs.len(), 1);
    let c = &sink.convs[0];
    assert_eq!(c.key.family, ExportFamily::Qce);
    assert_eq!((c.key.scope.as_str(), c.key.peer.as_str()), ("group", "987654"));
    assert_eq!(c.name, "✨群✨");
    assert_eq!(c.kind, ChatKind::Group);

    // 1770571107000 ms = 2026-02-08T17:18:27Z = 2026-02-09 01:18:27 at +08:00.
    assert_eq!(
        sink.msgs[0],
        Message {
            time: t(2026, 2, 9, 1, 18, 27),
            sender: "Alice".to_owned(),
            sender_id: Some("10001".to_owned()),
            text: "hello\nworld".to_owned(),
            system: false,
            attachments: vec![att("A.JPG"), att("report.pdf")],
        }
    );
    // A bad timestamp falls back to the `time` string; empty name → nickname; no uin → uid.
    let m = &sink.msgs[1];
    assert_eq!(m.time, t(2026, 2, 9, 1, 20, 0));
    assert_eq!(m.sender, "bob");
    assert_eq!(m.sender_id.as_deref(), Some("u_b"));
    assert_eq!(m.text, "X撤回了一条消息");
    assert!(m.system);
    // No time at all: kept with the zero time, reported; uin "0" is no number.
    let m = &sink.msgs[2];
    assert_eq!(m.time, MessageTime::default());
    assert_eq!(m.sender_id.as_deref(), Some("u_c"));
    assert!(m.system);
}

#[test]
fn qce_json_time_zones() {
    let utc = WallClock::parse("UTC").expect("utc");
    let (sink, _) = json(JSON, &utc);
    assert_eq!(sink.msgs[0].time, t(2026, 2, 8, 17, 18, 27));
    let ny = WallClock::parse("America/New_York").expect("zone");
    let (sink, _) = json(JSON, &ny);
    assert_eq!(sink.msgs[0].time, t(2026, 2, 8, 12, 18, 27));
    let sh = WallClock::parse("Asia/Shanghai").expect("zone");
    let (sink, _) = json(JSON, &sh);
    assert_eq!(sink.msgs[0].time, t(2026, 2, 9, 1, 18, 27));
}

#[test]
fn qce_json_chat_info_after_messages_and_errors() {
    let late = r#"{"messages": [{"timestamp": 1690604861000, "sender": {"name": "A"}, "content": {"text": "x"}}], "chatInfo": {"name": "n", "type": "private"}}"#;
    let (sink, stats) = json(late, &WallClock::default());
    assert_eq!(stats.messages, 1);
    assert_eq!(sink.convs[0].key.peer, "stem");
    assert_eq!(sink.convs[0].key.scope, "unknown");
    assert_eq!(sink.msgs[0].time, t(2023, 7, 29, 12, 27, 41));

    // Not JSON / not an object / cut short: errors, never panics.
    for bad in ["", "[1,2]", "{\"messages\": [", "nope"] {
        let reader = BufReader::new(bad.as_bytes());
        let mut sink = Collect::default();
        let err = qce::parse_json(reader, "s", &WallClock::default(), &mut sink);
        assert!(err.is_err(), "{bad:?}");
    }
}

#[test]
fn qce_chunked_manifest_and_chunks() {
    let manifest = r#"{
      "metadata": {"name": "QQChatExporter"},
      "chatInfo": {"name": "私聊对象", "type": "private", "peerUid": "u_p"},
      "statistics": {"totalMessages": 3},
      "chunked": {"format": "jsonl", "chunksDir": "chunks", "chunkFileExt": ".jsonl",
        "maxMessagesPerChunk": 2, "maxBytesPerChunk": 0,
        "chunks": [
          {"index": 2, "fileName": "c000002.jsonl", "relativePath": "chunks/c000002.jsonl", "start": "", "end": "", "count": 1, "bytes": 1},
          {"index": 1, "fileName": "c000001.jsonl", "start": "", "end": "", "count": 2, "bytes": 1},
          {"index": 3, "relativePath": "../../etc/passwd"},
          {"index": 4, "relativePath": "/abs/c.jsonl"}
        ]}
    }"#;
    let m = qce::parse_manifest(manifest.as_bytes()).expect("manifest");
    assert_eq!(
        m.chunk_paths,
        vec!["chunks/c000001.jsonl", "chunks/c000002.jsonl"]
    );
    assert_eq!(m.rejected_paths, vec!["../../etc/passwd", "/abs/c.jsonl"]);
    assert_eq!(m.meta.key.scope, "private");
    assert_eq!(m.meta.key.peer, "私聊对象");
    assert_eq!(m.meta.kind, ChatKind::Friend);
    assert!(qce::parse_manifest(b"{\"chatInfo\": {}}").is_err());
    assert!(qce::parse_manifest(b"\xFF\xFE").is_err());

    let chunk = "{\"timestamp\":1690604861000,\"sender\":{\"uin\":\"1\",\"name\":\"A\"},\"content\":{\"text\":\"a\"}}\r\n\
\n\
not json\n\
{\"timestamp\":1690604862000,\"sender\":{\"uid\":\"u_b\",\"name\":\"B\"},\"content\":{\"text\":\"b\",\"resources\":[{\"filename\":\"v.mp4\"}]}}";
    let mut sink = Collect::default();
    let stats = qce::parse_jsonl_chunk(
        BufReader::new(chunk.as_bytes()),
        &m.meta,
        &WallClock::default(),
        &mut sink,
    )
    .expect("in-memory");
    assert_eq!(stats.messages, 2);
    assert_eq!(stats.not_understood, 1);
    assert_eq!(sink.junk, vec![(3, "not json".to_owned())]);
    assert_eq!(sink.convs, vec![m.meta.clone()]);
    assert_eq!(sink.msgs[0].time, t(2023, 7, 29, 12, 27, 41));
    assert_eq!(sink.msgs[0].sender_id.as_deref(), Some("1"));
    assert_eq!(sink.msgs[1].sender_id.as_deref(), Some("u_b"));
    assert_eq!(sink.msgs[1].attachments, vec![att("v.mp4")]);
}

#[test]
fn qce_wall_clock_parsing() {
    assert_eq!(WallClock::default(), WallClock::Offset(8 * 3600));
    assert_eq!(WallClock::parse("+08:00"), Ok(WallClock::Offset(28800)));
    assert_eq!(WallClock::parse("+0800"), Ok(WallClock::Offset(28800)));
    assert_eq!(WallClock::parse("+8"), Ok(WallClock::Offset(28800)));
    assert_eq!(WallClock::parse("-05:30"), Ok(WallClock::Offset(-19800)));
    assert_eq!(WallClock::parse("UTC+9"), Ok(WallClock::Offset(32400)));
    assert_eq!(WallClock::parse("Z"), Ok(WallClock::Offset(0)));
    assert!(matches!(
        WallClock::parse("Asia/Shanghai"),
        Ok(WallClock::Zone(_))
    ));
    assert!(WallClock::parse("Mars/Olympus").is_err());
    assert!(WallClock::parse("+25:00").is_err());
    assert!(WallClock::parse("").is_err());
    // Seconds are taken as seconds.
    let tz = WallClock::default();
    assert_eq!(
        tz.to_message_time(1_690_604_861),
        Some(t(2023, 7, 29, 12, 27, 41))
    );
    assert_eq!(tz.to_message_time(0), None);
    assert_eq!(tz.to_message_time(i64::MAX), None);
    assert_eq!(qce::normalise_chat_type("群聊"), "group");
    assert_eq!(qce::normalise_chat_type("临时会话"), "temp");
    assert_eq!(qce::normalise_chat_type("未知类型"), "unknown");
}

/// Rough throughput of the streaming JSON parser. Ignored by default; run in release mode:
/// `cargo test -p qqvault-formats --release --test qce_parse -- --ignored --nocapture`
#[test]
#[ignore = "throughput measurement; run in release mode"]
fn qce_json_throughput() {
    let mut doc = String::from(
        r#"{"metadata":{"name":"QQChatExporter"},"chatInfo":{"name":"g","type":"group","peerUin":"1"},"messages":["#,
    );
    let n = 150_000;
    for i in 0..n {
        if i > 0 {
            doc.push_str(",\n");
        }
        doc.push_str(&format!(
            r#"{{"id":"{i}","seq":"{i}","timestamp":{},"time":"2026-02-09 01:18:27","sender":{{"uid":"u_abcdefghijklmnop","uin":"10001","name":"群友{i}","nickname":"nick","groupCard":"card"}},"type":"text","content":{{"text":"这是一条用于测速的消息，内容长度大约一百字节左右。{i}","html":"<span>这是一条用于测速的消息</span>","elements":[{{"type":"text","data":{{"text":"这是一条用于测速的消息"}}}}],"resources":[],"mentions":[]}},"recalled":false,"system":false}}"#,
            1_770_571_107_000i64 + i
        ));
    }
    doc.push_str("]}");
    let mb = doc.len() as f64 / (1024.0 * 1024.0);
    let start = std::time::Instant::now();
    let reader = BufReader::with_capacity(64 * 1024, doc.as_bytes());
    let mut sink = Collect::default();
    let stats = qce::parse_json(reader, "s", &WallClock::default(), &mut sink).expect("valid");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(stats.messages, n as u64);
    println!("QCE JSON: {mb:.1} MB, {n} messages, {:.0} MB/s", mb / secs);
}
