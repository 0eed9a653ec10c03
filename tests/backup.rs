//! End-to-end: backup, restore, dedup, independent readers, interrupted runs, odd inputs.

mod common;
use common::*;
use std::fs;
use std::path::Path;

fn sample_tree(root: &Path) {
    write(&root.join("photos/a.jpg"), &noise(1, 200_000));
    write(&root.join("photos/dup/a-again.jpg"), &noise(1, 200_000));
    write(&root.join("photos/dup/a-third.jpg"), &noise(1, 200_000));
    write(&root.join("photos/same-size-other.jpg"), &noise(2, 200_000));
    write(
        &root.join("photos/聊天 记录[1]{x}.txt"),
        "你好，世界\r\n".repeat(5000).as_bytes(),
    );
    write(&root.join("photos/empty1"), b"");
    write(&root.join("photos/deep/empty2"), b"");
    write(&root.join("photos/big.mp4"), &noise(3, 5_000_000));
}

#[test]
fn backup_restore_round_trip_is_byte_exact_and_dedups() {
    let t = tempfile::tempdir().unwrap();
    sample_tree(t.path());
    let archive = t.path().join("out.zip");
    let s = backup_json(&t.path().join("photos"), &archive, &[]);
    assert_eq!(s["files"], 8);
    // a.jpg x3 share one content, the two empty files share one: 8 paths, 5 contents.
    assert_eq!(s["unique_files"], 5);
    let bytes_in: u64 = 3 * 200_000 + 200_000 + "你好，世界\r\n".repeat(5000).len() as u64 + 5_000_000;
    assert_eq!(s["bytes_in"], bytes_in);
    assert!(
        s["bytes_stored"].as_u64().unwrap() < bytes_in,
        "duplicates and text are not stored in full"
    );
    assert_eq!(s["skipped"].as_array().unwrap().len(), 0);
    assert!(!t.path().join("out.zip.partial").exists());

    unzip_test(&archive);
    python_zip_test(&archive);

    let back = t.path().join("back");
    let o = run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]);
    expect_code(&o, 0);
    assert_eq!(tree(&t.path().join("photos")), tree(&back.join("photos")));
    // Modification times come back.
    let m1 = fs::metadata(t.path().join("photos/big.mp4"))
        .unwrap()
        .modified()
        .unwrap();
    let m2 = fs::metadata(back.join("photos/big.mp4"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(m1, m2);

    // Restoring again does not overwrite without --overwrite, and says so with exit 2.
    let o = run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]);
    expect_code(&o, 2);
    assert!(stdout(&o).contains("--overwrite"));
    let o = run(&[
        "restore",
        archive.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
        "--overwrite",
    ]);
    expect_code(&o, 0);
}

