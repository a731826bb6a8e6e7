//! The deliverer: moves alerts out of the store's outbox, first to the alert log, then to
//! the sinks (`[[sinks]]`: webhook, exec) through the store's delivery journal.
//!
//! A poll commits an item and its alerts in one transaction ([`crate::poll`]); delivery is
//! separate, so a slow or broken alert log never holds up polling. The service, `once`,
//! `poll` and `rematch` all deliver through [`deliver_pending`]; a running service keeps
//! [`deliver_loop`] and one [`crate::sink::run`] task per sink ([`start_sinks`]).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info};

use crate::alert::AlertLog;
use crate::config::SinkConfig;
use crate::metrics::Metrics;
use crate::store::Store;

/// How long a failing alert log waits before the deliverer tries it again.
const RETRY: Duration = Duration::from_secs(30);

/// The deliverer's wake-ups.
#[derive(Default)]
pub struct Wakes {
    /// Rung by a feed loop when its poll committed alerts (or a feed-health line).
    pub deliver: Notify,
    /// One per running sink, rung after each delivery to the alert log; replaced when the
    /// sinks restart with a reloaded config.
    sinks: RwLock<Vec<Arc<Notify>>>,
}

impl Wakes {
    fn ring_sinks(&self) {
        for w in self.sinks.read().unwrap_or_else(|p| p.into_inner()).iter() {
            w.notify_one();
        }
    }
}

/// [`deliver_pending`] on a blocking thread.
pub async fn deliver(store: Arc<Store>, log: Arc<Mutex<AlertLog>>) -> anyhow::Result<usize> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        deliver_pending(&store, &mut log)
    })
    .await?
}

/// Flushes the store, then appends every pending line to the log and marks it delivered.
/// The flush first means an alert is never announced before its item is durable; a crash
/// after the append re-delivers the same id, never loses it. The service and `rematch` both
/// deliver through this. Blocking.
///
/// Each alert id is appended once: first, after the log was opened or a delivery failed
/// between the append and the mark, the pending lines that the log already ends with are
/// marked delivered instead of appended again ([`crate::redeliver`]).
pub fn deliver_pending(store: &Store, log: &mut AlertLog) -> anyhow::Result<usize> {
    // cluster mode: the outbox goes to the cluster's stream; the log is written from there
    if let Some(published) = crate::cluster::publish_pending(store) {
        return published;
    }
    store.flush()?;
    if log.tail_unchecked() {
        let found = crate::redeliver::mark_logged(store, log).with_context(|| {
            format!(
                "comparing the end of {} with the pending alerts",
                log.path().display()
            )
        })?;
        if found > 0 {
            info!(
                alerts = found,
                log = %log.path().display(),
                "pending alerts were already in the alert log (written just before the last run ended): marked delivered, not written again"
            );
        }
        log.set_tail_checked(true);
    }
    let mut delivered = 0;
    loop {
        let batch = store.pending(1024)?;
        if batch.is_empty() {
            return Ok(delivered);
        }
        let (queued, lines): (Vec<_>, Vec<String>) = batch.into_iter().unzip();
        log.append(&lines).with_context(|| {
            format!(
                "writing alerts to {} (they stay pending and are retried)",
                log.path().display()
            )
        })?;
        // the lines are in the log: until they are marked, a retry must look for them there
        log.set_tail_checked(false);
        store.journal_append(&lines)?;
        store.mark_delivered(&queued)?;
        log.set_tail_checked(true);
        delivered += lines.len();
    }
}

/// Delivers whenever a poll committed alerts, until `stop`; retries a failing alert log
/// every 30 s. After each delivery it wakes the sinks.
pub async fn deliver_loop(
    store: Arc<Store>,
    log: Arc<Mutex<AlertLog>>,
    metrics: Arc<Metrics>,
    wakes: Arc<Wakes>,
    stop: CancellationToken,
) {
    let mut retry = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wakes.deliver.notified() => {}
            _ = tokio::time::sleep(RETRY), if retry => {}
        }
        let result = deliver(store.clone(), log.clone()).await;
        *metrics
            .delivery_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = result.as_ref().err().map(|e| format!("{e:#}"));
        match result {
            Ok(n) => {
                if n > 0 {
                    wakes.ring_sinks();
                }
                metrics
                    .lines_delivered
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                retry = false;
            }
            Err(e) => {
                error!(
                    error = format!("{e:#}"),
                    "delivering alerts failed; they stay pending"
                );
                retry = true;
            }
        }
    }
}

/// Starts one [`crate::sink::run`] task per sink on `tasks`, each stopped by `stop`.
///
/// A new sink starts at the journal's end. Every sink's cursor is fixed here, before the
/// caller starts any feed, or alerts delivered before a sink's task first read its cursor
/// would be skipped.
pub fn start_sinks(
    sinks: &[SinkConfig],
    store: &Arc<Store>,
    wakes: &Wakes,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    if crate::cluster::replaces_sinks() {
        return Ok(()); // each sink reads the cluster's stream (crate::cluster)
    }
    for sink in sinks {
        store
            .sink_cursor(&sink.name)
            .with_context(|| format!("sink {}: reading its cursor", sink.name))?;
    }
    let mut rings = Vec::new();
    for sink in sinks.iter().cloned() {
        let wake = Arc::new(Notify::new());
        wake.notify_one(); // catch up with what was delivered while it was not running
        rings.push(wake.clone());
        let span = tracing::info_span!("sink");
        tasks.spawn(crate::sink::run(sink, store.clone(), wake, stop.clone()).instrument(span));
    }
    *wakes.sinks.write().unwrap_or_else(|p| p.into_inner()) = rings;
    Ok(())
}

