//! Searching an index: candidates from the gram postings, filters from the fast columns, and,
//! when the index stores the texts, every hit verified against its text with [`Query::matches`].
//!
//! Terms: a term of two or more characters is a term query (two) or a phrase query with pinned
//! offsets (more) on the gram field; these are exact substring tests (see [`crate::tokenizer`]).
//! A term of one character is the union of the postings of every token that starts with it (a
//! range of the term dictionary), merged lazily a window of documents at a time. The terms of a
//! query are intersected in document order and exclusions are skipped to, so a search reads only
//! as much of each posting list as the documents it looks at need. Chat, sender and time filters
//! are checked per candidate on fast columns (the sender filter once per distinct sender,
//! through the column's dictionary).
//!
//! Early stop: the builder sorts every segment by time, newest first (schema 2). With "newest
//! first" and a limit, a segment is read only until it has `limit` candidates and the next
//! document is older than the `limit`th of them (ties at that time are still read, since the
//! chat and sequence number break them); with `since`, a segment stops at its first older
//! document. A common term then costs about as much as a rare one.
//!
//! Verification (indexes built with `store_text`): the stored text of a candidate is folded and
//! checked with [`Query::matches`], the same function a scan uses. With a limit, candidates are
//! verified in result order until the limit is reached, so a search for a common term reads
//! only as many stored texts as it returns.

use crate::directory::{IndexFileSlice, MapError, ReadOnlyDirectory};
use crate::fold::{fold, fold_into, FoldOptions};
use crate::query::Query;
use crate::schema::{
    decode_time, encode_time, fields_of, version_string, Fields, IndexInfo, F_CHAT, F_SENDER_ID,
    F_SENDER_NAME, F_SEQ, F_TIME, INFO_FILE,
};
use crate::tokenizer::{self, all_bigrams, covering_bigrams};
use qqvault_core::MessageTime;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use tantivy::columnar::{Column, StrColumn};
use tantivy::postings::SegmentPostings;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, PhraseQuery, Scorer, TermQuery, Weight};
use tantivy::schema::{Field, IndexRecordOption, TantivyDocument, Value};
use tantivy::{DocId, DocSet, Index, ReloadPolicy, Score, SegmentOrdinal, SegmentReader, Term, TERMINATED};

/// How hits are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Newest first; ties by chat id (ascending), then by sequence number (descending).
    #[default]
    Newest,
    /// Best score first (BM25 over the grams); ties as [`SortOrder::Newest`].
    Relevance,
}

impl SortOrder {
    /// The order of two hits. A scan, which has no scores, gets the order of
    /// [`SortOrder::Newest`] from this function for either order.
    pub fn compare(&self, a: &Hit, b: &Hit) -> Ordering {
        let newest = || {
            b.time
                .cmp(&a.time)
                .then_with(|| a.chat.cmp(&b.chat))
                .then_with(|| b.seq.cmp(&a.seq))
        };
        match self {
            SortOrder::Newest => newest(),
            SortOrder::Relevance => b.score.total_cmp(&a.score).then_with(newest),
        }
    }
}

/// What to keep and how many: the filters of a search, its order and its limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this chat (exact chat id).
    pub chat: Option<String>,
    /// Only senders whose folded name or folded id contains this, folded.
    pub sender: Option<String>,
    /// Only messages at or after this time.
    pub since: Option<MessageTime>,
    /// Only messages at or before this time.
    pub until: Option<MessageTime>,
    /// At most this many hits; 0 means all.
    pub limit: usize,
    pub sort: SortOrder,
}

impl Filters {
    /// Whether a message passes the filters (not the query): the reference for a scan.
    pub fn accepts(
        &self,
        chat: &str,
        time: MessageTime,
        sender: &str,
        sender_id: Option<&str>,
        folding: FoldOptions,
    ) -> bool {
        if self.chat.as_deref().is_some_and(|c| c != chat) {
            return false;
        }
        if self.since.is_some_and(|s| time < s) || self.until.is_some_and(|u| time > u) {
            return false;
        }
        match &self.sender {
            None => true,
            Some(wanted) => {
                let wanted = fold(wanted, folding);
                fold(sender, folding).contains(&wanted)
                    || sender_id.is_some_and(|id| fold(id, folding).contains(&wanted))
            }
        }
    }
}

