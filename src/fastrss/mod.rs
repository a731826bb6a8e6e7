//! A fast path for plain RSS 2.0: one pass of quick-xml over the document that yields the
//! same entries feed-rs 3.0 yields, or declines.
//!
//! feed-rs builds an element tree, a model object per element and a `String` per text
//! node; on a changed document of a running service that is most of the parse step. This
//! module reads the documents most outlets send, `<rss version="2.0">` with one `<channel>`
//! of `<item>`s made of a small vocabulary, straight into [`Entry`], the fields
//! [`crate::parse`] reads, one `String` per field. It returns `None` (decline: the caller
//! runs feed-rs as before) for anything it does not understand completely:
//!
//! - a root other than an unprefixed `<rss>` with `version="2.0"` or `""`, no channel, a
//!   second channel, a channel with no items (feed-rs's empty result makes [`crate::parse`]
//!   try its dialect rewrites);
//! - an item child other than `title`, `link`, `guid`, `description`, `pubDate`,
//!   `category`, `author`, `comments`, `content:encoded`, `dc:creator` (namespaces checked
//!   by URI, not prefix), an empty `enclosure`, `media:content`, `media:thumbnail`, or an
//!   element in a namespace feed-rs does not know (skipped, as feed-rs skips it:
//!   `yandex:full-text`, `slash:comments`...); an element inside any of those fields;
//! - an `author`, `dc:creator`, `managingEditor` or `webMaster` with an `@` and non-ASCII
//!   text (feed-rs's e-mail split can panic on it), a `media:thumbnail` with a `time`;
//! - a channel child in the iTunes or Podcast namespace (feed-rs may fail on them), any
//!   element bound to the RSS 1.0 namespace (feed-rs reads it as RSS), an unbound prefix;
//! - any `xml:base` attribute, a DOCTYPE, an entity other than XML's five, a declaration
//!   naming an encoding other than UTF-8, text outside the root, more than 4 KiB before the
//!   first `<` (feed-rs looks in its first 8 KiB), any XML error anywhere.
//!
//! What it accepts it reads as feed-rs does: text is the raw text, CDATA and resolved
//! references up to the element's end (comments skipped), trimmed where feed-rs trims
//! (title, description, guid, category; not `content:encoded`, which is dropped when
//! empty); a later `title`, `description`, `content:encoded` or `pubDate` replaces an
//! earlier one even when empty; links are resolved as feed-rs's `Link::new` does, comment
//! links equal to another link dropped; dates by feed-rs's lenient parser ([`parse_timestamp_lenient`]).
//! `parse::parse_with_feed_rs` is the oracle: tests/it/fastrss.rs and `examples/corpus.rs`
//! check that both paths give the same items for every document this one accepts.

mod date;

pub use date::parse_timestamp_lenient;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use url::Url;

/// One feed entry, as [`crate::parse`] reads it: filled from feed-rs's model
/// ([`Entry::from_feed_rs`]) or by this module.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Entry {
    /// The entry's id (an RSS guid), empty when it has none.
    pub id: String,
    /// The href of the entry's first alternate link (feed-rs's model: resolved, trimmed).
    pub link: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    /// Media descriptions.
    pub media: Vec<String>,
    /// Category labels, else terms.
    pub categories: Vec<String>,
    /// Published, else updated.
    pub published: Option<DateTime<Utc>>,
}

