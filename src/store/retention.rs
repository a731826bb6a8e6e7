//! Retention: the bodies of items first seen longer ago than `storage.keep` are dropped.
//! Their seen keys stay (tombstones: the `seen` tree still maps each key to the item's
//! location, which then has no record) and so do their alerts, so a purged item that a
//! feed serves again is recognised and never alerts again. The `records` tree is keyed by
//! location, first sighting first, so a purge reads only what it drops.

use chrono::{DateTime, Utc};
use sled::transaction::TransactionError;

use super::{Result, Store, StoreError, time_prefix};

/// Entries dropped per transaction: small enough not to hold up polls for long.
const CHUNK: usize = 1000;

impl Store {
    /// Drops the bodies of items first seen before `cutoff`; returns how many.
    pub fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let end = time_prefix(cutoff);
        let mut purged = 0;
        loop {
            let chunk = self
                .records
                .range(..end)
                .keys()
                .take(CHUNK)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if chunk.is_empty() {
                return Ok(purged);
            }
            let dropped = self
                .records
                .transaction(|records| {
                    let mut dropped = 0;
                    for k in &chunk {
                        if records.remove(k)?.is_some() {
                            dropped += 1;
                        }
                    }
                    Ok(dropped)
                })
                .map_err(|e: TransactionError<StoreError>| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => StoreError::Sled(e),
                })?;
            purged += dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::tests::{incoming, item, open};
    use super::*;
    use crate::dedup::KeyPolicy;
    use crate::store::FeedState;

    /// A purged item leaves a tombstone: served again, in its feed or another, it is not
    /// new and raises nothing, even edited.
    #[test]
    fn a_purged_item_never_alerts_again() {
        let (_d, store) = open();
        let state = FeedState {
            name: "f".into(),
            ..FeedState::default()
        };
        let old = item("g1", "https://x.example/1", "CIS summit opens");
        let young = item("g2", "https://x.example/2", "CSTO drills");
        let t0 = Utc::now() - Duration::days(100);
        let inc = |i| incoming("f", i, KeyPolicy::Guid, &["cis", "csto"], true);
        let c = store.commit_poll(&state, &[inc(&old)], t0).unwrap();
        assert_eq!(c.alerts.len(), 2);
        let c = store
            .commit_poll(&state, &[inc(&young)], Utc::now())
            .unwrap();
        assert_eq!(c.alerts.len(), 2);

        assert_eq!(store.purge(Utc::now() - Duration::days(90)).unwrap(), 1);
        assert_eq!(store.purge(Utc::now() - Duration::days(90)).unwrap(), 0);
        let titles: Vec<String> = store
            .items()
            .unwrap()
            .into_iter()
            .map(|i| i.title)
            .collect();
        assert_eq!(titles, ["CSTO drills"]);
        assert_eq!(store.alerts().unwrap().len(), 4, "alerts are kept");

        let mut edited = old.clone();
        edited.title = "CIS summit opens (updated)".into();
        for again in [&old, &edited] {
            let c = store
                .commit_poll(&state, &[inc(again)], Utc::now())
                .unwrap();
            assert_eq!((c.new_items, c.alerts.len()), (0, 0));
        }
        let other = incoming("g", &old, KeyPolicy::Guid, &["cis"], true);
        let c = store
            .commit_poll(
                &FeedState {
                    name: "g".into(),
                    ..FeedState::default()
                },
                &[other],
                Utc::now(),
            )
            .unwrap();
        assert_eq!((c.new_items, c.alerts.len()), (0, 0), "found by its link");
        assert_eq!(store.items().unwrap().len(), 1, "not stored again");
    }
}