/// One message found.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub chat: String,
    pub seq: u64,
    pub time: MessageTime,
    /// The relevance score with [`SortOrder::Relevance`], 0 otherwise.
    pub score: f32,
}

/// Why an index could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The index was written by a build with another schema, tokenizer or folding (or by
    /// another tantivy format): search by scanning instead.
    #[error("index version {found} is not the supported {expected}")]
    VersionMismatch { found: String, expected: String },
    /// A file the index needs is not among the files given.
    #[error("the index has no {name}")]
    MissingFile { name: String },
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The files are there but do not make a usable index.
    #[error("the index is damaged: {0}")]
    Corrupt(String),
}

impl From<MapError> for OpenError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::Io { path, source } => OpenError::Io { path, source },
            MapError::Invalid(reason) => OpenError::Corrupt(reason),
        }
    }
}

/// Why a search failed (the index could be opened but not read).
#[derive(Debug, thiserror::Error)]
#[error("the index could not be read")]
pub struct SearchError {
    #[source]
    source: tantivy::TantivyError,
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(source: tantivy::TantivyError) -> Self {
        SearchError { source }
    }
}

impl From<std::io::Error> for SearchError {
    fn from(e: std::io::Error) -> Self {
        SearchError { source: e.into() }
    }
}

/// An open index.
pub struct Searcher {
    info: IndexInfo,
    fields: Fields,
    searcher: tantivy::Searcher,
    /// Whether every segment holds its documents newest first (tantivy sorts them by the time
    /// column when the index says so), which lets a "newest first" search stop early.
    newest_first: bool,
}

impl Searcher {
    /// Opens the index whose files are the named byte ranges of the file at `path` (the
    /// Stored entries of the archive). Reads in place; writes nothing anywhere.
    pub fn open_slices(path: &Path, slices: &[IndexFileSlice]) -> Result<Searcher, OpenError> {
        Searcher::open(ReadOnlyDirectory::from_slices(path, slices)?)
    }

    /// Opens the index in a plain directory (as [`crate::IndexBuilder`] left it). Read-only.
    pub fn open_dir(dir: &Path) -> Result<Searcher, OpenError> {
        Searcher::open(ReadOnlyDirectory::from_dir(dir)?)
    }

