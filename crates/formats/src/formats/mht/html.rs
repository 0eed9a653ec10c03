//! The HTML side of an MHT export: splitting the decoded text into `<tr>` rows whatever the
//! line layout, and reading each row (title, `消息分组`, `消息对象`, `日期`, message).
//!
//! This is not a general HTML parser: it reads the small, fixed vocabulary QQ writes, and
//! anything else comes back as [`Row::Unknown`] so that the caller can report it.

use super::MAX_ROW;
use memchr::memchr;

/// What the row splitter hands on.
pub(super) enum RowEvent<'a> {
    /// One row, from its `<tr` to just before the next `<tr` (or the end of the HTML).
    Row { text: &'a str, line_no: u64 },
    /// A row longer than [`MAX_ROW`]: its beginning, for the report; the rest is skipped.
    Oversized { prefix: &'a str, line_no: u64 },
}

/// Cuts decoded HTML text into rows. Holds at most one row (and, before the first row, a few
/// bytes of the head in case a `<tr` or `</html>` is split between two pieces).
pub(super) struct RowSplitter {
    buf: String,
    /// `buf` starts with the `<tr` of the current row (otherwise it holds head text).
    in_row: bool,
    row_line: u64,
    /// `</html>` was seen: nothing more is read.
    ended: bool,
}

impl RowSplitter {
    pub(super) fn new() -> Self {
        RowSplitter {
            buf: String::new(),
            in_row: false,
            row_line: 0,
            ended: false,
        }
    }

    /// Appends decoded text from physical line `line_no` (followed by a line break when
    /// `ends_line`), handing on every row it completes. Returns true once `</html>` is seen, after
    /// handing on the last row.
    pub(super) fn push(
        &mut self,
        text: &str,
        line_no: u64,
        ends_line: bool,
        on: &mut dyn FnMut(RowEvent<'_>),
    ) -> bool {
        if self.ended {
            return true;
        }
        let old_len = self.buf.len();
        self.buf.push_str(text);
        let end = find_ascii_ci(self.buf.as_bytes(), old_len.saturating_sub(6), b"</html>")
            .map(|at| at + b"</html>".len());
        if end.is_none() && ends_line {
            self.buf.push('\n');
        }
        let limit = end.unwrap_or(self.buf.len());
        let mut cut = 0;
        let mut from = old_len.saturating_sub(3).max(usize::from(self.in_row));
        while let Some(at) = find_row_start(self.buf.as_bytes(), from, limit) {
            if self.in_row {
                on(RowEvent::Row {
                    text: &self.buf[cut..at],
                    line_no: self.row_line,
                });
            }
            self.in_row = true;
            self.row_line = line_no;
            cut = at;
            from = at + 3;
        }
        if let Some(end) = end {
            if self.in_row {
                on(RowEvent::Row {
                    text: &self.buf[cut..end],
                    line_no: self.row_line,
                });
            }
            self.buf = String::new();
            self.in_row = false;
            self.ended = true;
            return true;
        }
        if self.in_row {
            self.buf.drain(..cut);
            if self.buf.len() > MAX_ROW {
                let prefix = &self.buf[..floor_char_boundary(&self.buf, 4096)];
                on(RowEvent::Oversized {
                    prefix,
                    line_no: self.row_line,
                });
                self.buf.clear();
                self.in_row = false;
            }
        } else {
            // Head text is not read; keep only a tail that could begin a split `<tr`/`</html>`.
            let keep_from = floor_char_boundary(&self.buf, self.buf.len().saturating_sub(8));
            self.buf.drain(..keep_from);
        }
        false
    }

    /// The HTML is over: hands on the row still held.
    pub(super) fn finish(&mut self, on: &mut dyn FnMut(RowEvent<'_>)) {
        if self.in_row && !self.buf.is_empty() {
            on(RowEvent::Row {
                text: &self.buf,
                line_no: self.row_line,
            });
        }
        self.buf = String::new();
        self.in_row = false;
        self.ended = true;
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The position of `needle` (ASCII, lower case) in `hay[from..]`, ignoring ASCII case.
fn find_ascii_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = needle.first()?;
    let mut at = from;
    while at < hay.len() {
        let found = at + memchr::memchr2(first.to_ascii_lowercase(), first.to_ascii_uppercase(), &hay[at..])?;
        let candidate = hay.get(found..found + needle.len())?;
        if candidate.eq_ignore_ascii_case(needle) {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

/// The position of the next `<tr` tag (followed by `>`, `/` or white space) in
/// `hay[from..limit]`; a `<tr` whose next byte is not there yet is not found.
fn find_row_start(hay: &[u8], from: usize, limit: usize) -> Option<usize> {
    let mut at = from;
    while at < limit {
        let found = at + memchr(b'<', &hay[at..limit])?;
        if let Some(tag) = hay.get(found + 1..found + 4) {
            if found + 4 <= limit
                && tag[..2].eq_ignore_ascii_case(b"tr")
                && matches!(tag[2], b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
            {
                return Some(found);
            }
        }
        at = found + 1;
    }
    None
}

/// One lexical piece of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    Start {
        name: &'a str,
        attrs: &'a str,
    },
    End {
        name: &'a str,
    },
    /// A comment, doctype or processing instruction: ignored.
    Other,
}

impl Token<'_> {
    fn is_start(&self, tag: &str) -> bool {
        matches!(self, Token::Start { name, .. } if name.eq_ignore_ascii_case(tag))
    }

    fn is_end(&self, tag: &str) -> bool {
        matches!(self, Token::End { name } if name.eq_ignore_ascii_case(tag))
    }
}

/// Splits a row into text and tags. A `<` that does not open a tag is text.
struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        Tokens { s, pos: 0 }
    }

    /// The tag starting at `start` (a `<`) and the position after it.
    fn tag_at(&self, start: usize) -> Option<(Token<'a>, usize)> {
        let s = self.s;
        let bytes = s.as_bytes();
        match *bytes.get(start + 1)? {
            b'!' | b'?' => {
                let end = if s[start..].starts_with("<!--") {
                    s[start + 4..].find("-->").map(|p| start + 4 + p + 3)?
                } else {
                    start + 1 + memchr(b'>', &bytes[start + 1..])? + 1
                };
                Some((Token::Other, end))
            }
            b'/' => {
                let name_end = name_end(bytes, start + 2);
                if name_end == start + 2 {
                    return None;
                }
                let gt = name_end + memchr(b'>', &bytes[name_end..])?;
                Some((
                    Token::End {
                        name: &s[start + 2..name_end],
                    },
                    gt + 1,
                ))
            }
            c if c.is_ascii_alphabetic() => {
                let name_end = name_end(bytes, start + 1);
                let gt = tag_close(bytes, name_end)?;
                let attrs = s[name_end..gt].trim_end_matches('/');
                Some((
                    Token::Start {
                        name: &s[start + 1..name_end],
                        attrs,
                    },
                    gt + 1,
                ))
            }
            _ => None,
        }
    }
}

/// The end of a tag name (ASCII letters and digits) starting at `from`.
fn name_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while bytes.get(at).is_some_and(|b| b.is_ascii_alphanumeric()) {
        at += 1;
    }
    at
}

/// The `>` closing a start tag, outside quoted attribute values; if the quotes do not balance,
/// the first `>`.
fn tag_close(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(found) = memchr::memchr3(b'>', b'"', b'\'', &bytes[at..]) {
        let found = at + found;
        let quote = bytes[found];
        if quote == b'>' {
            return Some(found);
        }
        match memchr(quote, &bytes[found + 1..]) {
            Some(close) => at = found + 1 + close + 1,
            None => break,
        }
    }
    memchr(b'>', &bytes[from..]).map(|p| from + p)
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.s.as_bytes();
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        if bytes[start] == b'<' {
            if let Some((token, next)) = self.tag_at(start) {
                self.pos = next;
                return Some(token);
            }
            let end = memchr(b'<', &bytes[start + 1..]).map_or(bytes.len(), |p| start + 1 + p);
            self.pos = end;
            return Some(Token::Text(&self.s[start..end]));
        }
        let end = memchr(b'<', &bytes[start..]).map_or(bytes.len(), |p| start + p);
        self.pos = end;
        Some(Token::Text(&self.s[start..end]))
    }
}

/// The value of attribute `name` in the attribute text of a start tag, still escaped.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let bytes = attrs.as_bytes();
    let mut at = 0;
    while let Some(found) = find_ascii_ci(bytes, at, name.as_bytes()) {
        at = found + 1;
        let before_ok = found == 0 || bytes[found - 1].is_ascii_whitespace();
        let rest = attrs[found + name.len()..].trim_start();
        let Some(value) = rest.strip_prefix('=').filter(|_| before_ok) else {
            continue;
        };
        let value = value.trim_start();
        for quote in ['"', '\''] {
            if let Some(quoted) = value.strip_prefix(quote) {
                return Some(quoted.find(quote).map_or(quoted, |end| &quoted[..end]));
            }
        }
        let end = value
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(value.len());
        return Some(&value[..end]);
    }
    None
}

