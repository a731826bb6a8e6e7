//! The clocks of [`super::Service::run`] and the loop of one feed: split from `run.rs`,
//! which keeps the service's lifecycle.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Interval;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::FeedConfig;
use crate::deliver::Wakes;
use crate::notify;
use crate::poll::{Outcome, Poller};

/// One feed's schedule: wait until due, poll, repeat; the poller says when it is due next.
pub(super) async fn feed_loop(
    poller: Arc<Poller>,
    feed: FeedConfig,
    first: Duration,
    wakes: Arc<Wakes>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if crate::cluster::is_active() {
        return crate::cluster::feed_loop(poller, feed, first, wakes, stop).await;
    }
    let mut delay = first;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        let report = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            report = poller.poll(&feed) => report?,
        };
        if report.health_line
            || matches!(report.outcome, Outcome::Polled { alerts, .. } if alerts > 0)
        {
            wakes.deliver.notify_one();
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

/// The service's clocks, kept across reloads.
pub(super) struct Timers {
    /// Every 5 s: the scheduler is alive (`/healthz`).
    pub(super) heartbeat: Interval,
    /// Every 30 s: systemd's `STATUS=` line.
    pub(super) status: Interval,
    /// Daily: retention and the compaction check (see [`maintenance_every`]).
    pub(super) maintenance: Interval,
    /// Half systemd's `WatchdogSec=`; ticks only matter when `watchdog_on`.
    pub(super) watchdog: Interval,
    /// Whether systemd asked for watchdog pings.
    pub(super) watchdog_on: bool,
}

impl Timers {
    pub(super) fn new() -> Timers {
        let every = |d: Duration| {
            tokio::time::interval_at(
                crate::dates::instant_after(tokio::time::Instant::now(), d),
                d,
            )
        };
        let watchdog = notify::watchdog_interval();
        Timers {
            heartbeat: tokio::time::interval(Duration::from_secs(5)),
            status: every(Duration::from_secs(30)),
            maintenance: every(maintenance_every()),
            watchdog: every(watchdog.map_or(Duration::from_secs(3600), |w| w / 2)),
            watchdog_on: watchdog.is_some(),
        }
    }
}
