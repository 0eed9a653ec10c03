//! The search query: what a user types, and the reference meaning of a match.
//!
//! Syntax, deliberately small:
//! - terms are separated by whitespace, and every term must occur (AND);
//! - double quotes (`"`) group text into one term, whitespace included (`"北京 大学"`); quotes
//!   work as in a shell: `ab"c d"e` is the one term `abc de`; a quote left open runs to the end;
//! - a term that begins with an unquoted `-` is an exclusion: `-广告`, `-"免费 领取"`;
//!   a lone `-` is the literal term `-`, and `"-5"` searches for the text `-5`.
//!
//! Every term and exclusion is folded ([`crate::fold`]) when parsed; terms that fold to nothing
//! (`""`) are dropped. A query with no term at all is [`QueryError::Empty`]; a query made only
//! of exclusions is [`QueryError::OnlyExclusions`], because listing every message but some is
//! not a search (and would read the whole index).
//!
//! [`Query::matches`] is the meaning of a match. The index uses it to verify every candidate,
//! and a scan over the archive uses it directly, so both give the same hits.

use crate::fold::{fold, FoldOptions};
use std::fmt;

/// A parsed query: terms that must all occur and terms that must not occur, each folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    include: Vec<QueryTerm>,
    exclude: Vec<QueryTerm>,
    folding: FoldOptions,
}

/// One term of a query, as typed and as folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTerm {
    /// The text as typed (quotes removed).
    pub raw: String,
    /// `raw` folded with the query's options; never empty.
    pub folded: String,
}

/// Why a query string is not a query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing to search for.
    #[error("the query is empty")]
    Empty,
    /// Only exclusions (`-term`): at least one term must be searched for.
    #[error("the query has only exclusions; add at least one term to search for")]
    OnlyExclusions,
}

impl Query {
    /// Parses `s` with the default folding.
    pub fn parse(s: &str) -> Result<Query, QueryError> {
        Query::parse_with(s, FoldOptions::default())
    }

    /// Parses `s`, folding its terms with `folding`.
    pub fn parse_with(s: &str, folding: FoldOptions) -> Result<Query, QueryError> {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for (raw, excluded) in split_terms(s) {
            let folded = fold(&raw, folding);
            if folded.is_empty() {
                continue;
            }
            let term = QueryTerm { raw, folded };
            if excluded {
                exclude.push(term);
            } else {
                include.push(term);
            }
        }
        if include.is_empty() {
            return Err(if exclude.is_empty() {
                QueryError::Empty
            } else {
                QueryError::OnlyExclusions
            });
        }
        Ok(Query {
            include,
            exclude,
            folding,
        })
    }

    /// The terms that must all occur.
    pub fn terms(&self) -> &[QueryTerm] {
        &self.include
    }

    /// The terms that must not occur.
    pub fn exclusions(&self) -> &[QueryTerm] {
        &self.exclude
    }

    /// The folding the terms were folded with.
    pub fn folding(&self) -> FoldOptions {
        self.folding
    }

    /// The same query folded with other options (the index's, when they differ).
    pub fn refold(&self, folding: FoldOptions) -> Query {
        let refold = |terms: &[QueryTerm]| {
            terms
                .iter()
                .map(|t| QueryTerm {
                    raw: t.raw.clone(),
                    folded: fold(&t.raw, folding),
                })
                .filter(|t| !t.folded.is_empty())
                .collect::<Vec<_>>()
        };
        Query {
            include: refold(&self.include),
            exclude: refold(&self.exclude),
            folding,
        }
    }

    /// Whether a message whose folded text is `folded_text` matches: every term occurs in it as
    /// a substring and no exclusion does. `folded_text` must be folded with [`Query::folding`].
    pub fn matches(&self, folded_text: &str) -> bool {
        self.include
            .iter()
            .all(|t| folded_text.contains(t.folded.as_str()))
            && !self
                .exclude
                .iter()
                .any(|t| folded_text.contains(t.folded.as_str()))
    }
}

impl fmt::Display for Query {
    /// The query in its own syntax, every term quoted: parsing the output gives the same query.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (t, prefix) in self
            .include
            .iter()
            .map(|t| (t, ""))
            .chain(self.exclude.iter().map(|t| (t, "-")))
        {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            // A quote inside a term cannot be written in this syntax; drop it for display.
            write!(f, "{prefix}\"{}\"", t.raw.replace('"', ""))?;
        }
        Ok(())
    }
}

/// Splits a query string into (raw term, is exclusion), shell-style.
fn split_terms(s: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut term = String::new();
        let mut excluded = false;
        let mut in_quotes = false;
        let mut quoted_anything = false;
        let mut at_start = true;
        while let Some(c) = chars.next() {
            if c == '"' {
                in_quotes = !in_quotes;
                quoted_anything = true;
            } else if !in_quotes && c.is_whitespace() {
                break;
            } else if at_start && c == '-' && !excluded {
                // A leading `-` makes an exclusion only when something follows it.
                match chars.peek() {
                    Some(&next) if !next.is_whitespace() => excluded = true,
                    _ => term.push('-'),
                }
            } else {
                term.push(c);
            }
            at_start = false;
        }
        if !term.is_empty() || quoted_anything {
            out.push((term, excluded));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &Query) -> (Vec<&str>, Vec<&str>) {
        (
            q.terms().iter().map(|t| t.folded.as_str()).collect(),
            q.exclusions().iter().map(|t| t.folded.as_str()).collect(),
        )
    }

    #[test]
    fn terms_phrases_and_exclusions() {
        let q = Query::parse(r#"北京  "大 学" -广告 -"免费 领取" ABC"#).unwrap();
        assert_eq!(
            terms(&q),
            (vec!["北京", "大 学", "abc"], vec!["广告", "免费 领取"])
        );
    }

    #[test]
    fn leading_minus_and_literal_minus() {
        let q = Query::parse("-广告 灯").unwrap();
        assert_eq!(terms(&q), (vec!["灯"], vec!["广告"]));
        let q = Query::parse("- 灯").unwrap();
        assert_eq!(terms(&q), (vec!["-", "灯"], vec![]));
        let q = Query::parse(r#""-5""#).unwrap();
        assert_eq!(terms(&q), (vec!["-5"], vec![]));
        let q = Query::parse("a--b --c").unwrap();
        assert_eq!(terms(&q), (vec!["a--b"], vec!["-c"]));
    }

    #[test]
    fn empty_and_only_exclusions() {
        assert_eq!(Query::parse(""), Err(QueryError::Empty));
        assert_eq!(Query::parse("   \u{3000} "), Err(QueryError::Empty));
        assert_eq!(Query::parse(r#""" -"""#), Err(QueryError::Empty));
        assert_eq!(Query::parse("-a -b"), Err(QueryError::OnlyExclusions));
    }

    #[test]
    fn quotes_work_like_a_shell() {
        let q = Query::parse(r#"ab"c d"e "open phrase"#).unwrap();
        assert_eq!(terms(&q), (vec!["abc de", "open phrase"], vec![]));
    }

    #[test]
    fn matches_is_folded_substring() {
        let q = Query::parse("ＡＢＣ 大灯 -坏").unwrap();
        assert!(q.matches(&fold("xxabcyy 大灯亮了", FoldOptions::default())));
        assert!(!q.matches(&fold("xxabcyy 大灯坏了", FoldOptions::default())));
        assert!(!q.matches(&fold("大灯", FoldOptions::default())));
    }

    #[test]
    fn display_round_trips() {
        let q = Query::parse(r#"北京 "a b" -c"#).unwrap();
        assert_eq!(Query::parse(&q.to_string()).unwrap(), q);
    }
}
