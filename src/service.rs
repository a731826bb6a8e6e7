//! The service: `once` (one cycle over every feed) and `run` (each feed on its own schedule
//! until told to stop), and the deliverer that moves alerts from the store's outbox to the
//! alert log.
//!
//! The shutdown trigger is a parameter, so tests and `main` stop the service the same way.
//! Polls run under a semaphore (`fetch.concurrency`); a failing feed backs off on its own
//! schedule and never holds up the others.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::alert::AlertLog;
use crate::config::{Config, FeedConfig};
use crate::fetch::Fetcher;
use crate::notify;
use crate::poll::{Outcome, Poller};
use crate::store::Store;
use crate::watch::Matcher;

/// Longest wait after a failure, however many failures in a row.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// Everything a running feedwatch holds.
pub struct Service {
    pub config: Config,
    pub poller: Arc<Poller>,
    pub log: Arc<Mutex<AlertLog>>,
}

/// Why [`Service::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `shutdown` resolved.
    Stopped,
    /// The store has outgrown its live data: open the service again, which compacts it.
    Compact,
}

/// A cycle's result, per feed, for `once` and `demo`.
#[derive(Debug, Default)]
pub struct Cycle {
    pub outcomes: Vec<(String, Outcome)>,
    pub delivered: usize,
}

impl Cycle {
    pub fn failed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(name, o)| match o {
            Outcome::Failed { message, .. } => Some((name.as_str(), message.as_str())),
            _ => None,
        })
    }

    /// One paragraph for a person: what was polled, what failed, where the alerts went.
    pub fn summary(&self, log: &std::path::Path) -> String {
        let (mut items, mut new, mut unchanged) = (0, 0, 0);
        for (_, o) in &self.outcomes {
            match o {
                Outcome::Polled {
                    items: i,
                    new_items,
                    ..
                } => {
                    items += i;
                    new += new_items;
                }
                Outcome::NotModified => unchanged += 1,
                Outcome::Failed { .. } => {}
            }
        }
        let failed: Vec<_> = self.failed().collect();
        let mut s = format!(
            "polled {} feeds: {} ok ({} unchanged), {} failed; {} items, {} new; {} alert{} written to {}\n",
            self.outcomes.len(),
            self.outcomes.len() - failed.len(),
            unchanged,
            failed.len(),
            items,
            new,
            self.delivered,
            if self.delivered == 1 { "" } else { "s" },
            log.display()
        );
        for (name, message) in failed {
            s.push_str(&format!("  failed: {name}: {message}\n"));
        }
        s
    }
}

