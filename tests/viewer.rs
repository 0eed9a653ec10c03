//! End-to-end: the viewer pages an archive carries, opened after a plain unzip, in a real
//! browser (headless Chromium, skipped with a message when it is not installed); `export` in
//! its three forms; `info` and its verdict; pages split under the size limit.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAX_PAGE: u64 = 2 * 1024 * 1024;

// ------------------------------------------------------------------ helpers

/// Backs up `inputs` into `dir/name`, expecting `code`.
fn backup_to(dir: &Path, name: &str, inputs: &[&Path], extra: &[&str], code: i32) -> PathBuf {
    let archive = dir.join(name);
    let mut c = qqvault();
    c.arg("backup");
    for i in inputs {
        c.arg(i);
    }
    c.arg("-o").arg(&archive).arg("--force").args(extra);
    let o = c.output().unwrap();
    expect_code(&o, code);
    archive
}

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else if e.file_type().is_file() {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Unzips with an independent tool (Python's zipfile, else unzip). None when neither exists.
fn unzip_with_a_tool(archive: &Path, dest: &Path) -> Option<()> {
    fs::create_dir_all(dest).unwrap();
    if have("python3") {
        let o = python(
            "import sys, zipfile\nzipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
            &[archive, dest],
        );
        assert!(o.status.success(), "python unzip: {}", stderr(&o));
        return Some(());
    }
    if have("unzip") {
        let o = Command::new("unzip")
            .arg("-q")
            .arg(archive)
            .arg("-d")
            .arg(dest)
            .output()
            .unwrap();
        assert!(o.status.success(), "unzip: {}", stderr(&o));
        return Some(());
    }
    eprintln!("skipping: neither python3 nor unzip is installed to unzip the archive");
    None
}

fn list(archive: &Path) -> Vec<serde_json::Value> {
    let o = run(&["list", archive.to_str().unwrap(), "--json"]);
    expect_code(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn info(archive: &Path) -> serde_json::Value {
    let o = run(&["info", archive.to_str().unwrap(), "--json"]);
    expect_code(&o, 0);
    json(&o)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The values of every `href="..."` and `src="..."` in a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].replace("&amp;", "&"));
            rest = &rest[end..];
        }
    }
    out
}

/// Every page below `root`: no external resource, and every link resolves to a file inside
/// `top` (the folder the entries were unpacked into). Returns the pages' contents by path
/// relative to `root`.
fn check_pages(root: &Path, top: &Path) -> BTreeMap<String, String> {
    let top = top.canonicalize().unwrap();
    let mut pages = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if !e.file_type().is_file() || e.path().extension().is_none_or(|x| x != "html") {
            continue;
        }
        let size = e.metadata().unwrap().len();
        assert!(size < MAX_PAGE, "{} is {size} bytes", e.path().display());
        let html = fs::read_to_string(e.path()).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<link"), "no external stylesheet");
        assert!(!html.contains("<script src"), "no external script");
        for l in links(&html) {
            assert!(!l.contains("://") && !l.starts_with("//"), "external link {l}");
            assert!(
                !l.contains(' ') && !l.contains('[') && !l.contains('#'),
                "not encoded: {l}"
            );
            let target = e.path().parent().unwrap().join(percent_decode(&l));
            let resolved = target
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: link {l} leads nowhere", e.path().display()));
            assert!(resolved.starts_with(&top), "{l} leaves the folder");
            assert!(resolved.is_file(), "{l} is not a file");
        }
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        pages.insert(rel, html);
    }
    pages
}

/// Messages shown on a conversation's pages (each message carries `id="m<n>"`).
fn messages_on_pages(pages: &BTreeMap<String, String>, id: &str) -> usize {
    pages
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("chats/{id}/")) && !p.ends_with("/index.html"))
        .map(|(_, h)| h.matches(" id=\"m").count())
        .sum()
}

/// Headless Chromium, when installed.
fn chromium() -> Option<&'static str> {
    let found = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .into_iter()
    .find(|c| have(c));
    if found.is_none() {
        eprintln!("skipping the browser checks: chromium is not installed (CI installs Debian's chromium)");
    }
    found
}

