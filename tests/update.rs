//! End-to-end: `backup --update` grows one archive: new files stored once, changed paths keep
//! their earlier content as a version, conversations merge to the union, nothing is lost.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn export(msgs: &[(&str, &str, &str)]) -> Vec<u8> {
    let sep = "=".repeat(64);
    let mut s = format!("\u{feff}消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:小明\r\n{sep}\r\n\r\n");
    for (time, sender, text) in msgs {
        s.push_str(&format!("{time} {sender}\r\n{text}\r\n\r\n"));
    }
    s.into_bytes()
}

fn messages(archive: &Path) -> Vec<(String, String, String)> {
    let o = run(&["show", archive.to_str().unwrap(), "小明", "--json"]);
    expect_code(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["time"].as_str().unwrap().into(),
                v["sender"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn manifest(archive: &Path) -> serde_json::Value {
    let o = python(
        "import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).read('manifest.json').decode())",
        &[archive],
    );
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn files_of(m: &serde_json::Value) -> BTreeSet<(String, String)> {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["sha256"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn overlapping_exports_give_exactly_the_union() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("导出");
    let archive = t.path().join("a.zip");
    // The first export: a message sent twice in the same second (both count), and one that
    // the later export no longer has.
    write(
        &src.join("全部消息记录.txt"),
        &export(&[
            ("2020-01-01 10:00:00", "小明", "早"),
            ("2020-01-01 10:00:05", "小明", "在吗"),
            ("2020-01-01 10:00:05", "小明", "在吗"),
            ("2020-01-01 10:01:00", "我", "在"),
        ]),
    );
    write(&src.join("photo.jpg"), &noise(1, 5000));
    let s1 = backup_json(&src, &archive, &[]);
    assert_eq!(s1["messages"], 4);
    write(
        &src.join("全部消息记录.txt"),
        &export(&[
            ("2020-01-01 10:00:05", "小明", "在吗"),
            ("2020-01-01 10:01:00", "我", "在"),
            ("2020-01-02 08:00:00", "小明", "新的一天"),
        ]),
    );
    write(&src.join("copy-of-photo.jpg"), &noise(1, 5000));
    let before = fs::read(&archive).unwrap();
    // The dry run says what would happen and writes nothing.
    let o = run(&[
        "backup",
        src.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--update",
        "--dry-run",
        "--json",
    ]);
    expect_code(&o, 0);
    let plan = json(&o)["update"].clone();
    assert_eq!(plan["added"], serde_json::json!(["导出/copy-of-photo.jpg"]));
    assert_eq!(plan["changed"], serde_json::json!(["导出/全部消息记录.txt"]));
    assert_eq!(plan["unchanged"], 1);
    assert_eq!(plan["new_contents"], 1, "the copied photo is stored already");
    assert_eq!(fs::read(&archive).unwrap(), before);
    assert!(!t.path().join("a.zip.partial").exists());

    let s2 = backup_json(&src, &archive, &["--update"]);
    assert_eq!(s2["unique_files"], 2, "the photo copy is not stored again");
    let got = messages(&archive);
    let want = vec![
        (
            "2020-01-01T10:00:00".to_string(),
            "小明".to_string(),
            "早".to_string(),
        ),
        ("2020-01-01T10:00:05".into(), "小明".into(), "在吗".into()),
        ("2020-01-01T10:00:05".into(), "小明".into(), "在吗".into()),
        ("2020-01-01T10:01:00".into(), "我".into(), "在".into()),
        ("2020-01-02T08:00:00".into(), "小明".into(), "新的一天".into()),
    ];
    assert_eq!(got, want);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    unzip_test(&archive);
    // The newest content takes the path; the earlier one is a version.
    let m = manifest(&archive);
    let versions = m["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["path"], "导出/全部消息记录.txt");
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(
        fs::read(back.join("导出/全部消息记录.txt")).unwrap(),
        fs::read(src.join("全部消息记录.txt")).unwrap()
    );
    assert_eq!(
        fs::read(back.join("导出/copy-of-photo.jpg")).unwrap(),
        noise(1, 5000)
    );
    let all = t.path().join("all");
    expect_code(
        &run(&[
            "restore",
            archive.to_str().unwrap(),
            "-o",
            all.to_str().unwrap(),
            "--versions",
        ]),
        0,
    );
    let when = versions[0]["replaced"].as_str().unwrap().replace(':', "-");
    let earlier = fs::read(all.join("versions").join(when).join("导出/全部消息记录.txt")).unwrap();
    assert!(
        String::from_utf8_lossy(&earlier).contains("早"),
        "the earlier export comes back too"
    );
    // Searching finds the message only the earlier export had.
    let o = run(&["search", archive.to_str().unwrap(), "早"]);
    expect_code(&o, 0);
}

#[test]
fn an_update_with_nothing_new_keeps_the_same_contents() {
    let t = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let archive = t.path().join("a.zip");
    let s1 = backup_json(&sample, &archive, &[]);
    let m1 = manifest(&archive);
    let list1 = stdout(&run(&["list", archive.to_str().unwrap(), "--json"]));
    let s2 = backup_json(&sample, &archive, &["--update"]);
    let m2 = manifest(&archive);
    assert_eq!(files_of(&m1), files_of(&m2));
    assert_eq!(s1["messages"], s2["messages"]);
    assert_eq!(s1["unique_files"], s2["unique_files"]);
    assert_eq!(
        list1,
        stdout(&run(&["list", archive.to_str().unwrap(), "--json"]))
    );
    assert!(m2.get("versions").is_none() || m2["versions"].as_array().unwrap().is_empty());
    assert_eq!(s2["update"]["unchanged"], s1["files"]);
    assert_eq!(s2["update"]["new_contents"], 0);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    // Conversations are the same message for message.
    for c in stdout(&run(&["list", archive.to_str().unwrap(), "--json"])).lines() {
        let id = serde_json::from_str::<serde_json::Value>(c).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!stdout(&run(&["show", archive.to_str().unwrap(), &id, "--json"])).is_empty());
    }
}

#[test]
fn a_new_input_joins_and_inputs_of_the_same_name_share_their_folder() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("a.zip");
    write(&t.path().join("一/照片/a.jpg"), &noise(2, 3000));
    write(&t.path().join("二/照片/b.jpg"), &noise(3, 3000));
    write(&t.path().join("新/other.txt"), b"hello");
    backup_json(&t.path().join("一/照片"), &archive, &[]);
    let o = run(&[
        "backup",
        t.path().join("二/照片").to_str().unwrap(),
        t.path().join("新").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--update",
        "--json",
    ]);
    expect_code(&o, 0);
    let m = manifest(&archive);
    let paths: Vec<String> = files_of(&m).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["新/other.txt", "照片/a.jpg", "照片/b.jpg"]);
}

#[test]
fn update_needs_an_archive() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/a.txt"), b"a");
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        t.path().join("none.zip").to_str().unwrap(),
        "--update",
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--update"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn an_interrupted_update_leaves_the_old_archive_intact() {
    let t = tempfile::tempdir().unwrap();
    let archive = t.path().join("a.zip");
    write(&t.path().join("in/small.txt"), b"before the update");
    backup_json(&t.path().join("in"), &archive, &[]);
    let before = fs::read(&archive).unwrap();
    for i in 0..5 {
        write(
            &t.path().join(format!("in/big{i}.bin")),
            &noise(40 + i, 40_000_000),
        );
    }
    let partial = t.path().join("a.zip.partial");
    kill_mid_write(
        &[
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--update",
        ],
        &partial,
        5_000_000,
    );
    assert_eq!(fs::read(&archive).unwrap(), before);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let o = run(&["search", archive.to_str().unwrap(), "x"]);
    assert_ne!(code(&o), 2, "the old archive is still usable: {}", stderr(&o));
}

#[test]
fn an_earlier_export_stays_read_when_its_path_takes_content_stored_elsewhere() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("exp");
    let archive = t.path().join("a.zip");
    let a = export(&[
        ("2020-01-01 10:00:00", "小明", "只在旧的导出里"),
        ("2020-01-01 10:00:01", "小明", "二"),
    ]);
    let b = export(&[
        ("2020-01-01 10:00:01", "小明", "二"),
        ("2020-01-01 10:00:02", "小明", "三"),
    ]);
    write(&src.join("全部消息记录.txt"), &a);
    write(&src.join("另一份.txt"), &b);
    backup_json(&src, &archive, &[]);
    assert_eq!(messages(&archive).len(), 3);
    // The path now holds what the archive already stores under the other name.
    write(&src.join("全部消息记录.txt"), &b);
    backup_json(&src, &archive, &["--update"]);
    assert_eq!(messages(&archive).len(), 3, "the earlier export's messages stay");
    // And again, with nothing new: still found by its entry, not by its path.
    backup_json(&src, &archive, &["--update"]);
    let texts: Vec<String> = messages(&archive).into_iter().map(|m| m.2).collect();
    assert_eq!(texts, ["只在旧的导出里", "二", "三"]);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let all = t.path().join("all");
    expect_code(
        &run(&[
            "restore",
            archive.to_str().unwrap(),
            "-o",
            all.to_str().unwrap(),
            "--versions",
        ]),
        0,
    );
    let m = manifest(&archive);
    let when = m["versions"][0]["replaced"].as_str().unwrap().replace(':', "-");
    assert_eq!(
        fs::read(all.join("versions").join(when).join("exp/全部消息记录.txt")).unwrap(),
        a
    );
}

#[test]
fn a_damaged_archive_is_not_updated() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    write(&input.join("a.txt"), &noise(9, 2000));
    write(&input.join("photo.jpg"), &noise(10, 300_000));
    write(
        &input.join("小明.txt"),
        txt("小明", &chatter("小明", 0, 200)).as_bytes(),
    );
    let archive = t.path().join("a.zip");
    backup_json(&input, &archive, &[]);
    let good = fs::read(&archive).unwrap();
    let n = good.len();
    // Damage in a photo's data, the conversations, the pages, the manifest, the directory:
    // whether the update copies the entry raw or reads it, it is refused, dry run included.
    // And a name in the local header of the second entry (the first original), which an
    // update copies as part of one block.
    let o = python(
        "import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).infolist()[1].header_offset + 32)",
        &[&archive],
    );
    let in_header: usize = stdout(&o).trim().parse().unwrap();
    // With nothing new, and with a new export of the same conversation (whose earlier export
    // is then read again from the archive).
    let more = t.path().join("more");
    write(
        &more.join("小明.txt"),
        txt("小明", &chatter("小明", 150, 100)).as_bytes(),
    );
    for at in [in_header, n / 10, n / 3, n / 2, 3 * n / 4, n - 300] {
        let mut bytes = good.clone();
        bytes[at] ^= 1;
        fs::write(&archive, &bytes).unwrap();
        for (dry, new) in [(true, false), (false, false), (false, true)] {
            let mut args = vec![
                "backup",
                input.to_str().unwrap(),
                "-o",
                archive.to_str().unwrap(),
                "--update",
            ];
            if dry {
                args.push("--dry-run");
            }
            if new {
                args.push(more.to_str().unwrap());
            }
            let o = run(&args);
            expect_code(&o, 2);
            assert!(stderr(&o).contains("damaged"), "byte {at}: {}", stderr(&o));
            assert_eq!(fs::read(&archive).unwrap(), bytes, "left as it was");
            assert!(!t.path().join("a.zip.partial").exists(), "nothing left behind");
        }
    }
}

