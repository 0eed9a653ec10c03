//! The shape of the index: its tantivy fields, the encoding of times, and the version file that
//! tells a reader whether it can use an index at all.

use crate::fold::FoldOptions;
use crate::tokenizer::{GRAM_TOKENIZER, TOKENIZER_VERSION};
use qqvault_core::MessageTime;
use serde::{Deserialize, Serialize};
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions};

/// Version of the fields and their meaning; bumped whenever an older reader could misread a
/// newer index (or the other way round).
///
/// 2: every segment holds its documents newest first (sorted by the time column), which a
/// search relies on to stop early. 1 had them in the order they were added.
pub const SCHEMA_VERSION: u32 = 2;

/// Name of the version file every index directory holds next to tantivy's files.
pub const INFO_FILE: &str = "qqvault-index.json";

/// The `format` value of the version file.
const FORMAT: &str = "qqvault-index";

/// The fields of the index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    /// The message text as given, stored (lz4 blocks) when the index is built with
    /// `store_text`, for verification; not indexed itself.
    pub text: Option<Field>,
    /// Bigrams and the last character of the folded text, with positions.
    pub grams: Field,
    /// The chat id: a fast column (dictionary-encoded), for the chat filter and the hit.
    pub chat: Field,
    /// Folded sender name and folded sender id: fast columns, for the sender filter.
    pub sender_name: Field,
    pub sender_id: Field,
    /// [`encode_time`] of the message time: fast column.
    pub time: Field,
    /// Message ordinal within its chat: fast column.
    pub seq: Field,
}

pub(crate) const F_TEXT: &str = "text";
pub(crate) const F_GRAMS: &str = "grams";
pub(crate) const F_CHAT: &str = "chat";
pub(crate) const F_SENDER_NAME: &str = "sender_name";
pub(crate) const F_SENDER_ID: &str = "sender_id";
pub(crate) const F_TIME: &str = "time";
pub(crate) const F_SEQ: &str = "seq";

/// Builds the schema.
pub(crate) fn build_schema(store_text: bool) -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = store_text.then(|| b.add_text_field(F_TEXT, TextOptions::default().set_stored()));
    let grams = b.add_text_field(
        F_GRAMS,
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(GRAM_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(true),
        ),
    );
    let chat = b.add_text_field(F_CHAT, TextOptions::default().set_fast("raw"));
    let sender_name = b.add_text_field(F_SENDER_NAME, TextOptions::default().set_fast("raw"));
    let sender_id = b.add_text_field(F_SENDER_ID, TextOptions::default().set_fast("raw"));
    let time = b.add_u64_field(F_TIME, NumericOptions::default().set_fast());
    let seq = b.add_u64_field(F_SEQ, NumericOptions::default().set_fast());
    let fields = Fields {
        text,
        grams,
        chat,
        sender_name,
        sender_id,
        time,
        seq,
    };
    (b.build(), fields)
}

/// Whether every segment of the index holds its documents newest first (schema 2).
pub(crate) fn newest_first(index: &tantivy::Index) -> bool {
    index
        .settings()
        .sort_by_field
        .as_ref()
        .is_some_and(|s| s.field == F_TIME && s.order == tantivy::Order::Desc)
}

/// Looks the fields up in the schema of an opened index.
pub(crate) fn fields_of(schema: &Schema) -> Option<Fields> {
    Some(Fields {
        text: schema.get_field(F_TEXT).ok(),
        grams: schema.get_field(F_GRAMS).ok()?,
        chat: schema.get_field(F_CHAT).ok()?,
        sender_name: schema.get_field(F_SENDER_NAME).ok()?,
        sender_id: schema.get_field(F_SENDER_ID).ok()?,
        time: schema.get_field(F_TIME).ok()?,
        seq: schema.get_field(F_SEQ).ok()?,
    })
}