/// Runs Chromium headless with a fresh profile; returns what it printed on stdout.
fn chrome(browser: &str, work: &Path, args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir_in(work).unwrap();
    let out_path = work.join(format!("chrome-{}.out", std::process::id()));
    let out = fs::File::create(&out_path).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed on {url}: {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish on {url} within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = fs::read_to_string(&out_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    s
}

fn file_url(p: &Path) -> String {
    let mut s = String::from("file://");
    for c in p.to_str().unwrap().split('/').filter(|c| !c.is_empty()) {
        s.push('/');
        for b in c.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                s.push(b as char);
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
    }
    s
}

/// The page as the browser has it after its scripts ran, and the image counts the page's
/// script wrote on the body: (loaded, total, broken).
fn dump(browser: &str, work: &Path, page: &Path) -> (String, (u64, u64, u64)) {
    let dom = chrome(
        browser,
        work,
        &["--dump-dom".into(), "--virtual-time-budget=10000".into()],
        &format!("{}#all-images", file_url(page)),
    );
    let attr = |name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let i = dom.find(&key)? + key.len();
        Some(dom[i..i + dom[i..].find('"')?].to_string())
    };
    let images = attr("data-images").unwrap_or_else(|| panic!("the page's script did not run: {dom:.600}"));
    let (loaded, total) = images.split_once('/').unwrap();
    let broken = attr("data-images-broken").unwrap_or_default();
    (
        dom.clone(),
        (
            loaded.parse().unwrap(),
            total.parse().unwrap(),
            broken.parse().unwrap_or(0),
        ),
    )
}

fn screenshot(browser: &str, work: &Path, page: &Path, png: &Path, size: &str) {
    let _ = fs::remove_file(png);
    chrome(
        browser,
        work,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={size}"),
        ],
        &file_url(page),
    );
    let bytes = fs::read(png).expect("a screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 2000,
        "screenshot {}",
        png.display()
    );
    eprintln!("screenshot: {}", png.display());
}

fn screenshots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshots");
    fs::create_dir_all(&d).unwrap();
    d
}

// ------------------------------------------------------------------ the archive's viewer

