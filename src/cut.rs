//! A document cut to its first `fetch.max_items` entries before feed-rs sees it.
//!
//! feed-rs builds its model of every entry (hundreds of bytes each) before we could drop
//! any: a 16 MiB document of 444,425 tiny items took 405 MB. So the text is scanned first
//! (quick-xml for RSS, RDF and Atom; a bracket counter for JSON Feed), which costs no
//! memory, and only the text up to the end of the `max_items`-th `<item>`/`<entry>` (or
//! JSON Feed item) is kept, with the elements still open at that point closed after it.
//! The scan goes on to the end of the document to count its items, for the warning.

use std::borrow::Cow;

/// A document, cut or whole.
#[derive(Debug)]
pub struct Cut<'a> {
    pub text: Cow<'a, str>,
    /// The number of items the whole document has, when it was cut (more than `max_items`;
    /// a lower bound if the rest of the document does not scan).
    pub cut_from: Option<usize>,
}

/// `text` cut after its `max_items`-th item, or whole when it has no more than that (or
/// cannot be scanned: then feed-rs judges it as before).
pub fn first_items(text: &str, max_items: usize) -> Cut<'_> {
    let whole = Cut {
        text: Cow::Borrowed(text),
        cut_from: None,
    };
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    let found = if start.starts_with('{') {
        json(text, max_items)
    } else {
        xml(text, max_items)
    };
    match found {
        Some((end, closers, total)) if total > max_items => {
            let mut cut = String::with_capacity(end + closers.len());
            cut.push_str(&text[..end]);
            cut.push_str(&closers);
            Cut {
                text: Cow::Owned(cut),
                cut_from: Some(total),
            }
        }
        _ => whole,
    }
}

/// Where the `max`-th item of an XML feed ends, what closes the elements open there, and
/// how many items the document has. `None` when it has no more than `max` or does not scan
/// as far as its `max + 1`-th item.
fn xml(text: &str, max: usize) -> Option<(usize, String, usize)> {
    use quick_xml::events::Event;
    // every item's start tag has `item` or `entry` right after a `<` or a prefix's `:`: no
    // more of those than `max`, no cut, and no scan (the common case, and half the cost of
    // reading a plain RSS document)
    static TAGS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        aho_corasick::AhoCorasick::new(["<item", ":item", "<entry", ":entry"])
            .expect("four literal patterns")
    });
    if tags.find_iter(text).take(max + 1).count() <= max {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = false;
    let mut open: Vec<String> = Vec::new();
    let mut items = 0;
    let mut cut: Option<(usize, String)> = None;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            // past the cut, a broken tail only makes the count a lower bound
            Err(_) if cut.is_some() => break,
            Err(_) => return None,
        };
        // an item of RSS 2.0 (rss/channel/item), RSS 1.0 (rdf:RDF/item) or Atom
        // (feed/entry), not an element of that name nested deeper
        let is_item = |local: &str, depth: usize| depth <= 2 && matches!(local, "item" | "entry");
        let ended_item = match event {
            Event::Start(e) => {
                // once cut, only the depth matters
                open.push(if cut.is_none() {
                    e.name().as_ref().to_string()
                } else {
                    String::new()
                });
                false
            }
            Event::End(e) => {
                open.pop();
                is_item(e.local_name().as_ref(), open.len())
            }
            Event::Empty(e) => is_item(e.local_name().as_ref(), open.len()),
            Event::Eof => break,
            _ => false,
        };
        if ended_item {
            items += 1;
            if items == max {
                let end = usize::try_from(reader.buffer_position()).ok()?;
                let closers = open.iter().rev().map(|n| format!("</{n}>")).collect();
                cut = Some((end, closers));
            }
        }
    }
    let (end, closers) = cut?;
    text.is_char_boundary(end).then_some((end, closers, items))
}

