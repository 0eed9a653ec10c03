//! The merge of [`crate::merge`] with bounded memory: messages wait in temporary files instead
//! of memory, so that a 10 GB export merges in a few tens of MB.
//!
//! The rules are those of [`crate::merge`], and so is the walk (the same code): only where
//! the messages wait differs. [`crate::merge::Merger`] stays as the reference that the tests
//! compare this with.
//!
//! # How
//!
//! - **One file's messages** go into a [`FileSpool`]: per conversation, in file order, in
//!   memory until the spool holds more than its budget; then every conversation's buffer is
//!   sorted by time (stably, so file order holds within a second) and written out as a sorted
//!   run. A run that starts no earlier than the conversation's previous run ends continues it
//!   (an export is almost always in time order already), and one that ends strictly before it
//!   starts goes in front of it (an export written newest first), so a conversation is usually
//!   one run however large. Reading the file's conversation back merges its runs by time, the
//!   earlier run first on equal times: that is a stable sort of the whole conversation. Runs
//!   of one size class are merged [`FAN_IN`] at a time as they accumulate (the last ones, which
//!   are neighbours in file order), so a message is rewritten about log(runs) / log(FAN_IN)
//!   times and a conversation keeps few runs; never more than [`MAX_RUNS`]. Runs are opened one
//!   conversation at a time, so the number of files open at once stays small.
//! - **The merged conversations** live in a [`SpillMerger`]: each as one sorted run in a
//!   temporary file. Adding a file walks the held run and the file's sorted messages side by
//!   side, second by second, and writes the merged run anew; the old run becomes garbage,
//!   which is reclaimed by copying the live runs to a fresh file once it outweighs them.
//!
//! Memory is the spool's budget, a read buffer per run, and the messages of one second on
//! each side of the walk. Temporary files are made in a folder the caller names (the archive's
//! own, so that they land on the disk the user chose and not in a RAM-backed temp folder).
//! They have no name (unlinked at once, or deleted on close): the system removes them when
//! their owner is dropped, and also when the process is killed.
//!
//! Records are a private binary form: they live only as long as the run that wrote them.

use crate::merge::{join_conversation, merge_streams, Entry, MergeStats, SourceFormat};
use qqvault_core::{Attachment, ConversationKey, ConversationMeta, Message, MessageTime, Sha256Digest};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A stream of records read back.
type Entries = Box<dyn Iterator<Item = io::Result<Entry>>>;

/// How many runs of one size class are merged into one.
pub const FAN_IN: usize = 8;
/// Above this many runs of one conversation in one file, they are merged into one whatever
/// their sizes (a bound on the files open at once; the size classes keep far fewer).
pub const MAX_RUNS: usize = 32;
/// The read buffer of one run.
const READ_BUF: usize = 32 << 10;

// ---------------------------------------------------------------------------------------------
// Records

fn put_len(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_len(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.push(1);
            put_str(buf, s);
        }
        None => buf.push(0),
    }
}

fn encode(buf: &mut Vec<u8>, m: &Message, source: SourceFormat) {
    let t = m.time;
    buf.extend_from_slice(&t.year.to_le_bytes());
    buf.extend_from_slice(&[t.month, t.day, t.hour, t.minute, t.second]);
    buf.push(match source {
        SourceFormat::Txt => 0,
        SourceFormat::Mht => 1,
        SourceFormat::Qce => 2,
    });
    buf.push(u8::from(m.system));
    put_str(buf, &m.sender);
    put_opt_str(buf, m.sender_id.as_deref());
    put_str(buf, &m.text);
    put_len(buf, m.attachments.len() as u64);
    for a in &m.attachments {
        put_str(buf, &a.name);
        match &a.sha256 {
            Some(d) => {
                buf.push(1);
                buf.extend_from_slice(&d.0);
            }
            None => buf.push(0),
        }
        put_opt_str(buf, a.entry.as_deref());
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "a temporary merge file reads back wrong ({what}): the disk or the file system may be failing"
        ),
    )
}

fn get_u8(r: &mut impl BufRead) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn get_len(r: &mut impl BufRead) -> io::Result<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = get_u8(r)?;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(corrupt("length"))
}

