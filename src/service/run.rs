//! [`Service::run`]: the service running until told to stop, and what it runs.
//!
//! It is told to stop by a [`CancellationToken`] and to reload on a channel (both in
//! [`Control`]), so tests and `main` (signals, see [`super::signals`]) drive it the same
//! way. Its tasks are named (tracing spans `deliverer`, `api`, `control`, `sink`) and
//! tracked: the API's and the control socket's for the whole run, the deliverer of the
//! open store on one [`TaskTracker`]; each config's feed loops on a `JoinSet` (a feed
//! loop's error ends the service) and its sinks on another tracker.
//! Stopping cancels a token and waits for the tasks.

use std::future::Future;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, warn};

use super::clock::{Timers, feed_loop};
use super::ctl_server::{Ask, Held, SharedPoller};
use super::swap::{Channel, start_api, start_control};
use super::{Control, Service};
use crate::alert::AlertLog;
use crate::config::Config;

/// The answer to a reload asked on the control channel.
type Reply = tokio::sync::oneshot::Sender<Result<String, String>>;
use crate::deliver::{self, Wakes};
use crate::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::notify;
use crate::poll::Poller;
use crate::schedule;
use crate::store::slot::{SlotState, StoreSlot};
use crate::store::{Store, StoreError};
use crate::watch::Matcher;

/// The config in force, shared with the API (replaced on reload).
pub(super) type SharedConfig = Arc<RwLock<Arc<Config>>>;

/// Why one [`Service::serve`] ended.
pub(super) enum Ended {
    /// Told to stop.
    Stopped,
    /// The daily check found the store outgrown: everything holding it has stopped; here
    /// it is, to compact, with the config and the metrics to carry on with.
    Compact(Box<Config>, Store, Arc<Metrics>),
    /// The store refused a write (a full disk: sled 0.34 then refuses every write until
    /// it is opened again): everything holding it has stopped; here it is, to close and
    /// open again, and why.
    StoreFailed(Box<Config>, Store, Arc<Metrics>, String),
}

/// Why the feed loops of one [`Service::serve`] stopped.
enum Stopped {
    /// [`Control::stop`] was cancelled.
    Told,
    /// A feed loop panicked, or a reload could not be applied.
    Failed(anyhow::Error),
    /// The store refused a write: it is to be closed and opened again.
    StoreFailed(anyhow::Error),
    /// The store has outgrown its live data and is to be compacted.
    Compact,
}

/// What ends one generation (the tasks of one config).
enum Event {
    /// A valid config was read again: start the next generation with it.
    Reload(Box<Config>, Option<Reply>),
    /// [`Control::stop`] was cancelled.
    Stop,
    /// The daily check found the store outgrown.
    Compact,
    /// A feed loop failed or panicked.
    FeedFailed(anyhow::Error),
    /// The control channel changed a feed's state (enable, pause, resume): restart the
    /// loops, then answer.
    Restart(tokio::sync::oneshot::Sender<()>),
}

/// Whether an error is the store's (so reopening it may cure it).
fn is_store_error(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<StoreError>() || c.is::<crate::poll::PollError>())
}

