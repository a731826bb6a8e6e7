//! UTF-8 text to feed entries (feed-rs), and entries to our own normalised [`Item`]s.
//!
//! feed-rs runs on a blocking thread with its panics caught, so a document that trips it
//! fails that one feed. Its invented ids are switched off (an empty id means the entry had
//! none): item keys are built by [`crate::dedup`] from what the feed really says.
//!
//! A document is parsed strictly first; old dialects are rewritten for feed-rs
//! ([`crate::dialect`]), and an ill-formed document, or one whose item elements yield no
//! items, is parsed again from a repaired copy ([`parse_or_recover`], [`crate::recover`]).

use chrono::{DateTime, Utc};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use url::Url;

use crate::fastrss::Entry;
use crate::text::{html_decode, html_to_text};

/// One entry of a feed. Its text fields are normalised plain text: what watches match and
/// what item keys and edit digests are made of; [`Item::shown`] keeps the outlet's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// The entry's own guid/id, trimmed; `None` when it has none.
    pub guid: Option<String>,
    /// The entry's link, made absolute against the feed's URL.
    pub link: Option<String>,
    pub title: String,
    /// RSS `description`, Atom `summary`, JSON Feed `summary`.
    pub summary: String,
    /// RSS `content:encoded`, Atom `content`, JSON Feed `content_html` (else `content_text`).
    pub content: String,
    /// The entry's other text, matched as its content: `media:description`,
    /// `yandex:full-text`, `turbo:content`, a JSON Feed `content_text` beside
    /// `content_html`; normalised, parts joined with [`crate::shown::PART_SEPARATOR`]. In no
    /// key or digest: reading it made no item stored before look new or edited.
    pub extra: String,
    pub categories: Vec<String>,
    /// Publication date, else the update date, as the feed gives it.
    pub published: Option<DateTime<Utc>>,
    /// The title, summary and content (with `extra`) as the outlet wrote them, for showing;
    /// `None`: the same as the normalised text (an item made by hand).
    pub shown: Option<Box<Shown>>,
}

/// An item's text as the outlet wrote it: tags dropped, entities decoded, control characters
/// cleaned ([`crate::shown::html_to_shown`]); no NFKC, no `ё`→`е`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shown {
    pub title: String,
    pub summary: String,
    /// The content and the extension texts, joined as [`Item::matched_content`] joins them.
    pub content: String,
    /// The categories, one for each of [`Item::categories`].
    pub categories: Vec<String>,
}

impl Item {
    /// What watches match as the item's content: its content and its extension texts.
    pub fn matched_content(&self) -> std::borrow::Cow<'_, str> {
        crate::shown::join(&self.content, &self.extra)
    }

    /// The title as the outlet wrote it.
    pub fn shown_title(&self) -> &str {
        self.shown.as_ref().map_or(&self.title, |s| &s.title)
    }

    /// The summary as the outlet wrote it.
    pub fn shown_summary(&self) -> &str {
        self.shown.as_ref().map_or(&self.summary, |s| &s.summary)
    }

    /// The categories as the outlet wrote them.
    pub fn shown_categories(&self) -> &[String] {
        self.shown
            .as_ref()
            .map_or(&self.categories, |s| &s.categories)
    }

    /// The content (with the extension texts) as the outlet wrote it.
    pub fn shown_content(&self) -> std::borrow::Cow<'_, str> {
        match &self.shown {
            Some(s) => std::borrow::Cow::Borrowed(&s.content),
            None => self.matched_content(),
        }
    }
}

/// What a feed document yielded.
#[derive(Debug)]
pub struct ParsedFeed {
    pub items: Vec<Item>,
    /// RSS `<ttl>`, in minutes, for the scheduler.
    pub ttl_minutes: Option<u32>,
    /// How many items the document has: more than `items` when [`read`] cut it.
    pub items_in_document: usize,
    /// Set when the document was ill-formed and its items were read from a repaired copy
    /// ([`crate::recover`]): "recovered from ill-formed XML: ...", for the feed's health.
    pub recovered: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the server sent an HTML page, not a feed{0}")]
    Html(String),
    #[error("the body is empty")]
    Empty,
    #[error("not a feed: {0}")]
    Invalid(String),
    #[error(
        "the document has {0} <item>/<entry> elements, but none could be read as a feed item, not even from a repaired copy"
    )]
    NoItems(usize),
    #[error("the feed parser crashed on this document ({0}); please report it with the feed's URL")]
    Panic(String),
}