    fn open(dir: ReadOnlyDirectory) -> Result<Searcher, OpenError> {
        let info_bytes = dir.bytes(INFO_FILE).ok_or(OpenError::MissingFile {
            name: INFO_FILE.to_string(),
        })?;
        let info = check_info(info_bytes)?;
        let index = Index::open(dir).map_err(|e| match e {
            tantivy::TantivyError::IncompatibleIndex(incompatibility) => OpenError::VersionMismatch {
                found: format!("{incompatibility:?}"),
                expected: "tantivy 0.27 index format".to_string(),
            },
            other => OpenError::Corrupt(other.to_string()),
        })?;
        tokenizer::register(&index, info.folding);
        let newest_first = crate::schema::newest_first(&index);
        let fields = fields_of(&index.schema()).ok_or_else(|| OpenError::VersionMismatch {
            found: "a schema without the expected fields".to_string(),
            expected: IndexInfo::expected_version(),
        })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| OpenError::Corrupt(e.to_string()))?;
        Ok(Searcher {
            info,
            fields,
            searcher: reader.searcher(),
            newest_first,
        })
    }

    /// What the version file of the index says.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// Messages in the index.
    pub fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// The hits of `query` that pass `filters`, in the order and up to the limit they ask for.
    pub fn search(&self, query: &Query, filters: &Filters) -> Result<Vec<Hit>, SearchError> {
        let folding = self.info.folding;
        let query = if query.folding() == folding {
            query.clone()
        } else {
            query.refold(folding)
        };
        if query.terms().is_empty() {
            return Ok(Vec::new());
        }
        let chats = ChatNames::read(&self.searcher)?;
        let scoring = filters.sort == SortOrder::Relevance;

        // Terms of two or more characters make one tantivy query, which drives the search (and
        // scores it); one-character terms and exclusions are document sets it is checked
        // against. (Exclusions are not `MustNot` clauses: tantivy 0.27 trips a debug assertion
        // when an exhausted phrase scorer serves as an exclusion set.)
        let mut long_terms = Vec::new();
        let mut required = Vec::new();
        for term in query.terms() {
            if term.folded.chars().nth(1).is_some() {
                long_terms.push(term.folded.as_str());
            } else {
                required.push(self.term_source(&term.folded)?);
            }
        }
        let driver = if long_terms.is_empty() {
            // Every term is one character (and there is one at least): the first drives.
            required.remove(0)
        } else {
            let enable = if scoring {
                EnableScoring::enabled_from_searcher(&self.searcher)
            } else {
                EnableScoring::disabled_from_searcher(&self.searcher)
            };
            let all = BooleanQuery::new(
                long_terms
                    .iter()
                    .map(|t| (Occur::Must, self.long_term_query(t, scoring)))
                    .collect(),
            );
            TermSource::Weight(tantivy::query::Query::weight(&all, enable)?)
        };
        let excluded = query
            .exclusions()
            .iter()
            .map(|t| self.term_source(&t.folded))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = Plan {
            driver,
            required,
            excluded,
            scoring,
            grams: self.fields.grams,
        };
        let mut spec = FilterSpec {
            chat: filters.chat.as_deref(),
            since: filters.since.map_or(0, encode_time),
            until: filters.until.map_or(u64::MAX, encode_time),
            sender: filters.sender.as_deref().map(|s| fold(s, folding)),
            chats: &chats,
            sort: filters.sort,
            keep: filters.limit,
            newest_first: self.newest_first,
        };
        loop {
            let mut candidates = Vec::new();
            let mut truncated = false;
            for (segment, reader) in self.searcher.segment_readers().iter().enumerate() {
                let (c, t) = plan.candidates(&spec, segment as SegmentOrdinal, reader)?;
                candidates.extend(c);
                truncated |= t;
            }
            let hits = self.verify_and_order(&query, candidates, filters, &chats)?;
            // Only a failed verification (stored texts) can leave fewer hits than wanted while
            // candidates were left out: then look at more of them.
            if !truncated || hits.len() >= filters.limit {
                return Ok(hits);
            }
            spec.keep = spec.keep.saturating_mul(4);
        }
    }

    /// Where the documents of one folded term (not empty) come from: a query for two or more
    /// characters, a range of the term dictionary for one.
    fn term_source(&self, folded: &str) -> Result<TermSource, SearchError> {
        let mut chars = folded.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            let q = self.long_term_query(folded, false);
            return Ok(TermSource::Weight(
                q.weight(EnableScoring::disabled_from_searcher(&self.searcher))?,
            ));
        };
        // Every token that starts with `c`: a contiguous range of the term dictionary, since
        // no UTF-8 encoding of a character is a prefix of another's.
        let mut start = [0u8; 4];
        let start = c.encode_utf8(&mut start).as_bytes().to_vec();
        let mut end = start.clone();
        // The last byte of a UTF-8 sequence is at most 0xBF (0x7F for ASCII): no overflow.
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        Ok(TermSource::Prefix((start, end)))
    }

    /// Messages whose folded text contains `folded` (of two or more characters): a term query
    /// for two, a phrase of bigrams with pinned offsets for more.
    ///
    /// Unscored, the phrase pins every bigram of the term: the same documents as the covering
    /// bigrams alone, but tantivy intersects the documents of all of them before it reads any
    /// position, so a rare bigram where two words meet (田考 in 本田考试) narrows the candidates
    /// whose positions are read. Scored, it keeps the covering bigrams, whose BM25 scores
    /// relevance has always used.
    fn long_term_query(&self, folded: &str, scoring: bool) -> Box<dyn tantivy::query::Query> {
        let mut bigrams = if scoring {
            covering_bigrams(folded)
        } else {
            all_bigrams(folded)
        };
        if bigrams.len() == 1 {
            let (_, gram) = bigrams.remove(0);
            return Box::new(TermQuery::new(
                Term::from_field_text(self.fields.grams, &gram),
                IndexRecordOption::WithFreqs,
            ));
        }
        Box::new(PhraseQuery::new_with_offset(
            bigrams
                .into_iter()
                .map(|(offset, gram)| (offset, Term::from_field_text(self.fields.grams, &gram)))
                .collect(),
        ))
    }

    /// Verifies candidates against their stored text (when stored) and returns the first
    /// `filters.limit` hits (all for 0) in order.
    fn verify_and_order(
        &self,
        query: &Query,
        mut candidates: Vec<Candidate>,
        filters: &Filters,
        chats: &ChatNames,
    ) -> Result<Vec<Hit>, SearchError> {
        let order = |a: &Candidate, b: &Candidate| candidate_order(filters.sort, a, b);
        let mut verifier = Verifier::new(&self.searcher, self.fields, query.clone())?;
        if filters.limit == 0 {
            // Everything is returned: verify in index order (sequential reads of the store),
            // then order.
            if verifier.verifies() {
                candidates.sort_unstable_by_key(|c| (c.segment, c.doc));
                let mut kept = Vec::with_capacity(candidates.len());
                for c in candidates {
                    if verifier.matches(&c)? {
                        kept.push(c);
                    }
                }
                candidates = kept;
            }
            candidates.sort_unstable_by(order);
            return Ok(candidates.iter().map(|c| self.hit(c, chats)).collect());
        }
        candidates.sort_unstable_by(order);
        let mut hits = Vec::with_capacity(filters.limit.min(candidates.len()));
        for c in &candidates {
            if hits.len() == filters.limit {
                break;
            }
            if verifier.matches(c)? {
                hits.push(self.hit(c, chats));
            }
        }
        Ok(hits)
    }

    fn hit(&self, c: &Candidate, chats: &ChatNames) -> Hit {
        Hit {
            chat: chats.name(c.chat_rank).to_string(),
            seq: c.seq,
            time: decode_time(c.time),
            score: c.score,
        }
    }
}

