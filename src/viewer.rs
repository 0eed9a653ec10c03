//! The viewer: static HTML pages that show the conversations as a person reads them, with no
//! qqvault, no network and no script needed.
//!
//! Backup writes these pages into the archive under `viewer/` (so unzipping with any tool and
//! opening `viewer/index.html` shows everything), and `qqvault export --format html` writes them
//! into a folder. This module only renders: it takes the conversation records and their
//! messages and hands back pages as (path, bytes); the caller stores them.
//!
//! Layout below the viewer's root:
//!
//! ```text
//! index.html                     every conversation: name, kind, messages, dates
//! index-2.html ...               (only when one index page would pass the size limit)
//! chats/<id>/index.html          one conversation: its months, with message counts
//! chats/<id>/YYYY-MM.html        the messages of one month
//! chats/<id>/YYYY-MM-p2.html ... the same month continued, when one page would pass the limit
//! chats/<id>/unknown.html        messages whose export gave no time
//! ```
//!
//! Pages link to images and files by relative paths to the archive's own entries (`files/...`,
//! `media/...`), computed from where the pages sit ([`ViewerOptions::root`]): `viewer/` inside
//! the archive, the export folder itself for `export`. Every text is HTML-escaped and every
//! path component of a link is percent-encoded, as entry names hold spaces, `#`, `%`, `?` and
//! Chinese. A small inline script adds conveniences only (a filter box, a note on images that
//! cannot be shown, loading every image at once for printing); everything reads without it.
//!
//! Rendering streams: [`ConversationRenderer`] takes one message at a time and hands back a
//! page as soon as it is complete, so memory holds one page (under [`MAX_PAGE_BYTES`]) besides
//! the caller's messages, and the work is linear in the messages.

use crate::archive::manifest::ConversationRecord;
use crate::chats::MessageLine;
use qqvault_core::{Attachment, ChatKind, MessageTime};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

/// Where the pages go inside an archive.
pub const ARCHIVE_ROOT: &str = crate::archive::layout::VIEWER_PREFIX;
/// The first page, below the root.
pub const INDEX_PAGE: &str = "index.html";
/// No page is larger than this.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;
/// Message HTML on one page before a month is continued on another. With the page's frame and
/// one more message (each message is capped, see [`TEXT_CAP`]) a page stays under
/// [`MAX_PAGE_BYTES`].
pub const DEFAULT_PAGE_BUDGET: usize = 1_200_000;
/// Bytes of a message's text shown; the rest is in the transcript. Escaping can grow text six
/// times (`"` becomes `&quot;`), so one message stays well under the page limit.
pub const TEXT_CAP: usize = 64 * 1024;
/// Attachments shown per message; more are counted, not listed.
const ATTACHMENT_CAP: usize = 64;
/// HTML of one message past which further attachments are counted, not listed (their entry
/// names can be long), so that one message never fills a page.
const MESSAGE_HTML_CAP: usize = 600 * 1024;
/// Characters of a conversation name shown in lists.
const NAME_CAP: usize = 120;

/// How pages are rendered.
#[derive(Clone, Debug)]
pub struct ViewerOptions {
    /// The folder of the pages, relative to the folder that holds the archive's entries
    /// (`files/`, `media/`): [`ARCHIVE_ROOT`] inside an archive, `""` for an export whose pages
    /// sit beside the copied entries. Empty or ending in `/`.
    pub root: String,
    /// Message HTML per page before a month is split (see [`DEFAULT_PAGE_BUDGET`]).
    pub page_budget: usize,
    /// A line for the index page's foot, such as when the archive was made.
    pub note: Option<String>,
}

impl ViewerOptions {
    /// Pages for the archive's `viewer/` folder.
    pub fn in_archive() -> Self {
        ViewerOptions {
            root: ARCHIVE_ROOT.into(),
            page_budget: DEFAULT_PAGE_BUDGET,
            note: None,
        }
    }

    /// Pages at the top of a folder that also holds the entries they link to.
    pub fn at_top() -> Self {
        ViewerOptions {
            root: String::new(),
            page_budget: DEFAULT_PAGE_BUDGET,
            note: None,
        }
    }

    /// How many folders the root is below the entries' folder.
    fn root_depth(&self) -> usize {
        self.root.split('/').filter(|p| !p.is_empty()).count()
    }
}

/// A rendered page: its path below the viewer's root ('/'-separated) and its bytes.
#[derive(Clone, Debug)]
pub struct Page {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A year and month, or none for messages without a time.
type Month = Option<(u16, u8)>;

/// One page of a conversation, for the lists that link to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageInfo {
    /// Path below the viewer's root.
    pub path: String,
    /// The month it shows (None: messages without a time).
    pub month: Option<(u16, u8)>,
    /// 1 for a month's first page, 2 for its continuation, ...
    pub part: u32,
    /// Number (from 1) of its first message in the conversation.
    pub first_message: u64,
    pub messages: u64,
}

/// What was rendered of one conversation.
#[derive(Clone, Debug)]
pub struct ConversationSummary {
    pub record: ConversationRecord,
    /// Its folder below the root: `chats/<id>`.
    pub dir: String,
    pub pages: Vec<PageInfo>,
    pub messages: u64,
    /// Images shown inline.
    pub images: u64,
    /// Attachments the archive does not hold.
    pub attachments_missing: u64,
}

impl ConversationSummary {
    /// The conversation's own page (its months).
    pub fn overview_path(&self) -> String {
        format!("{}/index.html", self.dir)
    }

    /// Its row on the index page.
    pub fn row(&self) -> IndexRow {
        IndexRow {
            record: self.record.clone(),
            overview: self.overview_path(),
            first_page: self.pages.first().map(|p| p.path.clone()),
            last_page: self.pages.last().map(|p| p.path.clone()),
            messages: self.messages,
        }
    }
}

/// A conversation as the index page lists it. An update makes these from the pages an
/// earlier archive holds, for the conversations it carries over without rendering them again.
#[derive(Clone, Debug)]
pub struct IndexRow {
    pub record: ConversationRecord,
    /// Paths below the viewer's root: its own page, its first and last message pages.
    pub overview: String,
    pub first_page: Option<String>,
    pub last_page: Option<String>,
    pub messages: u64,
}

impl IndexRow {
    /// The row of a conversation whose pages are `pages` (paths below the viewer's root, in
    /// the order they were written: message pages first to last, then its own page).
    pub fn from_pages(record: ConversationRecord, pages: &[String]) -> Self {
        let dir = format!("chats/{}", dir_name(&record.id));
        let overview = format!("{dir}/index.html");
        let mut message_pages = pages.iter().filter(|p| **p != overview);
        let first_page = message_pages.next().cloned();
        let last_page = message_pages.next_back().cloned().or_else(|| first_page.clone());
        IndexRow {
            messages: record.messages,
            record,
            overview,
            first_page,
            last_page,
        }
    }
}