impl Entry {
    /// What [`crate::parse`] reads of a feed-rs entry.
    pub fn from_feed_rs(e: feed_rs::model::Entry) -> Entry {
        let mut links = e.links;
        let at = links
            .iter()
            .position(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or((!links.is_empty()).then_some(0));
        Entry {
            id: e.id,
            link: at.map(|i| links.swap_remove(i).href),
            title: e.title.map(|t| t.content),
            summary: e.summary.map(|t| t.content),
            content: e.content.and_then(|c| c.body),
            media: e
                .media
                .into_iter()
                .filter_map(|m| m.description.map(|d| d.content))
                .collect(),
            categories: e
                .categories
                .into_iter()
                .map(|c| c.label.unwrap_or(c.term))
                .collect(),
            published: e.published.or(e.updated),
        }
    }
}

/// What the fast path read from a document.
#[derive(Debug)]
pub struct Doc {
    pub entries: Vec<Entry>,
    /// The channel's `<ttl>`, as feed-rs reads it.
    pub ttl: Option<u32>,
}

const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const MEDIA: &str = "http://search.yahoo.com/mrss/";
/// The other namespaces feed-rs reads: an item child in one of them declines (Atom's
/// `updated` is a date, `wfw:commentRss` a link).
const KNOWN_NS: [&str; 2] = [
    "http://www.w3.org/2005/Atom",
    "http://wellformedweb.org/CommentAPI/",
];
/// Namespaces feed-rs reads at channel level and may fail on; RSS 1.0's, which feed-rs
/// reads as RSS; the two reserved ones (last), which quick-xml refuses to bind to another
/// prefix (an error that fails feed-rs).
const DECLINED_NS: [&str; 5] = [
    "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "https://podcastindex.org/namespace/1.0",
    "http://purl.org/rss/1.0/",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
];
/// More prefixes in scope than this, or elements nested deeper: declined (well within
/// quick-xml's own limits, 128 and 65,535, which fail feed-rs).
const MAX_BINDINGS: usize = 32;
const MAX_DEPTH: u32 = 1000;

/// An element's namespace, as far as the fast path tells them apart.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ns {
    /// No prefix (and no default namespace: declaring one declines the document).
    None,
    Content,
    Dc,
    Media,
    /// Atom, Well-Formed Web.
    Known,
    /// A namespace feed-rs does not read: its elements are skipped, as feed-rs skips them.
    Other,
}

/// An element whose text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Title,
    Link,
    Guid,
    Description,
    PubDate,
    Category,
    Comments,
    Encoded,
    /// `author`, `dc:creator`, the channel's `managingEditor` and `webMaster`: read by
    /// feed-rs into nothing [`crate::parse`] uses, but read (feed-rs's e-mail split slices
    /// the text at byte offsets: a non-ASCII text with an `@` may panic it, so declines).
    Person,
    /// `enclosure`, `media:content`, `media:thumbnail`: no text allowed.
    Empty,
    Ttl,
}

/// An entry being read, with its links in document order (href, is a comments link).
#[derive(Default)]
struct Building {
    entry: Entry,
    links: Vec<(String, bool)>,
}

