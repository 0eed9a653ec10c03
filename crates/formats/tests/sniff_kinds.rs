//! Recognising exports by content (in several encodings), the name-only kinds, and files that
//! must never be claimed.

use proptest::prelude::*;
use qqvault_formats::sniff::{sniff, ExportKind};
use std::path::PathBuf;

fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

const SEP: &str = "================================================================";

fn all_encodings(text: &str) -> Vec<Vec<u8>> {
    vec![
        text.as_bytes().to_vec(),
        [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        utf16le_bom(text),
        utf16be(text),
        gbk(text),
    ]
}

#[test]
fn sniff_message_manager_txt() {
    let variants = [
        format!("消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{SEP}\r\n消息分组:我的QQ群\r\n"),
        format!("{SEP}\r\n消息分组:我的好友\r\n{SEP}\r\n消息对象:x\r\n"),
        format!("\r\n{SEP}\r\n消息对象：x\r\n{SEP}\r\n"),
        "2016-07-19 15:27:15 移游(2700005)\r\n内推\r\n\r\n2016-07-19 15:27:19 大数据<q@qq.com>\r\nrap\r\n\r\n".to_owned(),
    ];
    for text in &variants {
        for bytes in all_encodings(text) {
            assert_eq!(
                sniff("全部消息记录.txt", &bytes),
                Some(ExportKind::QqTxt),
                "{text:?}"
            );
        }
    }
}

#[test]
fn sniff_message_manager_mht() {
    let full = "From: <Save by Tencent MsgMgr>\r\nSubject: Tencent IM Message\r\nMIME-Version: 1.0\r\nContent-Type:multipart/related;\r\n\tcharset=\"utf-8\"\r\n\ttype=\"text/html\";\r\n\tboundary=\"----=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD\"\r\n\r\n";
    let no_from = "MIME-Version: 1.0\nContent-Type:multipart/related;\n\tboundary=\"----=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD\"\n\n";
    for text in [full, no_from] {
        for bytes in all_encodings(text) {
            assert_eq!(sniff("a.mht", &bytes), Some(ExportKind::QqMht), "{text:?}");
        }
    }
    // A web page saved by a browser as MHTML is not a QQ export.
    let browser = "From: <Saved by Blink>\r\nSubject: Example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"text/html\";\r\n\tboundary=\"----=_NextPart_000_0000_01D5A2B3.C4D5E6F0\"\r\n\r\n";
    assert_eq!(sniff("page.mht", browser.as_bytes()), None);
}

#[test]
fn sniff_qce_txt() {
    let banner =
        "[QQChatExporter V5 / https://github.com/shuakami/qq-chat-exporter]\n[本软件是免费的开源项目~]\n";
    let header = "\n聊天名称: 群\n聊天类型: 群聊\n导出时间: 2025-01-01 00:00:00\n";
    let bare = "Hlm^Egw:\n时间: 2023-06-25 14:25:26\n内容: 你好\n\n\n";
    for text in [banner, header, bare] {
        for bytes in all_encodings(text) {
            assert_eq!(sniff("x.txt", &bytes), Some(ExportKind::QceTxt), "{text:?}");
        }
    }
}

#[test]
fn sniff_qce_json_manifest_and_chunk() {
    let json = r#"{
  "metadata": {"name": "QQChatExporter", "version": "6.0"},
  "chatInfo": {"name": "n", "type": "group"},
  "statistics": {},
  "messages": []
}"#;
    assert_eq!(sniff("export.json", json.as_bytes()), Some(ExportKind::QceJson));
    let compact = r#"{"metadata":{"name":"QQChatExporter V5 / x"},"chatInfo":{"name":"n","type":"private"},"messages":[{"timestamp":1,"sender":{}}]}"#;
    assert_eq!(sniff("e.json", compact.as_bytes()), Some(ExportKind::QceJson));
    let manifest = r#"{
  "metadata": {"name": "QQChatExporter"},
  "chatInfo": {"name": "n", "type": "group"},
  "chunked": {"format": "jsonl", "chunks": []}
}"#;
    assert_eq!(
        sniff("manifest.json", manifest.as_bytes()),
        Some(ExportKind::QceJsonlManifest)
    );
    let chunk = "{\"id\":\"1\",\"timestamp\":1770571107000,\"sender\":{\"uid\":\"u\"},\"content\":{\"text\":\"x\"}}\n{\"id\":\"2\"}\n";
    assert_eq!(
        sniff("c000001.jsonl", chunk.as_bytes()),
        Some(ExportKind::QceJsonlChunk)
    );
    // Other JSON is not claimed.
    assert_eq!(sniff("package.json", br#"{"name": "x", "messages": []}"#), None);
    assert_eq!(sniff("a.jsonl", b"{\"level\":\"info\",\"msg\":\"x\"}\n"), None);
}

#[test]
fn sniff_name_only_kinds() {
    let encrypted: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_eq!(sniff("全部消息记录.bak", &encrypted), Some(ExportKind::MsgMgrBak));
    assert_eq!(sniff("dir/Msg3.0.db", &encrypted), Some(ExportKind::LegacyMsgDb));
    assert_eq!(
        sniff("C:\\Tencent Files\\1\\nt_qq\\nt_db\\nt_msg.db", &encrypted),
        Some(ExportKind::NtMsgDb)
    );
    // Plain SQLite is some other database (or a decrypted copy): not claimed.
    let mut sqlite = b"SQLite format 3\0".to_vec();
    sqlite.extend_from_slice(&encrypted);
    assert_eq!(sniff("Msg3.0.db", &sqlite), None);
    assert_eq!(sniff("nt_msg.db", &sqlite), None);
    // A text file or an image named .bak is not a Message Manager backup.
    assert_eq!(sniff("settings.bak", b"[core]\nkey = value\n"), None);
    assert_eq!(sniff("photo.bak", b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00"), None);
    // The same random bytes under another name: nothing.
    assert_eq!(sniff("data.bin", &encrypted), None);
    assert_eq!(sniff("Msg3.0.db", b""), None);
    for kind in ExportKind::ALL {
        assert!(!kind.label().is_empty());
    }
    assert_eq!(ExportKind::QqTxt.label(), "qq-txt");
}

#[test]
fn sniff_never_claims_arbitrary_files() {
    let texts = [
        "Hello world\nthis is a readme\n",
        "2016-07-19 15:27:15 INFO server started\n2016-07-19 15:27:16 INFO listening\n",
        "# Notes\n\n消息对象 is a word in this note\n",
        "name:\nvalue\n",
        "",
        "{}",
        "[section]\nkey=value\n",
    ];
    for text in texts {
        for bytes in all_encodings(text) {
            assert_eq!(sniff("notes.txt", &bytes), None, "{text:?}");
        }
    }
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00";
    assert_eq!(sniff("image.png", png), None);
    assert_eq!(sniff("image.txt", png), None);
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04";
    assert_eq!(sniff("x.mht", gif), None);
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
fn sniff_shared_samples() {
    let Some(dir) = fixtures() else { return };
    let cases = [
        ("txt/group-2016-all-messages.anon.txt", ExportKind::QqTxt),
        ("qce/private-2023-qce.anon.txt", ExportKind::QceTxt),
        ("mht/private-2023-12h-times.mht", ExportKind::QqMht),
        ("mht/trimmed-lf.mht", ExportKind::QqMht),
        ("mht/truncated-image.mht", ExportKind::QqMht),
    ];
    for (path, kind) in cases {
        let bytes = std::fs::read(dir.join(path)).expect("sample");
        let prefix = &bytes[..bytes.len().min(64 * 1024)];
        assert_eq!(sniff(path, prefix), Some(kind), "{path}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn sniff_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        name in "[a-zA-Z0-9_.]{0,12}",
    ) {
        let _ = sniff(&name, &bytes);
        let _ = sniff("x.bak", &bytes);
        let _ = sniff("manifest.json", &bytes);
        let _ = sniff("c.jsonl", &bytes);
    }

    #[test]
    fn sniff_arbitrary_text_is_not_claimed(text in "[a-z0-9 .,:\n]{0,400}") {
        prop_assert_eq!(sniff("notes.txt", text.as_bytes()), None);
    }
}