/// Totals of a whole rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ViewerStats {
    pub conversations: u64,
    pub messages: u64,
    pub pages: u64,
    pub bytes: u64,
    pub largest_page: u64,
    pub images: u64,
}

impl ViewerStats {
    fn count(&mut self, page: &Page) {
        self.pages += 1;
        self.bytes += page.bytes.len() as u64;
        self.largest_page = self.largest_page.max(page.bytes.len() as u64);
    }
}

/// Renders every conversation and the index, handing each page to `emit` as soon as it is
/// ready. `source` gives the messages of `records[i]`, in time order, one at a time. The index
/// also lists `carried`: conversations whose pages are already there.
pub fn render_all(
    opts: &ViewerOptions,
    records: &[ConversationRecord],
    source: &mut dyn crate::chats::ConversationSource,
    carried: Vec<IndexRow>,
    mut emit: impl FnMut(&str, &[u8]) -> crate::error::Result<()>,
) -> crate::error::Result<ViewerStats> {
    let mut stats = ViewerStats::default();
    let mut summaries = Vec::with_capacity(records.len());
    let origin = source.origin();
    for (i, rec) in records.iter().enumerate() {
        let mut r = ConversationRenderer::new(opts, rec);
        for m in source.messages(i)? {
            let m = m.map_err(|e| crate::error::Error::read(&origin, e))?;
            if let Some(page) = r.push(&m) {
                stats.count(&page);
                emit(&page.path, &page.bytes)?;
            }
        }
        let (pages, summary) = r.finish();
        for page in pages {
            stats.count(&page);
            emit(&page.path, &page.bytes)?;
        }
        stats.conversations += 1;
        stats.messages += summary.messages;
        stats.images += summary.images;
        summaries.push(summary.row());
    }
    summaries.extend(carried);
    for page in render_index(opts, &summaries) {
        stats.count(&page);
        emit(&page.path, &page.bytes)?;
    }
    Ok(stats)
}

/// A conversation page being filled.
struct OpenPage {
    info: PageInfo,
    /// Path of the page before it, if any.
    prev: Option<String>,
    body: String,
    last_day: Option<(u16, u8, u8)>,
}

/// Renders one conversation's messages, one at a time, into month pages.
pub struct ConversationRenderer<'a> {
    opts: &'a ViewerOptions,
    rec: &'a ConversationRecord,
    dir: String,
    self_senders: HashSet<&'a str>,
    /// `../` repeated from a conversation page up to the folder of the archive's entries.
    to_entries: String,
    open: Option<OpenPage>,
    pages: Vec<PageInfo>,
    parts: HashMap<Month, u32>,
    count: u64,
    images: u64,
    missing: u64,
    scratch: String,
}

impl<'a> ConversationRenderer<'a> {
    pub fn new(opts: &'a ViewerOptions, rec: &'a ConversationRecord) -> Self {
        let dir = format!("chats/{}", dir_name(&rec.id));
        ConversationRenderer {
            opts,
            rec,
            // Conversation pages sit two folders below the root.
            to_entries: "../".repeat(2 + opts.root_depth()),
            dir,
            self_senders: rec.self_senders.iter().map(String::as_str).collect(),
            open: None,
            pages: Vec::new(),
            parts: HashMap::new(),
            count: 0,
            images: 0,
            missing: 0,
            scratch: String::with_capacity(4096),
        }
    }

    /// Adds the next message; returns the page it completed, if it started a new one.
    pub fn push(&mut self, m: &MessageLine) -> Option<Page> {
        self.count += 1;
        let month = month_of(m.time);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        self.render_message(&mut scratch, m);
        let starts_page = match &self.open {
            None => true,
            Some(p) => {
                p.info.month != month
                    || (p.info.messages > 0 && p.body.len() + scratch.len() > self.opts.page_budget)
            }
        };
        let mut done = None;
        if starts_page {
            let part = {
                let n = self.parts.entry(month).or_insert(0);
                *n += 1;
                *n
            };
            let path = format!("{}/{}", self.dir, page_file(month, part));
            let prev = self.open.as_ref().map(|p| p.info.path.clone());
            if let Some(old) = self.open.take() {
                done = Some(self.close(old, Some(&path)));
            }
            self.open = Some(OpenPage {
                info: PageInfo {
                    path,
                    month,
                    part,
                    first_message: self.count,
                    messages: 0,
                },
                prev,
                body: String::with_capacity(self.opts.page_budget.min(1 << 20) + 64 * 1024),
                last_day: None,
            });
        }
        if let Some(p) = self.open.as_mut() {
            let day = day_of(m.time);
            if p.last_day != Some(day) || p.info.messages == 0 {
                p.body.push_str("<div class=\"day\"><span>");
                push_day_label(&mut p.body, m.time);
                p.body.push_str("</span></div>\n");
                p.last_day = Some(day);
            }
            p.body.push_str(&scratch);
            p.info.messages += 1;
        }
        self.scratch = scratch;
        done
    }

    /// Completes the conversation: its last month page and its own page.
    pub fn finish(mut self) -> (Vec<Page>, ConversationSummary) {
        let mut out = Vec::new();
        if let Some(p) = self.open.take() {
            out.push(self.close(p, None));
        }
        let summary = ConversationSummary {
            record: self.rec.clone(),
            dir: self.dir.clone(),
            pages: std::mem::take(&mut self.pages),
            messages: self.count,
            images: self.images,
            attachments_missing: self.missing,
        };
        out.push(render_overview(self.opts, &summary));
        (out, summary)
    }

