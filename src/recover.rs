//! The repair pass for ill-formed feed documents, tried only when the strict parse fails or
//! finds no items in a document that has `<item>`/`<entry>` elements ([`crate::parse::read`]),
//! so a well-formed feed is never touched.
//!
//! Outlets publish XML that a strict parser rejects and that lenient readers (Python's
//! feedparser, browsers) read anyway. One pass over the text fixes what they forgive:
//! - a bare `&` (`?a=1&b=2`, "AT&T") is escaped; an HTML named entity (`&nbsp;`, `&mdash;`,
//!   undefined in XML without a DTD) becomes its character; an unknown one (`&nosuch;`) is
//!   kept as text, as feedparser keeps it; a numeric reference to a character XML forbids is
//!   dropped;
//! - C0 control characters (other than tab, newline, carriage return) are dropped;
//! - bytes before the first tag are dropped;
//! - a `<` that starts no tag is escaped;
//! - a truncated document is closed: an unterminated CDATA section or comment is closed, a
//!   cut-off tag dropped, and elements left open are closed in order; an end tag that closes
//!   nothing open is dropped, one that closes an outer element closes the inner ones first;
//! - a default namespace on `<rss>`, `<channel>` or `<item>` (Yandex-style feeds declare
//!   `xmlns="http://backend.userland.com/rss2"`) is removed, and so is a prefix on every RSS
//!   element (`<r:rss>`, `<r:item>`), so the elements are plain RSS.
//!
//! A tag whose name is not an XML name (control characters, brackets: garbage, not a slip
//! that lenient readers forgive) makes the document unrepairable, and its strict error
//! stands. What was repaired is said in words ([`Repaired::fixes`]) for the feed's health.

use std::fmt::Write as _;

/// A repaired document and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub text: String,
    /// What was repaired, one short phrase each ("escaped 2 bare '&'").
    pub fixes: Vec<String>,
}

/// How many `<item>` and `<entry>` start tags (any namespace prefix) the document has,
/// outside comments and CDATA sections.
pub fn item_elements(text: &str) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = text[at..].find('<') {
        let start = at + i;
        let tail = &text[start..];
        if tail.starts_with("<!--") {
            at = start + tail.find("-->").map_or(tail.len(), |e| e + 3);
            continue;
        }
        if tail.starts_with("<![CDATA[") {
            at = start + tail.find("]]>").map_or(tail.len(), |e| e + 3);
            continue;
        }
        let name = tag_name(&tail[1..]);
        let local = name.rsplit(':').next().unwrap_or(name);
        if matches!(local, "item" | "entry") {
            n += 1;
        }
        at = start + 1;
    }
    n
}

