//! End-to-end: a backup killed at any point and run again reuses what the interrupted run
//! wrote (checked against its CRC and hash) and gives the same archive contents as a run that
//! was never interrupted.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn contents(archive: &Path) -> (BTreeSet<(String, String)>, String) {
    let o = python(
        "import sys, zipfile, json\nm = json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))\nfor f in m['files']:\n    print(f['path'], f['sha256'], f['entry'])",
        &[archive],
    );
    let files = stdout(&o)
        .lines()
        .map(|l| {
            let mut p = l.rsplitn(3, ' ');
            let entry = p.next().unwrap().to_string();
            let sha = p.next().unwrap().to_string();
            (format!("{} {entry}", p.next().unwrap()), sha)
        })
        .collect();
    let chats = stdout(&run(&["list", archive.to_str().unwrap(), "--json"]));
    (files, chats)
}

#[cfg(unix)]
#[test]
fn a_backup_killed_at_several_points_and_run_again_equals_an_uninterrupted_one() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    for i in 0..6 {
        write(&input.join(format!("video{i}.mp4")), &noise(100 + i, 30_000_000));
    }
    for i in 0..50 {
        write(
            &input.join(format!("photos/p{i}.jpg")),
            &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(i, 60_000)].concat(),
        );
    }
    // Empty files among the others: an empty entry is complete, unlike the one being written
    // when the run is killed, whose header still says 0 bytes.
    write(&input.join("empty.txt"), b"");
    write(&input.join("photos/p25-empty.jpg"), b"");
    write(
        &input.join("photos/twin.jpg"),
        &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(3, 60_000)].concat(),
    );
    let sep = "=".repeat(64);
    write(
        &input.join("全部消息记录.txt"),
        format!("{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:甲\r\n{sep}\r\n\r\n2020-01-01 10:00:00 甲\r\n你好\r\n\r\n").as_bytes(),
    );
    let whole = t.path().join("whole.zip");
    expect_code(
        &run(&["backup", input.to_str().unwrap(), "-o", whole.to_str().unwrap()]),
        0,
    );
    let want = contents(&whole);

    let archive = t.path().join("resumed.zip");
    let partial = t.path().join("resumed.zip.partial");
    let (mut reused_any, mut in_place_any) = (false, false);
    for kill_at in [5_000_000u64, 70_000_000, 150_000_000] {
        let _ = fs::remove_file(&archive);
        kill_mid_write(
            &["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()],
            &partial,
            kill_at,
        );
        assert!(!archive.exists());
        let s = backup_json(&input, &archive, &[]);
        reused_any |= s["resumed_files"].as_u64().unwrap() > 0;
        in_place_any |= s["resumed_in_place"] == true;
        assert_eq!(contents(&archive), want, "killed at {kill_at} bytes");
        expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
        unzip_test(&archive);
        assert!(!partial.exists());
        assert!(
            !t.path().join("resumed.zip.resume").exists(),
            "the interrupted run's file is removed"
        );
    }
    assert!(reused_any, "a resumed run reuses what the interrupted one wrote");
    assert!(
        in_place_any,
        "a resumed run goes on in the interrupted run's file"
    );
}

#[cfg(unix)]
#[test]
fn a_changed_source_is_not_reused_from_an_interrupted_run() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    for i in 0..4 {
        write(&input.join(format!("big{i}.bin")), &noise(200 + i, 30_000_000));
    }
    let archive = t.path().join("a.zip");
    let partial = t.path().join("a.zip.partial");
    kill_mid_write(
        &["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()],
        &partial,
        70_000_000,
    );
    // The first file, surely written by then, changes (same size, other bytes, later time).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    write(&input.join("big0.bin"), &noise(999, 30_000_000));
    let o = run(&[
        "backup",
        input.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 0);
    assert_eq!(
        json(&o)["resumed_in_place"],
        false,
        "an entry that is not reused cannot stay in the file"
    );
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&input), tree(&back.join("in")));
}