/// Parses the version file and checks that this build can search the index.
pub(crate) fn check_info(bytes: &[u8]) -> Result<IndexInfo, OpenError> {
    let expected = IndexInfo::expected_version();
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| OpenError::Corrupt(format!("{INFO_FILE} is not JSON: {e}")))?;
    let format = value.get("format").and_then(|v| v.as_str()).unwrap_or("?");
    let number = |key: &str| value.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    let (schema, tokenizer) = (number("schema_version"), number("tokenizer_version"));
    let current = IndexInfo::new(FoldOptions::default(), false, 0, 0);
    if format != current.format
        || schema != u64::from(current.schema_version)
        || tokenizer != u64::from(current.tokenizer_version)
    {
        return Err(OpenError::VersionMismatch {
            found: version_string(
                format,
                u32::try_from(schema).unwrap_or(u32::MAX),
                u32::try_from(tokenizer).unwrap_or(u32::MAX),
            ),
            expected,
        });
    }
    // Same versions: a folding this build does not know is the only way the rest can differ.
    serde_json::from_value::<IndexInfo>(value.clone()).map_err(|e| OpenError::VersionMismatch {
        found: format!(
            "{expected} with folding {}",
            value.get("folding").map(|f| f.to_string()).unwrap_or_default()
        ),
        expected: format!("{expected} ({e})"),
    })
}

/// A message that the candidate query and the fast-column filters let through.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    segment: SegmentOrdinal,
    doc: DocId,
    time: u64,
    seq: u64,
    /// Rank of the chat id among all chat ids of the index (byte order).
    chat_rank: u32,
    score: Score,
}

fn candidate_order(sort: SortOrder, a: &Candidate, b: &Candidate) -> Ordering {
    let newest = || {
        b.time
            .cmp(&a.time)
            .then_with(|| a.chat_rank.cmp(&b.chat_rank))
            .then_with(|| b.seq.cmp(&a.seq))
            .then_with(|| (a.segment, a.doc).cmp(&(b.segment, b.doc)))
    };
    match sort {
        SortOrder::Newest => newest(),
        SortOrder::Relevance => b.score.total_cmp(&a.score).then_with(newest),
    }
}

/// The chat ids of the index, and for each segment the rank of each of its chat ordinals, so
/// that candidates of different segments sort by chat id without reading strings.
struct ChatNames {
    names: Vec<String>,
    rank_of_ord: Vec<Vec<u32>>,
}