#[test]
fn damage_in_the_index_refuses_an_update_that_extends_it() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    write(
        &input.join("小明.txt"),
        txt("小明", &chatter("小明", 0, 3000)).as_bytes(),
    );
    let archive = t.path().join("a.zip");
    backup_json(&input, &archive, &[]);
    // A byte in the middle of the largest index file (stored: its data lies as it is).
    let o = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\ni = max((i for i in z.infolist() if i.filename.startswith('index/') and not i.filename.endswith('.json')), key=lambda i: i.file_size)\nf = open(sys.argv[1], 'rb'); f.seek(i.header_offset + 26); n, m = int.from_bytes(f.read(2), 'little'), int.from_bytes(f.read(2), 'little')\nprint(i.header_offset + 30 + n + m + i.file_size // 2)",
        &[&archive],
    );
    let at: usize = stdout(&o).trim().parse().unwrap();
    let good = fs::read(&archive).unwrap();
    let mut bytes = good.clone();
    bytes[at] ^= 0x20;
    // Another conversation: the earlier one is carried over and its index extended.
    let more = t.path().join("more");
    write(
        &more.join("小红.txt"),
        txt("小红", &chatter("小红", 0, 50)).as_bytes(),
    );
    let update = || {
        run(&[
            "backup",
            more.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--update",
        ])
    };
    fs::write(&archive, &bytes).unwrap();
    let o = update();
    expect_code(&o, 2);
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
    assert_eq!(fs::read(&archive).unwrap(), bytes, "left as it was");
    assert!(!t.path().join("a.zip.partial").exists(), "nothing left behind");
    // The same damage under a seal made to match it: the index file's own CRC-32 refuses it
    // before the index reader opens it.
    let forged = t.path().join("forged.zip");
    fs::write(&forged, &bytes).unwrap();
    let o = python(
        "import sys, hashlib\np = sys.argv[1]\nb = bytearray(open(p, 'rb').read())\nat = b.rfind(b'qqvault-seal ')\ntext = b[at:].decode()\nlines = text.split('\\n')\nlines[1] = 'sha256 ' + hashlib.sha256(b[:at]).hexdigest()\ntext = '\\n'.join(lines)\nc = text.rfind('check ')\ntext = text[:c] + 'check ' + hashlib.sha256(text[:c].encode()).hexdigest() + '\\n'\nassert len(text) == len(b) - at\nb[at:] = text.encode()\nopen(p, 'wb').write(b)",
        &[&forged],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    fs::rename(&forged, &archive).unwrap();
    let sealed = fs::read(&archive).unwrap();
    let o = run(&["verify", archive.to_str().unwrap()]);
    assert!(stdout(&o).contains("crc_mismatch"), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("seal_mismatch"),
        "the seal matches: {}",
        stdout(&o)
    );
    let o = update();
    expect_code(&o, 2);
    assert!(stderr(&o).contains("does not match its CRC-32"), "{}", stderr(&o));
    assert_eq!(fs::read(&archive).unwrap(), sealed, "left as it was");
    assert!(!t.path().join("a.zip.partial").exists(), "nothing left behind");
    drop(good);
}

