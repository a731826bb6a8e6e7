//! Items: one poll's items, seen keys, alerts and outbox entries committed in one
//! transaction, what [`crate::decide`] says to record applied there, and the queries over
//! stored items and alerts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::location::{Place, key_of};
use super::record::{decode_item, encode_item};
use super::seen_filter::SeenFilter;
use super::{FeedState, HEALTH_TAG, Result, Store, StoreError, decode, encode, query, time_key};
use crate::alert::Alert;
use crate::decide::{Decision, Known, Sighting, decide};
use crate::dedup::{ItemKeys, Key};
use crate::parse::Item;
use crate::watch::Fired;

/// An item as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredItem {
    pub key: String,
    /// Every feed it has been seen in, the first one first.
    pub feeds: Vec<String>,
    pub guid: Option<String>,
    pub link: Option<String>,
    /// Title, summary, content (extension texts included) and categories as the outlet wrote them
    /// ([`crate::shown`]); items stored before text was kept as shown have it normalised.
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
    /// The main text of the page its link names, [`crate::article::pack`]ed: only for items
    /// of `full_text` feeds whose article arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
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
    /// Whether a feed-health line was queued with the state.
    pub health_line: bool,
}

/// How a poll's last commit completes the feed's state inside its transaction: given the
/// state (item count updated) and the new items of this commit, it makes the state to save
/// and may return a feed-health line (id, line) to queue with it. It may run more than once
/// (a transaction that conflicts is retried), so it must depend on its inputs only.
pub type Finish<'a> = &'a dyn Fn(&mut FeedState, usize) -> Option<(Key, String)>;

