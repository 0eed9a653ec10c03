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
    let mut reused_any = false;
    for kill_at in [5_000_000u64, 70_000_000, 150_000_000] {
        let _ = fs::remove_file(&archive);
        kill_mid_write(
            &["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()],
            &partial,
            kill_at,
        );
        assert!(!archive.exists());
        let o = run(&[
            "backup",
            input.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--json",
        ]);
        expect_code(&o, 0);
        let s = json(&o);
        reused_any |= s["resumed_files"].as_u64().unwrap() > 0;
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
    expect_code(
        &run(&["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()]),
        0,
    );
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&input), tree(&back.join("in")));
}
