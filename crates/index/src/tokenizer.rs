//! The tokenizer of the index: overlapping character bigrams of the folded text with real
//! positions, and the last character alone.
//!
//! Why bigrams with positions: the bigram at position `i` is characters `i` and `i + 1` of the
//! folded text. A term of `n >= 2` characters occurs at character `p` exactly when its bigrams
//! occur at positions `p, p + 1, ...`; pinning a subset of them that covers every character
//! (a phrase query with offsets) is therefore an exact substring test, not an approximation.
//! Every character takes part, whitespace, punctuation, Latin and digits included, so the same
//! rule covers all scripts and phrases with spaces. Word segmentation (jieba) cannot do this: it
//! misses substrings across word boundaries.
//!
//! Single characters: a character occurs in a text exactly when some token starts with it,
//! because every character but the last starts a bigram, and the last is emitted alone (a
//! one-character token can never be mistaken for a bigram). A one-character term is therefore
//! the union of the postings of the tokens that start with it: a range of the term dictionary.
//! That costs one token per message instead of a second, unigram, field with one token per
//! character, which would make the index about 40% larger and slower to build.
//!
//! Tantivy does not store tokenizers in the index, so the tokenizer is registered again on every
//! open ([`register`]); [`TOKENIZER_VERSION`] changes whenever what it emits changes.

use crate::fold::{fold_into, FoldOptions};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Version of what the tokenizers emit; recorded in the index.
pub const TOKENIZER_VERSION: u32 = 1;

/// Tokenizer name of the gram field.
pub(crate) const GRAM_TOKENIZER: &str = "qqvault_grams_v1";

/// Folds the text, then emits its bigrams and its last character.
#[derive(Clone, Debug)]
pub(crate) struct GramTokenizer {
    folding: FoldOptions,
    /// Reused between documents: one allocation per indexing thread, not per message.
    folded: String,
}

impl GramTokenizer {
    pub(crate) fn new(folding: FoldOptions) -> Self {
        GramTokenizer {
            folding,
            folded: String::new(),
        }
    }
}

/// The stream over one folded text.
pub(crate) struct GramStream<'a> {
    chars: std::str::CharIndices<'a>,
    /// The character not yet emitted as the start of a token, with its byte offset.
    prev: Option<(usize, char)>,
    position: usize,
    token: Token,
}

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = GramStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream<'a> {
        fold_into(text, self.folding, &mut self.folded);
        let mut chars = self.folded.char_indices();
        let prev = chars.next();
        GramStream {
            chars,
            prev,
            position: 0,
            token: Token::default(),
        }
    }
}

impl TokenStream for GramStream<'_> {
    fn advance(&mut self) -> bool {
        let Some((prev_offset, prev)) = self.prev else {
            return false;
        };
        self.token.text.clear();
        self.token.text.push(prev);
        self.token.offset_from = prev_offset;
        self.prev = self.chars.next();
        self.token.offset_to = match self.prev {
            Some((offset, c)) => {
                self.token.text.push(c);
                offset + c.len_utf8()
            }
            None => prev_offset + prev.len_utf8(),
        };
        self.token.position = self.position;
        self.position += 1;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Registers the tokenizer (built for `folding`) with an index.
pub(crate) fn register(index: &tantivy::Index, folding: FoldOptions) {
    index
        .tokenizers()
        .register(GRAM_TOKENIZER, GramTokenizer::new(folding));
}

/// The bigrams of an already folded term, with their character offsets inside the term, as a
/// phrase query needs them: every character covered, as few bigrams as possible (offsets 0, 2,
/// 4, ... and the last pair). Empty for a term of fewer than two characters.
pub(crate) fn covering_bigrams(folded_term: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = folded_term.chars().collect();
    if chars.len() < 2 {
        return Vec::new();
    }
    let last = chars.len() - 2;
    let mut offsets: Vec<usize> = (0..=last).step_by(2).collect();
    if offsets.last() != Some(&last) {
        offsets.push(last);
    }
    offsets
        .into_iter()
        .map(|i| (i, chars[i..i + 2].iter().collect()))
        .collect()
}

/// Every bigram of an already folded term with its character offset inside the term. Empty
/// for a term of fewer than two characters.
pub(crate) fn all_bigrams(folded_term: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = folded_term.chars().collect();
    chars
        .windows(2)
        .enumerate()
        .map(|(i, pair)| (i, pair.iter().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize)> {
        let mut tokenizer = GramTokenizer::new(FoldOptions::default());
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.position));
        }
        out
    }

    #[test]
    fn bigrams_have_increasing_positions_and_the_last_character_ends() {
        assert_eq!(
            tokens("北京大学"),
            vec![
                ("北京".into(), 0),
                ("京大".into(), 1),
                ("大学".into(), 2),
                ("学".into(), 3)
            ]
        );
        assert_eq!(tokens("灯"), vec![("灯".into(), 0)]);
        assert_eq!(tokens(""), vec![]);
        assert_eq!(
            tokens("Ａ b"),
            vec![("a ".into(), 0), (" b".into(), 1), ("b".into(), 2)]
        );
        assert_eq!(tokens("㍻"), vec![("平成".into(), 0), ("成".into(), 1)]);
    }

    #[test]
    fn covering_bigrams_cover_every_character() {
        let offsets = |t: &str| {
            covering_bigrams(t)
                .into_iter()
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        assert_eq!(offsets("a"), Vec::<usize>::new());
        assert_eq!(offsets("ab"), vec![0]);
        assert_eq!(offsets("abc"), vec![0, 1]);
        assert_eq!(offsets("abcd"), vec![0, 2]);
        assert_eq!(offsets("abcde"), vec![0, 2, 3]);
        assert_eq!(
            covering_bigrams("北京大学"),
            vec![(0, "北京".into()), (2, "大学".into())]
        );
    }

    #[test]
    fn all_bigrams_overlap() {
        assert_eq!(all_bigrams("a"), Vec::<(usize, String)>::new());
        assert_eq!(
            all_bigrams("北京大学"),
            vec![(0, "北京".into()), (1, "京大".into()), (2, "大学".into())]
        );
    }
}