/// A TXT export of one conversation with a friend.
fn export_of(friend: &str, msgs: &[(&str, &str, &str)]) -> String {
    let sep = "=".repeat(64);
    let mut s = format!("\u{feff}消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:{friend}\r\n{sep}\r\n\r\n");
    for (time, sender, text) in msgs {
        s.push_str(&format!("{time} {sender}\r\n{text}\r\n\r\n"));
    }
    s
}

/// `n` messages a minute apart from `start` (minutes after 2021-03-01 08:00).
fn chatter(friend: &str, start: u32, n: u32) -> Vec<(String, String, String)> {
    (start..start + n)
        .map(|i| {
            let (h, m) = (8 + i / 60, i % 60);
            let who = if i % 3 == 0 { "我" } else { friend };
            (
                format!("2021-03-01 {h:02}:{m:02}:00"),
                who.to_string(),
                format!("{friend}说第{i}句 苹果{}", i % 7),
            )
        })
        .collect()
}

fn txt(friend: &str, msgs: &[(String, String, String)]) -> String {
    let v: Vec<(&str, &str, &str)> = msgs
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    export_of(friend, &v)
}

/// Every entry whose name starts with one of `prefixes`, with its bytes (hex-free: lossy text).
fn entries(archive: &Path, prefixes: &[&str]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let o = python(
        "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nprint(json.dumps({n: z.read(n).hex() for n in z.namelist()}))",
        &[archive],
    );
    let all: std::collections::BTreeMap<String, String> = serde_json::from_str(&stdout(&o)).unwrap();
    all.into_iter()
        .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
        .map(|(n, h)| {
            let bytes = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect();
            (n, bytes)
        })
        .collect()
}

