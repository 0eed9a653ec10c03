//! One small synthetic MHT per quirk of the Message Manager export, with exact expectations.

#[path = "mht_support/mod.rs"]
mod support;

use qqvault_core::{Attachment, ChatKind, ConversationKey, ExportFamily, Message, MessageTime};
use qqvault_formats::formats::mht::{SenderName, MAX_PIECE};
use qqvault_formats::ParseFinding;
use support::*;

const GUID: &str = "{4953A6B7-3F9B-4c86-93A6-174B7251D91C}.dat";

fn t(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> MessageTime {
    MessageTime::new(y, mo, d, h, mi, s).expect("valid test time")
}

fn msg(time: MessageTime, sender: &str, id: Option<&str>, text: &str) -> Message {
    Message {
        time,
        sender: sender.to_string(),
        sender_id: id.map(str::to_string),
        text: text.to_string(),
        system: false,
        attachments: Vec::new(),
    }
}

fn image(name: &str) -> Attachment {
    Attachment {
        name: name.to_string(),
        sha256: None,
        entry: None,
    }
}

/// A private chat as QQ writes it: first HTML line holds head, title rows, the first date row
/// and the first message; later rows one per line; one GIF part.
fn private_chat(eol: &str, bom: bool) -> Vec<u8> {
    let mut file = String::new();
    if bom {
        file.push('\u{FEFF}');
    }
    file += &envelope(eol);
    file += &html_part_header(eol);
    file += HEAD;
    file += &title_rows("好友", "对方");
    file += &date_row("2020-03-22");
    file += &message_row("42B475", "我", "8:42:32", &font("没"));
    file += eol;
    file += &message_row("006EFE", "对方", "8:43:54", &format!("<IMG src=\"{GUID}\">"));
    file += eol;
    file += &date_row("2020-08-26");
    file += &message_row("006EFE", "对方", "12:41:22", "");
    file += eol;
    file += TAIL;
    file += eol;
    file += &image_part(eol, "image/gif", GUID, GIF_BASE64, 100);
    file += &closing(eol);
    file.into_bytes()
}

fn expected_private_chat() -> Vec<Message> {
    let mut with_image = msg(t(2020, 3, 22, 8, 43, 54), "对方", None, "[图片]");
    with_image.attachments.push(image(GUID));
    vec![
        msg(t(2020, 3, 22, 8, 42, 32), "我", None, "没"),
        with_image,
        msg(t(2020, 8, 26, 12, 41, 22), "对方", None, ""),
    ]
}

#[test]
fn crlf_with_bom() {
    let (rec, stats) = parse(&private_chat("\r\n", true), "stem");
    assert_eq!(rec.conversations.len(), 1);
    let (meta, messages) = &rec.conversations[0];
    assert_eq!(
        meta.key,
        ConversationKey {
            family: ExportFamily::MessageManager,
            scope: "好友".into(),
            peer: "对方".into()
        }
    );
    assert_eq!(meta.name, "对方");
    assert_eq!(meta.group.as_deref(), Some("好友"));
    assert_eq!(meta.kind, ChatKind::Friend);
    assert_eq!(messages, &expected_private_chat());
    assert_eq!(
        rec.embedded,
        vec![(GUID.to_string(), "image/gif".to_string(), GIF.to_vec())]
    );
    assert!(rec.findings.is_empty(), "{:?}", rec.findings);
    assert!(rec.not_understood.is_empty(), "{:?}", rec.not_understood);
    assert_eq!(stats.messages, 3);
    assert_eq!(stats.parts, 1);
    assert_eq!(stats.image_references, 1);
    assert_eq!(
        stats.missing_parts + stats.unreferenced_parts + stats.broken_parts,
        0
    );
    assert_eq!(stats.html_charset, "UTF-8");
    assert_eq!(stats.conversations.len(), 1);
    assert_eq!(stats.conversations[0].messages, 3);
    assert_eq!(stats.conversations[0].blocks, 1);
    assert_eq!(
        stats.conversations[0].self_senders,
        vec![SenderName {
            name: "我".into(),
            id: None
        }]
    );
    assert_eq!(stats.bytes, private_chat("\r\n", true).len() as u64);
}

#[test]
fn lf_without_bom_reads_the_same() {
    let (crlf, _) = parse(&private_chat("\r\n", true), "stem");
    let (lf, stats) = parse(&private_chat("\n", false), "stem");
    assert_eq!(lf.conversations, crlf.conversations);
    assert_eq!(lf.embedded, crlf.embedded);
    assert!(lf.findings.is_empty() && lf.not_understood.is_empty());
    assert_eq!(stats.messages, 3);
}

/// The hand-trimmed variant, byte for byte: no HTML part header, the HTML follows the envelope
/// and starts in the middle of the head; LF; unpadded 24 h hours.
const TRIMMED: &str = "\u{FEFF}From: <Save by Tencent MsgMgr>\n\
Subject: Tencent IM Message\n\
MIME-Version: 1.0\n\
Content-Type:multipart/related;\n\
\tcharset=\"utf-8\"\n\
\ttype=\"text/html\";\n\
\tboundary=\"----=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD\"\n\
\n\
</head><body><table width=100% cellspacing=0><tr><td><div style=padding-left:10px;><br><b>消息记录</b></div></td></tr><tr><td><div style=padding-left:10px;>消息分组:好友</div></td></tr><tr><td><div style=padding-left:10px;>消息对象:对方</div></td></tr><tr><td><div style=padding-left:10px;>&nbsp;</div></td></tr><tr><td style=border-bottom-width:1px;color:#3568BB;>日期: 2020-03-22</td></tr><tr><td><div style=color:#006EFE;padding-left:10px;><div style=float:left;margin-right:6px;>对方</div>9:05:07</div><div style=padding-left:20px;><IMG src=\"{AAAA0000-1111-2222-3333-444455556666}.dat\"></div></td></tr>\n\
<tr><td><div style=color:#42B475;padding-left:10px;><div style=float:left;margin-right:6px;>我</div>23:59:59</div><div style=padding-left:20px;><font color='000000'>好</font></div></td></tr>\n\
</table></body></html>\n\
\n\
------=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD\n\
Content-Type:image/gif\n\
Content-Transfer-Encoding:base64\n\
Content-Location:{AAAA0000-1111-2222-3333-444455556666}.dat\n\
\n\
R0lGODlhAQABAAAAACwAAAAAAQABAAACAkQBADs=\n\
\n\
\n\
------=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD--\n";

#[test]
fn trimmed_header() {
    let (rec, stats) = parse(TRIMMED.as_bytes(), "stem");
    let name = "{AAAA0000-1111-2222-3333-444455556666}.dat";
    let mut first = msg(t(2020, 3, 22, 9, 5, 7), "对方", None, "[图片]");
    first.attachments.push(image(name));
    assert_eq!(rec.conversations.len(), 1);
    assert_eq!(rec.conversations[0].0.key.scope, "好友");
    assert_eq!(
        rec.conversations[0].1,
        vec![first, msg(t(2020, 3, 22, 23, 59, 59), "我", None, "好")]
    );
    assert_eq!(
        rec.embedded,
        vec![(name.to_string(), "image/gif".to_string(), GIF.to_vec())]
    );
    assert!(rec.findings.is_empty() && rec.not_understood.is_empty());
    assert_eq!(stats.lines, 21);
}

#[test]
fn boundary_not_declared_is_learned_from_nextpart_lines() {
    let text = TRIMMED.replace(
        "\tboundary=\"----=_NextPart_95AFB2B7_4A98_436d_BD79.706B4EF487DD\"\n",
        "",
    );
    let (rec, _) = parse(text.as_bytes(), "stem");
    assert_eq!(rec.messages().len(), 2);
    assert_eq!(rec.embedded.len(), 1);
    assert_eq!(rec.embedded[0].2, GIF);
    assert!(rec.findings.is_empty());
}

#[test]
fn part_header_missing_after_boundary() {
    // The boundary line is there but the HTML part has no headers at all.
    let mut file = envelope("\r\n");
    file += &format!("--{BOUNDARY}\r\n");
    file += HEAD;
    file += &title_rows("我的好友", "小明");
    file += &date_row("2019-01-02");
    file += &message_row("006EFE", "小明", "10:00:00", &font("hi"));
    file += TAIL;
    file += "\r\n";
    file += &closing("\r\n");
    let (rec, _) = parse(file.as_bytes(), "stem");
    assert_eq!(
        rec.messages(),
        vec![&msg(t(2019, 1, 2, 10, 0, 0), "小明", None, "hi")]
    );
    assert!(rec.findings.is_empty());
}

fn one_message_file(date: &str, time: &str) -> Vec<u8> {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我的好友", "小明");
    file += &date_row(date);
    file += &message_row("006EFE", "小明", time, &font("x"));
    file += TAIL;
    file += "\r\n";
    file += &closing("\r\n");
    file.into_bytes()
}

fn only_time(bytes: &[u8]) -> MessageTime {
    let (rec, _) = parse(bytes, "stem");
    assert!(rec.not_understood.is_empty(), "{:?}", rec.not_understood);
    let messages = rec.messages();
    assert_eq!(messages.len(), 1);
    messages[0].time
}

#[test]
fn slash_dates() {
    assert_eq!(
        only_time(&one_message_file("2012/4/11", "7:08:09")),
        t(2012, 4, 11, 7, 8, 9)
    );
    assert_eq!(
        only_time(&one_message_file("2012/12/1", "17:08:09")),
        t(2012, 12, 1, 17, 8, 9)
    );
}

#[test]
fn twelve_hour_times() {
    let cases = [
        ("上午&nbsp;11:29:53", (11, 29, 53)),
        ("下午&nbsp;1:42:48", (13, 42, 48)),
        ("上午&nbsp;12:00:05", (0, 0, 5)),
        ("下午&nbsp;12:30:00", (12, 30, 0)),
        ("8:43:38&nbsp;PM", (20, 43, 38)),
        ("8:43:38&nbsp;AM", (8, 43, 38)),
        ("12:01:02&nbsp;AM", (0, 1, 2)),
        ("4:36:46", (4, 36, 46)),
    ];
    for (written, (h, m, s)) in cases {
        assert_eq!(
            only_time(&one_message_file("2023-10-29", written)),
            t(2023, 10, 29, h, m, s),
            "{written}"
        );
    }
}

#[test]
fn several_conversations_in_one_file() {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我的QQ群", "某群");
    file += &date_row("2016-07-19");
    file += &message_row("006EFE", "甲(10001)", "15:27:15", &font("a"));
    file += "\r\n";
    file += &title_rows("我的多人聊天", "讨论");
    file += "\r\n";
    file += &date_row("2016-07-20");
    file += "\r\n";
    file += &message_row("006EFE", "乙", "1:00:00", &font("b"));
    file += "\r\n";
    file += &title_rows("技术.关注", "朋友");
    file += &message_row("42B475", "我", "2:00:00", &font("c"));
    file += "\r\n";
    file += &title_rows("我的QQ群", "某群");
    file += &message_row("006EFE", "甲(10001)", "3:00:00", &font("d"));
    file += "\r\n";
    // A block without 消息分组, and one without either label row.
    file += "<tr><td><div style=padding-left:10px;>消息对象:无组</div></td></tr>\r\n";
    file += &message_row("006EFE", "丙", "4:00:00", &font("e"));
    file += TAIL;
    file += "\r\n";
    file += &closing("\r\n");
    let (rec, stats) = parse(file.as_bytes(), "导出");
    let summary: Vec<(String, Option<String>, String, ChatKind, usize)> = rec
        .conversations
        .iter()
        .map(|(m, msgs)| {
            (
                m.key.scope.clone(),
                m.group.clone(),
                m.key.peer.clone(),
                m.kind,
                msgs.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "我的QQ群".into(),
                Some("我的QQ群".into()),
                "某群".into(),
                ChatKind::Group,
                1
            ),
            (
                "我的多人聊天".into(),
                Some("我的多人聊天".into()),
                "讨论".into(),
                ChatKind::Discussion,
                1
            ),
            (
                "技术.关注".into(),
                Some("技术.关注".into()),
                "朋友".into(),
                ChatKind::Friend,
                1
            ),
            (
                "我的QQ群".into(),
                Some("我的QQ群".into()),
                "某群".into(),
                ChatKind::Group,
                1
            ),
            ("".into(), None, "无组".into(), ChatKind::Unknown, 1),
        ]
    );
    // Each message takes the day of the last 日期 row above it, across blocks.
    let times: Vec<MessageTime> = rec.messages().iter().map(|m| m.time).collect();
    assert_eq!(
        times,
        vec![
            t(2016, 7, 19, 15, 27, 15),
            t(2016, 7, 20, 1, 0, 0),
            t(2016, 7, 20, 2, 0, 0),
            t(2016, 7, 20, 3, 0, 0),
            t(2016, 7, 20, 4, 0, 0)
        ]
    );
    assert_eq!(stats.conversations.len(), 4);
    assert_eq!(stats.conversations[0].blocks, 2);
    assert_eq!(stats.conversations[0].messages, 2);
    assert_eq!(
        stats.conversations[2].self_senders,
        vec![SenderName {
            name: "我".into(),
            id: None
        }]
    );
    assert!(stats.conversations[0].self_senders.is_empty());
    assert!(rec.not_understood.is_empty());
}

#[test]
fn no_label_rows_uses_file_stem() {
    let mut file = envelope("\n") + &html_part_header("\n") + HEAD;
    file += &date_row("2020-01-01");
    file += &message_row("006EFE", "甲", "1:02:03", &font("x"));
    file += TAIL;
    let (rec, _) = parse(file.as_bytes(), "导出文件");
    assert_eq!(rec.conversations.len(), 1);
    let meta = &rec.conversations[0].0;
    assert_eq!(
        (meta.key.scope.as_str(), meta.key.peer.as_str()),
        ("", "导出文件")
    );
    assert_eq!(
        (meta.name.as_str(), meta.group.clone(), meta.kind),
        ("导出文件", None, ChatKind::Unknown)
    );
    assert_eq!(rec.conversations[0].1.len(), 1);
}

/// A file with the given message bodies (all on 2020-01-01 from 甲) and image parts.
fn file_with(bodies: &[&str], parts: &[(&str, &str)]) -> Vec<u8> {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我的好友", "甲");
    file += &date_row("2020-01-01");
    for (i, body) in bodies.iter().enumerate() {
        file += &message_row("006EFE", "甲", &format!("1:00:{i:02}"), body);
        file += "\r\n";
    }
    file += TAIL;
    file += "\r\n";
    for (name, base64) in parts {
        file += &image_part("\r\n", "image/gif", name, base64, 100);
    }
    file += &closing("\r\n");
    file.into_bytes()
}

#[test]
fn missing_part() {
    let (rec, stats) = parse(&file_with(&["<IMG src=\"{MISSING}.dat\">说明"], &[]), "s");
    assert_eq!(rec.messages()[0].text, "[图片]说明");
    assert_eq!(rec.messages()[0].attachments, vec![image("{MISSING}.dat")]);
    assert_eq!(
        rec.findings,
        vec![ParseFinding::MissingPart {
            name: "{MISSING}.dat".into()
        }]
    );
    assert_eq!(
        (stats.missing_parts, stats.unreferenced_parts, stats.parts),
        (1, 0, 0)
    );
}

#[test]
fn unreferenced_part() {
    let (rec, stats) = parse(&file_with(&["text"], &[("{ORPHAN}.dat", GIF_BASE64)]), "s");
    assert_eq!(rec.embedded.len(), 1);
    assert_eq!(rec.embedded[0].2, GIF);
    assert_eq!(
        rec.findings,
        vec![ParseFinding::UnreferencedPart {
            name: "{ORPHAN}.dat".into()
        }]
    );
    assert_eq!(
        (stats.missing_parts, stats.unreferenced_parts, stats.parts),
        (0, 1, 1)
    );
}

#[test]
fn mixed_case_guid_matches() {
    let (rec, stats) = parse(
        &file_with(
            &[
                "<IMG src=\"{33e8481f-d8c5-42c7-b3e0-fd1484c54196}.dat\">",
                "<img SRC='{33E8481F-D8C5-42C7-B3E0-FD1484C54196}.DAT'>",
            ],
            &[("{33E8481F-D8C5-42c7-B3E0-FD1484C54196}.dat", GIF_BASE64)],
        ),
        "s",
    );
    assert!(rec.findings.is_empty(), "{:?}", rec.findings);
    assert_eq!(stats.image_references, 2);
    assert_eq!(rec.embedded[0].0, "{33E8481F-D8C5-42c7-B3E0-FD1484C54196}.dat");
    assert_eq!(
        rec.messages()[1].attachments,
        vec![image("{33E8481F-D8C5-42C7-B3E0-FD1484C54196}.DAT")]
    );
}

#[test]
fn broken_base64_keeps_decoded_prefix() {
    // "R0lGODlh" decodes to "GIF89a"; then an invalid character.
    let (rec, stats) = parse(
        &file_with(&["<IMG src=\"{B}.dat\">"], &[("{B}.dat", "R0lGODlhAQAB*AAAACw")]),
        "s",
    );
    assert_eq!(rec.embedded.len(), 1);
    assert_eq!(rec.embedded[0].2, b"GIF89a\x01\x00\x01");
    assert_eq!(stats.broken_parts, 1);
    assert!(matches!(
        &rec.findings[..],
        [ParseFinding::BrokenPart { name, detail }] if name == "{B}.dat" && detail.contains("0x2A")
    ));
}

#[test]
fn truncated_base64_and_file_cut_inside_the_part() {
    let full = file_with(&["<IMG src=\"{T}.dat\">"], &[("{T}.dat", GIF_BASE64)]);
    let text = String::from_utf8(full).unwrap();
    // Cut the file in the middle of the base64 (after 10 characters: 2 full groups + 2).
    let cut_at = text.find("R0lGODlhAQ").unwrap() + 10;
    let (rec, stats) = parse(&text.as_bytes()[..cut_at], "s");
    assert_eq!(rec.embedded.len(), 1);
    assert_eq!(rec.embedded[0].2, b"GIF89a\x01");
    assert_eq!(stats.broken_parts, 1);
    assert!(rec
        .findings
        .iter()
        .any(|f| matches!(f, ParseFinding::BrokenPart { name, .. } if name == "{T}.dat")));
    assert!(rec
        .findings
        .iter()
        .any(|f| matches!(f, ParseFinding::Other { detail } if detail.contains("closing boundary"))));
    assert_eq!(rec.messages().len(), 1);
}

#[test]
fn well_formed_base64_of_a_cut_image_is_broken() {
    // Valid base64 of a GIF without its last bytes: the image check reports it.
    use base64::Engine;
    let cut = base64::engine::general_purpose::STANDARD.encode(&GIF[..GIF.len() - 3]);
    let (rec, stats) = parse(&file_with(&["<IMG src=\"{C}.dat\">"], &[("{C}.dat", &cut)]), "s");
    assert_eq!(rec.embedded[0].2, &GIF[..GIF.len() - 3]);
    assert_eq!(stats.broken_parts, 1);
    assert!(matches!(&rec.findings[..], [ParseFinding::BrokenPart { detail, .. }] if detail.contains("GIF")));
}

#[test]
fn base64_wrapped_at_any_width() {
    for width in [1, 3, 7, 76, 100, 1000] {
        let mut file = String::from_utf8(file_with(&["<IMG src=\"{W}.dat\">"], &[])).unwrap();
        let closing_line = closing("\r\n");
        file.truncate(file.len() - closing_line.len());
        file += &image_part("\r\n", "image/gif", "{W}.dat", GIF_BASE64, width);
        file += &closing_line;
        let (rec, stats) = parse(file.as_bytes(), "s");
        assert_eq!(rec.embedded[0].2, GIF, "width {width}");
        assert_eq!(stats.broken_parts, 0);
        assert!(rec.findings.is_empty());
    }
}

#[test]
fn escaped_senders() {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我加入的群聊", "群");
    file += &date_row("2020-02-11");
    for sender in [
        "大魔头&lt;a@b.c&gt;",
        "519870018(519870018)",
        "(7471)",
        "(B)(456456)",
        "A&amp;B",
        "风自由",
    ] {
        file += &message_row("006EFE", sender, "4:36:46", &font("x"));
        file += "\r\n";
    }
    file += TAIL;
    let (rec, _) = parse(file.as_bytes(), "s");
    let senders: Vec<(String, Option<String>)> = rec
        .messages()
        .iter()
        .map(|m| (m.sender.clone(), m.sender_id.clone()))
        .collect();
    assert_eq!(
        senders,
        vec![
            ("大魔头".into(), Some("a@b.c".into())),
            ("519870018".into(), Some("519870018".into())),
            ("".into(), Some("7471".into())),
            ("(B)".into(), Some("456456".into())),
            ("A&B".into(), None),
            ("风自由".into(), None),
        ]
    );
    assert!(rec.messages().iter().all(|m| !m.system));
    assert_eq!(rec.conversations[0].0.kind, ChatKind::Group);
}

#[test]
fn multi_line_bodies_entities_and_empty_bodies() {
    let bodies = [
        "<b><font color='0080FF'>第一行<br>第二行<BR/>a &lt;b&gt; &amp; &quot;c&quot;&nbsp;&#20320;&#x597D;</font></b>",
        "",
        "<IMG src=\"{X}.dat\"><font color='000000'>你已下载文件“a.apk”(5.82MB)。</font><IMG src=\"{Y}.dat\">",
        "&lt;script&gt; 1 &lt; 2",
    ];
    let (rec, _) = parse(
        &file_with(&bodies, &[("{X}.dat", GIF_BASE64), ("{Y}.dat", GIF_BASE64)]),
        "s",
    );
    let texts: Vec<&str> = rec.messages().iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "第一行\n第二行\na <b> & \"c\" 你好",
            "",
            "[图片]你已下载文件“a.apk”(5.82MB)。[图片]",
            "<script> 1 < 2"
        ]
    );
    assert_eq!(
        rec.messages()[2].attachments,
        vec![image("{X}.dat"), image("{Y}.dat")]
    );
    assert!(rec.findings.is_empty());
}

