//! Arbitrary input never panics the MHT parser and always ends.

#[path = "mht_support/mod.rs"]
mod support;

use proptest::prelude::*;
use support::*;

/// Pieces of real structure, so that random files reach deep into the parser.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(envelope("\r\n").into_bytes()),
        Just(html_part_header("\n").into_bytes()),
        Just(HEAD.as_bytes().to_vec()),
        Just(title_rows("我的QQ群", "群").into_bytes()),
        Just(date_row("2020-03-22").into_bytes()),
        Just(date_row("2012/4/11").into_bytes()),
        Just(
            message_row(
                "42B475",
                "我(1)",
                "下午&nbsp;1:42:48",
                "<IMG src=\"{A}.dat\">x<br>"
            )
            .into_bytes()
        ),
        Just(message_row("006EFE", "&nbsp;", "8:43:38&nbsp;PM", "").into_bytes()),
        Just(image_part("\r\n", "image/gif", "{A}.dat", GIF_BASE64, 7).into_bytes()),
        Just(b"<tr><td><div style=float:left>".to_vec()),
        Just(b"<tr".to_vec()),
        Just(b"</html>".to_vec()),
        Just(b"&#x110000;&#99999999999;&".to_vec()),
        Just(closing("\n").into_bytes()),
        Just(b"\r\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (_, stats) = parse(&bytes, "s");
        prop_assert_eq!(stats.bytes, bytes.len() as u64);
    }

    #[test]
    fn shuffled_structure(fragments in proptest::collection::vec(fragment(), 0..40)) {
        let bytes = fragments.concat();
        let (rec, stats) = parse(&bytes, "s");
        prop_assert_eq!(stats.messages as usize, rec.messages().len());
        prop_assert_eq!(stats.parts as usize, rec.embedded.len());
    }
}
