//! End-to-end: `search` finds exactly what a substring scan over every message finds, after
//! folding both the same way (NFKC, then lower case), through the index or without it.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

/// The reference folding, written independently of the index crate.
fn fold(s: &str) -> String {
    s.nfkc().flat_map(char::to_lowercase).collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "北京",
    "大学",
    "北京大学",
    "简单",
    "处理",
    "记录",
    "聊天",
    "灯",
    "大灯",
    "本田",
    "汽车",
    "的",
    "了",
    "我们",
    "开会",
    "吃饭",
    "周末",
    "ABC",
    "ａｂｃ",
    "Ｑ",
    "q",
    "138",
    "13812345678",
    "１２３",
    "OK",
    "ok",
    "哈哈",
    "！",
    "，",
    "。",
    " ",
    "图片",
    "[图片]",
    "[表情]",
    "http://x.cn/a",
    "Ⅻ",
    "ﬁ",
    "㍿",
    "ｶﾀｶﾅ",
    "中文",
    "文字",
    "京",
    "大",
    "处",
    "理",
];

fn corpus_export(rng: &mut Rng, chats: usize, per_chat: usize) -> String {
    let sep = "=".repeat(64);
    let mut s = String::from("消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n");
    for c in 0..chats {
        s.push_str(&format!(
            "{sep}\r\n消息分组:我的QQ群\r\n{sep}\r\n消息对象:群{c}\r\n{sep}\r\n\r\n"
        ));
        for i in 0..per_chat {
            let secs = i * 37 + c;
            let mut text = String::new();
            for _ in 0..(1 + rng.next() % 8) {
                let piece: &&str = rng.pick(PIECES);
                text.push_str(piece);
            }
            let sender = rng
                .pick(&["张三(10001)", "李四(10002)", "王五<w5@example.com>", "小明"])
                .to_string();
            s.push_str(&format!(
                "2020-{:02}-{:02} {}:{:02}:{:02} {sender}\r\n{}\r\n\r\n",
                1 + (secs / 86400 / 28) % 12,
                1 + (secs / 86400) % 28,
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60,
                text.trim()
            ));
        }
    }
    s
}

fn build(dir: &Path, export: &str, extra: &[&str]) -> PathBuf {
    write(&dir.join("in/全部消息记录.txt"), export.as_bytes());
    let archive = dir.join("s.zip");
    let input = dir.join("in");
    let mut args = vec![
        "backup",
        input.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--force",
        "--no-viewer",
    ];
    args.extend_from_slice(extra);
    expect_code(&run(&args), 0);
    archive
}

/// Every message of the archive, via `show --json`: (chat, time, sender, sender_id, text).
type Msg = (String, String, String, String, String);
fn all_messages(archive: &Path) -> Vec<Msg> {
    let o = run(&["list", archive.to_str().unwrap(), "--json"]);
    let mut out = Vec::new();
    for l in stdout(&o).lines() {
        let c: serde_json::Value = serde_json::from_str(l).unwrap();
        let o = run(&[
            "show",
            archive.to_str().unwrap(),
            c["id"].as_str().unwrap(),
            "--json",
        ]);
        for m in stdout(&o).lines() {
            out.push(key(&serde_json::from_str(m).unwrap()));
        }
    }
    out
}

fn key(m: &serde_json::Value) -> Msg {
    (
        m["chat"].as_str().unwrap().to_string(),
        m["time"].as_str().unwrap().to_string(),
        m["sender"].as_str().unwrap().to_string(),
        m["sender_id"].as_str().unwrap_or("").to_string(),
        m["text"].as_str().unwrap().to_string(),
    )
}

