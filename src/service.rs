//! The service: `once` (one cycle over every feed) and `run` (each feed on its own schedule
//! until told to stop), and the deliverer that moves alerts from the store's outbox to the
//! alert log.
//!
//! Stop and reload arrive on a channel, so tests and `main` (signals) drive the service the
//! same way.
//! Polls run under a semaphore (`fetch.concurrency`); a failing feed backs off on its own
//! schedule and never holds up the others.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::alert::AlertLog;
use crate::config::{Config, FeedConfig};
use crate::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::notify;
use crate::poll::{Outcome, Poller};
use crate::schedule;
use crate::store::Store;
use crate::watch::Matcher;

/// Everything a running feedwatch holds.
pub struct Service {
    pub config: Config,
    pub poller: Arc<Poller>,
    pub log: Arc<Mutex<AlertLog>>,
    pub metrics: Arc<Metrics>,
}

/// Why one [`Service::serve`] ended.
enum Ended {
    /// Told to stop, or a feed loop failed.
    Stopped,
    /// The daily check found the store outgrown: everything holding it has stopped and let
    /// go of it; open the service again with this config, which compacts the store.
    Compact(Box<Config>),
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
            Outcome::Disabled { reason } => Some((name.as_str(), reason.as_str())),
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
                Outcome::Failed { .. } | Outcome::Disabled { .. } => {}
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
            let message = crate::text::sanitize(message); // a stored reason may predate it
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
        // from running out (at start-up) and its watchdog fed (when `run` compacts the
        // store), the first time after 20 s, when it may matter: the work is one long call
        // that makes progress, not a stuck scheduler
        let watchdog = notify::watchdog_interval().is_some();
        let extend = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                notify::send(
                    "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=opening the store (migrating or compacting it)",
                );
                if watchdog {
                    notify::send("WATCHDOG=1");
                }
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
                "compacted the store: its directory had outgrown its live data (more than twice it, or 1.5x the last copy, plus {} MiB)",
                crate::store::compact::SLACK >> 20
            );
        }
        let log = AlertLog::open(&config.alerts.log).with_context(|| {
            format!(
                "cannot open the alert log {}; check that its directory is writable",
                config.alerts.log.display()
            )
        })?;
        let metrics = Arc::new(Metrics::default());
        let service = Service {
            poller: Arc::new(Poller::new(
                Fetcher::new(&config.fetch)?,
                Arc::new(store),
                Arc::new(Matcher::new(&config.watches)?),
                &config,
                metrics.clone(),
            )),
            metrics,
            log: Arc::new(Mutex::new(log)),
            config,
        };
        service
            .poller
            .store
            .keep_journal(!service.config.sinks.is_empty());
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

    /// Delivers every pending alert to the log ([`deliver_pending`]), off the async threads.
    pub async fn deliver(&self) -> anyhow::Result<usize> {
        deliver(self.poller.store.clone(), self.log.clone()).await
    }

    /// Polls every enabled feed once, all at once within the global and per-host limits,
    /// then delivers.
    pub async fn once(&self) -> anyhow::Result<Cycle> {
        let mut set = JoinSet::new();
        for feed in self.config.feeds.iter().filter(|f| f.enabled).cloned() {
            let poller = self.poller.clone();
            set.spawn(async move {
                let report = poller.poll(&feed).await;
                (feed.name, report)
            });
        }
        let mut cycle = Cycle::default();
        while let Some(joined) = set.join_next().await {
            let (name, report) = joined?;
            cycle.outcomes.push((name, report?.outcome));
        }
        cycle.outcomes.sort_by(|a, b| a.0.cmp(&b.0));
        cycle.delivered = self.deliver().await?;
        Ok(cycle)
    }

    /// Polls the feed called `name` now (`feedwatch poll NAME`), then delivers.
    pub async fn poll_one(&self, name: &str) -> anyhow::Result<Cycle> {
        let Some(feed) = self.config.feeds.iter().find(|f| f.name == name) else {
            let names: Vec<&str> = self.config.feeds.iter().map(|f| f.name.as_str()).collect();
            anyhow::bail!(
                "no feed called {name:?} in {}; feeds: {}",
                self.config.source,
                names.join(", ")
            );
        };
        let report = self.poller.poll(feed).await?;
        let mut cycle = Cycle::default();
        cycle.outcomes.push((feed.name.clone(), report.outcome));
        cycle.delivered = self.deliver().await?;
        Ok(cycle)
    }

    /// Runs until `shutdown` resolves, without reloading: for tests and embedding.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(Control::Stop).await;
        });
        self.run(rx, || {
            Err(anyhow::anyhow!("reloading is not available here"))
        })
        .await
    }

    /// Runs until told to stop: each feed polls on its own schedule, alerts are delivered as
    /// they are committed. [`Control::Reload`] re-reads the config with `reload`: added feeds
    /// start, removed feeds stop, changed watches apply to items seen from then on, the alert
    /// log is reopened (for logrotate); an invalid config is reported and the running one
    /// kept. Once a day retention runs, and when the store's directory has outgrown its live
    /// data, polls pause while the store is closed, compacted and opened again (sled gives no
    /// space back on its own, and a service may run for months without a restart). Returns
    /// after polls in flight are cancelled, pending alerts delivered and the store flushed.
    pub async fn run(
        self,
        mut control: tokio::sync::mpsc::Receiver<Control>,
        reload: impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<()> {
        let mut service = self;
        loop {
            match service.serve(&mut control, &reload).await? {
                Ended::Stopped => return Ok(()),
                Ended::Compact(config) => {
                    info!("compacting the store: polls pause until it is done");
                    notify::send("STATUS=compacting the store");
                    // opening compacts the store (and keeps systemd's watchdog fed meanwhile)
                    service = Service::open(*config).await?;
                }
            }
        }
    }

    /// One stretch of [`Service::run`] on one open store.
    async fn serve(
        mut self,
        control: &mut tokio::sync::mpsc::Receiver<Control>,
        reload: &impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<Ended> {
        let wake = Arc::new(Notify::new());
        // one wake-up per sink, rung after each delivery to the alert log
        let sink_wakes: Arc<std::sync::RwLock<Vec<Arc<Notify>>>> = Arc::default();
        let (stop_all, stop_rx) = watch::channel(false);
        let shared_config = Arc::new(std::sync::RwLock::new(Arc::new(self.config.clone())));
        self.metrics.beat(); // alive from the start: /healthz must not flap before the first tick
        if let Some(addr) = self.config.api.listen {
            let api = crate::api::Api {
                store: self.poller.store.clone(),
                metrics: self.metrics.clone(),
                config: shared_config.clone(),
            };
            if let Err(e) = crate::api::start(addr, api, stop_rx.clone()).await {
                crate::api::warn_unavailable(addr, &e);
            }
        }
        let mut heartbeat = tokio::time::interval(Duration::from_secs(5));
        let every = |d: Duration| tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        let mut status = every(Duration::from_secs(30));
        // the daily retention pass and compaction check (see RETENTION_EVERY)
        let mut retention = every(maintenance_every());
        let watchdog = notify::watchdog_interval();
        let mut watchdog_tick = every(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));
        let deliverer = tokio::spawn(deliver_loop(
            self.poller.store.clone(),
            self.log.clone(),
            self.metrics.clone(),
            wake.clone(),
            sink_wakes.clone(),
            stop_rx,
        ));
        let mut fatal = None;
        let mut compact = false;
        'generations: loop {
            // One generation: the feed loops of one config.
            let (stop_tx, stop_rx) = watch::channel(false);
            // a new sink starts at the journal's end: fix that end now, before any feed
            // polls, or alerts delivered before its task first reads its cursor are skipped
            for sink in &self.config.sinks {
                self.poller
                    .store
                    .sink_cursor(&sink.name)
                    .with_context(|| format!("sink {}: reading its cursor", sink.name))?;
            }
            let mut tasks = self.start_feeds(&wake, &stop_rx)?;
            let mut sinks = JoinSet::new();
            let mut wakes = Vec::new();
            for sink in self.config.sinks.iter().cloned() {
                let w = Arc::new(Notify::new());
                w.notify_one(); // catch up with what was delivered while it was not running
                wakes.push(w.clone());
                sinks.spawn(crate::sink::run(
                    sink,
                    self.poller.store.clone(),
                    w,
                    stop_rx.clone(),
                ));
            }
            *sink_wakes.write().unwrap_or_else(|p| p.into_inner()) = wakes;
            let n = tasks.len();
            info!(feeds = n, watches = self.config.watches.len(), store = %self.config.storage.path.display(), alerts = %self.config.alerts.log.display(), "feedwatch running");
            notify::send(&format!("READY=1\nSTATUS=polling {n} feeds"));
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => self.metrics.beat(),
                    _ = retention.tick() => {
                        if let Err(e) = self.retain().await {
                            error!(error = format!("{e:#}"), "retention failed; it runs again tomorrow");
                        }
                        match self.compaction_due().await {
                            Ok(false) => {}
                            Ok(true) => {
                                info!("the store's directory has outgrown its live data: stopping polls to compact it");
                                compact = true;
                                let _ = stop_tx.send(true);
                                while tasks.join_next().await.is_some() {}
                                break 'generations;
                            }
                            Err(e) => warn!(error = format!("{e:#}"), "measuring the store failed; compaction is checked again tomorrow"),
                        }
                    }
                    _ = status.tick() => notify::send(&format!("STATUS={}", self.status_line(n))),
                    // WATCHDOG=1 only while the scheduler works: every feed loop alive and the
                    // store taking writes; otherwise systemd's WatchdogSec= restarts us
                    _ = watchdog_tick.tick(), if watchdog.is_some() => {
                        if tasks.len() == n && self.poller.store.check_writable().is_ok() {
                            notify::send("WATCHDOG=1");
                        } else {
                            warn!("not pinging the systemd watchdog: a feed loop ended or the store refuses writes");
                        }
                    }
                    msg = control.recv() => match msg {
                        Some(Control::Reload) => {
                            notify::send(&format!("RELOADING=1\nMONOTONIC_USEC={}", notify::monotonic_usec()));
                            info!("reloading the config");
                            let next = match reload() {
                                Ok(next) => next,
                                Err(e) => {
                                    error!(error = format!("{e:#}"), "the new config is invalid; the running config stays in force");
                                    self.reopen_log(&self.config.alerts.log.clone());
                                    notify::send(&format!("READY=1\nSTATUS=polling {n} feeds (config reload failed, see the log)"));
                                    continue;
                                }
                            };
                            let _ = stop_tx.send(true);
                            while tasks.join_next().await.is_some() {}
                            self.apply(next)?;
                            *shared_config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(self.config.clone());
                            continue 'generations;
                        }
                        Some(Control::Stop) | None => {
                            info!("stopping");
                            let _ = stop_tx.send(true);
                            while let Some(joined) = tasks.join_next().await {
                                if let Ok(Err(e)) = joined {
                                    fatal.get_or_insert(e);
                                }
                            }
                            break 'generations;
                        }
                    },
                    Some(joined) = tasks.join_next() => {
                        // a feed loop ends early when the store fails, or when its feed is disabled
                        match joined {
                            Ok(Ok(())) => continue,
                            Ok(Err(e)) => fatal = Some(e),
                            Err(e) => fatal = Some(anyhow::anyhow!("a feed loop panicked: {e}")),
                        }
                        let _ = stop_tx.send(true);
                        while tasks.join_next().await.is_some() {}
                        break 'generations;
                    }
                }
            }
        }
        if !compact {
            notify::send("STOPPING=1");
        }
        let _ = stop_all.send(true);
        let _ = deliverer.await;
        let delivered = self.deliver().await?;
        if delivered > 0 {
            info!(alerts = delivered, "delivered the last alerts");
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        if !compact {
            return Ok(Ended::Stopped);
        }
        // the pollers, sinks, deliverer and API have stopped; wait until the last of their
        // handles on the store is gone (a request or delivery may still be finishing)
        let store = Arc::downgrade(&self.poller.store);
        let config = self.config.clone();
        drop(self);
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        while store.strong_count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "compacting the store: it was still in use {} s after polls stopped; exiting, so that the restart compacts it",
                    RELEASE_WAIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Ended::Compact(Box::new(config)))
    }

    /// Whether the store has outgrown its live data (see [`Store::outgrown`]).
    async fn compaction_due(&self) -> anyhow::Result<bool> {
        let store = self.poller.store.clone();
        tokio::task::spawn_blocking(move || store.outgrown())
            .await?
            .context("measuring the store")
    }

    /// "polling 42 feeds, 3 failing", for systemd's STATUS=.
    fn status_line(&self, n: usize) -> String {
        let now = chrono::Utc::now();
        let failing = self
            .poller
            .store
            .feed_states()
            .map(|states| {
                states
                    .iter()
                    .filter(|s| {
                        matches!(schedule::assess(s, now), schedule::Health::Failing { .. })
                    })
                    .filter(|s| {
                        self.config
                            .feeds
                            .iter()
                            .any(|f| f.name == s.name && f.enabled)
                    })
                    .count()
            })
            .unwrap_or(0);
        format!("polling {n} feeds, {failing} failing")
    }

    /// Spawns one loop per enabled feed, each first due where its stored schedule says or
    /// spread over the first minutes.
    fn start_feeds(
        &self,
        wake: &Arc<Notify>,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<JoinSet<anyhow::Result<()>>> {
        let mut tasks = JoinSet::new();
        let feeds: Vec<&FeedConfig> = self.config.feeds.iter().filter(|f| f.enabled).collect();
        let n = feeds.len();
        let now = chrono::Utc::now();
        for (i, feed) in feeds.into_iter().enumerate() {
            let state = self.poller.state(feed)?;
            let interval = schedule::interval(feed, &self.config.schedule, &state, now);
            let first = schedule::first_delay(i, n, interval, state.next_poll, now);
            tasks.spawn(feed_loop(
                self.poller.clone(),
                feed.clone(),
                first,
                wake.clone(),
                stop.clone(),
            ));
        }
        Ok(tasks)
    }

    /// Takes a reloaded config into use: a new poller (fetch settings, watches, limits) over
    /// the same store, and the alert log reopened at its (possibly new) path.
    fn apply(&mut self, mut next: Config) -> anyhow::Result<()> {
        if next.storage.path != self.config.storage.path {
            warn!(running = %self.config.storage.path.display(), new = %next.storage.path.display(), "storage.path cannot change while running; restart feedwatch to use the new store");
            next.storage = self.config.storage.clone();
        }
        let added: Vec<&str> = next
            .feeds
            .iter()
            .filter(|f| !self.config.feeds.iter().any(|o| o.name == f.name))
            .map(|f| f.name.as_str())
            .collect();
        let removed: Vec<&str> = self
            .config
            .feeds
            .iter()
            .filter(|f| !next.feeds.iter().any(|o| o.name == f.name))
            .map(|f| f.name.as_str())
            .collect();
        info!(added = ?added, removed = ?removed, feeds = next.feeds.len(), watches = next.watches.len(), "config reloaded");
        self.poller = Arc::new(Poller::new(
            Fetcher::new(&next.fetch)?,
            self.poller.store.clone(),
            Arc::new(Matcher::new(&next.watches)?),
            &next,
            self.metrics.clone(),
        ));
        self.reopen_log(&next.alerts.log);
        self.poller.store.keep_journal(!next.sinks.is_empty());
        self.config = next;
        Ok(())
    }

    /// Reopens the alert log (after logrotate moved it, or at a new path). On failure the
    /// old file stays in use.
    fn reopen_log(&self, path: &std::path::Path) {
        match AlertLog::open(path) {
            Ok(log) => *self.log.lock().unwrap_or_else(|p| p.into_inner()) = log,
            Err(e) => {
                error!(path = %path.display(), error = %e, "cannot reopen the alert log; still writing to the old one")
            }
        }
    }
}