#[test]
fn system_rows() {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我的QQ群", "群");
    file += &date_row("2020-02-11");
    file += &message_row(
        "006EFE",
        "系统消息(10000)",
        "4:36:46",
        "<font style=\"font-size:9pt;\" color='505050'>你已经是群成员了，和大家打个招呼吧！</font>",
    );
    file += "\r\n";
    file += &message_row("006EFE", "&nbsp;", "4:37:00", &font("[窗口抖动]"));
    file += "\r\n";
    file += &message_row("006EFE", "", "4:38:00", &font("收到文件"));
    file += "\r\n";
    file += &message_row("006EFE", "系统消息", "4:39:00", &font("no id"));
    file += TAIL;
    let (rec, stats) = parse(file.as_bytes(), "s");
    let got: Vec<(&str, Option<&str>, bool, &str)> = rec
        .messages()
        .iter()
        .map(|m| {
            (
                m.sender.as_str(),
                m.sender_id.as_deref(),
                m.system,
                m.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "系统消息",
                Some("10000"),
                true,
                "你已经是群成员了，和大家打个招呼吧！"
            ),
            ("", None, true, "[窗口抖动]"),
            ("", None, true, "收到文件"),
            ("系统消息", None, false, "no id"),
        ]
    );
    assert_eq!(stats.system_messages, 3);
}

