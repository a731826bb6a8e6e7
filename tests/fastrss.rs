//! The oracle for the plain-RSS fast path ([`feedwatch::fastrss`]): for every document it
//! accepts, `parse` (fast path) and `parse_with_feed_rs` (feed-rs forced) give the same
//! items and ttl. Run over every XML fixture, over hand-made documents that vary each
//! accepted element, and over random documents built from the accepted vocabulary (a fixed
//! seed). `examples/corpus.rs` runs the same check over ../shared/corpus.

use std::path::Path;

use feedwatch::decode::to_utf8;
use feedwatch::fastrss;
use feedwatch::parse::{parse, parse_with_feed_rs};
use feedwatch::schedule::XorShift as Rng;
use url::Url;

fn base() -> Url {
    Url::parse("https://outlet.example/rss/news").unwrap()
}

/// Whether the fast path accepted `doc`; panics with both results when the paths differ.
fn same(doc: &str, what: &str) -> bool {
    let accepted = fastrss::parse(doc, &base()).is_some();
    let fast = parse(doc, &base(), None);
    let slow = parse_with_feed_rs(doc, &base(), None);
    match (&fast, &slow) {
        (Ok(f), Ok(s)) => assert!(
            f.items == s.items && f.ttl_minutes == s.ttl_minutes,
            "{what}: the fast path differs from feed-rs\nfast: {:#?} ttl {:?}\nfeed-rs: {:#?} ttl {:?}\n{doc}",
            f.items,
            f.ttl_minutes,
            s.items,
            s.ttl_minutes
        ),
        (Err(f), Err(s)) => assert_eq!(f.to_string(), s.to_string(), "{what}"),
        _ => panic!("{what}: fast {fast:?}\nfeed-rs {slow:?}\n{doc}"),
    }
    accepted
}

fn xml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

#[test]
fn every_xml_fixture_parses_the_same_on_both_paths() {
    let mut files = Vec::new();
    xml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut files,
    );
    assert!(files.len() >= 10, "{files:?}");
    let mut accepted = Vec::new();
    for path in &files {
        let decoded = to_utf8(&std::fs::read(path).unwrap(), None);
        if same(&decoded.text, &path.display().to_string()) {
            accepted.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    // the outlets' documents take the fast path, Cyrillic ones after decoding too
    for name in [
        "moscow-times-2022-12-27.xml",
        "kommersant-windows-1251.xml",
        "news-koi8-r.xml",
    ] {
        assert!(accepted.iter().any(|a| a == name), "{name}: {accepted:?}");
    }
}

/// One channel around `items`, with `head` at the root's attributes.
fn doc(head: &str, items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"{head}>\n<channel><title>T</title>\
         <link>https://outlet.example/</link><ttl>30</ttl>\n{items}\n</channel></rss>\n"
    )
}

const NS: &str = " xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
    xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:media=\"http://search.yahoo.com/mrss/\" \
    xmlns:slash=\"http://purl.org/rss/1.0/modules/slash/\"";

