//! [`Cluster`]: this node's connection to NATS, the stream and buckets, and its liveness
//! (a key in `N_nodes` renewed every [`HEARTBEAT`], expiring after [`NODE_TTL`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, stream};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use crate::config::{ClusterConfig, Config};
use crate::store::Store;

use super::{HEARTBEAT, NODE_TTL};

/// This node in the cluster.
pub struct Cluster {
    pub(super) config: ClusterConfig,
    pub(super) js: jetstream::Context,
    /// `N_alerts`.
    pub(super) stream: String,
    /// `N_nodes`: node name → [`NodeInfo`] JSON, expiring after [`NODE_TTL`].
    pub(super) nodes: kv::Store,
    /// `N_leases`: feed key → the node polling it.
    pub(super) leases: kv::Store,
    /// `N_state`: feed key → its shared `FeedState` JSON.
    pub(super) states: kv::Store,
    /// `N_paused`: feed key → when an operator paused the feed (RFC 3339), cluster-wide.
    pub(super) pauses: kv::Store,
    /// The feeds paused cluster-wide (feed key → when), as last read from `N_paused`;
    /// `None` until first read (no feed is polled until then).
    pub(super) paused: RwLock<Option<HashMap<String, String>>>,
    /// Live nodes (sorted), as last read from `N_nodes`.
    pub(super) live: RwLock<Vec<String>>,
    /// Until when this node may act as live: the last renewal sent, plus [`NODE_TTL`],
    /// less a margin; past it, it polls nothing (the others may have taken its feeds).
    pub(super) alive_until: Mutex<Option<Instant>>,
    /// Leases held: feed key → revision.
    pub(super) held: Mutex<HashMap<String, u64>>,
    /// Feeds (keys) polled here whose state could not be shared yet: their lease is kept
    /// until it is, or the next holder would poll from an older state, too soon.
    pub(super) unshared: Mutex<std::collections::HashSet<String>>,
    /// The store, for the outbox count in this node's liveness record.
    pub(super) store: Mutex<Option<Arc<Store>>>,
    /// The runtime, for the deliverer's blocking thread.
    pub(super) handle: tokio::runtime::Handle,
    /// When this node connected, RFC 3339.
    started: String,
}

/// What a node says about itself in `N_nodes` (read by `feedwatch cluster status`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    pub node: String,
    /// RFC 3339.
    pub started: String,
    /// Feeds whose lease it holds.
    pub feeds: usize,
    /// Alerts in its outbox not yet acknowledged by the stream.
    pub outbox: usize,
}

/// How many copies each stream and bucket keeps: one per server listed, at most 3.
pub(super) fn replicas(c: &ClusterConfig) -> usize {
    c.servers.len().clamp(1, 3)
}

/// Connects to the servers of `c` (its credentials file if any).
pub(super) async fn open(c: &ClusterConfig) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("feedwatch {}", c.node))
        .connection_timeout(Duration::from_secs(5));
    if let Some(creds) = &c.creds_file {
        options = options.credentials_file(creds).await.with_context(|| {
            format!(
                "cluster: reading the NATS credentials file {}",
                creds.display()
            )
        })?;
    }
    options.connect(c.servers.clone()).await.with_context(|| {
        format!(
            "cluster: cannot connect to any NATS server of [cluster] servers ({})",
            c.servers.join(", ")
        )
    })
}

/// How long [`Cluster::connect`] keeps trying a step JetStream does not answer.
pub const SETUP_PATIENCE: Duration = Duration::from_secs(90);

