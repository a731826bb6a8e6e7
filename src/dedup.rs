//! Item identity: the keys under which an item is remembered (DESIGN.md, "Item identity").
//!
//! Per document, a key policy is chosen: the feed's own guids while they look trustworthy
//! (not blank, not repeated for different items in more than 5% of the items), else the
//! normalised link, else a content key (title + date + a digest of the text). Every
//! candidate key of an item is recorded as seen, so a change of policy never makes old
//! items new. The link key is global (not per feed): one story in several feeds or sections
//! of an outlet is one item.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use url::Url;

use crate::parse::Item;

/// Share of bad guids in a document above which the feed's guids are not trusted.
pub const BAD_GUID_SHARE: f64 = 0.05;

/// How a document's items are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPolicy {
    Guid,
    Link,
    Content,
}

/// A 128-bit key, shown as 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 16]);

impl Key {
    pub fn of(parts: &[&str]) -> Key {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut k = [0; 16];
        k.copy_from_slice(&digest[..16]);
        Key(k)
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(s: &str) -> Option<Key> {
        if s.len() != 32 {
            return None;
        }
        let mut k = [0; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Key(k))
    }

    /// The id of the alert that `watch` raises for the item with this key.
    pub fn alert_id(&self, watch: &str) -> Key {
        Key::of(&["alert", &self.hex(), watch])
    }
}

/// An item's keys: the one it is stored under if new, and every key it may have been
/// seen under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKeys {
    pub primary: Key,
    pub candidates: Vec<Key>,
}

/// Chooses the key policy for one document's items.
pub fn policy(items: &[Item]) -> KeyPolicy {
    if items.is_empty() {
        return KeyPolicy::Guid;
    }
    let bad = |values: Vec<Option<&str>>| {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for v in values.iter().flatten() {
            *count.entry(v).or_default() += 1;
        }
        let bad = values
            .iter()
            .filter(|v| v.is_none_or(|v| count[v] > 1))
            .count();
        bad as f64 / values.len() as f64 > BAD_GUID_SHARE
    };
    if !bad(items.iter().map(|i| i.guid.as_deref()).collect()) {
        KeyPolicy::Guid
    } else if !bad(items.iter().map(|i| i.link.as_deref()).collect()) {
        KeyPolicy::Link
    } else {
        KeyPolicy::Content
    }
}

/// The keys of every item of one document of `feed`, under `policy`.
pub fn keys(feed: &str, items: &[Item], policy: KeyPolicy) -> Vec<ItemKeys> {
    let links: Vec<Option<String>> = items
        .iter()
        .map(|i| i.link.as_deref().and_then(normalize_link))
        .collect();
    let link_count = counts(links.iter().map(Option::as_deref));
    let guid_count = counts(items.iter().map(|i| i.guid.as_deref()));
    items
        .iter()
        .zip(&links)
        .map(|(item, link)| {
            // a guid or link shared by several items of one document identifies none of them
            let guid = item
                .guid
                .as_deref()
                .filter(|g| guid_count[g] == 1)
                .map(|g| Key::of(&["guid", feed, g]));
            let link = link
                .as_deref()
                .filter(|l| link_count[l] == 1)
                .map(|l| Key::of(&["link", l]));
            let content = content_key(feed, item);
            let primary = match policy {
                KeyPolicy::Guid => guid.or(link).unwrap_or(content),
                KeyPolicy::Link => link.unwrap_or(content),
                KeyPolicy::Content => content,
            };
            let mut candidates = vec![primary];
            for k in [guid, link, Some(content)].into_iter().flatten() {
                if !candidates.contains(&k) {
                    candidates.push(k);
                }
            }
            ItemKeys {
                primary,
                candidates,
            }
        })
        .collect()
}

fn counts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> HashMap<&'a str, usize> {
    let mut count = HashMap::new();
    for v in values.flatten() {
        *count.entry(v).or_default() += 1;
    }
    count
}

fn content_key(feed: &str, item: &Item) -> Key {
    let date = item
        .published
        .map(|d| d.timestamp().to_string())
        .unwrap_or_default();
    Key::of(&[
        "content",
        feed,
        &item.title,
        &date,
        &item.summary,
        &item.content,
    ])
}

/// A digest of an item's text, to notice when an outlet edits it.
pub fn text_digest(item: &Item) -> String {
    let cats = item.categories.join("\u{1F}");
    Key::of(&[&item.title, &item.summary, &item.content, &cats]).hex()
}

/// Query parameters that say who shared a link, not what it points to.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gclsrc"
                | "msclkid"
                | "yclid"
                | "mc_cid"
                | "mc_eid"
                | "igshid"
                | "_ga"
                | "_gl"
                | "ocid"
                | "cmpid"
                | "at_medium"
                | "at_campaign"
                | "ref_src"
        )
}

