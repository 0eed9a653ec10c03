//! End-to-end: chat exports become conversations in the archive (`list`, `show`), whatever
//! their encoding, with counts checked against the shared samples.

mod common;
use common::*;
use std::fs;
use std::path::Path;

fn backup(dir: &Path, inputs: &[&Path]) -> (std::path::PathBuf, serde_json::Value) {
    let archive = dir.join("chats.zip");
    let mut args: Vec<String> = vec!["backup".into()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap().to_string()));
    args.extend([
        "-o".into(),
        archive.to_str().unwrap().into(),
        "--json".into(),
        "--force".into(),
    ]);
    let o = qqvault().args(&args).output().unwrap();
    expect_code(&o, 0);
    (archive.clone(), json(&o))
}

fn list(archive: &Path) -> Vec<serde_json::Value> {
    let o = run(&["list", archive.to_str().unwrap(), "--json"]);
    expect_code(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn show(archive: &Path, chat: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["show", archive.to_str().unwrap(), chat, "--json"];
    args.extend_from_slice(extra);
    let o = run(&args);
    expect_code(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn one_conversation(archive: &Path) -> serde_json::Value {
    let l = list(archive);
    assert_eq!(l.len(), 1, "{l:?}");
    l.into_iter().next().unwrap()
}

#[test]
fn shared_txt_sample_gives_its_counts() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let (archive, s) = backup(t.path(), &[&fx.join("txt/group-2016-all-messages.anon.txt")]);
    assert_eq!(s["messages"], 3089);
    assert_eq!(s["lines_not_understood"], 0);
    assert_eq!(s["exports"]["qq-txt"], 1);
    assert_eq!(s["encodings"]["utf-8-bom"], 1);
    let c = one_conversation(&archive);
    assert_eq!(c["group"], "我的QQ群");
    assert_eq!(c["kind"], "group");
    assert_eq!(c["messages"], 3089);
    assert_eq!(c["first"], "2016-07-19T15:27:15");
    assert_eq!(c["last"], "2016-11-10T22:21:53");
    let msgs = show(&archive, c["id"].as_str().unwrap(), &[]);
    assert_eq!(msgs.len(), 3089);
    assert_eq!(msgs.iter().filter(|m| m["text"] == "").count(), 11);
    assert_eq!(
        msgs.iter()
            .filter(|m| m["text"].as_str().unwrap().contains('\n'))
            .count(),
        93
    );
    assert!(msgs.iter().all(|m| m["sender_id"].is_string()));
    assert!(
        msgs.windows(2)
            .all(|w| w[0]["time"].as_str() <= w[1]["time"].as_str()),
        "time order"
    );
    // --since / --until select by time; --until takes the whole day.
    let day = show(
        &archive,
        c["id"].as_str().unwrap(),
        &["--since", "2016-07-19", "--until", "2016-07-19"],
    );
    assert!(!day.is_empty());
    assert!(day
        .iter()
        .all(|m| m["time"].as_str().unwrap().starts_with("2016-07-19")));
    let expected = msgs
        .iter()
        .filter(|m| m["time"].as_str().unwrap().starts_with("2016-07-19"))
        .count();
    assert_eq!(day.len(), expected);
}

#[test]
fn shared_mht_samples_give_their_counts_and_images() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let (archive, s) = backup(t.path(), &[&fx.join("mht/private-2023-12h-times.mht")]);
    assert_eq!(s["messages"], 57);
    let c = one_conversation(&archive);
    assert_eq!(c["group"], "同好");
    assert_eq!(c["name"], "匿名B");
    let msgs = show(&archive, "匿名B", &[]);
    assert_eq!(msgs.len(), 57);
    let days: std::collections::BTreeSet<&str> =
        msgs.iter().map(|m| &m["time"].as_str().unwrap()[..10]).collect();
    assert_eq!(days.into_iter().collect::<Vec<_>>(), ["2023-10-29", "2023-10-31"]);
    let senders: std::collections::BTreeSet<&str> =
        msgs.iter().map(|m| m["sender"].as_str().unwrap()).collect();
    assert_eq!(senders.into_iter().collect::<Vec<_>>(), ["匿名A", "匿名B"]);
    let atts: Vec<&serde_json::Value> = msgs
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap())
        .collect();
    assert_eq!(atts.len(), 3);
    // Every image is in the archive, at the entry named, with the hash named.
    let o = python(
        "import sys, zipfile, hashlib, json\nz = zipfile.ZipFile(sys.argv[1])\nfor a in json.loads(sys.argv[2]):\n    d = z.read(a['entry'])\n    assert hashlib.sha256(d).hexdigest() == a['sha256'], a\n    print(d[:4].hex())",
        &[&archive, Path::new(&serde_json::to_string(&atts).unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let magics: Vec<&str> = out
        .lines()
        .map(|l| {
            if l.starts_with("89504e47") {
                "png"
            } else if l.starts_with("ffd8ff") {
                "jpeg"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(magics.iter().filter(|m| **m == "png").count(), 2, "{magics:?}");
    assert_eq!(magics.iter().filter(|m| **m == "jpeg").count(), 1, "{magics:?}");
}

#[test]
fn two_mht_exports_of_one_conversation_merge_and_a_broken_image_is_reported() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let (archive, s) = backup(
        t.path(),
        &[
            &fx.join("mht/trimmed-lf.mht"),
            &fx.join("mht/truncated-image.mht"),
        ],
    );
    let c = one_conversation(&archive);
    assert_eq!(c["name"], "对方");
    assert_eq!(c["group"], "好友");
    assert_eq!(c["messages"], 27);
    let reports = s["export_reports"].as_array().unwrap();
    let trunc = reports
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("truncated-image.mht"))
        .unwrap();
    assert_eq!(trunc["messages"], 14);
    let problems = trunc["problems"].to_string();
    assert!(
        problems.contains("damaged"),
        "the broken image is reported: {problems}"
    );
    // Each file alone gives 14.
    let (archive, _) = backup(t.path(), &[&fx.join("mht/trimmed-lf.mht")]);
    assert_eq!(one_conversation(&archive)["messages"], 14);
}

#[test]
fn shared_qce_txt_sample_gives_778_messages() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let (archive, s) = backup(t.path(), &[&fx.join("qce/private-2023-qce.anon.txt")]);
    assert_eq!(s["messages"], 778);
    let c = one_conversation(&archive);
    // The header was cut off: the file name names the conversation.
    assert_eq!(c["name"], "private-2023-qce.anon");
}

/// The same Message Manager export in every supported encoding.
fn txt_export() -> String {
    let sep = "=".repeat(64);
    format!(
        "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:张三\r\n{sep}\r\n\r\n\
2012-04-11 8:05:07 张三\r\n早上好\r第二行\r\n\r\n\
2012-04-11 21:40:00 我\r\n晚安\n明天见\r\n\r\n"
    )
}

#[test]
fn every_encoding_gives_the_same_conversation_and_a_utf8_rendition() {
    let t = tempfile::tempdir().unwrap();
    let text = txt_export();
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "utf8bom.txt",
            [b"\xEF\xBB\xBF".to_vec(), text.as_bytes().to_vec()].concat(),
            "utf-8-bom",
        ),
        ("utf8.txt", text.as_bytes().to_vec(), "utf-8"),
        (
            "utf16le.txt",
            [vec![0xFF, 0xFE], utf16le.clone()].concat(),
            "utf-16le-bom",
        ),
        (
            "utf16be.txt",
            [vec![0xFE, 0xFF], utf16be].concat(),
            "utf-16be-bom",
        ),
        ("utf16le-nobom.txt", utf16le, "utf-16le"),
        ("gb18030.txt", gb.to_vec(), "gb18030"),
    ];
    for (name, bytes, label) in cases {
        let dir = t.path().join(name.replace('.', "_"));
        write(&dir.join(name), &bytes);
        let (archive, s) = backup(&dir, &[&dir.join(name)]);
        assert_eq!(s["encodings"][label], 1, "{name}: {s}");
        let c = one_conversation(&archive);
        assert_eq!(c["name"], "张三", "{name}");
        let msgs = show(&archive, "张三", &[]);
        assert_eq!(msgs.len(), 2, "{name}");
        assert_eq!(msgs[0]["text"], "早上好\n第二行", "{name}");
        assert_eq!(msgs[0]["time"], "2012-04-11T08:05:07", "{name}");
        assert_eq!(msgs[0]["sender"], "张三");
        assert!(msgs[0]["sender_id"].is_null());
        assert_eq!(msgs[1]["text"], "晚安\n明天见", "{name}");
        // Exports in another encoding get a UTF-8 rendition next to the untouched original.
        let rendition = python(
            "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nm = json.loads(z.read('manifest.json'))\ne = m['exports'][0]\nprint(e.get('utf8_entry') or '')\nif e.get('utf8_entry'):\n    print(z.read(e['utf8_entry']).decode('utf-8') == sys.argv[2])",
            &[&archive, Path::new(&text)],
        );
        let out = stdout(&rendition);
        if label.starts_with("utf-8") {
            assert_eq!(out.trim(), "", "{name}: no rendition for UTF-8");
        } else {
            assert!(
                out.contains("True"),
                "{name}: rendition equals the text: {out}{}",
                stderr(&rendition)
            );
        }
        let back = dir.join("back");
        expect_code(
            &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
            0,
        );
        assert_eq!(
            fs::read(back.join(name).join(name)).unwrap_or_else(|_| fs::read(back.join(name)).unwrap()),
            bytes
        );
    }
}

#[test]
fn the_sample_shipped_in_fixtures_is_read_whole() {
    let t = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let (archive, s) = backup(t.path(), &[&sample]);
    assert_eq!(s["files"], 9);
    assert_eq!(s["unique_files"], 8);
    assert_eq!(s["conversations"], 4);
    // 大学同学群 5, 小明 4 (TXT 2 and MHT 4, 2 the same), 老同学 2, 周末爬山群 3.
    assert_eq!(s["messages"], 14);
    assert_eq!(s["exports"]["legacy-msg-db"], 1);
    let convs = list(&archive);
    let by_name = |n: &str| {
        convs
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {convs:?}"))
            .clone()
    };
    assert_eq!(by_name("小明")["messages"], 4);
    assert_eq!(by_name("大学同学群")["messages"], 5);
    assert_eq!(by_name("老同学")["messages"], 2);
    assert_eq!(by_name("周末爬山群")["messages"], 3);
    // QCE epoch times become wall times at +08:00 by default.
    let q = show(&archive, "周末爬山群", &[]);
    assert_eq!(q[0]["time"], "2024-01-01T08:00:00");
    // The MHT image identical to a photo shares its entry.
    let x = show(&archive, "小明", &[]);
    let att = x
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap().clone())
        .collect::<Vec<_>>();
    assert_eq!(att.len(), 2);
    assert!(
        att.iter().any(|a| a["entry"]
            .as_str()
            .unwrap()
            .starts_with("files/sample/Tencent Files/")),
        "{att:?}"
    );
    assert!(
        att.iter()
            .any(|a| a["entry"].as_str().unwrap().starts_with("media/")),
        "{att:?}"
    );
    unzip_test(&archive);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    // A different --tz moves QCE wall times.
    let o = run(&[
        "backup",
        sample.to_str().unwrap(),
        "-o",
        t.path().join("utc.zip").to_str().unwrap(),
        "--tz",
        "UTC",
    ]);
    expect_code(&o, 0);
    let q = show(&t.path().join("utc.zip"), "周末爬山群", &[]);
    assert_eq!(q[0]["time"], "2024-01-01T00:00:00");
    let o = run(&[
        "backup",
        sample.to_str().unwrap(),
        "-o",
        t.path().join("bad.zip").to_str().unwrap(),
        "--tz",
        "Mars/Base",
    ]);
    expect_code(&o, 2);
}

#[test]
fn ambiguous_or_unknown_names_are_errors_listing_candidates() {
    let t = tempfile::tempdir().unwrap();
    let sep = "=".repeat(64);
    let body = |group: &str| {
        format!("{sep}\r\n消息分组:{group}\r\n{sep}\r\n消息对象:同名\r\n{sep}\r\n\r\n2020-01-01 10:00:00 甲(123456)\r\n你好\r\n\r\n")
    };
    write(
        &t.path().join("in/a.txt"),
        format!("{}{}", body("我的QQ群"), body("我的好友")).as_bytes(),
    );
    let (archive, _) = backup(t.path(), &[&t.path().join("in")]);
    let o = run(&["show", archive.to_str().unwrap(), "同名"]);
    expect_code(&o, 2);
    let ids: Vec<String> = list(&archive)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert!(
            stderr(&o).contains(id.as_str()),
            "candidates listed: {}",
            stderr(&o)
        );
        assert_eq!(show(&archive, id, &[]).len(), 1);
    }
    expect_code(&run(&["show", archive.to_str().unwrap(), "没有这个人"]), 2);
}

