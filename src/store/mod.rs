//! The store: every sled call lives here, behind an API in feedwatch's own terms, so that
//! a change of engine is a change of this module alone.
//!
//! Trees (schema 3):
//! - `feeds`: feed name → [`FeedState`] (JSON);
//! - `records`: the item's *location*, [`time_key`] (first sighting) ++ item key →
//!   [`StoredItem`] (binary, see `record`; JSON from older builds): the bodies, in order of
//!   first sighting, that retention drops from the oldest end (see `location`);
//! - `seen`: every candidate key → the item's location, never forgotten: a key whose
//!   location has no record is a tombstone, and a tombstoned item never alerts again (a
//!   16-byte value, the bare item key, is a tombstone left by schema 2);
//! - `alerts`: alert id → [`Alert`](crate::alert::Alert) (JSON), kept forever: an id present means that watch has
//!   fired for that item;
//! - `health`: feed-health line id → the line (text): a line with its id present was
//!   written to the outbox once, ever;
//! - `outbox`: [`time_key`] (when queued) ++ alert id or health-line id → nothing for an
//!   alert, [`HEALTH_TAG`] for a feed-health line: alert-log lines not yet delivered;
//! - `journal`: sequence → delivered alert-log line, kept only while sinks are configured
//!   (see [`Store::keep_journal`]); each sink's cursor is `sink:NAME` in `meta`;
//! - `meta`: `schema` (u32, big-endian), the markers of an unfinished import, the sinks'
//!   cursors and the health check's last write.
//!
//! One poll's items, seen keys, alerts, outbox entries and feed state are written in one
//! transaction ([`Store::commit_poll`]; a huge document in parts, the last with the state),
//! so an alert exists if and only if its item was recorded. Which alerts a sighting raises
//! is [`crate::decide`]'s pure verdict on what the transaction reads. Alerts that `rematch` finds for items already stored go into the alerts tree
//! and the outbox in one transaction too ([`Store::commit_alerts`]), and are delivered the
//! same way. Submodules: `items` (a poll's commit, stored items and alerts), `feeds`
//! (feed states and feed-health lines), `outbox` (undelivered lines and the sinks'
//! journal), `location` (where a record lives), `lock` (the directory lock and pid file),
//! `migrate` and `migrate_v3` (older layouts, on open), [`retention`] (dropping old bodies), [`export`] (the JSON-lines backup format, also
//! used by [`compact`]). [`FeedState`] and its transitions are the scheduler's
//! ([`crate::schedule::state`]); the store only persists it.
//!
//! sled traps handled here: its 1 GB default cache (set from the config), flushes from one
//! caller at a time (the deliverer), its directory lock (a pid file beside it names the
//! process holding the store), and its disk space, which deletes do not give back (see
//! [`compact`]).

mod articles;
pub mod compact;
mod existing;
pub mod export;
mod feeds;
mod items;
mod location;
mod lock;
mod migrate;
mod migrate_v3;
mod outbox;
mod query;
mod record;
pub mod retention;
mod seen_filter;
pub mod slot;

pub use query::{Cursor, ItemsNewest};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use articles::ArticleHealth;
pub use items::{Committed, Finish, Incoming, StoredItem};
pub use outbox::{HEALTH_TAG, Queued, time_key};
use outbox::{JOURNAL, SINK_CURSOR, be_u64, key_time, time_prefix};

/// The feed state the store persists; it and its transitions are the scheduler's.
pub use crate::schedule::FeedState;

/// Version of the layout written by this build; older stores are migrated on open.
/// 1: outbox keyed by a sled counter, no `first_seen` index, no `StoredItem::matched`.
/// 2: outbox keyed by time and alert id (import-safe), `first_seen` index for retention.
/// 3: records keyed by location (first sighting ++ item key) in `records`, `seen` values
/// are locations; no `items` tree, no `first_seen` index.
pub const SCHEMA_VERSION: u32 = 3;

/// The tree of the item records, by location.
const RECORDS: &str = "records";

/// `meta` key of the schema version.
const SCHEMA: &str = "schema";
/// `meta` key present while an import is under way.
const IMPORTING: &str = "importing";
/// `meta` key present in a store whose keys were all made scoped ([`crate::dedup::Key::scoped`]):
/// written when a store is created. A store without it (written by an older build, or
/// imported from one) is looked up under the older forms of keys as well.
const SCOPED_KEYS: &str = "scoped_keys";

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
    #[error(
        "no store yet at {path}: nothing has been polled with this config; the service creates it at its first start (or run `feedwatch once`)"
    )]
    NotYet { path: PathBuf },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: damaged key in {tree}: {len} bytes, expected {expected}")]
    BadKey {
        tree: &'static str,
        len: usize,
        expected: usize,
    },
    #[error(
        "store: damaged record in {tree}: {source}; restore the store from an export (feedwatch import)"
    )]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "store: damaged record in {tree}: {message}; restore the store from an export (feedwatch import)"
    )]
    BadRecord { tree: &'static str, message: String },
    #[error(
        "cannot import into the store {path}: it already holds data; import restores into an empty store, so set storage.path to a new directory or move this one aside"
    )]
    NotEmpty { path: PathBuf },
    #[error(
        "the store {path} holds an unfinished import (feedwatch import was interrupted); delete the directory and run the import again"
    )]
    HalfImported { path: PathBuf },
    #[error("importing line {line}: {message}; is this a file written by feedwatch export?")]
    Import { line: u64, message: String },
    #[error("{step}: {source}")]
    Io {
        step: String,
        source: std::io::Error,
    },
}

