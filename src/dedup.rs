//! Item identity: the keys under which an item is remembered (DESIGN.md, "Item identity").
//!
//! Per document, a key policy is chosen: the feed's own guids while they look trustworthy
//! (not blank, not repeated for different items in more than 5% of the items), else the
//! normalised link, else a content key (title + date + a digest of the text). Every
//! candidate key of an item is recorded as seen, so a change of policy never makes old
//! items new. The link key is global (not per feed): one story in several feeds or sections
//! of an outlet is one item.

use std::collections::{HashMap, HashSet};

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

    /// The key of `parts` placed in `scope`, with the unscoped [`Key::of`] of the same
    /// parts that builds before scoped keys used (to find what they stored). A scoped key
    /// is the first 4 bytes of the scope's digest, then the first 12 of the parts': keys of
    /// one scope (a feed; a link's host) sort together in the store's `seen` tree, so a
    /// poll's new keys land on a few neighbouring pages instead of one random page each
    /// (the cold poll's main cost, examples/bench_store.rs), and 96 bits still keep the
    /// keys of one scope apart.
    pub fn scoped(scope: &str, parts: &[&str]) -> (Key, Key) {
        Key::in_scope(Scope::of(scope), parts)
    }

    /// [`Key::scoped`] with the scope's prefix made already (one per document for a feed).
    fn in_scope(scope: Scope, parts: &[&str]) -> (Key, Key) {
        let unscoped = Key::of(parts);
        let mut k = [0; 16];
        k[..4].copy_from_slice(&scope.0);
        k[4..].copy_from_slice(&unscoped.0[..12]);
        (Key(k), unscoped)
    }

    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 15)] as char);
        }
        s
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

/// The first 4 bytes of the keys of one scope (see [`Key::scoped`]).
#[derive(Debug, Clone, Copy)]
struct Scope([u8; 4]);

impl Scope {
    fn of(name: &str) -> Scope {
        let digest = Key::of(&["scope", name]);
        Scope([digest.0[0], digest.0[1], digest.0[2], digest.0[3]])
    }
}

/// An item's keys: the one it is stored under if new, and every key it may have been
/// seen under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKeys {
    pub primary: Key,
    pub candidates: Vec<Key>,
    /// The candidates as builds before scoped keys ([`Key::scoped`]) made them, in the same
    /// order: a store those builds wrote holds its items under these.
    pub legacy: Vec<Key>,
}

impl ItemKeys {
    /// The keys to look the item up under: its candidates, then, in a store that builds
    /// before scoped keys wrote (`legacy`), their older forms.
    pub fn lookup(&self, legacy: bool) -> impl Iterator<Item = &Key> {
        let old: &[Key] = if legacy { &self.legacy } else { &[] };
        self.candidates.iter().chain(old)
    }
}

/// Chooses the key policy for one document's items: guids unless more than
/// [`BAD_GUID_SHARE`] of the items have none or share theirs with a different item; then
/// normalised links by the same rule; then content keys.
pub fn policy(items: &[Item]) -> KeyPolicy {
    if !unreliable(items, |i| i.guid.clone()) {
        KeyPolicy::Guid
    } else if !unreliable(items, |i| i.link.as_deref().and_then(normalize_link)) {
        KeyPolicy::Link
    } else {
        KeyPolicy::Content
    }
}

/// The policy after a poll that chose `chosen`, and whether it differs from `previous`
/// in a way worth one line in the log. An empty document says nothing about a feed's
/// guids, so it keeps the previous policy; a feed's first policy is news only when it is
/// not the usual one (guids).
pub fn next_policy(previous: Option<KeyPolicy>, items: &[Item]) -> (KeyPolicy, bool) {
    if items.is_empty() {
        return (previous.unwrap_or(KeyPolicy::Guid), false);
    }
    let chosen = policy(items);
    let changed = match previous {
        Some(p) => p != chosen,
        None => chosen != KeyPolicy::Guid,
    };
    (chosen, changed)
}