fn get_str(r: &mut impl BufRead) -> io::Result<String> {
    let len = get_len(r)?;
    if len > (1 << 32) {
        return Err(corrupt("string length"));
    }
    let len = len as usize;
    // Most strings lie whole in the reader's buffer: copied from there, without zeroing first.
    let buffered = r.fill_buf()?;
    let bytes = if buffered.len() >= len {
        let bytes = buffered[..len].to_vec();
        r.consume(len);
        bytes
    } else {
        let mut bytes = vec![0u8; len];
        r.read_exact(&mut bytes)?;
        bytes
    };
    // The temporary file is read back as any file: its text is checked, with the fast checker.
    if simdutf8::basic::from_utf8(&bytes).is_err() {
        return Err(corrupt("text"));
    }
    // SAFETY: `bytes` was found to be valid UTF-8 just above.
    Ok(unsafe { String::from_utf8_unchecked(bytes) })
}

fn get_opt_str(r: &mut impl BufRead) -> io::Result<Option<String>> {
    match get_u8(r)? {
        0 => Ok(None),
        1 => get_str(r).map(Some),
        _ => Err(corrupt("option tag")),
    }
}

fn decode(r: &mut impl BufRead) -> io::Result<Entry> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head)?;
    let time = MessageTime {
        year: u16::from_le_bytes([head[0], head[1]]),
        month: head[2],
        day: head[3],
        hour: head[4],
        minute: head[5],
        second: head[6],
    };
    let source = match head[7] {
        0 => SourceFormat::Txt,
        1 => SourceFormat::Mht,
        2 => SourceFormat::Qce,
        _ => return Err(corrupt("source tag")),
    };
    let system = head[8] != 0;
    let sender = get_str(r)?;
    let sender_id = get_opt_str(r)?;
    let text = get_str(r)?;
    let n = get_len(r)?;
    let mut attachments = Vec::with_capacity(n.min(64) as usize);
    for _ in 0..n {
        let name = get_str(r)?;
        let sha256 = match get_u8(r)? {
            0 => None,
            1 => {
                let mut d = [0u8; 32];
                r.read_exact(&mut d)?;
                Some(Sha256Digest(d))
            }
            _ => return Err(corrupt("hash tag")),
        };
        let entry = get_opt_str(r)?;
        attachments.push(Attachment { name, sha256, entry });
    }
    Ok(Entry {
        message: Message {
            time,
            sender,
            sender_id,
            text,
            system,
            attachments,
        },
        source,
    })
}

/// About how many bytes of memory a message takes while it waits in a buffer.
fn footprint(m: &Message) -> usize {
    120 + m.sender.len()
        + m.sender_id.as_ref().map_or(0, String::len)
        + m.text.len()
        + m.attachments
            .iter()
            .map(|a| 80 + a.name.len() + a.entry.as_ref().map_or(0, String::len))
            .sum::<usize>()
}

// ---------------------------------------------------------------------------------------------
// Temporary files of runs

/// A stretch of a temporary file holding `count` records.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    offset: u64,
    len: u64,
    count: u64,
}

/// A handle on a temporary file that reads and writes at its own position, whatever other
/// handles on the same file do (positioned I/O where the system has it).
struct PosFile {
    file: File,
    pos: u64,
}

impl PosFile {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, self.pos)
    }
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.file, buf, self.pos)
    }
    #[cfg(not(any(unix, windows)))]
    fn read_at(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).seek(SeekFrom::Start(self.pos))?;
        (&self.file).read(buf)
    }
    #[cfg(unix)]
    fn write_at(&self, buf: &[u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(&self.file, buf, self.pos)
    }
    #[cfg(windows)]
    fn write_at(&self, buf: &[u8]) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_write(&self.file, buf, self.pos)
    }
    #[cfg(not(any(unix, windows)))]
    fn write_at(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).seek(SeekFrom::Start(self.pos))?;
        (&self.file).write(buf)
    }
}

impl Read for PosFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for PosFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.write_at(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for PosFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "only absolute positions",
                ))
            }
        };
        Ok(self.pos)
    }
}

/// An append-only temporary file of records. It has no name: the system removes it when the
/// last handle closes, also when the process is killed, so a run that dies leaves nothing.
struct Arena {
    file: File,
    out: BufWriter<PosFile>,
    len: u64,
    buf: Vec<u8>,
}