fn conversations_by_id(m: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    m["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn search_all(archive: &Path, query: &str) -> String {
    let o = run(&[
        "search",
        archive.to_str().unwrap(),
        query,
        "--json",
        "--limit",
        "0",
    ]);
    expect_code(&o, 0);
    assert!(!stderr(&o).contains("scan"), "the index answers: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn an_update_carries_what_no_new_export_touches_and_equals_a_backup_of_everything() {
    let t = tempfile::tempdir().unwrap();
    let first = t.path().join("第一次");
    let second = t.path().join("第二次");
    // First export set: three conversations, one of them in GB18030 (it has a UTF-8 rendition).
    write(
        &first.join("小明.txt"),
        txt("小明", &chatter("小明", 0, 40)).as_bytes(),
    );
    write(
        &first.join("小红.txt"),
        txt("小红", &chatter("小红", 5, 30)).as_bytes(),
    );
    let gang = txt("小刚", &chatter("小刚", 10, 25));
    let (gbk, _, _) = encoding_rs::GB18030.encode(gang.trim_start_matches('\u{feff}'));
    write(&first.join("小刚.txt"), &gbk);
    // Second: 小明 again, overlapping and going on, and a new conversation.
    write(
        &second.join("小明-续.txt"),
        txt("小明", &chatter("小明", 30, 30)).as_bytes(),
    );
    write(
        &second.join("小华.txt"),
        txt("小华", &chatter("小华", 0, 20)).as_bytes(),
    );

    let updated = t.path().join("u.zip");
    backup_json(&first, &updated, &[]);
    let s = backup_json(&second, &updated, &["--update"]);
    let chats = &s["update"]["chats"];
    assert_eq!(chats["carried"], 2, "{s}");
    assert_eq!(chats["merged"], 2, "{s}");
    assert_eq!(chats["exports_parsed_again"], 1, "{s}");
    assert_eq!(chats["rebuilt"], false);
    assert_eq!(chats["index_extended"], true);
    assert!(
        s["update"]["copied_as_block"].as_u64().unwrap() > 0,
        "the earlier archive's start is copied as one block: {s}"
    );
    assert_eq!(s["conversations"], 4);
    assert_eq!(s["messages"], 40 + 30 + 25 + 20 + 20);
    expect_code(&run(&["verify", updated.to_str().unwrap()]), 0);
    unzip_test(&updated);

    // The same inputs backed up at once.
    let whole = t.path().join("whole.zip");
    let o = run(&[
        "backup",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "-o",
        whole.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
    let prefixes = ["chats/", "viewer/", "text/", "media/"];
    let (a, b) = (entries(&updated, &prefixes), entries(&whole, &prefixes));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same derived entries"
    );
    for (name, bytes) in &a {
        assert!(
            b[name] == *bytes,
            "{name} differs from a backup of everything at once"
        );
    }
    let (ma, mb) = (manifest(&updated), manifest(&whole));
    assert_eq!(conversations_by_id(&ma), conversations_by_id(&mb));
    let exports = |m: &serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
        m["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["path"].as_str().unwrap().to_string(), x.clone()))
            .collect()
    };
    assert_eq!(exports(&ma), exports(&mb));
    for q in ["苹果3", "小明说第3", "小刚", "说第1句", "小华说"] {
        assert_eq!(search_all(&updated, q), search_all(&whole, q), "search {q}");
    }

    // Nothing new: every conversation is carried, nothing is parsed, the contents stay.
    let before = entries(&updated, &prefixes);
    let s = backup_json(&second, &updated, &["--update"]);
    assert_eq!(s["update"]["chats"]["carried"], 4, "{s}");
    assert_eq!(s["update"]["chats"]["merged"], 0);
    assert_eq!(s["update"]["chats"]["exports_parsed_again"], 0);
    assert_eq!(entries(&updated, &prefixes), before);
    assert_eq!(search_all(&updated, "苹果3"), search_all(&whole, "苹果3"));
    expect_code(&run(&["verify", updated.to_str().unwrap()]), 0);
}

/// Every attachment a conversation links to: (entry, sha256 the message records).
fn links(archive: &Path) -> Vec<(String, String)> {
    let o = python(
        "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist():\n    if n.endswith('messages.jsonl'):\n        for l in z.read(n).decode().splitlines():\n            for a in json.loads(l).get('attachments', []):\n                if a.get('entry'):\n                    print(a['entry'] + '\\t' + a['sha256'])",
        &[archive],
    );
    stdout(&o)
        .lines()
        .map(|l| {
            let (e, h) = l.split_once('\t').unwrap();
            (e.to_string(), h.to_string())
        })
        .collect()
}

#[test]
fn a_picture_moved_to_an_earlier_version_is_linked_there_after_an_update() {
    let t = tempfile::tempdir().unwrap();
    let sample = t.path().join("sample");
    for (path, bytes) in tree(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sample")
            .as_path(),
    ) {
        write(&sample.join(path), &bytes);
    }
    let archive = t.path().join("a.zip");
    backup_json(&sample, &archive, &[]);
    let photo = "Tencent Files/12345678/Image/C2C/8F3A2C1D5E6B7A8C9D0E1F2A3B4C5D6E.png";
    let before = links(&archive);
    assert!(
        before.iter().any(|(e, _)| e.ends_with(photo)),
        "the MHT's picture is the photo file's entry: {before:?}"
    );
    // The photo's path gets other content: its earlier content moves to versions/, and the
    // conversation that shows it must follow.
    write(&sample.join(photo), &noise(77, 3000));
    let s = backup_json(&sample, &archive, &["--update"]);
    assert_eq!(
        s["update"]["changed"],
        serde_json::json!([format!("sample/{photo}")])
    );
    assert_eq!(s["update"]["chats"]["rebuilt"], false, "{s}");
    assert!(s["update"]["chats"]["merged"].as_u64().unwrap() >= 1, "{s}");
    let after = links(&archive);
    assert_eq!(after.len(), before.len());
    assert!(
        after
            .iter()
            .any(|(e, _)| e.starts_with("versions/") && e.ends_with(photo)),
        "{after:?}"
    );
    // Every link names an entry that holds the content it says.
    for (entry, sha) in &after {
        let o = python(
            "import sys, zipfile, hashlib\nprint(hashlib.sha256(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])).hexdigest())",
            &[&archive, Path::new(entry)],
        );
        assert_eq!(stdout(&o).trim(), sha, "{entry}");
    }
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
}

/// A chunked-JSONL export (qq-chat-exporter) of one private chat: its manifest and chunks of
/// two messages, one a second from `start` (Unix seconds).
fn chunked_export(dir: &Path, start: u64, n: u64) {
    let mut chunks = Vec::new();
    for (c, first) in (0..n).step_by(2).enumerate() {
        let name = format!("c{:06}.jsonl", c + 1);
        let mut lines = String::new();
        for i in first..(first + 2).min(n) {
            lines.push_str(&format!(
                "{{\"timestamp\":{},\"sender\":{{\"uin\":\"{}\",\"name\":\"{}\"}},\"content\":{{\"text\":\"第{}句 苹果\"}}}}\n",
                (start + i) * 1000,
                if (start + i).is_multiple_of(2) { "10001" } else { "10002" },
                if (start + i).is_multiple_of(2) { "甲" } else { "乙" },
                start + i
            ));
        }
        write(&dir.join("chunks").join(&name), lines.as_bytes());
        chunks.push(format!(
            "{{\"index\": {}, \"fileName\": \"{name}\", \"relativePath\": \"chunks/{name}\", \"count\": 2}}",
            c + 1
        ));
    }
    let manifest = format!(
        "{{\"metadata\": {{\"name\": \"QQChatExporter\"}}, \"chatInfo\": {{\"name\": \"私聊对象\", \"type\": \"private\", \"peerUid\": \"u_p\"}}, \"statistics\": {{\"totalMessages\": {n}}}, \"chunked\": {{\"format\": \"jsonl\", \"chunksDir\": \"chunks\", \"chunkFileExt\": \".jsonl\", \"maxMessagesPerChunk\": 2, \"maxBytesPerChunk\": 0, \"chunks\": [{}]}}}}",
        chunks.join(", ")
    );
    write(&dir.join("manifest.json"), manifest.as_bytes());
}

#[test]
fn a_chunked_export_merged_anew_is_read_with_all_its_chunks() {
    let t = tempfile::tempdir().unwrap();
    let first = t.path().join("first");
    let second = t.path().join("second");
    chunked_export(&first.join("私聊_chunked_jsonl"), 1_690_000_000, 9);
    write(
        &first.join("小红.txt"),
        txt("小红", &chatter("小红", 0, 12)).as_bytes(),
    );
    // The same chat exported again later: overlapping, and going on.
    chunked_export(&second.join("私聊_chunked_jsonl"), 1_690_000_005, 8);
    let archive = t.path().join("a.zip");
    let s1 = backup_json(&first, &archive, &[]);
    assert_eq!(s1["messages"], 9 + 12);
    let s = backup_json(&second, &archive, &["--update"]);
    assert_eq!(s["update"]["chats"]["merged"], 1, "{s}");
    assert_eq!(s["update"]["chats"]["carried"], 1, "{s}");
    // The earlier manifest and its chunks are parsed again together.
    assert_eq!(s["update"]["chats"]["exports_parsed_again"], 1 + 5, "{s}");
    assert_eq!(s["messages"], 13 + 12, "{s}");
    let whole = t.path().join("whole.zip");
    expect_code(
        &run(&[
            "backup",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
            "-o",
            whole.to_str().unwrap(),
        ]),
        0,
    );
    let (a, b) = (entries(&archive, &["chats/"]), entries(&whole, &["chats/"]));
    assert_eq!(a, b, "the same conversations as a backup of everything at once");
    let problems = s["export_reports"].to_string();
    assert!(!problems.contains("not among the inputs"), "{problems}");
}

/// When the first original gets new content it moves to `versions/`, so nothing of the earlier
/// archive is copied as one block: every entry is copied one by one, the check compares each
/// with the earlier archive (from a fresh hash state), and the result is whole for independent
/// readers and holds both contents.
#[test]
fn an_update_without_a_block_compares_the_entries_it_copies() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    write(&input.join("a.txt"), b"first content\n");
    write(
        &input.join("小明.txt"),
        txt("小明", &chatter("小明", 0, 200)).as_bytes(),
    );
    let archive = t.path().join("a.zip");
    backup_json(&input, &archive, &[]);
    write(&input.join("a.txt"), b"second content\n");
    let s = backup_json(&input, &archive, &["--update"]);
    assert_eq!(s["update"]["copied_as_block"], 0, "{s}");
    assert_eq!(s["update"]["chats"]["carried"], 1, "{s}");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let o = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(sorted(n for n in z.namelist() if n.endswith('a.txt')))",
        &[&archive],
    );
    let names = stdout(&o);
    assert!(
        names.contains("files/in/a.txt") && names.contains("versions/"),
        "{names}"
    );
    let out = t.path().join("out");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", out.to_str().unwrap()]),
        0,
    );
    assert_eq!(fs::read(out.join("in/a.txt")).unwrap(), b"second content\n");
}

