//! Merging the same conversation read from several exports into one.
//!
//! A user backs up the same chat more than once: a TXT and an MHT export of the same days, an
//! old and a newer "all messages" export that overlap. Each message must come out once, yet a
//! message really sent twice (the same words in the same second) must stay twice.
//!
//! # Rules
//!
//! - **Conversations** are the same when their [`ConversationKey`]s are equal. The merged
//!   [`ConversationMeta`] keeps the first non-empty name, the first non-empty group, and the
//!   first kind other than [`ChatKind::Unknown`].
//! - **Messages** are the same when time, sender, sender id and text are all equal.
//! - **Copies.** Within one export file every copy counts (the blocks of one conversation that
//!   an export repeats included). Across files the merged conversation holds, of each message,
//!   the largest number of copies any single file holds: two files holding it once give one,
//!   a file holding it twice gives two.
//! - **Attachments** of the copies that are merged are united by name (ASCII case ignored, as
//!   MHT names are `{GUID}.dat` in varying case); a hash or archive entry known on either copy
//!   is kept.
//! - **TXT against MHT.** The two render the same message differently: TXT writes emoticons
//!   as `[表情]` or by name (`[阴险]`), MHT writes every picture, emoticons included, as
//!   `[图片]`. So a TXT message and an MHT message that are not the same by the rule above are
//!   still matched when time, sender and sender id are equal and their texts are equal once
//!   placeholders are removed and white space is ignored. A **placeholder** is `[`, one to six
//!   CJK ideographs (U+4E00–U+9FFF, U+3400–U+4DBF), `]`: `[图片]`, `[表情]`, `[阴险]`,
//!   `[动作消息]`; `[表情32]`, `[/可怜]` or `[ok]` are text. **White space** is every char
//!   with the Unicode `White_Space` property (so U+00A0 and U+3000 too). The MHT version is
//!   kept (with both copies' attachments) and the match is counted in
//!   [`MergeStats::placeholder_matches`]. Such matching is only tried between messages left
//!   over by exact matching, and only between a TXT and an MHT copy.
//! - **Order.** Output is sorted by time. Messages of the same second keep export order: the
//!   first file's order, with a later file's new messages placed after the message (of that
//!   file) that precedes them within the second, or before the one that follows them, or
//!   after all others when nothing of that second matched.
//!
//! # Algorithm and memory
//!
//! Each conversation is held as a list of entries sorted by time. Adding a file sorts each of
//! its conversations by time (a stable sort, so export order stays within a second) and walks
//! it against the held list second by second, like the merge step of merge sort. Within one
//! second, copies of the new file are paired with held entries greedily in order: first exact
//! matches (the k-th copy of a message in the file pairs with its k-th held copy, which is what
//! gives "largest count of any one file"), then TXT/MHT placeholder matches. Unpaired copies are
//! new messages. Seconds are small, so pairing scans linearly; a second holding many messages
//! pairs through a hash map instead. Adding a file thus costs O(m log m) to sort its m
//! messages plus O(h + m) for the walk over the h messages held for its conversations.
//!
//! Memory is every distinct message of every conversation added (their text, names and
//! attachments, about 150 bytes each besides the text), plus, while a file is added, the one
//! conversation being merged twice over (old and new list). The caller owns the messages it
//! passes; nothing is cloned except attachment lists on placeholder matches.

use qqvault_core::{Attachment, ChatKind, ConversationKey, ConversationMeta, Message, MessageTime};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The kind of export a file was, which decides which copies may be matched by placeholders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// Message Manager TXT.
    Txt,
    /// Message Manager MHT.
    Mht,
    /// qq-chat-exporter (any of its outputs).
    Qce,
}

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Files added.
    pub files: u64,
    /// Conversations in the result.
    pub conversations: u64,
    /// Messages passed in.
    pub messages_in: u64,
    /// Messages in the result: `messages_in - duplicates_dropped - placeholder_matches`.
    pub messages_out: u64,
    /// Copies dropped because an earlier file held the same message (exact match).
    pub duplicates_dropped: u64,
    /// TXT/MHT copies matched with placeholders set aside (one of the two dropped).
    pub placeholder_matches: u64,
}

/// The merged conversations, in order of first appearance, each sorted by time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeResult {
    pub conversations: Vec<(ConversationMeta, Vec<Message>)>,
    pub stats: MergeStats,
}

/// A held message and the kind of export its kept version came from.
pub(crate) struct Entry {
    pub(crate) message: Message,
    pub(crate) source: SourceFormat,
}