impl Arena {
    fn create(dir: &Path) -> io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        let out = BufWriter::with_capacity(
            256 << 10,
            PosFile {
                file: file.try_clone()?,
                pos: 0,
            },
        );
        Ok(Arena {
            file,
            out,
            len: 0,
            buf: Vec::with_capacity(4096),
        })
    }

    /// A handle of its own on the file, at the start.
    fn handle(&self) -> io::Result<PosFile> {
        Ok(PosFile {
            file: self.file.try_clone()?,
            pos: 0,
        })
    }

    /// Starts a segment at the end of the file.
    fn begin(&self) -> Segment {
        Segment {
            offset: self.len,
            len: 0,
            count: 0,
        }
    }

    fn push(&mut self, seg: &mut Segment, m: &Message, source: SourceFormat) -> io::Result<()> {
        self.buf.clear();
        encode(&mut self.buf, m, source);
        self.out.write_all(&self.buf)?;
        self.len += self.buf.len() as u64;
        seg.len += self.buf.len() as u64;
        seg.count += 1;
        Ok(())
    }

    /// Makes what was written readable through [`Arena::read`].
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Reads a run: segments one after the other.
    fn read(&self, segments: Vec<Segment>) -> io::Result<RunReader> {
        Ok(RunReader {
            file: BufReader::with_capacity(READ_BUF, self.handle()?),
            segments: segments
                .into_iter()
                .filter(|s| s.count > 0)
                .collect::<Vec<_>>()
                .into_iter(),
            left: 0,
        })
    }
}

/// Reads the records of a run, segment after segment. Ends after the first error.
struct RunReader {
    file: BufReader<PosFile>,
    segments: std::vec::IntoIter<Segment>,
    left: u64,
}

impl RunReader {
    fn fail(&mut self, e: io::Error) -> Option<io::Result<Entry>> {
        self.left = 0;
        self.segments = Vec::new().into_iter();
        Some(Err(e))
    }
}

impl Iterator for RunReader {
    type Item = io::Result<Entry>;
    fn next(&mut self) -> Option<io::Result<Entry>> {
        while self.left == 0 {
            let seg = self.segments.next()?;
            self.left = seg.count;
            if let Err(e) = self.file.seek(SeekFrom::Start(seg.offset)) {
                return self.fail(e);
            }
        }
        self.left -= 1;
        match decode(&mut self.file) {
            Ok(e) => Some(Ok(e)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.fail(corrupt("cut short")),
            Err(e) => self.fail(e),
        }
    }
}

/// Merges sorted runs by time; on equal times the earlier run comes first, so that runs cut in
/// file order merge into a stable sort.
struct MergeRuns {
    runs: Vec<std::iter::Peekable<Box<dyn Iterator<Item = io::Result<Entry>>>>>,
    heap: BinaryHeap<Reverse<(MessageTime, usize)>>,
    started: bool,
}

impl MergeRuns {
    fn new(runs: Vec<Box<dyn Iterator<Item = io::Result<Entry>>>>) -> Self {
        MergeRuns {
            runs: runs.into_iter().map(Iterator::peekable).collect(),
            heap: BinaryHeap::new(),
            started: false,
        }
    }

    fn offer(&mut self, i: usize) -> Option<io::Result<Entry>> {
        match self.runs[i].peek() {
            Some(Ok(e)) => {
                self.heap.push(Reverse((e.message.time, i)));
                None
            }
            Some(Err(_)) => self.runs[i].next(),
            None => None,
        }
    }
}

impl Iterator for MergeRuns {
    type Item = io::Result<Entry>;
    fn next(&mut self) -> Option<io::Result<Entry>> {
        if !self.started {
            self.started = true;
            for i in 0..self.runs.len() {
                if let Some(err) = self.offer(i) {
                    return Some(err);
                }
            }
        }
        let Reverse((_, i)) = self.heap.pop()?;
        let item = self.runs[i].next();
        if let Some(err) = self.offer(i) {
            return Some(err);
        }
        item
    }
}

// ---------------------------------------------------------------------------------------------
// One file's messages

/// A sorted run of one conversation of one file: segments in order.
#[derive(Default)]
struct Run {
    segments: Vec<Segment>,
    first: Option<MessageTime>,
    last: Option<MessageTime>,
    /// How many merges made it (its size class).
    level: u32,
}

struct SpoolConversation {
    meta: ConversationMeta,
    buffer: Vec<Message>,
    runs: Vec<Run>,
    count: u64,
}

/// One export file's messages, by conversation, in file order: see the module docs.
pub struct FileSpool {
    dir: PathBuf,
    budget: usize,
    conversations: Vec<SpoolConversation>,
    index: HashMap<ConversationKey, usize>,
    current: Option<usize>,
    buffered: usize,
    arena: Option<Arena>,
    error: Option<io::Error>,
}

impl FileSpool {
    /// A spool that keeps up to about `budget` bytes of messages in memory and writes the rest
    /// to temporary files in `dir`.
    pub fn new(dir: &Path, budget: usize) -> Self {
        FileSpool {
            dir: dir.to_path_buf(),
            budget,
            conversations: Vec::new(),
            index: HashMap::new(),
            current: None,
            buffered: 0,
            arena: None,
            error: None,
        }
    }