    /// Wraps a finished page's messages in the page frame.
    fn close(&mut self, p: OpenPage, next: Option<&str>) -> Page {
        let rec = self.rec;
        let last = p.info.first_message + p.info.messages.saturating_sub(1);
        let mut title = String::new();
        push_month_label(&mut title, p.info.month);
        if p.info.part > 1 {
            let _ = write!(title, "（续 {}）", p.info.part);
        }
        let mut s = String::with_capacity(p.body.len() + 16 * 1024);
        page_head(&mut s, &format!("{} · {}", shorten(&rec.name), title));
        s.push_str("<header class=\"top\"><div class=\"wrap\"><a class=\"up\" href=\"../../index.html\">‹ 全部会话 <small>All chats</small></a>");
        s.push_str("<h1>");
        esc(&mut s, &shorten(&rec.name));
        s.push_str("</h1><div class=\"sub\">");
        esc(&mut s, &title);
        let _ = write!(
            s,
            " · 第 {}–{} 条，共 {} 条 <small>messages {}–{} of {}</small></div></div></header>",
            thousands(p.info.first_message),
            thousands(last),
            thousands(rec.messages.max(self.count)),
            thousands(p.info.first_message),
            thousands(last),
            thousands(rec.messages.max(self.count)),
        );
        s.push('\n');
        let nav = pager(p.prev.as_deref(), next, "index.html");
        s.push_str(&nav);
        s.push_str("<main class=\"chat\">\n");
        s.push_str(&p.body);
        s.push_str("</main>\n");
        s.push_str(&nav);
        page_foot(&mut s, None);
        self.pages.push(p.info.clone());
        Page {
            path: p.info.path,
            bytes: s.into_bytes(),
        }
    }

    fn render_message(&mut self, out: &mut String, m: &MessageLine) {
        let n = self.count;
        if m.system {
            out.push_str("<div class=\"sys\" id=\"m");
            push_number(out, n);
            out.push_str("\"><span><b>系统消息</b> ");
            push_time(out, m.time);
            if !m.sender.is_empty() && m.sender != "系统消息" {
                out.push(' ');
                esc(out, &m.sender);
            }
            out.push_str("<br>");
            self.render_body(out, m);
            out.push_str("</span></div>\n");
            return;
        }
        let me = !m.sender.is_empty() && self.self_senders.contains(m.sender.as_str());
        let shown_name = if m.sender.is_empty() {
            m.sender_id.as_deref().unwrap_or("")
        } else {
            m.sender.as_str()
        };
        let colour = colour_of(m.sender_id.as_deref().unwrap_or(&m.sender));
        out.push_str(if me {
            "<div class=\"m me\" id=\"m"
        } else {
            "<div class=\"m\" id=\"m"
        });
        push_number(out, n);
        out.push_str("\"><i class=\"av a");
        push_number(out, colour);
        out.push_str("\">");
        esc(out, &initial(shown_name));
        // Short markup: it is repeated for every message of every page.
        out.push_str("</i><div class=\"b\"><div class=\"h\"><b>");
        if shown_name.is_empty() {
            out.push_str("（无名）");
        } else {
            esc(out, shown_name);
        }
        out.push_str("</b>");
        if let Some(id) = m.sender_id.as_deref().filter(|id| *id != shown_name) {
            out.push_str("<i>");
            esc(out, id);
            out.push_str("</i>");
        }
        out.push_str("<time>");
        push_time(out, m.time);
        // A message that is only pictures shows them without a bubble around.
        let only_pictures = !m.attachments.is_empty()
            && m.text.len() <= TEXT_CAP
            && m.text.matches("[图片]").count() == m.attachments.len()
            && m.text.replace("[图片]", "").trim().is_empty()
            && m.attachments.iter().all(|a| {
                a.entry.as_deref().is_some_and(linkable) && looks_like_image(&a.name, a.entry.as_deref())
            });
        out.push_str(if only_pictures {
            "</time></div><div class=\"t pics\">"
        } else {
            "</time></div><div class=\"t\">"
        });
        self.render_body(out, m);
        out.push_str("</div></div></div>\n");
    }

    /// The text, with images where the export had them.
    fn render_body(&mut self, out: &mut String, m: &MessageLine) {
        const IMAGE: &str = "[图片]";
        let start = out.len();
        let mut untold = 0usize;
        let cut = m.text.len() > TEXT_CAP;
        let text = if cut {
            cut_at(&m.text, TEXT_CAP)
        } else {
            m.text.as_str()
        };
        let atts = &m.attachments;
        // MHT writes `[图片]` where each picture was: put the pictures back there when the
        // counts agree, otherwise show the text as it is and the pictures after it.
        let inline = !cut
            && !atts.is_empty()
            && atts.len() <= ATTACHMENT_CAP
            && text.matches(IMAGE).count() == atts.len();
        if inline {
            for (i, seg) in text.split(IMAGE).enumerate() {
                esc_text(out, seg);
                if let Some(a) = atts.get(i) {
                    if out.len() - start > MESSAGE_HTML_CAP {
                        untold += 1;
                    } else {
                        self.render_attachment(out, a);
                    }
                }
            }
        } else {
            esc_text(out, text);
            if text.is_empty() && atts.is_empty() {
                out.push_str("<span class=\"ph\">（空消息 / empty）</span>");
            }
        }
        if cut {
            out.push_str("<span class=\"ph\">……（消息过长，此处截断，全文见 transcript.txt / cut here, the transcript has it all）</span>");
        }
        if !inline && !atts.is_empty() {
            out.push_str("<span class=\"atts\">");
            for a in atts.iter().take(ATTACHMENT_CAP) {
                if out.len() - start > MESSAGE_HTML_CAP {
                    untold += 1;
                } else {
                    self.render_attachment(out, a);
                }
            }
            untold += atts.len().saturating_sub(ATTACHMENT_CAP);
            out.push_str("</span>");
        }
        if untold > 0 {
            let _ = write!(
                out,
                "<span class=\"ph\">另有 {untold} 个附件未列出，见 messages.jsonl / {untold} more attachments, listed in messages.jsonl</span>"
            );
        }
    }

    fn render_attachment(&mut self, out: &mut String, a: &Attachment) {
        let Some(entry) = a.entry.as_deref().filter(|e| linkable(e)) else {
            self.missing += 1;
            out.push_str("<span class=\"miss\">");
            if looks_like_image(&a.name, None) {
                out.push_str("图片不在归档中 / image not in the archive: ");
            } else {
                out.push_str("附件不在归档中 / attachment not in the archive: ");
            }
            esc(out, &a.name);
            out.push_str("</span>");
            return;
        };
        let mut href = self.to_entries.clone();
        push_url_path(&mut href, entry);
        if looks_like_image(&a.name, Some(entry)) {
            self.images += 1;
            out.push_str("<a class=\"pic\" href=\"");
            out.push_str(&href);
            out.push_str("\"><img src=\"");
            out.push_str(&href);
            out.push_str("\" alt=\"");
            esc(out, &a.name);
            out.push_str("\" loading=\"lazy\" decoding=\"async\"></a>");
        } else {
            out.push_str("<a class=\"file\" href=\"");
            out.push_str(&href);
            out.push_str("\">附件 ");
            esc(out, &a.name);
            out.push_str("</a>");
        }
    }
}