impl ChatNames {
    fn read(searcher: &tantivy::Searcher) -> Result<ChatNames, SearchError> {
        let mut per_segment: Vec<Vec<String>> = Vec::new();
        for reader in searcher.segment_readers() {
            let mut names = Vec::new();
            if let Some(column) = reader.fast_fields().str(F_CHAT)? {
                let mut stream = column.dictionary().stream()?;
                while stream.advance() {
                    names.push(String::from_utf8_lossy(stream.key()).into_owned());
                }
            }
            per_segment.push(names);
        }
        let mut names: Vec<String> = per_segment.iter().flatten().cloned().collect();
        names.sort_unstable();
        names.dedup();
        let rank_of_ord = per_segment
            .iter()
            .map(|segment| {
                segment
                    .iter()
                    .map(|n| names.binary_search(n).map_or(u32::MAX, |r| r as u32))
                    .collect()
            })
            .collect();
        Ok(ChatNames { names, rank_of_ord })
    }

    fn rank(&self, segment: SegmentOrdinal, ord: u64) -> u32 {
        self.rank_of_ord
            .get(segment as usize)
            .and_then(|ranks| ranks.get(usize::try_from(ord).ok()?))
            .copied()
            .unwrap_or(u32::MAX)
    }

    fn name(&self, rank: u32) -> &str {
        self.names.get(rank as usize).map_or("", String::as_str)
    }
}

/// Everything a candidate must pass besides the terms, for all segments.
struct FilterSpec<'a> {
    chat: Option<&'a str>,
    since: u64,
    until: u64,
    /// Folded sender filter.
    sender: Option<String>,
    chats: &'a ChatNames,
    sort: SortOrder,
    /// Keep only the best this many per segment (0: all).
    keep: usize,
    /// Whether the segments hold their documents newest first.
    newest_first: bool,
}

/// Where the candidates of one segment go: all of them, or only the best `keep`.
///
/// The best are kept by selection rather than in a heap: candidates are appended, and every
/// time the buffer holds four times `keep`, it is cut back to the best `keep` in linear time,
/// whose worst becomes the bar the next candidates must pass. Postings come in document order,
/// which is mostly time order, so with "newest first" nearly every candidate would enter a
/// heap and leave it again: that cost a third of a search's time.
struct CandidateSink {
    keep: usize,
    sort: SortOrder,
    all: Vec<Candidate>,
    best: Vec<Candidate>,
    /// The worst of the best `keep` at the last cut: a candidate worse than it cannot enter.
    bar: Option<Candidate>,
    /// Whether a passing candidate was left out.
    truncated: bool,
}

impl CandidateSink {
    fn new(keep: usize, sort: SortOrder) -> Self {
        CandidateSink {
            keep,
            sort,
            all: Vec::new(),
            best: Vec::new(),
            bar: None,
            truncated: false,
        }
    }

    /// Whether a candidate with this time and score cannot make the best `keep`: decided
    /// before reading anything else about it.
    fn cannot_enter(&mut self, time: u64, score: Score) -> bool {
        if self.keep == 0 {
            return false;
        }
        let Some(worst) = self.bar.as_ref() else {
            return false;
        };
        let out = match self.sort {
            SortOrder::Newest => time < worst.time,
            SortOrder::Relevance => score < worst.score || (score == worst.score && time < worst.time),
        };
        self.truncated |= out;
        out
    }

    fn push(&mut self, c: Candidate) {
        if self.keep == 0 {
            self.all.push(c);
            return;
        }
        self.best.push(c);
        if self.best.len() >= self.keep.saturating_mul(4).max(4096) {
            self.cut();
        }
    }

    /// Keeps the best `keep` of the buffer.
    fn cut(&mut self) {
        if self.best.len() <= self.keep {
            return;
        }
        let sort = self.sort;
        self.best
            .select_nth_unstable_by(self.keep - 1, |a, b| candidate_order(sort, a, b));
        self.best.truncate(self.keep);
        self.bar = self.best.last().copied();
        self.truncated = true;
    }

    fn finish(mut self) -> (Vec<Candidate>, bool) {
        if self.keep == 0 {
            (self.all, false)
        } else {
            self.cut();
            (self.best, self.truncated)
        }
    }
}

/// Which ordinals of a string column pass a substring filter.
fn matching_ords(column: &StrColumn, wanted: &str) -> std::io::Result<Vec<bool>> {
    let mut ok = Vec::with_capacity(column.num_terms());
    let mut stream = column.dictionary().stream()?;
    while stream.advance() {
        ok.push(String::from_utf8_lossy(stream.key()).contains(wanted));
    }
    Ok(ok)
}

