//! Well-formed documents in dialects feed-rs does not read, rewritten as the one it does:
//! Atom 0.3 (`xmlns="http://purl.org/atom/ns#"`, still served by old blog engines) as Atom
//! 1.0, and Atom text constructs (`title`, `summary`, ...) whose `type` is a MIME type
//! (`text/html`, `application/xhtml+xml`, as Atom 0.3 wrote them) as Atom 1.0's `html`,
//! `xhtml` or `text`, and `<item>` in an Atom feed without `<entry>` as `<entry>`. feed-rs
//! yields no entries for the first and the third, and rejects the second. RSS 1.0 items with
//! no `<link>` get their `rdf:about` as their link (feed-rs drops an item without a link).
//! [`crate::parse::parse`] tries this only when a `<feed>` document gave no entries or failed.
//! When feed-rs panics, the document is read again without the elements it panicked on
//! that feedwatch never reads ([`without_unread`]).

use std::fmt::Write as _;

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";

/// `text` rewritten as Atom 1.0; `None` when it is no Atom document or needs no rewrite.
pub fn atom_as_10(text: &str) -> Option<String> {
    let head = text.get(..text.len().min(4096)).unwrap_or(text);
    if !head.contains("<feed") && !head.contains(":feed") {
        return None;
    }
    let atom_03 = text.contains(ATOM_03);
    // `<item>` where Atom has `<entry>` (feedparser reads them)
    let items_as_entries = !text.contains("<entry") && !text.contains(":entry");
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut at = 0;
    while let Some(i) = text[at..].find('<') {
        let start = at + i;
        out.push_str(&text[at..start]);
        let tail = &text[start..];
        let skip = [
            ("<!--", "-->"),
            ("<![CDATA[", "]]>"),
            ("<?", "?>"),
            ("<!", ">"),
        ]
        .iter()
        .find(|(open, _)| tail.starts_with(open))
        .map(|(_, close)| tail.find(close).map_or(tail.len(), |e| e + close.len()));
        let Some(end) = skip.or_else(|| tail.find('>').map(|e| e + 1)) else {
            out.push_str(tail);
            at = text.len();
            break;
        };
        at = start + end;
        let tag = &tail[..end];
        if skip.is_some() {
            out.push_str(tag);
            continue;
        }
        let closing = tag.starts_with("</");
        let name_start = if closing { 2 } else { 1 };
        let name_len = tag[name_start..]
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(tag.len() - name_start);
        let name = &tag[name_start..name_start + name_len];
        let (prefix, local) = match name.rsplit_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        let renamed = match local {
            "issued" if atom_03 => "published",
            "modified" if atom_03 => "updated",
            "tagline" if atom_03 => "subtitle",
            "copyright" if atom_03 => "rights",
            "item" if items_as_entries => "entry",
            other => other,
        };
        let mut rest = tag[name_start + name_len..].to_string();
        if !closing
            && is_text_construct(renamed)
            && let Some(fixed) = text_type(&rest, renamed == "content")
        {
            rest = fixed;
            changed = true;
        }
        changed |= renamed != local;
        out.push_str(&tag[..name_start]);
        if let Some(p) = prefix {
            let _ = write!(out, "{p}:");
        }
        out.push_str(renamed);
        out.push_str(&rest);
    }
    out.push_str(&text[at..]);
    if atom_03 {
        out = out.replace(ATOM_03, ATOM_10);
        changed = true;
    }
    changed.then_some(out)
}