/// Repairs `text` (see the module's doc). `None` when there is nothing to repair.
pub fn repair(text: &str) -> Option<Repaired> {
    let mut fix = Fixes::default();
    let mut out = String::with_capacity(text.len() + 64);
    let start = text.find('<')?;
    if !text[..start].trim().is_empty() {
        fix.dropped_prefix = start;
    }
    let root = root_name(text).unwrap_or_default();
    // `<r:rss xmlns:r="http://backend.userland.com/rss2">`: RSS with every element prefixed
    let rss_prefix = root
        .strip_suffix(":rss")
        .filter(|p| !p.is_empty() && !p.contains(':'))
        .map(|p| format!("{p}:"));
    let rss_root = root == "rss" || rss_prefix.is_some();
    let plain = |name: &'_ str| -> usize {
        match &rss_prefix {
            Some(p) if name.starts_with(p.as_str()) => p.len(),
            _ => 0,
        }
    };
    let mut open: Vec<&str> = Vec::new();
    let mut at = start;
    while at < text.len() {
        let Some(i) = text[at..].find('<') else {
            text_run(&text[at..], &mut out, &mut fix);
            break;
        };
        text_run(&text[at..at + i], &mut out, &mut fix);
        at += i;
        let tail = &text[at..];
        if tail.starts_with("<!--") {
            match tail.find("-->") {
                Some(e) => {
                    out.push_str(&tail[..e + 3]);
                    at += e + 3;
                }
                None => {
                    out.push_str(tail);
                    out.push_str("-->");
                    fix.closed_comment = true;
                    at = text.len();
                }
            }
        } else if tail.starts_with("<![CDATA[") {
            match tail.find("]]>") {
                Some(e) => {
                    out.push_str(&tail[..e + 3]);
                    at += e + 3;
                }
                None => {
                    out.push_str(tail);
                    out.push_str("]]>");
                    fix.closed_cdata = true;
                    at = text.len();
                }
            }
        } else if tail.starts_with("<?") {
            match tail.find("?>") {
                Some(e) => {
                    out.push_str(&tail[..e + 2]);
                    at += e + 2;
                }
                None => {
                    fix.cut_tag = true;
                    at = text.len();
                }
            }
        } else if tail.starts_with("<!") {
            match declaration_end(tail) {
                Some(e) => {
                    out.push_str(&tail[..e]);
                    at += e;
                }
                None => {
                    fix.cut_tag = true;
                    at = text.len();
                }
            }
        } else if let Some(rest) = tail.strip_prefix("</") {
            let full = tag_name(rest);
            let name = &full[plain(full)..];
            let Some(e) = tail.find('>') else {
                fix.cut_tag = true;
                at = text.len();
                continue;
            };
            if !valid_name(full) || !tail[2 + full.len()..e].trim().is_empty() {
                return None; // garbage in a tag: not a slip any lenient reader forgives
            }
            at += e + 1;
            match open.iter().rposition(|n| *n == name) {
                Some(depth) if !name.is_empty() => {
                    fix.mismatched += open.len() - depth - 1;
                    for inner in open.drain(depth..).rev() {
                        let _ = write!(out, "</{inner}>");
                    }
                }
                _ => fix.stray_end_tags += 1,
            }
        } else {
            let full = tag_name(&tail[1..]);
            let cut = plain(full);
            let name = &full[cut..];
            if full.is_empty() {
                out.push_str("&lt;");
                fix.stray_lt += 1;
                at += 1;
                continue;
            }
            if !valid_name(full) {
                return None;
            }
            let Some(tag) = start_tag(tail, &mut fix) else {
                fix.cut_tag = true;
                at = text.len();
                continue;
            };
            at += tag.len;
            let mut body = tag.text;
            if cut > 0 {
                body = format!("<{}", &body[1 + cut..]);
                fix.prefixed += 1;
            }
            if rss_root
                && matches!(name, "rss" | "channel" | "item")
                && let Some(plain) = without_default_xmlns(&body)
            {
                body = plain;
                fix.default_ns.push(name.to_string());
            }
            out.push_str(&body);
            if !tag.empty {
                open.push(name);
            }
        }
    }
    fix.closed_elements = open.len();
    for name in open.iter().rev() {
        let _ = write!(out, "</{name}>");
    }
    let fixes = fix.words();
    (!fixes.is_empty()).then_some(Repaired { text: out, fixes })
}

/// What the pass changed, counted.
#[derive(Default)]
struct Fixes {
    dropped_prefix: usize,
    bare_amps: usize,
    html_entities: Vec<String>,
    unknown_entities: usize,
    bad_char_refs: usize,
    controls: usize,
    stray_lt: usize,
    closed_cdata: bool,
    closed_comment: bool,
    cut_tag: bool,
    closed_elements: usize,
    mismatched: usize,
    stray_end_tags: usize,
    default_ns: Vec<String>,
    prefixed: usize,
}