/// The sender filter of one segment: ordinals of names and ids that pass.
struct SenderFilter {
    names: Option<(Column<u64>, Vec<bool>)>,
    ids: Option<(Column<u64>, Vec<bool>)>,
}

impl SenderFilter {
    fn accepts(&self, doc: DocId) -> bool {
        let passes = |part: &Option<(Column<u64>, Vec<bool>)>| {
            part.as_ref().is_some_and(|(column, ok)| {
                column.values_for_doc(doc).any(|ord| {
                    usize::try_from(ord)
                        .ok()
                        .and_then(|o| ok.get(o))
                        .copied()
                        .unwrap_or(false)
                })
            })
        };
        passes(&self.names) || passes(&self.ids)
    }
}

/// The filters of one segment, resolved against its columns; collects what passes.
struct SegmentFilter {
    segment: SegmentOrdinal,
    /// The ordinal of the wanted chat in this segment; `Some(None)`: the segment lacks it.
    chat_ord: Option<Option<u64>>,
    since: u64,
    until: u64,
    time: Column<u64>,
    seq: Column<u64>,
    chat: Option<Column<u64>>,
    chat_ranks: Vec<u32>,
    sender: Option<SenderFilter>,
    sink: CandidateSink,
    /// Documents come newest first: a document older than `since` ends the segment.
    newest_first: bool,
    /// Documents come newest first and hits are the newest `keep`: once `keep` candidates
    /// are in, a document older than the last of them ends the segment.
    stop_at_limit: bool,
    kept: usize,
    limit_time: Option<u64>,
}

impl SegmentFilter {
    fn new(
        spec: &FilterSpec<'_>,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFilter> {
        let fast = reader.fast_fields();
        let sender = match &spec.sender {
            // Everyone's name contains the empty string, even when the column holds no name.
            Some(wanted) if wanted.is_empty() => None,
            None => None,
            Some(wanted) => {
                let part = |name: &str| -> tantivy::Result<Option<(Column<u64>, Vec<bool>)>> {
                    Ok(match fast.str(name)? {
                        Some(column) => {
                            let ok = matching_ords(&column, wanted)?;
                            Some((column.ords().clone(), ok))
                        }
                        None => None,
                    })
                };
                Some(SenderFilter {
                    names: part(F_SENDER_NAME)?,
                    ids: part(F_SENDER_ID)?,
                })
            }
        };
        let chat = fast.str(F_CHAT)?;
        let chat_ord = match (spec.chat, &chat) {
            (None, _) => None,
            (Some(wanted), Some(column)) => Some(column.dictionary().term_ord(wanted)?),
            (Some(_), None) => Some(None),
        };
        let chat_ranks = match &chat {
            Some(column) => (0..column.num_terms() as u64)
                .map(|ord| spec.chats.rank(segment, ord))
                .collect(),
            None => Vec::new(),
        };
        Ok(SegmentFilter {
            segment,
            chat_ord,
            since: spec.since,
            until: spec.until,
            time: fast.u64(F_TIME)?,
            seq: fast.u64(F_SEQ)?,
            chat: chat.map(|c| c.ords().clone()),
            chat_ranks,
            sender,
            sink: CandidateSink::new(spec.keep, spec.sort),
            newest_first: spec.newest_first,
            stop_at_limit: spec.newest_first && spec.keep > 0 && spec.sort == SortOrder::Newest,
            kept: 0,
            limit_time: None,
        })
    }

    /// Keeps `doc` as a candidate if it passes. Returns false when no later document of the
    /// segment can be a hit (see the module documentation).
    fn offer(&mut self, doc: DocId, score: Score) -> bool {
        let time = self.time.first(doc).unwrap_or(0);
        if self.newest_first && time < self.since {
            return false;
        }
        if self.limit_time.is_some_and(|t| time < t) {
            self.sink.truncated = true;
            return false;
        }
        if time < self.since || time > self.until {
            return true;
        }
        let chat_ord = match self.chat_ord {
            None => None,
            Some(None) => return true,
            Some(wanted) => {
                let ord = self.chat.as_ref().and_then(|c| c.first(doc));
                if ord != wanted {
                    return true;
                }
                ord
            }
        };
        if self.sender.as_ref().is_some_and(|s| !s.accepts(doc)) {
            return true;
        }
        if self.sink.cannot_enter(time, score) {
            return true;
        }
        let chat_ord = chat_ord.or_else(|| self.chat.as_ref().and_then(|c| c.first(doc)));
        let chat_rank = chat_ord
            .and_then(|ord| self.chat_ranks.get(usize::try_from(ord).ok()?))
            .copied()
            .unwrap_or(u32::MAX);
        self.sink.push(Candidate {
            segment: self.segment,
            doc,
            time,
            seq: self.seq.first(doc).unwrap_or(0),
            chat_rank,
            score,
        });
        if self.stop_at_limit {
            self.kept += 1;
            if self.kept == self.sink.keep {
                self.limit_time = Some(time);
            }
        }
        true
    }
}

