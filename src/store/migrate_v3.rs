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

/// Runs the whole migration.
pub(super) fn v2_to_v3(store: &Store) -> Result<()> {
    steps(store, BATCH, usize::MAX)?;
    Ok(())
}

/// Runs the migration in batches of `batch`, at most `budget` of them (tests interrupt it
/// so); true when it is complete.
fn steps(store: &Store, batch: usize, mut budget: usize) -> Result<bool> {
    let items = store.db.open_tree(ITEMS)?;
    let index = store.db.open_tree(FIRST_SEEN)?;
    let mut spend = || {
        let left = budget > 0;
        budget = budget.saturating_sub(1);
        left
    };
    let mut moved = 0;
    // 1. records, oldest first (so that `records` grows at its right edge)
    loop {
        if !spend() {
            return Ok(false);
        }
        let chunk: Vec<IVec> = index
            .iter()
            .keys()
            .take(batch)
            .collect::<sled::Result<_>>()?;
        if chunk.is_empty() {
            break;
        }
        let mut places = Vec::with_capacity(chunk.len());
        for loc in chunk {
            match <[u8; 24]>::try_from(loc.as_ref()) {
                Ok(l) => places.push((loc, Some(l))),
                Err(_) => places.push((loc, None)), // damaged: dropped
            }
        }
        moved += move_records(store, &items, &index, &places)?;
    }
    // a record the index missed: placed by its own first sighting
    let mut after: Option<IVec> = None;
    loop {
        if !spend() {
            return Ok(false);
        }
        let range = match after.take() {
            Some(a) => items.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => items.iter(),
        };
        let mut n = 0;
        let mut places = Vec::new();
        for entry in range.take(batch) {
            let (k, v) = entry?;
            n += 1;
            after = Some(k.clone());
            if v.len() == 24 {
                continue; // moved
            }
            let Ok(key) = <[u8; 16]>::try_from(k.as_ref()) else {
                continue; // not an item key: left to be dropped with the tree
            };
            let first_seen = super::record::decode_item(&v)?.first_seen;
            let loc = time_key(first_seen, Key(key));
            places.push((IVec::from(&loc[..]), Some(loc)));
        }
        moved += move_records(store, &items, &index, &places)?;
        if n < batch {
            break;
        }
    }
    store.flush()?;
    // 2. seen values: locations
    let mut after: Option<IVec> = None;
    let mut located = 0;
    loop {
        if !spend() {
            return Ok(false);
        }
        let range = match after.take() {
            Some(a) => store
                .seen
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => store.seen.iter(),
        };
        let (mut n, mut rewrite) = (0, sled::Batch::default());
        for entry in range.take(batch) {
            let (k, v) = entry?;
            n += 1;
            after = Some(k.clone());
            if v.len() != 16 {
                continue; // a location already
            }
            if let Some(loc) = items.get(&v)?
                && loc.len() == 24
            {
                rewrite.insert(k, loc);
                located += 1;
            }
        }
        store.seen.apply_batch(rewrite)?;
        if n < batch {
            break;
        }
    }
    store.flush()?;
    // 3. the old trees
    store.db.drop_tree(ITEMS)?;
    store.db.drop_tree(FIRST_SEEN)?;
    store.flush()?;
    info!(
        records = moved,
        seen = located,
        "migrated to schema 3: records by first sighting, seen keys name locations"
    );
    Ok(true)
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
