//! The store as JSON lines: `feedwatch export` writes it, `feedwatch import` restores it
//! into an empty store, and compaction ([`super::compact`]) copies a store through the same
//! records without the text. One object per line, its kind in `type`:
//!
//! - `store` (first line): `schema`, `feedwatch` (the version that wrote the file);
//! - `feed`: a [`FeedState`]; `item`: a [`StoredItem`];
//! - `seen`: `key` → `item` (hex keys; a tombstone when that item has no `item` line) and
//!   `at`, the item's first sighting (milliseconds since 1970) that places it in the store
//!   (absent in exports of schema 2 and for a tombstone that names its item key alone);
//! - `alert`: an [`Alert`], as in the alert log;
//! - `health`: a feed-health line, `id` → `line` (the text written to the alert log);
//! - `pending`: `alert` (id) not yet delivered, `queued` (milliseconds since 1970), and
//!   `health: true` when the id is a feed-health line's (absent for an alert);
//! - `journal`: a line delivered to the alert log and kept for sinks, by `seq`;
//! - `cursor`: how far sink `sink` has delivered the journal (`seq`).
//!
//! Lines come in key order, tree by tree, so exporting the same store twice gives the same
//! file. An export of schema 2 (before `at`) imports too: its seen keys are placed by the
//! `first_seen` of their item's line. Not exported, deliberately: the schema and import markers in `meta` (the importing store writes its own),
//! and the health check's `healthz` stamp in `meta` (a timestamp of no value once copied).
//! Compaction copies through these records, so everything exported survives it.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::location::Place;
use super::{
    FeedState, HEALTH_TAG, IMPORTING, JOURNAL, Result, SCHEMA_VERSION, SINK_CURSOR, Store,
    StoreError, StoredItem, be_u64, decode, key_time, time_key,
};
use crate::alert::Alert;
use crate::dedup::Key;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Store {
        schema: u32,
        feedwatch: String,
        /// Whether every key in the file is of the scoped form ([`Key::scoped`]); absent
        /// (false) in files of builds before it, whose keys the importing store must then
        /// also look up in their older form.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        scoped_keys: bool,
    },
    Feed(FeedState),
    Item(StoredItem),
    Seen {
        key: String,
        item: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<i64>,
    },
    Alert(Alert),
    Health {
        id: String,
        line: String,
    },
    Pending {
        alert: String,
        queued: i64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        health: bool,
    },
    Journal {
        seq: u64,
        line: String,
    },
    Cursor {
        sink: String,
        seq: u64,
    },
}

/// How many records of each kind were written or read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub feeds: u64,
    pub items: u64,
    pub seen: u64,
    pub alerts: u64,
    pub health: u64,
    pub pending: u64,
    pub journal: u64,
    pub cursors: u64,
}

impl Counts {
    fn count(&mut self, r: &Record) {
        match r {
            Record::Store { .. } => {}
            Record::Feed(_) => self.feeds += 1,
            Record::Item(_) => self.items += 1,
            Record::Seen { .. } => self.seen += 1,
            Record::Alert(_) => self.alerts += 1,
            Record::Health { .. } => self.health += 1,
            Record::Pending { .. } => self.pending += 1,
            Record::Journal { .. } => self.journal += 1,
            Record::Cursor { .. } => self.cursors += 1,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} feeds, {} items, {} seen keys, {} alerts ({} pending), {} feed-health lines, {} journal lines, {} sink cursors",
            self.feeds,
            self.items,
            self.seen,
            self.alerts,
            self.pending,
            self.health,
            self.journal,
            self.cursors
        )
    }
}