/// `step` until it succeeds, every 2 s, for up to [`SETUP_PATIENCE`]; then its last error.
async fn patiently<T, E, F, Fut>(what: &str, mut step: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let until = Instant::now() + SETUP_PATIENCE;
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let e: anyhow::Error = e.into();
                if Instant::now() >= until {
                    return Err(e.context(format!("cluster: {what}")));
                }
                warn!(
                    error = format!("{e:#}"),
                    "cluster: {what} failed; trying again in 2 s"
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// The bucket `name`, created if missing (by whichever node comes first).
async fn bucket(
    js: &jetstream::Context,
    name: String,
    max_age: Duration,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    let created = js
        .create_key_value(kv::Config {
            bucket: name.clone(),
            history: 1,
            max_age,
            num_replicas: replicas,
            ..Default::default()
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        // another node created it at the same moment
        Err(e) => js
            .get_key_value(&name)
            .await
            .with_context(|| format!("cluster: creating the KV bucket {name}: {e}")),
    }
}

/// The alert stream's configuration for the cluster `name`.
pub(super) fn alert_stream(c: &ClusterConfig) -> stream::Config {
    stream::Config {
        name: format!("{}_alerts", c.name),
        subjects: vec![format!("{}.alert.*", c.name)],
        // one message per alert id, a second refused by the server whoever sends it
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        num_replicas: replicas(c),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

impl Cluster {
    /// Connects, and creates the stream and buckets if missing.
    ///
    /// JetStream may not answer yet (servers starting, electing their leaders, several
    /// nodes creating the same stream at once): each step is tried again for up to
    /// 90 s (`SETUP_PATIENCE`) before the start fails.
    pub async fn connect(c: &ClusterConfig) -> anyhow::Result<Arc<Cluster>> {
        let js = jetstream::new(open(c).await?);
        let r = replicas(c);
        let config = alert_stream(c);
        let stream = config.name.clone();
        patiently(&format!("creating the alert stream {stream}"), || {
            let (js, config) = (js.clone(), config.clone());
            async move { js.get_or_create_stream(config).await.map(drop) }
        })
        .await?;
        let kv = |name: &str, max_age| {
            let (js, name) = (js.clone(), format!("{}_{name}", c.name));
            async move {
                patiently(&format!("creating the KV bucket {name}"), || {
                    let (js, name) = (js.clone(), name.clone());
                    async move { bucket(&js, name, max_age, r).await }
                })
                .await
            }
        };
        let nodes = kv("nodes", NODE_TTL).await?;
        let leases = kv("leases", Duration::ZERO).await?;
        let states = kv("state", Duration::ZERO).await?;
        let pauses = kv("paused", Duration::ZERO).await?;
        info!(node = %c.node, servers = %c.servers.join(","), name = %c.name, "cluster: connected to NATS");
        Ok(Arc::new(Cluster {
            config: c.clone(),
            js,
            stream,
            nodes,
            leases,
            states,
            pauses,
            paused: RwLock::new(None),
            live: RwLock::new(Vec::new()),
            alive_until: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            unshared: Mutex::new(Default::default()),
            store: Mutex::new(None),
            handle: tokio::runtime::Handle::current(),
            started: crate::alert::rfc3339(chrono::Utc::now()),
        }))
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// Starts liveness (announced once before this returns), the alert log writer and one
    /// consumer per sink.
    pub(super) async fn spawn_tasks(self: Arc<Self>, config: &Config, stop: CancellationToken) {
        self.heartbeat().await;
        let c = self.clone();
        let s = stop.clone();
        tokio::spawn(
            async move {
                loop {
                    tokio::select! {
                        _ = s.cancelled() => return,
                        _ = tokio::time::sleep(HEARTBEAT) => c.heartbeat().await,
                    }
                }
            }
            .instrument(tracing::info_span!("cluster")),
        );
        super::alerts::spawn_log_writer(self.clone(), config.alerts.log.clone(), stop.clone());
        for sink in &config.sinks {
            super::alerts::spawn_sink(self.clone(), sink.clone(), stop.clone());
        }
    }

    /// Gives the liveness record the store to count the outbox of.
    pub fn set_store(&self, store: Arc<Store>) {
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    /// Renews this node's liveness key, then reads which nodes are live and which feeds
    /// are paused.
    async fn heartbeat(&self) {
        let sent = Instant::now();
        let info = NodeInfo {
            node: self.config.node.clone(),
            started: self.started.clone(),
            feeds: self.held.lock().unwrap_or_else(|p| p.into_inner()).len(),
            outbox: self
                .store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(0, |s| s.pending_count()),
        };
        let value = serde_json::to_vec(&info).expect("serialises");
        // bounded: a request lost with a dying server must not hold up the next renewal
        let put = tokio::time::timeout(HEARTBEAT, self.nodes.put(&self.config.node, value.into()));
        match put
            .await
            .unwrap_or_else(|_| Err(kv::PutErrorKind::Ack.into()))
        {
            Ok(_) => {
                // the key lives NODE_TTL from when the server stored it, after `sent`
                *self.alive_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(sent + NODE_TTL - HEARTBEAT);
            }
            Err(e) => {
                warn!(error = %e, node = %self.config.node, "cluster: renewing this node's liveness failed; it stops polling if this lasts")
            }
        }
        // the paused feeds read at the same time: a heartbeat must not take longer
        let (listed, ()) = tokio::join!(
            tokio::time::timeout(HEARTBEAT, live_nodes(&self.nodes)),
            self.read_pauses()
        );
        match listed.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out"))) {
            Ok(mut nodes) => {
                if self.alive() && !nodes.contains(&self.config.node) {
                    nodes.push(self.config.node.clone());
                }
                nodes.sort();
                let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
                if *live != nodes {
                    info!(nodes = ?nodes, "cluster: live nodes changed");
                    *live = nodes;
                }
            }
            Err(e) => warn!(error = %e, "cluster: reading the live nodes failed"),
        }
    }

    /// Whether this node's liveness key is surely still there.
    pub(super) fn alive(&self) -> bool {
        self.alive_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t)
    }
}

/// The names of the nodes whose liveness key is in `nodes`.
pub(super) async fn live_nodes(nodes: &kv::Store) -> anyhow::Result<Vec<String>> {
    let mut keys = nodes.keys().await?;
    let mut out = Vec::new();
    while let Some(k) = keys.next().await {
        out.push(k?);
    }
    Ok(out)
}