/// The value of property `prop` in a CSS `style` value (`color:#42B475;padding-left:10px;`).
fn style_prop<'a>(style: &'a str, prop: &str) -> Option<&'a str> {
    style.split(';').find_map(|decl| {
        let (key, value) = decl.split_once(':')?;
        key.trim().eq_ignore_ascii_case(prop).then(|| value.trim())
    })
}

/// Appends `s` with HTML character references resolved. `&nbsp;` becomes a plain space (QQ
/// writes it for typed spaces); an unknown or invalid reference is kept as written. With
/// `newlines`, raw CR LF and lone CR become `\n`.
fn push_unescaped(out: &mut String, s: &str, newlines: bool) {
    let mut rest = s;
    while let Some(amp) = memchr(b'&', rest.as_bytes()) {
        push_raw(out, &rest[..amp], newlines);
        rest = &rest[amp..];
        match entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    push_raw(out, rest, newlines);
}

fn push_raw(out: &mut String, s: &str, newlines: bool) {
    if newlines && s.contains('\r') {
        out.push_str(&s.replace("\r\n", "\n").replace('\r', "\n"));
    } else {
        out.push_str(s);
    }
}

/// The character of the reference at the start of `s` (which starts with `&`) and its length.
fn entity(s: &str) -> Option<(char, usize)> {
    let semi = s.as_bytes().iter().take(12).position(|&b| b == b';')?;
    let name = &s[1..semi];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                Some(_) => return None,
                None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                    number.parse().ok()?
                }
                None => return None,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

/// A message row, read but not yet dated.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ParsedMessage {
    /// Unescaped, not yet split into nickname and id.
    pub sender: String,
    /// The hex digits of the row's `color:#XXXXXX`, if any.
    pub colour: Option<String>,
    /// Hour (0–23), minute, second.
    pub time: (u8, u8, u8),
    pub text: String,
    /// The `src` of each `<IMG>`, in order.
    pub images: Vec<String>,
}