impl Store {
    /// Every record of the store, header first, in a stable order.
    pub fn records(&self) -> impl Iterator<Item = Result<Record>> + '_ {
        let header = self.legacy_keys().map(|legacy| Record::Store {
            schema: SCHEMA_VERSION,
            feedwatch: env!("CARGO_PKG_VERSION").into(),
            scoped_keys: !legacy,
        });
        let header = std::iter::once(header);
        let feeds = self
            .feeds
            .iter()
            .map(|e| Ok(Record::Feed(decode("feeds", &e?.1)?)));
        let items = self
            .records
            .iter()
            .map(|e| Ok(Record::Item(super::record::decode_item(&e?.1)?)));
        let seen = self.seen.iter().map(|e| {
            let (k, v) = e?;
            let place = Place::of_value(&v);
            Ok(Record::Seen {
                key: hex(&k),
                item: place.map_or_else(|| hex(&v), |p| p.key().hex()),
                at: place
                    .and_then(|p| p.location().and_then(|l| key_time(l)))
                    .map(|t| t.timestamp_millis()),
            })
        });
        let alerts = self
            .alerts
            .iter()
            .map(|e| Ok(Record::Alert(decode("alerts", &e?.1)?)));
        let health = self.health.iter().map(|e| {
            let (k, v) = e?;
            Ok(Record::Health {
                id: hex(&k),
                line: String::from_utf8_lossy(&v).into_owned(),
            })
        });
        let pending = self.outbox.iter().map(|e| {
            let (k, v) = e?;
            Ok(Record::Pending {
                alert: hex(k.get(8..).unwrap_or_default()),
                queued: key_time(&k).map_or(0, |t| t.timestamp_millis()),
                health: v.as_ref() == [HEALTH_TAG],
            })
        });
        let journal = self
            .db
            .open_tree(JOURNAL)
            .map(|t| t.iter())
            .into_iter()
            .flatten()
            .map(|e| {
                let (k, v) = e?;
                Ok(Record::Journal {
                    seq: be_u64(&k),
                    line: String::from_utf8_lossy(&v).into_owned(),
                })
            });
        let cursors = self.meta.scan_prefix(SINK_CURSOR).map(|e| {
            let (k, v) = e?;
            Ok(Record::Cursor {
                sink: String::from_utf8_lossy(&k[SINK_CURSOR.len()..]).into_owned(),
                seq: be_u64(&v),
            })
        });
        header
            .chain(feeds)
            .chain(items)
            .chain(seen)
            .chain(alerts)
            .chain(health)
            .chain(pending)
            .chain(journal)
            .chain(cursors)
    }

    /// Writes the whole store to `out` as JSON lines.
    pub fn export(&self, out: &mut impl Write) -> Result<Counts> {
        let mut counts = Counts::default();
        for r in self.records() {
            let r = r?;
            counts.count(&r);
            let mut line = serde_json::to_vec(&r).expect("records always serialise");
            line.push(b'\n');
            out.write_all(&line)
                .map_err(StoreError::io("writing the export"))?;
        }
        out.flush().map_err(StoreError::io("writing the export"))?;
        Ok(counts)
    }

    /// Restores an export into this store, which must be empty. A file refused before
    /// anything was written leaves the store empty; one that fails later leaves it marked
    /// half-imported (see [`StoreError::HalfImported`]).
    pub fn import(&self, input: impl BufRead) -> Result<Counts> {
        let mut importer = Importer::new(self)?;
        match importer.read(input) {
            Ok(()) => importer.finish(),
            Err(e) => {
                if !importer.applied {
                    self.meta.remove(IMPORTING)?;
                    self.flush()?;
                }
                Err(e)
            }
        }
    }

    /// Copies every record of this store into `target`, which must be empty.
    pub fn copy_into(&self, target: &Store) -> Result<Counts> {
        let mut importer = Importer::new(target)?;
        for r in self.records() {
            importer.add(r?).map_err(|message| StoreError::Import {
                line: 0,
                message: format!("copying the store: {message}"),
            })?;
        }
        importer.finish()
    }
}

