//! How parsers hand over what they read: a streaming sink, so that a file of many GB never has
//! to be held whole.

use qqvault_core::{ConversationMeta, Message};

/// Something a parser noticed that is worth a line in the report, without being fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseFinding {
    /// An MHT `<IMG src>` that names a part the file does not contain.
    MissingPart { name: String },
    /// An MHT part that no message refers to.
    UnreferencedPart { name: String },
    /// A part whose bytes could not be decoded (broken base64, cut short).
    BrokenPart { name: String, detail: String },
    /// Anything else, in words.
    Other { detail: String },
}

/// Receives what a parser reads, in file order.
pub trait ChatSink {
    /// A conversation starts (or starts again: a repeated block of the same conversation); the
    /// messages that follow belong to it until the next call.
    fn conversation(&mut self, meta: ConversationMeta);
    /// One message of the current conversation.
    fn message(&mut self, message: Message);
    /// A line that is neither part of a message nor of the export's own framing.
    /// `line_no` counts from 1.
    fn not_understood(&mut self, line_no: u64, line: &str);
    /// An embedded file (an MHT image part), decoded. `name` is as the export names it
    /// (such as `{GUID}.dat`).
    fn embedded(&mut self, _name: &str, _content_type: &str, _bytes: &[u8]) {}
    /// A non-fatal finding.
    fn finding(&mut self, _finding: ParseFinding) {}
}