impl Service {
    /// Opens the store (compacting it first if it has grown far past its live data) and
    /// the alert log, delivers alerts left pending by a crash, and applies retention.
    pub async fn open(config: Config) -> anyhow::Result<Service> {
        let path = config.storage.path.clone();
        let cache = config.storage.cache;
        // migrating or compacting a big store takes minutes: keep systemd's start timeout
        // from running out (the first extension only after 20 s, when it may matter)
        let extend = tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                notify::send(
                    "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=opening the store (migrating or compacting it)",
                );
            }
        });
        let opened =
            tokio::task::spawn_blocking(move || Store::open_compacting(&path, cache)).await;
        extend.abort();
        let (store, compacted) = opened??;
        if let Some(c) = compacted {
            info!(
                store = %config.storage.path.display(),
                before_mib = c.before >> 20,
                after_mib = c.after >> 20,
                live_mib = c.live >> 20,
                records = %c.records,
                "compacted the store: its directory had grown past twice its live data plus {} MiB",
                crate::store::compact::SLACK >> 20
            );
        }
        let log = AlertLog::open(&config.alerts.log).with_context(|| {
            format!(
                "cannot open the alert log {}; check that its directory is writable",
                config.alerts.log.display()
            )
        })?;
        let service = Service {
            poller: Arc::new(Poller {
                fetcher: Fetcher::new(&config.fetch)?,
                store: Arc::new(store),
                matcher: Arc::new(Matcher::new(&config.watches)),
            }),
            log: Arc::new(Mutex::new(log)),
            config,
        };
        let n = service.deliver().await?;
        if n > 0 {
            info!(alerts = n, "delivered alerts left pending by the last run");
        }
        service.retain().await?;
        Ok(service)
    }

    /// Drops the text of items first seen longer ago than `storage.keep`; their keys stay,
    /// so they never alert again.
    pub async fn retain(&self) -> anyhow::Result<u64> {
        let store = self.poller.store.clone();
        let keep = self.config.storage.keep;
        let cutoff =
            chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let purged = tokio::task::spawn_blocking(move || store.purge(cutoff))
            .await?
            .with_context(|| {
                format!(
                    "retention: dropping items first seen before {}",
                    crate::alert::rfc3339(cutoff)
                )
            })?;
        if purged > 0 {
            info!(
                items = purged,
                keep_days = keep.as_secs_f64() / 86400.0,
                "retention: dropped the text of items first seen longer ago than storage.keep; their keys stay, so they never alert again"
            );
        }
        Ok(purged)
    }

    /// Flushes the store, then appends every pending alert to the log and marks it
    /// delivered. The flush first means an alert is never announced before its item is
    /// durable; a crash after the append re-delivers the same id, never loses it.
    pub async fn deliver(&self) -> anyhow::Result<usize> {
        let store = self.poller.store.clone();
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            store.flush()?;
            let mut delivered = 0;
            loop {
                let batch = store.pending(1024)?;
                if batch.is_empty() {
                    return Ok(delivered);
                }
                let (queued, alerts): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                log.append(&alerts).with_context(|| {
                    format!(
                        "writing alerts to {} (they stay pending and are retried)",
                        log.path().display()
                    )
                })?;
                store.mark_delivered(&queued)?;
                delivered += alerts.len();
            }
        })
        .await?
    }

    /// Whether the store has outgrown its live data (see [`Store::outgrown`]).
    pub async fn compaction_due(&self) -> anyhow::Result<bool> {
        let store = self.poller.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.outgrown()).await??)
    }

    /// Polls every enabled feed once, within the concurrency limit, then delivers.
    pub async fn once(&self) -> anyhow::Result<Cycle> {
        let sem = Arc::new(Semaphore::new(self.config.fetch.concurrency));
        let mut set = JoinSet::new();
        for feed in self.config.feeds.iter().filter(|f| f.enabled).cloned() {
            let poller = self.poller.clone();
            let sem = sem.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let outcome = poller.poll(&feed).await;
                (feed.name, outcome)
            });
        }
        let mut cycle = Cycle::default();
        while let Some(joined) = set.join_next().await {
            let (name, outcome) = joined?;
            cycle.outcomes.push((name, outcome?));
        }
        cycle.outcomes.sort_by(|a, b| a.0.cmp(&b.0));
        cycle.delivered = self.deliver().await?;
        Ok(cycle)
    }

    /// Runs until `shutdown` resolves, or until the daily check finds that the store has
    /// outgrown its live data ([`Ended::Compact`]: the caller opens the service again,
    /// which compacts the store). Each feed polls on its own schedule, alerts are delivered
    /// as they are committed. Returns after polls in flight are cancelled, pending alerts
    /// delivered and the store closed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<Ended> {
        let service = Arc::new(self);
        let (compact_tx, mut compact_rx) = mpsc::channel(1);
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let sem = Arc::new(Semaphore::new(service.config.fetch.concurrency));
        let mut tasks = JoinSet::new();
        let feeds: Vec<FeedConfig> = service
            .config
            .feeds
            .iter()
            .filter(|f| f.enabled)
            .cloned()
            .collect();
        let n = feeds.len();
        for feed in feeds {
            tasks.spawn(feed_loop(
                service.clone(),
                feed,
                sem.clone(),
                wake.clone(),
                stop_rx.clone(),
            ));
        }
        let deliverer = tokio::spawn(deliver_loop(service.clone(), wake.clone(), stop_rx.clone()));
        let maintenance = tokio::spawn(maintenance_loop(
            service.clone(),
            compact_tx,
            stop_rx.clone(),
        ));
        info!(feeds = n, watches = service.config.watches.len(), store = %service.config.storage.path.display(), alerts = %service.config.alerts.log.display(), "feedwatch running");
        notify::send(&format!("READY=1\nSTATUS=polling {n} feeds"));

        let mut fatal = None;
        let mut ended = Ended::Stopped;
        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => info!("stopping"),
            Some(()) = compact_rx.recv() => {
                info!("pausing polls to compact the store");
                notify::send("STATUS=compacting the store");
                ended = Ended::Compact;
            }
            Some(joined) = tasks.join_next() => {
                // a feed loop only ends early when the store fails
                fatal = Some(match joined {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) => anyhow::anyhow!("a feed loop ended unexpectedly"),
                    Err(e) => anyhow::anyhow!("a feed loop panicked: {e}"),
                });
            }
        }
        if ended == Ended::Stopped {
            notify::send("STOPPING=1");
        }
        let _ = stop_tx.send(true);
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(e)) = joined {
                fatal.get_or_insert(e);
            }
        }
        let _ = deliverer.await;
        let _ = maintenance.await;
        let delivered = service.deliver().await?;
        if delivered > 0 {
            info!(alerts = delivered, "delivered the last alerts");
        }
        match fatal {
            Some(e) => Err(e),
            None => Ok(ended),
        }
    }
}