    /// A conversation starts, or starts again (blocks of one conversation are joined in order).
    pub fn conversation(&mut self, meta: ConversationMeta) {
        let at = join_conversation(
            &mut self.index,
            &mut self.conversations,
            meta,
            |c| &mut c.meta,
            |meta| SpoolConversation {
                meta,
                buffer: Vec::new(),
                runs: Vec::new(),
                count: 0,
            },
        );
        self.current = Some(at);
    }

    /// Whether a conversation has started.
    pub fn has_conversation(&self) -> bool {
        self.current.is_some()
    }

    /// A message of the current conversation. Does nothing before the first conversation
    /// (check [`FileSpool::has_conversation`]) or after a write failed (see
    /// [`FileSpool::take_error`]).
    pub fn push(&mut self, message: Message) {
        let Some(at) = self.current else { return };
        if self.error.is_some() {
            return;
        }
        self.buffered += footprint(&message);
        let c = &mut self.conversations[at];
        c.buffer.push(message);
        c.count += 1;
        if self.buffered > self.budget {
            if let Err(e) = self.spill() {
                self.error = Some(e);
            }
        }
    }

    /// Writes out what is still held in memory, so that a spool parsed ahead of its turn holds
    /// next to no memory while it waits to be merged. A failure is kept for
    /// [`FileSpool::take_error`].
    pub fn spill_held(&mut self) {
        if self.buffered > 0 && self.error.is_none() {
            if let Err(e) = self.spill() {
                self.error = Some(e);
            }
        }
    }

    /// The first error writing a temporary file, if any: the messages after it were lost.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The conversations of the file, in order of first appearance, and their message counts.
    pub fn conversations(&self) -> impl Iterator<Item = (&ConversationMeta, u64)> {
        self.conversations.iter().map(|c| (&c.meta, c.count))
    }

    /// Messages held.
    pub fn messages(&self) -> u64 {
        self.conversations.iter().map(|c| c.count).sum()
    }

    /// Writes every buffer out as a sorted run.
    fn spill(&mut self) -> io::Result<()> {
        if self.arena.is_none() {
            self.arena = Some(Arena::create(&self.dir)?);
        }
        let Some(arena) = self.arena.as_mut() else {
            return Ok(());
        };
        for c in &mut self.conversations {
            if c.buffer.is_empty() {
                continue;
            }
            // Stable: file order holds within a second.
            if c.buffer.windows(2).any(|w| w[1].time < w[0].time) {
                c.buffer.sort_by_key(|m| m.time);
            }
            let first = c.buffer[0].time;
            let last = c.buffer[c.buffer.len() - 1].time;
            let mut seg = arena.begin();
            for m in c.buffer.drain(..) {
                // The source is set when the file is added; any value does here.
                arena.push(&mut seg, &m, SourceFormat::Txt)?;
            }
            match c.runs.last_mut() {
                // A run that goes on in time order continues the one before.
                Some(run) if run.last.is_some_and(|l| l <= first) => {
                    run.segments.push(seg);
                    run.last = Some(last);
                }
                // One wholly earlier (a newest-first export) goes in front of it: on equal times
                // it would have to follow, so only strictly earlier.
                Some(run) if run.first.is_some_and(|f| last < f) => {
                    run.segments.insert(0, seg);
                    run.first = Some(first);
                }
                _ => c.runs.push(Run {
                    segments: vec![seg],
                    first: Some(first),
                    last: Some(last),
                    level: 0,
                }),
            }
            c.buffer.shrink_to(1024);
        }
        arena.flush()?;
        // Runs of the same size class are merged FAN_IN at a time (the last ones, which are
        // neighbours in file order, so the merge stays stable): each message is rewritten
        // about log(runs) / log(FAN_IN) times, and a conversation keeps few runs.
        for c in &mut self.conversations {
            loop {
                let n = c.runs.len();
                let tail_level = c.runs.last().map(|r| r.level);
                let same = c
                    .runs
                    .iter()
                    .rev()
                    .take_while(|r| Some(r.level) == tail_level)
                    .count();
                if same < FAN_IN && n <= MAX_RUNS {
                    break;
                }
                let take = if same >= FAN_IN { FAN_IN } else { n };
                let merged = c.runs.split_off(n - take);
                let level = merged.iter().map(|r| r.level).max().unwrap_or(0) + 1;
                let mut readers: Vec<Entries> = Vec::new();
                for run in merged {
                    readers.push(Box::new(arena.read(run.segments)?));
                }
                let mut seg = arena.begin();
                let (mut first, mut last) = (None, None);
                for e in MergeRuns::new(readers) {
                    let e = e?;
                    first.get_or_insert(e.message.time);
                    last = Some(e.message.time);
                    arena.push(&mut seg, &e.message, e.source)?;
                }
                arena.flush()?;
                c.runs.push(Run {
                    segments: vec![seg],
                    first,
                    last,
                    level,
                });
            }
        }
        self.buffered = 0;
        Ok(())
    }