#[test]
fn compression_is_judged_by_content_and_names_are_utf8_flagged() {
    let t = tempfile::tempdir().unwrap();
    sample_tree(t.path());
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("photos").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let o = python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor i in z.infolist():\n    print(i.filename, i.compress_type, i.flag_bits & 0x800)",
        &[&archive],
    );
    let out = stdout(&o);
    let method = |name: &str| -> String {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {out}"))
            .split(' ')
            .nth_back(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(method("files/photos/a.jpg"), "0", "JPEG-like noise is stored");
    assert_eq!(
        method("files/photos/big.mp4"),
        "0",
        "large incompressible file is stored"
    );
    assert_eq!(
        method("files/photos/聊天 记录[1]{x}.txt"),
        "8",
        "text is deflated"
    );
    assert_eq!(method("manifest.json"), "8");
    assert!(
        out.contains("files/photos/聊天 记录[1]{x}.txt 8 2048"),
        "UTF-8 flag on non-ASCII names: {out}"
    );
    // Duplicates are stored once: only the first path has an entry.
    assert!(!out.contains("a-again.jpg"));
    // The manifest lists every path with its entry.
    let m = python("import sys, zipfile, json\nm = json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))\nfor f in m['files']:\n    print(f['path'], f['entry'])\nprint('schema', m['schema'], m['format'])", &[&archive]);
    let ms = stdout(&m);
    assert!(ms.contains("photos/dup/a-again.jpg files/photos/a.jpg"), "{ms}");
    assert!(ms.contains("schema 1 qqvault-archive"));
}

#[test]
fn existing_archive_needs_force_and_inputs_with_the_same_name_stay_apart() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("a/data/x.txt"), b"one");
    write(&t.path().join("b/data/x.txt"), b"two");
    let archive = t.path().join("out.zip");
    let a = t.path().join("a/data");
    let b = t.path().join("b/data");
    expect_code(
        &run(&[
            "backup",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let before = fs::read(&archive).unwrap();
    let o = run(&["backup", a.to_str().unwrap(), "-o", archive.to_str().unwrap()]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        fs::read(&archive).unwrap(),
        before,
        "the earlier archive is untouched"
    );
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(fs::read(back.join("data/x.txt")).unwrap(), b"one");
    assert_eq!(fs::read(back.join("data~2/x.txt")).unwrap(), b"two");
    expect_code(
        &run(&[
            "backup",
            a.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--force",
        ]),
        0,
    );
    assert_ne!(fs::read(&archive).unwrap(), before);
}

#[test]
fn the_archive_being_written_is_not_an_input() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/a.txt"), b"hello");
    let archive = t.path().join("in/out.zip");
    write(
        &t.path().join("in/out.zip.partial"),
        b"stale partial from an interrupted run",
    );
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["files"], 1);
    // Backing up the same folder again, now holding the archive, over it with --force.
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
        "--force",
    ]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["files"], 1);
}

#[cfg(unix)]
#[test]
fn fifo_and_unreadable_inputs_are_skipped_reported_and_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/ok.txt"), b"fine");
    let fifo = t.path().join("in/pipe");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    write(&t.path().join("in/secret.txt"), b"locked");
    fs::set_permissions(t.path().join("in/secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    let running_as_root = fs::read(t.path().join("in/secret.txt")).is_ok();
    std::os::unix::fs::symlink("nowhere", t.path().join("in/broken-link")).unwrap();
    std::os::unix::fs::symlink("ok.txt", t.path().join("in/good-link")).unwrap();
    let archive = t.path().join("out.zip");
    let mut child = qqvault()
        .args([
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "backup hangs on a FIFO");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    expect_code(&o, 2);
    let s = json(&o);
    let skipped = s["skipped"].as_array().unwrap();
    let reasons: Vec<(String, String)> = skipped
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_string(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(p, r)| p.ends_with("pipe") && r == "not_regular_file"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(p, r)| p.ends_with("broken-link") && r == "broken_symlink"),
        "{reasons:?}"
    );
    if !running_as_root {
        assert!(
            reasons
                .iter()
                .any(|(p, r)| p.ends_with("secret.txt") && r == "permission_denied"),
            "{reasons:?}"
        );
    }
    let links = s["symlinks"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["path"], "in/good-link");
    // Everything else is saved, and the manifest lists the skipped inputs too.
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let m = python("import sys, zipfile, json\nm = json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))\nprint(len(m['skipped']), [f['path'] for f in m['files']])", &[&archive]);
    let ms = stdout(&m);
    assert!(ms.contains("'in/ok.txt'"), "{ms}");
    assert!(ms.starts_with(&skipped.len().to_string()), "{ms}");
}

#[cfg(unix)]
#[test]
fn symlink_loops_do_not_hang_when_following() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/sub/f.txt"), b"x");
    std::os::unix::fs::symlink("..", t.path().join("in/sub/up")).unwrap();
    let archive = t.path().join("out.zip");
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--follow-symlinks",
        "--json",
    ]);
    expect_code(&o, 2);
    let s = json(&o);
    assert!(
        s["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["reason"] == "symlink_loop"),
        "{s}"
    );
    assert_eq!(s["files"], 1);
}