/// One feed's schedule: poll, wait its interval (or its backoff after a failure), repeat.
async fn feed_loop(
    service: Arc<Service>,
    feed: FeedConfig,
    sem: Arc<Semaphore>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut failures: u32 = 0;
    loop {
        let outcome = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            outcome = async {
                let _permit = sem.acquire().await;
                service.poller.poll(&feed).await
            } => outcome?,
        };
        let delay = match &outcome {
            Outcome::Failed { transient, .. } => {
                failures += 1;
                backoff(feed.interval, failures, *transient)
            }
            Outcome::Polled { alerts, .. } => {
                failures = 0;
                if *alerts > 0 {
                    wake.notify_one();
                }
                feed.interval
            }
            Outcome::NotModified => {
                failures = 0;
                feed.interval
            }
        };
        let delay = jitter(delay, &feed.name);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Delivers whenever a poll committed alerts; retries a failing alert log every 30 s.
async fn deliver_loop(service: Arc<Service>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut retry = false;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)), if retry => {}
        }
        match service.deliver().await {
            Ok(_) => retry = false,
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

/// Once a day: retention (it also ran when the service opened), then the compaction
/// check, which ends `run` with [`Ended::Compact`] when the store has outgrown its data.
async fn maintenance_loop(
    service: Arc<Service>,
    compact: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
        }
        if let Err(e) = service.retain().await {
            error!(
                error = format!("{e:#}"),
                "retention failed; it runs again tomorrow"
            );
        }
        match service.compaction_due().await {
            Ok(true) => {
                let _ = compact.send(()).await;
                return;
            }
            Ok(false) => {}
            Err(e) => warn!(
                error = format!("{e:#}"),
                "measuring the store failed; compaction is checked again tomorrow"
            ),
        }
    }
}

/// How often `run` applies retention and checks whether the store needs compacting.
pub const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The wait after `failures` failures in a row: doubling from the feed's interval (or from
/// a minute for transient errors, which tend to clear soon), capped at [`MAX_BACKOFF`] but
/// never shorter than the interval.
pub fn backoff(interval: Duration, failures: u32, transient: bool) -> Duration {
    let base = if transient {
        Duration::from_secs(60).min(interval)
    } else {
        interval
    };
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    exp.min(MAX_BACKOFF.max(interval))
        .max(if transient { base } else { interval })
}

/// ±5% so that feeds configured alike do not poll in lockstep.
fn jitter(d: Duration, seed: &str) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let h = seed.bytes().fold(nanos as u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(b as u64)
    });
    let frac = (h % 1001) as f64 / 1000.0; // 0..=1
    d.mul_f64(0.95 + 0.10 * frac)
}

/// Waits for SIGTERM or SIGINT. SIGHUP is caught (it would kill the process by default)
/// and logged: reloading is not implemented yet, so a restart applies a new config.
pub async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        warn!("cannot install signal handlers; stop feedwatch with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => warn!("SIGHUP: reloading the config is not supported yet; restart feedwatch to apply changes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let ten = Duration::from_secs(600);
        assert_eq!(backoff(ten, 1, true), Duration::from_secs(60));
        assert_eq!(backoff(ten, 2, true), Duration::from_secs(120));
        assert_eq!(backoff(ten, 30, true), MAX_BACKOFF);
        assert_eq!(backoff(ten, 1, false), ten);
        assert_eq!(backoff(ten, 3, false), ten * 4);
        assert_eq!(
            backoff(Duration::from_secs(86400), 5, false),
            Duration::from_secs(86400)
        );
    }

    #[test]
    fn jitter_stays_within_five_percent() {
        for i in 0..100 {
            let d = jitter(Duration::from_secs(600), &format!("feed-{i}"));
            assert!(
                d >= Duration::from_secs(570) && d <= Duration::from_secs(630),
                "{d:?}"
            );
        }
    }
}
