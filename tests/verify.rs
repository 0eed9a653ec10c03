//! End-to-end: `verify` finds every kind of damage and names the entry when the damage lies in one.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

fn make_archive(dir: &Path) -> PathBuf {
    write(&dir.join("in/photo.jpg"), &noise(7, 3000));
    write(
        &dir.join("in/chat.txt"),
        "2016-07-19 15:27:15 某人(12345)\r\n你好\r\n\r\n"
            .repeat(40)
            .as_bytes(),
    );
    write(&dir.join("in/twin-copy.jpg"), &noise(7, 3000));
    let archive = dir.join("a.zip");
    expect_code(
        &run(&[
            "backup",
            dir.join("in").to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            // The entry counts below are those of the archive without its viewer pages.
            "--no-viewer",
        ]),
        0,
    );
    archive
}

/// `verify --json`; the same check is also run reading the file once past the page cache (the
/// way a backup checks the archive it wrote so), which must find the same.
fn verify_json(archive: &Path) -> (i32, serde_json::Value) {
    let o = run(&["verify", archive.to_str().unwrap(), "--json"]);
    let seq = qqvault()
        .args(["verify", archive.to_str().unwrap(), "--json"])
        .env("QQVAULT_VERIFY_SEQUENTIAL", "1")
        .output()
        .expect("run qqvault");
    let (v, w) = (json(&o), json(&seq));
    let mut found = problems(&v);
    let mut found_seq = problems(&w);
    found.sort();
    found_seq.sort();
    assert_eq!(code(&seq), code(&o), "{v}\n{w}");
    assert_eq!(found_seq, found, "the sequential check finds the same: {v}\n{w}");
    assert_eq!(w["ok"], v["ok"]);
    assert_eq!(w["entries"], v["entries"]);
    (code(&o), v)
}

fn problems(v: &serde_json::Value) -> Vec<(Option<String>, String)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["entry"].as_str().map(str::to_string),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Offset of an entry's data, from Python's zipfile (an independent reader).
fn data_offset(archive: &Path, name: &str) -> usize {
    let o = python(
        "import sys, zipfile, struct\nz = zipfile.ZipFile(sys.argv[1])\ni = z.getinfo(sys.argv[2])\nf = open(sys.argv[1], 'rb'); f.seek(i.header_offset); h = f.read(30)\nn, e = struct.unpack('<HH', h[26:30])\nprint(i.header_offset + 30 + n + e)",
        &[archive, Path::new(name)],
    );
    stdout(&o).trim().parse().unwrap()
}

#[test]
fn an_intact_archive_verifies_with_json_counts() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["ok"], true);
    // Every entry (README.txt, the two distinct files, the chat, its index and viewer pages,
    // manifest.json): the same count as an independent reader finds.
    let o = python(
        "import sys, zipfile\nprint(len(zipfile.ZipFile(sys.argv[1]).infolist()))",
        &[&archive],
    );
    assert_eq!(v["entries"].to_string(), stdout(&o).trim());
    assert!(v["entries"].as_u64().unwrap() >= 6);
    assert!(v["bytes"].as_u64().unwrap() > 6000);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn a_flipped_byte_inside_an_entry_is_named() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let mut bytes = fs::read(&archive).unwrap();
    let off = data_offset(&archive, "files/in/photo.jpg");
    bytes[off + 1000] ^= 0x01;
    fs::write(&archive, &bytes).unwrap();
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    let p = problems(&v);
    assert!(
        p.iter()
            .any(|(e, k)| e.as_deref() == Some("files/in/photo.jpg") && k == "crc_mismatch"),
        "{p:?}"
    );
    assert!(p.iter().any(|(_, k)| k == "seal_mismatch"), "{p:?}");
}

#[test]
fn a_flipped_byte_in_deflated_data_is_named() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let mut bytes = fs::read(&archive).unwrap();
    let off = data_offset(&archive, "files/in/chat.txt");
    bytes[off + 20] ^= 0x40;
    fs::write(&archive, &bytes).unwrap();
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    let p = problems(&v);
    assert!(
        p.iter().any(|(e, _)| e.as_deref() == Some("files/in/chat.txt")),
        "{p:?}"
    );
}