/// Items that vary every accepted element: each must be accepted and equal.
const ACCEPTED: &[&str] = &[
    "<item><title>A &amp; B &lt;i&gt;x&lt;/i&gt; &#169; &#x439;</title><link>https://o.example/a</link></item>",
    "<item><title><![CDATA[<b>CIS</b> & CSTO]]></title><description><![CDATA[<p>one</p>]]> two &quot;q&quot;</description></item>",
    "<item><title>\n   spaced\r\n title \t</title><description>\n\n</description></item>",
    "<item><title/><description></description><content:encoded/></item>",
    "<item><title>first</title><title>second</title><title/></item>",
    "<item><link>/relative/path?q=1&amp;r=2</link><link>second</link></item>",
    "<item><link>  https://o.example/spaces  </link></item>",
    "<item><link>mailto:x@y.example</link></item>",
    "<item><link>http://[bad</link></item>",
    "<item><link></link><link>https://o.example/after-empty</link></item>",
    "<item><comments>https://o.example/c</comments><link>https://o.example/l</link></item>",
    "<item><link>https://o.example/same</link><comments>https://o.example/same</comments></item>",
    "<item><guid isPermaLink=\"false\">  id-1  </guid></item>",
    "<item><guid>g-1</guid><guid/><guid>g-2</guid></item>",
    "<item><guid isPermaLink=\"true\">https://o.example/p</guid><title>no link</title></item>",
    "<item><guid>dup</guid><title>one</title></item><item><guid>dup</guid><title>two</title></item>",
    "<item><pubDate>Sun, 01 Nov 2026 09:05:00 +0000</pubDate></item>",
    "<item><pubDate>Thursday, 13 Jul 2011 7:38:00 GMT</pubDate></item>",
    "<item><pubDate>Wed, 25 Aug 2012 24:10:00 UTC</pubDate></item>",
    "<item><pubDate>Aug 25 2012 10:00:00 -0000</pubDate></item>",
    "<item><pubDate>2024-03-05T10:00:00+0300</pubDate></item>",
    "<item><pubDate>2024-03-05</pubDate></item>",
    "<item><pubDate>Tue, 15 Nov 2022 20:15:04 Z</pubDate></item>",
    "<item><pubDate>Mon, 32 Foo 2022</pubDate></item>",
    "<item><pubDate>Sun, 01 Nov 2026 09:05:00 +0000</pubDate><pubDate/></item>",
    "<item><pubDate>Втр, 01 Ноя 2026</pubDate></item>",
    "<item><category>News</category><category domain=\"https://o.example/tax\"> Politics </category><category/><category>  </category></item>",
    "<item><category>Учёба &amp; наука</category></item>",
    "<item><author>ed@o.example (Ed)</author><dc:creator>Иван</dc:creator></item>",
    "<item><content:encoded><![CDATA[<p>Full <b>text</b></p>]]></content:encoded><description>short</description></item>",
    "<item><content:encoded>   </content:encoded></item>",
    "<item><content:encoded>first</content:encoded><content:encoded></content:encoded></item>",
    "<item><enclosure url=\"https://o.example/a.mp3\" length=\"1\" type=\"audio/mpeg\"/><media:content url=\"/x.jpg\"/><media:thumbnail url=\"https://o.example/t.jpg\"></media:thumbnail></item>",
    "<item><title>ОДКБ провела учения</title><description>«Лидеры СНГ&#160;встретились»</description></item>",
    "<item><title>a<!-- comment -->b<?pi x?>c</title></item>",
    "<item/>",
    "<item><title>only text</title> stray text in the item </item>",
];

#[test]
fn hand_made_documents_parse_the_same_on_both_paths() {
    for (i, item) in ACCEPTED.iter().enumerate() {
        let d = doc(NS, item);
        assert!(same(&d, &format!("item {i}")), "item {i} declined: {d}");
    }
    let all = doc(NS, &ACCEPTED.concat());
    assert!(same(&all, "all items"));
    // other prefixes for the same namespaces; ttl variants; a BOM; skipped channel parts
    let other = doc(
        " xmlns:c=\"http://purl.org/rss/1.0/modules/content/\" xmlns:d=\"http://purl.org/dc/elements/1.1/\"",
        "<image><url>u</url><title>t</title></image><atom:link xmlns:atom=\"http://www.w3.org/2005/Atom\" href=\"x\" rel=\"self\"/>\
         <item><c:encoded>body</c:encoded><d:creator>x</d:creator></item><ttl> 5</ttl>",
    );
    assert!(same(&other, "other prefixes"));
    // elements of namespaces feed-rs does not read are skipped; extension texts are read
    // from the document on both paths
    let extensions = doc(
        &format!(
            "{NS} xmlns:yandex=\"http://news.yandex.ru\" xmlns:turbo=\"http://turbo.yandex.ru\""
        ),
        "<item><title>ОДКБ</title><yandex:full-text>Полный <b>текст</b> СНГ</yandex:full-text>\
         <slash:comments>3</slash:comments></item>\
         <item><title>two</title><turbo:content><![CDATA[<p>Турбо</p>]]></turbo:content>\
         <yandex:genre><yandex:x>nested</yandex:x></yandex:genre></item>",
    );
    assert!(same(&extensions, "extensions"));
    let extra = parse(&extensions, &base(), None).unwrap().items;
    assert_eq!(
        (extra[0].extra.as_str(), extra[1].extra.as_str()),
        ("Полный текст СНГ", "Турбо")
    );
    assert!(same(
        &format!("\u{feff}{}", doc("", "<item><title>x</title></item>")),
        "BOM"
    ));
    let late_ttl =
        doc("", "").replace("<ttl>30", "<item><title>x</title></item><ttl>x</ttl><ttl>7");
    assert!(same(&late_ttl, "items before the ttl"));
    let v = doc("", "<item><title>x</title></item>").replace("version=\"2.0\"", "version=\"\"");
    assert!(same(&v, "empty version"));
}