/// Reading back an interrupted run's entries used a new decompressor for each; their buffers
/// left glibc's heap fragmented, about 10 KB per compressed entry that stayed resident (200 MB
/// for 20,000 small text files).
#[cfg(target_os = "linux")]
#[test]
fn resuming_many_small_compressed_entries_stays_small() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..8000u64 {
        let line = format!("第{i}个文件，内容可以压缩。 file {i} compresses well.\n");
        write(
            &t.path().join(format!("in/{}/{i}.txt", i % 50)),
            line.repeat(40 + (i % 7) as usize).as_bytes(),
        );
    }
    let done = t.path().join("done.zip");
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        done.to_str().unwrap(),
        "--no-index",
    ]);
    expect_code(&o, 0);
    // A finished archive left under the partial name: every entry of it is read back and
    // reused.
    let archive = t.path().join("a.zip");
    fs::copy(&done, t.path().join("a.zip.partial")).unwrap();
    let o = python(
        "import resource, subprocess, sys, json\n\
         r = subprocess.run([sys.argv[1], 'backup', sys.argv[2], '-o', sys.argv[3], '--no-index', '--json'], capture_output=True)\n\
         print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, json.loads(r.stdout)['resumed_files'])",
        &[Path::new(env!("CARGO_BIN_EXE_qqvault")), &t.path().join("in"), &archive],
    );
    let out = stdout(&o);
    let mut parts = out.split_whitespace();
    assert_eq!(parts.next(), Some("0"), "{out} {}", stderr(&o));
    let peak_kb: u64 = parts.next().unwrap().parse().unwrap();
    assert_eq!(parts.next(), Some("8000"), "every file is reused");
    eprintln!(
        "resume of 8000 compressed entries: peak RSS {} MB",
        peak_kb / 1024
    );
    assert!(peak_kb < 60 << 10, "peak RSS {peak_kb} KB");
}

/// A run killed after it wrote every file, while it wrote the conversations and pages, is
/// resumed in its own file: the files are reused where they lie and what followed them is cut
/// off and made again (it was copied into a new file before).
#[test]
fn a_run_killed_after_the_files_goes_on_in_its_own_file() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    for i in 0..3 {
        write(&input.join(format!("video{i}.mp4")), &noise(300 + i, 3_000_000));
    }
    for i in 0..40 {
        write(
            &input.join(format!("photos/p{i}.jpg")),
            &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(400 + i, 20_000)].concat(),
        );
    }
    let sep = "=".repeat(64);
    let mut chat = format!("{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:甲\r\n{sep}\r\n\r\n");
    for i in 0..2000 {
        chat.push_str(&format!(
            "2020-01-{:02} 10:{:02}:{:02} 甲\r\n第{i}条消息\r\n\r\n",
            1 + i / 200,
            i / 60 % 60,
            i % 60
        ));
    }
    write(&input.join("全部消息记录.txt"), chat.as_bytes());
    let whole = t.path().join("whole.zip");
    expect_code(
        &run(&["backup", input.to_str().unwrap(), "-o", whole.to_str().unwrap()]),
        0,
    );
    let want = contents(&whole);
    // A finished archive under the partial name holds, after the files, everything a run
    // writes after them: conversations, pages, index, manifest.
    let archive = t.path().join("a.zip");
    fs::copy(&whole, t.path().join("a.zip.partial")).unwrap();
    let s = backup_json(&input, &archive, &[]);
    assert_eq!(s["resumed_files"], 44, "{s}");
    assert_eq!(s["resumed_in_place"], true, "{s}");
    assert_eq!(contents(&archive), want);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    unzip_test(&archive);
    // Nothing of what was cut off is left in the file: every entry is listed once, and there
    // are as many as in the uninterrupted archive.
    let o = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nn = [i.filename for i in z.infolist()]\nassert len(n) == len(set(n))\nprint(len(n))",
        &[&archive],
    );
    let o2 = python(
        "import sys, zipfile\nprint(len(zipfile.ZipFile(sys.argv[1]).infolist()))",
        &[&whole],
    );
    assert_eq!(stdout(&o).trim(), stdout(&o2).trim());
}