/// Reads `text` if it is plain RSS 2.0 as described in the module docs, else `None`.
/// `base` is the feed's URL (what feed-rs is given as its base URI).
pub fn parse(text: &str, base: &Url) -> Option<Doc> {
    // feed-rs's reader drops a UTF-8 byte-order mark
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // and takes NUL bytes among the first four for UTF-16 or UTF-32; feed-rs looks for the
    // first `<` in its first buffer (8 KiB) only
    let start = text.trim_start();
    if !start.starts_with('<')
        || text.len() - start.len() > 4096
        || text.bytes().take(4).any(|b| b == 0)
    {
        return None;
    }
    // namespaces are resolved here, as far as needed: quick-xml's resolver costs as much
    // again as its tokeniser
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_markup_names_in_closing_tags = true;
    let mut st = State {
        base,
        bindings: Vec::new(),
        depth: 0,
        skip_from: u32::MAX,
        root_seen: false,
        channel_seen: false,
        first_event: true,
        item: None,
        field: None,
        acc: None,
        doc: Doc {
            entries: Vec::new(),
            ttl: None,
        },
    };
    loop {
        let event = reader.read_event().ok()?;
        let first = std::mem::replace(&mut st.first_event, false);
        match event {
            Event::Start(e) => st.open(&e)?,
            Event::Empty(e) => {
                st.open(&e)?;
                st.close()?;
            }
            Event::End(_) => st.close()?,
            Event::Text(t) => st.text(t.into_inner())?,
            Event::CData(t) => st.text(t.into_inner())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().ok()? {
                    Some(c) => Cow::Owned(c.to_string()),
                    None => Cow::Borrowed(quick_xml::escape::resolve_xml_entity(&r)?),
                };
                st.text(resolved)?;
            }
            Event::Decl(d) => {
                // feed-rs's reader switches to a declared encoding: this text is UTF-8
                if !first || d.encoder().is_some_and(|e| e != encoding_rs::UTF_8) {
                    return None;
                }
            }
            Event::DocType(_) => return None,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    (st.channel_seen && !st.doc.entries.is_empty()).then_some(st.doc)
}

struct State<'i, 'b> {
    base: &'b Url,
    /// Namespace prefixes in scope: the depth of the element declaring each, prefix, URI.
    bindings: Vec<(u32, String, String)>,
    /// Open elements.
    depth: u32,
    /// The depth of a skipped element's children: everything at or below is skipped.
    skip_from: u32,
    root_seen: bool,
    channel_seen: bool,
    first_event: bool,
    item: Option<Building>,
    /// The element (an item child or the channel's `ttl`) whose text is read, and the
    /// depth of its text.
    field: Option<(Field, u32)>,
    /// Its text so far: `None` until a non-empty piece (feed-rs's "no text").
    acc: Option<Cow<'i, str>>,
    doc: Doc,
}

impl<'i> State<'i, '_> {
    /// An element opens at `self.depth`; `None` declines the document.
    fn open(&mut self, e: &BytesStart) -> Option<()> {
        let mut version = None;
        let mut timed = false;
        for a in e.attributes() {
            let a = a.ok()?;
            let key = a.key.0;
            if key == "xml:base" {
                return None;
            } else if let Some(rest) = key.strip_prefix("xmlns") {
                // only `xmlns:p="uri"` binding an ordinary prefix to a plain URI
                let prefix = rest.strip_prefix(':')?;
                let uri = &*a.value;
                if prefix.is_empty()
                    || prefix.contains(':')
                    || matches!(prefix, "xml" | "xmlns")
                    || uri.is_empty()
                    || uri.contains('&')
                    || DECLINED_NS[3..].contains(&uri)
                    || self.bindings.len() >= MAX_BINDINGS
                {
                    return None;
                }
                self.bindings
                    .push((self.depth, prefix.to_owned(), uri.to_owned()));
            } else if key == "version" && self.depth == 0 {
                version = Some(a.value);
            } else if key == "time" {
                timed = true;
            }
        }
        let name = e.name().0;
        let ns = match name.split_once(':') {
            None => Ns::None,
            Some((prefix, local)) => {
                if local.contains(':') {
                    return None;
                }
                let (_, _, uri) = self.bindings.iter().rev().find(|b| b.1 == prefix)?;
                match uri.as_str() {
                    CONTENT => Ns::Content,
                    DC => Ns::Dc,
                    MEDIA => Ns::Media,
                    u if DECLINED_NS.contains(&u) => return None,
                    u if KNOWN_NS.contains(&u) => Ns::Known,
                    _ => Ns::Other,
                }
            }
        };
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let depth = self.depth;
        self.depth += 1;
        if depth >= self.skip_from {
            return Some(());
        }
        if self.field.is_some() {
            return None; // an element inside a field
        }
        match depth {
            0 => {
                if self.root_seen || name != "rss" {
                    return None;
                }
                self.root_seen = true;
                if !matches!(version.as_deref(), Some("2.0" | "")) {
                    return None;
                }
            }
            1 => {
                if name.rsplit(':').next() == Some("channel") {
                    if self.channel_seen || name != "channel" {
                        return None;
                    }
                    self.channel_seen = true;
                } else {
                    self.skip_from = self.depth;
                }
            }
            2 => match name {
                "item" => self.item = Some(Building::default()),
                "ttl" => {
                    self.field = Some((Field::Ttl, self.depth));
                    self.acc = None;
                }
                "managingEditor" | "webMaster" => {
                    self.field = Some((Field::Person, self.depth));
                    self.acc = None;
                }
                _ => self.skip_from = self.depth,
            },
            3 => {
                self.item.as_ref()?;
                let local = name.split_once(':').map_or(name, |(_, l)| l);
                let field = match (ns, local) {
                    (Ns::None, "title") => Field::Title,
                    (Ns::None, "link") => Field::Link,
                    (Ns::None, "guid") => Field::Guid,
                    (Ns::None, "description") => Field::Description,
                    (Ns::None, "pubDate") => Field::PubDate,
                    (Ns::None, "category") => Field::Category,
                    (Ns::None, "comments") => Field::Comments,
                    (Ns::None, "author") => Field::Person,
                    (Ns::None, "enclosure") => Field::Empty,
                    (Ns::Content, "encoded") => Field::Encoded,
                    (Ns::Dc, "creator") => Field::Person,
                    // a thumbnail's `time` goes through unwraps in feed-rs
                    (Ns::Media, "thumbnail") if !timed => Field::Empty,
                    (Ns::Media, "content") => Field::Empty,
                    // feed-rs skips them (their text may still be an extension's,
                    // crate::extension reads it from the document on either path)
                    (Ns::Other, _) => {
                        self.skip_from = self.depth;
                        return Some(());
                    }
                    _ => return None,
                };
                self.field = Some((field, self.depth));
                self.acc = None;
            }
            _ => return None,
        }
        Some(())
    }

    /// The element open at `self.depth - 1` closes.
    fn close(&mut self) -> Option<()> {
        self.depth = self.depth.checked_sub(1)?;
        while self.bindings.last().is_some_and(|b| b.0 >= self.depth) {
            self.bindings.pop();
        }
        if self.depth + 1 >= self.skip_from {
            // a skipped element's descendant, or the skipped element itself
            if self.depth + 1 == self.skip_from {
                self.skip_from = u32::MAX;
            }
            return Some(());
        }
        match self.depth {
            _ if self.field.is_some_and(|(_, d)| d == self.depth + 1) => self.end_field()?,
            2 if self.item.is_some() => {
                let b = self.item.take()?;
                self.doc.entries.push(finish_entry(b));
            }
            _ => {}
        }
        Some(())
    }

    /// Text, CDATA or a resolved reference.
    fn text(&mut self, piece: Cow<'i, str>) -> Option<()> {
        if self.depth == 0 {
            // outside the root: only white space
            return piece.trim().is_empty().then_some(());
        }
        if piece.is_empty() || self.field.is_none_or(|(_, d)| d != self.depth) {
            return Some(());
        }
        self.acc = Some(match self.acc.take() {
            None => piece,
            Some(Cow::Borrowed(b)) => Cow::Owned(b.to_owned() + &piece),
            Some(Cow::Owned(mut s)) => {
                s.push_str(&piece);
                Cow::Owned(s)
            }
        });
        Some(())
    }

    fn end_field(&mut self) -> Option<()> {
        let (field, _) = self.field.take()?;
        let text = self.acc.take();
        match field {
            Field::Ttl => {
                if let Some(ttl) = text.and_then(|t| t.parse::<u32>().ok()) {
                    self.doc.ttl = Some(ttl);
                }
                return Some(());
            }
            Field::Person => {
                return text
                    .is_none_or(|t| t.is_ascii() || !t.contains('@'))
                    .then_some(());
            }
            _ => {}
        }
        let b = self.item.as_mut()?;
        let e = &mut b.entry;
        let trimmed = |t: Cow<'_, str>| t.trim().to_owned();
        match field {
            Field::Title => e.title = text.map(trimmed),
            Field::Description => e.summary = text.map(trimmed),
            Field::Encoded => e.content = text.filter(|t| !t.is_empty()).map(Cow::into_owned),
            Field::Guid => {
                if let Some(t) = text {
                    e.id = trimmed(t);
                }
            }
            Field::PubDate => e.published = text.and_then(|t| parse_timestamp_lenient(&t)),
            Field::Category => {
                if let Some(t) = text {
                    e.categories.push(trimmed(t));
                }
            }
            Field::Link | Field::Comments => {
                if let Some(t) = text {
                    b.links
                        .push((link_href(&t, self.base), field == Field::Comments));
                }
            }
            Field::Person | Field::Ttl => {}
            Field::Empty => {
                if text.is_some_and(|t| !t.trim().is_empty()) {
                    return None;
                }
            }
        }
        Some(())
    }
}

/// feed-rs's `Link::new`: `href` parsed, else joined to the base, else as written; trimmed.
fn link_href(href: &str, base: &Url) -> String {
    let resolved = match Url::parse(href) {
        Ok(url) => String::from(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => base
            .join(href)
            .map(String::from)
            .unwrap_or_else(|_| href.to_owned()),
        Err(_) => href.to_owned(),
    };
    match resolved.trim() {
        t if t.len() == resolved.len() => resolved,
        t => t.to_owned(),
    }
}

/// An entry at its item's end: its first link, comments links equal to another link
/// dropped first (feed-rs's `clean_links`).
fn finish_entry(b: Building) -> Entry {
    let Building {
        mut entry,
        mut links,
    } = b;
    let kept = |(href, comments): &(String, bool)| {
        !*comments || !links.iter().any(|(h, c)| !c && h == href)
    };
    entry.link = links.iter().position(kept).map(|i| links.swap_remove(i).0);
    entry
}