#[cfg(unix)]
#[test]
fn non_utf8_file_names_survive_the_round_trip() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let gbk = OsStr::from_bytes(b"\xc1\xc4\xcc\xec\xbc\xc7\xc2\xbc.txt"); // 聊天记录.txt in GBK
    let bad = OsStr::from_bytes(b"bad\xff\xfe.bin");
    fs::create_dir_all(t.path().join("in")).unwrap();
    if fs::write(t.path().join("in").join(gbk), b"gbk named").is_err() {
        eprintln!("skipping: this file system refuses non-UTF-8 names");
        return;
    }
    fs::write(t.path().join("in").join(bad), b"invalid in every encoding").unwrap();
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let o = python(
        "import sys, zipfile\nprint([i.filename for i in zipfile.ZipFile(sys.argv[1]).infolist()])",
        &[&archive],
    );
    assert!(
        stdout(&o).contains("files/in/聊天记录.txt"),
        "GBK name decoded for the zip: {}",
        stdout(&o)
    );
    unzip_test(&archive);
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(fs::read(back.join("in").join(gbk)).unwrap(), b"gbk named");
    assert_eq!(
        fs::read(back.join("in").join(bad)).unwrap(),
        b"invalid in every encoding"
    );
}

#[test]
fn dry_run_restore_prints_the_plan_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/a.txt"), b"a");
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let back = t.path().join("back");
    let o = run(&[
        "restore",
        archive.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
        "--dry-run",
    ]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("create: "), "{}", stdout(&o));
    assert!(!back.exists());
}

#[cfg(unix)]
#[test]
fn a_backup_killed_mid_write_leaves_no_archive_and_an_earlier_one_intact() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("small/a.txt"), b"earlier backup");
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("small").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    let earlier = fs::read(&archive).unwrap();
    // A large input, so that the run is still writing when it is killed.
    for i in 0..6 {
        write(
            &t.path().join(format!("big/f{i}.bin")),
            &noise(10 + i, 40_000_000),
        );
    }
    let partial = t.path().join("out.zip.partial");
    kill_mid_write(
        &[
            "backup",
            t.path().join("big").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--force",
        ],
        &partial,
        10_000_000,
    );
    assert_eq!(
        fs::read(&archive).unwrap(),
        earlier,
        "the earlier archive is untouched"
    );
    assert!(partial.exists(), "the partial file stays under its own name");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    // The next run replaces the partial file and completes.
    expect_code(
        &run(&[
            "backup",
            t.path().join("small").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--force",
        ]),
        0,
    );
    assert!(!partial.exists());
}

#[test]
fn restore_refuses_paths_that_leave_the_target_and_restores_the_rest() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/ok.txt"), b"fine");
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    // A crafted archive: its manifest also lists paths that climb out, are absolute, or name a
    // drive, all pointing at a real entry.
    let o = python(
        "import sys, zipfile, json\nsrc = zipfile.ZipFile(sys.argv[1])\nitems = [(i, src.read(i.filename)) for i in src.infolist()]\nsrc.close()\nout = zipfile.ZipFile(sys.argv[1], 'w')\nfor i, data in items:\n    if i.filename == 'manifest.json':\n        m = json.loads(data)\n        ok = m['files'][0]\n        for p in ['../escaped.txt', 'in/../../escaped2.txt', '/tmp/absolute.txt', 'C:/drive.txt', 'in/..\\\\escaped3.txt']:\n            f = dict(ok); f['path'] = p; m['files'].append(f)\n        data = json.dumps(m).encode()\n    out.writestr(i, data)\nout.close()\n",
        &[&archive],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let target = t.path().join("target/dir");
    let o = run(&[
        "restore",
        archive.to_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);
    expect_code(&o, 2);
    let out = stdout(&o);
    assert_eq!(out.matches("refused:").count(), 5, "{out}");
    assert_eq!(
        fs::read(target.join("in/ok.txt")).unwrap(),
        b"fine",
        "the rest is restored"
    );
    assert!(!t.path().join("target/escaped.txt").exists());
    assert!(!t.path().join("escaped2.txt").exists());
    assert_eq!(
        tree(&t.path().join("target")).len(),
        1,
        "nothing else was written"
    );
}

#[cfg(unix)]
#[test]
fn names_the_zip_cannot_say_exactly_come_back_exactly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("in");
    fs::create_dir_all(&dir).unwrap();
    // A backslash (a separator to Windows and unzip), and a UTF-8 name that a GBK name decodes
    // to as well: the zip shows `_` and `~2`, restore gives the originals.
    fs::write(dir.join("a\\b.txt"), b"backslash").unwrap();
    fs::write(dir.join("聊天.txt"), b"utf-8 name").unwrap();
    if fs::write(dir.join(OsStr::from_bytes(b"\xc1\xc4\xcc\xec.txt")), b"gbk name").is_err() {
        eprintln!("skipping the GBK half: this file system refuses non-UTF-8 names");
    }
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&["backup", dir.to_str().unwrap(), "-o", archive.to_str().unwrap()]),
        0,
    );
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&dir), tree(&back.join("in")));
}