    /// Hands over the conversations and the temporary file their runs lie in, which must
    /// outlive the readers of [`SpoolConversation::sorted`].
    fn finish(mut self) -> io::Result<(Vec<SpoolConversation>, Option<Arena>)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(a) = self.arena.as_mut() {
            a.flush()?;
        }
        Ok((self.conversations, self.arena))
    }
}

impl SpoolConversation {
    /// The conversation's messages sorted by time (stably). Its runs are opened here, one
    /// conversation at a time, so that a file of thousands of conversations never has more
    /// than [`MAX_RUNS`] + 1 runs open.
    fn sorted(mut self, arena: Option<&Arena>) -> io::Result<(ConversationMeta, Entries)> {
        self.buffer.sort_by_key(|m| m.time);
        let mut runs: Vec<Entries> = Vec::new();
        for run in self.runs {
            match arena {
                Some(a) => runs.push(Box::new(a.read(run.segments)?)),
                None => return Err(corrupt("a run without its file")),
            }
        }
        let buffered = self.buffer.into_iter().map(|message| {
            Ok(Entry {
                message,
                source: SourceFormat::Txt,
            })
        });
        let sorted: Box<dyn Iterator<Item = io::Result<Entry>>> = if runs.is_empty() {
            Box::new(buffered)
        } else {
            runs.push(Box::new(buffered));
            Box::new(MergeRuns::new(runs))
        };
        Ok((self.meta, sorted))
    }
}

// ---------------------------------------------------------------------------------------------
// The merged conversations

/// A merged conversation: what it is, how many messages it holds and their span.
#[derive(Clone, Debug)]
pub struct MergedConversation {
    pub meta: ConversationMeta,
    pub messages: u64,
    pub first: Option<MessageTime>,
    pub last: Option<MessageTime>,
    run: Segment,
}

/// Merges the conversations of several export files with the rules of [`crate::merge`],
/// holding them in temporary files: see the module docs.
pub struct SpillMerger {
    dir: PathBuf,
    budget: usize,
    arena: Option<Arena>,
    conversations: Vec<MergedConversation>,
    index: HashMap<ConversationKey, usize>,
    stats: MergeStats,
    garbage: u64,
}

/// Moves the first error out of a fallible stream into `slot`, ending the stream there.
fn sticky<'a, T: 'a>(
    it: impl Iterator<Item = io::Result<T>> + 'a,
    slot: &'a mut Option<io::Error>,
) -> impl Iterator<Item = T> + 'a {
    it.map_while(move |r| match r {
        Ok(v) => Some(v),
        Err(e) => {
            *slot = Some(e);
            None
        }
    })
}

impl SpillMerger {
    /// A merger whose temporary files go in `dir`; each file's spool gets `budget` bytes.
    pub fn new(dir: &Path, budget: usize) -> Self {
        SpillMerger {
            dir: dir.to_path_buf(),
            budget,
            arena: None,
            conversations: Vec::new(),
            index: HashMap::new(),
            stats: MergeStats::default(),
            garbage: 0,
        }
    }

