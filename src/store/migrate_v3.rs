//! Schema 2 → 3: item records move from `items` (keyed by item key) to `records` (keyed by
//! location, see `location`), `seen` values become locations, and the `items` and
//! `first_seen` trees go. In batches of [`BATCH`] entries, with no map of the store's keys
//! in memory (stores of 500,000 items exist), and resumable after a crash at any point:
//!
//! 1. the `first_seen` index is walked oldest first; each entry's record is written to
//!    `records` at the entry's location, its `items` value is replaced by that location (a
//!    forwarding pointer, 24 bytes, where a record is far longer) and the entry removed,
//!    all three in one transaction per batch. A record the index misses (none should) is
//!    moved the same way, placed by its own `first_seen`;
//! 2. every 16-byte `seen` value whose item has a pointer in `items` becomes that
//!    location; one that has none stays: the item was purged before, it is a tombstone;
//! 3. the `items` and `first_seen` trees are dropped.
//!
//! Each step is flushed before the next begins, and the schema is written last (by
//! `migrate::run`), so an interrupted migration runs again from step 1 on the next open
//! and skips what is done: the index holds only entries not yet moved, a pointer is not
//! moved again, a value of 24 bytes is not rewritten.

use sled::IVec;
use sled::Transactional;
use sled::transaction::TransactionError;
use tracing::info;

use super::location::Place;
use super::{Result, Store, StoreError, time_key};
use crate::dedup::Key;

/// The tree of item records by item key (schema 2).
pub(super) const ITEMS: &str = "items";
/// The index of first sightings (schema 2): location → nothing.
pub(super) const FIRST_SEEN: &str = "first_seen";
/// Entries per batch.
const BATCH: usize = 1000;

/// Batches run through one sled handle before it is closed and opened again: sled 0.34
/// keeps in memory much of what a handle has read and written, and gives it back when the
/// handle closes. Peak RSS of a migrating open (`examples/migrate_v3.rs`, 100,000 items):
/// 123 MiB through one handle, 102 MiB reopening every 16 batches (164 MiB at 300,000).
const REOPEN_EVERY: usize = 16;

/// Runs the whole migration, closing and opening the store again every [`REOPEN_EVERY`]
/// batches (with a page cache of `cache` bytes); returns the store opened last.
pub(super) fn v2_to_v3(store: Store, cache: u64) -> Result<Store> {
    migrate(store, cache, BATCH, REOPEN_EVERY)
}

/// [`v2_to_v3`] in batches of `batch`, reopening every `every` batches.
fn migrate(mut store: Store, cache: u64, batch: usize, every: usize) -> Result<Store> {
    let mut progress = Progress::default();
    while !steps(&store, batch, every, &mut progress)? {
        let path = store.path.clone();
        drop(store);
        super::compact::trim();
        store = Store::open_raw(&path, cache)?;
    }
    info!(
        records = progress.moved,
        seen = progress.located,
        "migrated to schema 3: records by first sighting, seen keys name locations"
    );
    Ok(store)
}

/// How far a migration got in this process (a new process starts again at step 1, and
/// skips what is done).
#[derive(Default)]
struct Progress {
    step: Step,
    /// The last key read by step 1's search for records the index missed, or by step 2.
    after: Option<IVec>,
    moved: usize,
    located: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    #[default]
    Indexed,
    Missed,
    Seen,
    Drop,
}