/// Writes records into an empty store in batches. The `importing` marker in `meta` stays
/// until the last batch is flushed, so a store left half-imported by a crash refuses to
/// open instead of passing for a complete one.
struct Importer<'a> {
    store: &'a Store,
    feeds: sled::Batch,
    records: sled::Batch,
    seen: sled::Batch,
    alerts: sled::Batch,
    health: sled::Batch,
    outbox: sled::Batch,
    journal: sled::Batch,
    cursors: sled::Batch,
    batched: usize,
    /// Whether a batch has reached the store (an error then leaves it half-imported).
    applied: bool,
    header: bool,
    /// For an export of schema 2 (seen lines without `at`): each item's first sighting, by
    /// item key, to place its seen keys.
    legacy: Option<std::collections::HashMap<Key, chrono::DateTime<chrono::Utc>>>,
    counts: Counts,
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store) -> Result<Importer<'a>> {
        if !store.is_empty() {
            return Err(StoreError::NotEmpty {
                path: store.path.clone(),
            });
        }
        store.meta.insert(IMPORTING, &[])?;
        store.flush()?;
        Ok(Importer {
            store,
            feeds: Default::default(),
            records: Default::default(),
            seen: Default::default(),
            alerts: Default::default(),
            health: Default::default(),
            outbox: Default::default(),
            journal: Default::default(),
            cursors: Default::default(),
            batched: 0,
            applied: false,
            header: false,
            legacy: None,
            counts: Counts::default(),
        })
    }

    /// Reads and adds every line of an export.
    fn read(&mut self, input: impl BufRead) -> Result<()> {
        for (n, line) in input.lines().enumerate() {
            let n = n as u64 + 1;
            let line = line.map_err(StoreError::io(format!("reading line {n} of the export")))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Record = serde_json::from_str(&line).map_err(|e| StoreError::Import {
                line: n,
                message: e.to_string(),
            })?;
            self.add(record)
                .map_err(|message| StoreError::Import { line: n, message })?;
        }
        if !self.header {
            return Err(StoreError::Import {
                line: 1,
                message: "the file is empty".into(),
            });
        }
        Ok(())
    }

    /// Adds one record; the error says what is wrong with it.
    fn add(&mut self, r: Record) -> std::result::Result<(), String> {
        let key = |what: &str, hex: &str| {
            Key::from_hex(hex).ok_or_else(|| format!("{what} {hex:?} is not 32 hex digits"))
        };
        self.counts.count(&r);
        match &r {
            Record::Store {
                schema,
                feedwatch,
                scoped_keys,
            } => {
                if *schema > SCHEMA_VERSION {
                    return Err(format!(
                        "the export was written by feedwatch {feedwatch} (schema {schema}); this build knows up to schema {SCHEMA_VERSION}: import it with that version or newer"
                    ));
                }
                // keys of the older form are looked up as such only where they may be
                if *scoped_keys {
                    self.cursors.insert(super::SCOPED_KEYS, &[]);
                } else {
                    self.cursors.remove(super::SCOPED_KEYS);
                }
                self.header = true;
                if *schema < 3 {
                    self.legacy = Some(Default::default());
                }
            }
            _ if !self.header => {
                return Err("the first line must be the {\"type\":\"store\",...} header".into());
            }
            Record::Feed(f) => self.feeds.insert(f.name.as_bytes(), super::encode(f)),
            Record::Item(i) => {
                let k = key("item key", &i.key)?;
                self.records.insert(
                    &time_key(i.first_seen, k)[..],
                    super::record::encode_item(i, !self.store.compressed),
                );
                if let Some(legacy) = &mut self.legacy {
                    legacy.insert(k, i.first_seen);
                }
            }
            Record::Seen { key: k, item, at } => {
                let k = key("seen key", k)?;
                let item = key("seen item", item)?;
                let first = match at {
                    Some(ms) => Some(
                        chrono::DateTime::from_timestamp_millis(*ms)
                            .ok_or_else(|| format!("seen time {ms} is out of range"))?,
                    ),
                    None => self.legacy.as_ref().and_then(|l| l.get(&item).copied()),
                };
                let place = match first {
                    Some(t) => Place::At(time_key(t, item)),
                    None => Place::Purged(item),
                };
                self.seen.insert(&k.0, place.bytes());
            }
            Record::Alert(a) => self
                .alerts
                .insert(&key("alert id", &a.id)?.0, super::encode(a)),
            Record::Health { id, line } => self
                .health
                .insert(&key("health line id", id)?.0, line.as_bytes()),
            Record::Pending {
                alert,
                queued,
                health,
            } => {
                let at = chrono::DateTime::from_timestamp_millis(*queued)
                    .ok_or_else(|| format!("queued time {queued} is out of range"))?;
                let tag: &[u8] = if *health { &[HEALTH_TAG] } else { &[] };
                self.outbox
                    .insert(&time_key(at, key("alert id", alert)?)[..], tag);
            }
            Record::Journal { seq, line } => {
                self.journal.insert(&seq.to_be_bytes(), line.as_bytes());
            }
            Record::Cursor { sink, seq } => {
                self.cursors.insert(
                    format!("{SINK_CURSOR}{sink}").as_bytes(),
                    &seq.to_be_bytes(),
                );
            }
        }
        self.batched += 1;
        if self.batched >= 10_000 {
            self.apply().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn apply(&mut self) -> Result<()> {
        let s = self.store;
        s.feeds.apply_batch(std::mem::take(&mut self.feeds))?;
        s.records.apply_batch(std::mem::take(&mut self.records))?;
        s.seen.apply_batch(std::mem::take(&mut self.seen))?;
        s.alerts.apply_batch(std::mem::take(&mut self.alerts))?;
        s.health.apply_batch(std::mem::take(&mut self.health))?;
        s.outbox.apply_batch(std::mem::take(&mut self.outbox))?;
        s.db.open_tree(JOURNAL)?
            .apply_batch(std::mem::take(&mut self.journal))?;
        s.meta.apply_batch(std::mem::take(&mut self.cursors))?;
        self.batched = 0;
        self.applied = true;
        Ok(())
    }

    fn finish(mut self) -> Result<Counts> {
        self.apply()?;
        self.store.rebuild_alert_index()?;
        self.store.flush()?;
        self.store.meta.remove(IMPORTING)?;
        self.store.flush()?;
        Ok(self.counts)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::KeyPolicy;
    use crate::store::tests::{filled, incoming, item, open, poll};
    use chrono::Utc;

    fn export(store: &Store) -> String {
        let mut out = Vec::new();
        store.export(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Export → import into an empty store → export: the same file, pending alerts and
    /// tombstones included; the imported store knows its items and pending alert.
    #[test]
    fn export_and_import_round_trip() {
        let (_d, store) = filled();
        let a = item("1", "https://x.example/1", "CIS summit");
        // main's trees: a feed-health line (pending), the sinks' journal and a cursor
        let state = store.feed_state("f").unwrap().unwrap();
        let (id, line) =
            crate::alert::HealthLine::new("f", "failing", Utc::now(), None, Utc::now());
        assert!(store.record_health(&state, id, &line.to_line()).unwrap());
        store.keep_journal(true);
        store.journal_append(&["one".into(), "two".into()]).unwrap();
        store.set_sink_cursor("ops", 1).unwrap();
        let text = export(&store);
        let kinds: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
            .collect();
        assert_eq!(kinds[0], "\"store\"");
        for k in [
            "feed", "item", "seen", "alert", "health", "pending", "journal", "cursor",
        ] {
            assert!(kinds.contains(&format!("\"{k}\"")), "no {k} line in {text}");
        }

        let (_d2, copy) = open();
        let counts = copy.import(text.as_bytes()).unwrap();
        assert_eq!(
            (counts.feeds, counts.items, counts.alerts, counts.pending),
            (1, 2, 2, 2)
        );
        assert_eq!((counts.health, counts.journal, counts.cursors), (1, 2, 1));
        assert_eq!(export(&copy), text);
        let pending: Vec<String> = copy
            .pending(10)
            .unwrap()
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert!(
            pending.iter().any(|l| l.contains("\"watch\":\"csto\"")),
            "{pending:?}"
        );
        assert!(pending.contains(&line.to_line()), "{pending:?}");
        assert_eq!(copy.sink_cursor("ops").unwrap(), 1);
        copy.keep_journal(true);
        let (last, _) = copy.journal_after(0, 10).unwrap().pop().unwrap();
        copy.journal_append(&["three".into()]).unwrap();
        let after = copy.journal_after(last, 10).unwrap();
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(
            after[0].1, "three",
            "new journal lines follow the imported ones"
        );
        let again = poll(
            &copy,
            "f",
            &[incoming("f", &a, KeyPolicy::Guid, &["cis"], true)],
        );
        assert_eq!((again.new_items, again.alerts.len()), (0, 0));
    }

    /// An export written by a schema-2 build (seen lines without `at`) imports: its seen
    /// keys name the locations of their items, and the store is the one exported, tombstone
    /// included.
    #[test]
    fn an_export_of_schema_2_imports() {
        let (_d, store) = filled();
        let gone = item("0", "https://x.example/0", "CIS gone");
        let t0 = Utc::now() - chrono::Duration::days(100);
        let state = store.feed_state("f").unwrap().unwrap();
        let inc = |i| incoming("f", i, KeyPolicy::Guid, &["cis"], true);
        store.commit_poll(&state, &[inc(&gone)], t0).unwrap();
        assert_eq!(store.purge(t0 + chrono::Duration::days(1)).unwrap(), 1);
        let text = export(&store);
        // as schema 2 wrote it: no `at`, a purged item's seen keys name its key alone
        let mut old = String::new();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] == "store" {
                v["schema"] = 2.into();
            }
            if v["type"] == "seen" {
                assert!(v["at"].is_i64(), "{line}");
                v.as_object_mut().unwrap().remove("at");
            }
            old.push_str(&v.to_string());
            old.push('\n');
        }
        let (_d2, copy) = open();
        copy.import(old.as_bytes()).unwrap();
        let gone_keys = crate::dedup::keys("f", std::slice::from_ref(&gone), KeyPolicy::Guid);
        let (mut placed, mut bare) = (0, 0);
        for line in export(&copy).lines().filter(|l| l.contains("\"seen\"")) {
            if line.contains("\"at\"") {
                assert!(text.contains(line), "{line}");
                placed += 1;
            } else {
                bare += 1; // the tombstone, now a bare item key
            }
        }
        assert_eq!(bare, gone_keys[0].candidates.len());
        assert_eq!(placed + bare, text.matches("\"seen\"").count());
        for i in copy.items().unwrap() {
            let key = Key::from_hex(&i.key).unwrap();
            assert_eq!(copy.item(key).unwrap().as_ref(), Some(&i));
        }
        for (i, watch) in [
            (&gone, "cis"),
            (&item("2", "https://x.example/2", "CSTO drills"), "csto"),
        ] {
            let c = poll(
                &copy,
                "f",
                &[incoming("f", i, KeyPolicy::Guid, &[watch], true)],
            );
            assert_eq!((c.new_items, c.alerts.len()), (0, 0), "{}", i.title);
        }
        assert_eq!(copy.items().unwrap(), store.items().unwrap());
    }

    /// Import refuses a store that holds anything, and says what to do.
    #[test]
    fn import_refuses_a_store_with_data() {
        let (_d, store) = open();
        let a = item("1", "https://x.example/1", "CIS summit");
        poll(
            &store,
            "f",
            &[incoming("f", &a, KeyPolicy::Guid, &[], true)],
        );
        let text = export(&store);
        let err = store.import(text.as_bytes()).unwrap_err();
        assert!(matches!(err, StoreError::NotEmpty { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("import restores into an empty store"),
            "{err}"
        );
    }

    /// A file that is not an export is refused with its line, and leaves the store empty
    /// (not marked half-imported).
    #[test]
    fn a_bad_file_is_refused_by_line_and_leaves_the_store_empty() {
        for (text, line, what) in [
            ("", 1, "the file is empty"),
            ("{\"type\":\"item\",\"key\":\"00\"}\n", 1, "missing field"),
            ("hello\n", 1, "expected value"),
            (
                "{\"type\":\"store\",\"schema\":99,\"feedwatch\":\"9.0.0\"}\n",
                1,
                "written by feedwatch 9.0.0 (schema 99)",
            ),
            (
                "{\"type\":\"store\",\"schema\":2,\"feedwatch\":\"0.1.0\"}\n{\"type\":\"seen\",\"key\":\"xyz\",\"item\":\"00\"}\n",
                2,
                "seen key \"xyz\" is not 32 hex digits",
            ),
        ] {
            let (_d, store) = open();
            let err = store.import(text.as_bytes()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("line {line}")) && msg.contains(what),
                "{text:?}: {msg}"
            );
            assert!(store.is_empty());
            let path = store.path().to_path_buf();
            drop(store);
            if let Err(e) = Store::open(&path, 1 << 20) {
                panic!("not left half-imported: {e}");
            }
        }
    }
}
