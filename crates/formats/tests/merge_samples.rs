//! Merging the shared MHT samples, as a user who backed up the same chat twice would.

#[path = "mht_support/mod.rs"]
mod support;

use qqvault_formats::merge::{Merger, SourceFormat};
use support::*;

#[test]
fn trimmed_and_truncated_make_one_conversation_of_27() {
    let (Some(a), Some(b)) = (
        shared_fixture("mht/trimmed-lf.mht"),
        shared_fixture("mht/truncated-image.mht"),
    ) else {
        return;
    };
    let mut merger = Merger::new();
    for path in [a, b] {
        let bytes = std::fs::read(&path).expect("shared fixture readable");
        let (rec, _) = parse(&bytes, "x");
        merger.add_file(SourceFormat::Mht, rec.conversations);
    }
    let result = merger.finish();
    assert_eq!(result.conversations.len(), 1);
    let (meta, messages) = &result.conversations[0];
    assert_eq!(
        (meta.key.scope.as_str(), meta.key.peer.as_str()),
        ("好友", "对方")
    );
    assert_eq!(messages.len(), 27);
    assert_eq!(result.stats.duplicates_dropped, 1);
    assert!(messages.windows(2).all(|w| w[0].time <= w[1].time));
}