/// Small files that share a size are not hashed before they are written: the write stage
/// hashes each as it reads it and leaves out a content already stored, across batches too.
#[test]
fn small_twins_are_stored_once_across_batches() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("in");
    // 700 files of 1,000 bytes (more than two batches of 256), 150 contents.
    for i in 0..700u64 {
        write(
            &root.join(format!("d{}/f{i}.bin", i % 7)),
            &noise(i % 150 + 1, 1000),
        );
    }
    let archive = t.path().join("a.zip");
    let s = backup_json(&root, &archive, &[]);
    assert_eq!(s["files"], 700);
    assert_eq!(s["unique_files"], 150);
    let listed = python(
        "import sys, zipfile\nprint(sum(1 for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith('files/')))",
        &[&archive],
    );
    assert_eq!(stdout(&listed).trim(), "150");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&root), tree(&back.join("in")));
}

#[test]
fn temporary_folders_a_killed_run_left_are_removed_and_others_kept() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("in/a.txt"), b"hello");
    // Left by a killed run: its lock file is there, and no process holds it.
    let stale = t.path().join(".qqvault-update-k1Ll3d");
    write(&stale.join(".lock"), b"");
    write(&stale.join("QQ导出/全部消息记录.txt"), &noise(5, 10_000));
    let stale_index = t.path().join(".qqvault-index-x9");
    write(&stale_index.join(".lock"), b"");
    write(&stale_index.join("index/meta.json"), b"{}");
    // In use: a running qqvault holds its lock (here, this test does).
    let busy = t.path().join(".qqvault-index-busy");
    write(&busy.join(".lock"), b"");
    let held = fs::File::options().write(true).open(busy.join(".lock")).unwrap();
    held.try_lock().unwrap();
    // Just made, its lock not yet: left alone. And folders that are not qqvault's.
    let young = t.path().join(".qqvault-update-young");
    fs::create_dir_all(&young).unwrap();
    let other = t.path().join(".qqvault-notes");
    write(&other.join("x"), b"x");
    let archive = t.path().join("a.zip");
    expect_code(
        &run(&[
            "backup",
            t.path().join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ]),
        0,
    );
    assert!(!stale.exists(), "a killed run's extracted exports are removed");
    assert!(!stale_index.exists());
    assert!(busy.join(".lock").exists(), "a running run's folder stays");
    assert!(young.exists());
    assert!(other.join("x").exists());
    drop(held);
    // Nothing of the run itself is left beside the archive.
    let mut names: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ".qqvault-index-busy",
            ".qqvault-notes",
            ".qqvault-update-young",
            "a.zip",
            "in"
        ]
    );
}

