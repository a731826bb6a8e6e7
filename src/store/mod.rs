//! The store: every sled call lives here, behind an API in feedwatch's own terms, so that
//! a change of engine is a change of this module alone.
//!
//! Trees (schema 2):
//! - `feeds`: feed name → [`FeedState`] (JSON);
//! - `items`: item key → [`StoredItem`] (JSON), the bodies that retention drops;
//! - `seen`: every candidate key → item key, never forgotten: a key whose item body is gone
//!   is a tombstone, and a tombstoned item never alerts again;
//! - `alerts`: alert id → [`Alert`] (JSON), kept forever: an id present means that watch has
//!   fired for that item;
//! - `health`: feed-health line id → the line (text): a line with its id present was
//!   written to the outbox once, ever;
//! - `outbox`: [`time_key`] (when queued) ++ alert id or health-line id → nothing for an
//!   alert, [`HEALTH_TAG`] for a feed-health line: alert-log lines not yet delivered;
//! - `journal`: sequence → delivered alert-log line, kept only while sinks are configured
//!   (see [`Store::keep_journal`]); each sink's cursor is `sink:NAME` in `meta`;
//! - `first_seen`: [`time_key`] (first sighting) ++ item key → nothing: the index that
//!   retention walks;
//! - `meta`: `schema` (u32, big-endian), the markers of an unfinished import, the sinks'
//!   cursors and the health check's last write.
//!
//! One poll's items, seen keys, alerts, outbox entries and feed state are written in one
//! transaction ([`Store::commit_poll`]), so an alert exists if and only if its item was
//! recorded. Alerts that `rematch` finds for items already stored go into the alerts tree
//! and the outbox in one transaction too ([`Store::commit_alerts`]), and are delivered the
//! same way. Submodules: [`migrate`] (older layouts, on open), [`retention`] (dropping old
//! bodies), [`export`] (the JSON-lines backup format, also used by [`compact`]).
//!
//! sled traps handled here: its 1 GB default cache (set from the config), flushes from one
//! caller at a time (the deliverer), its directory lock (a pid file beside it names the
//! process holding the store), and its disk space, which deletes do not give back (see
//! [`compact`]).

pub mod compact;
pub mod export;
mod migrate;
mod query;
pub mod retention;

pub use query::{Cursor, ItemsNewest};

use std::path::{Path, PathBuf};
use std::time::Duration;

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
/// 1: outbox keyed by a sled counter, no `first_seen` index, no `StoredItem::matched`.
/// 2: outbox keyed by time and alert id (import-safe), `first_seen` index for retention.
pub const SCHEMA_VERSION: u32 = 2;

const PID_FILE: &str = "feedwatch.pid";

/// How long [`Store::open`] waits for a lock that this process (or a holder that left no
/// pid) still has: sled lets go of it shortly after its last handle is dropped.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// `meta` key of the schema version.
const SCHEMA: &str = "schema";
/// `meta` key present while an import is under way.
const IMPORTING: &str = "importing";

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
    #[error("store: damaged key in {tree}: {len} bytes, expected 16")]
    BadKey { tree: &'static str, len: usize },
    #[error(
        "store: damaged record in {tree}: {source}; restore the store from an export (feedwatch import)"
    )]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
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

/// What feedwatch remembers about a feed between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedState {
    pub name: String,
    /// The URL polled: the configured one, or where a permanent redirect (301/308) led.
    pub url: String,
    /// The URL in the config when `url` was set; an operator's change there wins.
    pub config_url: String,
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
    /// When the current run of failures began.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the feed is no longer polled (the outlet said 410 Gone); `feedwatch enable` clears it.
    pub disabled: Option<String>,
    /// Polls that brought new items, (when, how many), for the last 30 days.
    pub recent_new: Vec<(DateTime<Utc>, u32)>,
    pub last_new_item: Option<DateTime<Utc>>,
    /// Seconds the feed's copy stays fresh, as the server or the feed's `<ttl>` declared.
    pub fresh_for: Option<u64>,
    pub next_poll: Option<DateTime<Utc>>,
    /// The unhealthy state last written to the alert log ("failing", "stale"), until recovery.
    pub reported: Option<String>,
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

impl StoredItem {
    /// The alert of `fired` for this item (stored under `key`), raised at `detected`: from
    /// the feed where the item was first seen.
    pub fn alert(&self, key: Key, detected: DateTime<Utc>, fired: &Fired) -> Alert {
        Alert::new(
            key,
            &self.feeds[0],
            &self.title,
            self.link.as_deref(),
            self.published,
            detected,
            fired,
        )
    }
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
    /// The feed's state as saved (its item count updated).
    pub state: FeedState,
}

