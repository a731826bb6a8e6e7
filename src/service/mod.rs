//! The service: opening the store and the alert log, `once` (one cycle over every feed),
//! `poll` (one feed now), and [`Service::run`] (each feed on its own schedule until told to
//! stop: `run.rs`; what tells it to: `control.rs`). Moving alerts to the alert log, then to
//! the sinks, is the deliverer's job ([`crate::deliver`]); this module owns the lifecycle
//! around it.
//!
//! Polls run under a semaphore (`fetch.concurrency`); a failing feed backs off on its own
//! schedule and never holds up the others.

mod clock;
mod control;
mod ctl_server;
mod run;
mod swap;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tracing::info;

use crate::alert::AlertLog;
use crate::config::Config;
use crate::deliver;
use crate::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::notify;
use crate::poll::{Outcome, Poller};
use crate::store::Store;
use crate::watch::Matcher;

pub use clock::RETENTION_EVERY;
pub use control::{Control, signals};

/// Kept here too: `rematch` and the CLI deliver through it.
pub use crate::deliver::deliver_pending;

/// Everything a running feedwatch holds.
pub struct Service {
    /// The config in force (replaced on reload).
    pub config: Config,
    /// Polls one feed; holds the store, the fetcher and the watches.
    pub poller: Arc<Poller>,
    /// The alert log, shared with the deliverer (reopened on reload).
    pub log: Arc<Mutex<AlertLog>>,
    /// Counters and gauges for `/metrics` and `/healthz`.
    pub metrics: Arc<Metrics>,
}

/// Keeps systemd patient while one long call works (migrating or compacting a big store
/// takes minutes): extends the start timeout (at start-up) and feeds the watchdog (when
/// `run` compacts), the first time after 20 s, when it may matter. Abort it when done.
pub(super) fn keep_systemd_patient(status: &'static str) -> tokio::task::JoinHandle<()> {
    let watchdog = notify::watchdog_interval().is_some();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(20)).await;
            notify::send(&format!("EXTEND_TIMEOUT_USEC=60000000\nSTATUS={status}"));
            if watchdog {
                notify::send("WATCHDOG=1");
            }
        }
    })
}

/// Logs what a compaction did.
pub(super) fn log_compacted(config: &Config, c: &crate::store::compact::Compacted) {
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

/// A cycle's result, per feed, for `once` and `demo`.
#[derive(Debug, Default)]
pub struct Cycle {
    pub outcomes: Vec<(String, Outcome)>,
    pub delivered: usize,
    /// `once`: what each sink was sent ([`deliver::drain_sinks`]).
    pub sinks: Vec<deliver::SinkPass>,
}

impl Cycle {
    pub fn failed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outcomes.iter().filter_map(|(name, o)| match o {
            Outcome::Failed { message, .. } => Some((name.as_str(), message.as_str())),
            Outcome::Disabled { reason } => Some((name.as_str(), reason.as_str())),
            _ => None,
        })
    }

    /// What the cycle ran but left undone, in words (`once` exits 4 when there is any):
    /// every feed failed, or a sink still has alerts to send.
    pub fn undone(&self) -> Vec<String> {
        let mut undone = Vec::new();
        if !self.outcomes.is_empty() && self.failed().count() == self.outcomes.len() {
            undone.push(format!(
                "no feed polled successfully ({} failed)",
                self.outcomes.len()
            ));
        }
        for pass in &self.sinks {
            if pass.left > 0 || pass.error.is_some() {
                undone.push(format!(
                    "sink {}: {} alert{} undelivered ({}); they stay pending for the next `once` or `run`",
                    pass.sink,
                    pass.left,
                    if pass.left == 1 { "" } else { "s" },
                    pass.error.as_deref().unwrap_or("not sent")
                ));
            }
        }
        undone
    }

    /// One paragraph for a person: what was polled, what failed, where the alerts went.
    pub fn summary(&self, log: &std::path::Path) -> String {
        let (mut items, mut new, mut unchanged) = (0, 0, 0);
        let mut held = crate::polled::Held::default();
        for (_, o) in &self.outcomes {
            match o {
                Outcome::Polled {
                    items: i,
                    new_items,
                    held: h,
                    ..
                } => {
                    items += i;
                    new += new_items;
                    held.add(*h);
                }
                Outcome::NotModified => unchanged += 1,
                Outcome::Failed { .. } | Outcome::Disabled { .. } => {}
            }
        }
        let failed: Vec<_> = self.failed().collect();
        let mut s = format!(
            "polled {}: {} ok ({} unchanged), {} failed; {} items, {} new; {} alert{} written to {}\n",
            crate::views::table::plural(self.outcomes.len() as u64, "feed"),
            self.outcomes.len() - failed.len(),
            unchanged,
            failed.len(),
            items,
            new,
            self.delivered,
            if self.delivered == 1 { "" } else { "s" },
            log.display()
        );
        if held.items > 0 {
            s.push_str(&crate::polled::held_note(held));
        }
        for (name, message) in failed {
            let message = crate::text::sanitize(message); // a stored reason may predate it
            s.push_str(&format!("  failed: {name}: {message}\n"));
        }
        for pass in &self.sinks {
            s.push_str(&format!(
                "  sink {}: {} sent, {} left\n",
                pass.sink, pass.sent, pass.left
            ));
        }
        for undone in self.undone() {
            s.push_str(&format!("  undone: {undone}\n"));
        }
        s
    }
}

