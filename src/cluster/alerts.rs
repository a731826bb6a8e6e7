//! The cluster's alerts: the outbox published to the stream `N_alerts` (one message per
//! cluster-wide alert id, the server refusing a second), each node's alert log written
//! from the stream through its own durable consumer `log-<node>`, and each sink fed by
//! one durable consumer `sink-<name>` that all nodes share (each alert to one node).

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, ErrorCode};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use super::{Cluster, ids};
use crate::alert::AlertLog;
use crate::config::SinkConfig;
use crate::store::Store;

/// Error code of a publish refused because its subject already has its one message.
const SUBJECT_FULL: ErrorCode = ErrorCode(10077);

/// How many unacknowledged messages a consumer may have out: bounds what a node killed
/// mid-batch leaves to be redelivered (and what the log writer must recognise).
const MAX_ACK_PENDING: i64 = 512;

/// How many recent ids the log writer remembers to write each line once.
const REMEMBERED: usize = 4 * MAX_ACK_PENDING as usize;

impl Cluster {
    /// The deliverer's step in cluster mode (blocking): flushes the store, publishes every
    /// pending line to the stream, and takes from the outbox each line the stream
    /// acknowledged, or refused as already there (another node, or an earlier try, sent it).
    /// A line not acknowledged stays and is sent again: the stream never takes it twice.
    pub(super) fn publish_pending(&self, store: &Store) -> anyhow::Result<usize> {
        store.flush()?;
        let mut published = 0;
        loop {
            let batch = store.pending(256)?;
            if batch.is_empty() {
                return Ok(published);
            }
            let lines: Vec<&str> = batch.iter().map(|(_, l)| l.as_str()).collect();
            let results = self.handle.block_on(self.publish(&lines));
            let done: Vec<_> = batch
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_ok())
                .map(|((q, _), _)| *q)
                .collect();
            store.mark_delivered(&done)?;
            published += done.len();
            if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
                return Err(e).context(format!(
                    "publishing alerts to the stream {} ({} published; the rest stay in the outbox and are retried)",
                    self.stream, published
                ));
            }
        }
    }

    /// Publishes `lines` at once; per line, whether the stream has it now.
    async fn publish(&self, lines: &[&str]) -> Vec<anyhow::Result<()>> {
        let mut acks = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(id) = ids::cluster_id(line) else {
                warn!(line = %line, "cluster: an outbox line without an id; dropped");
                acks.push(Err(None));
                continue;
            };
            let subject = ids::subject(&self.config.name, &id);
            let message = PublishMessage::build()
                .payload(line.to_string().into())
                .message_id(id);
            match self.js.send_publish(subject, message).await {
                Ok(ack) => acks.push(Ok(ack)),
                Err(e) => acks.push(Err(Some(e))),
            }
        }
        let mut out = Vec::with_capacity(acks.len());
        for ack in acks {
            out.push(match ack {
                Ok(ack) => match ack.await {
                    Ok(_) => Ok(()),
                    Err(e) if already_there(&e) => Ok(()),
                    Err(e) => Err(e.into()),
                },
                Err(None) => Ok(()),
                Err(Some(e)) => Err(e.into()),
            });
        }
        out
    }

    /// The durable pull consumer `name` on the alert stream, created if missing.
    async fn consumer(&self, name: &str, ack_wait: Duration) -> anyhow::Result<PullConsumer> {
        let stream = self.js.get_stream(&self.stream).await?;
        let consumer = stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_string()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait,
                    max_ack_pending: MAX_ACK_PENDING,
                    filter_subject: format!("{}.alert.*", self.config.name),
                    ..Default::default()
                },
            )
            .await?;
        Ok(consumer)
    }
}

/// Whether the stream refused a publish because it holds that alert already.
fn already_there(e: &PublishError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|j| j.error_code() == SUBJECT_FULL)
}