fn search(archive: &Path, query: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut args = vec!["search", archive.to_str().unwrap(), query, "--json"];
    if !extra.contains(&"--limit") {
        args.extend_from_slice(&["--limit", "0"]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    let lines = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code(&o), lines, stderr(&o))
}

fn scan(all: &[Msg], terms: &[&str], excluded: &[&str]) -> BTreeSet<Msg> {
    all.iter()
        .filter(|m| {
            let t = fold(&m.4);
            terms.iter().all(|q| t.contains(&fold(q))) && !excluded.iter().any(|q| t.contains(&fold(q)))
        })
        .cloned()
        .collect()
}

#[test]
fn search_equals_a_substring_scan_for_random_queries() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_1234_ABCD);
    let archive = build(t.path(), &corpus_export(&mut rng, 3, 700), &[]);
    let all = all_messages(&archive);
    assert_eq!(all.len(), 2100);
    let mut queries: Vec<String> = Vec::new();
    // Substrings of real messages, 1 to 8 characters.
    for _ in 0..90 {
        let m = &rng.pick(&all).4;
        let chars: Vec<char> = m.chars().collect();
        if chars.is_empty() {
            continue;
        }
        let len = 1 + (rng.next() % 8) as usize;
        let start = (rng.next() % chars.len() as u64) as usize;
        let q: String = chars[start..(start + len).min(chars.len())].iter().collect();
        if !q.trim().is_empty() && !q.contains('"') {
            queries.push(q.trim().to_string());
        }
    }
    // Random pieces and full-width forms, Latin, digits, mixed.
    for _ in 0..40 {
        queries.push(
            format!("{}{}", *rng.pick(PIECES), *rng.pick(PIECES))
                .trim()
                .to_string(),
        );
    }
    for q in [
        "灯",
        "京大",
        "ABC",
        "abc",
        "ａｂｃ",
        "138",
        "１２３",
        "123",
        "Q",
        "ok",
        "fi",
        "ｶﾀ",
        "カタ",
        "株式会社",
        "xii",
    ] {
        queries.push(q.to_string());
    }
    let mut checked = 0;
    for q in &queries {
        if q.is_empty() || q.starts_with('-') {
            continue;
        }
        let quoted = if q.contains(' ') {
            format!("\"{q}\"")
        } else {
            q.clone()
        };
        let (c, hits, err) = search(&archive, &quoted, &[]);
        let got: BTreeSet<Msg> = hits.iter().map(key).collect();
        let want = scan(&all, &[q], &[]);
        assert_eq!(got, want, "query {q:?}: {err}");
        assert_eq!(hits.len(), want.len(), "query {q:?}: each hit once");
        assert_eq!(c, if want.is_empty() { 1 } else { 0 }, "exit code for {q:?}");
        checked += 1;
    }
    assert!(checked > 100);
    // AND, phrases with spaces, exclusions.
    for (query, terms, excluded) in [
        ("北京 大学", vec!["北京", "大学"], vec![]),
        ("简单 -处理", vec!["简单"], vec!["处理"]),
        ("\"北京 大学\"", vec!["北京 大学"], vec![]),
        ("-灯 汽车", vec!["汽车"], vec!["灯"]),
        ("ok 138 -abc", vec!["ok", "138"], vec!["abc"]),
    ] {
        let (_, hits, err) = search(&archive, query, &[]);
        let got: BTreeSet<Msg> = hits.iter().map(key).collect();
        assert_eq!(got, scan(&all, &terms, &excluded), "query {query:?}: {err}");
    }
}

#[test]
fn the_regression_set_each_finds_its_message() {
    let t = tempfile::tempdir().unwrap();
    let sep = "=".repeat(64);
    let texts = [
        "这个很简单",
        "请尽快处理",
        "车的大灯坏了",
        "我开本田",
        "我在北京",
        "上大学了",
        "聊天记录",
        "北京大学",
        "闲聊",
    ];
    let mut s = format!("{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:甲\r\n{sep}\r\n\r\n");
    for (i, t) in texts.iter().enumerate() {
        s.push_str(&format!("2019-05-0{} 10:00:00 甲\r\n{t}\r\n\r\n", i + 1));
    }
    let archive = build(t.path(), &s, &[]);
    for (q, expect) in [
        ("简单", vec!["这个很简单"]),
        ("处理", vec!["请尽快处理"]),
        ("灯", vec!["车的大灯坏了"]),
        ("本田", vec!["我开本田"]),
        ("北京", vec!["北京大学", "我在北京"]),
        ("大学", vec!["北京大学", "上大学了"]),
        ("记录", vec!["聊天记录"]),
        ("京大", vec!["北京大学"]),
        ("聊", vec!["闲聊", "聊天记录"]),
    ] {
        let (c, hits, _) = search(&archive, q, &[]);
        assert_eq!(c, 0, "{q}");
        let got: Vec<&str> = hits.iter().map(|h| h["text"].as_str().unwrap()).collect();
        assert_eq!(got, expect, "{q}: newest first");
        assert!(hits.iter().all(|h| h["chat_name"] == "甲"));
    }
}

