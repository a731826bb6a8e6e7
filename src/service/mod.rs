//! The service: opening the store and the alert log, `once` (one cycle over every feed),
//! `poll` (one feed now), and [`Service::run`] (each feed on its own schedule until told to
//! stop: `run.rs`; what tells it to: `control.rs`). Moving alerts to the alert log, then to
//! the sinks, is the deliverer's job ([`crate::deliver`]); this module owns the lifecycle
//! around it.
//!
//! Polls run under a semaphore (`fetch.concurrency`); a failing feed backs off on its own
//! schedule and never holds up the others.

mod control;
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

pub use control::{Control, signals};
pub use run::RETENTION_EVERY;

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
        Service::on_store(config, Arc::new(store), Arc::new(Metrics::default())).await
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
}