/// Goes on with the migration from `p`, in batches of `batch`, at most `budget` of them;
/// true when it is complete.
fn steps(store: &Store, batch: usize, mut budget: usize, p: &mut Progress) -> Result<bool> {
    let items = store.db.open_tree(ITEMS)?;
    let index = store.db.open_tree(FIRST_SEEN)?;
    loop {
        if budget == 0 {
            return Ok(false);
        }
        budget -= 1;
        match p.step {
            // 1. records, oldest first (so that `records` grows at its right edge)
            Step::Indexed => {
                let chunk: Vec<IVec> = index
                    .iter()
                    .keys()
                    .take(batch)
                    .collect::<sled::Result<_>>()?;
                if chunk.is_empty() {
                    (p.step, p.after) = (Step::Missed, None);
                    continue;
                }
                let places: Vec<_> = chunk
                    .into_iter()
                    .map(|loc| {
                        let l = <[u8; 24]>::try_from(loc.as_ref()).ok(); // None: damaged, dropped
                        (loc, l)
                    })
                    .collect();
                p.moved += move_records(store, &items, &index, &places)?;
            }
            // a record the index missed: placed by its own first sighting
            Step::Missed => {
                let (n, mut places) = (read_after(&items, p, batch)?, Vec::new());
                for (k, v) in &n {
                    if v.len() == 24 {
                        continue; // moved
                    }
                    let Ok(key) = <[u8; 16]>::try_from(k.as_ref()) else {
                        continue; // not an item key: dropped with the tree
                    };
                    let first_seen = super::record::decode_item(v)?.first_seen;
                    let loc = time_key(first_seen, Key(key));
                    places.push((IVec::from(&loc[..]), Some(loc)));
                }
                p.moved += move_records(store, &items, &index, &places)?;
                if n.len() < batch {
                    store.flush()?;
                    (p.step, p.after) = (Step::Seen, None);
                }
            }
            // 2. seen values: locations
            Step::Seen => {
                let (n, mut rewrite) = (read_after(&store.seen, p, batch)?, sled::Batch::default());
                for (k, v) in &n {
                    if v.len() != 16 {
                        continue; // a location already
                    }
                    if let Some(loc) = items.get(v)?
                        && loc.len() == 24
                    {
                        rewrite.insert(k, loc);
                        p.located += 1;
                    }
                }
                store.seen.apply_batch(rewrite)?;
                if n.len() < batch {
                    store.flush()?;
                    p.step = Step::Drop;
                }
            }
            // 3. the old trees
            Step::Drop => {
                store.db.drop_tree(ITEMS)?;
                store.db.drop_tree(FIRST_SEEN)?;
                store.flush()?;
                return Ok(true);
            }
        }
    }
}

/// The next `batch` entries of `tree` after `p.after`, which moves on to the last of them.
fn read_after(tree: &sled::Tree, p: &mut Progress, batch: usize) -> Result<Vec<(IVec, IVec)>> {
    let range = match p.after.take() {
        Some(a) => tree.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
        None => tree.iter(),
    };
    let entries: Vec<(IVec, IVec)> = range.take(batch).collect::<sled::Result<_>>()?;
    p.after = entries.last().map(|(k, _)| k.clone());
    Ok(entries)
}

