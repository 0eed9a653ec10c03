//! Text folding: the one normalisation that both the index and a plain scan apply before
//! comparing a search term with a message.
//!
//! A term matches a message when `fold(term)` is a substring of `fold(text)`. Folding is Unicode
//! NFKC (full-width forms become half-width, ligatures and circled or squared forms are spelled
//! out) followed by a per-character lower-casing. The lower-casing is deliberately context-free
//! (Greek capital sigma always becomes `σ`, never the word-final `ς` that `str::to_lowercase`
//! would pick), so that folding a piece of a text gives the same characters as the same piece of
//! the folded text wherever the piece stands.

use serde::{Deserialize, Serialize};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Folding between Simplified and Traditional Chinese characters.
///
/// Only `Off` exists today. The variant is part of [`FoldOptions`] and is recorded in every
/// index, so that a later `TraditionalToSimplified` folding can be added without an index built
/// one way ever being searched the other way: an index whose folding this build does not know
/// is refused as a version mismatch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScriptFolding {
    /// Simplified and Traditional characters are different characters.
    #[default]
    Off,
}

/// How text is folded before matching. The default is what every index is built with unless
/// the caller asks otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FoldOptions {
    /// Simplified/Traditional folding (off by default).
    pub script: ScriptFolding,
}

/// Folds `text` for matching: NFKC, then lower-case character by character.
///
/// Use the same options for the text and the terms; the index records the options it was
/// built with ([`crate::IndexInfo::folding`]).
pub fn fold(text: &str, opts: FoldOptions) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, opts, &mut out);
    out
}

/// Folds `text` into `out` (cleared first), reusing its allocation.
pub(crate) fn fold_into(text: &str, opts: FoldOptions, out: &mut String) {
    out.clear();
    let ScriptFolding::Off = opts.script;
    // Most chat text is ASCII and CJK ideographs only: each of those is its own NFKC form (no
    // decomposition, never composed with a neighbour) and only ASCII letters have a case, so
    // such a text folds without the normalisation and case tables (about 170 instructions a
    // character, most of the work of indexing a message).
    if text.chars().all(|c| c.is_ascii() || is_cjk_ideograph(c)) {
        out.extend(text.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    // Other text is usually in NFKC too: the quick check answers that without building the
    // decomposition, which is several times slower.
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        push_lowercase(text.chars(), out);
    } else {
        push_lowercase(text.nfkc(), out);
    }
}

/// Whether `c` is in the block of CJK Unified Ideographs (U+4E00 to U+9FFF), which the
/// characters of Chinese chat text nearly all are. (The compatibility ideographs elsewhere do
/// change under NFKC.)
fn is_cjk_ideograph(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

fn push_lowercase(chars: impl Iterator<Item = char>, out: &mut String) {
    for c in chars {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if is_cjk_ideograph(c) {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> String {
        fold(s, FoldOptions::default())
    }

    #[test]
    fn full_width_becomes_half_width_and_lower_case() {
        assert_eq!(f("ＡＢＣ１２３"), "abc123");
        assert_eq!(f("ａｂｃ"), "abc");
        assert_eq!(f("Hello 世界"), "hello 世界");
        assert_eq!(f("\u{3000}"), " ");
    }

    #[test]
    fn compatibility_forms_expand() {
        assert_eq!(f("㍻"), "平成");
        assert_eq!(f("ﬁ"), "fi");
        assert_eq!(f("①"), "1");
        assert_eq!(f("Ⅻ"), "xii");
    }

    #[test]
    fn lower_casing_is_context_free() {
        assert_eq!(f("ΣΑΣ"), "σασ");
        assert_eq!(f("İ"), "i\u{307}");
    }

    /// The shortcuts (ASCII and CJK ideographs only; no case table for ideographs) give what
    /// the full folding gives, NFKC then per-character lower case, on mixes of the characters
    /// they skip and the ones they must not: compatibility ideographs, combining marks that
    /// compose or reorder, full-width forms, letters with a non-ASCII case.
    #[test]
    fn shortcuts_equal_the_full_folding() {
        let pool = [
            'a',
            'Z',
            '1',
            ' ',
            '[',
            '\u{4E00}',
            '\u{9FFF}',
            '北',
            '京',
            '\u{4DFF}',
            '\u{A000}',
            '\u{F900}',
            '\u{2F800}',
            'e',
            '\u{301}',
            '\u{316}',
            'か',
            '\u{3099}',
            'Ａ',
            '，',
            'ﬁ',
            'Σ',
            'İ',
            '\u{3000}',
            '①',
            '㍻',
        ];
        let full = |s: &str| -> String { s.nfkc().flat_map(char::to_lowercase).collect() };
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for len in 0..2000 {
            let mut s = String::new();
            for _ in 0..len % 9 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly characters of the shortcut, so that it is taken often.
                let i = (state % 64) as usize;
                s.push(if i < pool.len() { pool[i] } else { pool[5 + i % 4] });
            }
            assert_eq!(f(&s), full(&s), "{s:?}");
        }
        assert_eq!(f("Ｂ大ＡＢ"), "b大ab");
        assert_eq!(f("\u{F900}"), "\u{8C48}");
    }

    #[test]
    fn cjk_is_unchanged() {
        assert_eq!(f("北京大学，大灯"), "北京大学,大灯");
        assert_eq!(f("大灯"), "大灯");
    }
}