/// Where the documents of one term come from.
enum TermSource {
    /// A term of two or more characters: a term or phrase query (or the query of all of them).
    Weight(Box<dyn Weight>),
    /// A term of one character: the tokens from the first to before the second key.
    Prefix((Vec<u8>, Vec<u8>)),
}

impl TermSource {
    fn docs(&self, reader: &SegmentReader, grams: Field) -> Result<TermDocs, SearchError> {
        Ok(match self {
            TermSource::Weight(w) => TermDocs::Scorer(w.scorer(reader, 1.0)?),
            TermSource::Prefix((start, end)) => {
                let inverted = reader.inverted_index(grams)?;
                let mut terms = inverted.terms().range().ge(start).lt(end).into_stream()?;
                let mut postings = Vec::new();
                while terms.advance() {
                    postings
                        .push(inverted.read_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?);
                }
                TermDocs::Union(PrefixUnion::new(postings))
            }
        })
    }
}

/// The documents of one term in one segment, in increasing order.
enum TermDocs {
    Scorer(Box<dyn Scorer>),
    Union(PrefixUnion),
}

impl TermDocs {
    fn doc(&self) -> DocId {
        match self {
            TermDocs::Scorer(s) => s.doc(),
            TermDocs::Union(u) => u.doc,
        }
    }

    fn advance(&mut self) -> DocId {
        match self {
            TermDocs::Scorer(s) => s.advance(),
            TermDocs::Union(u) => u.advance(),
        }
    }

    /// The first document at or after `target`, which must not be before the current one.
    fn seek(&mut self, target: DocId) -> DocId {
        match self {
            TermDocs::Scorer(s) => s.seek(target),
            TermDocs::Union(u) => u.seek(target),
        }
    }

    /// The first document at or after `target`, staying put when already there (or done).
    fn reach(&mut self, target: DocId) -> DocId {
        let doc = self.doc();
        if doc < target {
            self.seek(target)
        } else {
            doc
        }
    }

    fn score(&mut self) -> Score {
        match self {
            TermDocs::Scorer(s) => s.score(),
            TermDocs::Union(_) => 0.0,
        }
    }
}

/// Documents per window of a [`PrefixUnion`].
const WINDOW: u32 = 4096;

/// The union of many posting lists, merged a window of [`WINDOW`] documents at a time into a
/// bit set: a one-character term can start thousands of tokens, and a search that stops early
/// reads only the first blocks of each.
struct PrefixUnion {
    postings: Vec<SegmentPostings>,
    bits: Vec<u64>,
    /// First document of the window.
    start: DocId,
    /// The current document ([`TERMINATED`] at the end).
    doc: DocId,
}

impl PrefixUnion {
    fn new(postings: Vec<SegmentPostings>) -> Self {
        let mut u = PrefixUnion {
            postings,
            bits: vec![0; (WINDOW / 64) as usize],
            start: 0,
            doc: TERMINATED,
        };
        u.doc = u.fill_from(0);
        u
    }

    /// Fills the window that begins at the first document at or after `from`; returns that
    /// document.
    fn fill_from(&mut self, from: DocId) -> DocId {
        let mut first = TERMINATED;
        self.postings.retain_mut(|p| {
            let doc = if p.doc() < from { p.seek(from) } else { p.doc() };
            first = first.min(doc);
            doc != TERMINATED
        });
        if first == TERMINATED {
            return TERMINATED;
        }
        self.start = first;
        self.bits.fill(0);
        let end = first.saturating_add(WINDOW);
        for p in &mut self.postings {
            let mut doc = p.doc();
            while doc < end {
                let offset = doc - first;
                self.bits[(offset / 64) as usize] |= 1 << (offset % 64);
                doc = p.advance();
            }
        }
        first
    }