/// Parses a decoded document: plain RSS 2.0 by [`crate::fastrss`], anything it declines by
/// feed-rs ([`parse_with_feed_rs`]); both give the same items. Blocking: call it from
/// `spawn_blocking`.
pub fn parse(text: &str, base: &Url, content_type: Option<&str>) -> Result<ParsedFeed, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // a panic in the fast path (a bug) declines, as any doubt does
    let fast = std::panic::catch_unwind(|| crate::fastrss::parse(text, base));
    match fast {
        Ok(Some(doc)) => Ok(parsed(text, base, doc.entries, doc.ttl)),
        _ => parse_with_feed_rs(text, base, content_type),
    }
}

/// [`parse`] by feed-rs alone: the oracle the fast path is checked against.
#[doc(hidden)]
pub fn parse_with_feed_rs(
    text: &str,
    base: &Url,
    content_type: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // a parser per attempt: one that failed inside an entry keeps state that trips its next
    // parse (feed-rs 3's MediaRssState asserts it is reset)
    let run = |doc: &str| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            feed_rs::parser::Builder::new()
                .base_uri(Some(base.as_str()))
                .id_generator(|_, _, _| String::new())
                .build()
                .parse(doc.as_bytes())
        }))
    };
    let mut result = run(text);
    // feed-rs knows <rss> only with version 0.91, 0.92, 2.0 or "": read any other as 2.0
    if matches!(
        result,
        Ok(Err(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot)))
    ) && let Some(Ok(Ok(feed))) = with_rss_version(text).map(|t| run(&t))
    {
        result = Ok(Ok(feed));
    }
    // Atom 0.3, or Atom text constructs typed with MIME types: read as Atom 1.0
    if !matches!(&result, Ok(Ok(f)) if !f.entries.is_empty())
        && let Some(Ok(Ok(feed))) = crate::dialect::atom_as_10(text).map(|t| run(&t))
        && (!feed.entries.is_empty() || !matches!(result, Ok(Ok(_))))
    {
        result = Ok(Ok(feed));
    }
    // RSS 1.0 items identified by rdf:about alone
    if matches!(&result, Ok(Ok(f)) if f.entries.is_empty())
        && let Some(Ok(Ok(feed))) = crate::dialect::rdf_item_links(text).map(|t| run(&t))
    {
        result = Ok(Ok(feed));
    }
    // feed-rs panics on some texts of elements feedwatch never reads (an e-mail address
    // touching a non-ASCII character in an author, a huge Media RSS time): read the
    // document again without them
    if result.is_err()
        && let Some(Ok(Ok(feed))) = crate::dialect::without_unread(text).map(|t| run(&t))
    {
        result = Ok(Ok(feed));
    }
    let feed = match result {
        Ok(Ok(feed)) => feed,
        Ok(Err(e)) => {
            return Err(if looks_like_html(text, content_type) {
                ParseError::Html(
                    html_title(text)
                        .map(|t| format!(" (titled {t:?})"))
                        .unwrap_or_default(),
                )
            } else {
                ParseError::Invalid(e.to_string())
            });
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            return Err(ParseError::Panic(msg));
        }
    };
    if feed.entries.is_empty() && looks_like_html(text, content_type) {
        return Err(ParseError::Html(
            html_title(text)
                .map(|t| format!(" (titled {t:?})"))
                .unwrap_or_default(),
        ));
    }
    let entries = feed.entries.into_iter().map(Entry::from_feed_rs);
    Ok(parsed(text, base, entries, feed.ttl))
}

/// The entries of `text` as items, with the texts of their extension elements.
fn parsed(
    text: &str,
    base: &Url,
    entries: impl IntoIterator<Item = Entry>,
    ttl_minutes: Option<u32>,
) -> ParsedFeed {
    let mut extensions = crate::extension::texts(text).into_iter();
    let items: Vec<Item> = entries
        .into_iter()
        .map(|e| item(e, base, extensions.next().unwrap_or_default()))
        .collect();
    ParsedFeed {
        items_in_document: items.len(),
        items,
        ttl_minutes,
        recovered: None,
    }
}