#[test]
fn the_archive_carries_pages_that_a_browser_shows_after_a_plain_unzip() {
    let t = tempfile::tempdir().unwrap();
    // A top folder whose name needs escaping in every way a link can go wrong.
    let input = t.path().join("导出 [a]{b}$c%d#e?f");
    copy_tree(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sample")
            .as_path(),
        &input,
    );
    let archive = backup_to(t.path(), "sample.zip", &[&input], &[], 0);
    let unpacked = t.path().join("unpacked");
    let Some(()) = unzip_with_a_tool(&archive, &unpacked) else {
        return;
    };
    let viewer = unpacked.join("viewer");
    assert!(viewer.join("index.html").is_file(), "viewer/index.html");
    let pages = check_pages(&viewer, &unpacked);
    let convs = list(&archive);
    assert_eq!(convs.len(), 4);
    for c in &convs {
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            messages_on_pages(&pages, id) as u64,
            c["messages"].as_u64().unwrap(),
            "{id}"
        );
        assert!(pages["index.html"].contains(&format!("chats/{id}/index.html")));
    }
    // The MHT conversation: its pictures inline, the user's own messages on the right, the
    // images linked into files/ and media/ by relative paths.
    let xm = convs.iter().find(|c| c["name"] == "小明").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = &pages[&format!("chats/{xm}/2016-08.html")];
    assert_eq!(page.matches("<img ").count(), 2);
    assert!(page.contains("src=\"../../../files/%E5%AF%BC%E5%87%BA%20%5Ba%5D%7Bb%7D%24c%25d%23e%3Ff/"));
    assert!(page.contains("src=\"../../../media/"));
    assert_eq!(page.matches("class=\"m me\"").count(), 2);
    let group = convs.iter().find(|c| c["name"] == "大学同学群").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gpage = &pages[&format!("chats/{group}/2016-07.html")];
    assert_eq!(
        gpage.matches("class=\"sys\"").count(),
        1,
        "the system message is set apart"
    );
    assert_eq!(
        gpage.matches("class=\"day\"").count(),
        2,
        "a separator for each day"
    );

    let Some(browser) = chromium() else { return };
    let (index_dom, _) = dump(browser, t.path(), &viewer.join("index.html"));
    for c in &convs {
        assert!(index_dom.contains(c["name"].as_str().unwrap()));
    }
    for c in &convs {
        let id = c["id"].as_str().unwrap();
        for (path, _) in pages
            .range(format!("chats/{id}/")..)
            .take_while(|(p, _)| p.starts_with(&format!("chats/{id}/")))
        {
            let (dom, (loaded, total, broken)) = dump(browser, t.path(), &viewer.join(path));
            assert_eq!((loaded, broken), (total, 0), "{path}: every image loads");
            if !path.ends_with("/index.html") {
                assert_eq!(
                    dom.matches(" id=\"m").count() as u64,
                    c["messages"].as_u64().unwrap()
                );
            }
        }
    }
    let (dom, (loaded, total, _)) = dump(
        browser,
        t.path(),
        &viewer.join(format!("chats/{xm}/2016-08.html")),
    );
    assert_eq!((loaded, total), (2, 2));
    assert!(dom.contains("山顶的风景") && dom.contains("拍得真好"));
    let shots = screenshots_dir();
    screenshot(
        browser,
        t.path(),
        &viewer.join(format!("chats/{xm}/2016-08.html")),
        &shots.join("sample-chat.png"),
        "900,800",
    );
    screenshot(
        browser,
        t.path(),
        &viewer.join(format!("chats/{group}/2016-07.html")),
        &shots.join("sample-group.png"),
        "900,900",
    );
    screenshot(
        browser,
        t.path(),
        &viewer.join("index.html"),
        &shots.join("sample-index.png"),
        "900,600",
    );
}

#[test]
fn the_shared_samples_show_every_message_and_picture_in_a_browser() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let archive = backup_to(t.path(), "shared.zip", &[&fx], &[], 0);
    let unpacked = t.path().join("unpacked");
    let Some(()) = unzip_with_a_tool(&archive, &unpacked) else {
        return;
    };
    let viewer = unpacked.join("viewer");
    let pages = check_pages(&viewer, &unpacked);
    let convs = list(&archive);
    let mut counts: Vec<u64> = convs.iter().map(|c| c["messages"].as_u64().unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [27, 57, 778, 3089],
        "the counts the samples' README gives"
    );
    for c in &convs {
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            messages_on_pages(&pages, id) as u64,
            c["messages"].as_u64().unwrap(),
            "{id}"
        );
    }
    let images_in_pages: usize = pages.values().map(|h| h.matches("<img ").count()).sum();
    assert_eq!(
        images_in_pages, 5,
        "3 in the 2023 MHT, 1 each in the two 2020 MHTs"
    );
    let damaged = info(&archive)["images"]["mht_damaged"].as_u64().unwrap();
    assert_eq!(damaged, 1);

    let Some(browser) = chromium() else { return };
    let (mut loaded_all, mut total_all, mut broken_all) = (0, 0, 0);
    for (path, html) in &pages {
        if !html.contains("<img ") {
            continue;
        }
        let (dom, (loaded, total, broken)) = dump(browser, t.path(), &viewer.join(path));
        assert_eq!(loaded + broken, total, "{path}: every image settled");
        assert_eq!(dom.matches(" id=\"m").count(), html.matches(" id=\"m").count());
        loaded_all += loaded;
        total_all += total;
        broken_all += broken;
    }
    assert_eq!(total_all, 5);
    // The cut GIF may still decode partly (a browser shows what it can); at most it fails.
    assert!(
        broken_all <= damaged,
        "only the damaged picture may fail: {broken_all}"
    );
    assert!(loaded_all >= 4);
    let mht = convs.iter().find(|c| c["messages"] == 57).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = pages
        .keys()
        .find(|p| p.starts_with(&format!("chats/{mht}/20")))
        .unwrap()
        .clone();
    screenshot(
        browser,
        t.path(),
        &viewer.join(&first),
        &screenshots_dir().join("shared-mht.png"),
        "900,1400",
    );
}