/// The index pages: every conversation, latest first. Split when one page would be too large.
pub fn render_index(opts: &ViewerOptions, convs: &[IndexRow]) -> Vec<Page> {
    let mut order: Vec<&IndexRow> = convs.iter().collect();
    order.sort_by(|a, b| {
        b.record
            .last
            .cmp(&a.record.last)
            .then_with(|| a.record.name.cmp(&b.record.name))
    });
    let total_messages: u64 = convs.iter().map(|c| c.messages).sum();
    let first = convs
        .iter()
        .filter_map(|c| c.record.first)
        .filter(|t| t.year > 0)
        .min();
    let last = convs
        .iter()
        .filter_map(|c| c.record.last)
        .filter(|t| t.year > 0)
        .max();

    // Rows first, then cut into pages by size.
    let mut chunks: Vec<String> = vec![String::new()];
    for c in order {
        let mut row = String::with_capacity(512);
        let r = &c.record;
        row.push_str("<tr><td class=\"name\"><a href=\"");
        push_url_path(&mut row, &c.overview);
        row.push_str("\">");
        esc(&mut row, &shorten(&r.name));
        row.push_str("</a>");
        if let Some(g) = r.group.as_deref().filter(|g| !g.is_empty()) {
            row.push_str("<span class=\"grp\">");
            esc(&mut row, &shorten(g));
            row.push_str("</span>");
        }
        row.push_str("</td><td>");
        row.push_str(kind_label(r.kind));
        let _ = write!(
            row,
            "</td><td class=\"num\">{}</td><td class=\"dates\">",
            thousands(c.messages)
        );
        push_range(&mut row, r.first, r.last);
        row.push_str("</td><td class=\"go\">");
        if let (Some(f), Some(l)) = (&c.first_page, &c.last_page) {
            row.push_str("<a href=\"");
            push_url_path(&mut row, f);
            row.push_str("\">最早</a> · <a href=\"");
            push_url_path(&mut row, l);
            row.push_str("\">最新</a>");
        }
        row.push_str("</td></tr>\n");
        let cur = chunks.last_mut().map(|c| c.len()).unwrap_or(0);
        if cur > 0 && cur + row.len() > opts.page_budget {
            chunks.push(String::new());
        }
        if let Some(c) = chunks.last_mut() {
            c.push_str(&row);
        }
    }
    let names: Vec<String> = (1..=chunks.len())
        .map(|i| {
            if i == 1 {
                INDEX_PAGE.to_string()
            } else {
                format!("index-{i}.html")
            }
        })
        .collect();
    let mut pages = Vec::with_capacity(chunks.len());
    for (i, rows) in chunks.iter().enumerate() {
        let mut s = String::with_capacity(rows.len() + 16 * 1024);
        page_head(&mut s, "聊天记录 · qqvault");
        s.push_str("<header class=\"top\"><div class=\"wrap\"><h1>聊天记录 <small>Chat archive</small></h1><div class=\"sub\">");
        let _ = write!(
            s,
            "{} 个会话，{} 条消息 <small>{} conversations, {} messages</small>",
            thousands(convs.len() as u64),
            thousands(total_messages),
            thousands(convs.len() as u64),
            thousands(total_messages)
        );
        if first.is_some() {
            s.push_str(" · ");
            push_range(&mut s, first, last);
        }
        s.push_str("</div></div></header>\n");
        if names.len() > 1 {
            s.push_str("<nav class=\"pager\">");
            for (j, n) in names.iter().enumerate() {
                if j == i {
                    let _ = write!(s, "<span class=\"here\">{}</span>", j + 1);
                } else {
                    let _ = write!(s, "<a href=\"{n}\">{}</a>", j + 1);
                }
            }
            s.push_str("</nav>\n");
        }
        s.push_str("<main class=\"list\">");
        if convs.is_empty() {
            s.push_str("<p class=\"empty\">这个归档里没有聊天记录（没有找到聊天导出文件）。<br><small>No conversations: no chat export was found among the archived files.</small></p>");
        } else {
            s.push_str("<table id=\"convs\"><thead><tr><th>会话 <small>Conversation</small></th><th>类型 <small>Kind</small></th><th class=\"num\">消息 <small>Messages</small></th><th>时间 <small>Dates</small></th><th>跳转 <small>Go to</small></th></tr></thead><tbody>\n");
            s.push_str(rows);
            s.push_str("</tbody></table>");
        }
        s.push_str("</main>\n");
        page_foot(&mut s, opts.note.as_deref());
        pages.push(Page {
            path: names[i].clone(),
            bytes: s.into_bytes(),
        });
    }
    pages
}