#[test]
fn any_single_flipped_byte_anywhere_is_detected() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let original = fs::read(&archive).unwrap();
    let len = original.len();
    // Every 13th byte, and every byte of the last 400 (central directory, end record, seal).
    let mut positions: Vec<usize> = (0..len).step_by(13).collect();
    positions.extend(len.saturating_sub(400)..len);
    let damaged = t.path().join("damaged.zip");
    for pos in positions {
        let mut b = original.clone();
        b[pos] ^= 0x20;
        fs::write(&damaged, &b).unwrap();
        let o = run(&["verify", damaged.to_str().unwrap()]);
        assert_eq!(
            code(&o),
            1,
            "flip at byte {pos} of {len} not detected: {}",
            stdout(&o)
        );
        // Read once past the page cache too (the check after a backup written so).
        let o = qqvault()
            .args(["verify", damaged.to_str().unwrap()])
            .env("QQVAULT_VERIFY_SEQUENTIAL", "1")
            .output()
            .expect("run qqvault");
        assert_eq!(
            code(&o),
            1,
            "flip at byte {pos} of {len} not detected by the sequential check: {}",
            stdout(&o)
        );
    }
}

#[test]
fn a_truncated_file_and_a_non_zip_are_damage_a_missing_file_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let bytes = fs::read(&archive).unwrap();
    for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 2, 10, 0] {
        fs::write(&archive, &bytes[..cut]).unwrap();
        let (c, v) = verify_json(&archive);
        assert_eq!(c, 1, "truncated to {cut}: {v}");
        assert_eq!(v["ok"], false);
    }
    fs::write(&archive, b"just some text, not a zip at all").unwrap();
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    assert!(problems(&v).iter().any(|(_, k)| k == "not_a_zip"), "{v}");
    let o = run(&["verify", t.path().join("nope.zip").to_str().unwrap()]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("nope.zip"),
        "the error names the file: {}",
        stderr(&o)
    );
}

/// Rewrites the archive with Python's zipfile: optionally drops an entry or replaces the
/// manifest, keeping the original seal comment.
fn rewrite(archive: &Path, drop: &str, manifest_edit: &str) {
    let script = format!(
        "import sys, zipfile, json\nsrc = zipfile.ZipFile(sys.argv[1])\nitems = [(i, src.read(i.filename)) for i in src.infolist()]\ncomment = src.comment\nsrc.close()\nout = zipfile.ZipFile(sys.argv[1], 'w')\nfor i, data in items:\n    if i.filename == {drop:?}:\n        continue\n    if i.filename == 'manifest.json':\n        m = json.loads(data)\n{manifest_edit}\n        data = json.dumps(m).encode()\n    out.writestr(i, data)\nout.comment = comment\nout.close()\n"
    );
    let o = python(&script, &[archive]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_removed_entry_is_named() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    rewrite(&archive, "files/in/chat.txt", "        pass");
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    let p = problems(&v);
    assert!(
        p.iter()
            .any(|(e, k)| e.as_deref() == Some("files/in/chat.txt") && k == "entry_missing"),
        "{p:?}"
    );
}

#[test]
fn a_manifest_that_lies_is_caught_naming_the_entry() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    rewrite(
        &archive,
        "",
        "        for e in m['entries']:\n            if e['name'] == 'files/in/photo.jpg':\n                e['sha256'] = '0' * 64",
    );
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    let p = problems(&v);
    assert!(
        p.iter()
            .any(|(e, k)| e.as_deref() == Some("files/in/photo.jpg") && k == "hash_mismatch"),
        "{p:?}"
    );
}