/// Odd corners, accepted or declined: equal either way.
#[test]
fn odd_corners_parse_the_same_on_both_paths() {
    let item = doc(NS, "<item><title>x</title></item>");
    let bare = item.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    let corners = [
        doc(NS, "<item><title>a ]]> b</title></item>"),
        doc(NS, "<item><title>a > b ' \" c</title></item>"),
        doc(NS, "<item><title>x</title><category domain=\"d\"/><ttl/></item>"),
        doc(NS, "<image><item><title>nested</title></item></image><item><title>x</title></item>"),
        doc(NS, "<item><title>x</title></item>").replace("<ttl>30</ttl>", "<ttl/>"),
        format!("\n\n{item}"),
        // feed-rs looks for the first `<` in its first 8 KiB
        format!("{}{bare}", " ".repeat(9000)),
        format!("{}{bare}", " ".repeat(4000)),
        format!("\u{a0}\u{a0}{bare}"),
        format!("{item}<!-- after -->\n"),
        format!("{item}junk"),
        format!("{item}<rss/>"),
        item.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<?xml version=\"1.0\" encoding=\"utf8\"?>"),
        item.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<?xml-stylesheet href=\"s.xsl\"?>"),
        item.replace("<rss version=\"2.0\"", "<rss version='2.0'"),
        item.replace("<rss version=\"2.0\"", "<rss version=\"2.0\" version=\"2.0\""),
        item.replace("<title>x</title>", "<title>x</title >"),
        item.replace("<title>x</title>", "<title>x</titl>"),
        item.replace("<title>x</title>", "<title a=\"1\" a=\"2\">x</title>"),
        item.replace("<title>x</title>", "<title xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">x</title><content:encoded>c</content:encoded>"),
        item.replace("<item>", "<item xmlns:z=\"http://purl.org/rss/1.0/modules/content/\">").replace("<title>x</title>", "<z:encoded>c</z:encoded>"),
        item.replace("</item>", "</item><item/>"),
        doc(
            " xmlns:content=\"http://example/other\"",
            "<item><content:encoded>x</content:encoded></item>",
        ),
        item.replace("<item>", "<item xmlns:x=\"http://www.w3.org/XML/1998/namespace\">"),
        item.replace("<item>", "<item xmlns:x=\"http://www.w3.org/2000/xmlns/\">"),
        item.replace("<item>", "<item xmlns:xml=\"http://www.w3.org/XML/1998/namespace\">"),
        item.replace("</channel>", "</channel><item><title>outside</title></item>"),
    ];
    for (i, d) in corners.iter().enumerate() {
        same(d, &format!("corner {i}"));
    }
}

/// Documents the fast path must decline (each still parses as before, by feed-rs).
#[test]
fn what_the_fast_path_declines() {
    let declined = [
        doc(NS, "<item><title>x <b>bold</b></title></item>"),
        doc(NS, "<item><media:description>d</media:description></item>"),
        doc(NS, "<item><source url=\"x\">s</source></item>"),
        doc(
            " xmlns:a=\"http://www.w3.org/2005/Atom\"",
            "<item><a:updated>2024-01-01T00:00:00Z</a:updated></item>",
        ),
        doc(
            " xmlns:w=\"http://wellformedweb.org/CommentAPI/\"",
            "<item><w:commentRss>x</w:commentRss></item>",
        ),
        doc(NS, "<item><enclosure url=\"x\">text</enclosure></item>"),
        doc(NS, "<item><title>&nbsp;x</title></item>"),
        doc(NS, "<item><title>&#0;</title></item>"),
        doc(
            " xmlns=\"http://purl.org/rss/1.0/\"",
            "<item><title>x</title></item>",
        ),
        doc("", "<item><x:title>x</x:title></item>"),
        doc(
            " xml:base=\"https://other.example/\"",
            "<item><link>a</link></item>",
        ),
        doc("", ""),
        doc("", "<item><title>x</title></item>").replace("2.0", "0.91"),
        doc("", "<item><title>x</title></item>").replace("2.0", "2.01"),
        doc("", "<item><title>x</title></item>").replace("UTF-8", "windows-1251"),
        doc("", "<item><title>x</title>").to_string(),
        doc("", "<item><title>x</title></item>").replace("</channel>", "</channel><channel/>"),
        format!(
            "<!DOCTYPE rss [<!ENTITY e \"x\">]>{}",
            doc("", "<item><title>&e;</title></item>")
                .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
        ),
        doc(
            " xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\"",
            "<itunes:category text=\"x\"/><item><title>x</title></item>",
        ),
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>x</title></entry></feed>".into(),
        "{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[]}".into(),
    ];
    // feed-rs panics on these: the fast path must not give items for them
    // feed-rs panics on these (its e-mail split slices inside a character, its media time
    // parsing unwraps): the fast path must not give items for them; the feed-rs path reads
    // them again without those elements (`dialect::without_unread`)
    let panics = [
        doc(
            NS,
            "<item><author>Иван Иванов «ivan@o.example</author></item>",
        ),
        doc(
            NS,
            "<item><dc:creator>Иван Иванов «ivan@o.example</dc:creator></item>",
        ),
        doc(NS, "<item><title>x</title></item>").replace(
            "<ttl>",
            "<webMaster>Иван Иванов «ivan@o.example</webMaster><ttl>",
        ),
        doc(
            NS,
            "<item><media:thumbnail url=\"x\" time=\"99999999999999999999999\"/></item>",
        ),
    ];
    for d in &panics {
        let raw = std::panic::catch_unwind(|| feed_rs::parser::parse(d.as_bytes()));
        assert!(raw.is_err(), "feed-rs itself no longer panics on: {d}");
        let read = parse_with_feed_rs(d, &base(), None);
        assert!(read.is_ok(), "{read:?}: {d}");
        assert!(!same(d, "a feed-rs panic"), "accepted: {d}");
    }
    for (i, d) in declined.iter().enumerate() {
        assert!(!same(d, &format!("declined {i}")), "accepted {i}: {d}");
    }
}

