//! Opening an index: from byte ranges of one file (as inside the archive zip), read-only, and
//! refusing indexes of another version or damaged ones without panicking.

mod corpus;

use proptest::prelude::*;
use qqvault_index::{
    Filters, IndexBuilder, IndexFileSlice, OpenError, Query, Searcher, SortOrder, INFO_FILE,
};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn build_small(dir: &Path) {
    let mut builder = IndexBuilder::create(dir, 20_000_000, 1).expect("create");
    for d in corpus::generate(1500, 5, 11) {
        builder.add(&d).expect("add");
    }
    let stats = builder.finish().expect("finish");
    assert_eq!(stats.docs, 1500);
    assert!(stats.files.iter().any(|f| f == INFO_FILE));
    assert!(stats.files.iter().any(|f| f == "meta.json"));
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes every file of `dir` into one file, with junk before, between and after, the way a
/// zip holds Stored entries between headers; returns the slices.
fn concatenate(dir: &Path, into: &Path) -> Vec<IndexFileSlice> {
    let mut out = fs::File::create(into).expect("create");
    let mut offset = 0u64;
    let mut slices = Vec::new();
    let junk = |out: &mut fs::File, n: usize, offset: &mut u64| {
        let bytes: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
        out.write_all(&bytes).expect("write");
        *offset += n as u64;
    };
    junk(&mut out, 4099, &mut offset);
    for name in listing(dir) {
        let data = fs::read(dir.join(&name)).expect("read");
        slices.push(IndexFileSlice {
            name,
            offset,
            len: data.len() as u64,
        });
        out.write_all(&data).expect("write");
        offset += data.len() as u64;
        junk(&mut out, 77, &mut offset);
    }
    junk(&mut out, 1000, &mut offset);
    slices
}

#[test]
fn slices_of_one_file_give_the_same_results_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("index");
    build_small(&dir);
    let before = listing(&dir);
    // Nothing but the index's own files: no lock, no bookkeeping.
    assert!(before.iter().all(|n| !n.starts_with('.')), "{before:?}");

    let archive = tmp.path().join("archive.bin");
    let slices = concatenate(&dir, &archive);
    let from_dir = Searcher::open_dir(&dir).expect("open dir");
    let from_slices = Searcher::open_slices(&archive, &slices).expect("open slices");
    assert_eq!(from_dir.info(), from_slices.info());
    for q in ["的", "哈哈", "北京大学", "ok", "1", "[图片]", "我 -你", "\"a b\""] {
        let Ok(query) = Query::parse(q) else { continue };
        for sort in [SortOrder::Newest, SortOrder::Relevance] {
            for limit in [0, 3] {
                let filters = Filters {
                    limit,
                    sort,
                    ..Filters::default()
                };
                assert_eq!(
                    from_dir.search(&query, &filters).expect("search"),
                    from_slices.search(&query, &filters).expect("search"),
                    "{q}"
                );
            }
        }
    }
    drop((from_dir, from_slices));
    assert_eq!(
        listing(&dir),
        before,
        "opening and searching wrote to the index directory"
    );
    let mut around = listing(tmp.path());
    around.retain(|n| n != "index");
    assert_eq!(around, vec!["archive.bin".to_string()]);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for name in listing(from) {
        fs::copy(from.join(&name), to.join(&name)).expect("copy");
    }
}

fn edit_info(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(INFO_FILE);
    let mut info: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
    edit(&mut info);
    fs::write(&path, serde_json::to_vec(&info).expect("json")).expect("write");
}

#[test]
fn other_versions_are_detected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("index");
    build_small(&dir);

    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("schema", Box::new(|v| v["schema_version"] = 999.into())),
        ("tokenizer", Box::new(|v| v["tokenizer_version"] = 0.into())),
        ("format", Box::new(|v| v["format"] = "something-else".into())),
        (
            "folding",
            Box::new(|v| v["folding"]["script"] = "traditional_to_simplified".into()),
        ),
    ];
    for (what, edit) in cases {
        let copy = tmp.path().join(what);
        copy_dir(&dir, &copy);
        edit_info(&copy, edit);
        match Searcher::open_dir(&copy) {
            Err(OpenError::VersionMismatch { found, expected }) => {
                assert_ne!(found, expected, "{what}");
            }
            Err(other) => panic!("{what}: expected a version mismatch, got {other:?}"),
            Ok(_) => panic!("{what}: expected a version mismatch, opened"),
        }
    }

    let missing = tmp.path().join("missing");
    copy_dir(&dir, &missing);
    fs::remove_file(missing.join(INFO_FILE)).expect("rm");
    assert!(matches!(
        Searcher::open_dir(&missing),
        Err(OpenError::MissingFile { .. })
    ));

    let no_meta = tmp.path().join("no-meta");
    copy_dir(&dir, &no_meta);
    fs::remove_file(no_meta.join("meta.json")).expect("rm");
    assert!(matches!(Searcher::open_dir(&no_meta), Err(OpenError::Corrupt(_))));
}