impl Fixes {
    fn words(&self) -> Vec<String> {
        let mut w = Vec::new();
        let mut count = |n: usize, what: &str| {
            if n > 0 {
                w.push(format!("{what} ({n})"));
            }
        };
        count(self.bare_amps, "escaped bare '&'");
        count(self.unknown_entities, "kept unknown entities as text");
        count(
            self.bad_char_refs,
            "dropped references to characters XML forbids",
        );
        count(self.controls, "dropped control characters");
        count(self.stray_lt, "escaped a '<' that starts no tag");
        count(self.mismatched, "closed elements at an outer end tag");
        count(self.stray_end_tags, "dropped end tags that close nothing");
        if !self.html_entities.is_empty() {
            let mut names = self.html_entities.clone();
            names.sort();
            names.dedup();
            let shown: Vec<String> = names.iter().take(4).map(|n| format!("&{n};")).collect();
            let more = if names.len() > 4 { ", ..." } else { "" };
            w.push(format!(
                "replaced HTML entities ({}{more}) by their characters ({})",
                shown.join(" "),
                self.html_entities.len()
            ));
        }
        if self.dropped_prefix > 0 {
            w.push(format!(
                "dropped {} bytes before the first tag",
                self.dropped_prefix
            ));
        }
        if !self.default_ns.is_empty() {
            let mut tags = self.default_ns.clone();
            tags.dedup();
            let tags: Vec<String> = tags.iter().map(|t| format!("<{t}>")).collect();
            w.push(format!(
                "removed the default namespace of {} (read as plain RSS)",
                tags.join(", ")
            ));
        }
        if self.prefixed > 0 {
            w.push(format!(
                "removed the namespace prefix of the RSS elements ({})",
                self.prefixed
            ));
        }
        if self.closed_cdata {
            w.push("closed a truncated CDATA section".into());
        }
        if self.closed_comment {
            w.push("closed a truncated comment".into());
        }
        if self.cut_tag {
            w.push("dropped a tag cut off at the end".into());
        }
        if self.closed_elements > 0 {
            w.push(format!(
                "closed {} elements left open at the end",
                self.closed_elements
            ));
        }
        w
    }
}

/// The root element's name, after the prolog.
fn root_name(text: &str) -> Option<&str> {
    let mut at = 0;
    loop {
        at += text[at..].find('<')?;
        let tail = &text[at..];
        if tail.starts_with("<!--") {
            at += tail.find("-->")? + 3;
        } else if tail.starts_with("<?") || tail.starts_with("<!") {
            at += tail.find('>')? + 1;
        } else {
            return Some(tag_name(&tail[1..]));
        }
    }
}

/// The element name at the start of `s` (after `<` or `</`); empty when `s` starts no name.
fn tag_name(s: &str) -> &str {
    let first = s.chars().next();
    if !first.is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':') {
        return "";
    }
    let end = s
        .find(|c: char| c.is_whitespace() || matches!(c, '/' | '>' | '<' | '&' | '"' | '\''))
        .unwrap_or(s.len());
    &s[..end]
}

/// Whether `name` is an XML name (letters, digits, `_`, `-`, `.`, `:`).
fn valid_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '\u{B7}'))
}

/// The end (past `>`) of a `<!...>` declaration such as a DOCTYPE with an internal subset.
fn declaration_end(tail: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in tail.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '>') if depth == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

struct StartTag {
    /// The tag as written out, its attribute values repaired.
    text: String,
    /// Bytes of the original it spans.
    len: usize,
    /// `<.../>`
    empty: bool,
}

/// The start tag at the beginning of `tail`, with `&` and `<` in its attribute values
/// repaired; `None` when it is cut off by the end of the document.
fn start_tag(tail: &str, fix: &mut Fixes) -> Option<StartTag> {
    let mut out = String::new();
    let mut quote = None;
    let mut value_start = 0;
    let mut copied = 0;
    for (i, c) in tail.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                attribute_value(&tail[value_start..i], &mut out, fix);
                out.push(c);
                copied = i + 1;
                quote = None;
            }
            (Some(_), _) => {}
            (None, '"' | '\'') => {
                out.push_str(&tail[copied..=i]);
                quote = Some(c);
                value_start = i + 1;
            }
            (None, '>') => {
                out.push_str(&tail[copied..=i]);
                let empty = tail[..i].ends_with('/');
                return Some(StartTag {
                    text: out,
                    len: i + 1,
                    empty,
                });
            }
            _ => {}
        }
    }
    None
}

