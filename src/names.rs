//! File names between disks and the archive.
//!
//! Zip entry names are UTF-8 (with the language-encoding flag). A name on disk may not be:
//! GBK bytes from an old Windows disk copied to Linux, say. Such a name is decoded for the zip
//! (GB18030 when that decodes it cleanly, otherwise with replacement characters) and its
//! original bytes are kept, so that restore recreates the name exactly.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

/// One file-name component: its decoded form, and its original bytes when they were not UTF-8.
pub struct RawName {
    pub decoded: String,
    pub raw: Option<Vec<u8>>,
}

impl RawName {
    pub fn from_os(name: &OsStr) -> Self {
        if let Some(s) = name.to_str() {
            return RawName {
                decoded: s.to_string(),
                raw: None,
            };
        }
        let bytes = os_bytes(name);
        #[cfg(unix)]
        let decoded = {
            let (text, _, had_errors) = encoding_rs::GB18030.decode(&bytes);
            if had_errors {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                text.into_owned()
            }
        };
        #[cfg(not(unix))]
        let decoded = name.to_string_lossy().into_owned();
        RawName {
            decoded,
            raw: Some(bytes),
        }
    }
}

/// The original bytes of a non-UTF-8 path, as recorded in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RawPath {
    /// "unix": the bytes of the path; "windows": its UTF-16 code units, little-endian.
    pub os: String,
    /// The path relative to the input's top folder, components separated by '/', in hex.
    pub hex: String,
}

/// A file's place in the archive, below `files/`: `top/dir/name`.
///
/// One is kept for every file until the manifest is written, so it holds no more than it must:
/// the original bytes only when the name does not say them (boxed, as they rarely exist).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivePath {
    pub name: String,
    /// The original bytes of the relative path, recorded whenever `name` does not say it
    /// exactly (not UTF-8, a `\\` replaced, or made distinct with `~N`).
    pub raw: Option<Box<RawPath>>,
}

impl ArchivePath {
    /// A path known only by its archive name (read back from an archive).
    pub fn plain(name: &str) -> Self {
        ArchivePath {
            name: name.to_string(),
            raw: None,
        }
    }

    /// Joins the top folder and the path relative to the input.
    pub fn from_parts(top: &str, rel: &Path) -> Self {
        let mut name = top.to_string();
        let mut any_raw = false;
        for comp in rel.components() {
            if let Component::Normal(part) = comp {
                let rn = RawName::from_os(part);
                name.push('/');
                if rn.decoded.contains('\\') || rn.raw.is_some() {
                    // A backslash is a separator to Windows and to unzip tools: the zip name
                    // shows `_`, the original is kept.
                    any_raw = true;
                }
                name.push_str(&rn.decoded.replace('\\', "_"));
            }
        }
        ArchivePath {
            name,
            raw: any_raw.then(|| Box::new(raw_path(rel))),
        }
    }

    /// Returns the same path, or one with a `~N` suffix if the name was taken already; the
    /// suffixed name records the original bytes of `rel` (the path relative to the input, when
    /// known) for restore.
    pub fn made_distinct(mut self, seen: &mut HashSet<String>, rel: Option<&Path>) -> Self {
        if seen.insert(self.name.clone()) {
            return self;
        }
        let base = self.name.clone();
        let mut n = 2;
        loop {
            let candidate = numbered(&base, n);
            if seen.insert(candidate.clone()) {
                self.name = candidate;
                // The name no longer says the original: keep its bytes for restore.
                if self.raw.is_none() {
                    self.raw = rel.map(|r| Box::new(raw_path(r)));
                }
                return self;
            }
            n += 1;
        }
    }
}

/// `path` with `~n` before the extension of its last part: `a/b.jpg` gives `a/b~2.jpg`, `a/.x`
/// gives `a/.x~2`. How twins are named, in the archive and on restore.
pub fn numbered(path: &str, n: u32) -> String {
    let last = path.rfind('/').map_or(0, |i| i + 1);
    match path[last..].rfind('.') {
        Some(dot) if dot > 0 => format!("{}~{n}{}", &path[..last + dot], &path[last + dot..]),
        _ => format!("{path}~{n}"),
    }
}