#[test]
fn a_non_empty_export_that_yields_nothing_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let sep = "=".repeat(64);
    write(
        &t.path().join("in/broken.txt"),
        format!("消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:某人\r\n{sep}\r\n\r\n这里没有任何消息头\r\n只是一些文字\r\n").as_bytes(),
    );
    let (_, s) = backup(t.path(), &[&t.path().join("in")]);
    assert_eq!(s["messages"], 0);
    assert!(s["lines_not_understood"].as_u64().unwrap() >= 2, "{s}");
    let r = &s["export_reports"][0];
    assert!(r["problems"].to_string().contains("no message"), "{r}");
}

/// A Message Manager TXT export of one conversation: `n` messages from `start` on, every
/// `step`-th one a second apart, in the order given by `order`.
fn generated_txt(peer: &str, n: usize, order: impl Fn(usize) -> usize) -> String {
    let sep = "=".repeat(64);
    let mut s = format!(
        "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:{peer}\r\n{sep}\r\n\r\n"
    );
    for k in 0..n {
        let i = order(k);
        let (h, m, sec) = (i / 3600 % 24, i / 60 % 60, i % 60);
        // Every fifth message is sent twice in the same second: both copies count.
        let copies = if i.is_multiple_of(5) { 2 } else { 1 };
        for _ in 0..copies {
            s.push_str(&format!(
                "2015-06-{:02} {h}:{m:02}:{sec:02} {peer}\r\n第{i}条消息 [图片]\r\n\r\n",
                1 + i / 86400
            ));
        }
    }
    s
}

