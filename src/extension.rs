//! Text that outlets put in elements feed-rs does not read, collected per item so that it
//! is matched as the item's content.
//!
//! Russian outlets carry the whole article in `yandex:full-text` (Yandex News) or
//! `turbo:content` (Yandex Turbo); feed-rs ignores both namespaces. A JSON Feed item with
//! `content_html` and `summary` loses its `content_text` in feed-rs. This module reads those
//! from the raw document with a lenient pass of its own: an ill-formed document yields what
//! was read before the fault, and never fails the poll. The texts are markup or plain text
//! as written; [`crate::parse`] turns them into text.

use quick_xml::events::Event;

/// Extension texts of each item of `doc`, by the item's index in the document (the order
/// feed-rs gives its entries); items without any have an empty list, and a document with
/// none at all gives an empty vector.
pub fn texts(doc: &str) -> Vec<Vec<String>> {
    let head = doc.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with('{') {
        json(doc)
    } else if doc.contains("full-text") || doc.contains("turbo:content") {
        xml(doc)
    } else {
        Vec::new()
    }
}

/// Whether an element (its qualified name) is one whose text is the item's content:
/// `yandex:full-text` (under whatever prefix the document binds Yandex's namespace to) and
/// `turbo:content`.
fn is_extension(qname: &str) -> bool {
    match qname.split_once(':') {
        Some((_, "full-text")) => true,
        Some((prefix, "content")) => prefix == "turbo",
        _ => false,
    }
}

/// `yandex:full-text` and `turbo:content` of each `item`/`entry`.
fn xml(doc: &str) -> Vec<Vec<String>> {
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = false;
    let mut out: Vec<Vec<String>> = Vec::new();
    // depth of the open elements; the depth at which the current item was opened
    let mut depth = 0usize;
    let mut item: Option<usize> = None;
    // the depth of the extension element being read, and its text so far
    let mut reading: Option<(usize, String)> = None;
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break, // what was read before a fault is kept
            Ok(e) => e,
        };
        match event {
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                if item.is_none() && matches!(name.as_str(), "item" | "entry") {
                    item = Some(depth);
                    out.push(Vec::new());
                } else if item.is_some() && reading.is_none() && is_extension(&name) {
                    reading = Some((depth, String::new()));
                } else if let Some((_, text)) = &mut reading {
                    // markup written unescaped inside the element: keep it for the HTML pass
                    text.push('<');
                    text.push_str(&e);
                    text.push('>');
                }
                depth += 1;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if let Some((at, text)) = &mut reading {
                    if *at == depth {
                        let text = std::mem::take(text);
                        reading = None;
                        if let Some(last) = out.last_mut()
                            && !text.trim().is_empty()
                        {
                            last.push(text);
                        }
                    } else {
                        text.push_str("</");
                        text.push_str(e.name().as_ref());
                        text.push('>');
                    }
                } else if item == Some(depth) {
                    item = None;
                }
            }
            Event::Empty(e) => {
                if item.is_none() && matches!(e.name().as_ref(), "item" | "entry") {
                    out.push(Vec::new()); // an empty item is an entry for feed-rs too
                } else if let Some((_, text)) = &mut reading {
                    text.push('<');
                    text.push_str(&e);
                    text.push_str("/>");
                }
            }
            Event::Text(t) => {
                if let Some((_, text)) = &mut reading {
                    text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some((_, text)) = &mut reading {
                    text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, text)) = &mut reading {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => match quick_xml::escape::resolve_predefined_entity(&r) {
                            Some(s) => text.push_str(s),
                            // an HTML entity (`&nbsp;`): left for the HTML pass to decode
                            None => {
                                text.push('&');
                                text.push_str(&r);
                                text.push(';');
                            }
                        },
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A JSON Feed item's `content_text` when it also has `content_html` and `summary`: feed-rs
/// keeps `content_text` only when one of them is missing.
fn json(doc: &str) -> Vec<Vec<String>> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(doc) else {
        return Vec::new();
    };
    let Some(items) = value.get("items").and_then(|i| i.as_array()) else {
        return Vec::new();
    };
    let present =
        |item: &serde_json::Value, key: &str| item.get(key).is_some_and(|v| v.is_string());
    items
        .iter()
        .map(
            |item| match item.get("content_text").and_then(|t| t.as_str()) {
                Some(text) if present(item, "content_html") && present(item, "summary") => {
                    vec![text.to_string()]
                }
                _ => Vec::new(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yandex_and_turbo_texts_by_item() {
        let doc = r#"<rss version="2.0" xmlns:yandex="http://news.yandex.ru" xmlns:turbo="http://turbo.yandex.ru"><channel>
            <item><title>a</title><yandex:full-text>Полный &amp; текст&#33; &nbsp;<![CDATA[<p>ещё</p>]]></yandex:full-text></item>
            <item><title>b</title></item>
            <item><title>c</title><turbo:content><![CDATA[<header>h</header><p>турбо</p>]]></turbo:content>
              <media:group><item>nested</item></media:group></item>
        </channel></rss>"#;
        let t = texts(doc);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], ["Полный & текст! &nbsp;<p>ещё</p>"]);
        assert!(t[1].is_empty());
        assert_eq!(t[2], ["<header>h</header><p>турбо</p>"]);
    }

    #[test]
    fn unescaped_markup_inside_is_kept_and_a_broken_tail_keeps_what_came_before() {
        let doc = "<rss><channel><item><yandex:full-text><p>one</p><br/>two</yandex:full-text></item><item><yandex:full-text>x &bad";
        let t = texts(doc);
        assert_eq!(t[0], ["<p>one</p><br/>two"]);
    }

    #[test]
    fn json_content_text_beside_html_and_summary() {
        let doc = r#"{"version":"https://jsonfeed.org/version/1.1","items":[
            {"id":"1","content_html":"<p>h</p>","summary":"s","content_text":"plain"},
            {"id":"2","content_text":"only"}]}"#;
        assert_eq!(texts(doc), vec![vec!["plain".to_string()], vec![]]);
        assert!(texts("<rss><channel><item/></channel></rss>").is_empty());
    }
}