#[test]
fn unknown_rows_are_reported_with_their_line() {
    let mut file = envelope("\r\n") + &html_part_header("\r\n") + HEAD;
    file += &title_rows("我的好友", "甲");
    file += "\r\n";
    // line 14: a message before any date row (no day to give it)
    file += &message_row("006EFE", "甲", "1:00:00", "x");
    file += "\r\n";
    file += &date_row("2020-02-30"); // line 15: not a day
    file += "\r\n";
    file += &message_row("006EFE", "甲", "1:00:01", "y"); // line 16: no day again
    file += "\r\n";
    file += "<tr><td>something else</td></tr>\r\n"; // line 17
    file += &date_row("2020-03-01");
    file += "\r\n";
    file += &message_row("006EFE", "甲", "25:00:00", "bad time"); // line 19
    file += "\r\n";
    file += &message_row("006EFE", "甲", "1:00:02", "ok");
    file += "\r\n";
    file += TAIL;
    let (rec, stats) = parse(file.as_bytes(), "s");
    let lines: Vec<u64> = rec.not_understood.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![14, 15, 16, 17, 19]);
    assert_eq!(rec.not_understood[3].1, "<tr><td>something else</td></tr>");
    assert_eq!(stats.not_understood, 5);
    assert_eq!(
        rec.messages(),
        vec![&msg(t(2020, 3, 1, 1, 0, 2), "甲", None, "ok")]
    );
}