#[test]
fn filters_sorting_context_and_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(77);
    let archive = build(t.path(), &corpus_export(&mut rng, 2, 400), &[]);
    let all = all_messages(&archive);
    let a = archive.to_str().unwrap();
    // --chat by name, --sender by id or name, dates.
    let (_, hits, _) = search(&archive, "的", &["--chat", "群1"]);
    let want: BTreeSet<Msg> = scan(&all, &["的"], &[])
        .into_iter()
        .filter(|m| all.iter().any(|x| x.0 == m.0) && hits.first().is_some_and(|h| h["chat"] == m.0.as_str()))
        .collect();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["chat_name"] == "群1"));
    assert_eq!(hits.iter().map(key).collect::<BTreeSet<_>>(), want);
    let (_, hits, _) = search(&archive, "的", &["--sender", "w5@EXAMPLE"]);
    assert!(!hits.is_empty() && hits.iter().all(|h| h["sender"] == "王五"));
    let (_, hits, _) = search(
        &archive,
        "的",
        &["--since", "2020-01-01T01:00:00", "--until", "2020-01-01T01:59:59"],
    );
    assert!(
        !hits.is_empty()
            && hits
                .iter()
                .all(|h| h["time"].as_str().unwrap().starts_with("2020-01-01T01:"))
    );
    let (_, none, _) = search(&archive, "的", &["--since", "2020-01-02"]);
    assert!(none.is_empty());
    let (_, day, _) = search(&archive, "的", &["--until", "2020-01-01"]);
    assert_eq!(
        day.len(),
        scan(&all, &["的"], &[]).len(),
        "--until takes the whole day"
    );
    // --limit and the default order, newest first; relevance gives the same set.
    let (_, all_hits, _) = search(&archive, "的", &[]);
    let (_, five, _) = search(&archive, "的", &["--limit", "5"]);
    assert_eq!(five.len(), 5);
    assert_eq!(five, all_hits[..5].to_vec());
    assert!(all_hits
        .windows(2)
        .all(|w| w[0]["time"].as_str() >= w[1]["time"].as_str()));
    let (_, rel, _) = search(&archive, "的", &["--sort", "relevance"]);
    assert_eq!(
        rel.iter().map(key).collect::<BTreeSet<_>>(),
        all_hits.iter().map(key).collect::<BTreeSet<_>>()
    );
    let o = run(&["search", a, "北京"]);
    assert_eq!(
        stdout(&o).lines().count().min(50),
        stdout(&o).lines().count(),
        "default limit 50"
    );
    // -C 2: context messages come marked.
    let (_, ctx, _) = search(&archive, "北京大学", &["-C", "2", "--limit", "1"]);
    assert!(
        ctx.iter().filter(|m| m["context"] == true).count() >= 2,
        "{ctx:?}"
    );
    assert_eq!(ctx.iter().filter(|m| m.get("context").is_none()).count(), 1);
    // Exit 1 without hits, 2 on a bad query; a query may begin with '-'.
    let (c, hits, _) = search(&archive, "完全不存在的词语组合", &[]);
    assert_eq!((c, hits.len()), (1, 0));
    assert_eq!(search(&archive, "-北京", &[]).0, 2);
    let (c, hits, _) = search(&archive, "-北京 大学", &[]);
    assert_eq!(c, 0);
    assert_eq!(
        hits.iter().map(key).collect::<BTreeSet<_>>(),
        scan(&all, &["大学"], &["北京"])
    );
    // Human output: one line per hit, the conversation and sender named; no colour in a pipe.
    let o = run(&["search", a, "北京大学", "--limit", "3"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(!stdout(&o).contains('\x1b'));
}

#[test]
fn without_an_index_search_scans_and_reindex_adds_it() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    let archive = build(t.path(), &corpus_export(&mut rng, 2, 300), &["--no-index"]);
    let (c, scanned, note) = search(&archive, "北京", &[]);
    assert_eq!(c, 0);
    assert!(
        note.contains("reindex"),
        "a note says the index is missing: {note}"
    );
    // The scan streams each conversation, keeping the best hits and their context: it gives
    // what the index gives, context, limits and all.
    let variants: [(&str, &[&str]); 4] = [
        ("的", &["-C", "2", "--limit", "5"]),
        ("的", &["-C", "3", "--limit", "0"]),
        ("大学", &["--limit", "7"]),
        ("京大", &["-C", "1"]),
    ];
    let scans: Vec<_> = variants.iter().map(|(q, o)| search(&archive, q, o).1).collect();
    expect_code(&run(&["reindex", archive.to_str().unwrap()]), 0);
    for ((q, o), scanned) in variants.iter().zip(&scans) {
        let (_, indexed, _) = search(&archive, q, o);
        assert!(!indexed.is_empty(), "{q} {o:?}");
        assert_eq!(&indexed, scanned, "{q} {o:?}");
    }
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    unzip_test(&archive);
    let (c, indexed, note) = search(&archive, "北京", &[]);
    assert_eq!(c, 0);
    assert!(note.is_empty(), "{note}");
    assert_eq!(indexed, scanned);
    // Reindexing keeps every other entry as it was.
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&t.path().join("in")), tree(&back.join("in")));
}