/// What a row is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Row {
    /// The `消息记录` title or an empty spacer row.
    Framing,
    /// `消息分组:` and its value.
    Group(String),
    /// `消息对象:` and its value.
    Peer(String),
    /// `日期:` and the day, or None when the day cannot be read.
    Date(Option<(u16, u8, u8)>),
    Message(ParsedMessage),
    Unknown,
}

/// Reads one row (its text from `<tr` on).
pub(super) fn parse_row(row: &str) -> Row {
    if let Some(message) = parse_message(row) {
        return message;
    }
    let mut text = String::new();
    for token in Tokens::new(row) {
        match token {
            Token::Text(t) => push_unescaped(&mut text, t, false),
            t if t.is_end("tr") => break,
            _ => {}
        }
    }
    let text = text.trim();
    if text.is_empty() || text == "消息记录" {
        Row::Framing
    } else if let Some(group) = labelled(text, &["消息分组", "group"]) {
        Row::Group(group.to_string())
    } else if let Some(peer) = labelled(text, &["消息对象", "contact"]) {
        Row::Peer(peer.to_string())
    } else if let Some(date) = labelled(text, &["日期"]) {
        Row::Date(parse_date(date))
    } else {
        Row::Unknown
    }
}

/// The value after `label:` (or full-width `：`), trimmed.
fn labelled<'a>(text: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        let rest = text.strip_prefix(label)?.trim_start();
        let value = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
        Some(value.trim())
    })
}