/// Moves the record of each location (if `items` still holds it) to `records` and leaves
/// the location in its place, removing the index entry, in one transaction. `None`: an
/// index entry to drop. Returns how many records moved.
fn move_records(
    store: &Store,
    items: &sled::Tree,
    index: &sled::Tree,
    places: &[(IVec, Option<[u8; 24]>)],
) -> Result<usize> {
    (&store.records, items, index)
        .transaction(|(records, items, index)| {
            let mut moved = 0;
            for (entry, loc) in places {
                index.remove(entry)?;
                let Some(loc) = loc else { continue };
                let key = Place::At(*loc).key();
                match items.get(key.0)? {
                    Some(v) if v.len() != 24 => {
                        records.insert(&loc[..], v)?;
                        items.insert(&key.0, &loc[..])?;
                        moved += 1;
                    }
                    _ => {} // moved already, or purged
                }
            }
            Ok(moved)
        })
        .map_err(|e: TransactionError<StoreError>| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;

    use super::*;
    use crate::dedup::{self, KeyPolicy};
    use crate::parse::Item;
    use crate::store::tests::{incoming, item, poll};
    use crate::store::{SCHEMA_VERSION, StoredItem};

    /// An item's keys as schema-2 builds made them (unscoped).
    fn keys(it: &Item) -> dedup::ItemKeys {
        let k = dedup::keys("f", std::slice::from_ref(it), KeyPolicy::Guid).remove(0);
        dedup::ItemKeys {
            primary: k.legacy[0],
            candidates: k.legacy.clone(),
            legacy: k.legacy,
        }
    }

    /// The items of [`write_v2_store`]: `n` stored ones, the first first seen 100 days
    /// ago and the others a day ago, and one purged before (a tombstone).
    fn items(n: usize) -> (Vec<Item>, Item) {
        let stored = (0..n)
            .map(|i| {
                item(
                    &format!("g{i}"),
                    &format!("https://x.example/{i}"),
                    &format!("CIS summit {i}"),
                )
            })
            .collect();
        (stored, item("gone", "https://x.example/gone", "CIS gone"))
    }

    /// A store as schema 2 wrote it, through sled directly: each stored item under its key
    /// in `items` (binary, one in JSON), indexed in `first_seen`, its seen keys naming its
    /// key, its cis alert raised and delivered; the purged item's seen keys naming its key,
    /// with no record.
    fn write_v2_store(path: &std::path::Path, stored: &[Item], gone: &Item) {
        let db = sled::open(path).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &2u32.to_be_bytes())
            .unwrap();
        let feed = json!({"name": "f", "url": "http://x.example/f", "items": stored.len() + 1});
        db.open_tree("feeds")
            .unwrap()
            .insert("f", feed.to_string().as_bytes())
            .unwrap();
        let (items, index, seen, alerts) = (
            db.open_tree(ITEMS).unwrap(),
            db.open_tree(FIRST_SEEN).unwrap(),
            db.open_tree("seen").unwrap(),
            db.open_tree("alerts").unwrap(),
        );
        for (i, it) in stored.iter().enumerate() {
            let k = keys(it);
            let first_seen: DateTime<Utc> =
                Utc::now() - Duration::days(if i == 0 { 100 } else { 1 });
            let record = StoredItem {
                key: k.primary.hex(),
                feeds: vec!["f".into()],
                guid: it.guid.clone(),
                link: it.link.clone(),
                title: it.title.clone(),
                summary: String::new(),
                content: String::new(),
                categories: vec![],
                published: None,
                first_seen,
                digest: dedup::text_digest(it),
                matched: vec!["cis".into()],
                article: None,
            };
            let bytes = if i == 1 {
                serde_json::to_vec(&record).unwrap() // as builds before binary records wrote it
            } else {
                crate::store::record::encode_item(&record, true)
            };
            items.insert(k.primary.0, bytes).unwrap();
            index
                .insert(&time_key(first_seen, k.primary)[..], &[])
                .unwrap();
            for c in &k.candidates {
                seen.insert(c.0, &k.primary.0).unwrap();
            }
            let alert = record.alert(
                k.primary,
                first_seen,
                &crate::watch::Fired {
                    watch: "cis".into(),
                    matches: vec![],
                },
            );
            alerts
                .insert(
                    k.primary.alert_id("cis").0,
                    serde_json::to_vec(&alert).unwrap(),
                )
                .unwrap();
        }
        let k = keys(gone);
        for c in &k.candidates {
            seen.insert(c.0, &k.primary.0).unwrap();
        }
        db.flush().unwrap();
    }

    /// What a migrated store must be: no old trees, every seen value of a stored item a
    /// location whose record is there, the tombstone still 16 bytes; re-polling raises
    /// nothing, a new item alerts once, retention purges by first sighting and the purged
    /// item stays seen.
    fn check_migrated(path: &std::path::Path, stored: &[Item], gone: &Item) {
        let store = Store::open(path, 1 << 20).unwrap();
        assert_eq!(store.schema().unwrap(), Some(SCHEMA_VERSION));
        let names: Vec<IVec> = store.db.tree_names();
        for old in [ITEMS, FIRST_SEEN] {
            assert!(!names.contains(&IVec::from(old)), "{old} is dropped");
        }
        assert_eq!(store.item_count(), stored.len());
        for it in stored {
            let k = keys(it);
            for c in &k.candidates {
                let v = store.seen.get(c.0).unwrap().unwrap();
                assert_eq!(v.len(), 24, "{}", it.title);
                assert!(store.records.get(&v).unwrap().is_some(), "{}", it.title);
            }
            assert_eq!(store.item(k.primary).unwrap().unwrap().title, it.title);
        }
        for c in &keys(gone).candidates {
            assert_eq!(store.seen.get(c.0).unwrap().unwrap().len(), 16);
        }
        let newest: Vec<String> = store.items_newest(None).map(|r| r.unwrap().1.key).collect();
        let sorted: Vec<String> = store.items().unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!((newest.len(), &newest), (stored.len(), &sorted));
        for it in stored.iter().chain([gone]) {
            let c = poll(
                &store,
                "f",
                &[incoming("f", it, KeyPolicy::Guid, &["cis"], true)],
            );
            assert_eq!((c.new_items, c.alerts.len()), (0, 0), "{}", it.title);
        }
        let fresh = item("new", "https://x.example/new", "CIS new");
        let inc = incoming("f", &fresh, KeyPolicy::Guid, &["cis"], true);
        let c = poll(&store, "f", std::slice::from_ref(&inc));
        assert_eq!((c.new_items, c.alerts.len()), (1, 1));
        let c = poll(&store, "f", &[inc]);
        assert_eq!((c.new_items, c.alerts.len()), (0, 0));
        assert_eq!(store.purge(Utc::now() - Duration::days(90)).unwrap(), 1);
        assert_eq!(store.item_count(), stored.len());
        assert!(store.item(keys(&stored[0]).primary).unwrap().is_none());
        for it in [&stored[0], gone] {
            let c = poll(
                &store,
                "f",
                &[incoming("f", it, KeyPolicy::Guid, &["cis"], true)],
            );
            assert_eq!((c.new_items, c.alerts.len()), (0, 0), "{}", it.title);
        }
        drop(store);
        let store = Store::open(path, 1 << 20).unwrap();
        assert_eq!(store.item_count(), stored.len());
    }

    #[test]
    fn a_schema_2_store_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (stored, gone) = items(3);
        write_v2_store(&path, &stored, &gone);
        check_migrated(&path, &stored, &gone);
    }

    /// The migration closes and opens the store again on the way and goes on where it was.
    #[test]
    fn a_migration_reopens_the_store_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let (stored, gone) = items(7);
        write_v2_store(&path, &stored, &gone);
        let store = migrate(Store::open_raw(&path, 1 << 20).unwrap(), 1 << 20, 2, 3).unwrap();
        let names = store.db.tree_names();
        assert!(!names.contains(&IVec::from(ITEMS)));
        assert_eq!(store.item_count(), stored.len());
        store.set_schema(SCHEMA_VERSION).unwrap();
        drop(store);
        check_migrated(&path, &stored, &gone);
    }

    /// A migration stopped after any number of batches (as by a crash: nothing after the
    /// last batch written) completes on the next open.
    #[test]
    fn an_interrupted_migration_completes_on_open() {
        let (stored, gone) = items(7);
        // batches of 2: 4 of records, 1 to find none missed, 8 of seen keys (15 keys)
        for budget in [1, 3, 5, 6, 9, 13] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store");
            write_v2_store(&path, &stored, &gone);
            let store = Store::open_raw(&path, 1 << 20).unwrap();
            let mut p = Progress::default();
            assert!(
                !steps(&store, 2, budget, &mut p).unwrap(),
                "stopped at {budget}"
            );
            // and once more, part of the way, over the half-migrated store
            let mut p = Progress::default();
            assert!(!steps(&store, 2, 1, &mut p).unwrap());
            drop(store);
            check_migrated(&path, &stored, &gone);
        }
    }
}