/// What one pass over a sink ([`drain_sinks`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkPass {
    pub sink: String,
    /// Lines (or, for a digest sink, the lines in its digests) the sink accepted.
    pub sent: usize,
    /// Lines for this sink still after its cursor: pending, sent by the next `once` or `run`.
    pub left: usize,
    /// Why it stopped early.
    pub error: Option<String>,
}

/// For `once`: sends every sink what the journal holds past its cursor, all sinks at once,
/// each until it is caught up or its first failure (each send bounded by the sink's
/// `timeout`); the cursors move past what was sent, the rest stays pending. A digest sink
/// (`every`) gets what is there as one digest, whatever its period.
pub async fn drain_sinks(sinks: &[SinkConfig], store: &Arc<Store>) -> Vec<SinkPass> {
    let mut set = tokio::task::JoinSet::new();
    for (i, sink) in sinks.iter().cloned().enumerate() {
        let store = store.clone();
        set.spawn(async move { (i, drain(sink, store).await) });
    }
    let mut passes: Vec<(usize, SinkPass)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(pass) => passes.push(pass),
            Err(e) => error!(error = %e, "a sink's pass panicked"),
        }
    }
    passes.sort_by_key(|(i, _)| *i);
    passes.into_iter().map(|(_, p)| p).collect()
}

/// One sink's pass for [`drain_sinks`].
async fn drain(sink: SinkConfig, store: Arc<Store>) -> SinkPass {
    let mut pass = SinkPass {
        sink: sink.name.clone(),
        sent: 0,
        left: 0,
        error: None,
    };
    let client = match crate::sink::client(&sink) {
        Ok(c) => c,
        Err(e) => {
            pass.error = Some(format!("cannot start: {e}"));
            return count_left(&sink, &store, pass).await;
        }
    };
    loop {
        let s = store.clone();
        let name = sink.name.clone();
        let batch = tokio::task::spawn_blocking(
            move || -> crate::store::Result<(u64, Vec<(u64, String)>)> {
                let cursor = s.sink_cursor(&name)?;
                Ok((cursor, s.journal_after(cursor, 500)?))
            },
        )
        .await;
        let (cursor, entries) = match batch {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                pass.error = Some(format!("reading the store: {e}"));
                break;
            }
            Err(e) => {
                pass.error = Some(format!("reading the store: {e}"));
                break;
            }
        };
        let Some(last) = entries.last().map(|(seq, _)| *seq) else {
            break;
        };
        let wanted: Vec<&(u64, String)> = entries
            .iter()
            .filter(|(_, l)| crate::sink::wanted(&sink, l))
            .collect();
        let mut done = cursor;
        let mut result = Ok(());
        if sink.every.is_some() {
            if !wanted.is_empty() {
                let lines: Vec<&str> = wanted.iter().map(|(_, l)| l.as_str()).collect();
                result = crate::sink::send(&sink, &client, &lines, true)
                    .await
                    .map(drop)
                    .map_err(|f| f.message);
                if result.is_ok() {
                    pass.sent += wanted.len();
                }
            }
        } else {
            for (seq, line) in &wanted {
                result = crate::sink::send(&sink, &client, &[line.as_str()], false)
                    .await
                    .map(drop)
                    .map_err(|f| f.message);
                if result.is_err() {
                    break;
                }
                pass.sent += 1;
                done = *seq;
            }
        }
        if result.is_ok() {
            done = last;
        }
        if done != cursor
            && let Err(e) = store.set_sink_cursor(&sink.name, done)
        {
            pass.error = Some(format!("saving its cursor: {e}"));
            break;
        }
        if let Err(e) = result {
            pass.error = Some(e);
            break;
        }
    }
    count_left(&sink, &store, pass).await
}

/// Fills in [`SinkPass::left`]: the lines for the sink after its cursor.
async fn count_left(sink: &SinkConfig, store: &Arc<Store>, mut pass: SinkPass) -> SinkPass {
    let s = store.clone();
    let sink = sink.clone();
    let left = tokio::task::spawn_blocking(move || -> crate::store::Result<usize> {
        let mut cursor = s.sink_cursor(&sink.name)?;
        let mut left = 0;
        loop {
            let entries = s.journal_after(cursor, 4096)?;
            let Some(last) = entries.last().map(|(seq, _)| *seq) else {
                return Ok(left);
            };
            left += entries
                .iter()
                .filter(|(_, l)| crate::sink::wanted(&sink, l))
                .count();
            cursor = last;
        }
    })
    .await;
    match left {
        Ok(Ok(n)) => pass.left = n,
        Ok(Err(e)) => {
            pass.error
                .get_or_insert(format!("counting what is left: {e}"));
        }
        Err(e) => {
            pass.error
                .get_or_insert(format!("counting what is left: {e}"));
        }
    }
    pass
}