fn entries_under(archive: &Path, prefixes: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).unwrap();
            out.push((name, data));
        }
    }
    out
}

/// The merge may wait in temporary files (here after every message), and text exports may be
/// parsed ahead, beside the writing of the files: the conversations, transcripts and viewer
/// pages are byte for byte those of a merge held in memory after the files, and no temporary
/// file is left beside the archive.
#[test]
fn a_merge_through_temporary_files_gives_the_same_archive() {
    let t = tempfile::tempdir().unwrap();
    let inputs = t.path().join("in");
    // Two overlapping exports of one conversation (the second out of time order in blocks),
    // and a third conversation; plus the sample that ships with the project.
    write(
        &inputs.join("a/全部消息记录.txt"),
        generated_txt("张三", 3000, |k| k).as_bytes(),
    );
    write(
        &inputs.join("b/全部消息记录.txt"),
        generated_txt("张三", 2000, |k| (k % 400) * 5 + k / 400 + 1500).as_bytes(),
    );
    write(
        &inputs.join("b/李四.txt"),
        generated_txt("李四", 500, |k| 499 - k).as_bytes(),
    );
    // A line the parser does not understand, and an export in GB18030 (kept with a UTF-8
    // rendition): both are reported alike whenever the export is parsed.
    write(
        &inputs.join("c/王五.txt"),
        generated_txt("王五", 50, |k| k)
            .replacen("\r\n\r\n", "\r\n\r\n这一行不是消息记录\r\n", 1)
            .as_bytes(),
    );
    write(
        &inputs.join("c/赵六.txt"),
        &encoding_rs::GB18030.encode(&generated_txt("赵六", 40, |k| k)).0,
    );
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let mut summaries = Vec::new();
    let mut contents = Vec::new();
    for (name, budget, ahead) in [
        ("memory", None, "18446744073709551615"),
        ("spilled", Some("0"), "18446744073709551615"),
        ("small", Some("5000"), "18446744073709551615"),
        ("ahead", Some("5000"), "0"),
        ("ahead-memory", None, "0"),
    ] {
        let out = t.path().join(name);
        fs::create_dir_all(&out).unwrap();
        let archive = out.join("a.zip");
        let mut cmd = qqvault();
        cmd.args(["backup", inputs.to_str().unwrap(), sample.to_str().unwrap(), "-o"])
            .arg(&archive)
            .arg("--json");
        match budget {
            Some(b) => cmd.env("QQVAULT_MERGE_BUDGET", b),
            None => cmd.env_remove("QQVAULT_MERGE_BUDGET"),
        };
        cmd.env("QQVAULT_PARSE_AHEAD_MIN", ahead);
        let o = cmd.output().unwrap();
        expect_code(&o, 0);
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("a.zip")],
            "{name}: files left beside the archive"
        );
        let mut summary = json(&o);
        summary.as_object_mut().unwrap().remove("archive");
        summary.as_object_mut().unwrap().remove("archive_bytes");
        summary.as_object_mut().unwrap().remove("timings");
        assert_eq!(summary["lines_not_understood"], 1, "{name}: {summary}");
        summaries.push(summary);
        contents.push(entries_under(&archive, &["chats/", "viewer/", "text/"]));
    }
    // 张三: times 0..3000 in the first export and 1500..3500 in the second, every fifth twice.
    let conv = contents[0]
        .iter()
        .filter(|(n, _)| n.ends_with("messages.jsonl"))
        .map(|(_, d)| d.iter().filter(|&&b| b == b'\n').count())
        .max()
        .unwrap();
    assert_eq!(conv, 3500 + 700);
    assert!(contents[0].len() > 10);
    for other in &summaries[1..] {
        assert_eq!(&summaries[0], other);
    }
    for other in &contents[1..] {
        assert_eq!(other.len(), contents[0].len());
        for (a, b) in contents[0].iter().zip(other) {
            assert_eq!(a.0, b.0);
            assert!(a.1 == b.1, "{} differs", a.0);
        }
    }
}