fn attribute_value(value: &str, out: &mut String, fix: &mut Fixes) {
    let mut rest = value;
    while let Some(i) = rest.find('<') {
        text_run(&rest[..i], out, fix);
        out.push_str("&lt;");
        fix.stray_lt += 1;
        rest = &rest[i + 1..];
    }
    text_run(rest, out, fix);
}

/// Copies character data, repairing references and dropping forbidden control characters.
fn text_run(text: &str, out: &mut String, fix: &mut Fixes) {
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c == '&' || forbidden(c)) {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().expect("found");
        if c != '&' {
            fix.controls += 1;
            rest = &rest[i + c.len_utf8()..];
            continue;
        }
        let after = &rest[i + 1..];
        rest = &after[reference(after, out, fix)..];
    }
    out.push_str(rest);
}

/// C0 control characters other than tab, newline and carriage return: XML 1.0 forbids them.
fn forbidden(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// Writes the repaired form of the reference after a `&` (`after` starts past it) and
/// returns how many bytes of `after` it consumed.
fn reference(after: &str, out: &mut String, fix: &mut Fixes) -> usize {
    let Some(semi) = after.get(..after.len().min(40)).and_then(|h| h.find(';')) else {
        out.push_str("&amp;");
        fix.bare_amps += 1;
        return 0;
    };
    let body = &after[..semi];
    if let Some(num) = body.strip_prefix('#') {
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse().ok(),
            _ => {
                out.push_str("&amp;");
                fix.bare_amps += 1;
                return 0;
            }
        };
        match value.and_then(char::from_u32) {
            Some(c) if !forbidden(c) && !matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                // `&#X41;`, which HTML allows, is `&#x41;` in XML
                let _ = write!(out, "&#{};", body[1..].replacen('X', "x", 1));
            }
            _ => fix.bad_char_refs += 1,
        }
        return semi + 1;
    }
    let is_name = body.starts_with(|c: char| c.is_ascii_alphabetic())
        && body.bytes().all(|b| b.is_ascii_alphanumeric());
    if !is_name {
        out.push_str("&amp;");
        fix.bare_amps += 1;
        return 0;
    }
    if matches!(body, "amp" | "lt" | "gt" | "quot" | "apos") {
        out.push('&');
        out.push_str(body);
        out.push(';');
    } else if let Ok(i) =
        html_escape::NAMED_ENTITIES.binary_search_by(|(n, _)| (*n).cmp(body.as_bytes()))
    {
        for c in html_escape::NAMED_ENTITIES[i].1.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
        }
        fix.html_entities.push(body.to_string());
    } else {
        out.push_str("&amp;");
        out.push_str(body);
        out.push(';');
        fix.unknown_entities += 1;
    }
    semi + 1
}

