//! `pause NAME` / `resume NAME` in cluster mode: cluster-wide. A paused feed has a key in
//! `N_paused` (its feed key → when it was paused); every node reads the bucket at each
//! [`HEARTBEAT`], its feed loops poll no feed found there (the holder gives its lease up),
//! and each node mirrors the pause into its own store, so that `feeds`, `status` and
//! `poll NAME` on any node see the feed paused.
//!
//! The node asked writes the key, then waits until no node holds the feed's lease (a holder
//! gives it up only between two polls, so nobody is fetching it then). A holder also reads
//! the key directly right before each fetch, so a pause is never missed by a heartbeat-old
//! view.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tracing::{debug, info, warn};

use super::{Cluster, HEARTBEAT, ids};
use crate::config::FeedConfig;
use crate::poll::Poller;

/// How long `pause` waits for the node polling the feed to finish its poll and let go.
pub const PAUSE_PATIENCE: Duration = Duration::from_secs(30);

/// Whether a feed is paused cluster-wide, as this node knows.
pub(super) enum Paused {
    /// `N_paused` not read yet: poll nothing.
    Unknown,
    No,
    /// Since when.
    Yes(DateTime<Utc>),
}

fn parse(value: &[u8]) -> DateTime<Utc> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

impl Cluster {
    /// Reads which feeds are paused (at each heartbeat).
    pub(super) async fn read_pauses(&self) {
        let read = async {
            let mut keys = self.pauses.keys().await?;
            let mut out = HashMap::new();
            while let Some(k) = keys.next().await {
                let k = k?;
                if let Some(v) = self.pauses.get(&k).await? {
                    out.insert(k, String::from_utf8_lossy(&v).to_string());
                }
            }
            anyhow::Ok(out)
        };
        match tokio::time::timeout(HEARTBEAT, read).await {
            Ok(Ok(map)) => {
                *self.paused.write().unwrap_or_else(|p| p.into_inner()) = Some(map);
            }
            Ok(Err(e)) => warn!(error = %e, "cluster: reading the paused feeds failed"),
            Err(_) => warn!("cluster: reading the paused feeds timed out"),
        }
    }

    /// Whether the feed with `key` is paused, as last read.
    pub(super) fn paused(&self, key: &str) -> Paused {
        match &*self.paused.read().unwrap_or_else(|p| p.into_inner()) {
            None => Paused::Unknown,
            Some(map) => match map.get(key) {
                Some(v) => Paused::Yes(parse(v.as_bytes())),
                None => Paused::No,
            },
        }
    }

    fn note_paused(&self, key: &str, at: Option<DateTime<Utc>>) {
        if let Some(map) = &mut *self.paused.write().unwrap_or_else(|p| p.into_inner()) {
            match at {
                Some(t) => map.insert(key.to_string(), crate::alert::rfc3339(t)),
                None => map.remove(key),
            };
        }
    }

    /// For a feed's loop, before anything else: true when the feed must not be polled
    /// (paused cluster-wide, or not known yet). Mirrors the cluster's pause into this
    /// node's store, and gives the lease up when paused.
    pub(super) async fn pause_holds(&self, key: &str, feed: &FeedConfig, poller: &Poller) -> bool {
        let at = match self.paused(key) {
            Paused::Unknown => return true,
            Paused::No => None,
            Paused::Yes(t) => Some(t),
        };
        let local = poller
            .store
            .feed_state(&feed.name)
            .ok()
            .flatten()
            .and_then(|s| s.paused);
        if local.is_some() != at.is_some() {
            match poller.store.set_paused(&feed.name, at) {
                Ok(_) => {
                    info!(feed = %feed.name, paused = at.is_some(), "cluster: the feed's pause, as set cluster-wide")
                }
                Err(e) => {
                    warn!(feed = %feed.name, error = %e, "cluster: mirroring the feed's pause into the store failed")
                }
            }
        }
        if at.is_some() {
            self.release(key).await;
            return true;
        }
        false
    }

    /// Right before a fetch: whether the feed was paused since the last heartbeat (read
    /// from NATS). An error reading it counts as not paused: the lease was just renewed.
    pub(super) async fn paused_now(&self, key: &str) -> bool {
        match self.pauses.entry(key).await {
            Ok(Some(e)) if e.operation == kv::Operation::Put => {
                self.note_paused(key, Some(parse(&e.value)));
                true
            }
            Ok(_) => false,
            Err(e) => {
                debug!(error = %e, "cluster: reading the feed's pause failed");
                false
            }
        }
    }

    /// Pauses (`Some(at)`) or resumes (`None`) the feed `name` cluster-wide; tried for a few
    /// seconds (a NATS server that died leaves the bucket without a leader for a moment).
    pub async fn share_pause(&self, name: &str, at: Option<DateTime<Utc>>) -> anyhow::Result<()> {
        let key = ids::feed_key(name);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let done = match at {
                Some(t) => self
                    .pauses
                    .put(&key, crate::alert::rfc3339(t).into())
                    .await
                    .map(drop)
                    .map_err(anyhow::Error::from),
                None => self.pauses.delete(&key).await.map_err(anyhow::Error::from),
            };
            match done {
                Ok(()) => break,
                Err(e) if attempt >= 4 => {
                    let what = if at.is_some() { "pause" } else { "resume" };
                    return Err(e.context(format!(
                        "{what} {name}: cannot record it in the cluster (NATS bucket {}_paused); nothing changed",
                        self.config.name
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500 * attempt)).await,
            }
        }
        self.note_paused(&key, at);
        Ok(())
    }

    /// After a pause: waits until no live node holds the feed's lease (so none is fetching
    /// it), up to `PAUSE_PATIENCE` (30 s). A note for the operator when one still does.
    pub async fn unpolled(&self, name: &str) -> Option<String> {
        let key = ids::feed_key(name);
        let until = Instant::now() + PAUSE_PATIENCE;
        loop {
            let holder = match self.leases.entry(&key).await {
                Ok(Some(e)) if e.operation == kv::Operation::Put => {
                    let h = String::from_utf8_lossy(&e.value).to_string();
                    // a holder that is not live polls nothing (it fences itself)
                    match self.nodes.get(h.as_str()).await {
                        Ok(None) => None,
                        _ => Some(h),
                    }
                }
                Ok(_) => None,
                Err(_) => Some("?".to_string()),
            };
            // none holds it: nobody is fetching it
            let holder = holder?;
            if Instant::now() >= until {
                return Some(format!(
                    "{name}: node {holder} still holds it after {} s (a poll in progress?): it polls it no more once that poll ends\n",
                    PAUSE_PATIENCE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
