//! Real test feeds from feedparser and feed-rs (tests/fixtures/corpus, see its README), run
//! through the pure decode and parse stages. Each test asserts what feedparser's `Expect:`
//! line (or feed-rs's own parse) says about that file, or a clean error where feedwatch's
//! strict XML parser rejects it: never a panic, never a hang.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use feedwatch::decode::{Decoded, to_utf8};
use feedwatch::parse::{ParseError, ParsedFeed, parse, parse_or_recover};
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// decode + parse on a worker thread: a hang fails the test instead of stalling it.
fn run(name: &str, content_type: Option<&str>) -> (Decoded, Result<ParsedFeed, ParseError>) {
    let body = fixture(name);
    let content_type = content_type.map(str::to_string);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let base = Url::parse("http://127.0.0.1/").unwrap();
        let decoded = to_utf8(&body, content_type.as_deref());
        let parsed = parse(&decoded.text, &base, content_type.as_deref());
        let _ = tx.send((decoded, parsed));
    });
    let (decoded, parsed) = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{name}: decode+parse hung or panicked"));
    if let Err(ParseError::Panic(m)) = &parsed {
        panic!("{name}: the feed parser panicked: {m}");
    }
    (decoded, parsed)
}

fn items(name: &str, content_type: Option<&str>) -> ParsedFeed {
    match run(name, content_type).1 {
        Ok(f) => f,
        Err(e) => panic!("{name}: expected items, got error: {e}"),
    }
}

fn invalid(name: &str) -> String {
    match run(name, None).1 {
        Err(ParseError::Invalid(m)) => m,
        Err(e) => panic!("{name}: expected a clean 'not a feed' error, got: {e}"),
        Ok(f) => panic!("{name}: expected an error, got {} items", f.items.len()),
    }
}

/// The title of koi8r.xml's one item (the file has no encoding declaration).
const KOI8R_TITLE: &str = "Как пережить новогоднюю ночь";

#[test]
fn http_charset_windows_1252_overrides_declared_iso_8859_1() {
    // Header: Content-type: text/xml; charset=windows-1252
    // Expect: entries[0]['description'] == 'This is a \xa3\u201ctest.\u201d'
    let name = "http_text_xml_charset_overrides_encoding_2.xml";
    let (decoded, parsed) = run(name, Some("text/xml; charset=windows-1252"));
    assert_eq!(decoded.encoding, "windows-1252");
    assert!(!decoded.had_errors);
    let f = parsed.unwrap();
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "Foo");
    assert_eq!(f.items[0].summary, "This is a £“test.”");

    // The HTTP charset is what decides: the same bytes served as UTF-8 do not decode so.
    let (decoded, parsed) = run(name, Some("text/xml; charset=utf-8"));
    assert_eq!(decoded.encoding, "UTF-8");
    assert!(decoded.had_errors);
    assert_ne!(parsed.unwrap().items[0].summary, "This is a £“test.”");
}

#[test]
fn declared_euc_kr_decodes_the_item_description() {
    // Expect: not bozo and entries[0]['description'] == '\ub144'
    let (decoded, parsed) = run("euc-kr-item.xml", None);
    assert_eq!(decoded.encoding, "EUC-KR");
    assert!(!decoded.had_errors);
    let f = parsed.unwrap();
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].summary, "\u{b144}"); // 년
}

#[test]
fn utf16be_without_bom_is_detected_and_its_empty_rss_is_a_clean_error() {
    // Expect: not bozo and encoding == 'utf-16be' (the document is an empty <rss>)
    let (decoded, parsed) = run("utf-16be-autodetect.xml", None);
    assert_eq!(decoded.encoding, "UTF-16BE");
    assert!(!decoded.had_errors);
    assert!(
        decoded
            .text
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    assert!(
        decoded
            .text
            .contains("Wellformed UTF-16 (autodetected as Big Endian)")
    );
    assert!(decoded.text.contains("<rss>\n</rss>"));
    assert!(matches!(parsed, Err(ParseError::Invalid(_))), "{parsed:?}");
}

#[test]
fn koi8r_served_with_its_http_charset_decodes_to_cyrillic() {
    // Expect: encoding == 'KOI8-R'. The file declares nothing; here the server names it.
    let (decoded, parsed) = run("koi8r.xml", Some("text/xml; charset=koi8-r"));
    assert_eq!(decoded.encoding, "KOI8-R");
    assert!(!decoded.had_errors);
    assert!(
        decoded
            .text
            .contains(&format!("<title>{KOI8R_TITLE}</title>"))
    );
    // Its root is <rss> without a version, which feed-rs 3 does not take for a feed: until
    // parse reads that as RSS 2.0 this is a clean error; after, the item with its title.
    match parsed {
        Ok(f) => assert_eq!(f.items[0].title, KOI8R_TITLE),
        Err(e) => assert!(matches!(e, ParseError::Invalid(_)), "{e}"),
    }
}

#[test]
fn undeclared_koi8r_is_detected_as_feedparser_does() {
    // Expect: bozo and encoding == 'KOI8-R' (feedparser guesses it with chardet)
    let (decoded, parsed) = run("koi8r.xml", None);
    assert!(!decoded.had_errors, "decoded as {}", decoded.encoding);
    assert!(decoded.text.contains(KOI8R_TITLE));
    assert_eq!(parsed.unwrap().items[0].title, KOI8R_TITLE);
}

#[test]
fn truncated_cdata_is_a_clean_error_not_a_hang() {
    // Expect: bozo ("feedparser goes into infinite loop while parsing this file")
    let message = invalid("rss_incomplete_cdata.xml");
    assert!(message.contains("CDATA not closed"), "{message}");
}

#[test]
fn escaped_ampersand_in_link_survives_a_truncated_closing_tag() {
    // Expect: entries[0].link == 'http://link/get?a=1&b=2'
    let f = items("rss_item_link_corrupted_ampersands.xml", None);
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].link.as_deref(), Some("http://link/get?a=1&b=2"));
}