#[test]
fn layout_does_not_matter() {
    // Every row on one line, or rows cut across lines anywhere between tags.
    let rows = [
        title_rows("好友", "对方"),
        date_row("2020-03-22"),
        message_row("42B475", "我", "8:42:32", &font("没")),
        message_row("006EFE", "对方", "8:43:54", &font("好")),
    ]
    .concat();
    let one_line = envelope("\n") + &html_part_header("\n") + HEAD + &rows + TAIL + "\n";
    let split = envelope("\n")
        + &html_part_header("\n")
        + HEAD
        + "\n"
        + &rows
            .replace("</div><div", "</div>\n<div")
            .replace("<tr>", "\n<tr>\n")
        + "\n"
        + TAIL
        + "\n";
    let (a, _) = parse(one_line.as_bytes(), "s");
    let (b, _) = parse(split.as_bytes(), "s");
    assert_eq!(a.messages().len(), 2);
    assert_eq!(a.conversations, b.conversations);
    assert!(a.not_understood.is_empty() && b.not_understood.is_empty());
}

#[test]
fn declared_gbk_charset_is_decoded() {
    let mut html = String::from(HEAD);
    html += &title_rows("我的好友", "张三");
    html += &date_row("2010-05-06");
    html += &message_row("006EFE", "张三", "7:08:09", &font("你好，世界"));
    html += TAIL;
    let (gbk, _, _) = encoding_rs::GBK.encode(&html);
    let mut file = envelope("\r\n")
        .replace("charset=\"utf-8\"", "charset=\"gb2312\"")
        .into_bytes();
    file.extend_from_slice(html_part_header("\r\n").as_bytes());
    file.extend_from_slice(&gbk);
    file.extend_from_slice(b"\r\n");
    file.extend_from_slice(closing("\r\n").as_bytes());
    let (rec, stats) = parse(&file, "s");
    assert_eq!(stats.html_charset, "GBK");
    assert_eq!(stats.malformed_bytes, 0);
    assert_eq!(rec.conversations[0].0.key.peer, "张三");
    assert_eq!(
        rec.messages(),
        vec![&msg(t(2010, 5, 6, 7, 8, 9), "张三", None, "你好，世界")]
    );
}