/// An RSS 1.0 document whose `<item rdf:about="...">` elements lack a `<link>`, with that
/// URI as their link; `None` when it has no such item.
pub fn rdf_item_links(text: &str) -> Option<String> {
    if !text.contains("RDF") {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    let mut changed = false;
    while let Some(i) = text[at..].find("<item") {
        let start = at + i;
        let Some(tag_end) = text[start..].find('>').map(|e| start + e + 1) else {
            break;
        };
        out.push_str(&text[at..tag_end]);
        at = tag_end;
        let tag = &text[start..tag_end];
        if !tag[5..].starts_with(char::is_whitespace) || tag.ends_with("/>") {
            continue;
        }
        let body_end = text[tag_end..]
            .find("</item")
            .map_or(text.len(), |e| tag_end + e);
        if text[tag_end..body_end].contains("<link") {
            continue;
        }
        if let Some((_, about)) = attr(tag, "rdf:about") {
            let _ = write!(out, "<link>{about}</link>");
            changed = true;
        }
    }
    out.push_str(&text[at..]);
    changed.then_some(out)
}

/// Elements whose text feed-rs reads into people (an author, an editor) and `parse` never
/// uses: feed-rs 3.0 slices such a text around an e-mail address at byte offsets, and
/// panics when a multi-byte character touches the address (`«ivan@outlet.ru» Иван`).
const PEOPLE: [&str; 5] = [
    "author",
    "managingEditor",
    "webMaster",
    "creator",
    "contributor",
];
/// Media RSS elements with times feed-rs parses with `unwrap` (a `time` of 20 digits
/// panics it) and `parse` never uses: a thumbnail, a transcript's text.
const TIMED_MEDIA: [&str; 2] = ["thumbnail", "text"];

/// `text` without what feed-rs may panic on and [`crate::parse`] never reads: the contents
/// of people elements (`author`, `managingEditor`, `webMaster`, `creator`, `contributor`,
/// in any namespace) and prefixed `thumbnail` and `text` elements (Media RSS). Every other
/// byte is kept. `None` when there is nothing to remove or the document is not well-formed
/// enough to tell.
pub fn without_unread(text: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    // (position where the cut starts, depth at which it ends, keep the end tag?)
    let mut cut: Option<(usize, usize, bool)> = None;
    let (mut out, mut kept_to, mut depth) = (String::with_capacity(text.len()), 0, 0usize);
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().ok()?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => {
                depth += 1;
                if cut.is_none() {
                    match named(e.name()) {
                        (true, _) => cut = Some((after, depth, true)),
                        (_, true) => cut = Some((before, depth, false)),
                        _ => {}
                    }
                }
            }
            Event::Empty(e) if cut.is_none() && named(e.name()).1 => {
                out.push_str(&text[kept_to..before]);
                kept_to = after;
            }
            Event::End(_) => {
                if let Some((from, at, keep_end)) = cut
                    && at == depth
                {
                    out.push_str(&text[kept_to..from]);
                    kept_to = if keep_end { before } else { after };
                    cut = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if kept_to == 0 {
        return None; // nothing was cut
    }
    out.push_str(&text[kept_to..]);
    (out.len() != text.len()).then_some(out)
}

/// Whether an element is a person ([`without_unread`] empties it) and whether it is timed
/// media (dropped whole).
fn named(name: quick_xml::name::QName) -> (bool, bool) {
    let local = name.local_name().into_inner();
    (
        PEOPLE.contains(&local),
        name.prefix().is_some() && TIMED_MEDIA.contains(&local),
    )
}

fn is_text_construct(local: &str) -> bool {
    matches!(
        local,
        "title" | "subtitle" | "summary" | "content" | "rights"
    )
}

/// The attributes after a text construct's name with its `type` made Atom 1.0's; `None`
/// when they need no change. `content` may keep a MIME
/// type other than the three that have names in 1.0.
fn text_type(attrs: &str, content: bool) -> Option<String> {
    let value = attr(attrs, "type");
    let mapped = match value.as_ref().map(|(_, v)| v.trim().to_ascii_lowercase()) {
        None => return None,
        Some(v) => match v.as_str() {
            "text" | "html" | "xhtml" => return None,
            "text/plain" => "text",
            "text/html" => "html",
            "application/xhtml+xml" => "xhtml",
            _ if content && !v.is_empty() => return None,
            _ => "text",
        },
    };
    let (range, _) = value?;
    Some(format!(
        "{}{mapped}{}",
        &attrs[..range.start],
        &attrs[range.end..]
    ))
}

/// The byte range and value of attribute `name`'s value in `attrs`.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<(std::ops::Range<usize>, &'a str)> {
    let mut at = 0;
    while let Some(i) = attrs[at..].find(name) {
        let start = at + i;
        at = start + name.len();
        if !attrs[..start].ends_with(char::is_whitespace) {
            continue;
        }
        let after = attrs[at..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let q = after.chars().next().filter(|c| matches!(c, '"' | '\''))?;
        let value_start = attrs.len() - after.len() + 1;
        let value_end = value_start + attrs[value_start..].find(q)?;
        return Some((value_start..value_end, &attrs[value_start..value_end]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_elements_are_left_out_and_every_other_byte_kept() {
        let doc = r#"<rss xmlns:media="http://search.yahoo.com/mrss/"><channel><managingEditor>a@b.c (Ed)</managingEditor>
<item><title>«x»</title><author>«ivan@outlet.example» Иван</author><media:thumbnail url="u" time="1"/>
<media:text start="00:01">words <b>bold</b></media:text><dc:creator><![CDATA[Иван]]></dc:creator><author/></item></channel></rss>"#;
        assert_eq!(
            without_unread(doc).unwrap(),
            r#"<rss xmlns:media="http://search.yahoo.com/mrss/"><channel><managingEditor></managingEditor>
<item><title>«x»</title><author></author>
<dc:creator></dc:creator><author/></item></channel></rss>"#
        );
        let clean = "<rss><channel><item><title>x</title><author/></item></channel></rss>";
        assert_eq!(without_unread(clean), None);
        assert_eq!(without_unread("<rss><channel><author>x</rss>"), None);
    }

    #[test]
    fn atom_03_is_rewritten_as_atom_10() {
        let doc = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><tagline>t</tagline><entry>
<title type="text/html" mode="escaped">&lt;b&gt;x&lt;/b&gt;</title><issued>2004-01-01T00:00:00Z</issued>
<content type="application/xhtml+xml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml">y</div></content></entry></feed>"#;
        assert_eq!(
            atom_as_10(doc).unwrap(),
            r#"<feed version="0.3" xmlns="http://www.w3.org/2005/Atom"><subtitle>t</subtitle><entry>
<title type="html" mode="escaped">&lt;b&gt;x&lt;/b&gt;</title><published>2004-01-01T00:00:00Z</published>
<content type="xhtml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml">y</div></content></entry></feed>"#
        );
    }

    #[test]
    fn atom_10_with_mime_typed_titles_gets_named_types() {
        let doc = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="application/octet-stream">x</title><summary type="">y</summary><content type="image/png" src="a.png"/></entry></feed>"#;
        assert_eq!(
            atom_as_10(doc).unwrap(),
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="text">x</title><summary type="text">y</summary><content type="image/png" src="a.png"/></entry></feed>"#
        );
        let fine = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title type="html">x</title></entry></feed>"#;
        assert_eq!(atom_as_10(fine), None);
        assert_eq!(atom_as_10("<rss><channel/></rss>"), None);
        let items =
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><item><title>x</title></item></feed>"#;
        assert_eq!(
            atom_as_10(items).unwrap(),
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title></entry></feed>"#
        );
    }

    #[test]
    fn rdf_items_without_a_link_get_their_about_uri() {
        let doc = r#"<rdf:RDF><item rdf:about="http://x/1"><title>a</title></item><item rdf:about="http://x/2"><link>http://x/2b</link></item><items/></rdf:RDF>"#;
        assert_eq!(
            rdf_item_links(doc).unwrap(),
            r#"<rdf:RDF><item rdf:about="http://x/1"><link>http://x/1</link><title>a</title></item><item rdf:about="http://x/2"><link>http://x/2b</link></item><items/></rdf:RDF>"#
        );
        assert_eq!(
            rdf_item_links("<rdf:RDF><item><title>a</title></item></rdf:RDF>"),
            None
        );
    }
}