/// The deliverer, on a blocking thread: see [`deliver_pending`].
async fn deliver(store: Arc<Store>, log: Arc<Mutex<AlertLog>>) -> anyhow::Result<usize> {
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
pub fn deliver_pending(store: &Store, log: &mut AlertLog) -> anyhow::Result<usize> {
    store.flush()?;
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
        store.journal_append(&lines)?;
        store.mark_delivered(&queued)?;
        delivered += lines.len();
    }
}

/// What a running service is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stop,
    Reload,
}

/// One feed's schedule: wait until due, poll, repeat; the poller says when it is due next.
async fn feed_loop(
    poller: Arc<Poller>,
    feed: FeedConfig,
    first: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut delay = first;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        let report = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            report = poller.poll(&feed) => report?,
        };
        if report.health_line
            || matches!(report.outcome, Outcome::Polled { alerts, .. } if alerts > 0)
        {
            wake.notify_one();
        }
        match report.next_in {
            Some(d) => delay = d,
            None => {
                info!(feed = %feed.name, "feed disabled: not polled until `feedwatch enable {}`", feed.name);
                return Ok(());
            }
        }
    }
}

/// Delivers whenever a poll committed alerts; retries a failing alert log every 30 s.
async fn deliver_loop(
    store: Arc<Store>,
    log: Arc<Mutex<AlertLog>>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    sink_wakes: Arc<std::sync::RwLock<Vec<Arc<Notify>>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut retry = false;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)), if retry => {}
        }
        let result = deliver(store.clone(), log.clone()).await;
        *metrics
            .delivery_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = result.as_ref().err().map(|e| format!("{e:#}"));
        match result {
            Ok(n) => {
                if n > 0 {
                    for w in sink_wakes.read().unwrap_or_else(|p| p.into_inner()).iter() {
                        w.notify_one();
                    }
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

/// How often `run` applies retention and checks whether the store needs compacting (both
/// also happen when the service opens).
pub const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

/// [`RETENTION_EVERY`], or `FEEDWATCH_MAINTENANCE_SECS` seconds (fractions allowed) when
/// set: the daemon and torture tests shorten it so that compaction happens while `run` runs.
fn maintenance_every() -> Duration {
    std::env::var("FEEDWATCH_MAINTENANCE_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|&s| s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(RETENTION_EVERY)
}

/// How long a compaction in `run` waits for the store's last handle to be let go of.
const RELEASE_WAIT: Duration = Duration::from_secs(60);

/// Turns SIGTERM and SIGINT into [`Control::Stop`] and SIGHUP into [`Control::Reload`].
pub fn signals() -> tokio::sync::mpsc::Receiver<Control> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            warn!("cannot install signal handlers; stop feedwatch with SIGKILL");
            return;
        };
        loop {
            let msg = tokio::select! {
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
                _ = hup.recv() => Control::Reload,
            };
            if tx.send(msg).await.is_err() || msg == Control::Stop {
                return;
            }
        }
    });
    rx
}