#[test]
fn an_index_of_another_version_still_answers_by_scanning() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(5);
    let archive = build(t.path(), &corpus_export(&mut rng, 1, 200), &[]);
    let (_, before, _) = search(&archive, "大学", &[]);
    // Change the index's recorded schema version in place (its entries are Stored).
    let mut bytes = fs::read(&archive).unwrap();
    let needle = b"\"schema_version\": ";
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the index version file is readable in place");
    let digit = pos + needle.len();
    assert!(bytes[digit].is_ascii_digit());
    bytes[digit] = if bytes[digit] == b'9' { b'8' } else { b'9' };
    fs::write(&archive, &bytes).unwrap();
    let (c, after, note) = search(&archive, "大学", &[]);
    assert_eq!(c, 0);
    assert!(note.contains("another version"), "{note}");
    assert_eq!(after, before);
}

#[cfg(unix)]
#[test]
fn search_writes_nothing_and_works_on_read_only_media() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let archive = build(t.path(), &corpus_export(&mut rng, 1, 100), &[]);
    let ro = t.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let copy = ro.join("s.zip");
    fs::copy(&archive, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let (c, hits, err) = search(&copy, "的", &[]);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(c, 0, "{err}");
    assert!(!hits.is_empty());
    assert!(err.is_empty(), "{err}");
    assert_eq!(
        fs::read_dir(&ro).unwrap().count(),
        1,
        "nothing written beside the archive"
    );
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(3);
    let archive = build(t.path(), &corpus_export(&mut rng, 1, 3000), &[]);
    let mut child = qqvault()
        .args(["search", archive.to_str().unwrap(), "的", "--limit", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    out.read_exact(&mut first).unwrap();
    drop(out);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Hits and their context are read where they lie, a checkpoint interval (512 messages) at a
/// time: context that crosses an interval, hits that share one, and the last message must all
/// come out as `show` lists them.
#[test]
fn context_is_read_across_checkpoint_intervals() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng(0xC0_4712);
    let archive = build(t.path(), &corpus_export(&mut rng, 1, 1100), &[]);
    let all = all_messages(&archive);
    assert_eq!(all.len(), 1100);
    for query in ["的", "北京", "图片"] {
        let (_, hits, _) = search(&archive, query, &[]);
        assert!(hits.len() > 20, "{query}: {}", hits.len());
        let (_, with_context, _) = search(&archive, query, &["-C", "3"]);
        let mut expected = Vec::new();
        for h in &hits {
            let i = all.iter().position(|m| *m == key(h)).expect("a hit is a message");
            expected.extend(all[i.saturating_sub(3)..i].iter().map(|m| (m.clone(), true)));
            expected.push((all[i].clone(), false));
            expected.extend(
                all[i + 1..(i + 4).min(all.len())]
                    .iter()
                    .map(|m| (m.clone(), true)),
            );
        }
        let found: Vec<(Msg, bool)> = with_context
            .iter()
            .map(|m| (key(m), m.get("context").is_some()))
            .collect();
        assert_eq!(found, expected, "{query}");
    }
}