/// An "all messages" export of many conversations, merged through temporary files with the
/// smallest budget, under a limit of open files far below the number of conversations: the
/// runs are opened one conversation at a time (they were all opened at once, and the backup
/// failed with "too many open files").
#[cfg(unix)]
#[test]
fn many_conversations_merge_within_a_small_limit_of_open_files() {
    let t = tempfile::tempdir().unwrap();
    let sep = "=".repeat(64);
    let mut text = String::from("消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n");
    for c in 0..600 {
        text.push_str(&format!(
            "{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:好友{c}\r\n{sep}\r\n\r\n"
        ));
        for m in 0..3 {
            text.push_str(&format!(
                "2019-0{}-01 10:00:0{m} 好友{c}\r\n第{m}条\r\n\r\n",
                9 - m
            ));
        }
    }
    write(&t.path().join("in/全部消息记录.txt"), text.as_bytes());
    let archive = t.path().join("a.zip");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" backup \"$1\" -o \"$2\" --json --no-index")
        .arg(env!("CARGO_BIN_EXE_qqvault"))
        .arg(t.path().join("in"))
        .arg(&archive)
        .env("QQVAULT_MERGE_BUDGET", "0")
        .output()
        .unwrap();
    expect_code(&o, 0);
    let s = json(&o);
    assert_eq!(s["conversations"], 600);
    assert_eq!(s["messages"], 1800);
    // Each conversation's messages come out in time order (they were written newest first).
    let l = list(&archive);
    let one = l.iter().find(|c| c["name"] == "好友7").unwrap();
    let msgs = show(&archive, one["id"].as_str().unwrap(), &[]);
    let texts: Vec<&str> = msgs.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["第2条", "第1条", "第0条"]);
}