impl Service {
    /// Runs until `shutdown` resolves, without reloading: for tests and embedding.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        let (_no_reloads, reload) = mpsc::channel(1);
        self.run(Control { stop, reload }, || {
            Err(anyhow::anyhow!("reloading is not available here"))
        })
        .await
    }

    /// Runs until [`Control::stop`] is cancelled: each feed polls on its own schedule,
    /// alerts are delivered as they are committed. A message on [`Control::reload`] re-reads
    /// the config with `reload`: added feeds start, removed feeds stop, changed watches apply
    /// to items seen from then on, the alert log is reopened (for logrotate); an invalid
    /// config is reported and the running one kept. Once a day retention runs, and when the
    /// store's directory has outgrown its live data, polls pause while the store is
    /// compacted and opened again (sled gives no space back on its own, and a service may
    /// run for months without a restart). When the store refuses writes (a full disk),
    /// polls pause while it is closed and opened again, with backoff, until it takes writes.
    /// The API and the control socket stay up throughout, reading the store through a
    /// [`StoreSlot`] that says "compacting" or why the store failed while it is out (the
    /// control socket's commands wait for it a while). Returns after polls in flight
    /// are cancelled, pending alerts delivered and the store flushed.
    pub async fn run(
        self,
        mut control: Control,
        reload: impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<()> {
        let slot = StoreSlot::new(self.poller.store.clone());
        let shared_config: SharedConfig = Arc::new(RwLock::new(Arc::new(self.config.clone())));
        let api = start_api(&self.config, &self.metrics, &slot, &shared_config).await?;
        let mut channel = start_control(&self.config, &slot, &shared_config).await?;
        let result = Service::stretches(
            self,
            (&slot, &shared_config),
            &mut control,
            &mut channel,
            &reload,
        )
        .await;
        channel.tasks.stop().await;
        api.stop().await;
        result
    }

    /// One stretch of [`Service::run`] on one open store: start the deliverer, run
    /// generations of feed loops until told to stop, to compact, or the store fails, stop
    /// the tasks, deliver the last alerts, and (but when stopping) take the store out of
    /// `slot` and let go of it.
    pub(super) async fn serve(
        mut self,
        (slot, shared_config): (&Arc<StoreSlot>, &SharedConfig),
        control: &mut Control,
        channel: &mut Channel,
        reload: &impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<Ended> {
        self.metrics.beat(); // alive from the start: /healthz must not flap before the first tick
        let poller: SharedPoller = Arc::new(RwLock::new(self.poller.clone()));
        let background = self.start_background();
        let held = Held::new(self.poller.store.clone(), poller.clone(), self.log.clone());
        channel.ctl.hold(held, &channel.socket);
        let supervised = self
            .supervise(
                &background.wakes,
                (shared_config, &poller),
                control,
                &mut channel.asked,
                reload,
            )
            .await;
        // commands in flight on this store finish (or stop); new ones wait for the next stretch
        channel.ctl.release().await;
        let stopped = match supervised {
            Ok(stopped) => stopped,
            Err(e) if is_store_error(&e) => Stopped::StoreFailed(e),
            Err(e) => return Err(e),
        };
        if matches!(stopped, Stopped::Told | Stopped::Failed(_)) {
            notify::send("STOPPING=1");
        }
        background.stop().await;
        drop(poller); // its poller holds the store, which a compaction must have let go of
        match self.deliver().await {
            Ok(0) => {}
            Ok(n) => info!(alerts = n, "delivered the last alerts"),
            Err(e) if matches!(stopped, Stopped::StoreFailed(_) | Stopped::Compact) => {
                warn!(
                    error = format!("{e:#}"),
                    "delivering the last alerts failed; they stay pending"
                )
            }
            Err(e) => return Err(e),
        }
        match stopped {
            Stopped::Told => Ok(Ended::Stopped),
            Stopped::Failed(e) => Err(e),
            Stopped::Compact => {
                let (config, store, metrics) =
                    self.release_store(slot, SlotState::Compacting).await?;
                Ok(Ended::Compact(config, store, metrics))
            }
            Stopped::StoreFailed(e) => {
                let why = format!("{e:#}");
                let (config, store, metrics) = self
                    .release_store(slot, SlotState::Failed(why.clone()))
                    .await?;
                Ok(Ended::StoreFailed(config, store, metrics, why))
            }
        }
    }

    /// Starts the tasks that live as long as the open store: the deliverer (the API and
    /// the control socket live as long as `run`: [`Service::run`]).
    fn start_background(&self) -> Background {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let wakes = Arc::new(Wakes::default());
        self.poller.articles.wake_deliverer(wakes.clone());
        let deliverer = deliver::deliver_loop(
            self.poller.store.clone(),
            self.log.clone(),
            self.metrics.clone(),
            wakes.clone(),
            stop.clone(),
        );
        tasks.spawn(deliverer.instrument(tracing::info_span!("deliverer")));
        Background {
            stop: stop.drop_guard(),
            tasks,
            wakes,
        }
    }

    /// Runs one generation after another (a reload starts the next) until told to stop,
    /// a feed loop fails, or the store needs compacting; returns with every feed loop and
    /// sink stopped.
    async fn supervise(
        &mut self,
        wakes: &Arc<Wakes>,
        (shared_config, poller): (&SharedConfig, &SharedPoller),
        control: &mut Control,
        asked: &mut mpsc::Receiver<Ask>,
        reload: &impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<Stopped> {
        let mut timers = Timers::new();
        loop {
            let mut generation = self.start_generation(wakes)?;
            match self
                .tend(&mut generation, &mut timers, (control, asked), reload)
                .await
            {
                Event::Reload(next, reply) => {
                    generation.stop().await;
                    self.apply(*next)?;
                    *shared_config.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(self.config.clone());
                    *poller.write().unwrap_or_else(|p| p.into_inner()) = self.poller.clone();
                    if let Some(reply) = reply {
                        let c = &self.config;
                        let said = format!(
                            "reloaded {}: {} feeds, {} watches",
                            c.source,
                            c.feeds.len(),
                            c.watches.len()
                        );
                        let _ = reply.send(Ok(said));
                    }
                }
                Event::Restart(done) => {
                    generation.stop().await;
                    let _ = done.send(());
                }
                Event::Stop => {
                    return Ok(match generation.stop().await {
                        Some(e) => Stopped::Failed(e),
                        None => Stopped::Told,
                    });
                }
                Event::Compact => {
                    generation.stop().await;
                    return Ok(Stopped::Compact);
                }
                Event::FeedFailed(e) => {
                    generation.stop().await;
                    return Ok(if is_store_error(&e) {
                        Stopped::StoreFailed(e)
                    } else {
                        Stopped::Failed(e)
                    });
                }
            }
        }
    }

    /// Starts the sinks and the feed loops of the config in force, then tells systemd
    /// that feedwatch is ready.
    fn start_generation(&self, wakes: &Arc<Wakes>) -> anyhow::Result<Generation> {
        let stop = CancellationToken::new();
        // cancels the sinks if starting the feeds fails
        let guard = stop.clone().drop_guard();
        let sinks = TaskTracker::new();
        // the sinks' cursors are fixed before any feed polls (see start_sinks)
        deliver::start_sinks(&self.config.sinks, &self.poller.store, wakes, &stop, &sinks)?;
        let feeds = self.start_feeds(wakes, &stop)?;
        let n = feeds.len();
        info!(feeds = n, watches = self.config.watches.len(), store = %self.config.storage.path.display(), alerts = %self.config.alerts.log.display(), "feedwatch running");
        notify::send(&format!("READY=1\nSTATUS=polling {n} feeds"));
        Ok(Generation {
            stop: guard,
            feeds,
            sinks,
            started: n,
        })
    }

    /// Keeps one generation going (heartbeat, systemd status and watchdog, the daily
    /// maintenance) until something ends it.
    async fn tend(
        &mut self,
        generation: &mut Generation,
        timers: &mut Timers,
        (control, asked): (&mut Control, &mut mpsc::Receiver<Ask>),
        reload: &impl Fn() -> anyhow::Result<Config>,
    ) -> Event {
        let n = generation.started;
        let mut reloads_open = true;
        loop {
            tokio::select! {
                _ = timers.heartbeat.tick() => self.metrics.beat(),
                _ = timers.maintenance.tick() => {
                    if self.maintain().await {
                        return Event::Compact;
                    }
                }
                _ = timers.status.tick() => notify::send(&format!("STATUS={}", self.status_line(n))),
                // WATCHDOG=1 only while the scheduler works: every feed loop alive and the
                // store taking writes; otherwise systemd's WatchdogSec= restarts us
                _ = timers.watchdog.tick(), if timers.watchdog_on => {
                    if generation.feeds.len() == n && self.poller.store.check_writable().is_ok() {
                        notify::send("WATCHDOG=1");
                    } else {
                        warn!("not pinging the systemd watchdog: a feed loop ended or the store refuses writes");
                    }
                }
                _ = control.stop.cancelled() => {
                    info!("stopping");
                    return Event::Stop;
                }
                msg = control.reload.recv(), if reloads_open => match msg {
                    Some(()) => {
                        if let Ok(next) = self.reread(reload, n) {
                            return Event::Reload(Box::new(next), None);
                        }
                    }
                    None => reloads_open = false,
                },
                Some(ask) = asked.recv() => match ask {
                    Ask::Restart(done) => return Event::Restart(done),
                    Ask::Reload(reply) => match self.reread(reload, n) {
                        Ok(next) => return Event::Reload(Box::new(next), Some(reply)),
                        Err(problems) => {
                            let _ = reply.send(Err(problems));
                        }
                    },
                },
                Some(joined) = generation.feeds.join_next() => {
                    // a feed loop ends early when the store fails, or when its feed is disabled
                    match joined {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Event::FeedFailed(e),
                        Err(e) => return Event::FeedFailed(anyhow::anyhow!("a feed loop panicked: {e}")),
                    }
                }
            }
        }
    }

    /// The daily pass: retention, then the compaction check. True when the store has
    /// outgrown its live data and polls must stop for it to be compacted.
    async fn maintain(&self) -> bool {
        if let Err(e) = self.retain().await {
            error!(
                error = format!("{e:#}"),
                "retention failed; it runs again tomorrow"
            );
        }
        match self.compaction_due().await {
            Ok(false) => false,
            Ok(true) => {
                info!(
                    "the store's directory has outgrown its live data: stopping polls to compact it"
                );
                true
            }
            Err(e) => {
                warn!(
                    error = format!("{e:#}"),
                    "measuring the store failed; compaction is checked again tomorrow"
                );
                false
            }
        }
    }

    /// Reads the config again for a reload. Its problems when it is invalid: they are
    /// logged, the running config stays in force and the alert log is reopened all the same.
    fn reread(
        &self,
        reload: &impl Fn() -> anyhow::Result<Config>,
        n: usize,
    ) -> Result<Config, String> {
        notify::send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            notify::monotonic_usec()
        ));
        info!("reloading the config");
        match reload() {
            Ok(next) => Ok(next),
            Err(e) => {
                error!(
                    error = format!("{e:#}"),
                    "the new config is invalid; the running config stays in force"
                );
                self.reopen_log(&self.config.alerts.log);
                notify::send(&format!(
                    "READY=1\nSTATUS=polling {n} feeds (config reload failed, see the log)"
                ));
                Err(format!("{e:#}"))
            }
        }
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
        wakes: &Arc<Wakes>,
        stop: &CancellationToken,
    ) -> anyhow::Result<JoinSet<anyhow::Result<()>>> {
        let mut tasks = JoinSet::new();
        let feeds = crate::cluster::looped_feeds(&self.config, &self.poller.store)?;
        let n = feeds.len();
        let now = chrono::Utc::now();
        for (i, feed) in feeds.iter().enumerate() {
            let state = self.poller.state(feed)?;
            let interval = schedule::interval(feed, &self.config.schedule, &state, now);
            let first = schedule::first_delay(i, n, interval, state.next_poll, now);
            tasks.spawn(feed_loop(
                self.poller.clone(),
                feed.clone(),
                first,
                wakes.clone(),
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

/// Tasks stopped together: the deliverer of one open store, or the API's or the control
/// socket's, which live as long as `run`.
pub(super) struct Background {
    /// Cancels the tasks when dropped: by [`Background::stop`], or when `serve` fails.
    pub(super) stop: DropGuard,
    /// The deliverer; or a listener and its connections.
    pub(super) tasks: TaskTracker,
    /// Rung by the feed loops; rings the sinks.
    pub(super) wakes: Arc<Wakes>,
}

impl Background {
    /// Stops the tasks and waits until they have ended.
    pub(super) async fn stop(self) {
        drop(self.stop);
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The tasks of one config: a loop per enabled feed and a task per sink.
struct Generation {
    /// Cancels the tasks when dropped: by [`Generation::stop`], or when `serve` fails.
    stop: DropGuard,
    /// The feed loops; one that ends with an error ends the service.
    feeds: JoinSet<anyhow::Result<()>>,
    /// The sinks.
    sinks: TaskTracker,
    /// Feed loops started: fewer running means one has ended.
    started: usize,
}

impl Generation {
    /// Stops the feed loops and the sinks and waits for them; the first feed loop error.
    async fn stop(self) -> Option<anyhow::Error> {
        let Generation {
            stop,
            mut feeds,
            sinks,
            ..
        } = self;
        drop(stop);
        let mut first = None;
        while let Some(joined) = feeds.join_next().await {
            if let Ok(Err(e)) = joined {
                first.get_or_insert(e);
            }
        }
        sinks.close();
        sinks.wait().await;
        first
    }
}