/// The start tag without its `xmlns="..."` attribute, if it has one.
fn without_default_xmlns(tag: &str) -> Option<String> {
    let mut at = 0;
    while let Some(i) = tag[at..].find("xmlns") {
        let start = at + i;
        at = start + 5;
        if !tag[..start].ends_with(char::is_whitespace) {
            continue;
        }
        let rest = tag[at..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(q) = rest.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            continue;
        };
        let value_end = rest[1..].find(q)? + 2;
        let end = tag.len() - rest.len() + value_end;
        let cut_from = tag[..start].trim_end().len();
        return Some(format!("{}{}", &tag[..cut_from], &tag[end..]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> String {
        repair(text).expect("something to repair").text
    }

    #[test]
    fn well_formed_documents_need_no_repair() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>A &amp; B &#233; &#x4E2D;</title>
            <item><link>http://x/?a=1&amp;b=2</link><description><![CDATA[a & b <p>]]></description></item></channel></rss>"#;
        assert_eq!(repair(doc), None);
    }

    #[test]
    fn bare_ampersands_are_escaped_and_html_entities_become_characters() {
        let doc = "<rss><channel><item><link>http://x/?a=1&b=2&c</link><title>AT&T&nbsp;&mdash; &nosuch; &#1; &LT;&#X41;</title>\
                   <guid isPermaLink=\"true\">http://x/?a=1&b=2</guid></item></channel></rss>";
        let r = repair(doc).unwrap();
        assert_eq!(
            r.text,
            "<rss><channel><item><link>http://x/?a=1&amp;b=2&amp;c</link><title>AT&amp;T\u{a0}\u{2014} &amp;nosuch;  &lt;&#x41;</title>\
             <guid isPermaLink=\"true\">http://x/?a=1&amp;b=2</guid></item></channel></rss>"
        );
        assert!(
            r.fixes.contains(&"escaped bare '&' (4)".to_string()),
            "{:?}",
            r.fixes
        );
        assert!(
            r.fixes
                .iter()
                .any(|f| f.starts_with("replaced HTML entities (&LT; &mdash; &nbsp;)")),
            "{:?}",
            r.fixes
        );
    }

    #[test]
    fn a_truncated_document_is_closed() {
        let doc = "junk\n<rss version=\"2.0\"><channel><item><title>One</title><description><![CDATA[<p>cut";
        let r = repair(doc).unwrap();
        assert_eq!(
            r.text,
            "<rss version=\"2.0\"><channel><item><title>One</title><description><![CDATA[<p>cut]]></description></item></channel></rss>"
        );
        assert_eq!(
            r.fixes,
            [
                "dropped 5 bytes before the first tag",
                "closed a truncated CDATA section",
                "closed 4 elements left open at the end"
            ]
        );
        assert_eq!(
            fixed("<rss><channel><item><title>x</title></item></chan"),
            "<rss><channel><item><title>x</title></item></channel></rss>"
        );
        assert_eq!(
            fixed("<rss><channel><item><title>x</ti"),
            "<rss><channel><item><title>x</title></item></channel></rss>"
        );
    }

    #[test]
    fn mismatched_and_stray_end_tags() {
        assert_eq!(
            fixed(
                "<rss><channel><item><description>a<br>b</description></p></item></channel></rss>"
            ),
            "<rss><channel><item><description>a<br>b</br></description></item></channel></rss>"
        );
        assert_eq!(fixed("<a>1 < 2</a>"), "<a>1 &lt; 2</a>");
        // garbage inside a tag is not repaired
        assert_eq!(repair("<rss><item>x</ite\x1b[31mm></rss>"), None);
        assert_eq!(repair("<rss><it]em>x</rss>"), None);
        assert_eq!(repair("<rss><item>x</item junk></rss>"), None);
    }

    #[test]
    fn the_default_namespace_of_rss_is_removed() {
        let doc = r#"<rss version="2.0" xmlns="http://backend.userland.com/rss2" xmlns:yandex="http://news.yandex.ru"><channel><item><title>x</title></item></channel></rss>"#;
        let r = repair(doc).unwrap();
        assert_eq!(
            r.text,
            r#"<rss version="2.0" xmlns:yandex="http://news.yandex.ru"><channel><item><title>x</title></item></channel></rss>"#
        );
        assert_eq!(
            r.fixes,
            ["removed the default namespace of <rss> (read as plain RSS)"]
        );
        let prefixed = r#"<r:rss version="2.0" xmlns:r="http://backend.userland.com/rss2"><r:channel><r:item><r:title>x</r:title><dc:date>d</dc:date></r:item></r:channel></r:rss>"#;
        assert_eq!(
            fixed(prefixed),
            r#"<rss version="2.0" xmlns:r="http://backend.userland.com/rss2"><channel><item><title>x</title><dc:date>d</dc:date></item></channel></rss>"#
        );
        // Atom's default namespace is what makes it Atom: left alone
        let atom =
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title></entry></feed>"#;
        assert_eq!(repair(atom), None);
    }

    #[test]
    fn item_elements_are_counted_outside_cdata_and_comments() {
        let doc = "<rss><!-- <item> --><channel><item/><item><description><![CDATA[<item>]]></description></item>\
                   <rss:item></rss:item><items/></channel></rss>";
        assert_eq!(item_elements(doc), 3);
        assert_eq!(
            item_elements("<feed><entry>x</entry><entry >y</entry></feed>"),
            2
        );
    }
}