#[test]
fn bare_ampersand_in_link_is_a_clean_error() {
    // feedparser's loose parser recovers 'http://example/?a=1&b=2&c'; a strict XML parser
    // rejects the document, and feedwatch must say so cleanly.
    let message = invalid("query_variable_entry.xml");
    assert!(
        message.contains("entity or character reference"),
        "{message}"
    );
}

#[test]
fn json_feed_yields_both_items_and_drops_script_text() {
    // Expect: not bozo and feed.title == 'My Example Feed' and len(entries) == 2
    let f = items("example.json", Some("application/feed+json"));
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].guid.as_deref(), Some("2"));
    assert_eq!(f.items[0].title, "post 2");
    assert_eq!(
        f.items[0].link.as_deref(),
        Some("https://example.org/second-item")
    );
    assert_eq!(f.items[0].content, "This is a second item.");
    assert_eq!(f.items[0].categories, ["test", "JSON"]);
    assert_eq!(f.items[1].guid.as_deref(), Some("1"));
    assert_eq!(f.items[1].title, "");
    assert_eq!(f.items[1].content, "Hello, world!");
}

#[test]
fn declared_iso_8859_1_rss_091_decodes_portuguese_accents() {
    // feed-rs's own parse (rss_0.91_encoding_1.serde.json): one entry, this title
    let (decoded, parsed) = run("rss_0.91_encoding_1.xml", None);
    assert_eq!(decoded.encoding, "windows-1252"); // encoding_rs's name for ISO-8859-1
    assert!(!decoded.had_errors);
    let f = parsed.unwrap();
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "bash - Expansão de Parâmetros");
    assert_eq!(f.items[0].summary, "bash - Expansão de Parâmetros");
    // <link>http://www.Dicas-L.com.br/...</link>: made absolute, so the host is lower-cased
    assert_eq!(
        f.items[0].link.as_deref(),
        Some("http://www.dicas-l.com.br/dicas-l/20200406.php")
    );
}

/// decode + [`parse_or_recover`], as the service reads a document.
fn recovered(name: &str) -> Result<ParsedFeed, ParseError> {
    let base = Url::parse("http://127.0.0.1/").unwrap();
    let decoded = to_utf8(&fixture(name), None);
    parse_or_recover(&decoded.text, &base, None)
}

#[test]
fn bare_ampersand_in_link_is_recovered_as_feedparser_does() {
    // Expect: entries[0].link == 'http://example/?a=1&b=2&c' (and the document ends in `</rss`)
    let f = recovered("query_variable_entry.xml").unwrap();
    assert_eq!(f.items.len(), 1);
    assert_eq!(
        f.items[0].link.as_deref(),
        Some("http://example/?a=1&b=2&c")
    );
    let note = f.recovered.unwrap();
    assert!(
        note.starts_with("recovered from ill-formed XML: ")
            && note.contains("entity or character reference")
            && note.contains("escaped bare '&' (2)"),
        "{note}"
    );
}

#[test]
fn a_document_cut_inside_its_first_item_recovers_no_empty_item() {
    // cut off at `<item><title><![CD`: repairing it gives one item with nothing in it,
    // which is no recovery; the strict parser's error stands
    match recovered("rss_incomplete_cdata.xml") {
        Err(ParseError::Invalid(m)) => assert!(m.contains("CDATA not closed"), "{m}"),
        other => panic!("expected the strict parser's error, got {other:?}"),
    }
}

#[test]
fn atom_0_3_is_read_as_atom_1_0() {
    // Expect: not bozo and entries[0]['title'] == 'Example Atom'
    let f = items("entry_title.xml", None);
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "Example Atom");
    assert_eq!(
        f.recovered, None,
        "a well-formed document is not a recovery"
    );
}
