//! Searching an index: candidates from the gram postings, filters from the fast columns, and,
//! when the index stores the texts, every hit verified against its text with [`Query::matches`].
//!
//! Terms: a term of two or more characters is a term query (two) or a phrase query with pinned
//! offsets (more) on the gram field; these are exact substring tests (see [`crate::tokenizer`]).
//! A term of one character is the set of documents of every token that starts with it, read
//! from a range of the term dictionary into a bit set. Exclusions are bit sets too. Chat,
//! sender and time filters are checked per candidate on fast columns (the sender filter once
//! per distinct sender, through the column's dictionary).
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
use crate::tokenizer::{self, covering_bigrams};
use qqvault_core::MessageTime;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, TantivyDocument, Value};
use tantivy::{DocId, Index, ReloadPolicy, Score, SegmentOrdinal, SegmentReader, Term};

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

        // One-character terms and all exclusions become bit sets; longer terms are the tantivy
        // query. (Exclusions are not `MustNot` clauses: tantivy 0.27 trips a debug assertion
        // when an exhausted phrase scorer serves as an exclusion set.)
        let mut required: Option<Vec<DocBits>> = None;
        let mut long_terms = Vec::new();
        for term in query.terms() {
            if term.folded.chars().nth(1).is_some() {
                long_terms.push(term.folded.as_str());
            } else {
                let docs = self.docs_containing(&term.folded)?;
                required = Some(match required {
                    None => docs,
                    Some(mut all) => {
                        all.iter_mut().zip(&docs).for_each(|(a, b)| a.intersect_with(b));
                        all
                    }
                });
            }
        }
        let mut excluded: Option<Vec<DocBits>> = None;
        for term in query.exclusions() {
            let docs = self.docs_containing(&term.folded)?;
            excluded = Some(match excluded {
                None => docs,
                Some(mut all) => {
                    all.iter_mut().zip(&docs).for_each(|(a, b)| a.union_with(b));
                    all
                }
            });
        }
        let mut spec = FilterSpec {
            required: required.as_deref(),
            excluded: excluded.as_deref(),
            chat: filters.chat.as_deref(),
            since: filters.since.map_or(0, encode_time),
            until: filters.until.map_or(u64::MAX, encode_time),
            sender: filters.sender.as_deref().map(|s| fold(s, folding)),
            chats: &chats,
            sort: filters.sort,
            keep: filters.limit,
        };
        let long_query = (!long_terms.is_empty()).then(|| {
            BooleanQuery::new(
                long_terms
                    .iter()
                    .map(|t| (Occur::Must, self.long_term_query(t)))
                    .collect(),
            )
        });
        loop {
            let (candidates, truncated) = match &long_query {
                None => self.candidates_from_bits(&spec, required.as_deref())?,
                Some(q) => {
                    let collector = CandidateCollector {
                        spec: &spec,
                        scoring: filters.sort == SortOrder::Relevance,
                    };
                    self.searcher.search(q, &collector)?
                }
            };
            let hits = self.verify_and_order(&query, candidates, filters, &chats)?;
            // Only a failed verification (stored texts) can leave fewer hits than wanted while
            // candidates were left out: then look at more of them.
            if !truncated || hits.len() >= filters.limit {
                return Ok(hits);
            }
            spec.keep = spec.keep.saturating_mul(4);
        }
    }

    /// Candidates when every term is one character: the documents of their bit sets.
    fn candidates_from_bits(
        &self,
        spec: &FilterSpec<'_>,
        required: Option<&[DocBits]>,
    ) -> Result<(Vec<Candidate>, bool), SearchError> {
        let mut out = Vec::new();
        let mut truncated = false;
        for (segment, reader) in self.searcher.segment_readers().iter().enumerate() {
            let mut filter = SegmentFilter::new(spec, segment as SegmentOrdinal, reader)?;
            if let Some(bits) = required.and_then(|r| r.get(segment)) {
                for doc in bits.iter().take_while(|&d| d < reader.max_doc()) {
                    filter.offer(doc, 0.0);
                }
            }
            let (candidates, t) = filter.sink.finish();
            out.extend(candidates);
            truncated |= t;
        }
        Ok((out, truncated))
    }

    /// Messages whose folded text contains `folded` (of two or more characters): a term query
    /// for two, a phrase of covering bigrams with pinned offsets for more.
    fn long_term_query(&self, folded: &str) -> Box<dyn tantivy::query::Query> {
        let mut bigrams = covering_bigrams(folded);
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

    /// The documents, per segment, whose folded text contains `folded` (non-empty).
    fn docs_containing(&self, folded: &str) -> Result<Vec<DocBits>, SearchError> {
        let mut chars = folded.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Ok(self
                .searcher
                .search(&*self.long_term_query(folded), &DocBitsCollector)?);
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
        let mut out = Vec::new();
        for reader in self.searcher.segment_readers() {
            let mut bits = DocBits::with_max_doc(reader.max_doc());
            let inverted = reader.inverted_index(self.fields.grams)?;
            let mut terms = inverted.terms().range().ge(&start).lt(&end).into_stream()?;
            while terms.advance() {
                let mut postings =
                    inverted.read_block_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?;
                loop {
                    let docs = postings.docs();
                    if docs.is_empty() {
                        break;
                    }
                    docs.iter().for_each(|&d| bits.insert(d));
                    postings.advance();
                }
            }
            out.push(bits);
        }
        Ok(out)
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
fn check_info(bytes: &[u8]) -> Result<IndexInfo, OpenError> {
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

/// A set of documents of one segment.
#[derive(Clone, Debug, Default)]
struct DocBits(Vec<u64>);

impl DocBits {
    fn with_max_doc(max_doc: DocId) -> Self {
        DocBits(vec![0; (max_doc as usize).div_ceil(64)])
    }

    fn insert(&mut self, doc: DocId) {
        let word = doc as usize / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (doc % 64);
    }

    fn contains(&self, doc: DocId) -> bool {
        self.0
            .get(doc as usize / 64)
            .is_some_and(|w| w & (1 << (doc % 64)) != 0)
    }

    fn union_with(&mut self, other: &DocBits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn intersect_with(&mut self, other: &DocBits) {
        for (i, a) in self.0.iter_mut().enumerate() {
            *a &= other.0.get(i).copied().unwrap_or(0);
        }
    }

    /// The documents in increasing order.
    fn iter(&self) -> impl Iterator<Item = DocId> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            let mut word = word;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let bit = word.trailing_zeros();
                word &= word - 1;
                Some(i as DocId * 64 + bit)
            })
        })
    }
}