#[test]
fn large_compressible_files_are_deflated_apart_and_copied_in_after_the_rest() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("in");
    // Over the size that small files are read whole at, and worth deflating.
    let log: Vec<u8> = (0..300_000)
        .flat_map(|i| format!("2016-07-20 0:00:{i} 用户(10001)\r\n聊天记录 {i}\r\n\r\n").into_bytes())
        .collect();
    assert!(log.len() > 5 << 20);
    write(&root.join("a/聊天 big.log"), &log);
    write(&root.join("a/聊天 copy.log"), &log);
    write(&root.join("b/small.txt"), b"small");
    write(&root.join("b/video.mp4"), &noise(4, 5_000_000));
    let archive = t.path().join("a.zip");
    let s = backup_json(&root, &archive, &[]);
    assert_eq!(s["files"], 4);
    assert_eq!(s["unique_files"], 3);
    unzip_test(&archive);
    python_zip_test(&archive);
    let listed = python(
        "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist():\n    print(i.filename, i.compress_type, i.flag_bits & 0x800)",
        &[&archive],
    );
    let names: Vec<String> = stdout(&listed).lines().map(str::to_string).collect();
    let files: Vec<&String> = names.iter().filter(|n| n.starts_with("files/")).collect();
    assert_eq!(
        files,
        [
            "files/in/b/small.txt 0 0",
            "files/in/b/video.mp4 0 0",
            "files/in/a/聊天 big.log 8 2048",
        ],
        "{names:?}"
    );
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&root), tree(&back.join("in")));
}

/// A write into the archive that fails midway (a full disk; here a file size limit) ends the
/// run with an error that names the file, instead of leaving it waiting for ever on the threads
/// that still had files to hand over.
#[cfg(target_os = "linux")]
#[test]
fn a_write_that_fails_midway_ends_the_run_with_an_error() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    for i in 0..3000u64 {
        write(&input.join(format!("{}/{i}.bin", i % 30)), &noise(i, 20_000));
    }
    let archive = t.path().join("a.zip");
    let o = python(
        "import resource, signal, subprocess, sys\n\
         def limit():\n    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))\n\
         try:\n    r = subprocess.run([sys.argv[1], 'backup', sys.argv[2], '-o', sys.argv[3]], preexec_fn=limit, capture_output=True, timeout=120)\n    print(r.returncode)\n    sys.stderr.write(r.stderr.decode())\n\
         except subprocess.TimeoutExpired:\n    print('hung')",
        &[Path::new(env!("CARGO_BIN_EXE_qqvault")), &input, &archive],
    );
    let out = stdout(&o);
    assert_ne!(out.trim(), "hung", "the run did not end");
    assert_ne!(out.trim(), "0", "the run succeeded: {}", stderr(&o));
    assert!(!archive.exists(), "no archive under the final name");
    assert!(
        stderr(&o).contains("a.zip.partial"),
        "the error names the file: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("free some space") && stderr(&o).contains("run the same command again"),
        "the error says what to do next: {}",
        stderr(&o)
    );
    // With room again, the same command reuses what was written and finishes.
    let o = run(&[
        "backup",
        input.to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 0);
    let s = json(&o);
    assert_eq!(s["files"], 3000);
    assert!(s["resumed_files"].as_u64().unwrap() > 0, "{s}");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
}

/// Two runs writing the same archive at once: the second is refused (exit 2, naming the lock)
/// before it touches anything, and the first goes on to a whole archive. Without the lock the
/// second took the first one's partial file for an interrupted run's and moved it aside.
#[test]
fn a_second_run_for_the_same_archive_is_refused_while_the_first_runs() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    for i in 0..6 {
        write(&input.join(format!("video{i}.mp4")), &noise(700 + i, 30_000_000));
    }
    let archive = t.path().join("a.zip");
    let partial = t.path().join("a.zip.partial");
    let lock = t.path().join("a.zip.lock");
    let mut first = qqvault()
        .args(["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 1 << 20 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended too soon"
        );
        assert!(start.elapsed().as_secs() < 60, "the first run never wrote");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let o = run(&["backup", input.to_str().unwrap(), "-o", archive.to_str().unwrap()]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("another qqvault run") && stderr(&o).contains("a.zip.lock"),
        "{}",
        stderr(&o)
    );
    assert!(first.wait().unwrap().success(), "the first run was disturbed");
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
    assert!(!lock.exists(), "the lock file goes with the run");
    assert!(!t.path().join("a.zip.resume").exists());
    // The archive is not among the inputs, nor its lock: a backup into the input folder.
    let inside = input.join("self.zip");
    expect_code(
        &run(&["backup", input.to_str().unwrap(), "-o", inside.to_str().unwrap()]),
        0,
    );
    let o = python(
        "import sys, zipfile, json\nm = json.loads(zipfile.ZipFile(sys.argv[1]).read('manifest.json'))\nprint(len(m['files']))",
        &[&inside],
    );
    assert_eq!(stdout(&o).trim(), "6");
}