/// The attachments of the conversations in `archive`, from its JSON Lines: (name, sha256,
/// entry), with each linked entry checked to hold the content of the hash named.
fn linked_attachments(archive: &Path) -> Vec<(String, String, String)> {
    let o = python(
        "import sys, zipfile, json, hashlib\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist():\n    if n.startswith('chats/') and n.endswith('.jsonl'):\n        for line in z.read(n).decode().splitlines():\n            for a in json.loads(line).get('attachments', []):\n                if a['entry']:\n                    assert hashlib.sha256(z.read(a['entry'])).hexdigest() == a['sha256'], a\n                print(json.dumps([a['name'], a['sha256'] or '', a['entry'] or '']))",
        &[archive],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut v: Vec<(String, String, String)> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn qce_resources_that_an_update_brings_or_changes_are_linked() {
    let t = tempfile::tempdir().unwrap();
    // A QCE JSON export backed up alone; its resources folder comes with an update (both
    // inputs are named exp/, so the two share their folder in the archive).
    let (a, b) = (t.path().join("a/exp"), t.path().join("b/exp"));
    let json = "{\"metadata\": {\"name\": \"QQChatExporter\"}, \"chatInfo\": {\"name\": \"图片群\", \"type\": \"group\", \"peerUin\": \"555\"}, \"messages\": [{\"timestamp\": 1700000000000, \"sender\": {\"uin\": \"1\", \"name\": \"甲\"}, \"content\": {\"text\": \"[图片]\", \"resources\": [{\"type\": \"image\", \"filename\": \"a1.jpg\"}]}}]}";
    write(&a.join("g/图片群.json"), json.as_bytes());
    let pic = [&[0xffu8, 0xd8, 0xff, 0xe0][..], &noise(3, 4000)].concat();
    write(&b.join("g/resources/images/A1.JPG"), &pic);
    let archive = t.path().join("a.zip");
    backup_json(&a, &archive, &[]);
    assert_eq!(
        linked_attachments(&archive)[0].2,
        "",
        "not linked without its resources"
    );
    let s = backup_json(&b, &archive, &["--update"]);
    assert_eq!(s["update"]["chats"]["merged"], 1, "merged anew: {s}");
    // Everything at once: one folder exp/ holding both.
    let all = t.path().join("all/exp");
    write(&all.join("g/图片群.json"), json.as_bytes());
    write(&all.join("g/resources/images/A1.JPG"), &pic);
    let whole = t.path().join("whole.zip");
    expect_code(
        &run(&["backup", all.to_str().unwrap(), "-o", whole.to_str().unwrap()]),
        0,
    );
    let linked = linked_attachments(&archive);
    assert_eq!(linked, linked_attachments(&whole), "as in a backup of everything");
    assert_eq!(linked[0].2, "files/exp/g/resources/images/A1.JPG");
    assert_eq!(
        entries(&archive, &["chats/"]),
        entries(&whole, &["chats/"]),
        "the same conversations as a backup of everything"
    );

    // A QCE TXT export with a file among its resources, whose content an update changes: the
    // message links to the new content, the earlier one is kept as an earlier version.
    let (c, d) = (t.path().join("c/txt"), t.path().join("d/txt"));
    let txt = "[QQChatExporter V5 / https://github.com/shuakami/qq-chat-exporter]\n\n聊天名称: 文件群\n聊天类型: 群聊\n\n甲:\n时间: 2024-01-01 10:00:00\n内容: 看文件\n资源: 1 个文件\n  - file: 报告.pdf\n\n\n乙:\n时间: 2024-01-01 10:01:00\n内容: 好的\n";
    write(&c.join("文件群.txt"), txt.as_bytes());
    write(&c.join("resources/files/报告.pdf"), &noise(4, 3000));
    let newer = noise(5, 3100);
    write(&d.join("resources/files/报告.pdf"), &newer);
    let archive = t.path().join("t.zip");
    backup_json(&c, &archive, &[]);
    let before = linked_attachments(&archive);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].2, "files/txt/resources/files/报告.pdf");
    backup_json(&d, &archive, &["--update"]);
    let after = linked_attachments(&archive);
    assert_eq!(after[0].2, "files/txt/resources/files/报告.pdf");
    let sha = stdout(&python(
        "import sys, hashlib\nprint(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        &[&d.join("resources/files/报告.pdf")],
    ))
    .trim()
    .to_string();
    assert_eq!(after[0].1, sha, "linked to the new content");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);

    // The resource's content is stored once, under another path (aaa/ comes first), and an
    // update gives that path new content: the earlier content moves to an earlier version, and
    // the link follows it there.
    let (e, f) = (t.path().join("e/txt"), t.path().join("f/txt"));
    let report = noise(6, 2500);
    write(&e.join("文件群.txt"), txt.as_bytes());
    write(&e.join("resources/files/报告.pdf"), &report);
    write(&e.join("aaa/copy.pdf"), &report);
    write(&f.join("aaa/copy.pdf"), &noise(7, 2600));
    let archive = t.path().join("v.zip");
    backup_json(&e, &archive, &[]);
    assert_eq!(linked_attachments(&archive)[0].2, "files/txt/aaa/copy.pdf");
    backup_json(&f, &archive, &["--update"]);
    let moved = linked_attachments(&archive);
    assert!(moved[0].2.starts_with("versions/"), "{moved:?}");
}