#[test]
fn a_manifest_with_wrong_totals_or_an_unlisted_entry_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    rewrite(
        &archive,
        "",
        "        m['totals']['files'] = 99\n        m['entries'] = [e for e in m['entries'] if e['name'] != 'README.txt']",
    );
    let (c, v) = verify_json(&archive);
    assert_eq!(c, 1);
    let p = problems(&v);
    assert!(p.iter().any(|(_, k)| k == "totals_mismatch"), "{p:?}");
    assert!(
        p.iter()
            .any(|(e, k)| e.as_deref() == Some("README.txt") && k == "entry_unlisted"),
        "{p:?}"
    );
}

#[test]
fn against_reports_missing_and_changed_sources() {
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let src = t.path().join("in");
    expect_code(
        &run(&[
            "verify",
            archive.to_str().unwrap(),
            "--against",
            src.to_str().unwrap(),
        ]),
        0,
    );
    write(&src.join("new.txt"), b"added later");
    write(&src.join("photo.jpg"), &noise(8, 3000)); // same size, other content
    let o = run(&[
        "verify",
        archive.to_str().unwrap(),
        "--against",
        src.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 1);
    let v = json(&o);
    let p = problems(&v);
    assert!(p.iter().any(|(_, k)| k == "missing_from_archive"), "{p:?}");
    assert!(
        p.iter()
            .any(|(e, k)| e.as_deref() == Some("files/in/photo.jpg") && k == "changed_since_backup"),
        "{p:?}"
    );
    assert_eq!(p.len(), 2, "{p:?}");
}

/// The check reads the archive through a shared map and gives its pages back as it goes: the
/// pages that faults map around each entry must go too, or a check of many small entries keeps
/// most of the archive resident (it kept about 60 MB of this 64 MB archive).
#[cfg(target_os = "linux")]
#[test]
fn verify_of_many_small_entries_stays_small() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..4000u64 {
        write(
            &t.path().join(format!("in/{}/{i}.jpg", i % 40)),
            &noise(i + 1, 16 << 10),
        );
    }
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
    // Peak resident size of the verify process alone, from the kernel's accounting: through
    // the map (the pages given back), and read once past the page cache (a few buffers). The
    // map's figure is 23 MB on a quiet machine; on a busy one the threads drift further apart,
    // and the pages between them stay resident longer (31 MB was seen): the bound leaves room
    // for that and still fails a check that keeps the archive resident (some 80 MB).
    for (sequential, limit_mb) in [("0", 45), ("1", 50)] {
        let o = python(
            "import os, resource, subprocess, sys\n\
             env = dict(os.environ, QQVAULT_VERIFY_SEQUENTIAL=sys.argv[3])\n\
             r = subprocess.run([sys.argv[1], 'verify', sys.argv[2]], capture_output=True, env=env)\n\
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            &[
                Path::new(env!("CARGO_BIN_EXE_qqvault")),
                &archive,
                Path::new(sequential),
            ],
        );
        let out = stdout(&o);
        let mut parts = out.split_whitespace();
        assert_eq!(parts.next(), Some("0"), "{out} {}", stderr(&o));
        let peak_kb: u64 = parts.next().unwrap().parse().unwrap();
        eprintln!(
            "verify of 4000 entries (64 MB), sequential={sequential}: peak RSS {} MB",
            peak_kb / 1024
        );
        assert!(
            peak_kb < limit_mb << 10,
            "sequential={sequential}: peak RSS {peak_kb} KB"
        );
    }
}