/// Whether more than [`BAD_GUID_SHARE`] of the items lack an identifier or share it with a
/// different item.
fn unreliable(items: &[Item], id: impl Fn(&Item) -> Option<String>) -> bool {
    if items.is_empty() {
        return false;
    }
    let ids: Vec<Option<String>> = items.iter().map(id).collect();
    let clashing = clashing(items, &ids);
    let bad = ids
        .iter()
        .filter(|id| id.as_deref().is_none_or(|id| clashing.contains(id)))
        .count();
    bad as f64 / items.len() as f64 > BAD_GUID_SHARE
}

/// The identifiers that one document gives to different items (same identifier, another
/// link or title). Such an identifier identifies none of them. An entry repeated verbatim
/// is a duplicate, not a clash.
fn clashing<'a>(items: &[Item], ids: &'a [Option<String>]) -> HashSet<&'a str> {
    let mut first: HashMap<&str, &Item> = HashMap::new();
    let mut clashing = HashSet::new();
    for (item, id) in items.iter().zip(ids) {
        let Some(id) = id.as_deref() else { continue };
        match first.get(id) {
            Some(other) if other.link != item.link || other.title != item.title => {
                clashing.insert(id);
            }
            Some(_) => {}
            None => {
                first.insert(id, item);
            }
        }
    }
    clashing
}

/// The keys of every item of one document of `feed`, under `policy`. A guid or link that
/// the document gives to different items is no key at all: recorded as seen, it would make
/// every later item carrying it look old.
pub fn keys(feed: &str, items: &[Item], policy: KeyPolicy) -> Vec<ItemKeys> {
    let feed_scope = Scope::of(feed);
    let guids: Vec<Option<String>> = items.iter().map(|i| i.guid.clone()).collect();
    let links: Vec<Option<String>> = items
        .iter()
        .map(|i| i.link.as_deref().and_then(normalize_link))
        .collect();
    let bad_guids = clashing(items, &guids);
    let bad_links = clashing(items, &links);
    items
        .iter()
        .zip(guids.iter().zip(&links))
        .map(|(item, (guid, link))| {
            let guid = guid
                .as_deref()
                .filter(|g| !bad_guids.contains(g))
                .map(|g| Key::in_scope(feed_scope, &["guid", feed, g]));
            let link = link
                .as_deref()
                .filter(|l| !bad_links.contains(l))
                .map(|l| Key::scoped(link_host(l), &["link", l]));
            let content = content_key(feed, feed_scope, item);
            let primary = match policy {
                KeyPolicy::Guid => guid.or(link).unwrap_or(content),
                KeyPolicy::Link => link.unwrap_or(content),
                KeyPolicy::Content => content,
            };
            let mut keys = ItemKeys {
                primary: primary.0,
                candidates: vec![primary.0],
                legacy: vec![primary.1],
            };
            for (k, old) in [guid, link, Some(content)].into_iter().flatten() {
                if !keys.candidates.contains(&k) {
                    keys.candidates.push(k);
                    keys.legacy.push(old);
                }
            }
            keys
        })
        .collect()
}