    /// A spool for the next file, with this merger's folder and budget.
    pub fn spool(&self) -> FileSpool {
        FileSpool::new(&self.dir, self.budget)
    }

    /// Adds one file's messages. `each` sees every message of the file once, before it is
    /// merged (to resolve attachments, to count).
    pub fn add_file(
        &mut self,
        source: SourceFormat,
        spool: FileSpool,
        each: &mut dyn FnMut(&mut Message),
    ) -> io::Result<()> {
        if self.arena.is_none() {
            self.arena = Some(Arena::create(&self.dir)?);
        }
        self.stats.files += 1;
        let (conversations, spool_arena) = spool.finish()?;
        for c in conversations {
            let (meta, sorted) = c.sorted(spool_arena.as_ref())?;
            let at = join_conversation(
                &mut self.index,
                &mut self.conversations,
                meta,
                |c| &mut c.meta,
                |meta| MergedConversation {
                    meta,
                    messages: 0,
                    first: None,
                    last: None,
                    run: Segment::default(),
                },
            );
            let Some(arena) = self.arena.as_mut() else {
                return Err(corrupt("no merge file"));
            };
            let old = self.conversations[at].run;
            let held = arena.read(vec![old])?;
            let mut held_err = None;
            let mut in_err = None;
            let mut out_err: Option<io::Error> = None;
            let mut seg = arena.begin();
            let (mut first, mut last) = (None, None);
            let mut messages_in = 0u64;
            merge_streams(
                sticky(held, &mut held_err),
                sticky(sorted, &mut in_err).map(|e| {
                    let mut m = e.message;
                    messages_in += 1;
                    each(&mut m);
                    m
                }),
                source,
                &mut self.stats,
                &mut |e: Entry| {
                    if out_err.is_some() {
                        return;
                    }
                    first.get_or_insert(e.message.time);
                    last = Some(e.message.time);
                    if let Err(err) = arena.push(&mut seg, &e.message, e.source) {
                        out_err = Some(err);
                    }
                },
            );
            if let Some(e) = held_err.or(in_err).or(out_err) {
                return Err(e);
            }
            arena.flush()?;
            self.stats.messages_in += messages_in;
            self.garbage += old.len;
            let c = &mut self.conversations[at];
            c.run = seg;
            c.messages = seg.count;
            c.first = first;
            c.last = last;
        }
        drop(spool_arena);
        self.compact()?;
        Ok(())
    }

    /// Copies the live runs to a fresh file once the garbage outweighs them.
    fn compact(&mut self) -> io::Result<()> {
        let live: u64 = self.conversations.iter().map(|c| c.run.len).sum();
        if self.garbage < (64 << 20).max(live) {
            return Ok(());
        }
        let Some(old) = self.arena.take() else {
            return Ok(());
        };
        let mut fresh = Arena::create(&self.dir)?;
        let mut src = old.handle()?;
        for c in &mut self.conversations {
            src.seek(SeekFrom::Start(c.run.offset))?;
            let copied = io::copy(&mut (&mut src).take(c.run.len), &mut fresh.out)?;
            if copied != c.run.len {
                return Err(corrupt("cut short"));
            }
            c.run.offset = fresh.len;
            fresh.len += copied;
        }
        fresh.flush()?;
        self.arena = Some(fresh);
        self.garbage = 0;
        Ok(())
    }

    /// The merged conversations, in order of first appearance.
    pub fn conversations(&self) -> &[MergedConversation] {
        &self.conversations
    }

    /// The messages of conversation `i`, sorted by time.
    pub fn messages(&self, i: usize) -> io::Result<impl Iterator<Item = io::Result<Message>>> {
        let run = self.conversations.get(i).map(|c| c.run).unwrap_or_default();
        let reader = match &self.arena {
            Some(a) => Some(a.read(vec![run])?),
            None => None,
        };
        Ok(reader.into_iter().flatten().map(|r| r.map(|e| e.message)))
    }

    /// What the merge did so far.
    pub fn stats(&self) -> MergeStats {
        let mut stats = self.stats.clone();
        stats.conversations = self.conversations.len() as u64;
        stats.messages_out = self.conversations.iter().map(|c| c.messages).sum();
        stats
    }
}
