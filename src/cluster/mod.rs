//! Cluster mode: several `feedwatch run` nodes sharing feeds, alerts and sinks through NATS
//! JetStream (`[cluster]`, docs/cluster.md). Built only with the cargo feature `cluster`;
//! without it (or without `[cluster]`) every function here is a no-op and feedwatch runs
//! alone, as ever.
//!
//! What lives in NATS, all named after `cluster.name` (`N` below):
//! - the stream `N_alerts`, subjects `N.alert.<id>`: the cluster's alerts, one message per
//!   subject, a second one refused by the server (`discard_new_per_subject`); `<id>` is the
//!   same on every node for the same story and watch ([`ids`]);
//! - the KV buckets `N_nodes` (live nodes, each key expiring unless renewed), `N_leases`
//!   (which node polls which feed, expiring likewise) and `N_state` (each feed's schedule,
//!   validators and backoff, so that a node taking a feed over polls it warm), and
//!   `N_paused` (the feeds an operator paused, cluster-wide: [`share_pause`]).
//!
//! The seams in the rest of the program: [`start`] before the service opens its store;
//! [`publish_pending`] in the deliverer (the outbox goes to the stream, not the alert log);
//! [`replaces_sinks`] (the sinks read the stream); [`feed_loop`] (a feed is polled only by
//! the node holding its lease).

#[cfg(feature = "cluster")]
mod alerts;
#[cfg(feature = "cluster")]
mod feeds;
pub mod ids;
#[cfg(feature = "cluster")]
mod node;
#[cfg(feature = "cluster")]
mod pause;
#[cfg(feature = "cluster")]
mod status;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, FeedConfig};
use crate::deliver::Wakes;
use crate::poll::Poller;
use crate::store::Store;

#[cfg(feature = "cluster")]
pub use node::Cluster;

/// How long a node's liveness key lasts without renewal: a node killed is considered
/// dead this long after its last renewal, and its feeds are free then.
pub const NODE_TTL: Duration = Duration::from_secs(10);

/// How often a node renews its liveness key and reads which nodes are live; also how often
/// a feed's loop looks again whether this node should hold it.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// The longest a dead node's feed waits for a live node to take it over: its liveness key
/// expires ([`NODE_TTL`]), the others notice at their next heartbeat, and the new owner's
/// feed loop takes the lease at its next look ([`HEARTBEAT`] each). The feed is then
/// polled when due by the shared schedule, at once if it is overdue.
pub const TAKEOVER_BOUND: Duration =
    Duration::from_secs(NODE_TTL.as_secs() + 3 * HEARTBEAT.as_secs());

#[cfg(feature = "cluster")]
static ACTIVE: std::sync::OnceLock<Arc<Cluster>> = std::sync::OnceLock::new();

/// The running cluster connection, if this process runs in cluster mode.
#[cfg(feature = "cluster")]
pub fn active() -> Option<&'static Arc<Cluster>> {
    ACTIVE.get()
}

/// Whether this process runs in cluster mode.
pub fn is_active() -> bool {
    #[cfg(feature = "cluster")]
    return ACTIVE.get().is_some();
    #[cfg(not(feature = "cluster"))]
    false
}

/// For `run`: connects to the NATS servers of `[cluster]`, creates the stream and buckets
/// if missing, and starts this node's background tasks (liveness, the alert log writer,
/// the sinks' consumers). Nothing without `[cluster]`.
pub async fn start(config: &Config) -> anyhow::Result<()> {
    let Some(_cluster) = &config.cluster else {
        return Ok(());
    };
    #[cfg(feature = "cluster")]
    {
        let c = Cluster::connect(_cluster).await?;
        c.clone()
            .spawn_tasks(config, CancellationToken::new())
            .await;
        let _ = ACTIVE.set(c);
    }
    Ok(())
}

/// In cluster mode: publishes the store's outbox to the alert stream instead of the alert
/// log (blocking; called by [`crate::deliver::deliver_pending`]). `None` when not in
/// cluster mode.
pub fn publish_pending(_store: &Store) -> Option<anyhow::Result<usize>> {
    #[cfg(feature = "cluster")]
    if let Some(c) = active() {
        return Some(c.publish_pending(_store));
    }
    None
}

/// Whether the sinks are fed by the cluster (a shared consumer per sink), not by the local
/// delivery journal.
pub fn replaces_sinks() -> bool {
    is_active()
}

/// One feed's loop in cluster mode: polled only while this node holds its lease, on the
/// schedule shared by the cluster. Called by the service's feed loop when [`is_active`].
pub async fn feed_loop(
    _poller: Arc<Poller>,
    _feed: FeedConfig,
    _first: Duration,
    _wakes: Arc<Wakes>,
    _stop: CancellationToken,
) -> anyhow::Result<()> {
    #[cfg(feature = "cluster")]
    if let Some(c) = active() {
        return c
            .clone()
            .feed_loop(_poller, _feed, _first, _wakes, _stop)
            .await;
    }
    Ok(())
}

/// In cluster mode: records the pause (`Some(at)`) or resume (`None`) of the feed `name`
/// cluster-wide (`N_paused`), before the node asked records it in its store. Nothing when
/// not in cluster mode.
pub async fn share_pause(
    _name: &str,
    _at: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    #[cfg(feature = "cluster")]
    if let Some(c) = active() {
        return c.share_pause(_name, _at).await;
    }
    Ok(())
}

/// In cluster mode, after a pause: waits until no node is polling the feed `name` (its
/// holder lets its lease go between two polls); a line for the operator if one still does
/// after a while. `None` when not in cluster mode.
pub async fn unpolled(_name: &str) -> Option<String> {
    #[cfg(feature = "cluster")]
    if let Some(c) = active() {
        return c.unpolled(_name).await;
    }
    None
}

/// The feeds the service runs a loop for: those on in the config and, alone, not paused;
/// in cluster mode every feed on in the config (a feed paused cluster-wide keeps its loop,
/// which polls nothing until it is resumed, on whichever node).
pub fn looped_feeds(config: &Config, store: &Store) -> anyhow::Result<Vec<FeedConfig>> {
    if is_active() {
        return Ok(config.feeds.iter().filter(|f| f.enabled).cloned().collect());
    }
    crate::service::active_feeds(config, store)
}

/// `feedwatch cluster status [--json]`.
pub fn status(_config: &Config, _json: bool) -> anyhow::Result<()> {
    #[cfg(feature = "cluster")]
    return status::print(_config, _json);
    #[cfg(not(feature = "cluster"))]
    Err(crate::exit::usage_error(
        "this feedwatch was built without cluster mode (cargo feature \"cluster\")".to_string(),
    ))
}
