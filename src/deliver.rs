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