impl Service {
    /// Opens the store and the alert log, delivers alerts left pending by a crash, and
    /// applies retention. It never compacts the store: a `once` from cron must not pay for
    /// a compaction (minutes at a year's store); `run` does ([`Service::open_compacting`]).
    pub async fn open(config: Config) -> anyhow::Result<Service> {
        Service::open_with(config, false).await
    }

    /// [`Service::open`], first compacting the store if it has grown far past its live
    /// data: for `run`, which does it on its daily check too.
    pub async fn open_compacting(config: Config) -> anyhow::Result<Service> {
        Service::open_with(config, true).await
    }

    async fn open_with(config: Config, compacting: bool) -> anyhow::Result<Service> {
        let path = config.storage.path.clone();
        let cache = config.storage.cache;
        let patience = keep_systemd_patient("opening the store (migrating or compacting it)");
        let opened = tokio::task::spawn_blocking(move || {
            if compacting {
                Store::open_compacting(&path, cache)
            } else {
                Store::open(&path, cache).map(|s| (s, None))
            }
        })
        .await;
        patience.abort();
        let (store, compacted) = opened??;
        if let Some(c) = compacted {
            log_compacted(&config, &c);
        }
        Service::on_store(config, Arc::new(store), Arc::new(Metrics::starting())).await
    }

    /// The service over a store already open: opens the alert log, delivers alerts left
    /// pending, applies retention. `metrics` carry over when `run` reopens its store.
    pub(crate) async fn on_store(
        config: Config,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Service> {
        let log = AlertLog::open(&config.alerts.log).with_context(|| {
            format!(
                "cannot open the alert log {}; check that its directory is writable",
                config.alerts.log.display()
            )
        })?;
        let service = Service {
            poller: Arc::new(Poller::new(
                Fetcher::new(&config.fetch)?,
                store,
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
        // a new sink's cursor starts at the journal's end: fix it before the first delivery,
        // or the alerts delivered now (pending from the last run) would pass it by
        for sink in &service.config.sinks {
            service
                .poller
                .store
                .sink_cursor(&sink.name)
                .with_context(|| format!("sink {}: reading its cursor", sink.name))?;
        }
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
        // a cutoff before the calendar's start: nothing is that old
        let Some(cutoff) = crate::dates::before(chrono::Utc::now(), keep) else {
            return Ok(0);
        };
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
        deliver::deliver(self.poller.store.clone(), self.log.clone()).await
    }

    /// Polls every enabled feed that is not paused once, all at once within the global and
    /// per-host limits, then delivers to the alert log and from there to every sink
    /// ([`deliver::drain_sinks`]).
    pub async fn once(&self) -> anyhow::Result<Cycle> {
        let feeds = active_feeds(&self.config, &self.poller.store)?;
        let mut cycle = poll_each(&self.poller, feeds).await?;
        cycle.delivered = self.deliver().await?;
        cycle.sinks = deliver::drain_sinks(&self.config.sinks, &self.poller.store).await;
        Ok(cycle)
    }

    /// Polls the feed called `name` now (`feedwatch poll NAME`), then delivers.
    pub async fn poll_one(&self, name: &str) -> anyhow::Result<Cycle> {
        let Some(feed) = self.config.feeds.iter().find(|f| f.name == name) else {
            return Err(unknown_feed(&self.config, name));
        };
        refuse_paused(&self.poller.store, name)?;
        let report = self.poller.poll(feed).await?;
        let mut cycle = Cycle::default();
        cycle.outcomes.push((feed.name.clone(), report.outcome));
        cycle.delivered = self.deliver().await?;
        Ok(cycle)
    }
}

/// The error for a feed name the config does not have: it lists the feeds.
pub fn unknown_feed(config: &Config, name: &str) -> anyhow::Error {
    let names: Vec<&str> = config.feeds.iter().map(|f| f.name.as_str()).collect();
    crate::exit::usage_error(format!(
        "no feed called {name:?} in {}; feeds: {}",
        config.source,
        names.join(", ")
    ))
}

/// An error when the operator paused the feed `name`: `poll NAME` does not override a pause.
pub fn refuse_paused(store: &Store, name: &str) -> anyhow::Result<()> {
    if store.feed_state(name)?.is_some_and(|s| s.paused.is_some()) {
        return Err(crate::exit::usage_error(format!(
            "{name}: paused; `feedwatch resume {name}` first"
        )));
    }
    Ok(())
}

/// The feeds a cycle polls: those on in the config and not paused by an operator.
pub fn active_feeds(
    config: &Config,
    store: &Store,
) -> anyhow::Result<Vec<crate::config::FeedConfig>> {
    let mut feeds = Vec::new();
    for f in config.feeds.iter().filter(|f| f.enabled) {
        if store
            .feed_state(&f.name)?
            .is_none_or(|s| s.paused.is_none())
        {
            feeds.push(f.clone());
        }
    }
    Ok(feeds)
}

/// Polls `feeds` all at once (within the poller's global and per-host limits): their
/// outcomes, by feed name. Used by `once` and by `poll` through the control socket.
pub(super) async fn poll_each(
    poller: &Arc<Poller>,
    feeds: Vec<crate::config::FeedConfig>,
) -> anyhow::Result<Cycle> {
    let mut set = JoinSet::new();
    for feed in feeds {
        let poller = poller.clone();
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
    Ok(cycle)
}
