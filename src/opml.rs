//! OPML, the format feed readers exchange subscriptions in: `opml export` writes the config's
//! feeds as OPML 2.0; `opml import` reads another reader's file and plans which of its feeds
//! to add to the config (no URL or name twice), as `[[feeds]]` text appended to the file.

use std::collections::HashSet;

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};

use crate::config::FeedConfig;
use crate::dedup::normalize_link;

/// One feed of an OPML file: an `<outline>` with an `xmlUrl`, wherever it is nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// `title`, else `text`, trimmed; `None` when both are missing or blank.
    pub title: Option<String>,
    pub xml_url: String,
}

/// Why an OPML file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    #[error("not well-formed XML at byte {at}: {message}")]
    Xml { at: u64, message: String },
    #[error("not an OPML document: the root element is <{0}>, not <opml>")]
    NotOpml(String),
    #[error("not an OPML document: it has no <opml> element")]
    Empty,
    #[error("not an OPML document: <opml> has no <body>")]
    NoBody,
}

/// The OPML 2.0 document for `feeds`, in config order.
pub fn export(feeds: &[FeedConfig], title: &str) -> String {
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    s.push_str(&format!(
        "  <head>\n    <title>{}</title>\n    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        escape(title),
        chrono::Utc::now().to_rfc2822()
    ));
    for f in feeds {
        let name = escape(f.name.as_str());
        s.push_str(&format!(
            "    <outline type=\"rss\" text=\"{name}\" title=\"{name}\" xmlUrl=\"{}\"/>\n",
            escape(f.url.as_str())
        ));
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

/// Every outline with an `xmlUrl`, in document order; folders (outlines without one) are
/// flattened. Errors when the text is not well-formed XML or not OPML.
pub fn parse(xml: &str) -> Result<Vec<Outline>, OpmlError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut body_seen = false;
    let mut in_body = 0usize; // depth of <body>, 0 when outside
    let mut out = Vec::new();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| OpmlError::Xml {
            at,
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if depth == 0 && root_seen => {
                return Err(OpmlError::Xml {
                    at,
                    message: format!("a second root element <{}>", e.local_name().as_ref()),
                });
            }
            ref ev @ (Event::Start(ref e) | Event::Empty(ref e)) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = e.local_name();
                let name = name.as_ref();
                if depth == 0 {
                    root_seen = true;
                    if !name.eq_ignore_ascii_case("opml") {
                        return Err(OpmlError::NotOpml(name.to_string()));
                    }
                } else if depth == 1 && name.eq_ignore_ascii_case("body") {
                    body_seen = true;
                    if !empty {
                        in_body = depth + 1;
                    }
                } else if in_body > 0
                    && name.eq_ignore_ascii_case("outline")
                    && let Some(o) = outline(e, at)?
                {
                    out.push(o);
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                if in_body == depth {
                    in_body = 0;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 {
        return Err(OpmlError::Xml {
            at: reader.buffer_position(),
            message: "the document ends inside an element".into(),
        });
    }
    if !root_seen {
        return Err(OpmlError::Empty);
    }
    if !body_seen {
        return Err(OpmlError::NoBody);
    }
    Ok(out)
}

fn outline(e: &BytesStart<'_>, at: u64) -> Result<Option<Outline>, OpmlError> {
    let (mut title, mut text, mut url) = (None, None, None);
    for attr in e.attributes() {
        let attr = attr.map_err(|e| OpmlError::Xml {
            at,
            message: e.to_string(),
        })?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| OpmlError::Xml {
                at,
                message: e.to_string(),
            })?
            .trim()
            .to_string();
        let key = attr.key.local_name();
        // Readers differ in case: xmlUrl is the spec's, some write xmlurl or XMLURL.
        match key.as_ref().to_ascii_lowercase().as_str() {
            "title" => title = Some(value),
            "text" => text = Some(value),
            "xmlurl" => url = Some(value),
            _ => {}
        }
    }
    Ok(url.filter(|u| !u.is_empty()).map(|xml_url| Outline {
        title: title
            .filter(|t| !t.is_empty())
            .or(text.filter(|t| !t.is_empty())),
        xml_url,
    }))
}

/// What an import would do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub added: Vec<Added>,
    /// (the outline, as a label, and why it is skipped)
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Added {
    pub name: String,
    pub url: String,
    pub title: Option<String>,
    /// Set when the name derived from the title was taken: the name it wanted.
    pub renamed_from: Option<String>,
}

/// Which `outlines` to add to a config that has `existing` feeds: none whose normalised URL
/// is already there (or earlier in the file), each with a unique name from its title.
pub fn plan(existing: &[FeedConfig], outlines: &[Outline]) -> Plan {
    let mut urls: Vec<(String, String)> = existing
        .iter()
        .map(|f| (key(f.url.as_str()), f.name.clone()))
        .collect();
    let mut names: HashSet<String> = existing.iter().map(|f| f.name.clone()).collect();
    let mut plan = Plan::default();
    for o in outlines {
        let label = match &o.title {
            Some(t) => format!("{t:?} <{}>", o.xml_url),
            None => format!("<{}>", o.xml_url),
        };
        let url = match url::Url::parse(&o.xml_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            Ok(u) => {
                plan.skipped.push((
                    label,
                    format!(
                        "scheme {:?} is not supported (http and https only)",
                        u.scheme()
                    ),
                ));
                continue;
            }
            Err(e) => {
                plan.skipped
                    .push((label, format!("xmlUrl is not a valid URL: {e}")));
                continue;
            }
        };
        let k = key(url.as_str());
        if let Some((_, name)) = urls.iter().find(|(u, _)| *u == k) {
            plan.skipped
                .push((label, format!("same URL as the feed {name:?}")));
            continue;
        }
        let wanted = derive_name(o.title.as_deref(), &url);
        let mut name = wanted.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{wanted}-{n}");
            n += 1;
        }
        names.insert(name.clone());
        urls.push((k, name.clone()));
        plan.added.push(Added {
            renamed_from: (name != wanted).then_some(wanted),
            name,
            url: url.to_string(),
            title: o.title.clone(),
        });
    }
    plan
}

/// The URL as compared for duplicates: `normalize_link` (tracking parameters, fragment,
/// case of scheme and host, trailing slash), else as written.
fn key(url: &str) -> String {
    normalize_link(url).unwrap_or_else(|| url.to_string())
}

/// A feed name from a title: lowercase letters and digits, runs of anything else as one
/// '-'; from the URL's host and path when the title has none.
pub fn derive_name(title: Option<&str>, url: &url::Url) -> String {
    let slug = |s: &str| {
        let mut out = String::new();
        for c in s.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    };
    let from_title = title.map(slug).unwrap_or_default();
    if !from_title.is_empty() {
        return from_title;
    }
    let host = url.host_str().unwrap_or("").trim_start_matches("www.");
    let from_url = slug(&format!("{host} {}", url.path()));
    if from_url.is_empty() {
        "feed".into()
    } else {
        from_url
    }
}

/// The `[[feeds]]` tables for `added`, as text to append to a config file.
pub fn to_toml(added: &[Added], source: &str) -> String {
    let mut s = format!(
        "\n# Added by `feedwatch opml import {source}` on {}.\n",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    for a in added {
        s.push('\n');
        if let Some(t) = &a.title {
            let t: String = t.chars().filter(|c| !c.is_control()).collect();
            s.push_str(&format!("# {t}\n"));
        }
        s.push_str(&format!(
            "[[feeds]]\nname = {}\nurl = {}\n",
            toml_string(&a.name),
            toml_string(&a.url)
        ));
    }
    s
}

/// A TOML basic string (also for `feedwatch feed add`).
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(name: &str, url: &str) -> FeedConfig {
        FeedConfig {
            name: name.into(),
            url: url::Url::parse(url).unwrap(),
            interval: crate::config::Interval::Auto,
            backlog: crate::config::Backlog::All,
            enabled: true,
            full_text: false,
        }
    }

    #[test]
    fn nested_outlines_are_flattened_and_folders_skipped() {
        let xml = r#"<?xml version="1.0"?>
<opml version="1.0"><head><title>x</title></head><body>
  <outline text="News">
    <outline text="A &amp; B" xmlUrl="https://a.example/rss"/>
    <outline title="Deep"><outline text="C" title="Cee" xmlUrl="http://c.example/feed"></outline></outline>
  </outline>
  <outline xmlUrl="https://d.example/atom"/>
</body></opml>"#;
        let o = parse(xml).unwrap();
        assert_eq!(
            o,
            vec![
                Outline {
                    title: Some("A & B".into()),
                    xml_url: "https://a.example/rss".into()
                },
                Outline {
                    title: Some("Cee".into()),
                    xml_url: "http://c.example/feed".into()
                },
                Outline {
                    title: None,
                    xml_url: "https://d.example/atom".into()
                },
            ]
        );
    }

    #[test]
    fn malformed_and_foreign_documents_are_errors() {
        assert!(matches!(
            parse("<opml><body><outline></body></opml>"),
            Err(OpmlError::Xml { .. })
        ));
        assert!(matches!(parse("<opml><body>"), Err(OpmlError::Xml { .. })));
        assert!(matches!(parse("<rss><channel/></rss>"), Err(OpmlError::NotOpml(n)) if n == "rss"));
        assert!(matches!(parse(""), Err(OpmlError::Empty)));
        assert!(matches!(
            parse("<opml><head/></opml>"),
            Err(OpmlError::NoBody)
        ));
    }

    #[test]
    fn export_parses_back() {
        let feeds = [
            feed("a-b", "https://x.example/rss?a=1&b=2"),
            feed("c", "http://y.example/"),
        ];
        let o = parse(&export(&feeds, "t")).unwrap();
        assert_eq!(o[0].xml_url, "https://x.example/rss?a=1&b=2");
        assert_eq!(o[0].title.as_deref(), Some("a-b"));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn names_come_from_titles_and_are_unique() {
        let u = url::Url::parse("https://www.example.com/rss/news.xml").unwrap();
        assert_eq!(derive_name(Some("Meduza — English!"), &u), "meduza-english");
        assert_eq!(
            derive_name(Some("Коммерсантъ: Новости"), &u),
            "коммерсантъ-новости"
        );
        assert_eq!(derive_name(Some("  ***  "), &u), "example-com-rss-news-xml");
        let existing = [feed("news", "https://n.example/rss")];
        let outlines = [
            Outline {
                title: Some("News".into()),
                xml_url: "https://other.example/rss".into(),
            },
            Outline {
                title: Some("News".into()),
                xml_url: "https://third.example/rss".into(),
            },
            Outline {
                title: Some("Dup".into()),
                xml_url: "https://N.example/rss?utm_source=x#top".into(),
            },
            Outline {
                title: Some("Gopher".into()),
                xml_url: "gopher://g.example/".into(),
            },
        ];
        let p = plan(&existing, &outlines);
        let names: Vec<&str> = p.added.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["news-2", "news-3"]);
        assert_eq!(p.added[0].renamed_from.as_deref(), Some("news"));
        assert_eq!(p.skipped.len(), 2);
        assert!(
            p.skipped[0].1.contains("same URL as the feed \"news\""),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