impl Store {
    /// Records one poll of `state.name` in one transaction: new items and their seen keys,
    /// edits, the alerts they raise (into the outbox), and the feed's new state.
    pub fn commit_poll(
        &self,
        state: &FeedState,
        incoming: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<Committed> {
        self.commit_poll_part(state, incoming, now, Some(&|_, _| None))
    }

    /// Records one part of a poll of `state.name` in one transaction, as
    /// [`Store::commit_poll`] does. With `finish`, the feed's state, completed by it, is saved
    /// in the same transaction with its feed-health line if any; without, the state is not
    /// written (the poll's last part writes it, so that a poll writes it once).
    ///
    /// For each item, what the store knows (seen before? its feeds, digest and matched
    /// watches; which of the watches it fires already alerted for this story) is read inside
    /// the transaction and [`decide`] says what to record and raise: two polls that see one
    /// story at once conflict, and the one retried finds the other's alert.
    pub fn commit_poll_part(
        &self,
        state: &FeedState,
        incoming: &[Incoming],
        now: DateTime<Utc>,
        finish: Option<Finish>,
    ) -> Result<Committed> {
        self.seen_filter.ready(&self.seen)?;
        let filter = &self.seen_filter;
        let legacy = self.legacy_keys()?;
        let trees = (
            &self.feeds,
            &self.records,
            &self.seen,
            &self.alerts,
            &self.health,
            &self.outbox,
            &self.alert_index()?,
        );
        let result = trees.transaction(|(feeds, records, seen, alerts, health, outbox, index)| {
            let mut out = Committed::default();
            let mut state = state.clone();
            for inc in incoming {
                let existing = find(seen, filter, &inc.keys, legacy)?;
                let stored: Option<StoredItem> = match existing.as_ref().and_then(Place::location) {
                    Some(loc) => records
                        .get(loc)?
                        .map(|v| decode_item(&v))
                        .transpose()
                        .map_err(abort)?,
                    None => None,
                };
                let place = existing.unwrap_or(Place::new(now, inc.keys.primary));
                let key = place.key();
                let known = match (existing, &stored) {
                    (None, _) => Known::New,
                    (Some(_), None) => Known::Tombstone,
                    (Some(_), Some(s)) => Known::Stored {
                        feeds: &s.feeds,
                        digest: &s.digest,
                        matched: &s.matched,
                    },
                };
                // the watches that already alerted for this story, from any feed
                let mut alerted = Vec::new();
                if !matches!(known, Known::Tombstone) {
                    for f in &inc.fired {
                        if alerts.get(key.alert_id(&f.watch).0)?.is_some() {
                            alerted.push(f.watch.as_str());
                        }
                    }
                }
                let sighting = Sighting {
                    feed: &state.name,
                    digest: &inc.digest,
                    fired: &inc.fired,
                    may_alert: inc.may_alert,
                };
                let decision = decide(known, sighting, |w| alerted.contains(&w));
                let Decision::Record {
                    new_item,
                    add_feed,
                    edited,
                    matched,
                    raise,
                } = decision
                else {
                    record_keys(seen, filter, &inc.keys, &place)?;
                    continue;
                };
                // a record is written at a location only (a tombstone records keys only)
                let loc = *place.location().unwrap_or(&time_key(now, key));
                let mut stored = match stored {
                    Some(stored) => stored,
                    None => new_record(inc, &state.name, now),
                };
                if new_item {
                    out.new_items += 1;
                    state.items += 1;
                }
                if add_feed {
                    stored.feeds.push(state.name.clone());
                    state.items += 1;
                }
                if edited {
                    apply_text(&mut stored, &inc.item, &inc.digest);
                }
                stored.matched = matched;
                for fired in raise {
                    let alert = stored.alert(key, now, fired);
                    let id = key.alert_id(&fired.watch);
                    alerts.insert(&id.0, encode(&alert))?;
                    index.insert(query::alert_index_key(&alert, id), &[])?;
                    outbox.insert(&time_key(now, id)[..], &[])?;
                    out.alerts.push(alert);
                }
                stored.key = key.hex();
                records.insert(&loc[..], encode_item(&stored, !self.compressed))?;
                record_keys(seen, filter, &inc.keys, &Place::At(loc))?;
            }
            if let Some(finish) = finish {
                let line = finish(&mut state, out.new_items);
                feeds.insert(state.name.as_bytes(), encode(&state))?;
                if let Some((id, line)) = line {
                    // a line with this id was written once already: never twice
                    if health.get(id.0)?.is_none() {
                        health.insert(&id.0, line.as_bytes())?;
                        outbox.insert(&time_key(Utc::now(), id)[..], &[HEALTH_TAG])?;
                        out.health_line = true;
                    }
                }
            }
            out.state = state;
            Ok(out)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Stored items, newest first.
    pub fn items(&self) -> Result<Vec<StoredItem>> {
        let mut items: Vec<StoredItem> = self
            .records
            .iter()
            .values()
            .map(|v| decode_item(&v?))
            .collect::<Result<_>>()?;
        items.sort_by_key(|i| std::cmp::Reverse((i.first_seen, i.published)));
        Ok(items)
    }

    /// The item stored under `key`, if retention has not dropped it: its primary key is
    /// one of its seen keys, whose value is its location.
    pub fn item(&self, key: Key) -> Result<Option<StoredItem>> {
        let Some(v) = self.seen.get(key.0)? else {
            return Ok(None);
        };
        match Place::of_value(&v) {
            Some(Place::At(loc)) if key_of(&loc) == key => {
                self.records.get(loc)?.map(|v| decode_item(&v)).transpose()
            }
            // the key was later recorded for another story (a sighting whose keys named
            // two stored items): rare, so the records are searched
            Some(Place::At(_)) => {
                for entry in self.records.iter() {
                    let (loc, v) = entry?;
                    if loc.get(8..) == Some(&key.0[..]) {
                        return decode_item(&v).map(Some);
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// How many items the store holds (bodies, not tombstones).
    pub fn item_count(&self) -> usize {
        self.records.len()
    }

    /// Stored items with their keys, one at a time in order of first sighting, so that a
    /// pass over a large store (`rematch`) never holds it all in memory.
    pub fn each_item(&self) -> impl Iterator<Item = Result<(Key, StoredItem)>> + '_ {
        self.records.iter().map(|entry| {
            let (k, v) = entry?;
            let loc = <[u8; 24]>::try_from(k.as_ref()).map_err(|_| StoreError::BadKey {
                tree: "records",
                len: k.len(),
                expected: 24,
            })?;
            Ok((key_of(&loc), decode_item(&v)?))
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

pub(super) type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Where the item any of these keys was seen under lives (in a `legacy` store, also
/// under their older forms); keys that `filter` knows absent are not read.
pub(super) fn find(
    seen: &TransactionalTree,
    filter: &SeenFilter,
    keys: &ItemKeys,
    legacy: bool,
) -> TxResult<Option<Place>> {
    for k in keys.lookup(legacy) {
        if !filter.may_contain(k) {
            continue;
        }
        if let Some(v) = seen.get(k.0)?
            && let Some(place) = Place::of_value(&v)
        {
            return Ok(Some(place));
        }
    }
    Ok(None)
}

/// Records every candidate key as naming `place`. A key already recorded is not written
/// again: most items of a poll were seen before, and every sled write costs log space.
/// Each key goes into `filter` before the transaction commits.
fn record_keys(
    seen: &TransactionalTree,
    filter: &SeenFilter,
    keys: &ItemKeys,
    place: &Place,
) -> TxResult<()> {
    let value = place.bytes();
    for k in &keys.candidates {
        if !filter.may_contain(k) || seen.get(k.0)?.as_deref() != Some(value) {
            filter.insert(k);
            seen.insert(&k.0, value)?;
        }
    }
    Ok(())
}

/// A new item's record, as first seen in `feed` at `now`.
fn new_record(inc: &Incoming, feed: &str, now: DateTime<Utc>) -> StoredItem {
    StoredItem {
        key: inc.keys.primary.hex(),
        feeds: vec![feed.to_string()],
        guid: inc.item.guid.clone(),
        link: inc.item.link.clone(),
        // the outlet's text, as shown; matching normalises it again
        title: inc.item.shown_title().to_string(),
        summary: inc.item.shown_summary().to_string(),
        content: inc.item.shown_content().into_owned(),
        categories: inc.item.shown_categories().to_vec(),
        published: inc.item.published,
        first_seen: now,
        digest: inc.digest.clone(),
        matched: Vec::new(),
        article: None,
    }
}

fn apply_text(stored: &mut StoredItem, item: &Item, digest: &str) {
    stored.title = item.shown_title().to_string();
    stored.summary = item.shown_summary().to_string();
    stored.content = item.shown_content().into_owned();
    stored.categories = item.shown_categories().to_vec();
    stored.digest = digest.to_string();
    if item.link.is_some() {
        stored.link = item.link.clone();
    }
    if item.published.is_some() {
        stored.published = item.published;
    }
}