    /// The first document of the window at or after `target`.
    fn next_in_window(&self, target: DocId) -> Option<DocId> {
        let offset = target.max(self.start) - self.start;
        if offset >= WINDOW {
            return None;
        }
        let mut word_index = (offset / 64) as usize;
        let mut word = self.bits[word_index] & (u64::MAX << (offset % 64));
        loop {
            if word != 0 {
                return Some(self.start + word_index as u32 * 64 + word.trailing_zeros());
            }
            word_index += 1;
            word = *self.bits.get(word_index)?;
        }
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc == TERMINATED || target <= self.doc {
            return self.doc;
        }
        self.doc = match self.next_in_window(target) {
            Some(doc) => doc,
            None => self.fill_from(target.max(self.start.saturating_add(WINDOW))),
        };
        self.doc
    }

    fn advance(&mut self) -> DocId {
        match self.doc {
            TERMINATED => TERMINATED,
            doc => self.seek(doc + 1),
        }
    }
}

/// What a search reads: the term that drives it, the terms it must also contain, the terms it
/// must not.
struct Plan {
    driver: TermSource,
    required: Vec<TermSource>,
    excluded: Vec<TermSource>,
    scoring: bool,
    grams: Field,
}

impl Plan {
    /// The candidates of one segment: the documents of every term and no exclusion that pass
    /// the filters, and whether any passing document was left out.
    fn candidates(
        &self,
        spec: &FilterSpec<'_>,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> Result<(Vec<Candidate>, bool), SearchError> {
        let mut filter = SegmentFilter::new(spec, segment, reader)?;
        let sources = |terms: &[TermSource]| {
            terms
                .iter()
                .map(|t| t.docs(reader, self.grams))
                .collect::<Result<Vec<_>, _>>()
        };
        let mut driver = self.driver.docs(reader, self.grams)?;
        let mut required = sources(&self.required)?;
        let mut excluded = sources(&self.excluded)?;
        let alive = reader.alive_bitset();
        let mut doc = driver.doc();
        'docs: while doc != TERMINATED {
            for r in &mut required {
                let at = r.reach(doc);
                if at != doc {
                    if at == TERMINATED {
                        break 'docs;
                    }
                    doc = driver.seek(at);
                    continue 'docs;
                }
            }
            if excluded.iter_mut().any(|e| e.reach(doc) == doc) || alive.is_some_and(|a| a.is_deleted(doc)) {
                doc = driver.advance();
                continue;
            }
            let score = if self.scoring { driver.score() } else { 0.0 };
            if !filter.offer(doc, score) {
                break;
            }
            doc = driver.advance();
        }
        Ok(filter.sink.finish())
    }
}

/// Reads stored texts and checks them with the reference matcher.
struct Verifier {
    stores: Vec<tantivy::store::StoreReader>,
    /// None when the index stores no text: every candidate is then a hit.
    text_field: Option<tantivy::schema::Field>,
    query: Query,
    folded: String,
}

impl Verifier {
    fn new(searcher: &tantivy::Searcher, fields: Fields, query: Query) -> std::io::Result<Self> {
        let stores = match fields.text {
            Some(_) => searcher
                .segment_readers()
                .iter()
                .map(|r| r.get_store_reader(8))
                .collect::<std::io::Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        Ok(Verifier {
            stores,
            text_field: fields.text,
            query,
            folded: String::new(),
        })
    }

    /// Whether there is anything to verify against.
    fn verifies(&self) -> bool {
        self.text_field.is_some()
    }

    fn matches(&mut self, c: &Candidate) -> Result<bool, SearchError> {
        let Some(text_field) = self.text_field else {
            return Ok(true);
        };
        let Some(store) = self.stores.get(c.segment as usize) else {
            return Ok(false);
        };
        let doc: TantivyDocument = store.get(c.doc)?;
        let text = doc.get_first(text_field).and_then(|v| v.as_str()).unwrap_or("");
        fold_into(text, self.query.folding(), &mut self.folded);
        Ok(self.query.matches(&self.folded))
    }
}