/// [`parse`], and when that fails, or finds no items in a document that has `<item>` or
/// `<entry>` elements, [`parse`] again a copy repaired by [`crate::recover`]. A recovery is
/// said in [`ParsedFeed::recovered`]; a document with item elements that still yields none is
/// [`ParseError::NoItems`], never a silent empty poll. Blocking, as [`parse`].
pub fn parse_or_recover(
    text: &str,
    base: &Url,
    content_type: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    let strict = parse(text, base, content_type);
    let item_elements = match &strict {
        Ok(f) if !f.items.is_empty() => return strict,
        Err(ParseError::Empty) => return strict,
        _ if text.trim_start().starts_with(['{', '[']) => return strict, // JSON
        Ok(_) => match crate::recover::item_elements(text) {
            0 => return strict,
            n => n,
        },
        Err(_) => 0,
    };
    if let Some(repaired) = crate::recover::repair(text)
        && let Ok(mut f) = parse(&repaired.text, base, content_type)
        && f.items.iter().any(has_something)
    {
        let why = match &strict {
            Err(e) => e.to_string(),
            Ok(_) => {
                format!("{item_elements} <item>/<entry> elements, none read by the strict parser")
            }
        };
        f.recovered = Some(format!(
            "recovered from ill-formed XML: {why}; repairs: {}",
            repaired.fixes.join(", ")
        ));
        return Ok(f);
    }
    match strict {
        Ok(_) => Err(ParseError::NoItems(item_elements)),
        Err(e) => Err(e),
    }
}

/// An item a repair may yield: one with something in it. A document cut off inside its
/// first item's title gives an empty item, which is not a recovery.
fn has_something(item: &Item) -> bool {
    item.guid.is_some()
        || item.link.is_some()
        || !item.title.is_empty()
        || !item.summary.is_empty()
        || !item.content.is_empty()
}

/// A fetched body to items, within `max_items` (`fetch.max_items`): decoded without a copy,
/// cut to its first `max_items` items before feed-rs sees it ([`crate::cut`]), the whole
/// text dropped before parsing. Memory stays bounded by `fetch.max_body` and `max_items`
/// whatever the document's shape. An ill-formed document is read as [`parse_or_recover`]
/// reads it. Blocking: call it from `spawn_blocking`, holding a [`parsing_permit`]. The
/// error comes with the encoding the body was decoded from.
pub fn read(
    body: Vec<u8>,
    base: &Url,
    content_type: Option<&str>,
    max_items: usize,
) -> Result<ParsedFeed, (ParseError, &'static str)> {
    let decoded = crate::decode::into_utf8(body, content_type);
    let encoding = decoded.encoding;
    let mut text = decoded.text;
    let cut = crate::cut::first_items(&text, max_items);
    let cut_from = cut.cut_from;
    if let std::borrow::Cow::Owned(short) = cut.text {
        text = short;
    }
    let mut parsed = parse_or_recover(&text, base, content_type).map_err(|e| (e, encoding))?;
    if let Some(n) = cut_from {
        parsed.items_in_document = parsed.items_in_document.max(n);
    }
    Ok(parsed)
}

/// Leave to parse one document: parsing is CPU-bound, so documents are parsed no more at once
/// than there are cores, which bounds the memory their models take whatever
/// `fetch.concurrency` is.
pub async fn parsing_permit() -> tokio::sync::SemaphorePermit<'static> {
    static PARSING: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PARSING
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            tokio::sync::Semaphore::new(cores)
        })
        .acquire()
        .await
        .expect("never closed")
}