/// A qq-chat-exporter JSON export whose messages name resources kept beside it.
fn qce_json(messages: &[(u64, &str, &[&str])]) -> String {
    let msgs: Vec<String> = messages
        .iter()
        .map(|(secs, text, files)| {
            let res: Vec<String> = files
                .iter()
                .map(|f| format!("{{\"type\": \"image\", \"filename\": \"{f}\", \"size\": 1}}"))
                .collect();
            format!(
                "{{\"timestamp\": {}, \"sender\": {{\"uin\": \"10001\", \"name\": \"甲\"}}, \"type\": \"text\", \"content\": {{\"text\": \"{text}\", \"resources\": [{}]}}}}",
                secs * 1000,
                res.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"metadata\": {{\"name\": \"QQChatExporter\", \"version\": \"6.0.0\"}}, \"chatInfo\": {{\"name\": \"资源群\", \"type\": \"group\", \"peerUid\": \"g_1\"}}, \"messages\": [{}]}}",
        msgs.join(", ")
    )
}

#[test]
fn qce_resources_beside_the_export_are_linked_to_its_messages() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("exports");
    let pic = [&[0xffu8, 0xd8, 0xff, 0xe0][..], &noise(1, 5000)].concat();
    let clip = noise(2, 7000);
    // Named in other case than on disk (Windows does not tell them apart); one resource that
    // was not copied; the same picture as a photo elsewhere (stored once).
    write(&input.join("group_资源群/resources/images/A1.JPG"), &pic);
    write(&input.join("group_资源群/resources/videos/v1.mp4"), &clip);
    write(&input.join("photos/copy.jpg"), &pic);
    let export = qce_json(&[
        (1_700_000_000, "看图", &["a1.jpg"]),
        (1_700_000_060, "视频", &["V1.mp4", "gone.png"]),
        (1_700_000_120, "没有附件", &[]),
    ]);
    write(&input.join("group_资源群/group_资源群.json"), export.as_bytes());
    let (archive, s) = backup(t.path(), &[&input]);
    assert_eq!(s["messages"], 3, "{s}");
    let report = &s["export_reports"][0];
    assert_eq!(report["images_found"], 2, "{report}");
    let msgs = show(&archive, "资源群", &[]);
    let atts: Vec<serde_json::Value> = msgs
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap().clone())
        .collect();
    assert_eq!(atts.len(), 3, "{atts:?}");
    let linked: Vec<&serde_json::Value> = atts.iter().filter(|a| !a["entry"].is_null()).collect();
    assert_eq!(linked.len(), 2, "{atts:?}");
    // Each linked entry holds the resource's bytes, with the hash named.
    let o = python(
        "import sys, zipfile, hashlib, json\nz = zipfile.ZipFile(sys.argv[1])\nfor a in json.loads(sys.argv[2]):\n    d = z.read(a['entry'])\n    assert hashlib.sha256(d).hexdigest() == a['sha256'], a\n    print(len(d))",
        &[&archive, Path::new(&serde_json::to_string(&linked).unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut sizes: Vec<usize> = stdout(&o).lines().map(|l| l.parse().unwrap()).collect();
    sizes.sort();
    assert_eq!(sizes, [pic.len(), clip.len()]);
    // The viewer shows the picture from the archive and says one attachment is missing.
    let pages = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint('\\n'.join(z.read(n).decode() for n in z.namelist() if n.startswith('viewer/chats/') and n.endswith('.html')))",
        &[&archive],
    );
    let html = stdout(&pages);
    assert!(html.contains("<img"), "no picture shown");
    assert_eq!(html.matches("not in the archive: gone.png").count(), 1, "{html}");
    assert!(!html.contains("not in the archive: a1.jpg"), "{html}");
    assert!(!html.contains("not in the archive: V1.mp4"), "{html}");
}