#[test]
fn no_viewer_leaves_the_pages_out() {
    let t = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let archive = backup_to(t.path(), "plain.zip", &[&sample], &["--no-viewer"], 0);
    if have("python3") {
        let names = python(
            "import sys, zipfile\nprint('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
            &[&archive],
        );
        assert!(names.status.success());
        let names = stdout(&names);
        assert!(names.lines().any(|l| l.starts_with("chats/")));
        assert!(!names.lines().any(|l| l.starts_with("viewer/")));
    }
    assert_eq!(info(&archive)["viewer"], false);
    let o = run(&["verify", archive.to_str().unwrap()]);
    expect_code(&o, 0);
}

// ------------------------------------------------------------------ page size

/// A Message Manager TXT export of `n` messages, all in May 2021.
fn big_month_export(path: &Path, n: usize) {
    let mut s = String::from("\u{feff}消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n");
    let sep = "=".repeat(64);
    s.push_str(&format!(
        "{sep}\r\n消息分组:我的QQ群\r\n{sep}\r\n消息对象:热闹的群\r\n{sep}\r\n\r\n"
    ));
    for i in 0..n {
        let secs = i * 80; // 30,000 messages span under 28 days
        let (day, rest) = (secs / 86400, secs % 86400);
        s.push_str(&format!(
            "2021-05-{:02} {}:{:02}:{:02} 群友{}({})\r\n第{i}条：今天天气不错，我们一起去公园散步吧，顺便拍点照片<&>\"'[图片]\r\n\r\n",
            day + 1,
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            i % 37,
            10000 + i % 37
        ));
    }
    write(path, s.as_bytes());
}

#[test]
fn a_month_of_30000_messages_is_split_into_pages_under_2_mb() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in/big.txt");
    big_month_export(&input, 30_000);
    let archive = backup_to(t.path(), "big.zip", &[&input], &[], 0);
    let convs = list(&archive);
    assert_eq!(convs[0]["messages"], 30_000);
    let id = convs[0]["id"].as_str().unwrap().to_string();
    let out = t.path().join("site");
    let o = run(&["export", archive.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    expect_code(&o, 0);
    let pages = check_pages(&out, &out);
    let month_pages: Vec<&String> = pages
        .keys()
        .filter(|p| p.starts_with(&format!("chats/{id}/2021-05")))
        .collect();
    assert!(month_pages.len() >= 3, "{month_pages:?}");
    assert!(pages.contains_key(&format!("chats/{id}/2021-05-p2.html")));
    assert_eq!(messages_on_pages(&pages, &id), 30_000);
    // Every message once, in order, across the parts.
    let mut numbers = Vec::new();
    for p in &month_pages {
        let h = &pages[*p];
        let mut rest = h.as_str();
        while let Some(i) = rest.find(" id=\"m") {
            rest = &rest[i + 6..];
            numbers.push(rest[..rest.find('"').unwrap()].parse::<u64>().unwrap());
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=30_000).collect::<Vec<u64>>());
    // The text is escaped, never markup.
    assert!(pages[month_pages[0]].contains("&lt;&amp;&gt;&quot;&#39;"));
}

// ------------------------------------------------------------------ export

fn sample_archive(dir: &Path) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    backup_to(dir, "sample.zip", &[&sample], &[], 0)
}