struct Conversation {
    meta: ConversationMeta,
    /// Sorted by time; within a second, in merged export order.
    entries: Vec<Entry>,
}

/// Collects the conversations of several export files and merges them; see the module docs.
#[derive(Default)]
pub struct Merger {
    conversations: Vec<Conversation>,
    index: HashMap<ConversationKey, usize>,
    stats: MergeStats,
}

impl Merger {
    pub fn new() -> Self {
        Merger::default()
    }

    /// Adds the conversations of one export file, with their messages in file order. Blocks of
    /// the same conversation may come as separate items: they are joined in order first (copies
    /// within one file all count).
    pub fn add_file(&mut self, source: SourceFormat, conversations: Vec<(ConversationMeta, Vec<Message>)>) {
        self.stats.files += 1;
        let mut in_file: Vec<(ConversationMeta, Vec<Message>)> = Vec::new();
        let mut file_index: HashMap<ConversationKey, usize> = HashMap::new();
        for (meta, messages) in conversations {
            self.stats.messages_in += messages.len() as u64;
            match file_index.get(&meta.key) {
                Some(&at) => {
                    let (held_meta, held) = &mut in_file[at];
                    merge_meta(held_meta, meta);
                    held.extend(messages);
                }
                None => {
                    file_index.insert(meta.key.clone(), in_file.len());
                    in_file.push((meta, messages));
                }
            }
        }
        for (meta, messages) in in_file {
            let at = join_conversation(
                &mut self.index,
                &mut self.conversations,
                meta,
                |c| &mut c.meta,
                |meta| Conversation {
                    meta,
                    entries: Vec::new(),
                },
            );
            let conversation = &mut self.conversations[at];
            let held = std::mem::take(&mut conversation.entries);
            conversation.entries = merge_sorted(held, messages, source, &mut self.stats);
        }
    }

    /// The merged conversations.
    pub fn finish(self) -> MergeResult {
        let mut stats = self.stats;
        let conversations: Vec<(ConversationMeta, Vec<Message>)> = self
            .conversations
            .into_iter()
            .map(|c| (c.meta, c.entries.into_iter().map(|e| e.message).collect()))
            .collect();
        stats.conversations = conversations.len() as u64;
        stats.messages_out = conversations.iter().map(|(_, m)| m.len() as u64).sum();
        MergeResult { conversations, stats }
    }
}

/// The place of the conversation `meta` names among `items`: an existing one has its meta
/// completed from `meta`, a new one is made by `make` and appended.
pub(crate) fn join_conversation<T>(
    index: &mut HashMap<ConversationKey, usize>,
    items: &mut Vec<T>,
    meta: ConversationMeta,
    meta_of: impl Fn(&mut T) -> &mut ConversationMeta,
    make: impl FnOnce(ConversationMeta) -> T,
) -> usize {
    match index.get(&meta.key) {
        Some(&at) => {
            merge_meta(meta_of(&mut items[at]), meta);
            at
        }
        None => {
            index.insert(meta.key.clone(), items.len());
            items.push(make(meta));
            items.len() - 1
        }
    }
}

/// Fills what `held` lacks from `other`: name, group, a known kind.
pub(crate) fn merge_meta(held: &mut ConversationMeta, other: ConversationMeta) {
    if held.name.is_empty() && !other.name.is_empty() {
        held.name = other.name;
    }
    if held.group.as_deref().is_none_or(str::is_empty)
        && other.group.as_deref().is_some_and(|g| !g.is_empty())
    {
        held.group = other.group;
    }
    if held.kind == ChatKind::Unknown {
        held.kind = other.kind;
    }
}

/// Merges one file's messages of a conversation into the held, sorted entries.
fn merge_sorted(
    held: Vec<Entry>,
    mut incoming: Vec<Message>,
    source: SourceFormat,
    stats: &mut MergeStats,
) -> Vec<Entry> {
    // Stable: messages of the same second keep file order.
    incoming.sort_by_key(|m| m.time);
    let mut out = Vec::with_capacity(held.len() + incoming.len());
    merge_streams(held.into_iter(), incoming.into_iter(), source, stats, &mut |e| {
        out.push(e)
    });
    out
}