/// A message row: None when the row has no sender `<div style=float:left…>` (so it is some
/// other row), `Some(Row::Unknown)` when it has one but the rest does not fit.
fn parse_message(row: &str) -> Option<Row> {
    let mut tokens = Tokens::new(row);
    let mut outer_style = None;
    loop {
        if let Token::Start { name, attrs } = tokens.next()? {
            if name.eq_ignore_ascii_case("div") {
                let style = attr(attrs, "style");
                if style
                    .and_then(|s| style_prop(s, "float"))
                    .is_some_and(|v| v.eq_ignore_ascii_case("left"))
                {
                    break;
                }
                outer_style = style;
            }
        }
    }
    let colour = outer_style
        .and_then(|s| style_prop(s, "color"))
        .and_then(|c| c.strip_prefix('#'))
        .map(str::to_string);

    let mut sender = String::new();
    loop {
        match tokens.next() {
            None => return Some(Row::Unknown),
            Some(t) if t.is_end("div") => break,
            Some(t) if t.is_end("td") || t.is_end("tr") => return Some(Row::Unknown),
            Some(Token::Text(t)) => push_unescaped(&mut sender, t, false),
            Some(_) => {}
        }
    }

    let mut time_text = String::new();
    let mut body_open = false;
    loop {
        match tokens.next() {
            None => return Some(Row::Unknown),
            Some(t) if t.is_end("div") => break,
            Some(t) if t.is_start("div") => {
                body_open = true;
                break;
            }
            Some(t) if t.is_end("td") || t.is_end("tr") => return Some(Row::Unknown),
            Some(Token::Text(t)) => push_unescaped(&mut time_text, t, false),
            Some(_) => {}
        }
    }
    let Some(time) = parse_time(&time_text) else {
        return Some(Row::Unknown);
    };

    while !body_open {
        match tokens.next() {
            Some(t) if t.is_start("div") => body_open = true,
            Some(Token::Text(t)) if t.trim().is_empty() => {}
            Some(Token::Start { .. } | Token::Other) => {}
            _ => return Some(Row::Unknown),
        }
    }

    let mut text = String::new();
    let mut images = Vec::new();
    let mut depth = 0usize;
    for token in tokens {
        match token {
            Token::Text(t) => push_unescaped(&mut text, t, true),
            Token::Start { name, attrs } => {
                if name.eq_ignore_ascii_case("br") {
                    text.push('\n');
                } else if name.eq_ignore_ascii_case("img") {
                    text.push_str("[图片]");
                    if let Some(src) = attr(attrs, "src").filter(|s| !s.is_empty()) {
                        let mut name = String::new();
                        push_unescaped(&mut name, src, false);
                        images.push(name);
                    }
                } else if name.eq_ignore_ascii_case("div") {
                    depth += 1;
                }
            }
            t if t.is_end("div") => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            t if t.is_end("td") || t.is_end("tr") => break,
            _ => {}
        }
    }
    Some(Row::Message(ParsedMessage {
        sender,
        colour,
        time,
        text,
        images,
    }))
}

/// `4:36:46`, `上午 11:29:53`, `下午 1:42:48` or `8:43:38 PM` (after unescaping `&nbsp;`) as
/// (hour 0–23, minute, second).
fn parse_time(text: &str) -> Option<(u8, u8, u8)> {
    let text = text.trim();
    let (mut pm, mut rest) = match (text.strip_prefix("上午"), text.strip_prefix("下午")) {
        (Some(rest), _) => (Some(false), rest.trim_start()),
        (_, Some(rest)) => (Some(true), rest.trim_start()),
        _ => (None, text),
    };
    if pm.is_none() && rest.len() >= 2 {
        let (head, tail) = rest.split_at(floor_char_boundary(rest, rest.len() - 2));
        if tail.eq_ignore_ascii_case("am") {
            pm = Some(false);
            rest = head.trim_end();
        } else if tail.eq_ignore_ascii_case("pm") {
            pm = Some(true);
            rest = head.trim_end();
        }
    }
    let mut fields = rest.split(':');
    let mut number = |max_len: usize| -> Option<u8> {
        let field = fields.next()?;
        if field.is_empty() || field.len() > max_len || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        field.parse().ok()
    };
    let (hour, minute, second) = (number(2)?, number(2)?, number(2)?);
    if fields.next().is_some() || minute > 59 || second > 60 {
        return None;
    }
    let hour = match pm {
        None if hour <= 23 => hour,
        Some(pm) if hour <= 12 => hour % 12 + if pm { 12 } else { 0 },
        _ => return None,
    };
    Some((hour, minute, second))
}

/// `2020-03-22` or `2012/4/11` as (year, month, day), checked against the calendar.
fn parse_date(text: &str) -> Option<(u16, u8, u8)> {
    let mut fields = text.trim().split(['-', '/']);
    let mut number = |min_len: usize, max_len: usize| -> Option<u16> {
        let field = fields.next()?;
        if field.len() < min_len || field.len() > max_len || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        field.parse().ok()
    };
    let (year, month, day) = (number(4, 4)?, number(1, 2)?, number(1, 2)?);
    if fields.next().is_some() {
        return None;
    }
    let (month, day) = (u8::try_from(month).ok()?, u8::try_from(day).ok()?);
    qqvault_core::MessageTime::new(year, month, day, 0, 0, 0)?;
    Some((year, month, day))
}

