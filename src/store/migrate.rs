//! Migrations from older store layouts, run by [`Store::open`] before anything else
//! touches the store. Each step is idempotent and the new version is recorded only after
//! its data is flushed, so a migration interrupted by a crash simply runs again.

use std::collections::HashMap;

use tracing::info;

use super::{HEALTH_TAG, Result, SCHEMA_VERSION, Store, StoredItem, decode, time_key};
use crate::alert::Alert;
use crate::dedup::Key;

/// Brings a store written with schema `from` up to [`SCHEMA_VERSION`].
/// The store may be closed and opened again (with a page cache of `cache` bytes) on the
/// way: the one returned is the one to use.
pub(super) fn run(mut store: Store, from: u32, cache: u64) -> Result<Store> {
    info!(store = %store.path.display(), from, to = SCHEMA_VERSION, "migrating the store");
    if from < 2 {
        v1_to_v2(&store)?;
    }
    if from < 3 {
        store = super::migrate_v3::v2_to_v3(store, cache)?;
    }
    store.flush()?;
    store.set_schema(SCHEMA_VERSION)?;
    store.flush()?;
    Ok(store)
}

/// Schema 1 → 2: builds the `first_seen` index, fills `StoredItem::matched` from the
/// alerts raised (a held-back match is not known in schema 1), and re-keys the outbox from
/// sled's id counter (which an import into a new store would restart, overwriting pending
/// entries) to time and alert id. A feed-health entry (written by schema-1 builds as
/// [`HEALTH_TAG`] ++ line id) becomes time ++ line id with the tag as its value.
fn v1_to_v2(store: &Store) -> Result<()> {
    let (items_tree, first_seen) = (
        store.db.open_tree(super::migrate_v3::ITEMS)?,
        store.db.open_tree(super::migrate_v3::FIRST_SEEN)?,
    );
    let mut alerted: HashMap<String, Vec<String>> = HashMap::new();
    for v in store.alerts.iter().values() {
        let a: Alert = decode("alerts", &v?)?;
        alerted.entry(a.item).or_default().push(a.watch);
    }
    let mut items = sled::Batch::default();
    let mut index = sled::Batch::default();
    let mut n = 0;
    for entry in items_tree.iter() {
        let (k, v) = entry?;
        let mut item: StoredItem = super::record::decode_item(&v)?;
        let Ok(key) = <[u8; 16]>::try_from(k.as_ref()) else {
            continue;
        };
        index.insert(&time_key(item.first_seen, Key(key))[..], &[]);
        if let Some(watches) = alerted.get(&item.key) {
            for w in watches {
                if !item.matched.contains(w) {
                    item.matched.push(w.clone());
                }
            }
            items.insert(k, super::record::encode_item(&item, !store.compressed));
        }
        n += 1;
        if n % 10_000 == 0 {
            items_tree.apply_batch(std::mem::take(&mut items))?;
            first_seen.apply_batch(std::mem::take(&mut index))?;
        }
    }
    items_tree.apply_batch(items)?;
    first_seen.apply_batch(index)?;

    for entry in store.outbox.iter() {
        let (old, id) = entry?;
        if old.len() != 8 {
            continue; // already re-keyed by an earlier, interrupted run
        }
        // a feed-health line: its tag, then its id (the line gives the time it was raised)
        if let Some((&HEALTH_TAG, hid)) = id.split_first() {
            let queued = match (<[u8; 16]>::try_from(hid), store.health.get(hid)?) {
                (Ok(hid), Some(line)) => {
                    let at = serde_json::from_slice::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| {
                            chrono::DateTime::parse_from_rfc3339(v["detected"].as_str()?).ok()
                        })
                        .map(|t| t.to_utc())
                        .unwrap_or_default();
                    Some(time_key(at, Key(hid)))
                }
                _ => None,
            };
            let mut batch = sled::Batch::default();
            if let Some(q) = queued {
                batch.insert(&q[..], &[HEALTH_TAG]);
            }
            batch.remove(old);
            store.outbox.apply_batch(batch)?;
            continue;
        }
        let queued = match (<[u8; 16]>::try_from(id.as_ref()), store.alerts.get(&id)?) {
            (Ok(id), Some(a)) => {
                let a: Alert = decode("alerts", &a)?;
                let at = chrono::DateTime::parse_from_rfc3339(&a.detected)
                    .map(|t| t.to_utc())
                    .unwrap_or_default();
                Some(time_key(at, Key(id)))
            }
            _ => None, // an entry without its alert delivers nothing
        };
        let mut batch = sled::Batch::default();
        if let Some(q) = queued {
            batch.insert(&q[..], &[]);
        }
        batch.remove(old);
        store.outbox.apply_batch(batch)?;
    }
    info!(
        items = n,
        "migrated to schema 2: first-seen index built, outbox re-keyed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use serde_json::json;

    use super::*;
    use crate::store::StoreError;
    use crate::store::tests::{incoming, item, poll};

    const ITEM: &str = "0123456789abcdef0123456789abcdef";
    const ALERT: &str = "fedcba9876543210fedcba9876543210";

    fn key(hex: &str) -> [u8; 16] {
        Key::from_hex(hex).unwrap().0
    }

    /// A store as feedwatch 0.1 (schema 1) wrote it, through sled directly: one feed, one
    /// item first seen 100 days ago under its guid and link keys, its cis alert pending in
    /// an outbox keyed by sled's id counter.
    fn write_v1_store(path: &std::path::Path) -> crate::parse::Item {
        let it = item("g1", "https://x.example/1", "CIS summit opens");
        let keys = crate::dedup::keys(
            "f",
            std::slice::from_ref(&it),
            crate::dedup::KeyPolicy::Guid,
        )
        .remove(0);
        // that build's keys were unscoped
        let keys = crate::dedup::ItemKeys {
            primary: keys.legacy[0],
            candidates: keys.legacy.clone(),
            legacy: keys.legacy,
        };
        let db = sled::open(path).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &1u32.to_be_bytes())
            .unwrap();
        let first_seen = (Utc::now() - Duration::days(100)).to_rfc3339();
        let feed = json!({"name": "f", "url": "http://x.example/f", "validators": {"etag": null, "last_modified": null},
            "last_poll": first_seen, "last_success": first_seen, "last_error": null, "last_error_at": null,
            "failures": 0, "items": 1, "key_policy": "guid"});
        db.open_tree("feeds")
            .unwrap()
            .insert("f", feed.to_string().as_bytes())
            .unwrap();
        let stored = json!({"key": keys.primary.hex(), "feeds": ["f"], "guid": "g1", "link": "https://x.example/1",
            "title": "CIS summit opens", "summary": "", "content": "", "categories": [], "published": null,
            "first_seen": first_seen, "digest": crate::dedup::text_digest(&it)});
        db.open_tree("items")
            .unwrap()
            .insert(keys.primary.0, stored.to_string().as_bytes())
            .unwrap();
        let seen = db.open_tree("seen").unwrap();
        for k in &keys.candidates {
            seen.insert(k.0, &keys.primary.0).unwrap();
        }
        // a second item, seen long ago, whose body is already gone: a tombstone
        seen.insert(key(ITEM), &key(ITEM)).unwrap();
        let id = keys.primary.alert_id("cis");
        let alert = json!({"kind": "match", "id": id.hex(), "watch": "cis", "feed": "f",
            "title": "CIS summit opens", "link": "https://x.example/1", "published": null,
            "detected": crate::alert::rfc3339(Utc::now() - Duration::days(100)),
            "item": keys.primary.hex(), "matches": []});
        db.open_tree("alerts")
            .unwrap()
            .insert(id.0, alert.to_string().as_bytes())
            .unwrap();
        let outbox = db.open_tree("outbox").unwrap();
        outbox.insert(7u64.to_be_bytes(), &id.0).unwrap();
        // an outbox entry whose alert is missing: dropped, never blocks the queue
        outbox.insert(8u64.to_be_bytes(), &key(ALERT)).unwrap();
        db.flush().unwrap();
        it
    }

    /// A schema-1 store opens, is migrated to the current schema, and behaves: its pending
    /// alert is delivered, its items are indexed for retention, its item and tombstone do
    /// not alert again, and it can be reopened.
    #[test]
    fn a_schema_1_store_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let it = write_v1_store(&path);
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(store.schema().unwrap(), Some(SCHEMA_VERSION));
        let pending = store.pending(10).unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        let alert: Alert = serde_json::from_str(&pending[0].1).unwrap();
        assert_eq!(alert.watch, "cis");
        assert_eq!(pending[0].0.alert().hex(), alert.id);
        assert_eq!(store.items().unwrap()[0].matched, ["cis"]);
        // seen again, and edited: no alert (cis fired already)
        let mut edited = it.clone();
        edited.title = "CIS summit opens (updated)".into();
        for i in [&it, &edited] {
            let c = poll(
                &store,
                "f",
                &[incoming(
                    "f",
                    i,
                    crate::dedup::KeyPolicy::Guid,
                    &["cis"],
                    true,
                )],
            );
            assert_eq!((c.new_items, c.alerts.len()), (0, 0));
        }
        // the first-seen index was built: retention finds the item
        assert_eq!(store.purge(Utc::now() - Duration::days(90)).unwrap(), 1);
        drop(store);
        let store = Store::open(&path, 1 << 20).unwrap();
        assert!(store.items().unwrap().is_empty());
        assert_eq!(
            store.pending(10).unwrap().len(),
            1,
            "still pending until delivered"
        );
        let state = store.feed_state("f").unwrap().unwrap();
        assert_eq!(state.items, 1);
    }

    /// A store written by a newer feedwatch is refused, naming both versions.
    #[test]
    fn a_newer_store_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        {
            let db = sled::open(&path).unwrap();
            let meta = db.open_tree("meta").unwrap();
            meta.insert("schema", &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(&path, 1 << 20).err().expect("refused");
        assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("schema {}", SCHEMA_VERSION + 1))
                && msg.contains(&format!("knows up to {SCHEMA_VERSION}"))
                && msg.contains("upgrade feedwatch"),
            "{msg}"
        );
    }
}