#[test]
fn malformed_utf8_is_counted() {
    let mut file = envelope("\r\n").into_bytes();
    file.extend_from_slice(html_part_header("\r\n").as_bytes());
    file.extend_from_slice(HEAD.as_bytes());
    file.extend_from_slice(title_rows("我的好友", "甲").as_bytes());
    file.extend_from_slice(date_row("2010-05-06").as_bytes());
    let row = message_row("006EFE", "甲", "7:08:09", "a\u{1}b");
    let (before, after) = row.split_once('\u{1}').unwrap();
    file.extend_from_slice(before.as_bytes());
    file.extend_from_slice(b"\xFF\xFE");
    file.extend_from_slice(after.as_bytes());
    file.extend_from_slice(TAIL.as_bytes());
    let (rec, stats) = parse(&file, "s");
    assert_eq!(stats.malformed_bytes, 2);
    assert_eq!(rec.messages()[0].text, "a\u{FFFD}\u{FFFD}b");
}

#[test]
fn very_long_lines_are_read_in_pieces() {
    // A message body longer than one read piece still comes out whole.
    let long = "长".repeat(MAX_PIECE / 2);
    let (rec, stats) = parse(&file_with(&[&font(&long)], &[]), "s");
    assert_eq!(rec.messages()[0].text, long);
    assert!(rec.not_understood.is_empty());
    assert_eq!(stats.messages, 1);
}

