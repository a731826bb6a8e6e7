//! Index-ordered reads for `items`, `alerts` and the API: newest first, one record at a
//! time, so that a query for one row reads one row and "all" never holds the store in
//! memory.
//!
//! - Items come from the `records` tree, keyed by location ([`super::time_key`] of the
//!   first sighting ++ item key), read backwards. Items first seen in the same millisecond
//!   (one poll's) are read as a group and ordered as [`Store::items`] orders them, by
//!   `published` too.
//! - Alerts come from the `alerts_by_time` index: `detected` ++ 0 ++ (0 | 1 ++ `published`)
//!   ++ 0 ++ the alert id with every bit flipped → nothing. Read backwards, that is exactly
//!   [`Store::alerts`]' order: newest `detected` first, then newest `published` (none
//!   last), then the alert id ascending. The entry is written in the transaction that
//!   writes the alert; stores written before this index existed get it built on open
//!   ([`Store::ensure_alert_index`]), and an import or a compaction rebuilds it.

use std::collections::VecDeque;

use sled::IVec;

use super::{Result, Store, StoredItem, decode};
use crate::alert::Alert;
use crate::dedup::Key;

/// The tree of the alerts' index.
pub(super) const ALERT_INDEX: &str = "alerts_by_time";
/// `meta` key set once the alerts' index is complete.
const ALERT_INDEX_BUILT: &str = "alerts_by_time";

/// Where a read stopped: the next read starts below it. Opaque bytes (hex in the API).
pub type Cursor = IVec;

/// The `alerts_by_time` key of an alert.
pub(super) fn alert_index_key(alert: &Alert, id: Key) -> Vec<u8> {
    let mut k = Vec::with_capacity(alert.detected.len() + 48);
    k.extend_from_slice(alert.detected.as_bytes());
    k.push(0);
    match &alert.published {
        None => k.push(0),
        Some(p) => {
            k.push(1);
            k.extend_from_slice(p.as_bytes());
        }
    }
    k.push(0);
    k.extend(id.0.iter().map(|b| !b));
    k
}

/// The alert id at the end of an index key.
fn alert_id_of(k: &[u8]) -> Option<Key> {
    let tail = k.get(k.len().checked_sub(16)?..)?;
    let mut id = [0; 16];
    for (o, b) in id.iter_mut().zip(tail) {
        *o = !b;
    }
    Some(Key(id))
}

impl Store {
    pub(super) fn alert_index(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree(ALERT_INDEX)?)
    }

    /// Builds the alerts' index if this store has none yet (written before it existed, or
    /// an interrupted build). Called on open, before anything else reads or writes.
    pub(super) fn ensure_alert_index(&self) -> Result<()> {
        if self.meta.get(ALERT_INDEX_BUILT)?.is_some() {
            return Ok(());
        }
        self.rebuild_alert_index()
    }

    /// Writes the alerts' index afresh from the alerts tree (after an import), in batches.
    pub(super) fn rebuild_alert_index(&self) -> Result<()> {
        self.meta.remove(ALERT_INDEX_BUILT)?;
        let index = self.alert_index()?;
        index.clear()?;
        let mut batch = sled::Batch::default();
        let mut batched = 0;
        for entry in self.alerts.iter() {
            let (id, v) = entry?;
            let Ok(id) = <[u8; 16]>::try_from(id.as_ref()) else {
                continue;
            };
            let alert: Alert = decode("alerts", &v)?;
            batch.insert(alert_index_key(&alert, Key(id)), &[]);
            batched += 1;
            if batched == 10_000 {
                index.apply_batch(std::mem::take(&mut batch))?;
                batched = 0;
            }
        }
        index.apply_batch(batch)?;
        self.meta.insert(ALERT_INDEX_BUILT, &[1])?;
        self.flush()?;
        Ok(())
    }

    /// Alerts newest first (the order of [`Store::alerts`]), starting below `before` (a
    /// cursor this returned), each with the cursor that starts after it.
    pub fn alerts_newest(
        &self,
        before: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<(Cursor, Alert)>> + '_> {
        let index = self.alert_index()?;
        let range = match before {
            Some(b) => index.range(..IVec::from(b)),
            None => index.range::<&[u8], _>(..),
        };
        Ok(range.rev().filter_map(move |entry| {
            let k = match entry {
                Ok((k, _)) => k,
                Err(e) => return Some(Err(e.into())),
            };
            let id = alert_id_of(&k)?;
            match self.alerts.get(id.0) {
                Ok(Some(v)) => Some(decode("alerts", &v).map(|a| (k, a))),
                Ok(None) => None, // cannot happen: the entry is written with its alert
                Err(e) => Some(Err(e.into())),
            }
        }))
    }

    /// Items newest first (the order of [`Store::items`]), starting below `before` (a
    /// cursor this returned), each with its cursor: the first-sighting millisecond it
    /// shares with the rest of its poll, read below which comes the next group.
    pub fn items_newest(&self, before: Option<&[u8]>) -> ItemsNewest<'_> {
        let range = match before {
            Some(b) => self.records.range(..IVec::from(b)),
            None => self.records.range::<&[u8], _>(..),
        };
        ItemsNewest {
            records: range.rev(),
            peeked: None,
            group: VecDeque::new(),
            done: false,
            _store: std::marker::PhantomData,
        }
    }
}