/// The original bytes of a path relative to its input, as the manifest records them.
fn raw_path(rel: &Path) -> RawPath {
    let parts: Vec<Vec<u8>> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(os_bytes(part)),
            _ => None,
        })
        .collect();
    RawPath {
        os: native_os().to_string(),
        hex: hex::encode(join_raw(&parts, NATIVE_UNITS)),
    }
}

/// How a system spells a name in bytes: as its bytes (Unix), or as UTF-16 units, two bytes
/// each, low byte first (Windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Units {
    Bytes,
    Utf16Le,
}

const NATIVE_UNITS: Units = if cfg!(windows) {
    Units::Utf16Le
} else {
    Units::Bytes
};

/// The parts of a raw path, joined by '/' spelled in the same units as they are: a separator
/// of one byte between UTF-16 parts would shift every unit after it by a byte.
fn join_raw(parts: &[Vec<u8>], units: Units) -> Vec<u8> {
    let sep: &[u8] = match units {
        Units::Bytes => b"/",
        Units::Utf16Le => &[b'/', 0],
    };
    parts.join(sep)
}

/// The parts of a raw path written by [`join_raw`]: split on the unit '/', and only on whole
/// units (in UTF-16, a byte 0x2F is also half of many other characters).
fn split_raw(bytes: &[u8], units: Units) -> Vec<&[u8]> {
    match units {
        Units::Bytes => bytes.split(|b| *b == b'/').filter(|p| !p.is_empty()).collect(),
        Units::Utf16Le => {
            let mut out = Vec::new();
            let mut start = 0;
            let mut i = 0;
            while i + 1 < bytes.len() {
                if bytes[i] == b'/' && bytes[i + 1] == 0 {
                    if i > start {
                        out.push(&bytes[start..i]);
                    }
                    start = i + 2;
                }
                i += 2;
            }
            if start < bytes.len() {
                out.push(&bytes[start..]);
            }
            out
        }
    }
}

fn native_os() -> &'static str {
    if cfg!(windows) {
        "windows"
    } else {
        "unix"
    }
}

#[cfg(unix)]
fn os_bytes(s: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(windows)]
fn os_bytes(s: &OsStr) -> Vec<u8> {
    use std::os::windows::ffi::OsStrExt;
    s.encode_wide().flat_map(|u| u.to_le_bytes()).collect()
}

#[cfg(not(any(unix, windows)))]
fn os_bytes(s: &OsStr) -> Vec<u8> {
    s.to_string_lossy().as_bytes().to_vec()
}

/// Why an archive path cannot be restored below a folder.
pub fn unsafe_reason(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return Some("absolute path");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Some("drive letter");
    }
    for part in path.split(['/', '\\']) {
        if part == ".." {
            return Some("'..' leaves the target folder");
        }
        if part.contains('\0') {
            return Some("NUL byte in name");
        }
    }
    None
}

/// The name to give on Windows to a part of an archived path that Windows cannot hold as it
/// is (a name from another system), or None when it can. Each character Windows refuses in a
/// name becomes its full-width form (`12:30` becomes `12：30`), a control character its
/// picture (U+2400 and on), a trailing dot or space its full-width form (Windows would drop
/// it), and a device name (`CON`, `nul.txt`, `COM1`) takes a leading `_`.
pub fn windows_name(part: &str) -> Option<String> {
    let kept = part.trim_end_matches(['.', ' ']).len();
    let mut out = String::with_capacity(part.len() + 4);
    for (i, c) in part.char_indices() {
        out.push(match c {
            '<' => '＜',
            '>' => '＞',
            ':' => '：',
            '"' => '＂',
            '|' => '｜',
            '?' => '？',
            '*' => '＊',
            '\\' => '＼',
            '\u{1}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('_'),
            '.' if i >= kept => '．',
            ' ' if i >= kept => '\u{3000}',
            c => c,
        });
    }
    let stem = out.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let device = match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => true,
        s => {
            // COM1 to COM9 and LPT1 to LPT9, and with ¹ ² ³ as their digit.
            let mut rest = s
                .strip_prefix("COM")
                .or_else(|| s.strip_prefix("LPT"))
                .unwrap_or("")
                .chars();
            matches!(
                (rest.next(), rest.next()),
                (Some('1'..='9' | '¹' | '²' | '³'), None)
            )
        }
    };
    if device {
        out.insert(0, '_');
    }
    (out != part).then_some(out)
}

