//! Helpers shared by the MHT and merge tests: a sink that records everything, the path of the
//! shared samples, and builders for small synthetic MHT files.

#![allow(dead_code)]

use qqvault_core::{ConversationMeta, Message};
use qqvault_formats::formats::mht::{self, MhtStats};
use qqvault_formats::{ChatSink, ParseFinding};
use std::path::PathBuf;

/// Records what a parser hands over.
#[derive(Default, Debug)]
pub struct Recorder {
    pub conversations: Vec<(ConversationMeta, Vec<Message>)>,
    pub not_understood: Vec<(u64, String)>,
    pub embedded: Vec<(String, String, Vec<u8>)>,
    pub findings: Vec<ParseFinding>,
    /// Messages handed before any conversation (should never happen).
    pub orphans: usize,
}

impl ChatSink for Recorder {
    fn conversation(&mut self, meta: ConversationMeta) {
        self.conversations.push((meta, Vec::new()));
    }
    fn message(&mut self, message: Message) {
        match self.conversations.last_mut() {
            Some((_, messages)) => messages.push(message),
            None => self.orphans += 1,
        }
    }
    fn not_understood(&mut self, line_no: u64, line: &str) {
        self.not_understood.push((line_no, line.to_string()));
    }
    fn embedded(&mut self, name: &str, content_type: &str, bytes: &[u8]) {
        self.embedded
            .push((name.to_string(), content_type.to_string(), bytes.to_vec()));
    }
    fn finding(&mut self, finding: ParseFinding) {
        self.findings.push(finding);
    }
}

impl Recorder {
    pub fn messages(&self) -> Vec<&Message> {
        self.conversations.iter().flat_map(|(_, m)| m.iter()).collect()
    }
}

/// Parses `bytes` as an MHT file named `stem`.
pub fn parse(bytes: &[u8], stem: &str) -> (Recorder, MhtStats) {
    let mut recorder = Recorder::default();
    let stats = mht::parse(bytes, stem, &mut recorder).expect("reading from memory cannot fail");
    assert_eq!(recorder.orphans, 0, "messages before any conversation");
    (recorder, stats)
}

/// The shared samples directory, or None (with a visible message) when it is absent.
pub fn shared_fixture(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(relative);
    if path.is_file() {
        Some(path)
    } else {
        println!("skipping: shared fixtures absent ({relative})");
        None
    }
}

pub const BOUNDARY: &str = "----=_NextPart_11111111_2222_3333_4444.555555555555";

/// The envelope QQ writes (header lines without a space after the colon, folded Content-Type).
pub fn envelope(eol: &str) -> String {
    [
        "From: <Save by Tencent MsgMgr>",
        "Subject: Tencent IM Message",
        "MIME-Version: 1.0",
        "Content-Type:multipart/related;",
        "\tcharset=\"utf-8\"",
        "\ttype=\"text/html\";",
        &format!("\tboundary=\"{BOUNDARY}\""),
        "",
        "",
    ]
    .join(eol)
}

/// Boundary line and the HTML part header.
pub fn html_part_header(eol: &str) -> String {
    format!("--{BOUNDARY}{eol}Content-Type: text/html{eol}Content-Transfer-Encoding:7bit{eol}{eol}")
}

pub const HEAD: &str = "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" /><title>QQ Message</title></head><body><table width=100% cellspacing=0>";
pub const TAIL: &str = "</table></body></html>";

pub fn title_rows(group: &str, peer: &str) -> String {
    format!(
        "<tr><td><div style=padding-left:10px;><br><b>消息记录</b></div></td></tr>\
         <tr><td><div style=padding-left:10px;>消息分组:{group}</div></td></tr>\
         <tr><td><div style=padding-left:10px;>消息对象:{peer}</div></td></tr>\
         <tr><td><div style=padding-left:10px;>&nbsp;</div></td></tr>"
    )
}

pub fn date_row(date: &str) -> String {
    format!("<tr><td style=border-bottom-width:1px;border-bottom-color:#8EC3EB;border-bottom-style:solid;color:#3568BB;font-weight:bold;height:24px;line-height:24px;padding-left:10px;margin-bottom:5px;>日期: {date}</td></tr>")
}

/// A message row; `colour` is `42B475` for the exporting user, `006EFE` for others.
pub fn message_row(colour: &str, sender: &str, time: &str, body: &str) -> String {
    format!("<tr><td><div style=color:#{colour};padding-left:10px;><div style=float:left;margin-right:6px;>{sender}</div>{time}</div><div style=padding-left:20px;>{body}</div></td></tr>")
}

/// A body in QQ's font markup.
pub fn font(text: &str) -> String {
    format!("<font style=\"font-size:10pt;font-family:'宋体','MS Sans Serif',sans-serif;\" color='000000'>{text}</font>")
}

/// An image part: boundary, headers, the base64 of `data` wrapped at `width`.
pub fn image_part(eol: &str, content_type: &str, name: &str, base64: &str, width: usize) -> String {
    let mut part = format!(
        "--{BOUNDARY}{eol}Content-Type:{content_type}{eol}Content-Transfer-Encoding:base64{eol}Content-Location:{name}{eol}{eol}"
    );
    let bytes = base64.as_bytes();
    for line in bytes.chunks(width.max(1)) {
        part.push_str(std::str::from_utf8(line).unwrap());
        part.push_str(eol);
    }
    part.push_str(eol);
    part
}

pub fn closing(eol: &str) -> String {
    format!("--{BOUNDARY}--{eol}")
}

/// A tiny valid GIF (1x1) and its base64.
pub const GIF: &[u8] =
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
pub const GIF_BASE64: &str = "R0lGODlhAQABAAAAACwAAAAAAQABAAACAkQBADs=";