/// The walk of the merge over two streams: `held`, sorted by time in merged order, and
/// `incoming`, one file's messages of the conversation sorted by time (stably, so that file
/// order holds within a second). Hands the merged entries to `out` in order, holding no more
/// than one second of each stream.
pub(crate) fn merge_streams(
    held: impl Iterator<Item = Entry>,
    incoming: impl Iterator<Item = Message>,
    source: SourceFormat,
    stats: &mut MergeStats,
    out: &mut dyn FnMut(Entry),
) {
    let mut held = held.peekable();
    let mut incoming = incoming.peekable();
    let mut old_bucket: Vec<Entry> = Vec::new();
    let mut new_bucket: Vec<Message> = Vec::new();
    let mut merged: Vec<Entry> = Vec::new();
    loop {
        let second: MessageTime = match (held.peek(), incoming.peek()) {
            (None, None) => break,
            (Some(_), None) => {
                held.for_each(&mut *out);
                break;
            }
            (None, Some(_)) => {
                incoming.for_each(|message| out(Entry { message, source }));
                break;
            }
            (Some(e), Some(m)) => e.message.time.min(m.time),
        };
        while let Some(entry) = held.next_if(|e| e.message.time == second) {
            old_bucket.push(entry);
        }
        while let Some(message) = incoming.next_if(|m| m.time == second) {
            new_bucket.push(message);
        }
        if old_bucket.is_empty() {
            new_bucket
                .drain(..)
                .for_each(|message| out(Entry { message, source }));
        } else if new_bucket.is_empty() {
            old_bucket.drain(..).for_each(&mut *out);
        } else {
            merge_second(&mut old_bucket, &mut new_bucket, source, stats, &mut merged);
            merged.drain(..).for_each(&mut *out);
        }
    }
}

/// Whether a copy from `a` may be matched with one from `b` by placeholders.
fn placeholder_pair(a: SourceFormat, b: SourceFormat) -> bool {
    matches!(
        (a, b),
        (SourceFormat::Txt, SourceFormat::Mht) | (SourceFormat::Mht, SourceFormat::Txt)
    )
}

/// Merges the held entries and the new copies of one second, appending to `out`.
fn merge_second(
    old: &mut Vec<Entry>,
    new: &mut Vec<Message>,
    source: SourceFormat,
    stats: &mut MergeStats,
    out: &mut Vec<Entry>,
) {
    let mut old_taken = vec![false; old.len()];
    let mut matched: Vec<Option<(usize, bool)>> = vec![None; new.len()];
    {
        let old_keys: Vec<_> = old.iter().map(|e| Some(exact(&e.message))).collect();
        let new_keys: Vec<_> = new.iter().map(|m| Some(exact(m))).collect();
        pair_greedily(&old_keys, &new_keys, &mut old_taken, &mut matched, false);
    }
    if matched.iter().any(Option::is_none) && old.iter().any(|e| placeholder_pair(e.source, source)) {
        let old_keys: Vec<_> = old
            .iter()
            .zip(&old_taken)
            .map(|(e, &taken)| (!taken && placeholder_pair(e.source, source)).then(|| loose(&e.message)))
            .collect();
        let new_keys: Vec<_> = new
            .iter()
            .zip(&matched)
            .map(|(m, found)| found.is_none().then(|| loose(m)))
            .collect();
        pair_greedily(&old_keys, &new_keys, &mut old_taken, &mut matched, true);
    }

    // Fold the paired copies into the held entries.
    let mut new_slots: Vec<Option<Message>> = new.drain(..).map(Some).collect();
    for (slot, found) in new_slots.iter_mut().zip(&matched) {
        let Some((at, by_placeholders)) = *found else {
            continue;
        };
        let Some(copy) = slot.take() else { continue };
        let entry = &mut old[at];
        if by_placeholders {
            stats.placeholder_matches += 1;
            if source == SourceFormat::Mht && entry.source != SourceFormat::Mht {
                let replaced = std::mem::replace(&mut entry.message, copy);
                unite_attachments(&mut entry.message.attachments, replaced.attachments);
                entry.source = SourceFormat::Mht;
                continue;
            }
        } else {
            stats.duplicates_dropped += 1;
        }
        unite_attachments(&mut entry.message.attachments, copy.attachments);
    }

    // Place the new messages: after the held entry their predecessor in the file matched, else
    // before the one their first matched successor matched, else after everything.
    let first_match = matched.iter().find_map(|m| m.map(|(at, _)| at));
    let mut anchor: Option<usize> = None;
    let mut placed: Vec<((usize, usize), Entry)> = Vec::with_capacity(old.len() + new_slots.len());
    for (order, (slot, found)) in new_slots.into_iter().zip(&matched).enumerate() {
        if let Some((at, _)) = found {
            anchor = Some(*at);
            continue;
        }
        let Some(message) = slot else { continue };
        let position = match (anchor, first_match) {
            (Some(at), _) => 3 * at + 2,
            (None, Some(at)) => 3 * at,
            (None, None) => 3 * old.len(),
        };
        placed.push(((position, order), Entry { message, source }));
    }
    placed.extend(
        old.drain(..)
            .enumerate()
            .map(|(at, entry)| ((3 * at + 1, 0), entry)),
    );
    placed.sort_by_key(|(key, _)| *key);
    out.extend(placed.into_iter().map(|(_, entry)| entry));
}