/// See [`Store::items_newest`].
pub struct ItemsNewest<'a> {
    records: std::iter::Rev<sled::Iter>,
    /// The first record of the next group, read while finding the end of the last one.
    peeked: Option<(IVec, IVec)>,
    group: VecDeque<(Cursor, StoredItem)>,
    done: bool,
    _store: std::marker::PhantomData<&'a Store>,
}

impl ItemsNewest<'_> {
    /// Reads the next group of records (one millisecond of first sightings).
    fn fill(&mut self) -> Result<()> {
        let mut records: Vec<(IVec, IVec)> = Vec::new();
        if let Some(r) = self.peeked.take() {
            records.push(r);
        }
        loop {
            let Some(entry) = self.records.next() else {
                self.done = true;
                break;
            };
            let (k, v) = entry?;
            match records.first() {
                Some((first, _)) if first.get(..8) != k.get(..8) => {
                    self.peeked = Some((k, v));
                    break;
                }
                _ => records.push((k, v)),
            }
        }
        // read backwards: the group's records are in descending item key order; the
        // store's order breaks ties by ascending item key
        records.reverse();
        let mut items = Vec::with_capacity(records.len());
        for (k, v) in records {
            let prefix = IVec::from(k.get(..8).unwrap_or_default());
            items.push((prefix, super::record::decode_item(&v)?));
        }
        items.sort_by_key(|(_, i)| std::cmp::Reverse((i.first_seen, i.published)));
        self.group.extend(items);
        Ok(())
    }
}

impl Iterator for ItemsNewest<'_> {
    type Item = Result<(Cursor, StoredItem)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.group.pop_front() {
                return Some(Ok(row));
            }
            if self.done && self.peeked.is_none() {
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                self.peeked = None;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{incoming, item, open};
    use super::*;
    use crate::dedup::KeyPolicy;
    use crate::store::FeedState;
    use chrono::{Duration, Utc};

    /// Alerts and items read through the indexes come in exactly the order of the
    /// whole-store sorts, for every page size, including ties on `detected` and
    /// `first_seen` (one poll's items) and items with and without `published`.
    #[test]
    fn index_order_is_the_sorted_order() {
        let (_d, store) = open();
        let t0 = Utc::now();
        let mut n = 0;
        for poll in 0..6 {
            let mut inc = Vec::new();
            for i in 0..5 {
                n += 1;
                let mut it = item(&format!("g{n}"), &format!("https://x.example/{n}"), "CIS");
                if i % 2 == 0 {
                    it.published = Some(t0 - Duration::hours((n * 7 % 5) as i64));
                }
                inc.push(incoming("f", &it, KeyPolicy::Guid, &["cis", "csto"], true));
            }
            let state = store.feed_state("f").unwrap().unwrap_or(FeedState {
                name: "f".into(),
                ..FeedState::default()
            });
            // two polls in the same second: ties on `detected`
            let at = t0 + Duration::seconds(poll / 2);
            store.commit_poll(&state, &inc, at).unwrap();
        }
        let want: Vec<String> = store.alerts().unwrap().into_iter().map(|a| a.id).collect();
        let got: Vec<String> = store
            .alerts_newest(None)
            .unwrap()
            .map(|r| r.unwrap().1.id)
            .collect();
        assert_eq!(got, want);
        let want: Vec<String> = store.items().unwrap().into_iter().map(|i| i.key).collect();
        let got: Vec<String> = store.items_newest(None).map(|r| r.unwrap().1.key).collect();
        assert_eq!(got, want);
        // resuming below each cursor gives the rest
        let all: Vec<(Cursor, Alert)> = store
            .alerts_newest(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for (i, (c, _)) in all.iter().enumerate() {
            let rest: Vec<String> = store
                .alerts_newest(Some(c))
                .unwrap()
                .map(|r| r.unwrap().1.id)
                .collect();
            let want: Vec<String> = all[i + 1..].iter().map(|(_, a)| a.id.clone()).collect();
            assert_eq!(rest, want, "after {i}");
        }
    }

    /// A store whose alerts predate the index (or whose build was interrupted) gets it
    /// on open.
    #[test]
    fn the_alert_index_is_built_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let store = Store::open(&path, 1 << 20).unwrap();
            let it = item("1", "https://x.example/1", "CIS");
            super::super::tests::poll(
                &store,
                "f",
                &[incoming("f", &it, KeyPolicy::Guid, &["cis"], true)],
            );
            // as an older build left it: alerts, no index
            store.alert_index().unwrap().clear().unwrap();
            store.meta.remove(ALERT_INDEX_BUILT).unwrap();
        }
        let store = Store::open(&path, 1 << 20).unwrap();
        let got: Vec<Alert> = store
            .alerts_newest(None)
            .unwrap()
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(got, store.alerts().unwrap());
        assert_eq!(got.len(), 1);
    }
}