/// Whether files in `dir` can be opened for direct reads (then a new archive is written and read
/// back past the page cache).
#[cfg(target_os = "linux")]
fn takes_direct_io(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join("direct-probe");
    std::fs::write(&probe, [0u8; 4096]).unwrap();
    let ok = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe)
        .is_ok();
    std::fs::remove_file(&probe).unwrap();
    ok
}

/// A new archive is read back in two parts: the files and conversations by a thread while the
/// pages and index are made, the rest by the check of the finished archive. What it proves so is
/// what independent readers find: `verify` (which reads everything), `unzip -t`, Python's
/// `zipfile`, and a byte-exact restore. Among the files, one whose data starts as a zip local
/// header does, written last, while the zip writer still has it open.
#[cfg(target_os = "linux")]
#[test]
fn a_new_archive_read_back_in_two_parts_verifies_whole() {
    let t = tempfile::tempdir().unwrap();
    if !takes_direct_io(t.path()) {
        eprintln!("skipped: the temporary folder takes no direct reads, so nothing is read back early");
        return;
    }
    let root = t.path().join("in");
    let sep = "=".repeat(64);
    let mut chat = format!("\u{feff}消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n{sep}\r\n消息分组:我的好友\r\n{sep}\r\n消息对象:甲\r\n{sep}\r\n\r\n");
    for i in 0..4000 {
        chat.push_str(&format!(
            "2020-01-01 10:{:02}:{:02} 甲\r\n第{i}条消息\r\n\r\n",
            i / 60 % 60,
            i % 60
        ));
    }
    write(&root.join("全部消息记录.txt"), chat.as_bytes());
    for k in 0..4u64 {
        write(
            &root.join(format!("Image/{k}.jpg")),
            &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(k, 5 << 20)].concat(),
        );
    }
    write(
        &root.join("Image/twin.jpg"),
        &[b"\xFF\xD8\xFF\xE0".to_vec(), noise(1, 5 << 20)].concat(),
    );
    write(
        &root.join("zzz/资料.zip"),
        &[b"PK\x03\x04".to_vec(), noise(9, 6 << 20)].concat(),
    );
    let archive = t.path().join("a.zip");
    let s = backup_json(&root, &archive, &[]);
    assert_eq!(s["files"], 7);
    assert_eq!(s["unique_files"], 6);
    assert_eq!(s["messages"], 4000);
    assert!(s["timings"]["read_back"].is_number(), "{}", s["timings"]);
    let v = run(&["verify", archive.to_str().unwrap(), "--json"]);
    expect_code(&v, 0);
    assert_eq!(json(&v)["problems"].as_array().unwrap().len(), 0);
    unzip_test(&archive);
    python_zip_test(&archive);
    let back = t.path().join("back");
    expect_code(
        &run(&["restore", archive.to_str().unwrap(), "-o", back.to_str().unwrap()]),
        0,
    );
    assert_eq!(tree(&root), tree(&back.join("in")));
    // Without conversations there is nothing to read back beside: the check reads everything.
    std::fs::remove_file(root.join("全部消息记录.txt")).unwrap();
    let plain = t.path().join("plain.zip");
    let s = backup_json(&root, &plain, &[]);
    assert_eq!(s["messages"], 0);
    assert!(s["timings"].get("read_back").is_none(), "{}", s["timings"]);
    expect_code(&run(&["verify", plain.to_str().unwrap()]), 0);
}

