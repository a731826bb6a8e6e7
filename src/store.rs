//! The store: every sled call lives here, behind an API in feedwatch's own terms.
//!
//! Trees: `feeds` (name → [`FeedState`]), `items` (item key → [`StoredItem`]), `seen`
//! (every candidate key → item key; never forgotten), `alerts` (alert id → [`Alert`]; an id
//! present means that watch has fired for that item, ever), `outbox` (sequence → alert id,
//! the alerts not yet delivered) and `meta` (schema version). One poll's items, seen keys,
//! alerts and feed state are written in one transaction ([`Store::commit_poll`]), so an
//! alert exists if and only if its item was recorded.
//!
//! sled traps handled here: its 1 GB default cache (set from the config), flushes from one
//! caller at a time (the deliverer), and its directory lock, which is why a pid file beside
//! it names the process holding the store.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::alert::Alert;
use crate::dedup::{ItemKeys, Key, KeyPolicy};
use crate::fetch::Validators;
use crate::parse::Item;
use crate::watch::Fired;

/// Version of the layout written by this build; older stores are migrated on open.
pub const SCHEMA_VERSION: u32 = 1;

const PID_FILE: &str = "feedwatch.pid";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store {path} is held by a running feedwatch{}; stop it first (systemctl stop feedwatch) or use another store", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held { path: PathBuf, pid: Option<u32> },
    #[error(
        "the store {path} was written by a newer feedwatch (schema {found}, this build knows up to {SCHEMA_VERSION}); upgrade feedwatch"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error(
        "cannot open the store {path}: {source}; check that the directory exists and is writable by this user"
    )]
    Open { path: PathBuf, source: sled::Error },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: damaged record in {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What feedwatch remembers about a feed between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    pub name: String,
    /// The URL last polled.
    pub url: String,
    pub validators: Validators,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, in words, and when it happened; cleared by a success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failures since the last success.
    pub failures: u32,
    /// Items first seen in this feed.
    pub items: u64,
    /// How the last document's items were identified.
    pub key_policy: Option<KeyPolicy>,
}

/// An item as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    pub key: String,
    /// Every feed it has been seen in, the first one first.
    pub feeds: Vec<String>,
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub summary: String,
    pub content: String,
    pub categories: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// Digest of the text, to notice edits.
    pub digest: String,
    /// Every watch its text has matched at any sighting, whether it alerted or was held
    /// back as backlog: an edit alerts only for watches not in here.
    #[serde(default)]
    pub matched: Vec<String>,
}

/// One item of a polled document, with what the pure stages decided about it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub keys: ItemKeys,
    pub item: Item,
    pub digest: String,
    /// The watches its text fires.
    pub fired: Vec<Fired>,
    /// False for backlog items of a feed's first poll: stored and seen, never alerted.
    pub may_alert: bool,
}

/// What one committed poll changed.
#[derive(Debug, Default)]
pub struct Committed {
    pub new_items: usize,
    pub alerts: Vec<Alert>,
}

/// The sled database.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    feeds: sled::Tree,
    items: sled::Tree,
    seen: sled::Tree,
    alerts: sled::Tree,
    outbox: sled::Tree,
}