/// Starts this node's alert log writer: the whole cluster's alerts, from the stream.
pub(super) fn spawn_log_writer(c: Arc<Cluster>, log: PathBuf, stop: CancellationToken) {
    let name = format!("log-{}", c.node());
    let span = tracing::info_span!("cluster-log");
    tokio::spawn(
        async move {
            let mut seen = match recent_ids(&log) {
                Ok(s) => s,
                Err(e) => {
                    error!(log = %log.display(), error = %e, "cluster: cannot read the alert log's tail; not writing it");
                    return;
                }
            };
            loop {
                let result = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = write_log(&c, &name, &log, &mut seen) => r,
                };
                if let Err(e) = result {
                    warn!(log = %log.display(), error = format!("{e:#}"), "cluster: writing the alert log from the stream failed; retrying in 5 s");
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        .instrument(span),
    );
}

/// The ids the log writer wrote last, oldest first, so that a line redelivered after a
/// crash (written, not yet acknowledged) is not written twice.
struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Seen {
    fn insert(&mut self, id: String) -> bool {
        if !self.set.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// The ids of the last lines of the alert log (its last 4 MiB).
fn recent_ids(log: &Path) -> std::io::Result<Seen> {
    let mut seen = Seen {
        order: VecDeque::new(),
        set: HashSet::new(),
    };
    let mut file = match std::fs::File::open(log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4 << 20)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    for line in String::from_utf8_lossy(&tail).lines() {
        if let Some(id) = ids::cluster_id(line) {
            seen.insert(id);
        }
    }
    Ok(seen)
}

/// Appends what the stream has past this node's consumer to the alert log, fsynced, then
/// acknowledges it; runs until an error.
async fn write_log(c: &Cluster, name: &str, log: &Path, seen: &mut Seen) -> anyhow::Result<()> {
    let consumer = c.consumer(name, Duration::from_secs(30)).await?;
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(256)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        let mut messages = Vec::new();
        while let Some(m) = batch.next().await {
            messages.push(m.map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        if messages.is_empty() {
            continue;
        }
        let mut lines = Vec::new();
        for m in &messages {
            let line = String::from_utf8_lossy(&m.payload).into_owned();
            if ids::cluster_id(&line).is_none_or(|id| seen.insert(id)) {
                lines.push(line);
            }
        }
        let path = log.to_path_buf();
        let n = lines.len();
        // opened per batch: follows logrotate, cuts a torn last line left by a crash
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            AlertLog::open(&path)?.append(&lines)
        })
        .await?
        .with_context(|| format!("appending to {}", log.display()))?;
        for m in &messages {
            m.ack()
                .await
                .map_err(|e| anyhow::anyhow!("acknowledging: {e}"))?;
        }
        if n > 0 {
            info!(
                alerts = n,
                "cluster: wrote the cluster's alerts to the alert log"
            );
        }
    }
}

/// Starts the node's share of a sink: its durable consumer `sink-<name>`, shared by all
/// nodes, so each alert goes to one of them; acknowledged after the receiver took it,
/// sent again (by any node) when not acknowledged within the sink's timeout and a margin.
pub(super) fn spawn_sink(c: Arc<Cluster>, sink: SinkConfig, stop: CancellationToken) {
    let span = tracing::info_span!("cluster-sink");
    tokio::spawn(
        async move {
            let client = match crate::sink::client(&sink) {
                Ok(client) => client,
                Err(e) => {
                    warn!(sink = %sink.name, error = %e, "sink cannot start");
                    return;
                }
            };
            loop {
                let result = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = feed_sink(&c, &sink, &client) => r,
                };
                if let Err(e) = result {
                    warn!(sink = %sink.name, error = format!("{e:#}"), "cluster: the sink's consumer failed; retrying in 5 s");
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        .instrument(span),
    );
}

/// Sends the sink what its shared consumer hands this node, one alert at a time.
async fn feed_sink(c: &Cluster, sink: &SinkConfig, client: &reqwest::Client) -> anyhow::Result<()> {
    let name = format!("sink-{}", sink.name);
    let consumer = c
        .consumer(&name, sink.timeout + Duration::from_secs(30))
        .await?;
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(16)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
            let line = String::from_utf8_lossy(&m.payload).into_owned();
            if !crate::sink::wanted(sink, &line) {
                m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                continue;
            }
            match crate::sink::send(sink, client, &[line.as_str()], false).await {
                Ok(_) => {
                    m.double_ack()
                        .await
                        .map_err(|e| anyhow::anyhow!("acknowledging: {e}"))?;
                }
                Err(f) => {
                    let wait = f.retry_after.unwrap_or(Duration::from_secs(5));
                    warn!(sink = %sink.name, error = %f.message, "sink delivery failed; the cluster sends it again");
                    let _ = m.ack_with(AckKind::Nak(Some(wait))).await;
                }
            }
        }
    }
}