/// The same for a JSON Feed: the elements of the top-level `"items"` array.
fn json(text: &str, max: usize) -> Option<(usize, String, usize)> {
    let bytes = text.as_bytes();
    // the containers open at each point: b'{' or b'['
    let mut open: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    // the last string seen in the top-level object, and whether a ':' followed it
    let mut last_string: (usize, usize) = (0, 0);
    let mut key: Option<(usize, usize)> = None;
    let mut in_items = false;
    let mut element_started = false;
    let mut items = 0;
    let mut cut: Option<(usize, String)> = None;
    let closers = |open: &[u8]| -> String {
        open.iter()
            .rev()
            .map(|c| if *c == b'{' { '}' } else { ']' })
            .collect()
    };
    let mut string_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if open.len() == 1 {
                    last_string = (string_start, i);
                }
            }
            continue;
        }
        if in_items && open.len() == 2 && !b.is_ascii_whitespace() && b != b',' && b != b']' {
            element_started = true;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b':' if open.len() == 1 => key = Some(last_string),
            b',' if open.len() == 1 => key = None,
            b'{' | b'[' => {
                if b == b'[' && open.len() == 1 {
                    in_items = key.is_some_and(|(s, e)| &text[s..e] == "items");
                }
                open.push(b);
            }
            b'}' | b']' => {
                open.pop();
                if in_items && open.len() == 1 {
                    // the items array closed: its last element ended here
                    if element_started {
                        items += 1;
                    }
                    in_items = false;
                    element_started = false;
                }
            }
            b',' if in_items && open.len() == 2 => {
                if element_started {
                    items += 1;
                    if items == max {
                        cut = Some((i, closers(&open)));
                    }
                }
                element_started = false;
            }
            _ => {}
        }
    }
    let (end, closers) = cut?;
    Some((end, closers, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss(n: usize) -> String {
        let mut doc =
            String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
        for i in 0..n {
            doc.push_str(&format!(
                "<item><title>Item {i}</title><media:group><item>x</item></media:group></item>"
            ));
        }
        doc.push_str("</channel></rss>");
        doc
    }

    #[test]
    fn rss_is_cut_after_the_nth_item_and_closed() {
        let doc = rss(10);
        let cut = first_items(&doc, 3);
        assert_eq!(cut.cut_from, Some(10));
        assert!(
            cut.text.ends_with(
                "Item 2</title><media:group><item>x</item></media:group></item></channel></rss>"
            ),
            "{}",
            cut.text
        );
        assert!(!cut.text.contains("Item 3"));
        let whole = first_items(&doc, 10);
        assert_eq!(whole.cut_from, None);
        assert!(matches!(whole.text, Cow::Borrowed(_)));
    }

    #[test]
    fn atom_and_rdf_entries_count() {
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><entry><title>a</title></entry><entry><title>b</title></entry><entry/></feed>";
        let cut = first_items(atom, 1);
        assert_eq!(cut.cut_from, Some(3));
        assert!(cut.text.ends_with("<title>a</title></entry></feed>"));
        let rdf = "<rdf:RDF><channel><title>t</title></channel><item><title>a</title></item><item><title>b</title></item></rdf:RDF>";
        let cut = first_items(rdf, 1);
        assert_eq!(cut.cut_from, Some(2));
        assert!(cut.text.ends_with("<title>a</title></item></rdf:RDF>"));
    }

    /// The tag count that spares the scan counts prefixed items, and exactly `max` items
    /// are no cut.
    #[test]
    fn prefixed_items_count_and_max_items_is_no_cut() {
        let doc = "<r:rss xmlns:r=\"x\"><r:channel><r:item>a</r:item><r:item>b</r:item><r:item/></r:channel></r:rss>";
        assert_eq!(first_items(doc, 2).cut_from, Some(3));
        assert_eq!(first_items(doc, 3).cut_from, None);
    }

    #[test]
    fn a_document_that_does_not_scan_is_left_whole() {
        let doc = "<rss><channel><item>a</item><!-- unclosed <item>b</item><item>c</item>";
        assert_eq!(first_items(doc, 2).cut_from, None);
        // a broken tail after the cut only makes the count a lower bound
        let doc = "<rss><channel><item>a</item><item>b</item><item>c</item><!-- unclosed";
        assert_eq!(first_items(doc, 2).cut_from, Some(3));
    }

    #[test]
    fn json_feed_items_are_cut() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","title":"a, [b]: {c}",
            "items":[{"id":"1","title":"x]},\"y"},{"id":"2","tags":["a","b"]}, {"id":"3"}]}"#;
        let cut = first_items(doc, 2);
        assert_eq!(cut.cut_from, Some(3));
        let v: serde_json::Value = serde_json::from_str(&cut.text).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["items"][1]["id"], "2");
        assert_eq!(first_items(doc, 3).cut_from, None);
    }
}