/// An archived path (parts joined by '/') with each part Windows cannot hold given its nearest
/// Windows form ([`windows_name`]), or None when Windows holds every part.
pub fn windows_path(path: &str) -> Option<String> {
    let parts: Vec<Option<String>> = path.split('/').map(windows_name).collect();
    parts.iter().any(Option::is_some).then(|| {
        path.split('/')
            .zip(parts)
            .map(|(p, w)| w.unwrap_or_else(|| p.to_string()))
            .collect::<Vec<_>>()
            .join("/")
    })
}

/// A name as a file system that does not tell letter case apart compares it: each character
/// as its one upper-case form (NTFS upper-cases one character at a time), where it has one.
pub fn case_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// The path to create on this system for an archived path: from its original bytes when they
/// were recorded on a system of the same kind, from its UTF-8 name otherwise.
/// `name` is `top/rel`; `raw` holds `rel` only.
pub fn restore_path(root: &Path, name: &str, raw: Option<&RawPath>) -> PathBuf {
    let mut out = root.to_path_buf();
    let mut parts = name.split('/');
    let top = parts.next().unwrap_or("");
    out.push(top);
    if let Some(raw) = raw {
        if raw.os == native_os() {
            if let Ok(bytes) = hex::decode(&raw.hex) {
                let comps = split_raw(&bytes, NATIVE_UNITS);
                // Bytes that do not split into as many parts as the name has (UTF-16 parts
                // joined by a one-byte '/', as Windows builds before this fix recorded them)
                // are not taken: the name is.
                let whole_units = NATIVE_UNITS == Units::Bytes || bytes.len() % 2 == 0;
                if whole_units && comps.len() + 1 == name.split('/').count() {
                    for comp in comps {
                        out.push(os_from_bytes(comp));
                    }
                    return out;
                }
            }
        }
    }
    for part in parts {
        out.push(part);
    }
    out
}

#[cfg(unix)]
fn os_from_bytes(b: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(b).to_os_string()
}

#[cfg(windows)]
fn os_from_bytes(b: &[u8]) -> OsString {
    use std::os::windows::ffi::OsStringExt;
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    OsString::from_wide(&units)
}