/// Random well-formed RSS from the accepted vocabulary: equal on both paths (declined: the
/// documents without items, and those with a non-ASCII e-mail text).
#[test]
fn random_documents_parse_the_same_on_both_paths() {
    const TEXTS: &[&str] = &[
        "",
        " ",
        "plain",
        "  padded  ",
        "a &amp; b",
        "&lt;p&gt;html&lt;/p&gt;",
        "<![CDATA[<p>cdata & more</p>]]>",
        "x<![CDATA[]]>y",
        "line\r\nbreak",
        "Лидеры СНГ",
        "&#1054;&#x414;&#1050;&#1041;",
        "q&quot;&apos;",
        "a<!-- c -->b",
        "\u{a0}nbsp\u{2003}",
        "ivan@o.example (Ivan)",
        "Иван «ivan@o.example»",
        "&#127881; emoji",
    ];
    const LINKS: &[&str] = &[
        "https://o.example/a",
        "/rel",
        "rel/2",
        " https://o.example/sp ",
        "",
        "//host.example/x",
        "https://o.example/a?x=1&amp;y=2",
        "http://[::1",
    ];
    const DATES: &[&str] = &[
        "Sun, 01 Nov 2026 09:05:00 +0000",
        "Sun, 1 Nov 2026 9:05:00 GMT",
        "Sunday, 01 November 2026 09:05:00 UTC",
        "Nov 01 2026 09:05:00 -0000",
        "2026-11-01T09:05:00Z",
        "2026-11-01T09:05:00+0100",
        "2026-11-01",
        "01 Nov 2026 09:05:00 Z",
        "yesterday",
        "",
    ];
    let mut rng = Rng(0x5EED_F00D_0000_0015);
    let mut accepted = 0;
    for n in 0..1000 {
        let mut items = String::new();
        for _ in 0..rng.below(6) {
            items.push_str("<item>");
            for _ in 0..rng.below(9) {
                let t = rng.pick(TEXTS);
                let el = match rng.below(14) {
                    13 => format!("<slash:comments>{t}<slash:x/></slash:comments>"),
                    0 => format!("<title>{t}</title>"),
                    1 => format!("<link>{}</link>", rng.pick(LINKS)),
                    2 => format!("<comments>{}</comments>", rng.pick(LINKS)),
                    3 => format!("<guid isPermaLink=\"false\">{t}</guid>"),
                    4 => format!("<description>{t}</description>"),
                    5 => format!("<pubDate>{}</pubDate>", rng.pick(DATES)),
                    6 => format!("<category domain=\"d\">{t}</category>"),
                    7 => format!("<author>{t}</author>"),
                    8 => format!("<content:encoded>{t}</content:encoded>"),
                    9 => format!("<dc:creator>{t}</dc:creator>"),
                    10 => "<enclosure url=\"/e.mp3\" type=\"audio/mpeg\"/>".into(),
                    11 => format!("<media:thumbnail url=\"{}\"/>", rng.pick(LINKS)),
                    _ => format!("<title/>{}", if rng.chance(50) { "<guid/>" } else { "" }),
                };
                items.push_str(&el);
                if rng.chance(20) {
                    items.push_str("\n  ");
                }
            }
            items.push_str("</item>");
        }
        const CHANNEL: &[&str] = &[
            "",
            "<ttl>15</ttl>",
            "<ttl>soon</ttl>",
            "<managingEditor>ed@o.example (Ed)</managingEditor>",
            "<image><url>https://o.example/i.png</url><title>i</title><link>/</link></image>",
            "<language>ru</language><pubDate>Sun, 01 Nov 2026 09:05:00 +0000</pubDate>",
            "<!-- c --><?pi x?>",
        ];
        let d = doc(
            NS,
            &format!("{}{items}{}", rng.pick(CHANNEL), rng.pick(CHANNEL)),
        );
        if same(&d, &format!("random document {n}")) {
            accepted += 1;
        }
    }
    // only documents with no item are declined
    assert!(accepted > 600, "{accepted} of 1000 accepted");
}