impl Store {
    /// Opens (creating if needed) the store at `path` with a page cache of `cache` bytes.
    pub fn open(path: &Path, cache: u64) -> Result<Store> {
        if let Err(source) = std::fs::create_dir_all(path) {
            return Err(StoreError::Open {
                path: path.into(),
                source: source.into(),
            });
        }
        let db = match sled::Config::new().path(path).cache_capacity(cache).open() {
            Ok(db) => db,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                return Err(StoreError::Held {
                    path: path.into(),
                    pid: holder(path),
                });
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.into(),
                    source,
                });
            }
        };
        let meta = db.open_tree("meta")?;
        match meta.get("schema")? {
            None => {
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 4]));
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew {
                        path: path.into(),
                        found,
                    });
                }
            }
        }
        let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
        Ok(Store {
            path: path.into(),
            feeds: db.open_tree("feeds")?,
            items: db.open_tree("items")?,
            seen: db.open_tree("seen")?,
            alerts: db.open_tree("alerts")?,
            outbox: db.open_tree("outbox")?,
            db,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn feed_state(&self, name: &str) -> Result<Option<FeedState>> {
        self.feeds
            .get(name)?
            .map(|v| decode("feeds", &v))
            .transpose()
    }

    pub fn save_feed_state(&self, state: &FeedState) -> Result<()> {
        self.feeds.insert(state.name.as_bytes(), encode(state))?;
        Ok(())
    }

    /// Records one poll of `state.name` in one transaction: new items and their seen keys,
    /// edits, the alerts they raise (into the outbox), and the feed's new state.
    pub fn commit_poll(
        &self,
        state: &FeedState,
        incoming: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<Committed> {
        let trees = (
            &self.feeds,
            &self.items,
            &self.seen,
            &self.alerts,
            &self.outbox,
        );
        let result = trees.transaction(|(feeds, items, seen, alerts, outbox)| {
            let mut out = Committed::default();
            let mut state = state.clone();
            for inc in incoming {
                let existing = find(seen, &inc.keys)?;
                // the watches this sighting may alert for
                let (key, mut stored, raise): (Key, StoredItem, Vec<&Fired>) = match existing {
                    Some(key) => {
                        let Some(stored) = items.get(key.0)? else {
                            // a tombstone: seen long ago, body dropped; never alert again
                            record_keys(seen, &inc.keys, key)?;
                            continue;
                        };
                        let mut stored: StoredItem = decode("items", &stored).map_err(abort)?;
                        let edited = stored.digest != inc.digest;
                        let new_here = !stored.feeds.contains(&state.name);
                        if !edited && !new_here {
                            record_keys(seen, &inc.keys, key)?;
                            continue;
                        }
                        if new_here {
                            stored.feeds.push(state.name.clone());
                            state.items += 1;
                        }
                        // an edit may fire a watch that never matched this item before
                        let mut raise = Vec::new();
                        if edited {
                            apply_text(&mut stored, &inc.item, &inc.digest);
                            for fired in &inc.fired {
                                if !stored.matched.contains(&fired.watch) {
                                    stored.matched.push(fired.watch.clone());
                                    raise.push(fired);
                                }
                            }
                        }
                        (key, stored, raise)
                    }
                    None => {
                        out.new_items += 1;
                        state.items += 1;
                        let stored = StoredItem {
                            key: inc.keys.primary.hex(),
                            feeds: vec![state.name.clone()],
                            guid: inc.item.guid.clone(),
                            link: inc.item.link.clone(),
                            title: inc.item.title.clone(),
                            summary: inc.item.summary.clone(),
                            content: inc.item.content.clone(),
                            categories: inc.item.categories.clone(),
                            published: inc.item.published,
                            first_seen: now,
                            digest: inc.digest.clone(),
                            matched: inc.fired.iter().map(|f| f.watch.clone()).collect(),
                        };
                        let raise = if inc.may_alert {
                            inc.fired.iter().collect()
                        } else {
                            Vec::new() // backlog: matched, remembered, held back
                        };
                        (inc.keys.primary, stored, raise)
                    }
                };
                for fired in raise {
                    let alert = Alert::new(
                        key,
                        &stored.feeds[0],
                        &stored.title,
                        stored.link.as_deref(),
                        stored.published,
                        now,
                        fired,
                    );
                    let id = key.alert_id(&fired.watch);
                    if alerts.get(id.0)?.is_some() {
                        continue; // this watch fired for this story already
                    }
                    alerts.insert(&id.0, encode(&alert))?;
                    outbox.insert(&outbox.generate_id()?.to_be_bytes(), &id.0)?;
                    out.alerts.push(alert);
                }
                stored.key = key.hex();
                items.insert(&key.0, encode(&stored))?;
                record_keys(seen, &inc.keys, key)?;
            }
            feeds.insert(state.name.as_bytes(), encode(&state))?;
            Ok(out)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Undelivered alerts, oldest first, with their outbox sequence numbers.
    pub fn pending(&self, limit: usize) -> Result<Vec<(u64, Alert)>> {
        let mut out = Vec::new();
        for entry in self.outbox.iter().take(limit) {
            let (seq, id) = entry?;
            let seq = u64::from_be_bytes(seq.as_ref().try_into().unwrap_or_default());
            if let Some(a) = self.alerts.get(&id)? {
                out.push((seq, decode("alerts", &a)?));
            }
        }
        Ok(out)
    }

    /// Removes delivered alerts from the outbox.
    pub fn mark_delivered(&self, seqs: &[u64]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for s in seqs {
            batch.remove(&s.to_be_bytes());
        }
        self.outbox.apply_batch(batch)?;
        Ok(())
    }

    /// Writes everything to disk. Blocking; call from one place at a time.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub fn feed_states(&self) -> Result<Vec<FeedState>> {
        self.feeds
            .iter()
            .values()
            .map(|v| decode("feeds", &v?))
            .collect()
    }

    /// Stored items, newest first.
    pub fn items(&self) -> Result<Vec<StoredItem>> {
        let mut items: Vec<StoredItem> = self
            .items
            .iter()
            .values()
            .map(|v| decode("items", &v?))
            .collect::<Result<_>>()?;
        items.sort_by_key(|i| std::cmp::Reverse((i.first_seen, i.published)));
        Ok(items)
    }

    /// Every alert raised, newest first.
    pub fn alerts(&self) -> Result<Vec<Alert>> {
        let mut alerts: Vec<Alert> = self
            .alerts
            .iter()
            .values()
            .map(|v| decode("alerts", &v?))
            .collect::<Result<_>>()?;
        alerts.sort_by(|a, b| (&b.detected, &b.published).cmp(&(&a.detected, &a.published)));
        Ok(alerts)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.db.flush();
        let _ = std::fs::remove_file(self.path.join(PID_FILE));
    }
}

/// The pid written by the process that holds the store, if it is still alive.
fn holder(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The item any of these keys was seen under.
fn find(seen: &TransactionalTree, keys: &ItemKeys) -> TxResult<Option<Key>> {
    for k in &keys.candidates {
        if let Some(v) = seen.get(k.0)? {
            if let Ok(bytes) = <[u8; 16]>::try_from(v.as_ref()) {
                return Ok(Some(Key(bytes)));
            }
        }
    }
    Ok(None)
}

fn record_keys(seen: &TransactionalTree, keys: &ItemKeys, item: Key) -> TxResult<()> {
    for k in &keys.candidates {
        seen.insert(&k.0, &item.0)?;
    }
    Ok(())
}

fn apply_text(stored: &mut StoredItem, item: &Item, digest: &str) {
    stored.title = item.title.clone();
    stored.summary = item.summary.clone();
    stored.content = item.content.clone();
    stored.categories = item.categories.clone();
    stored.digest = digest.to_string();
    if item.link.is_some() {
        stored.link = item.link.clone();
    }
    if item.published.is_some() {
        stored.published = item.published;
    }
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records always serialise")
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::{self, KeyPolicy};

    pub(crate) fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), 1 << 20).unwrap();
        (dir, store)
    }

    pub(crate) fn item(guid: &str, link: &str, title: &str) -> Item {
        Item {
            guid: Some(guid.into()),
            link: Some(link.into()),
            title: title.into(),
            summary: String::new(),
            content: String::new(),
            categories: vec![],
            published: None,
        }
    }

    /// `item` as polled from `feed` under `policy`, firing `watches`.
    pub(crate) fn incoming(
        feed: &str,
        item: &Item,
        policy: KeyPolicy,
        watches: &[&str],
        may_alert: bool,
    ) -> Incoming {
        Incoming {
            keys: dedup::keys(feed, std::slice::from_ref(item), policy).remove(0),
            item: item.clone(),
            digest: dedup::text_digest(item),
            fired: watches
                .iter()
                .map(|w| Fired {
                    watch: w.to_string(),
                    matches: vec![],
                })
                .collect(),
            may_alert,
        }
    }

    pub(crate) fn poll(store: &Store, feed: &str, incoming: &[Incoming]) -> Committed {
        let state = store.feed_state(feed).unwrap().unwrap_or(FeedState {
            name: feed.into(),
            ..FeedState::default()
        });
        store.commit_poll(&state, incoming, Utc::now()).unwrap()
    }

    fn watches(c: &Committed) -> Vec<&str> {
        c.alerts.iter().map(|a| a.watch.as_str()).collect()
    }

    /// Every candidate key is recorded, so a feed whose policy changes (guid → link →
    /// content and back) finds its old items under the new key.
    #[test]
    fn a_policy_switch_does_not_make_old_items_new() {
        let (_d, store) = open();
        let it = item("g1", "https://x.example/1?utm_source=rss", "CIS summit");
        let first = poll(
            &store,
            "f",
            &[incoming("f", &it, KeyPolicy::Guid, &["cis"], true)],
        );
        assert_eq!((first.new_items, watches(&first)), (1, vec!["cis"]));
        for policy in [KeyPolicy::Link, KeyPolicy::Content, KeyPolicy::Guid] {
            let again = poll(&store, "f", &[incoming("f", &it, policy, &["cis"], true)]);
            assert_eq!((again.new_items, again.alerts.len()), (0, 0), "{policy:?}");
        }
        assert_eq!(store.items().unwrap().len(), 1);
    }

    /// An edited item alerts for a watch it now matches for the first time, never again
    /// for one that already fired.
    #[test]
    fn an_edit_alerts_only_for_a_newly_matching_watch() {
        let (_d, store) = open();
        let mut it = item("g1", "https://x.example/1", "CIS summit opens");
        let c = poll(
            &store,
            "f",
            &[incoming("f", &it, KeyPolicy::Guid, &["cis"], true)],
        );
        assert_eq!(watches(&c), ["cis"]);
        it.title = "CIS summit opens; CSTO joins".into();
        let inc = incoming("f", &it, KeyPolicy::Guid, &["cis", "csto"], true);
        let c = poll(&store, "f", &[inc]);
        assert_eq!((c.new_items, watches(&c)), (0, vec!["csto"]));
        it.title = "CIS summit opens; CSTO joins (updated)".into();
        let inc = incoming("f", &it, KeyPolicy::Guid, &["cis", "csto"], true);
        assert!(poll(&store, "f", &[inc]).alerts.is_empty());
        assert_eq!(
            store.items().unwrap()[0].title,
            it.title,
            "the edit is kept"
        );
    }

    /// A backlog item that matched a watch and was held back does not alert for that watch
    /// when an edit arrives; a watch it matches for the first time may.
    #[test]
    fn an_edited_backlog_item_stays_held_back() {
        let (_d, store) = open();
        let mut it = item("g1", "https://x.example/1", "CIS summit opens");
        let c = poll(
            &store,
            "f",
            &[incoming("f", &it, KeyPolicy::Guid, &["cis"], false)],
        );
        assert_eq!((c.new_items, c.alerts.len()), (1, 0));
        it.title = "CIS summit opens (updated)".into();
        let c = poll(
            &store,
            "f",
            &[incoming("f", &it, KeyPolicy::Guid, &["cis"], true)],
        );
        assert!(c.alerts.is_empty(), "{:?}", c.alerts);
        it.title = "CIS summit opens; CSTO joins".into();
        let inc = incoming("f", &it, KeyPolicy::Guid, &["cis", "csto"], true);
        assert_eq!(watches(&poll(&store, "f", &[inc])), ["csto"]);
    }

    /// One story in two feeds: one item, one alert, both feeds listed, first one first.
    #[test]
    fn a_story_in_two_feeds_is_one_item() {
        let (_d, store) = open();
        let a = item("a-1", "https://x.example/s", "CSTO drills");
        let b = item(
            "b-9",
            "https://x.example/s?utm_medium=feed#top",
            "CSTO drills",
        );
        let c = poll(
            &store,
            "a",
            &[incoming("a", &a, KeyPolicy::Guid, &["csto"], true)],
        );
        assert_eq!(c.alerts.len(), 1);
        let c = poll(
            &store,
            "b",
            &[incoming("b", &b, KeyPolicy::Guid, &["csto"], true)],
        );
        assert_eq!((c.new_items, c.alerts.len()), (0, 0));
        assert_eq!(store.items().unwrap()[0].feeds, ["a", "b"]);
    }

    /// Alerts wait in the outbox until marked delivered, oldest first.
    #[test]
    fn pending_alerts_stay_until_delivered() {
        let (_d, store) = open();
        let one = item("1", "https://x.example/1", "CIS");
        let two = item("2", "https://x.example/2", "CSTO");
        poll(
            &store,
            "f",
            &[incoming("f", &one, KeyPolicy::Guid, &["cis"], true)],
        );
        poll(
            &store,
            "f",
            &[incoming("f", &two, KeyPolicy::Guid, &["csto"], true)],
        );
        let pending = store.pending(10).unwrap();
        let titles: Vec<&str> = pending.iter().map(|(_, a)| a.title.as_str()).collect();
        assert_eq!(titles, ["CIS", "CSTO"]);
        store.mark_delivered(&[pending[0].0]).unwrap();
        let pending = store.pending(10).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].1.title, "CSTO");
    }
}