/// A conversation's own page: what it is, and its months.
fn render_overview(_opts: &ViewerOptions, c: &ConversationSummary) -> Page {
    let r = &c.record;
    let mut s = String::with_capacity(16 * 1024 + c.pages.len() * 160);
    page_head(&mut s, &format!("{} · qqvault", shorten(&r.name)));
    s.push_str("<header class=\"top\"><div class=\"wrap\"><a class=\"up\" href=\"../../index.html\">‹ 全部会话 <small>All chats</small></a><h1>");
    esc(&mut s, &shorten(&r.name));
    s.push_str("</h1><div class=\"sub\">");
    s.push_str(kind_label(r.kind));
    let _ = write!(
        s,
        " · {} 条消息 <small>messages</small> · ",
        thousands(c.messages)
    );
    push_range(&mut s, r.first, r.last);
    s.push_str("</div></div></header>\n<main class=\"list\"><dl class=\"facts\">");
    if let Some(g) = r.group.as_deref().filter(|g| !g.is_empty()) {
        s.push_str("<dt>分组 <small>Group</small></dt><dd>");
        esc(&mut s, g);
        s.push_str("</dd>");
    }
    s.push_str("<dt>编号 <small>ID</small></dt><dd><code>");
    esc(&mut s, &r.id);
    s.push_str("</code></dd>");
    if !r.self_senders.is_empty() {
        s.push_str("<dt>本人 <small>You</small></dt><dd>");
        esc(&mut s, &r.self_senders.join("、"));
        s.push_str("（显示在右侧 / shown on the right）</dd>");
    }
    if !r.sources.is_empty() {
        s.push_str("<dt>来源 <small>Exports</small></dt><dd>");
        for (i, src) in r.sources.iter().enumerate() {
            if i > 0 {
                s.push_str("<br>");
            }
            esc(&mut s, src);
        }
        s.push_str("</dd>");
    }
    if c.attachments_missing > 0 {
        let _ = write!(
            s,
            "<dt>缺少的附件 <small>Missing</small></dt><dd>{} 个附件不在归档中 / attachments not in the archive</dd>",
            thousands(c.attachments_missing)
        );
    }
    s.push_str("</dl>\n");
    if c.pages.is_empty() {
        s.push_str("<p class=\"empty\">没有消息。<small>No messages.</small></p>");
    }
    // Months grouped by year; a month's continuation pages follow its link.
    let mut by_month: BTreeMap<Month, Vec<&PageInfo>> = BTreeMap::new();
    for p in &c.pages {
        by_month.entry(p.month).or_default().push(p);
    }
    let mut year: Option<Option<u16>> = None;
    for (month, parts) in &by_month {
        let y = month.map(|(y, _)| y);
        if year != Some(y) {
            if year.is_some() {
                s.push_str("</ul></section>\n");
            }
            s.push_str("<section class=\"year\"><h2>");
            match y {
                Some(y) => {
                    let _ = write!(s, "{y} 年");
                }
                None => s.push_str("时间未知 <small>No time</small>"),
            }
            s.push_str("</h2><ul class=\"months\">");
            year = Some(y);
        }
        let count: u64 = parts.iter().map(|p| p.messages).sum();
        // A month of many pages takes a whole row for its page links.
        s.push_str(if parts.len() > 8 {
            "<li class=\"many\"><a class=\"mon\" href=\""
        } else {
            "<li><a class=\"mon\" href=\""
        });
        if let Some(first) = parts.first() {
            push_url_path(&mut s, file_of(&first.path));
        }
        s.push_str("\">");
        match month {
            Some((_, m)) => {
                let _ = write!(s, "{m} 月");
            }
            None => s.push_str("未知"),
        }
        let _ = write!(s, "</a><span class=\"cnt\">{} 条</span>", thousands(count));
        if parts.len() > 1 {
            s.push_str("<span class=\"parts\">");
            for p in parts {
                s.push_str("<a href=\"");
                push_url_path(&mut s, file_of(&p.path));
                let _ = write!(s, "\">{}</a>", p.part);
            }
            s.push_str("</span>");
        }
        s.push_str("</li>");
    }
    if year.is_some() {
        s.push_str("</ul></section>\n");
    }
    s.push_str("</main>\n");
    page_foot(&mut s, None);
    Page {
        path: c.overview_path(),
        bytes: s.into_bytes(),
    }
}

// ---------------------------------------------------------------- page frame