/// One entry as an [`Item`]: each text kept as shown and normalised; `extensions` are the
/// texts of elements feed-rs does not read ([`crate::extension`]).
fn item(e: Entry, base: &Url, extensions: Vec<String>) -> Item {
    let guid = Some(e.id.trim().to_string()).filter(|s| !s.is_empty());
    let link = e
        .link
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            base.join(h)
                .map(String::from)
                .unwrap_or_else(|_| h.to_string())
        });
    // shown, then normalised from the same decoded text: the normalised text is what it
    // always was, so matching, item keys and edit digests are unchanged
    let both = |html: &str| crate::shown::tidy_and_normalize(&html_decode(html));
    let (shown_title, title) = e.title.map(|t| both(&t)).unwrap_or_default();
    let (shown_summary, summary) = e.summary.map(|t| both(&t)).unwrap_or_default();
    let (shown_content, content) = e.content.map(|b| both(&b)).unwrap_or_default();
    let media = e.media.into_iter();
    let (mut shown_extra, mut extra) = (String::new(), String::new());
    for text in media.chain(extensions) {
        let (shown, norm) = both(&text);
        // a description repeated in every media object of an item counts once
        if norm.is_empty() || extra.split(crate::shown::PART_SEPARATOR).any(|p| p == norm) {
            continue;
        }
        shown_extra = crate::shown::join(&shown_extra, &shown).into_owned();
        extra = crate::shown::join(&extra, &norm).into_owned();
    }
    let (shown_categories, categories): (Vec<String>, Vec<String>) = e
        .categories
        .iter()
        .map(|c| crate::shown::tidy_and_normalize(c))
        .filter(|(_, c)| !c.is_empty())
        .unzip();
    Item {
        guid,
        link,
        title,
        summary,
        extra,
        categories,
        published: e.published,
        shown: Some(Box::new(Shown {
            title: shown_title,
            summary: shown_summary,
            content: crate::shown::join(&shown_content, &shown_extra).into_owned(),
            categories: shown_categories,
        })),
        content,
    }
}

/// `text` with `version="2.0"` on its `<rss>` root (a version it had is renamed away).
fn with_rss_version(text: &str) -> Option<String> {
    let mut at = 0;
    loop {
        // skip the prolog: XML declaration, processing instructions, comments, doctype
        at += text[at..].find('<')?;
        let tail = &text[at..];
        if tail.starts_with("<!--") {
            at += tail.find("-->")? + 3;
        } else if tail.starts_with("<?") || tail.starts_with("<!") {
            at += tail.find('>')? + 1;
        } else {
            break;
        }
    }
    let end = at + text[at..].find('>')?;
    let attrs = text[at..end].strip_prefix("<rss")?;
    if !attrs.is_empty() && !attrs.starts_with(char::is_whitespace) {
        return None;
    }
    let attrs = attrs.replacen(" version=", " feedwatch-version=", 1);
    Some(format!(
        "{}<rss version=\"2.0\"{attrs}{}",
        &text[..at],
        &text[end..]
    ))
}