impl StoreError {
    fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let step = step.into();
        move |source| StoreError::Io { step, source }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The sled database.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    feeds: sled::Tree,
    records: sled::Tree,
    seen: sled::Tree,
    alerts: sled::Tree,
    health: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
    /// "Certainly never seen" for most keys not in `seen`, without reading it.
    seen_filter: seen_filter::SeenFilter,
    /// Whether delivered lines are journaled for sinks.
    journal_on: std::sync::atomic::AtomicBool,
    /// Whether dropping this handle removes the pid file (not for a store that was moved
    /// aside by compaction: the pid file at `path` is then another store's).
    owns_pid_file: bool,
    /// Whether sled compresses this store itself (see [`lock::compressed`]): records are
    /// then written plain.
    compressed: bool,
}

impl Store {
    /// Opens (creating if needed) the store at `path` with a page cache of `cache` bytes,
    /// finishing an interrupted compaction first and migrating an older schema.
    pub fn open(path: &Path, cache: u64) -> Result<Store> {
        compact::recover(path)?;
        let mut store = Store::open_raw(path, cache)?;
        if store.meta.get(IMPORTING)?.is_some() {
            return Err(StoreError::HalfImported { path: path.into() });
        }
        match store.schema()? {
            None => {
                store.meta.insert(SCOPED_KEYS, &[])?;
                store.set_schema(SCHEMA_VERSION)?
            }
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: path.into(),
                    found,
                });
            }
            Some(found) if found < SCHEMA_VERSION => store = migrate::run(store, found, cache)?,
            Some(_) => {}
        }
        store.ensure_alert_index()?;
        lock::write_pid(path);
        Ok(store)
    }

    /// Opens the sled database and its trees, without looking at what they hold.
    fn open_raw(path: &Path, cache: u64) -> Result<Store> {
        Store::open_raw_as(path, cache, false)
    }

    /// [`Store::open_raw`], making the store compressed if it is new and `compress_new`.
    fn open_raw_as(path: &Path, cache: u64, compress_new: bool) -> Result<Store> {
        let created = !path.exists();
        if let Err(source) = std::fs::create_dir_all(path) {
            return Err(StoreError::Open {
                path: path.into(),
                source: source.into(),
            });
        }
        if created && compact::under_way(path) {
            // the store is between the two renames of a compaction: the directory just
            // made (empty, so it goes; never the copy renamed in meanwhile) must not
            // become a new store in its place
            let _ = std::fs::remove_dir(path);
            return Err(StoreError::Held {
                path: path.into(),
                pid: None,
            });
        }
        let (db, compressed) = lock::open_db(path, cache, compress_new)?;
        Ok(Store {
            path: path.into(),
            feeds: db.open_tree("feeds")?,
            records: db.open_tree(RECORDS)?,
            seen: db.open_tree("seen")?,
            alerts: db.open_tree("alerts")?,
            health: db.open_tree("health")?,
            outbox: db.open_tree("outbox")?,
            meta: db.open_tree("meta")?,
            seen_filter: Default::default(),
            journal_on: std::sync::atomic::AtomicBool::new(false),
            db,
            owns_pid_file: true,
            compressed,
        })
    }

    /// The schema version recorded in the store; `None` for a new, empty one.
    fn schema(&self) -> Result<Option<u32>> {
        Ok(self
            .meta
            .get(SCHEMA)?
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 4]))))
    }

    /// Whether items may be stored under keys of the older, unscoped form (see
    /// [`SCOPED_KEYS`]).
    pub(crate) fn legacy_keys(&self) -> Result<bool> {
        Ok(!self.meta.contains_key(SCOPED_KEYS)?)
    }

    fn set_schema(&self, version: u32) -> Result<()> {
        self.meta.insert(SCHEMA, &version.to_be_bytes())?;
        Ok(())
    }

    /// True when the store holds no feed, item, seen key or alert.
    pub fn is_empty(&self) -> bool {
        [
            &self.feeds,
            &self.records,
            &self.seen,
            &self.alerts,
            &self.health,
            &self.outbox,
        ]
        .iter()
        .all(|t| t.is_empty())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Writes everything to disk. Blocking; call from one place at a time.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Whether the store takes a write now (for health checks).
    pub fn check_writable(&self) -> Result<()> {
        self.meta
            .insert("healthz", &chrono::Utc::now().timestamp().to_be_bytes())?;
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.db.flush();
        if self.owns_pid_file {
            lock::remove_pid(&self.path);
        }
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
    use chrono::Utc;

    use crate::alert::Alert;
    use crate::dedup::{self, KeyPolicy};
    use crate::parse::Item;
    use crate::watch::Fired;

    pub(crate) fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), 1 << 20).unwrap();
        (dir, store)
    }

    /// A store with two items, an alert delivered and one pending.
    pub(crate) fn filled() -> (tempfile::TempDir, Store) {
        let (d, store) = open();
        let a = item("1", "https://x.example/1", "CIS summit");
        let b = item("2", "https://x.example/2", "CSTO drills");
        poll(
            &store,
            "f",
            &[incoming("f", &a, KeyPolicy::Guid, &["cis"], true)],
        );
        let delivered = store.pending(10).unwrap();
        store.mark_delivered(&[delivered[0].0]).unwrap();
        poll(
            &store,
            "f",
            &[incoming("f", &b, KeyPolicy::Guid, &["csto"], true)],
        );
        (d, store)
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
            ..Item::default()
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
        let state = FeedState {
            name: "f".into(),
            ..FeedState::default()
        };
        let t = Utc::now();
        let inc = incoming("f", &two, KeyPolicy::Guid, &["csto"], true);
        store.commit_poll(&state, &[inc], t).unwrap();
        let inc = incoming("f", &one, KeyPolicy::Guid, &["cis"], true);
        let earlier = t - chrono::Duration::seconds(1);
        store.commit_poll(&state, &[inc], earlier).unwrap();
        let pending = store.pending(10).unwrap();
        let titles: Vec<String> = pending
            .iter()
            .map(|(_, l)| serde_json::from_str::<Alert>(l).unwrap().title)
            .collect();
        assert_eq!(titles, ["CIS", "CSTO"], "ordered by the time of the poll");
        store.mark_delivered(&[pending[0].0]).unwrap();
        let pending = store.pending(10).unwrap();
        assert_eq!(pending.len(), 1);
        assert!(pending[0].1.contains("CSTO"), "{}", pending[0].1);
    }

    /// `item` as an older build (unscoped keys) polled it.
    fn as_before_scoped_keys(mut inc: Incoming) -> Incoming {
        inc.keys.primary = inc.keys.legacy[0];
        inc.keys.candidates = inc.keys.legacy.clone();
        inc
    }

    /// A store written before keys were scoped still knows its items under their older
    /// keys: polled again, in the same feed or from another feed by link, they are neither
    /// new nor alerted again. The marker decides it: a store marked scoped does not look.
    #[test]
    fn a_store_from_before_scoped_keys_still_finds_its_items() {
        let it = item("g1", "https://x.example/1", "CIS summit");
        for scoped in [false, true] {
            let (_d, store) = open();
            if !scoped {
                store.meta.remove(SCOPED_KEYS).unwrap();
            }
            assert_eq!(store.legacy_keys().unwrap(), !scoped);
            let old = as_before_scoped_keys(incoming("a", &it, KeyPolicy::Guid, &["cis"], true));
            let c = poll(&store, "a", &[old]);
            assert_eq!((c.new_items, c.alerts.len()), (1, 1));
            let again = incoming("a", &it, KeyPolicy::Guid, &["cis"], true);
            let c = poll(&store, "a", &[again]);
            if scoped {
                // the older keys are not looked for: the item looks new (why the marker
                // is written only in stores that never held older keys)
                assert_eq!(c.new_items, 1);
                continue;
            }
            assert_eq!((c.new_items, c.alerts.len()), (0, 0));
            let mut other = item("b-7", "https://x.example/1", "CIS summit");
            other.summary = "elsewhere".into();
            let c = poll(
                &store,
                "b",
                &[incoming("b", &other, KeyPolicy::Guid, &["cis"], true)],
            );
            assert_eq!((c.new_items, c.alerts.len()), (0, 0));
            assert_eq!(store.items().unwrap()[0].feeds, ["a", "b"]);
        }
    }

    /// Whether keys may be of the older form travels with an export: a store made from an
    /// older store's export looks for them, one made from a new store's does not.
    #[test]
    fn an_export_says_whether_its_keys_are_scoped() {
        for scoped in [false, true] {
            let (_d, store) = filled();
            if !scoped {
                store.meta.remove(SCOPED_KEYS).unwrap();
            }
            let mut file = Vec::new();
            store.export(&mut file).unwrap();
            let header = String::from_utf8_lossy(&file)
                .lines()
                .next()
                .unwrap()
                .to_string();
            assert_eq!(header.contains("\"scoped_keys\":true"), scoped, "{header}");
            let (_e, copy) = open();
            copy.import(&file[..]).unwrap();
            assert_eq!(copy.legacy_keys().unwrap(), !scoped);
        }
    }
}