/// Collects the documents a query matches, one set per segment (in segment order).
struct DocBitsCollector;

impl Collector for DocBitsCollector {
    type Fruit = Vec<DocBits>;
    type Child = SegmentDocBits;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(SegmentDocBits {
            segment,
            bits: DocBits::with_max_doc(reader.max_doc()),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(SegmentOrdinal, DocBits)>) -> tantivy::Result<Vec<DocBits>> {
        let mut out = vec![DocBits::default(); fruits.len()];
        for (segment, bits) in fruits {
            if let Some(slot) = out.get_mut(segment as usize) {
                *slot = bits;
            }
        }
        Ok(out)
    }
}

struct SegmentDocBits {
    segment: SegmentOrdinal,
    bits: DocBits,
}

impl SegmentCollector for SegmentDocBits {
    type Fruit = (SegmentOrdinal, DocBits);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.bits.insert(doc);
    }

    fn harvest(self) -> Self::Fruit {
        (self.segment, self.bits)
    }
}

/// Everything a candidate must pass besides the long terms, for all segments.
struct FilterSpec<'a> {
    /// Documents that contain every one-character term, per segment (None: no such term).
    required: Option<&'a [DocBits]>,
    /// Documents that contain an exclusion, per segment (None: no exclusion).
    excluded: Option<&'a [DocBits]>,
    chat: Option<&'a str>,
    since: u64,
    until: u64,
    /// Folded sender filter.
    sender: Option<String>,
    chats: &'a ChatNames,
    sort: SortOrder,
    /// Keep only the best this many per segment (0: all).
    keep: usize,
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
    required: Option<DocBits>,
    excluded: Option<DocBits>,
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
        let for_segment = |sets: Option<&[DocBits]>| {
            sets.map(|sets| sets.get(segment as usize).cloned().unwrap_or_default())
        };
        Ok(SegmentFilter {
            segment,
            required: for_segment(spec.required),
            excluded: for_segment(spec.excluded),
            chat_ord,
            since: spec.since,
            until: spec.until,
            time: fast.u64(F_TIME)?,
            seq: fast.u64(F_SEQ)?,
            chat: chat.map(|c| c.ords().clone()),
            chat_ranks,
            sender,
            sink: CandidateSink::new(spec.keep, spec.sort),
        })
    }

    /// Keeps `doc` as a candidate if it passes.
    fn offer(&mut self, doc: DocId, score: Score) {
        if self.required.as_ref().is_some_and(|r| !r.contains(doc))
            || self.excluded.as_ref().is_some_and(|e| e.contains(doc))
        {
            return;
        }
        let time = self.time.first(doc).unwrap_or(0);
        if time < self.since || time > self.until {
            return;
        }
        let chat_ord = match self.chat_ord {
            None => None,
            Some(None) => return,
            Some(wanted) => {
                let ord = self.chat.as_ref().and_then(|c| c.first(doc));
                if ord != wanted {
                    return;
                }
                ord
            }
        };
        if self.sender.as_ref().is_some_and(|s| !s.accepts(doc)) {
            return;
        }
        if self.sink.cannot_enter(time, score) {
            return;
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
    }
}

/// Runs the filters over the documents of the long-term query.
struct CandidateCollector<'a> {
    spec: &'a FilterSpec<'a>,
    scoring: bool,
}

impl Collector for CandidateCollector<'_> {
    type Fruit = (Vec<Candidate>, bool);
    type Child = SegmentCandidates;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCandidates> {
        Ok(SegmentCandidates(SegmentFilter::new(self.spec, segment, reader)?))
    }

    fn requires_scoring(&self) -> bool {
        self.scoring
    }

    fn merge_fruits(&self, fruits: Vec<(Vec<Candidate>, bool)>) -> tantivy::Result<(Vec<Candidate>, bool)> {
        let truncated = fruits.iter().any(|(_, t)| *t);
        Ok((fruits.into_iter().flat_map(|(c, _)| c).collect(), truncated))
    }
}

struct SegmentCandidates(SegmentFilter);

impl SegmentCollector for SegmentCandidates {
    type Fruit = (Vec<Candidate>, bool);

    fn collect(&mut self, doc: DocId, score: Score) {
        self.0.offer(doc, score);
    }

    fn harvest(self) -> (Vec<Candidate>, bool) {
        self.0.sink.finish()
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
