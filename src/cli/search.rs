//! `qqvault search ARCHIVE QUERY [filters] [-C N] [--json]`

use super::printer::{self, CliResult};
use super::{EXIT_NEGATIVE, EXIT_OK};
use qqvault::chats::{fmt_time, sender_label, MessageLine};
use qqvault::conversations::TimeBound;
use qqvault::search_index::{self, FoundMessage};
use qqvault_index::{fold, Filters, FoldOptions, Query, SortOrder};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Search every message in the archive: a substring search, exact in Chinese.
#[derive(clap::Args)]
pub struct Args {
    archive: PathBuf,
    /// What to find: terms that must all occur, "quoted phrases", -excluded terms. One argument
    /// (quote it in the shell); it may begin with '-'.
    #[arg(allow_hyphen_values = true)]
    query: String,
    /// Only this conversation (an id or an exact name).
    #[arg(long)]
    chat: Option<String>,
    /// Only messages whose sender's name or id contains this.
    #[arg(long)]
    sender: Option<String>,
    /// Only messages from this time on: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.
    #[arg(long)]
    since: Option<String>,
    /// Only messages up to this time: YYYY-MM-DD (the whole day) or YYYY-MM-DDTHH:MM:SS.
    #[arg(long)]
    until: Option<String>,
    /// At most this many hits; 0 for all.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Order of the hits: time (newest first) or relevance (best first).
    #[arg(long, default_value = "time", value_parser = ["time", "relevance"])]
    sort: String,
    /// Show N messages of context before and after each hit.
    #[arg(short = 'C', long = "context", default_value_t = 0)]
    context: u64,
    /// JSON Lines: the objects of `show --json` plus "chat_name" (and "context": true for context).
    #[arg(long)]
    json: bool,
    /// Colour the matches: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
}

#[derive(Serialize)]
struct JsonHit<'a> {
    #[serde(flatten)]
    message: &'a MessageLine,
    chat_name: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    context: bool,
}

pub fn run(a: Args) -> CliResult {
    let query =
        Query::parse(&a.query).map_err(|e| qqvault::Error::Usage(format!("query {:?}: {e}", a.query)))?;
    let filters = Filters {
        chat: None,
        sender: a.sender.clone(),
        since: a
            .since
            .as_deref()
            .map(|s| TimeBound::parse(s, false))
            .transpose()?
            .map(|t| t.0),
        until: a
            .until
            .as_deref()
            .map(|s| TimeBound::parse(s, true))
            .transpose()?
            .map(|t| t.0),
        limit: a.limit,
        sort: if a.sort == "relevance" {
            SortOrder::Relevance
        } else {
            SortOrder::Newest
        },
    };
    let outcome = search_index::search(&a.archive, &query, &filters, a.chat.as_deref(), a.context)?;
    if let Some(note) = &outcome.note {
        eprintln!("qqvault: note: {note}");
    }
    let mut out = printer::stdout();
    let colour = match a.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    for (i, hit) in outcome.hits.iter().enumerate() {
        if a.json {
            let lines = hit
                .before
                .iter()
                .map(|m| (m, true))
                .chain(std::iter::once((&hit.message, false)))
                .chain(hit.after.iter().map(|m| (m, true)));
            for (message, context) in lines {
                printer::json_line(
                    &mut out,
                    &JsonHit {
                        message,
                        chat_name: &hit.chat_name,
                        context,
                    },
                )?;
            }
        } else {
            if a.context > 0 && i > 0 {
                writeln!(out, "--")?;
            }
            for m in &hit.before {
                print_line(&mut out, hit, m, None, colour)?;
            }
            print_line(&mut out, hit, &hit.message, Some(&query), colour)?;
            for m in &hit.after {
                print_line(&mut out, hit, m, None, colour)?;
            }
        }
    }
    out.flush()?;
    Ok(if outcome.hits.is_empty() {
        EXIT_NEGATIVE
    } else {
        EXIT_OK
    })
}

fn print_line(
    out: &mut impl Write,
    hit: &FoundMessage,
    m: &MessageLine,
    query: Option<&Query>,
    colour: bool,
) -> std::io::Result<()> {
    let mark = if query.is_some() { ':' } else { '-' };
    let text = match query {
        Some(q) if colour => highlight(&m.text, q),
        _ => m.text.clone(),
    };
    let text = text.replace('\n', "\n    ");
    if colour {
        writeln!(
            out,
            "\x1b[32m{}\x1b[0m{mark} \x1b[35m{}\x1b[0m{mark} \x1b[36m{}\x1b[0m{mark} {text}",
            fmt_time(m.time),
            hit.chat_name,
            sender_label(&m.sender, m.sender_id.as_deref())
        )
    } else {
        writeln!(
            out,
            "{}{mark} {}{mark} {}{mark} {text}",
            fmt_time(m.time),
            hit.chat_name,
            sender_label(&m.sender, m.sender_id.as_deref())
        )
    }
}

/// Marks the query's terms in the original text. Each character is folded on its own to map
/// folded positions back to the original; this can miss a match that spans a composition,
/// which only costs a highlight, never a hit.
fn highlight(text: &str, q: &Query) -> String {
    let opts = FoldOptions::default();
    let mut folded = String::new();
    let mut origin: Vec<usize> = Vec::new(); // for each folded byte, the original char index
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (ci, (_, ch)) in chars.iter().enumerate() {
        let f = fold(&ch.to_string(), opts);
        origin.extend(std::iter::repeat_n(ci, f.len()));
        folded.push_str(&f);
    }
    let mut marked = vec![false; chars.len()];
    for term in q.terms() {
        if term.folded.is_empty() {
            continue;
        }
        let mut start = 0;
        while let Some(pos) = folded[start..].find(&term.folded) {
            let a = start + pos;
            let b = a + term.folded.len();
            for &ci in &origin[a..b] {
                marked[ci] = true;
            }
            start = a + folded[a..].chars().next().map_or(1, |c| c.len_utf8());
        }
    }
    let mut s = String::new();
    let mut on = false;
    for (ci, (_, ch)) in chars.iter().enumerate() {
        if marked[ci] != on {
            s.push_str(if marked[ci] { "\x1b[1;31m" } else { "\x1b[0m" });
            on = marked[ci];
        }
        s.push(*ch);
    }
    if on {
        s.push_str("\x1b[0m");
    }
    s
}