/// Splits a sender as the TXT header is split: the last `(id)` or `<id>` at the very end is the
/// id (it must be non-empty and hold no bracket of its kind), the rest is the nickname, kept as
/// written. Without such a group the whole text is the nickname.
pub(super) fn split_sender(sender: &str) -> (String, Option<String>) {
    for (open, close) in [('(', ')'), ('<', '>')] {
        if let Some(inner_end) = sender.strip_suffix(close) {
            if let Some(at) = inner_end.rfind(open) {
                let id = &inner_end[at + open.len_utf8()..];
                if !id.is_empty() && !id.contains(close) {
                    return (inner_end[..at].to_string(), Some(id.to_string()));
                }
            }
        }
    }
    (sender.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("4:36:46"), Some((4, 36, 46)));
        assert_eq!(parse_time("上午 11:29:53"), Some((11, 29, 53)));
        assert_eq!(parse_time("上午 12:05:00"), Some((0, 5, 0)));
        assert_eq!(parse_time("下午 1:42:48"), Some((13, 42, 48)));
        assert_eq!(parse_time("下午 12:00:01"), Some((12, 0, 1)));
        assert_eq!(parse_time("8:43:38 PM"), Some((20, 43, 38)));
        assert_eq!(parse_time("12:43:38 am"), Some((0, 43, 38)));
        assert_eq!(parse_time("23:59:59"), Some((23, 59, 59)));
        assert_eq!(parse_time("24:00:00"), None);
        assert_eq!(parse_time("下午 13:00:00"), None);
        assert_eq!(parse_time("1:2"), None);
        assert_eq!(parse_time("1:02:03:04"), None);
        assert_eq!(parse_time("午"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2020-03-22"), Some((2020, 3, 22)));
        assert_eq!(parse_date(" 2012/4/11 "), Some((2012, 4, 11)));
        assert_eq!(parse_date("2021-02-29"), None);
        assert_eq!(parse_date("20-02-02"), None);
        assert_eq!(parse_date("2020-02-02-02"), None);
    }

    #[test]
    fn senders() {
        let split = |s: &str| split_sender(s);
        assert_eq!(
            split("风自由(23246779)"),
            ("风自由".into(), Some("23246779".into()))
        );
        assert_eq!(split("大魔头<a@b.c>"), ("大魔头".into(), Some("a@b.c".into())));
        assert_eq!(split("(7471)"), ("".into(), Some("7471".into())));
        assert_eq!(split("(A(123123)"), ("(A".into(), Some("123123".into())));
        assert_eq!(split("(B)(456456)"), ("(B)".into(), Some("456456".into())));
        assert_eq!(split("匿名A"), ("匿名A".into(), None));
        assert_eq!(split("空()"), ("空()".into(), None));
    }

    #[test]
    fn entities() {
        let mut out = String::new();
        push_unescaped(
            &mut out,
            "a&lt;b&gt;&amp;&quot;&nbsp;&#65;&#x42;&#X43;&bogus;&#xZZ;&",
            false,
        );
        assert_eq!(out, "a<b>&\" ABC&bogus;&#xZZ;&");
    }

    #[test]
    fn splitter_handles_any_layout() {
        let mut rows = Vec::new();
        let mut splitter = RowSplitter::new();
        let html = "<html><table><tr><td>a</td></tr><t";
        splitter.push(html, 1, false, &mut |e| {
            if let RowEvent::Row { text, line_no } = e {
                rows.push((text.to_string(), line_no))
            }
        });
        let ended = splitter.push("r><td>b</td></tr></table></ht", 1, false, &mut |e| {
            if let RowEvent::Row { text, line_no } = e {
                rows.push((text.to_string(), line_no))
            }
        });
        assert!(!ended);
        let ended = splitter.push("ml>garbage<tr>", 2, true, &mut |e| {
            if let RowEvent::Row { text, line_no } = e {
                rows.push((text.to_string(), line_no))
            }
        });
        assert!(ended);
        assert_eq!(
            rows,
            vec![
                ("<tr><td>a</td></tr>".to_string(), 1),
                ("<tr><td>b</td></tr></table></html>".to_string(), 1),
            ]
        );
    }
}
