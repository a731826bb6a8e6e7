//! Feed ownership: each feed is polled by the one live node that holds its lease in
//! `N_leases`, on the schedule shared in `N_state`.
//!
//! Who should hold a feed is decided by rendezvous hashing over the live nodes
//! ([`super::ids::owner`]); the lease makes sure only one does at a time while nodes
//! disagree for a moment. A lease is taken with `create` (or, from a node no longer live,
//! with a revision-checked `update`), renewed with a revision-checked `update` before each
//! poll, and given up (deleted at its revision) when another node should hold it. A lease
//! never expires by itself: it is void once its holder's liveness key has expired, and a
//! node whose own key may have expired polls nothing (it fences itself).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Cluster, HEARTBEAT, ids};
use crate::config::FeedConfig;
use crate::deliver::Wakes;
use crate::poll::{Outcome, Poller};
use crate::schedule::FeedState;

/// What a feed's loop should do now.
enum Turn {
    /// Hold the lease: poll when due.
    Poll,
    /// Not ours, or not free yet: look again later.
    Wait,
}

impl Cluster {
    /// One feed's loop: every [`HEARTBEAT`], whether this node should hold it; while it
    /// does, polls it when the shared schedule says it is due.
    pub(super) async fn feed_loop(
        self: Arc<Self>,
        poller: Arc<Poller>,
        feed: FeedConfig,
        first: Duration,
        wakes: Arc<Wakes>,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        self.set_store(poller.store.clone());
        let key = ids::feed_key(&feed.name);
        // a feed never polled by the cluster waits out its spread start, as alone
        let not_before = tokio::time::Instant::now() + first;
        let mut tick = HEARTBEAT;
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    self.release(&key).await;
                    return Ok(());
                }
                _ = tokio::time::sleep(jittered(tick)) => {}
            }
            tick = HEARTBEAT;
            match self.turn(&key, &feed, &poller).await {
                Turn::Wait => continue,
                Turn::Poll => {}
            }
            let state = poller.state(&feed)?;
            let now = chrono::Utc::now();
            match state.next_poll {
                Some(due) if due > now => {
                    tick = (due - now).to_std().unwrap_or_default().min(HEARTBEAT);
                    continue;
                }
                None if tokio::time::Instant::now() < not_before => continue,
                _ => {}
            }
            // renew (revision-checked) right before fetching: proves the lease is still ours
            if !self.renew(&key).await {
                continue;
            }
            // paused cluster-wide since the last heartbeat: not fetched (pause.rs)
            if self.paused_now(&key).await {
                self.release(&key).await;
                continue;
            }
            let report = tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    self.release(&key).await;
                    return Ok(());
                }
                report = poller.poll(&feed) => report?,
            };
            self.share_state(&key, &feed, &poller).await;
            if report.health_line
                || matches!(report.outcome, Outcome::Polled { alerts, .. } if alerts > 0)
            {
                wakes.deliver.notify_one();
            }
            if report.next_in.is_none() {
                info!(feed = %feed.name, "feed disabled: not polled until `feedwatch enable {}`", feed.name);
                self.release(&key).await;
                return Ok(());
            }
        }
    }

    /// Whether this node holds (or has just taken) the lease of the feed with `key`, and
    /// should: it is the feed's owner among the live nodes, surely live itself, and the
    /// feed is not paused cluster-wide.
    async fn turn(&self, key: &str, feed: &FeedConfig, poller: &Poller) -> Turn {
        if self.pause_holds(key, feed, poller).await {
            return Turn::Wait;
        }
        if !self.alive() {
            // our liveness key may have expired: another node may hold the feed now
            self.forget(key);
            return Turn::Wait;
        }
        let owner = {
            let live = self.live.read().unwrap_or_else(|p| p.into_inner());
            ids::owner(&feed.name, &live).map(str::to_string)
        };
        if owner.as_deref() != Some(self.node()) {
            // hand over only with the feed's state shared, so the next holder polls on time
            if !self.is_unshared(key) || self.share_state(key, feed, poller).await {
                self.release(key).await;
            }
            return Turn::Wait;
        }
        if self.holds(key) {
            return Turn::Poll;
        }
        match self.take(key).await {
            Ok(true) => {
                self.load_state(key, feed, poller).await;
                info!(feed = %feed.name, node = %self.node(), "cluster: took the feed's lease");
                Turn::Poll
            }
            Ok(false) => Turn::Wait,
            Err(e) => {
                debug!(feed = %feed.name, error = %e, "cluster: taking the feed's lease failed");
                Turn::Wait
            }
        }
    }

    fn is_unshared(&self, key: &str) -> bool {
        self.unshared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    fn holds(&self, key: &str) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(key)
    }

    fn forget(&self, key: &str) -> Option<u64> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
    }

    fn keep(&self, key: &str, revision: u64) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), revision);
    }

    /// Takes the lease if it is free: absent, deleted, or held by a node that is not live
    /// (or by this node's name, left by a run of it that was killed). True when taken.
    async fn take(&self, key: &str) -> anyhow::Result<bool> {
        let me = self.node().to_string();
        match self.leases.create(key, me.clone().into()).await {
            Ok(revision) => {
                self.keep(key, revision);
                return Ok(true);
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let Some(entry) = self.leases.entry(key).await? else {
            return Ok(false); // gone in between: next time
        };
        let holder = String::from_utf8_lossy(&entry.value).to_string();
        let listed = self
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&holder);
        // the list of live nodes may be a heartbeat old: a holder missing from it is asked
        // for directly (a node writes its liveness key before it takes any lease, so a
        // holder whose key is gone has stopped polling: it fences itself before then)
        let free = entry.operation != kv::Operation::Put
            || holder == me
            || (!listed && self.nodes.get(holder.as_str()).await?.is_none());
        if !free {
            return Ok(false);
        }
        match self.leases.update(key, me.into(), entry.revision).await {
            Ok(revision) => {
                if holder != self.node() && entry.operation == kv::Operation::Put {
                    info!(from = %holder, "cluster: took over a lease from a node no longer live");
                }
                self.keep(key, revision);
                Ok(true)
            }
            Err(_) => Ok(false), // someone else was quicker
        }
    }

    /// Renews a held lease at its revision; false (and forgotten) when it is no longer ours.
    async fn renew(&self, key: &str) -> bool {
        let Some(revision) = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
        else {
            return false;
        };
        match self
            .leases
            .update(key, self.node().to_string().into(), revision)
            .await
        {
            Ok(next) => {
                self.keep(key, next);
                true
            }
            Err(e) => {
                warn!(error = %e, "cluster: a feed's lease is no longer ours; not polling it");
                self.forget(key);
                false
            }
        }
    }

    /// Gives up a held lease (deleted at its revision, so a lease taken since stays).
    pub(super) async fn release(&self, key: &str) {
        if let Some(revision) = self.forget(key)
            && let Err(e) = self
                .leases
                .delete_expect_revision(key, Some(revision))
                .await
        {
            debug!(error = %e, "cluster: releasing a lease failed; it is void once this node is not live");
        }
    }

    /// A feed just taken: its shared state (schedule, validators, backoff) replaces the
    /// local one, so the first poll here is warm and on time. The pause stays as this
    /// node's store has it (a mirror of the cluster's, `N_paused`).
    async fn load_state(&self, key: &str, feed: &FeedConfig, poller: &Poller) {
        let entry = match self.states.get(key).await {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                warn!(feed = %feed.name, error = %e, "cluster: reading the feed's shared state failed; polling from the local one");
                return;
            }
        };
        let Ok(mut shared) = serde_json::from_slice::<FeedState>(&entry) else {
            warn!(feed = %feed.name, "cluster: the feed's shared state does not parse; polling from the local one");
            return;
        };
        if let Ok(Some(local)) = poller.store.feed_state(&feed.name) {
            shared.paused = local.paused;
        }
        shared.name = feed.name.clone();
        if let Err(e) = poller.store.save_feed_state(&shared) {
            warn!(feed = %feed.name, error = %e, "cluster: saving the feed's shared state failed");
        }
    }

    /// After a poll: the feed's state, for whichever node holds it next; tried for a few
    /// seconds (a NATS server that died leaves the bucket without a leader for a moment).
    /// False when it could not be shared: the lease is kept until it is.
    async fn share_state(&self, key: &str, feed: &FeedConfig, poller: &Poller) -> bool {
        let Ok(Some(state)) = poller.store.feed_state(&feed.name) else {
            return true;
        };
        let value: bytes::Bytes = serde_json::to_vec(&state).expect("serialises").into();
        for attempt in 1..=4 {
            match self.states.put(key, value.clone()).await {
                Ok(_) => {
                    self.unshared
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(key);
                    return true;
                }
                Err(e) if attempt == 4 => {
                    warn!(feed = %feed.name, error = %e, "cluster: sharing the feed's state failed; keeping its lease until it can be shared");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500 * attempt)).await,
            }
        }
        self.unshared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string());
        false
    }
}

/// `d` give or take 5%, so 300 feed loops do not all look at the same moment.
fn jittered(d: Duration) -> Duration {
    crate::schedule::jitter(d, crate::schedule::unit_random())
}