/// The scope of a link's key: its host (with port), so that one story linked from two
/// feeds has one key.
fn link_host(link: &str) -> &str {
    let rest = link.split_once("://").map_or(link, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// The content key (scoped to the feed) and its unscoped form.
fn content_key(feed: &str, scope: Scope, item: &Item) -> (Key, Key) {
    let date = item
        .published
        .map(|d| d.timestamp().to_string())
        .unwrap_or_default();
    Key::in_scope(
        scope,
        &[
            "content",
            feed,
            &item.title,
            &date,
            &item.summary,
            &item.content,
        ],
    )
}

/// A digest of an item's text, to notice when an outlet edits it: of its normalised title,
/// summary, content and categories, the fields it always covered. The extension texts
/// ([`Item::extra`]) are left out on purpose: reading them made no stored item look edited
/// (an edit may alert), and the shown text is left out so that a change of shown text only
/// (ё for е) is not an edit.
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

    /// Keys of one feed share their first 4 bytes, and so do link keys of one host,
    /// whichever feed links them (one story in two feeds is one key); each key's older,
    /// unscoped form is [`Key::of`] of the same parts.
    #[test]
    fn keys_are_scoped_to_their_feed_or_host() {
        let a = item(Some("g1"), Some("https://News.example/a?utm_source=x"), "A");
        let b = item(Some("g2"), Some("https://news.example/b"), "B");
        let ka = keys("f", std::slice::from_ref(&a), KeyPolicy::Guid).remove(0);
        let kb = keys("f", std::slice::from_ref(&b), KeyPolicy::Guid).remove(0);
        let kc = keys("other", std::slice::from_ref(&a), KeyPolicy::Guid).remove(0);
        assert_eq!(ka.candidates.len(), 3);
        assert_eq!(ka.legacy.len(), 3);
        // guid and content keys: scoped to the feed
        assert_eq!(ka.candidates[0].0[..4], kb.candidates[0].0[..4]);
        assert_eq!(ka.candidates[2].0[..4], kb.candidates[2].0[..4]);
        assert_ne!(ka.candidates[0].0[..4], kc.candidates[0].0[..4]);
        // link keys: scoped to the host, the same from any feed
        assert_eq!(ka.candidates[1].0[..4], kb.candidates[1].0[..4]);
        assert_eq!(ka.candidates[1], kc.candidates[1]);
        assert_ne!(ka.candidates[1].0[..4], ka.candidates[0].0[..4]);
        assert_eq!(ka.legacy[0], Key::of(&["guid", "f", "g1"]));
        assert_eq!(ka.legacy[1], Key::of(&["link", "https://news.example/a"]));
        for (k, old) in ka.candidates.iter().zip(&ka.legacy) {
            assert_eq!(k.0[4..], old.0[..12]);
        }
        assert_eq!(ka.primary, ka.candidates[0]);
        assert_eq!(ka.lookup(false).count(), 3);
        assert_eq!(ka.lookup(true).nth(3), Some(&ka.legacy[0]));
    }

    fn item(guid: Option<&str>, link: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_string),
            link: link.map(str::to_string),
            title: title.into(),
            summary: String::new(),
            content: String::new(),
            categories: vec![],
            published: None,
            ..Item::default()
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
            (
                "https://meduza.io/en/news/2024/01/15/csto-drills?utm_source=telegram&utm_medium=en&utm_campaign=share",
                "https://meduza.io/en/news/2024/01/15/csto-drills",
            ),
            (
                "https://tass.com/politics/1734567?utm_source=google.com&utm_medium=organic&utm_campaign=google.com&utm_referrer=google.com",
                "https://tass.com/politics/1734567",
            ),
            (
                "https://eurasianet.org/kyrgyzstan-cis-summit?fbclid=IwAR2xQvJbQ_abc123",
                "https://eurasianet.org/kyrgyzstan-cis-summit",
            ),
            (
                "https://www.bbc.com/news/world-europe-67890123?at_medium=RSS&at_campaign=KARANGA",
                "https://www.bbc.com/news/world-europe-67890123",
            ),
            (
                // a parameter that selects the page is kept, in its place
                "https://www.kommersant.ru/doc/6412345?from=main&utm_source=yxnews&page=2",
                "https://www.kommersant.ru/doc/6412345?from=main&page=2",
            ),
            (
                "https://www.msn.com/en-us/news/world/cis-leaders-meet/ar-AA1abcd?ocid=msedgntp",
                "https://www.msn.com/en-us/news/world/cis-leaders-meet/ar-AA1abcd",
            ),
            ("not a url", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_link(input).unwrap_or_default(), want, "{input}");
        }
    }

    /// 40 distinct items, each with its own guid and link.
    fn document() -> Vec<Item> {
        (0..40)
            .map(|i| {
                item(
                    Some(&format!("g{i}")),
                    Some(&format!("https://x.example/{i}")),
                    &format!("story {i}"),
                )
            })
            .collect()
    }

    #[test]
    fn guids_are_trusted_until_more_than_five_percent_are_bad() {
        type Edit = fn(&mut [Item]);
        let cases: [(&str, Edit, KeyPolicy); 9] = [
            ("all distinct", |_| {}, KeyPolicy::Guid),
            (
                "2/40 blank = 5%: still trusted",
                |d| d[..2].iter_mut().for_each(|i| i.guid = None),
                KeyPolicy::Guid,
            ),
            (
                "3/40 blank > 5%",
                |d| d[..3].iter_mut().for_each(|i| i.guid = None),
                KeyPolicy::Link,
            ),
            (
                "two different items share a guid: 2/40",
                |d| d[1].guid = d[0].guid.clone(),
                KeyPolicy::Guid,
            ),
            (
                "three different items share a guid: 3/40",
                |d| d[..3].iter_mut().for_each(|i| i.guid = Some("same".into())),
                KeyPolicy::Link,
            ),
            (
                "an entry repeated verbatim is a duplicate, not a clash",
                |d| (1..6).for_each(|i| d[i] = d[0].clone()),
                KeyPolicy::Guid,
            ),
            (
                "every guid is the channel's link (a common generator bug)",
                |d| {
                    d.iter_mut()
                        .for_each(|i| i.guid = Some("https://x.example/".into()))
                },
                KeyPolicy::Link,
            ),
            (
                "bad guids, and links differing only by tracking parameters",
                |d| {
                    for (n, i) in d[..4].iter_mut().enumerate() {
                        i.guid = None;
                        i.link = Some(format!("https://x.example/0?utm_source={n}"));
                    }
                },
                KeyPolicy::Content,
            ),
            (
                "no guids, no links",
                |d| {
                    d.iter_mut().for_each(|i| {
                        i.guid = None;
                        i.link = None
                    })
                },
                KeyPolicy::Content,
            ),
        ];
        for (scenario, edit, want) in cases {
            let mut d = document();
            edit(&mut d);
            assert_eq!(policy(&d), want, "{scenario}");
        }
        assert_eq!(policy(&[]), KeyPolicy::Guid);
    }

    #[test]
    fn a_policy_change_is_reported_once_and_an_empty_document_keeps_the_policy() {
        let good = document();
        let mut bad = document();
        bad.iter_mut().for_each(|i| i.guid = None);
        use KeyPolicy::*;
        assert_eq!(
            next_policy(None, &good),
            (Guid, false),
            "the usual first policy"
        );
        assert_eq!(
            next_policy(None, &bad),
            (Link, true),
            "unusual from the start"
        );
        assert_eq!(
            next_policy(Some(Link), &bad),
            (Link, false),
            "no change, no line"
        );
        assert_eq!(next_policy(Some(Guid), &bad), (Link, true));
        assert_eq!(
            next_policy(Some(Link), &good),
            (Guid, true),
            "guids recovered"
        );
        assert_eq!(
            next_policy(Some(Link), &[]),
            (Link, false),
            "empty says nothing"
        );
        assert_eq!(next_policy(None, &[]), (Guid, false));
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

    /// Regression: a guid shared by different items (a generator that writes the channel
    /// link into every <guid>) was recorded as seen, so every later item carrying it looked
    /// old and never alerted.
    #[test]
    fn a_guid_given_to_different_items_is_not_a_key() {
        let items = [
            item(Some("https://x.example/"), Some("https://x.example/1"), "a"),
            item(Some("https://x.example/"), Some("https://x.example/2"), "b"),
        ];
        let k = keys("f", &items, KeyPolicy::Guid);
        let shared = Key::scoped("f", &["guid", "f", "https://x.example/"]).0;
        assert!(k.iter().all(|k| !k.candidates.contains(&shared)), "{k:?}");
        assert_ne!(k[0].primary, k[1].primary);
        // an entry repeated verbatim keeps its keys (it is one item, twice)
        let twice = [items[0].clone(), items[0].clone()];
        let k = keys("f", &twice, KeyPolicy::Guid);
        assert_eq!(k[0], k[1]);
        assert_eq!(k[0].primary, shared);
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
        assert_eq!(
            Key::scoped("f", &["guid", "f", "g"]).0.hex(),
            format!(
                "{}dfa3232f2c8fcd45f5e6c836",
                &Key::of(&["scope", "f"]).hex()[..8]
            )
        );
        assert_eq!(Key::of(&["scope", "f"]).hex()[..8], *"278337c7");
    }
}