#[test]
fn bad_slices_are_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("small.bin");
    fs::write(&file, b"0123456789").expect("write");
    let slice = |name: &str, offset, len| IndexFileSlice {
        name: name.to_string(),
        offset,
        len,
    };
    let open = |slices: &[IndexFileSlice]| Searcher::open_slices(&file, slices);
    assert!(matches!(open(&[slice("a", 5, 6)]), Err(OpenError::Corrupt(_))));
    assert!(matches!(
        open(&[slice("a", u64::MAX, 2)]),
        Err(OpenError::Corrupt(_))
    ));
    assert!(matches!(
        open(&[slice("a", 0, 2), slice("a", 2, 2)]),
        Err(OpenError::Corrupt(_))
    ));
    assert!(matches!(open(&[]), Err(OpenError::MissingFile { .. })));
    assert!(matches!(
        Searcher::open_slices(&PathBuf::from("/nonexistent/qqvault"), &[]),
        Err(OpenError::Io { .. })
    ));
}

#[test]
fn builder_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::write(tmp.path().join("x"), b"x").expect("write");
    assert!(IndexBuilder::create(tmp.path(), 20_000_000, 1).is_err());
}

/// A file shorter than tantivy's footer (8 bytes) in place of any index file is an error, not
/// a panic: tantivy checks for 4 bytes and then subtracts 8.
#[test]
fn files_shorter_than_a_footer_are_errors() {
    let (tmp, names) = damaged_copies();
    for (which, name) in names.iter().enumerate() {
        for len in 0..=9 {
            for fill in [0u8, 0xFF] {
                let archive = tmp.path().join(format!("short-{which}-{len}-{fill}.bin"));
                let mut slices = concatenate(&tmp.path().join("index"), &archive);
                let mut data = fs::read(&archive).expect("read");
                let target = slices.iter_mut().find(|s| &s.name == name).expect("slice");
                target.offset = data.len() as u64;
                target.len = len;
                data.extend(std::iter::repeat_n(fill, len as usize));
                fs::write(&archive, &data).expect("write");
                if let Ok(searcher) = Searcher::open_slices(&archive, &slices) {
                    let query = Query::parse("的").expect("query");
                    let _ = searcher.search(&query, &Filters::default());
                }
                fs::remove_file(&archive).expect("rm");
            }
        }
    }
}

/// A valid index whose files are replaced by arbitrary bytes, one at a time, or cut short.
fn damaged_copies() -> &'static (tempfile::TempDir, Vec<String>) {
    static CELL: std::sync::OnceLock<(tempfile::TempDir, Vec<String>)> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        build_small(&tmp.path().join("index"));
        let names = listing(&tmp.path().join("index"));
        (tmp, names)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Arbitrary bytes in place of one index file, or a file cut short, never panic: opening
    /// or searching fails with an error, or works.
    #[test]
    fn damaged_files_never_panic(
        which in 0usize..16,
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cut in any::<bool>(),
    ) {
        let (tmp, names) = damaged_copies();
        let name = &names[which % names.len()];
        let archive = tmp.path().join(format!("archive-{which}-{}.bin", bytes.len()));
        let mut slices = concatenate(&tmp.path().join("index"), &archive);
        let data = fs::read(&archive).expect("read");
        let mut data = data;
        let target = slices.iter_mut().find(|s| &s.name == name).expect("slice");
        if cut {
            target.len /= 2;
        } else {
            let at = data.len() as u64;
            data.extend_from_slice(&bytes);
            target.offset = at;
            target.len = bytes.len() as u64;
        }
        fs::write(&archive, &data).expect("write");
        if let Ok(searcher) = Searcher::open_slices(&archive, &slices) {
            for q in ["的", "哈哈", "北京大学 -的"] {
                let query = Query::parse(q).expect("query");
                let _ = searcher.search(&query, &Filters::default());
            }
        }
        fs::remove_file(&archive).expect("rm");
    }

    /// Any query string parses or is refused, and never panics; a parsed query searches.
    #[test]
    fn any_query_string_is_handled(text in "\\PC{0,12}") {
        let (tmp, _) = damaged_copies();
        let searcher = Searcher::open_dir(&tmp.path().join("index")).expect("open");
        if let Ok(query) = Query::parse(&text) {
            searcher.search(&query, &Filters { limit: 5, ..Filters::default() }).expect("search");
        }
    }
}