/// Encodes a time as a number that orders like the time (mixed radix over its fields, so it is
/// also exactly reversible, leap second included). Nearly linear in real time, which the fast
/// column codecs compress well.
pub(crate) fn encode_time(t: MessageTime) -> u64 {
    // Radixes 13 and 32 keep month 0 and day 0 (the all-zero default time) reversible too.
    let months = u64::from(t.year) * 13 + u64::from(t.month);
    let days = months * 32 + u64::from(t.day);
    let hours = days * 24 + u64::from(t.hour);
    let minutes = hours * 60 + u64::from(t.minute);
    minutes * 61 + u64::from(t.second)
}

/// Reverses [`encode_time`].
pub(crate) fn decode_time(code: u64) -> MessageTime {
    let second = (code % 61) as u8;
    let minutes = code / 61;
    let minute = (minutes % 60) as u8;
    let hours = minutes / 60;
    let hour = (hours % 24) as u8;
    let days = hours / 24;
    let day = (days % 32) as u8;
    let months = days / 32;
    let month = (months % 13) as u8;
    let year = u16::try_from(months / 13).unwrap_or(u16::MAX);
    MessageTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
    }
}

/// What `qqvault-index.json` says: enough to decide, before touching tantivy's files, whether
/// this build can read the index and search it with the folding it was built with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Always `qqvault-index`.
    pub format: String,
    /// [`SCHEMA_VERSION`] of the build that wrote the index.
    pub schema_version: u32,
    /// [`crate::TOKENIZER_VERSION`] of the build that wrote the index.
    pub tokenizer_version: u32,
    /// The folding the index was built with (queries are folded the same way).
    pub folding: FoldOptions,
    /// Unicode version of the NFKC tables and of the lower-casing that built the index. Kept for
    /// diagnosis: a newer Unicode only changes the folding of characters it newly assigns.
    pub unicode_nfkc: String,
    pub unicode_case: String,
    /// Whether the message texts are stored in the index (and every hit verified against
    /// them). Without them the phrase queries over positioned bigrams are exact on their own.
    pub stored_text: bool,
    /// Messages in the index.
    pub doc_count: u64,
    /// Bytes of message text (UTF-8) indexed.
    pub text_bytes: u64,
}

impl IndexInfo {
    pub(crate) fn new(folding: FoldOptions, stored_text: bool, doc_count: u64, text_bytes: u64) -> Self {
        let (a, b, c) = unicode_normalization::UNICODE_VERSION;
        let (x, y, z) = char::UNICODE_VERSION;
        IndexInfo {
            format: FORMAT.to_string(),
            schema_version: SCHEMA_VERSION,
            tokenizer_version: TOKENIZER_VERSION,
            folding,
            unicode_nfkc: format!("{a}.{b}.{c}"),
            unicode_case: format!("{x}.{y}.{z}"),
            stored_text,
            doc_count,
            text_bytes,
        }
    }

    /// The version this build writes and reads, as shown in a mismatch.
    pub(crate) fn expected_version() -> String {
        version_string(FORMAT, SCHEMA_VERSION, TOKENIZER_VERSION)
    }
}

pub(crate) fn version_string(format: &str, schema: u32, tokenizer: u32) -> String {
    format!("{format} schema {schema} tokenizer {tokenizer}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_code_orders_and_reverses() {
        let times = [
            MessageTime::new(2009, 1, 1, 0, 0, 0).unwrap(),
            MessageTime::new(2009, 1, 1, 0, 0, 59).unwrap(),
            MessageTime::new(2009, 1, 1, 0, 0, 60).unwrap(),
            MessageTime::new(2009, 1, 1, 0, 1, 0).unwrap(),
            MessageTime::new(2009, 2, 28, 23, 59, 59).unwrap(),
            MessageTime::new(2009, 3, 1, 0, 0, 0).unwrap(),
            MessageTime::new(2024, 12, 31, 23, 59, 59).unwrap(),
        ];
        for w in times.windows(2) {
            assert!(encode_time(w[0]) < encode_time(w[1]));
        }
        for t in times {
            assert_eq!(decode_time(encode_time(t)), t);
        }
        assert_eq!(
            decode_time(encode_time(MessageTime::default())),
            MessageTime::default()
        );
    }
}
