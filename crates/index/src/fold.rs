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
    // Most chat text (CJK ideographs, ASCII) is already in NFKC: the quick check answers that
    // without building the decomposition, which is several times slower.
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        push_lowercase(text.chars(), out);
    } else {
        push_lowercase(text.nfkc(), out);
    }
}

fn push_lowercase(chars: impl Iterator<Item = char>, out: &mut String) {
    for c in chars {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
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

    #[test]
    fn cjk_is_unchanged() {
        assert_eq!(f("北京大学，大灯"), "北京大学,大灯");
        assert_eq!(f("大灯"), "大灯");
    }
}
