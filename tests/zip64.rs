//! ZIP64: more than 65,535 entries, and a file of 4 GiB or more. Both must be read back by
//! independent readers.

mod common;
use common::*;
use std::fs;

#[test]
fn more_than_65535_entries() {
    let t = tempfile::tempdir().unwrap();
    let n = 66_000;
    for i in 0..n {
        write(
            &t.path().join(format!("in/d{:03}/f{i}.txt", i % 500)),
            format!("file number {i}\n").as_bytes(),
        );
    }
    let archive = t.path().join("many.zip");
    let s = backup_json(&t.path().join("in"), &archive, &[]);
    assert_eq!(s["files"], n);
    assert_eq!(s["unique_files"], n);
    let o = python("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(len(z.infolist()))\nassert z.testzip() is None", &[&archive]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        (n + 2).to_string(),
        "every file plus README.txt and manifest.json"
    );
    unzip_test(&archive);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
}

#[test]
fn a_file_of_4_gib_or_more() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("in")).unwrap();
    let big = t.path().join("in/huge.bin");
    let size: u64 = (4 << 30) + 12_345;
    {
        // Sparse where the file system allows: the test needs the size, not the disk space.
        let f = fs::File::create(&big).unwrap();
        f.set_len(size).unwrap();
    }
    write(&t.path().join("in/small.txt"), b"beside the big one");
    let archive = t.path().join("big.zip");
    let o = run(&[
        "backup",
        t.path().join("in").to_str().unwrap(),
        "-o",
        archive.to_str().unwrap(),
        "--json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["bytes_in"], size + 18);
    let o = python(
        "import sys, zipfile, zlib\nz = zipfile.ZipFile(sys.argv[1])\ni = z.getinfo('files/in/huge.bin')\nprint(i.file_size)\ncrc = 0\nwith z.open(i) as f:\n    while True:\n        b = f.read(1 << 24)\n        if not b: break\n        crc = zlib.crc32(b, crc)\nassert crc == i.CRC",
        &[&archive],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), size.to_string());
    unzip_test(&archive);
    expect_code(&run(&["verify", archive.to_str().unwrap()]), 0);
}
