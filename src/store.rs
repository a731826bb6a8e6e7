//! The store: every sled call lives here, behind an API in feedwatch's own terms.
//!
//! Trees: `feeds` (name → [`FeedState`]), `items` (item key → [`StoredItem`]), `seen`
//! (every candidate key → item key; never forgotten), `alerts` (alert id → [`Alert`]; an id
//! present means that watch has fired for that item, ever), `outbox` (sequence → alert id,
//! the alerts not yet delivered) and `meta` (schema version). One poll's items, seen keys,
//! alerts and feed state are written in one transaction ([`Store::commit_poll`]), so an
//! alert exists if and only if its item was recorded. Alerts that `rematch` finds for items
//! already stored go into the alerts tree and the outbox in one transaction too
//! ([`Store::commit_alerts`]), and are delivered the same way.
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
    #[error("store: damaged key in {tree}: {len} bytes, expected 16")]
    BadKey { tree: &'static str, len: usize },
    #[error("store: damaged record in {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
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
    /// Whether delivered lines are journaled for sinks.
    journal_on: std::sync::atomic::AtomicBool,
}

/// An outbox entry names an alert (its 16-byte id) or a feed-health line (this byte, then
/// its id).
const HEALTH_TAG: u8 = b'h';

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
            health: db.open_tree("health")?,
            journal_on: std::sync::atomic::AtomicBool::new(false),
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
        );
        let result = trees.transaction(|(feeds, items, seen, alerts, outbox)| {
            let mut out = Committed::default();
            let mut state = state.clone();
            for inc in incoming {
                let existing = find(seen, &inc.keys)?;
                let (key, mut stored, raise) = match existing {
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
                        if edited {
                            apply_text(&mut stored, &inc.item, &inc.digest);
                        }
                        // an edit may fire a watch that did not fire before
                        (key, stored, edited)
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
                        };
                        (inc.keys.primary, stored, inc.may_alert)
                    }
                };
                if raise {
                    for fired in &inc.fired {
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
        let trees = (&self.feeds, &self.health, &self.outbox);
        let result = trees.transaction(|(feeds, health, outbox)| {
            feeds.insert(state.name.as_bytes(), encode(state))?;
            if health.get(id.0)?.is_some() {
                return Ok(false);
            }
            health.insert(&id.0, line.as_bytes())?;
            let mut entry = vec![HEALTH_TAG];
            entry.extend_from_slice(&id.0);
            outbox.insert(&outbox.generate_id()?.to_be_bytes(), entry)?;
            Ok(true)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Undelivered alert-log lines, oldest first, with their outbox sequence numbers.
    pub fn pending(&self, limit: usize) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        for entry in self.outbox.iter().take(limit) {
            let (seq, id) = entry?;
            let seq = u64::from_be_bytes(seq.as_ref().try_into().unwrap_or_default());
            let line = match id.split_first() {
                Some((&HEALTH_TAG, hid)) if hid.len() == 16 => self
                    .health
                    .get(hid)?
                    .map(|l| String::from_utf8_lossy(&l).into_owned()),
                _ => self
                    .alerts
                    .get(&id)?
                    .map(|a| decode::<Alert>("alerts", &a).map(|a| a.to_line()))
                    .transpose()?,
            };
            if let Some(line) = line {
                out.push((seq, line));
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
        let result = (&self.alerts, &self.outbox).transaction(|(alerts, outbox)| {
            let mut written = Vec::new();
            for (id, alert) in raised {
                if alerts.get(id.0)?.is_some() {
                    continue;
                }
                alerts.insert(&id.0, encode(alert))?;
                outbox.insert(&outbox.generate_id()?.to_be_bytes(), &id.0)?;
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
        let meta = self.db.open_tree("meta")?;
        meta.insert("healthz", &chrono::Utc::now().timestamp().to_be_bytes())?;
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

    /// Appends delivered lines to the journal, if it is kept.
    pub fn journal_append(&self, lines: &[String]) -> Result<()> {
        if !self.journal_on.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let journal = self.db.open_tree("journal")?;
        let mut batch = sled::Batch::default();
        for line in lines {
            // sequences start at 1: a sink cursor of 0 means "nothing delivered yet"
            batch.insert(&(self.db.generate_id()? + 1).to_be_bytes(), line.as_bytes());
        }
        journal.apply_batch(batch)?;
        Ok(())
    }

    /// Journal entries after sequence `after`, oldest first.
    pub fn journal_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>> {
        let journal = self.db.open_tree("journal")?;
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for entry in journal.range(start..).take(limit) {
            let (k, v) = entry?;
            let seq = u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default());
            out.push((seq, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// The last journal sequence a sink has delivered (0: none). A new sink starts at the
    /// journal's end: it receives what is delivered from its first start on.
    pub fn sink_cursor(&self, sink: &str) -> Result<u64> {
        let meta = self.db.open_tree("meta")?;
        let key = format!("sink:{sink}");
        if let Some(v) = meta.get(&key)? {
            return Ok(u64::from_be_bytes(
                v.as_ref().try_into().unwrap_or_default(),
            ));
        }
        let journal = self.db.open_tree("journal")?;
        let end = journal.last()?.map_or(0, |(k, _)| {
            u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default())
        });
        meta.insert(key, &end.to_be_bytes())?;
        Ok(end)
    }

    pub fn set_sink_cursor(&self, sink: &str, seq: u64) -> Result<()> {
        self.db
            .open_tree("meta")?
            .insert(format!("sink:{sink}"), &seq.to_be_bytes())?;
        Ok(())
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
