//! Articles of `full_text` feeds ([`crate::article`]): whether an item is new (before its
//! page is fetched), an article attached to its stored item with the alerts only it
//! raises, and each feed's article health (in `meta`, under `article:FEED`, apart from the
//! feed's state so that an article finishing late never races a poll's write of it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionError;

use super::items::{abort, find};
use super::record::{decode_item, encode_item};
use super::{Result, Store, StoreError, StoredItem, decode, encode, query, time_key};
use crate::alert::Alert;
use crate::dedup::ItemKeys;
use crate::watch::Fired;

/// `meta` key prefix of a feed's [`ArticleHealth`].
const ARTICLE_HEALTH: &str = "article:";

/// How a feed's articles have fared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleHealth {
    /// Articles fetched and extracted.
    pub fetched: u64,
    /// Articles given up on (after their retries).
    pub failed: u64,
    /// The last failure, naming the page and the step.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_fetched_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Whether none of these keys was ever seen: the item is new.
    pub fn is_new(&self, keys: &ItemKeys) -> Result<bool> {
        self.seen_filter.ready(&self.seen)?;
        for k in keys.lookup(self.legacy_keys()?) {
            if self.seen_filter.may_contain(k) && self.seen.contains_key(k.0)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Attaches an article (packed) to the stored item of `keys`, unless it has one, and, in
    /// the same transaction, raises the alerts of `fired` (the watches the item fires with
    /// its article) for watches the item never matched, when it `may_alert`: an alert its
    /// feed text raised is not raised again. Returns the alerts raised; none for an item
    /// that retention dropped meanwhile.
    pub fn attach_article(
        &self,
        keys: &ItemKeys,
        packed: &str,
        fired: &[Fired],
        may_alert: bool,
    ) -> Result<Vec<Alert>> {
        let now = Utc::now();
        let trees = (
            &self.records,
            &self.seen,
            &self.alerts,
            &self.outbox,
            &self.alert_index()?,
        );
        self.seen_filter.ready(&self.seen)?;
        let legacy = self.legacy_keys()?;
        let result = trees.transaction(|(records, seen, alerts, outbox, index)| {
            let mut raised = Vec::new();
            let Some(place) = find(seen, &self.seen_filter, keys, legacy)? else {
                return Ok(raised);
            };
            let (key, Some(loc)) = (place.key(), place.location()) else {
                return Ok(raised); // purged
            };
            let Some(bytes) = records.get(loc)? else {
                return Ok(raised);
            };
            let mut stored: StoredItem = decode_item(&bytes).map_err(abort)?;
            if stored.article.is_some() {
                return Ok(raised);
            }
            stored.article = Some(packed.to_string());
            for f in fired {
                if stored.matched.contains(&f.watch) {
                    continue;
                }
                stored.matched.push(f.watch.clone());
                let id = key.alert_id(&f.watch);
                if !may_alert || alerts.get(id.0)?.is_some() {
                    continue;
                }
                let alert = stored.alert(key, now, f);
                alerts.insert(&id.0, encode(&alert))?;
                index.insert(query::alert_index_key(&alert, id), &[])?;
                outbox.insert(&time_key(now, id)[..], &[])?;
                raised.push(alert);
            }
            records.insert(&loc[..], encode_item(&stored, !self.compressed))?;
            Ok(raised)
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Counts an article of `feed` fetched (`Ok`) or given up on (`Err`, with the message).
    pub fn record_article(
        &self,
        feed: &str,
        outcome: std::result::Result<(), String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let key = format!("{ARTICLE_HEALTH}{feed}");
        self.meta.update_and_fetch(key.as_bytes(), |old| {
            let mut h: ArticleHealth = old
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            match &outcome {
                Ok(()) => {
                    h.fetched += 1;
                    h.last_fetched_at = Some(now);
                }
                Err(message) => {
                    h.failed += 1;
                    h.last_error = Some(message.clone());
                    h.last_error_at = Some(now);
                }
            }
            Some(encode(&h))
        })?;
        Ok(())
    }

    /// The article health of `feed`; `None` if it never fetched an article.
    pub fn article_health(&self, feed: &str) -> Result<Option<ArticleHealth>> {
        let key = format!("{ARTICLE_HEALTH}{feed}");
        self.meta
            .get(key.as_bytes())?
            .map(|b| decode("meta", &b))
            .transpose()
    }
}