/// A TXT export of `n` messages with `peer`, as the Message Manager writes one.
fn txt_export(peer: &str, n: usize) -> String {
    let sep = "=".repeat(64);
    let mut s = format!(
        "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:{peer}\r\n{sep}\r\n\r\n"
    );
    for i in 0..n {
        s.push_str(&format!(
            "2019-03-{:02} {:02}:{:02}:{:02} {peer}\r\n第{i}条：你好 {peer}\r\n\r\n",
            1 + i / 3600,
            i / 60 % 24,
            i % 60,
            (i * 7) % 60
        ));
    }
    s
}

/// What a backup holds besides its index (whose file names are made anew by each build): the
/// entries' names and hashes, and the manifest's exports and conversations.
fn holdings(archive: &Path) -> String {
    stdout(&python(
        "import sys, zipfile, json\nm = json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))\nprint(sorted((e['name'], e['sha256']) for e in m['entries'] if not e['name'].startswith('index/')))\nprint(json.dumps(m['exports'], sort_keys=True))\nprint(json.dumps(m['conversations'], sort_keys=True))",
        &[archive],
    ))
}

/// A resumed run whose exports were written by the interrupted one (one in UTF-8, one in
/// GB18030, which has a UTF-8 rendition), with or without another export among the files it
/// still writes, gives what an uninterrupted run gives: entries, renditions, exports,
/// conversations, and what a search finds.
#[cfg(unix)]
#[test]
fn a_resumed_run_whose_exports_were_reused_gives_the_same_result() {
    let t = tempfile::tempdir().unwrap();
    for (case, later_export) in [("reused", false), ("another later", true)] {
        let input = t.path().join(case).join("in");
        // Scanned first: the exports, one in UTF-8 with its BOM, one in GB18030.
        write(
            &input.join("a/全部消息记录.txt"),
            &[b"\xEF\xBB\xBF".to_vec(), txt_export("甲", 300).into_bytes()].concat(),
        );
        write(
            &input.join("a/乙.txt"),
            &encoding_rs::GB18030.encode(&txt_export("乙", 200)).0,
        );
        for i in 0..5 {
            write(
                &input.join(format!("b/video{i}.mp4")),
                &noise(200 + i, 30_000_000),
            );
        }
        for i in 0..20 {
            write(
                &input.join(format!("c/p{i}.jpg")),
                &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(i, 50_000)].concat(),
            );
        }
        if later_export {
            // Scanned after the videos: not in the interrupted run's file.
            write(&input.join("d/丙.txt"), txt_export("丙", 50).as_bytes());
        }
        let whole = t.path().join(case).join("whole.zip");
        expect_code(
            &run(&["backup", input.to_str().unwrap(), "-o", whole.to_str().unwrap()]),
            0,
        );
        let archive = t.path().join(case).join("resumed.zip");
        let partial = t.path().join(case).join("resumed.zip.partial");
        kill_mid_write(
            &["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()],
            &partial,
            50_000_000,
        );
        let s = backup_json(&input, &archive, &[]);
        assert!(s["resumed_files"].as_u64().unwrap() >= 3, "{case}: {s}");
        assert_eq!(holdings(&archive), holdings(&whole), "{case}");
        assert_eq!(contents(&archive), contents(&whole), "{case}");
        let h = holdings(&archive);
        assert!(
            h.contains("text/") && h.contains("乙.txt"),
            "{case}: the rendition is kept"
        );
        expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
        unzip_test(&archive);
        // The index finds what the exports hold.
        let found = stdout(&run(&["search", archive.to_str().unwrap(), "第7条", "--json"]));
        assert!(found.contains("甲") && found.contains("乙"), "{case}: {found}");
    }
}