/// The check that an update makes of its new archive compares the start it copied from the
/// earlier archive with that archive (`KnownPrefix`), instead of hashing it again, and goes on
/// from that archive's hash state: a whole copy gives the seal that hashing every byte gives,
/// and one byte that differs inside an entry of the copied start is caught, although that
/// entry's data is not hashed again.
#[test]
fn a_start_copied_from_a_sealed_archive_is_compared_with_it() {
    use qqvault::archive::verify::{verify, verify_with, KnownPrefix, ProblemKind, VerifyOptions};
    use qqvault::progress::Silent;
    use sha2::Digest;
    let t = tempfile::tempdir().unwrap();
    let archive = make_archive(t.path());
    let bytes = fs::read(&archive).unwrap();
    // The copied start ends where the entry after the photo starts (an update copies whole
    // entries).
    let o = python(
        "import sys, zipfile\nz = sorted(zipfile.ZipFile(sys.argv[1]).infolist(), key=lambda i: i.header_offset)\nn = [i.filename for i in z].index('files/in/photo.jpg')\nprint(z[n + 1].header_offset)",
        &[&archive],
    );
    let end: usize = stdout(&o).trim().parse().unwrap();
    // Each entry from its local header to the next one's.
    let o = python(
        "import sys, zipfile\nz = sorted(zipfile.ZipFile(sys.argv[1]).infolist(), key=lambda i: i.header_offset)\nfor a, b in zip(z, z[1:]):\n    print(a.filename, a.header_offset, b.header_offset)",
        &[&archive],
    );
    let spans: std::collections::HashMap<String, std::ops::Range<u64>> = stdout(&o)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].parse().unwrap()..f[2].parse().unwrap())
        })
        .filter(|(_, r)| r.end <= end as u64)
        .collect();
    assert!(spans.contains_key("files/in/photo.jpg"), "{spans:?}");
    let photo = data_offset(&archive, "files/in/photo.jpg");
    assert!(photo + 1000 < end);
    // The entry after the start is taken for one copied as it is from that archive, to the
    // same place (`moved`): its data is compared rather than decompressed and hashed.
    let o = python(
        "import sys, zipfile\nz = sorted(zipfile.ZipFile(sys.argv[1]).infolist(), key=lambda i: i.header_offset)\nn = [i.filename for i in z].index('files/in/photo.jpg')\nprint(z[n + 1].filename, z[n + 1].compress_size)",
        &[&archive],
    );
    let line = stdout(&o);
    let (after, after_len) = line.trim().split_once(' ').unwrap();
    let after_at = data_offset(&archive, after);
    let moved = std::collections::HashMap::from([(
        after.to_string(),
        qqvault::archive::write::RawCopy {
            source: archive.clone(),
            from_name: after.to_string(),
            name: after.to_string(),
            from: after_at as u64,
            to: after_at as u64,
            len: after_len.parse().unwrap(),
        },
    )]);
    let manifest = qqvault::archive::read::ArchiveReader::open(&archive)
        .unwrap()
        .manifest;
    let known = KnownPrefix {
        from: archive.clone(),
        len: end as u64,
        compared: 0,
        spans,
        moved,
        state: sha2::Sha256::new_with_prefix(&bytes[..end]),
        records: manifest
            .entries
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect(),
    };
    let copy = t.path().join("copy.zip");
    fs::write(&copy, &bytes).unwrap();
    let whole = verify_with(&copy, VerifyOptions::default(), Some(&known), &Silent).unwrap();
    assert!(whole.ok, "{:?}", whole.problems);
    let hashed = verify(&copy, VerifyOptions::default(), &Silent).unwrap();
    assert!(hashed.ok);
    assert_eq!(whole.computed_seal, hashed.computed_seal);
    assert_eq!((whole.entries, whole.bytes), (hashed.entries, hashed.bytes));

    let mut bad = bytes.clone();
    bad[photo + 1000] ^= 0x01;
    fs::write(&copy, &bad).unwrap();
    let r = verify_with(&copy, VerifyOptions::default(), Some(&known), &Silent).unwrap();
    assert!(!r.ok);
    let at = format!("offset {}", photo + 1000);
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ProblemKind::HashMismatch && p.entry.is_none() && p.detail.contains(&at)),
        "{:?}",
        r.problems
    );

    // One byte of the copied entry differs: it is checked whole, and named.
    let mut bad = bytes.clone();
    bad[after_at + 2] ^= 0x01;
    fs::write(&copy, &bad).unwrap();
    let r = verify_with(&copy, VerifyOptions::default(), Some(&known), &Silent).unwrap();
    assert!(
        r.problems.iter().any(|p| p.entry.as_deref() == Some(after)
            && matches!(p.kind, ProblemKind::CrcMismatch | ProblemKind::EntryUnreadable)),
        "{:?}",
        r.problems
    );
}