/// The link as an identity: lower-case scheme and host (the URL parser does that), no
/// fragment, no tracking parameters, no trailing slash. `None` for what is not a URL.
pub fn normalize_link(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    let mut s = String::from(url);
    if s.ends_with('/') && !s.ends_with("://") {
        s.pop();
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_string),
            link: link.map(str::to_string),
            title: title.into(),
            summary: String::new(),
            content: String::new(),
            categories: vec![],
            published: None,
        }
    }

    #[test]
    fn tracking_parameters_fragments_and_trailing_slashes_are_dropped() {
        let cases = [
            (
                "https://www.themoscowtimes.com/2022/12/27/a79810?utm_source=rss&utm_medium=feed",
                "https://www.themoscowtimes.com/2022/12/27/a79810",
            ),
            (
                "HTTPS://Example.COM/news/1/#comments",
                "https://example.com/news/1",
            ),
            (
                "https://example.com/story?id=7&fbclid=IwAR0x&gclid=abc",
                "https://example.com/story?id=7",
            ),
            (
                "https://example.com/a?yclid=1&_ga=2.1&mc_cid=x&mc_eid=y",
                "https://example.com/a",
            ),
            ("https://example.com:443/", "https://example.com"),
            ("not a url", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_link(input).unwrap_or_default(), want, "{input}");
        }
    }

    #[test]
    fn guids_are_trusted_until_more_than_five_percent_are_bad() {
        let good: Vec<Item> = (0..40)
            .map(|i| item(Some(&format!("g{i}")), None, "t"))
            .collect();
        assert_eq!(policy(&good), KeyPolicy::Guid);
        let mut two_bad = good.clone();
        two_bad[0].guid = None;
        two_bad[1].guid = None; // 2/40 = 5%: still trusted
        assert_eq!(policy(&two_bad), KeyPolicy::Guid);
        let mut repeated = good.clone();
        for i in repeated.iter_mut().take(3) {
            i.guid = Some("same".into());
            i.link = Some(format!("https://x.example/{}", i.title.len()));
        }
        // 3/40 > 5%, and the links are not unique either
        assert_eq!(policy(&repeated), KeyPolicy::Content);
        let links: Vec<Item> = (0..10)
            .map(|i| item(Some("same"), Some(&format!("https://x.example/{i}")), "t"))
            .collect();
        assert_eq!(policy(&links), KeyPolicy::Link);
    }

    #[test]
    fn every_candidate_key_is_kept_and_links_are_shared_across_feeds() {
        let a = keys(
            "a",
            &[item(
                Some("g1"),
                Some("https://x.example/s?utm_source=a"),
                "t",
            )],
            KeyPolicy::Guid,
        );
        let b = keys(
            "b",
            &[item(Some("other"), Some("https://x.example/s"), "t")],
            KeyPolicy::Guid,
        );
        assert_eq!(a[0].candidates.len(), 3);
        assert_ne!(a[0].primary, b[0].primary);
        assert_eq!(
            a[0].candidates[1], b[0].candidates[1],
            "the link key is global"
        );
    }

    #[test]
    fn a_guid_repeated_in_one_document_is_not_a_key() {
        let items = [
            item(Some("same"), Some("https://x.example/1"), "a"),
            item(Some("same"), Some("https://x.example/2"), "b"),
        ];
        let k = keys("f", &items, KeyPolicy::Link);
        assert_ne!(k[0].primary, k[1].primary);
        assert!(k[0].candidates.iter().all(|c| !k[1].candidates.contains(c)));
    }

    #[test]
    fn a_link_repeated_in_one_document_is_not_a_key() {
        let items = [
            item(Some("1"), Some("https://x.example/"), "a"),
            item(Some("2"), Some("https://x.example/"), "b"),
        ];
        let k = keys("f", &items, KeyPolicy::Guid);
        assert_eq!(k[0].candidates.len(), 2); // guid + content only
    }

    #[test]
    fn keys_and_alert_ids_are_stable() {
        let k = keys(
            "moscow-times",
            &[item(Some("g"), None, "t")],
            KeyPolicy::Guid,
        )[0]
        .primary;
        assert_eq!(Key::from_hex(&k.hex()), Some(k));
        assert_eq!(k.alert_id("cis"), k.alert_id("cis"));
        assert_ne!(k.alert_id("cis"), k.alert_id("csto"));
        // pinned: a change here would re-alert every stored item after an upgrade
        assert_eq!(
            Key::of(&["guid", "f", "g"]).hex(),
            "dfa3232f2c8fcd45f5e6c836f23f4714"
        );
    }
}
