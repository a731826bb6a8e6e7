//! Well-formed documents in dialects feed-rs does not read, rewritten as the one it does:
//! Atom 0.3 (`xmlns="http://purl.org/atom/ns#"`, still served by old blog engines) as Atom
//! 1.0, and Atom text constructs (`title`, `summary`, ...) whose `type` is a MIME type
//! (`text/html`, `application/xhtml+xml`, as Atom 0.3 wrote them) as Atom 1.0's `html`,
//! `xhtml` or `text`, and `<item>` in an Atom feed without `<entry>` as `<entry>`. feed-rs
//! yields no entries for the first and the third, and rejects the second. RSS 1.0 items with
//! no `<link>` get their `rdf:about` as their link (feed-rs drops an item without a link).
//! [`crate::parse::parse`] tries this only when a `<feed>` document gave no entries or failed.

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