/// Names another system allows and Windows does not are restored there under the nearest name
/// Windows holds, and said, as are names that Windows would take for one; the content is the
/// same. Run here with Windows' rules, through the library's plan and restore, since this
/// system holds every one of these names (Linux only: Windows and macOS do not).
#[cfg(target_os = "linux")]
#[test]
fn names_windows_cannot_hold_are_restored_under_near_ones_and_named() {
    use qqvault::archive::read::ArchiveReader;
    use qqvault::archive::restore::{execute, plan, Action, NameRules};
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("in");
    // (archived name, name restored under Windows' rules)
    let names: [(&str, &str); 11] = [
        ("截图 12:30.png", "截图 12：30.png"),
        ("nul.txt", "_nul.txt"),
        ("说明.", "说明．"),
        ("普通.txt", "普通.txt"),
        // One name but for letter case: the first in the manifest's order keeps it, the next
        // is numbered past the names other files have of their own (`Readme~2.txt` is one).
        ("README.txt", "README.txt"),
        ("Readme.txt", "Readme~3.txt"),
        ("Readme~2.txt", "Readme~2.txt"),
        // Case as Windows compares it: one character at a time (σ and ς are both Σ).
        ("ΛΟΓΟΣ.txt", "ΛΟΓΟΣ.txt"),
        ("λογος.txt", "λογος~2.txt"),
        // A nearest Windows name that another file has already.
        ("a:b.txt", "a：b~2.txt"),
        ("a：b.txt", "a：b.txt"),
    ];
    fs::create_dir_all(&dir).unwrap();
    for (i, (name, _)) in names.iter().enumerate() {
        fs::write(dir.join(name), format!("content {i}")).unwrap();
    }
    let archive = t.path().join("out.zip");
    expect_code(
        &run(&["backup", dir.to_str().unwrap(), "-o", archive.to_str().unwrap()]),
        0,
    );
    let mut reader = ArchiveReader::open(&archive).unwrap();
    let native = plan(&reader, &t.path().join("unix"), false, false, NameRules::Unix);
    assert!(native.iter().all(|p| p.renamed_to.is_none()), "{native:?}");
    let target = t.path().join("windows");
    let items = plan(&reader, &target, false, false, NameRules::Windows);
    assert_eq!(items.len(), names.len());
    for (name, fitted) in names {
        let it = items.iter().find(|p| p.path == format!("in/{name}")).unwrap();
        assert_eq!(it.action, Action::Create);
        assert_eq!(it.dest, target.join("in").join(fitted), "{name}");
        let renamed = name != fitted;
        assert_eq!(it.renamed_to.is_some(), renamed, "{name}");
        assert_eq!(it.reason.is_some(), renamed, "{name}: {:?}", it.reason);
    }
    let case = items.iter().find(|p| p.path == "in/Readme.txt").unwrap();
    assert!(
        case.reason.as_deref().unwrap().contains("letter case"),
        "{case:?}"
    );
    let both = items.iter().find(|p| p.path == "in/a:b.txt").unwrap();
    assert!(
        both.reason.as_deref().unwrap().contains("cannot hold")
            && both.reason.as_deref().unwrap().contains("letter case"),
        "{both:?}"
    );
    let report = execute(&mut reader, items).unwrap();
    assert_eq!(report.restored, names.len() as u64);
    assert_eq!(report.renamed.len(), 6, "{:?}", report.renamed);
    assert!(report.failed.is_empty() && report.refused.is_empty());
    for (i, (_, fitted)) in names.iter().enumerate() {
        assert_eq!(
            fs::read(target.join("in").join(fitted)).unwrap(),
            format!("content {i}").as_bytes(),
            "{fitted}"
        );
    }
    assert_eq!(tree(&target).len(), names.len(), "nothing else was written");

    // A file that appears where the plan found none (as another file's name does on a system
    // that takes the two for one) is not replaced: that file fails, the rest is restored.
    let again = t.path().join("again");
    let items = plan(&reader, &again, false, false, NameRules::Windows);
    fs::create_dir_all(again.join("in")).unwrap();
    fs::write(again.join("in/普通.txt"), b"someone else's").unwrap();
    let report = execute(&mut reader, items).unwrap();
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].0, "in/普通.txt");
    assert!(
        report.failed[0].1.contains("nothing was replaced"),
        "{:?}",
        report.failed
    );
    assert_eq!(fs::read(again.join("in/普通.txt")).unwrap(), b"someone else's");
    assert_eq!(report.restored, names.len() as u64 - 1);
}