/// The sled database.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    feeds: sled::Tree,
    items: sled::Tree,
    seen: sled::Tree,
    alerts: sled::Tree,
    health: sled::Tree,
    outbox: sled::Tree,
    first_seen: sled::Tree,
    meta: sled::Tree,
    /// Whether delivered lines are journaled for sinks.
    journal_on: std::sync::atomic::AtomicBool,
    /// Whether dropping this handle removes the pid file (not for a store that was moved
    /// aside by compaction: the pid file at `path` is then another store's).
    owns_pid_file: bool,
}

/// The outbox value that marks a feed-health line (an alert's entry has an empty value).
pub const HEALTH_TAG: u8 = b'h';

impl Store {
    /// Opens (creating if needed) the store at `path` with a page cache of `cache` bytes,
    /// finishing an interrupted compaction first and migrating an older schema.
    pub fn open(path: &Path, cache: u64) -> Result<Store> {
        compact::recover(path)?;
        let store = Store::open_raw(path, cache)?;
        if store.meta.get(IMPORTING)?.is_some() {
            return Err(StoreError::HalfImported { path: path.into() });
        }
        match store.schema()? {
            None => store.set_schema(SCHEMA_VERSION)?,
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: path.into(),
                    found,
                });
            }
            Some(found) if found < SCHEMA_VERSION => migrate::run(&store, found)?,
            Some(_) => {}
        }
        store.ensure_alert_index()?;
        let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
        Ok(store)
    }

    /// Opens the sled database and its trees, without looking at what they hold.
    fn open_raw(path: &Path, cache: u64) -> Result<Store> {
        if let Err(source) = std::fs::create_dir_all(path) {
            return Err(StoreError::Open {
                path: path.into(),
                source: source.into(),
            });
        }
        // sled releases its lock a moment after the last handle is dropped (its IO threads
        // finish the last writes): a store this process just closed, or one whose holder
        // left no pid, is tried again for up to LOCK_WAIT before it counts as held
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match sled::Config::new().path(path).cache_capacity(cache).open() {
                Ok(db) => break db,
                Err(e) if e.to_string().contains("could not acquire lock") => {
                    let pid = holder(path);
                    let ours = pid.is_none_or(|p| p == std::process::id());
                    if !ours || std::time::Instant::now() >= deadline {
                        return Err(StoreError::Held {
                            path: path.into(),
                            pid,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.into(),
                        source,
                    });
                }
            }
        };
        Ok(Store {
            path: path.into(),
            feeds: db.open_tree("feeds")?,
            items: db.open_tree("items")?,
            seen: db.open_tree("seen")?,
            alerts: db.open_tree("alerts")?,
            health: db.open_tree("health")?,
            outbox: db.open_tree("outbox")?,
            first_seen: db.open_tree("first_seen")?,
            meta: db.open_tree("meta")?,
            journal_on: std::sync::atomic::AtomicBool::new(false),
            db,
            owns_pid_file: true,
        })
    }

    /// The schema version recorded in the store; `None` for a new, empty one.
    fn schema(&self) -> Result<Option<u32>> {
        Ok(self
            .meta
            .get(SCHEMA)?
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 4]))))
    }

    fn set_schema(&self, version: u32) -> Result<()> {
        self.meta.insert(SCHEMA, &version.to_be_bytes())?;
        Ok(())
    }

    /// True when the store holds no feed, item, seen key or alert.
    pub fn is_empty(&self) -> bool {
        [
            &self.feeds,
            &self.items,
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

    pub fn feed_state(&self, name: &str) -> Result<Option<FeedState>> {
        self.feeds
            .get(name)?
            .map(|v| decode("feeds", &v))
            .transpose()
    }

    /// Clears a feed's "disabled" mark (set by a 410 Gone). Returns whether it was disabled.
    pub fn enable(&self, name: &str) -> Result<bool> {
        let Some(mut state) = self.feed_state(name)? else {
            return Ok(false);
        };
        let was = state.disabled.take().is_some();
        state.next_poll = None;
        state.failures = 0;
        state.failing_since = None;
        self.save_feed_state(&state)?;
        Ok(was)
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
            &self.first_seen,
            &self.alert_index()?,
        );
        let result =
            trees.transaction(|(feeds, items, seen, alerts, outbox, first_seen, index)| {
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
                            first_seen.insert(&time_key(now, inc.keys.primary)[..], &[])?;
                            let raise = if inc.may_alert {
                                inc.fired.iter().collect()
                            } else {
                                Vec::new() // backlog: matched, remembered, held back
                            };
                            (inc.keys.primary, stored, raise)
                        }
                    };
                    for fired in raise {
                        let alert = stored.alert(key, now, fired);
                        let id = key.alert_id(&fired.watch);
                        if alerts.get(id.0)?.is_some() {
                            continue; // this watch fired for this story already
                        }
                        alerts.insert(&id.0, encode(&alert))?;
                        index.insert(query::alert_index_key(&alert, id), &[])?;
                        outbox.insert(&time_key(now, id)[..], &[])?;
                        out.alerts.push(alert);
                    }
                    stored.key = key.hex();
                    items.insert(&key.0, encode(&stored))?;
                    record_keys(seen, &inc.keys, key)?;
                }
                feeds.insert(state.name.as_bytes(), encode(&state))?;
                out.state = state;
                Ok(out)
            });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Records a feed-health line with the feed's state, in one transaction, unless a line
    /// with the same id was recorded before.
    pub fn record_health(&self, state: &FeedState, id: Key, line: &str) -> Result<bool> {
        let now = Utc::now();
        let trees = (&self.feeds, &self.health, &self.outbox);
        let result = trees.transaction(|(feeds, health, outbox)| {
            feeds.insert(state.name.as_bytes(), encode(state))?;
            if health.get(id.0)?.is_some() {
                return Ok(false);
            }
            health.insert(&id.0, line.as_bytes())?;
            outbox.insert(&time_key(now, id)[..], &[HEALTH_TAG])?;
            Ok(true)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Undelivered alert-log lines (alerts and feed-health lines), oldest first, with their
    /// outbox entries.
    pub fn pending(&self, limit: usize) -> Result<Vec<(Queued, String)>> {
        let mut out = Vec::new();
        for entry in self.outbox.iter().take(limit) {
            let (queued, tag) = entry?;
            let queued = Queued(queued.as_ref().try_into().unwrap_or([0; 24]));
            let id = queued.alert();
            let line = if tag.as_ref() == [HEALTH_TAG] {
                self.health
                    .get(id.0)?
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
            } else {
                self.alerts
                    .get(id.0)?
                    .map(|a| decode::<Alert>("alerts", &a).map(|a| a.to_line()))
                    .transpose()?
            };
            match line {
                Some(line) => out.push((queued, line)),
                // cannot happen (line and entry are written together); never block the queue
                None => {
                    self.outbox.remove(queued.0)?;
                }
            }
        }
        Ok(out)
    }

    /// Removes delivered alerts from the outbox.
    pub fn mark_delivered(&self, delivered: &[Queued]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for q in delivered {
            batch.remove(&q.0[..]);
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

    /// The item stored under `key`, if retention has not dropped it.
    pub fn item(&self, key: Key) -> Result<Option<StoredItem>> {
        self.items
            .get(key.0)?
            .map(|v| decode("items", &v))
            .transpose()
    }

    /// How many items the store holds (bodies, not tombstones).
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Stored items with their keys, one at a time in key order, so that a pass over a
    /// large store (`rematch`) never holds it all in memory.
    pub fn each_item(&self) -> impl Iterator<Item = Result<(Key, StoredItem)>> + '_ {
        self.items.iter().map(|entry| {
            let (k, v) = entry?;
            let key =
                <[u8; 16]>::try_from(k.as_ref())
                    .map(Key)
                    .map_err(|_| StoreError::BadKey {
                        tree: "items",
                        len: k.len(),
                    })?;
            Ok((key, decode("items", &v)?))
        })
    }

    /// Whether the alert with this id was ever raised (its watch fired for its item).
    pub fn has_alert(&self, id: Key) -> Result<bool> {
        Ok(self.alerts.contains_key(id.0)?)
    }

    /// Raises alerts found outside a poll (`rematch`): each `(alert id, alert)` whose id was
    /// never raised goes into the alerts tree and the outbox, all in one transaction, to be
    /// delivered like a poll's. Returns the alerts written; ids already present are skipped,
    /// so running this twice raises nothing the second time.
    pub fn commit_alerts(&self, raised: &[(Key, Alert)]) -> Result<Vec<Alert>> {
        let now = Utc::now();
        let trees = (&self.alerts, &self.outbox, &self.alert_index()?);
        let result = trees.transaction(|(alerts, outbox, index)| {
            let mut written = Vec::new();
            for (id, alert) in raised {
                if alerts.get(id.0)?.is_some() {
                    continue;
                }
                alerts.insert(&id.0, encode(alert))?;
                index.insert(query::alert_index_key(alert, *id), &[])?;
                outbox.insert(&time_key(now, *id)[..], &[])?;
                written.push(alert.clone());
            }
            Ok(written)
        });
        result.map_err(|e: TransactionError<StoreError>| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
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

impl Store {
    /// Whether the store takes a write now (for health checks).
    pub fn check_writable(&self) -> Result<()> {
        self.meta
            .insert("healthz", &chrono::Utc::now().timestamp().to_be_bytes())?;
        Ok(())
    }

    /// Alert-log lines committed but not yet delivered.
    pub fn pending_count(&self) -> usize {
        self.outbox.len()
    }
}

/// The delivery journal for sinks: every line written to the alert log, in order, and
/// each sink's cursor into it. Kept only while sinks are configured.
impl Store {
    /// Turns the journal on (the service does when `[[sinks]]` exist).
    pub fn keep_journal(&self, on: bool) {
        self.journal_on
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Appends delivered lines to the journal, if it is kept. Sequences only grow, also
    /// after an import or a compaction copied the journal into a fresh database (whose
    /// id generator starts again from zero).
    pub fn journal_append(&self, lines: &[String]) -> Result<()> {
        if !self.journal_on.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let journal = self.db.open_tree(JOURNAL)?;
        let mut next = journal.last()?.map_or(0, |(k, _)| be_u64(&k) + 1);
        let mut batch = sled::Batch::default();
        for line in lines {
            // sequences start at 1: a cursor of 0 means "nothing delivered yet"
            let seq = (self.db.generate_id()? + 1).max(next);
            next = seq + 1;
            batch.insert(&seq.to_be_bytes(), line.as_bytes());
        }
        journal.apply_batch(batch)?;
        Ok(())
    }

    /// Journal entries after sequence `after`, oldest first.
    pub fn journal_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>> {
        let journal = self.db.open_tree(JOURNAL)?;
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for entry in journal.range(start..).take(limit) {
            let (k, v) = entry?;
            out.push((be_u64(&k), String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// The last journal sequence a sink has delivered (0: none). A new sink starts at the
    /// journal's end: it receives what is delivered from its first start on.
    pub fn sink_cursor(&self, sink: &str) -> Result<u64> {
        let key = format!("{SINK_CURSOR}{sink}");
        if let Some(v) = self.meta.get(&key)? {
            return Ok(be_u64(&v));
        }
        let journal = self.db.open_tree(JOURNAL)?;
        let end = journal.last()?.map_or(0, |(k, _)| be_u64(&k));
        self.meta.insert(key, &end.to_be_bytes())?;
        Ok(end)
    }

    pub fn set_sink_cursor(&self, sink: &str, seq: u64) -> Result<()> {
        self.meta
            .insert(format!("{SINK_CURSOR}{sink}"), &seq.to_be_bytes())?;
        Ok(())
    }
}

/// The tree of the sinks' delivery journal.
const JOURNAL: &str = "journal";
/// `meta` key prefix of a sink's cursor into the journal.
const SINK_CURSOR: &str = "sink:";

fn be_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or_default())
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.db.flush();
        if self.owns_pid_file {
            let _ = std::fs::remove_file(self.path.join(PID_FILE));
        }
    }
}

/// An outbox entry: when the line was queued, and its alert id or feed-health line id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Queued([u8; 24]);

impl Queued {
    pub fn alert(&self) -> Key {
        Key(self.0[8..].try_into().expect("24 = 8 + 16"))
    }
}

/// A key that sorts by time, then by `key`: milliseconds since 1970 (offset so that dates
/// before 1970 sort first), big-endian, then the 16 bytes of `key`.
pub fn time_key(t: DateTime<Utc>, key: Key) -> [u8; 24] {
    let mut k = [0; 24];
    k[..8].copy_from_slice(&time_prefix(t));
    k[8..].copy_from_slice(&key.0);
    k
}

/// The first 8 bytes of [`time_key`]: every key of an earlier time sorts below it.
fn time_prefix(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time of a [`time_key`].
fn key_time(k: &[u8]) -> Option<DateTime<Utc>> {
    let ms = u64::from_be_bytes(k.get(..8)?.try_into().ok()?) ^ (1 << 63);
    DateTime::from_timestamp_millis(ms as i64)
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

/// Records every candidate key as naming `item`. A key already recorded is not written
/// again: most items of a poll were seen before, and every sled write costs log space.
fn record_keys(seen: &TransactionalTree, keys: &ItemKeys, item: Key) -> TxResult<()> {
    for k in &keys.candidates {
        if seen.get(k.0)?.as_deref() != Some(&item.0[..]) {
            seen.insert(&k.0, &item.0)?;
        }
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
}