#[cfg(not(any(unix, windows)))]
fn os_from_bytes(b: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_named() {
        assert!(unsafe_reason("a/../../etc").is_some());
        assert!(unsafe_reason("/etc/passwd").is_some());
        assert!(unsafe_reason("C:/x").is_some());
        assert!(unsafe_reason("..\\x").is_some());
        assert!(unsafe_reason("photos/a..b.jpg").is_none());
    }

    #[test]
    fn distinct_names_keep_extension() {
        let mut seen = HashSet::new();
        let a = ArchivePath::plain("t/a.jpg").made_distinct(&mut seen, None);
        let b = ArchivePath::plain("t/a.jpg").made_distinct(&mut seen, None);
        assert_eq!(a.name, "t/a.jpg");
        assert_eq!(b.name, "t/a~2.jpg");
    }

    #[test]
    fn names_windows_cannot_hold_are_given_near_ones() {
        assert_eq!(windows_name("截图 12:30.png").as_deref(), Some("截图 12：30.png"));
        assert_eq!(
            windows_name(r#"a<b>c"d|e?f*g\h"#).as_deref(),
            Some("a＜b＞c＂d｜e？f＊g＼h")
        );
        assert_eq!(windows_name("tab\there").as_deref(), Some("tab\u{2409}here"));
        assert_eq!(windows_name("notes. .").as_deref(), Some("notes．\u{3000}．"));
        assert_eq!(windows_name("nul.txt").as_deref(), Some("_nul.txt"));
        assert_eq!(windows_name("CON").as_deref(), Some("_CON"));
        assert_eq!(windows_name("com7.tar.gz").as_deref(), Some("_com7.tar.gz"));
        assert_eq!(windows_name("COM¹.txt").as_deref(), Some("_COM¹.txt"));
        assert_eq!(windows_name("lpt³").as_deref(), Some("_lpt³"));
        assert_eq!(windows_name("com10.txt"), None);
        assert_eq!(windows_name("lpt0.txt"), None);
        assert_eq!(windows_name("console.txt"), None);
        assert_eq!(windows_name("聊天记录 (1).txt"), None);
        assert_eq!(windows_name(".hidden"), None);
        assert_eq!(windows_name("v1.2"), None);
        // Whatever it gives, Windows can hold.
        for name in ["a:b", "x. ", "aux", "a\u{7}b", "com1 .txt"] {
            let w = windows_name(name).unwrap();
            assert!(windows_name(&w).is_none(), "{name} gave {w}");
        }
    }

    /// Windows names are kept as UTF-16 units: a path of several parts comes back as the same
    /// parts, also where a character holds the byte 0x2F without being '/' (U+012F, U+2F00).
    #[test]
    fn utf16_parts_come_back_whole() {
        let utf16 = |s: &str| {
            s.encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let parts = vec![utf16("聊天记录"), utf16("į⼀"), utf16("照片 1.jpg")];
        let joined = join_raw(&parts, Units::Utf16Le);
        assert_eq!(joined.len() % 2, 0, "whole units");
        let back: Vec<Vec<u8>> = split_raw(&joined, Units::Utf16Le)
            .into_iter()
            .map(|p| p.to_vec())
            .collect();
        assert_eq!(back, parts);
        let bytes = vec![b"\xc1\xc4".to_vec(), b"a.txt".to_vec()];
        let back = split_raw(b"\xc1\xc4/a.txt", Units::Bytes);
        assert_eq!(back, bytes.iter().map(|b| b.as_slice()).collect::<Vec<_>>());
        assert_eq!(join_raw(&bytes, Units::Bytes), b"\xc1\xc4/a.txt");
    }

    /// Recorded bytes that do not split into the parts the name has are not trusted: the
    /// file comes back at its name (as from archives whose Windows bytes were joined wrongly).
    #[test]
    fn raw_bytes_that_disagree_with_the_name_give_way_to_it() {
        let units = |s: &str| match NATIVE_UNITS {
            Units::Bytes => s.as_bytes().to_vec(),
            Units::Utf16Le => s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        };
        let raw = RawPath {
            os: native_os().to_string(),
            hex: hex::encode(join_raw(&[units("a"), units("b")], NATIVE_UNITS)),
        };
        let back = restore_path(Path::new("r"), "top/x.txt", Some(&raw));
        assert_eq!(back, Path::new("r").join("top").join("x.txt"));
        let back = restore_path(Path::new("r"), "top/x/y.txt", Some(&raw));
        assert_eq!(back, Path::new("r").join("top").join("a").join("b"));
    }

    #[cfg(unix)]
    #[test]
    fn gbk_name_is_decoded_and_kept() {
        use std::os::unix::ffi::OsStrExt;
        let raw = b"\xc1\xc4\xcc\xec.txt"; // 聊天.txt in GBK
        let ap = ArchivePath::from_parts("top", Path::new(OsStr::from_bytes(raw)));
        assert_eq!(ap.name, "top/聊天.txt");
        let rp = *ap.raw.clone().unwrap();
        let back = restore_path(Path::new("/r"), &ap.name, Some(&rp));
        assert_eq!(back.file_name().unwrap().as_bytes(), raw);
    }
}