fn looks_like_html(text: &str, content_type: Option<&str>) -> bool {
    if content_type.is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("text/html")) {
        return true;
    }
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.get(..text.len().min(16384))?.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = lower[start..].find('>')? + start + 1;
    let end = lower[open_end..].find("</title")? + open_end;
    let title = html_to_text(text.get(open_end..end)?);
    (!title.is_empty()).then(|| title.chars().take(80).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://outlet.example/rss/news").unwrap()
    }

    #[test]
    fn entries_without_guid_get_no_invented_id() {
        let doc = r#"<rss version="2.0"><channel><title>t</title>
            <item><title>One</title><link>/a/1</link></item>
            <item><title>Two</title><guid>  g-2 </guid></item>
        </channel></rss>"#;
        let f = parse(doc, &base(), None).unwrap();
        assert_eq!(f.items[0].guid, None);
        assert_eq!(
            f.items[0].link.as_deref(),
            Some("https://outlet.example/a/1")
        );
        assert_eq!(f.items[1].guid.as_deref(), Some("g-2"));
        assert_eq!(f.items[1].link, None);
    }

    #[test]
    fn text_fields_are_plain_text() {
        let doc = r#"<rss version="2.0"><channel><title>t</title><item><title>A &amp;amp; B</title>
            <description><![CDATA[<p>Leaders of the <u>CIS</u></p><p>met</p>]]></description>
            <category>News</category></item></channel></rss>"#;
        let f = parse(doc, &base(), None).unwrap();
        assert_eq!(f.items[0].title, "A & B");
        assert_eq!(f.items[0].summary, "Leaders of the CIS met");
        assert_eq!(f.items[0].categories, ["News"]);
    }

    /// Each text is kept as the outlet wrote it and as normalised; extension texts are
    /// matched as content (a description repeated in media objects once) but stay out of
    /// the normalised content that keys and digests are made of.
    #[test]
    fn text_is_kept_as_shown_and_as_normalised() {
        let doc = r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:yandex="http://news.yandex.ru">
            <channel><title>t</title><item><title>ОДКБ проведёт учения</title>
            <description>«всё&#160;готово»</description>
            <media:content url="https://x/1.jpg"><media:description>Фото: учения</media:description></media:content>
            <media:content url="https://x/2.jpg"><media:description>Фото: учения</media:description></media:content>
            <yandex:full-text>Всё готово.</yandex:full-text><category>Учёба</category></item></channel></rss>"#;
        let it = parse(doc, &base(), None).unwrap().items.remove(0);
        assert_eq!(
            (it.title.as_str(), it.shown_title()),
            ("ОДКБ проведет учения", "ОДКБ проведёт учения")
        );
        assert_eq!(
            (it.summary.as_str(), it.shown_summary()),
            ("«все готово»", "«всё готово»")
        );
        assert_eq!(it.content, "");
        assert_eq!(it.extra, "Фото: учения ¶ Все готово.");
        assert_eq!(it.matched_content(), it.extra);
        assert_eq!(it.shown_content(), "Фото: учения ¶ Всё готово.");
        assert_eq!(
            (&it.categories[..], it.shown_categories()),
            (&["Учеба".to_string()][..], &["Учёба".to_string()][..])
        );
    }

    /// feed-rs 3.0 panics on an author whose e-mail address touches a multi-byte character,
    /// and on a Media RSS time of 20 digits; feedwatch reads neither, so the document is
    /// read again without them and its items are kept.
    #[test]
    fn what_feed_rs_panics_on_and_feedwatch_never_reads_is_left_out() {
        let docs = [
            r#"<rss version="2.0"><channel><title>t</title><item><title>ОДКБ: учения</title>
            <author>«ivan@outlet.example» Иван Петров</author><guid>g-1</guid></item></channel></rss>"#,
            r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title>
            <item><title>ОДКБ: учения</title><guid>g-1</guid>
            <media:thumbnail url="https://outlet.example/1.jpg" time="99999999999999999999:00:00"/></item></channel></rss>"#,
        ];
        for doc in docs {
            assert!(
                matches!(
                    crate::dialect::without_unread(doc)
                        .as_deref()
                        .map(|t| parse_with_feed_rs(t, &base(), None)),
                    Some(Ok(_))
                ),
                "{doc}"
            );
            let f = parse(doc, &base(), None).unwrap_or_else(|e| panic!("{e}: {doc}"));
            assert_eq!(f.items.len(), 1);
            assert_eq!(f.items[0].title, "ОДКБ: учения");
            assert_eq!(f.items[0].guid.as_deref(), Some("g-1"));
        }
    }

    #[test]
    fn html_pages_are_named_as_such() {
        let doc = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>x</body></html>";
        let e = parse(doc, &base(), Some("text/html; charset=utf-8")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the server sent an HTML page, not a feed (titled \"Just a moment...\")"
        );
    }

    #[test]
    fn empty_and_garbage_bodies_are_errors() {
        assert!(matches!(
            parse("  \n", &base(), None),
            Err(ParseError::Empty)
        ));
        assert!(matches!(
            parse("hello", &base(), None),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn rss_without_a_known_version_is_read_as_rss_2() {
        for root in [
            "<rss>",
            "<rss version=\"0.94\">",
            "<rss xmlns:a=\"x\" version='2.01'>",
        ] {
            let doc = format!(
                "<?xml version=\"1.0\"?><!-- c -->{root}<channel><item><title>CIS</title></item></channel></rss>"
            );
            let f = parse(&doc, &base(), None).unwrap();
            assert_eq!(f.items[0].title, "CIS", "{root}");
        }
        assert!(matches!(
            parse("<foo/>", &base(), None),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn read_cuts_the_document_to_max_items_before_parsing() {
        let mut doc = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title>",
        );
        for i in 0..10 {
            doc.push_str(&format!("<item><title>{i}</title></item>"));
        }
        doc.push_str("</channel></rss>");
        let f = read(doc.clone().into_bytes(), &base(), None, 3).unwrap();
        let titles: Vec<&str> = f.items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!((titles, f.items_in_document), (vec!["0", "1", "2"], 10));
        let f = read(doc.into_bytes(), &base(), None, 10).unwrap();
        assert_eq!((f.items.len(), f.items_in_document), (10, 10));
    }

    #[test]
    fn json_feed() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[
            {"id":"1","url":"https://outlet.example/1","title":"ОДКБ","content_html":"<p>x</p>"}]}"#;
        let f = parse(doc, &base(), Some("application/feed+json")).unwrap();
        assert_eq!(f.items[0].guid.as_deref(), Some("1"));
        assert_eq!(f.items[0].title, "ОДКБ");
    }
}
