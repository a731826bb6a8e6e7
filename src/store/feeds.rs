//! Feed states: the `feeds` tree (feed name → [`FeedState`], JSON), and the feed-health
//! lines queued with a feed's state.

use chrono::Utc;
use sled::Transactional;
use sled::transaction::TransactionError;

use super::{FeedState, HEALTH_TAG, Result, Store, StoreError, decode, encode, time_key};
use crate::dedup::Key;

impl Store {
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
        let was = state.enable();
        self.save_feed_state(&state)?;
        Ok(was)
    }

    /// Pauses (`Some(now)`) or resumes (`None`) a feed, keeping the rest of its state; a feed
    /// never polled gets a state of its own. Returns whether the pause changed.
    pub fn set_paused(&self, name: &str, paused: Option<chrono::DateTime<Utc>>) -> Result<bool> {
        let mut state = self
            .feed_state(name)?
            .unwrap_or_else(|| FeedState::new(name));
        if state.paused.is_some() == paused.is_some() {
            return Ok(false);
        }
        state.paused = paused;
        self.save_feed_state(&state)?;
        self.flush()?;
        Ok(true)
    }

    pub fn save_feed_state(&self, state: &FeedState) -> Result<()> {
        self.feeds.insert(state.name.as_bytes(), encode(state))?;
        Ok(())
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

    pub fn feed_states(&self) -> Result<Vec<FeedState>> {
        self.feeds
            .iter()
            .values()
            .map(|v| decode("feeds", &v?))
            .collect()
    }
}