#[test]
fn export_html_is_a_site_with_its_pictures() {
    let t = tempfile::tempdir().unwrap();
    let archive = sample_archive(t.path());
    let out = t.path().join("site");
    let o = run(&[
        "export",
        archive.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 0);
    let r = json(&o);
    assert_eq!(r["format"], "html");
    assert_eq!(r["messages"], 14);
    assert_eq!(r["media"], 2);
    assert_eq!(r["index"], "index.html");
    let pages = check_pages(&out, &out);
    assert!(pages.contains_key("index.html"));
    for c in list(&archive) {
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            messages_on_pages(&pages, id) as u64,
            c["messages"].as_u64().unwrap()
        );
    }
    // Every picture copied byte for byte under its entry path.
    let unpacked = t.path().join("unpacked");
    if unzip_with_a_tool(&archive, &unpacked).is_some() {
        let mut copied = 0;
        for (rel, bytes) in tree(&out) {
            let rel_s = rel.to_string_lossy();
            if rel_s.starts_with("files/") || rel_s.starts_with("media/") {
                assert_eq!(fs::read(unpacked.join(&rel)).unwrap(), bytes, "{rel_s}");
                copied += 1;
            }
        }
        assert_eq!(copied, 2);
    }
    // A folder that is not empty is refused, unless --overwrite.
    let o = run(&["export", archive.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    fs::write(out.join("mine.txt"), "keep me").unwrap();
    let o = run(&[
        "export",
        archive.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--overwrite",
    ]);
    expect_code(&o, 0);
    assert_eq!(fs::read_to_string(out.join("mine.txt")).unwrap(), "keep me");
    // A file in the way of the folder, and an archive that is not one.
    let o = run(&[
        "export",
        archive.to_str().unwrap(),
        "-o",
        out.join("mine.txt").to_str().unwrap(),
    ]);
    expect_code(&o, 2);
    let o = run(&[
        "export",
        out.join("mine.txt").to_str().unwrap(),
        "-o",
        t.path().join("x").to_str().unwrap(),
    ]);
    expect_code(&o, 2);
}

#[test]
fn export_txt_and_jsonl_hold_every_message() {
    let t = tempfile::tempdir().unwrap();
    let archive = sample_archive(t.path());
    let convs = list(&archive);
    let txt = t.path().join("txt");
    let o = run(&[
        "export",
        archive.to_str().unwrap(),
        "-o",
        txt.to_str().unwrap(),
        "--format",
        "txt",
    ]);
    expect_code(&o, 0);
    let jsonl = t.path().join("jsonl");
    let o = run(&[
        "export",
        archive.to_str().unwrap(),
        "-o",
        jsonl.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    expect_code(&o, 0);
    for c in &convs {
        let id = c["id"].as_str().unwrap();
        let name = c["name"].as_str().unwrap();
        let n = c["messages"].as_u64().unwrap() as usize;
        let text = fs::read_to_string(txt.join(format!("{name} ({id}).txt"))).unwrap();
        assert!(text.starts_with(&format!("会话 / Conversation: {name}\r\n")));
        // Each message's header line starts with its time; its text lines are indented.
        let headers = text
            .split("\r\n")
            .filter(|l| {
                l.len() > 20
                    && l.as_bytes()[4] == b'-'
                    && l.as_bytes()[13] == b':'
                    && l.as_bytes()[0].is_ascii_digit()
            })
            .count();
        assert_eq!(headers, n, "{name}");
        let lines = fs::read_to_string(jsonl.join(format!("{name} ({id}).jsonl"))).unwrap();
        let o = run(&["show", archive.to_str().unwrap(), id, "--json"]);
        assert_eq!(lines, stdout(&o), "{name}: the JSON Lines as stored");
        assert_eq!(lines.lines().count(), n);
    }
}

// ------------------------------------------------------------------ info

#[test]
fn info_says_the_clean_sample_is_safe_to_delete() {
    let t = tempfile::tempdir().unwrap();
    let archive = sample_archive(t.path());
    let i = info(&archive);
    assert_eq!(i["safe_to_delete"], true, "{i:#}");
    assert_eq!(i["reasons"].as_array().unwrap().len(), 0);
    assert_eq!(i["files"]["total"], 9);
    assert_eq!(i["files"]["distinct"], 8);
    assert_eq!(i["files"]["duplicates"], 1);
    assert!(i["files"]["bytes_saved_by_dedup"].as_u64().unwrap() > 0);
    assert_eq!(i["conversations"], 4);
    assert_eq!(i["messages"], 14);
    assert_eq!(i["first"], "2009-03-02T18:20:11");
    assert_eq!(i["last"], "2024-01-01T08:02:02");
    assert_eq!(i["exports"]["by_format"]["qq-txt"], 2);
    assert_eq!(i["exports"]["by_encoding"]["gb18030"], 1);
    assert_eq!(i["images"]["mht_referenced"], 2);
    assert_eq!(i["images"]["mht_found"], 2);
    assert_eq!(i["images"]["mht_missing"], 0);
    assert_eq!(
        i["images"]["placeholders_in_text_exports"], 2,
        "TXT [图片] counted, not missing"
    );
    assert!(i["verified"].as_str().unwrap().ends_with('Z'));
    assert_eq!(i["viewer"], true);
    let o = run(&["info", archive.to_str().unwrap()]);
    expect_code(&o, 0);
    let text = stdout(&o);
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("verdict: safe to delete the account: YES"),
        "{text}"
    );
    assert!(last.contains("qqvault verify"));
    assert!(text.contains("TXT exports hold no pictures"));
}

#[cfg(unix)]
#[test]
fn info_says_not_yet_when_an_input_was_skipped() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    write(&input.join("note.txt"), b"hello");
    let fifo = input.join("pipe");
    let o = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(o.status.success());
    let archive = backup_to(t.path(), "fifo.zip", &[&input], &[], 2);
    let i = info(&archive);
    assert_eq!(i["safe_to_delete"], false);
    let reasons = i["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].as_str().unwrap().contains("skipped"));
    assert!(reasons[0].as_str().unwrap().contains("not_regular_file"));
    let o = run(&["info", archive.to_str().unwrap()]);
    expect_code(&o, 0);
    assert!(stdout(&o)
        .lines()
        .last()
        .unwrap()
        .starts_with("verdict: safe to delete the account: NO"));
}

#[test]
fn info_says_not_yet_for_a_damaged_mht_picture() {
    let Some(fx) = shared_fixtures() else { return };
    let t = tempfile::tempdir().unwrap();
    let archive = backup_to(
        t.path(),
        "cut.zip",
        &[&fx.join("mht/truncated-image.mht")],
        &[],
        0,
    );
    let i = info(&archive);
    assert_eq!(i["safe_to_delete"], false);
    assert_eq!(i["images"]["mht_damaged"], 1);
    assert_eq!(
        i["images"]["mht_found"], 1,
        "the damaged picture is kept, so it is found"
    );
    assert_eq!(i["images"]["mht_missing"], 0);
    let reasons = i["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].as_str().unwrap().contains("damaged"));
}

#[test]
fn info_says_not_yet_for_lines_not_understood_and_without_a_seal() {
    let t = tempfile::tempdir().unwrap();
    // A TXT export with a line that is neither a header nor part of a message.
    let sep = "=".repeat(64);
    let text = format!(
        "\u{feff}消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:小明\r\n{sep}\r\n\r\n这一行不属于任何消息\r\n\r\n2016-08-01 20:00:01 小明\r\n你好\r\n\r\n"
    );
    let input = t.path().join("in/小明.txt");
    write(&input, text.as_bytes());
    let archive = backup_to(t.path(), "odd.zip", &[&input], &[], 0);
    let i = info(&archive);
    assert_eq!(i["lines_not_understood"], 1, "{i}");
    assert_eq!(i["safe_to_delete"], false);
    assert!(i["reasons"][0].as_str().unwrap().contains("not understood"));
    // The seal removed: not known to have passed its check.
    let clean = sample_archive(t.path());
    if have("python3") {
        let o = python(
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'a')\nz.comment = b''\nz.close()",
            &[&clean],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let i = info(&clean);
        assert_eq!(i["safe_to_delete"], false);
        assert!(i["verified"].is_null());
        assert!(i["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("seal")));
    }
    let o = run(&["info", t.path().join("missing.zip").to_str().unwrap()]);
    expect_code(&o, 2);
}