const CSS: &str = r#"
:root{--bg:#edeff3;--card:#fff;--fg:#1f2329;--muted:#8a919f;--line:#dfe2e7;--me:#3d8bfd;--accent:#1f6feb}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 -apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
small{font-size:.78em;color:var(--muted);font-weight:normal}
.top{position:sticky;top:0;z-index:2;background:rgba(255,255,255,.96);border-bottom:1px solid var(--line)}
.wrap{max-width:880px;margin:0 auto;padding:10px 16px}
.top h1{font-size:19px;margin:2px 0 0;line-height:1.3;overflow-wrap:anywhere}
.top .up{font-size:13px}
.sub{color:var(--muted);font-size:13px}
.pager{display:flex;flex-wrap:wrap;gap:8px;justify-content:center;max-width:880px;margin:12px auto;padding:0 12px}
.pager a,.pager span{display:inline-block;padding:4px 12px;border-radius:16px;background:#fff;border:1px solid var(--line);font-size:13px}
.pager .off{color:#c2c6cc}.pager .here{background:var(--accent);color:#fff;border-color:var(--accent)}
.chat{max-width:880px;margin:0 auto;padding:4px 14px 24px}
.day{text-align:center;margin:20px 0 10px}
.day span{display:inline-block;background:#dadde3;color:#4e5560;border-radius:10px;padding:1px 12px;font-size:12px}
.m{display:flex;gap:10px;margin:12px 0;align-items:flex-start}
.av{font-style:normal;flex:none;width:38px;height:38px;border-radius:50%;color:#fff;display:flex;align-items:center;justify-content:center;font-size:16px;user-select:none}
.a0{background:#4e7cf6}.a1{background:#2fb380}.a2{background:#f08c2e}.a3{background:#e5534b}.a4{background:#8a63d2}.a5{background:#1a9ba1}.a6{background:#d4568f}.a7{background:#6b7a8f}
.b{max-width:min(78%,640px);min-width:0}
.h{font-size:12px;color:var(--muted);margin:0 4px 3px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.h b{font-weight:normal;color:#4e5969}.h i{font-style:normal;margin-left:6px}.h time{margin-left:8px}
.t{display:inline-block;max-width:100%;background:var(--card);border-radius:4px 14px 14px 14px;padding:8px 12px;white-space:pre-wrap;overflow-wrap:anywhere;box-shadow:0 1px 1px rgba(0,0,0,.06)}
.me{flex-direction:row-reverse}.me .b{text-align:right}.me .h{text-align:right}
.me .t{text-align:left;background:var(--me);color:#fff;border-radius:14px 4px 14px 14px}
.t.pics,.me .t.pics{background:none;box-shadow:none;padding:0}
.t img{display:block;max-width:300px;max-height:300px;min-width:24px;min-height:24px;border-radius:6px;margin:4px 0;background:#f4f5f7}
.t a.pic{display:block}
.ph{color:var(--muted)}.me .ph{color:#d6e6ff}
.atts{display:block}
.miss{display:inline-block;border:1px dashed #b9bec7;color:var(--muted);padding:1px 8px;margin:3px 0;border-radius:6px;font-size:12px;white-space:normal}
.me .miss{color:#eaf2ff;border-color:#b8d4ff}
.file{display:inline-block;border:1px solid var(--line);background:#f7f8fa;padding:2px 10px;margin:3px 0;border-radius:6px;font-size:13px}
.me .file{background:#fff}
.sys{text-align:center;margin:14px auto;max-width:86%;font-size:12px;color:var(--muted);white-space:pre-wrap;overflow-wrap:anywhere}
.sys>span{display:inline-block;text-align:left;background:rgba(0,0,0,.045);padding:4px 12px;border-radius:8px}
.sys b{font-weight:600;color:#7b8290}
.list{max-width:880px;margin:0 auto;padding:12px 14px 28px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{padding:9px 12px;text-align:left;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-size:13px;color:#4e5969;background:#f7f8fa;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
td.dates,td.go{white-space:nowrap;font-size:13px;color:#4e5969}
td.name a{font-weight:600;overflow-wrap:anywhere}
.grp{display:block;font-size:12px;color:var(--muted)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;background:#fff;border-radius:10px;padding:12px 16px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.facts dt{color:#4e5969}.facts dd{margin:0;overflow-wrap:anywhere}
.year h2{font-size:16px;margin:18px 0 8px}
.months{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.months li{background:#fff;border-radius:8px;padding:8px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.mon{font-weight:600;margin-right:8px}.cnt{color:var(--muted);font-size:13px}
.parts{display:flex;flex-wrap:wrap;gap:0 8px;font-size:12px}.months li.many{grid-column:1/-1}
.empty{color:var(--muted);text-align:center;padding:24px}
#filter{width:100%;padding:8px 12px;margin:0 0 12px;border:1px solid var(--line);border-radius:8px;font:inherit}
footer{max-width:880px;margin:0 auto 24px;padding:0 16px;color:var(--muted);font-size:12px;text-align:center}
@media (max-width:560px){.b{max-width:84%}.t img{max-width:100%}td.go,th:nth-child(5){display:none}}
@media print{.top{position:static}.pager,#filter{display:none}body{background:#fff}.t{box-shadow:none;border:1px solid #ddd}.me .t{background:#eaf2ff;color:var(--fg)}}
"#;

/// Conveniences only: images that cannot be shown get a note, `#all-images` (and printing)
/// loads every image at once, and the index gets a filter box. The body's `data-images` says
/// how many images loaded (used by the tests). Pages read fully without it.
const SCRIPT: &str = r#"
(function(){var d=document,b=d.body,all=location.hash=='#all-images',ok=0,bad=0,
a=Array.prototype.slice.call(d.images),n=a.length;
function mark(){b.setAttribute('data-images',ok+'/'+n);b.setAttribute('data-images-broken',String(bad))}
function settle(i){if(i.getAttribute('data-s'))return;i.setAttribute('data-s','1');
if(i.naturalWidth>0)ok++;else{bad++;var s=d.createElement('span');s.className='miss';
s.textContent='图片无法显示 / image cannot be shown: '+i.alt;if(i.parentNode)i.parentNode.replaceChild(s,i)}mark()}
a.forEach(function(i){if(all)i.loading='eager';i.addEventListener('load',function(){settle(i)});
i.addEventListener('error',function(){settle(i)});if(i.complete)settle(i)});mark();
window.addEventListener('beforeprint',function(){a.forEach(function(i){i.loading='eager'})});
var t=d.getElementById('convs');if(t){var f=d.createElement('input');f.id='filter';f.type='search';
f.placeholder='筛选会话 / filter conversations';t.parentNode.insertBefore(f,t);
f.addEventListener('input',function(){var q=f.value.toLowerCase();
Array.prototype.forEach.call(t.tBodies[0].rows,function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':''})})}
})();
"#;

fn page_head(s: &mut String, title: &str) {
    s.push_str("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"generator\" content=\"qqvault\"><title>");
    esc(s, title);
    s.push_str("</title><style>");
    s.push_str(CSS);
    s.push_str("</style></head>\n<body>\n");
}

fn page_foot(s: &mut String, note: Option<&str>) {
    s.push_str("<footer>由 qqvault 生成的离线页面，无需联网 · offline pages made by qqvault");
    if let Some(n) = note {
        s.push_str("<br>");
        esc(s, n);
    }
    s.push_str("</footer>\n<script>");
    s.push_str(SCRIPT);
    s.push_str("</script>\n</body></html>\n");
}

/// Previous / all months / next links of a conversation page (paths are siblings).
fn pager(prev: Option<&str>, next: Option<&str>, overview: &str) -> String {
    let mut s = String::from("<nav class=\"pager\">");
    match prev {
        Some(p) => {
            s.push_str("<a rel=\"prev\" href=\"");
            push_url_path(&mut s, file_of(p));
            s.push_str("\">‹ 上一页 <small>Previous</small></a>");
        }
        None => s.push_str("<span class=\"off\">‹ 上一页</span>"),
    }
    s.push_str("<a href=\"");
    push_url_path(&mut s, overview);
    s.push_str("\">全部月份 <small>All months</small></a>");
    match next {
        Some(n) => {
            s.push_str("<a rel=\"next\" href=\"");
            push_url_path(&mut s, file_of(n));
            s.push_str("\">下一页 <small>Next</small> ›</a>");
        }
        None => s.push_str("<span class=\"off\">下一页 ›</span>"),
    }
    s.push_str("</nav>\n");
    s
}

// ---------------------------------------------------------------- small helpers

/// The last component of a page path.
fn file_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn month_of(t: MessageTime) -> Month {
    (t.year > 0 && (1..=12).contains(&t.month)).then_some((t.year, t.month))
}

fn day_of(t: MessageTime) -> (u16, u8, u8) {
    (t.year, t.month, t.day)
}

fn page_file(month: Month, part: u32) -> String {
    let base = match month {
        Some((y, m)) => format!("{y:04}-{m:02}"),
        None => "unknown".to_string(),
    };
    if part <= 1 {
        format!("{base}.html")
    } else {
        format!("{base}-p{part}.html")
    }
}

/// A folder name for a conversation id: the id itself when it is plain ASCII (ids made by
/// qqvault always are), otherwise a name derived from its hash, so that no id taken from a
/// manifest can name a path outside the pages' folder.
pub fn dir_name(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_string()
    } else {
        let h = qqvault_core::Sha256Digest::of(id.as_bytes()).to_hex();
        format!("x{}", &h[..16])
    }
}

/// Whether an entry name can be linked to (and copied out by export): relative, with no empty,
/// `.` or `..` component, no backslash and no NUL.
pub fn linkable(entry: &str) -> bool {
    !entry.is_empty()
        && !entry.contains(['\\', '\0'])
        && !entry.starts_with('/')
        && entry.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && !entry.split('/').next().is_some_and(|p| p.contains(':'))
        && windows_plain(entry)
}

/// On Windows a ':' in any part names a drive or a stream: never a plain file there.
fn windows_plain(entry: &str) -> bool {
    !cfg!(windows) || !entry.split('/').any(|p| p.contains(':'))
}

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jfif", "png", "gif", "webp", "bmp", "ico", "avif"];

/// Whether an attachment is shown as a picture: its stored entry or its name says image, or it
/// is an MHT picture (`{GUID}.dat`, an image whatever its name says). Pictures that turn out
/// not to decode get a note from the page's script, and stay a link without it.
fn looks_like_image(name: &str, entry: Option<&str>) -> bool {
    let ext_is_image = |s: &str| {
        s.rsplit_once('.')
            .map(|(_, e)| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
            .unwrap_or(false)
    };
    if let Some(e) = entry {
        if ext_is_image(e) {
            return true;
        }
    }
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    ext_is_image(base) || (base.starts_with('{') && base.to_ascii_lowercase().ends_with("}.dat"))
}

/// Appends `s` HTML-escaped (for text and attribute values alike).
pub fn esc(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            b'\r' => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Message text: escaped, with placeholders such as `[图片]` and `[表情]` set in grey.
fn esc_text(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        // `[`, one to six CJK ideographs, `]`: the placeholder rule of the merge.
        let mut placeholder = None;
        for (count, (pos, c)) in after.char_indices().enumerate() {
            if c == ']' {
                placeholder = (count > 0).then_some(pos);
                break;
            }
            if count >= 6 || !is_cjk(c) {
                break;
            }
        }
        if let Some(len) = placeholder {
            esc(out, &rest[..open]);
            out.push_str("<span class=\"ph\">");
            esc(out, &rest[open..open + len + 2]);
            out.push_str("</span>");
            rest = &rest[open + len + 2..];
        } else {
            esc(out, &rest[..open + 1]);
            rest = &rest[open + 1..];
        }
    }
    esc(out, rest);
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Appends an entry path as a URL path: each component percent-encoded (everything but
/// unreserved ASCII), '/' kept between components.
pub fn push_url_path(out: &mut String, path: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, part) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        for &b in part.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

/// A text cut to at most `max` bytes, at a character boundary.
fn cut_at(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A name shortened for lists and titles.
fn shorten(s: &str) -> String {
    let mut it = s.chars();
    let head: String = it.by_ref().take(NAME_CAP).collect();
    if it.next().is_some() {
        format!("{head}…")
    } else if head.is_empty() {
        "（无名会话）".into()
    } else {
        head
    }
}

/// The letter in an avatar circle: the first letter or digit of the name.
fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".into())
}

/// A stable colour class for a sender (FNV-1a of the id or name).
fn colour_of(key: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h % 8
}

fn kind_label(k: ChatKind) -> &'static str {
    match k {
        ChatKind::Friend => "好友 <small>friend</small>",
        ChatKind::Group => "群 <small>group</small>",
        ChatKind::Discussion => "讨论组 <small>discussion</small>",
        ChatKind::Unknown => "未知 <small>unknown</small>",
    }
}

fn push_time(out: &mut String, t: MessageTime) {
    if t.year == 0 {
        out.push_str("--:--:--");
    } else {
        match t
            .iso_bytes(b' ')
            .as_ref()
            .and_then(|b| std::str::from_utf8(&b[11..]).ok())
        {
            Some(clock) => out.push_str(clock),
            None => {
                let _ = write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
            }
        }
    }
}

/// Appends a number's decimal digits (as `write!` does, without its machinery: this runs for
/// every message).
fn push_number(out: &mut String, n: impl Into<u64>) {
    let mut n: u64 = n.into();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

fn push_date(out: &mut String, t: MessageTime) {
    match t
        .iso_bytes(b' ')
        .as_ref()
        .and_then(|b| std::str::from_utf8(&b[..10]).ok())
    {
        Some(date) => out.push_str(date),
        None => {
            let _ = write!(out, "{:04}-{:02}-{:02}", t.year, t.month, t.day);
        }
    }
}

fn push_range(out: &mut String, a: Option<MessageTime>, b: Option<MessageTime>) {
    match (a.filter(|t| t.year > 0), b.filter(|t| t.year > 0)) {
        (Some(a), Some(b)) if day_of(a) == day_of(b) => push_date(out, a),
        (Some(a), Some(b)) => {
            push_date(out, a);
            out.push_str(" — ");
            push_date(out, b);
        }
        (Some(a), None) | (None, Some(a)) => push_date(out, a),
        (None, None) => out.push('—'),
    }
}

fn push_month_label(out: &mut String, m: Month) {
    match m {
        Some((y, m)) => {
            let _ = write!(out, "{y} 年 {m} 月");
        }
        None => out.push_str("时间未知"),
    }
}

fn push_day_label(out: &mut String, t: MessageTime) {
    if t.year == 0 {
        out.push_str("时间未知 / no time");
        return;
    }
    const WEEKDAYS: [&str; 7] = ["日", "一", "二", "三", "四", "五", "六"];
    let _ = write!(
        out,
        "{} 年 {} 月 {} 日 星期{}",
        t.year,
        t.month,
        t.day,
        WEEKDAYS[weekday(t.year, t.month, t.day)]
    );
}

/// Day of the week, 0 = Sunday (Sakamoto's method; any input gives an index below 7).
fn weekday(y: u16, m: u8, d: u8) -> usize {
    const T: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let m = m.clamp(1, 12) as usize;
    let mut y = y as i64;
    if m < 3 {
        y -= 1;
    }
    ((y + y / 4 - y / 100 + y / 400 + T[m - 1] + d as i64).rem_euclid(7)) as usize
}

/// 1234567 as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use qqvault_core::{ConversationKey, ExportFamily};

    fn record(id: &str, n: u64) -> ConversationRecord {
        ConversationRecord {
            id: id.into(),
            name: "测试 <群> & \"朋友\"".into(),
            group: Some("我的QQ群".into()),
            kind: ChatKind::Group,
            key: ConversationKey {
                family: ExportFamily::MessageManager,
                scope: "我的QQ群".into(),
                peer: "测试".into(),
            },
            messages: n,
            first: None,
            last: None,
            entry: String::new(),
            transcript: String::new(),
            sources: vec![],
            self_senders: vec!["我".into()],
        }
    }

    fn msg(t: &str, sender: &str, text: &str) -> MessageLine {
        MessageLine {
            chat: "c1".into(),
            time: MessageTime::parse_iso(t).unwrap(),
            sender: sender.into(),
            sender_id: None,
            text: text.into(),
            system: false,
            attachments: vec![],
        }
    }

    fn render(opts: &ViewerOptions, rec: &ConversationRecord, msgs: &[MessageLine]) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut r = ConversationRenderer::new(opts, rec);
        for m in msgs {
            pages.extend(r.push(m));
        }
        pages.extend(r.finish().0);
        pages
    }

    #[test]
    fn escapes_text_and_encodes_links() {
        let mut s = String::new();
        esc(&mut s, "<a href='x'>&\"");
        assert_eq!(s, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
        let mut u = String::new();
        push_url_path(&mut u, "files/a b/[x]{y}$%#?/图.png");
        assert_eq!(u, "files/a%20b/%5Bx%5D%7By%7D%24%25%23%3F/%E5%9B%BE.png");
    }

    #[test]
    fn placeholders_are_grey_and_brackets_survive() {
        let mut s = String::new();
        esc_text(&mut s, "a[图片]b[ok][[表情]");
        assert_eq!(
            s,
            "a<span class=\"ph\">[图片]</span>b[ok][<span class=\"ph\">[表情]</span>"
        );
    }

    #[test]
    fn months_split_and_link_each_other() {
        let rec = record("c1", 3);
        let msgs = vec![
            msg("2016-07-19T09:05:07", "班长", "一"),
            msg("2016-07-20T09:05:07", "我", "二"),
            msg("2016-08-01T00:00:00", "班长", "三"),
        ];
        let pages = render(&ViewerOptions::in_archive(), &rec, &msgs);
        let paths: Vec<&str> = pages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "chats/c1/2016-07.html",
                "chats/c1/2016-08.html",
                "chats/c1/index.html"
            ]
        );
        let july = String::from_utf8(pages[0].bytes.clone()).unwrap();
        assert!(july.contains("href=\"2016-08.html\""));
        assert!(july.contains("class=\"m me\""), "self side");
        assert!(july.contains("2016 年 7 月 19 日 星期二"));
        assert!(july.contains("测试 &lt;群&gt; &amp; &quot;朋友&quot;"));
        assert!(!july.contains("<群>"));
    }

    #[test]
    fn images_link_relative_to_the_entries() {
        let rec = record("c1", 1);
        let mut m = msg("2016-07-19T09:05:07", "小明", "看[图片]这个");
        m.attachments.push(Attachment {
            name: "{AB}.dat".into(),
            sha256: None,
            entry: Some("files/QQ 导出/#1/图 [a].png".into()),
        });
        let p = render(&ViewerOptions::in_archive(), &rec, std::slice::from_ref(&m));
        let html = String::from_utf8(p[0].bytes.clone()).unwrap();
        assert!(html.contains("看<a class=\"pic\" href=\"../../../files/QQ%20%E5%AF%BC%E5%87%BA/%231/%E5%9B%BE%20%5Ba%5D.png\"><img"), "{html}");
        let p = render(&ViewerOptions::at_top(), &rec, &[m]);
        let html = String::from_utf8(p[0].bytes.clone()).unwrap();
        assert!(html.contains("src=\"../../files/QQ%20"));
    }

    #[test]
    fn unsafe_entries_and_ids_are_not_linked() {
        assert!(!linkable("../etc/passwd"));
        assert!(!linkable("files//x"));
        assert!(!linkable("/abs"));
        assert!(!linkable("c:/x"));
        assert!(linkable("files/a/b c.png"));
        assert_eq!(dir_name("c687a530d446"), "c687a530d446");
        assert!(dir_name("../x").starts_with('x'));
    }

    #[test]
    fn big_months_are_split_under_the_limit() {
        let rec = record("c1", 20_000);
        let long = "长".repeat(300);
        let msgs: Vec<MessageLine> = (0..20_000)
            .map(|i| msg(&format!("2020-03-{:02}T10:00:00", 1 + i % 28), "某人", &long))
            .collect();
        let pages = render(&ViewerOptions::in_archive(), &rec, &msgs);
        assert!(pages.len() > 4);
        assert!(pages.iter().all(|p| p.bytes.len() < MAX_PAGE_BYTES));
        assert!(pages.iter().any(|p| p.path == "chats/c1/2020-03-p2.html"));
    }

    /// Arbitrary text, names, ids, times and entry names: never a panic, never a page over
    /// the limit, never markup from the data. (A deterministic generator instead of a
    /// property-testing crate: the root crate has none.)
    #[test]
    fn arbitrary_messages_render_safely() {
        const PALETTE: &[&str] = &[
            "<",
            ">",
            "&",
            "\"",
            "'",
            "[",
            "]",
            "[图片]",
            "[表情]",
            "图",
            "%",
            "#",
            "?",
            "/",
            "..",
            " ",
            "\n",
            "\r",
            "\u{0}",
            "a",
            "Z",
            "9",
            "{",
            "}",
            "$",
            "\u{1F600}",
            "<script>",
            "\u{FFFD}",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let text = |next: &mut dyn FnMut(usize) -> usize, max: usize| -> String {
            (0..next(max)).map(|_| PALETTE[next(PALETTE.len())]).collect()
        };
        let mut rec = record("c1", 0);
        rec.name = "<script>alert(1)</script>".into();
        let opts = ViewerOptions {
            page_budget: 20_000,
            ..ViewerOptions::in_archive()
        };
        let mut msgs = Vec::new();
        for i in 0..3000 {
            let mut m = msg("2020-01-01T00:00:00", "", "");
            m.time = MessageTime {
                year: [0, 1999, 2020, 9999][next(4)],
                month: next(14) as u8,
                day: next(33) as u8,
                hour: next(30) as u8,
                minute: next(70) as u8,
                second: next(70) as u8,
            };
            m.sender = text(&mut next, 6);
            m.sender_id = (next(2) == 0).then(|| text(&mut next, 4));
            m.text = if i % 500 == 7 {
                "<".repeat(TEXT_CAP + 10)
            } else {
                text(&mut next, 40)
            };
            m.system = next(5) == 0;
            for _ in 0..next(4) {
                m.attachments.push(Attachment {
                    name: text(&mut next, 5),
                    sha256: None,
                    entry: (next(3) > 0).then(|| format!("files/{}.png", text(&mut next, 6))),
                });
            }
            msgs.push(m);
        }
        let pages = render(&opts, &rec, &msgs);
        let index = render_index(&opts, &[ConversationRenderer::new(&opts, &rec).finish().1.row()]);
        for p in pages.iter().chain(&index) {
            assert!(p.bytes.len() < MAX_PAGE_BYTES);
            let html = String::from_utf8(p.bytes.clone()).unwrap();
            assert!(!html.contains("<script>alert"), "{}", p.path);
            assert_eq!(html.matches("<script>").count(), 1, "only the page's own script");
            for l in html
                .split(" href=\"")
                .skip(1)
                .chain(html.split(" src=\"").skip(1))
            {
                let l = &l[..l.find('"').unwrap()];
                assert!(!l.contains(['<', '>', '\'', ' ', '#', '?', '[']), "{l}");
                assert!(!l.split('/').any(|c| c == "..") || l.starts_with("../"), "{l}");
            }
        }
        let shown: usize = pages
            .iter()
            .map(|p| String::from_utf8_lossy(&p.bytes).matches(" id=\"m").count())
            .sum();
        assert_eq!(shown, msgs.len());
    }

    #[test]
    fn weekdays() {
        assert_eq!(weekday(2016, 7, 19), 2);
        assert_eq!(weekday(2024, 1, 1), 1);
        assert_eq!(weekday(2000, 2, 29), 2);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
