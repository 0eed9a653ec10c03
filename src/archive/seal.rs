//! The seal: a small text record in the zip comment that holds the SHA-256 of every byte of
//! the file before it, and where the manifest starts.
//!
//! Format (version 1), ASCII, one `key value` pair per line, `\n` line ends, fixed length so
//! that the hash can be filled in after the rest of the file is written:
//!
//! ```text
//! qqvault-seal 1
//! sha256 <64 hex digits: SHA-256 of every byte of the file before the "q" of qqvault-seal>
//! manifest <20 decimal digits: offset of the manifest's local file header>
//! sealed <YYYY-MM-DDTHH:MM:SSZ: when the archive passed its check and was sealed>
//! check <64 hex digits: SHA-256 of the seal's own text before this line>
//! ```
//!
//! The `check` line makes the seal cover itself: any changed byte of the seal (its date, the
//! case of a hex digit) is caught, not only changes before it.
//!
//! Readers ignore keys they do not know, so later versions can add records (where the search
//! index starts, say) without breaking older readers.

use qqvault_core::Sha256Digest;

pub const MAGIC: &[u8] = b"qqvault-seal ";
pub const SEAL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    pub sha256: Sha256Digest,
    pub manifest_offset: u64,
    pub sealed_at: String,
    /// Key-value records this version does not know, kept as read.
    pub other: Vec<(String, String)>,
}

impl Seal {
    /// The comment text. Its length depends only on the number of records, never on the
    /// values, so that a placeholder can be replaced in place.
    pub fn render(&self) -> String {
        let mut s = format!(
            "qqvault-seal {SEAL_VERSION}\nsha256 {}\nmanifest {:020}\nsealed {:<20}\n",
            self.sha256, self.manifest_offset, self.sealed_at
        );
        for (k, v) in &self.other {
            s.push_str(&format!("{k} {v}\n"));
        }
        let check = Sha256Digest::of(s.as_bytes());
        s.push_str(&format!("check {check}\n"));
        s
    }

    pub fn parse(text: &[u8]) -> Result<Seal, String> {
        let text = std::str::from_utf8(text).map_err(|_| "the seal is not ASCII text".to_string())?;
        let check_at = text.rfind("check ").ok_or("the seal has no check line")?;
        let (body, check_line) = text.split_at(check_at);
        let check = check_line["check ".len()..].trim_end_matches('\n');
        if check != Sha256Digest::of(body.as_bytes()).to_hex() {
            return Err("the seal's own check does not match its text: the seal was changed".into());
        }
        let text = body;
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or("");
        let version = first
            .strip_prefix("qqvault-seal ")
            .ok_or_else(|| "the zip comment is not a qqvault seal".to_string())?;
        if version != SEAL_VERSION.to_string() {
            return Err(format!("seal version {version:?} is not one this qqvault reads"));
        }
        let mut sha256 = None;
        let mut manifest_offset = None;
        let mut sealed_at = None;
        let mut other = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| format!("malformed seal line {line:?}"))?;
            match k {
                "sha256" => sha256 = Some(v.parse::<Sha256Digest>()?),
                "manifest" => {
                    manifest_offset = Some(
                        v.trim()
                            .parse::<u64>()
                            .map_err(|_| format!("bad manifest offset {v:?}"))?,
                    )
                }
                "sealed" => sealed_at = Some(v.trim_end().to_string()),
                _ => other.push((k.to_string(), v.to_string())),
            }
        }
        Ok(Seal {
            sha256: sha256.ok_or("the seal has no sha256 line")?,
            manifest_offset: manifest_offset.ok_or("the seal has no manifest line")?,
            sealed_at: sealed_at.ok_or("the seal has no sealed line")?,
            other,
        })
    }
}

/// Finds where the seal starts in the last bytes of a file: the last occurrence of the magic.
pub fn find_in_tail(tail: &[u8]) -> Option<usize> {
    tail.windows(MAGIC.len()).rposition(|w| w == MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_and_final_have_the_same_length() {
        let a = Seal {
            sha256: Sha256Digest([0; 32]),
            manifest_offset: 0,
            sealed_at: String::new(),
            other: vec![],
        };
        let b = Seal {
            sha256: Sha256Digest::of(b"x"),
            manifest_offset: 123456789,
            sealed_at: "2026-11-24T05:00:00Z".into(),
            other: vec![],
        };
        assert_eq!(a.render().len(), b.render().len());
        assert_eq!(Seal::parse(b.render().as_bytes()).unwrap(), b);
    }
}