#[test]
fn oversized_row_is_reported_and_skipped() {
    let huge = "字".repeat(qqvault_formats::formats::mht::MAX_ROW / 3 + 10);
    let (rec, stats) = parse(&file_with(&[&font(&huge), &font("after")], &[]), "s");
    assert_eq!(stats.not_understood, 1);
    assert_eq!(rec.not_understood[0].0, 13);
    assert!(rec.not_understood[0].1.len() <= 4096);
    assert!(rec
        .findings
        .iter()
        .any(|f| matches!(f, ParseFinding::Other { detail } if detail.contains("longer than"))));
    assert_eq!(rec.messages().len(), 1);
    assert_eq!(rec.messages()[0].text, "after");
}

#[test]
fn image_part_before_the_html_is_still_joined() {
    let mut file = envelope("\r\n");
    file += &image_part("\r\n", "image/gif", "{EARLY}.dat", GIF_BASE64, 100);
    file += &image_part("\r\n", "image/gif", "{LONELY}.dat", GIF_BASE64, 100);
    file += &html_part_header("\r\n");
    file += HEAD;
    file += &title_rows("我的好友", "甲");
    file += &date_row("2020-01-01");
    file += &message_row("006EFE", "甲", "1:00:00", "<IMG src=\"{early}.dat\">");
    file += TAIL;
    file += "\r\n";
    file += &closing("\r\n");
    let (rec, stats) = parse(file.as_bytes(), "s");
    assert_eq!(rec.embedded.len(), 2);
    assert_eq!(
        rec.findings,
        vec![ParseFinding::UnreferencedPart {
            name: "{LONELY}.dat".into()
        }]
    );
    assert_eq!((stats.missing_parts, stats.unreferenced_parts), (0, 1));
}

#[test]
fn text_after_the_html_end_is_ignored() {
    let mut file = envelope("\n") + &html_part_header("\n") + HEAD;
    file += &title_rows("我的好友", "甲");
    file += &date_row("2020-01-01");
    file += &message_row("006EFE", "甲", "1:00:00", "x");
    file += TAIL;
    file += "<tr><td>not a row: after the html</td></tr>\n\n";
    file += &closing("\n");
    let (rec, _) = parse(file.as_bytes(), "s");
    assert_eq!(rec.messages().len(), 1);
    assert!(rec.not_understood.is_empty() && rec.findings.is_empty());
}