/// The identity of a message for exact matching.
fn exact(m: &Message) -> (&str, Option<&str>, &str) {
    (m.sender.as_str(), m.sender_id.as_deref(), m.text.as_str())
}

/// The identity of a message for TXT/MHT matching: placeholders and white space set aside.
fn loose(m: &Message) -> (&str, Option<&str>, String) {
    (
        m.sender.as_str(),
        m.sender_id.as_deref(),
        without_placeholders(&m.text),
    )
}

/// Pairs each new copy (in order) with the first untaken held entry of equal key; `None` keys
/// take no part. Linear for small seconds, through a map for large ones.
fn pair_greedily<K: Hash + Eq>(
    old_keys: &[Option<K>],
    new_keys: &[Option<K>],
    old_taken: &mut [bool],
    matched: &mut [Option<(usize, bool)>],
    by_placeholders: bool,
) {
    if old_keys.len().saturating_mul(new_keys.len()) <= 256 {
        for (found, key) in matched.iter_mut().zip(new_keys) {
            let Some(key) = key else { continue };
            if found.is_some() {
                continue;
            }
            let hit = old_keys
                .iter()
                .zip(old_taken.iter())
                .position(|(old, &taken)| !taken && old.as_ref() == Some(key));
            if let Some(at) = hit {
                old_taken[at] = true;
                *found = Some((at, by_placeholders));
            }
        }
        return;
    }
    let mut by_key: HashMap<&K, VecDeque<usize>> = HashMap::new();
    for (at, key) in old_keys.iter().enumerate() {
        if let (Some(key), false) = (key, old_taken[at]) {
            by_key.entry(key).or_default().push_back(at);
        }
    }
    for (found, key) in matched.iter_mut().zip(new_keys) {
        let Some(key) = key else { continue };
        if found.is_some() {
            continue;
        }
        if let Some(at) = by_key.get_mut(key).and_then(VecDeque::pop_front) {
            old_taken[at] = true;
            *found = Some((at, by_placeholders));
        }
    }
}

/// Adds `other`'s attachments to `held` by name (ASCII case ignored), filling in a hash or
/// entry that `held` lacks.
fn unite_attachments(held: &mut Vec<Attachment>, other: Vec<Attachment>) {
    for attachment in other {
        match held
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(&attachment.name))
        {
            Some(existing) => {
                if existing.sha256.is_none() {
                    existing.sha256 = attachment.sha256;
                }
                if existing.entry.is_none() {
                    existing.entry = attachment.entry;
                }
            }
            None => held.push(attachment),
        }
    }
}

/// Whether `c` is a CJK ideograph (the unified block and extension A).
fn is_ideograph(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// The text with every placeholder (`[` + 1–6 CJK ideographs + `]`) and all white space
/// removed: what a TXT and an MHT rendering of one message have in common.
pub fn without_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.extend(rest[..open].chars().filter(|c| !c.is_whitespace()));
        let after = &rest[open + 1..];
        let name_len: usize = after
            .chars()
            .take_while(|&c| is_ideograph(c))
            .take(7)
            .map(char::len_utf8)
            .sum();
        let name_chars = after[..name_len].chars().count();
        if (1..=6).contains(&name_chars) && after[name_len..].starts_with(']') {
            rest = &after[name_len + 1..];
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.extend(rest.chars().filter(|c| !c.is_whitespace()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(without_placeholders("[图片]止目前 还没有"), "止目前还没有");
        assert_eq!(without_placeholders("a[表情][阴险] b\n"), "ab");
        assert_eq!(without_placeholders("[动作消息]"), "");
        assert_eq!(
            without_placeholders("[表情32][/可怜][ok][]"),
            "[表情32][/可怜][ok][]"
        );
        assert_eq!(without_placeholders("[一二三四五六七]"), "[一二三四五六七]");
        assert_eq!(without_placeholders("[一二三四五六]"), "");
        assert_eq!(without_placeholders("[[图片]"), "[");
        assert_eq!(without_placeholders("x\u{a0}y\u{3000}z"), "xyz");
    }
}
