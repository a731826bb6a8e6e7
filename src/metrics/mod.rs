//! Counters of what the service does, for `GET /metrics` (Prometheus text format).
//!
//! Plain atomics, bumped by the poller and the deliverer; gauges that the store knows
//! (feeds by state, store size) are read when scraped, and so are the process's own
//! figures (from /proc/self). Every series an alerting rule may name is there
//! from the first scrape: one `feedwatch_alerts_total` per configured watch (0 until it
//! fires), one `feedwatch_feeds` per state. docs/metrics.md lists them all.

mod process;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the poll-duration histogram, in seconds.
pub const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Default)]
pub struct Metrics {
    pub polls_ok: AtomicU64,
    pub polls_not_modified: AtomicU64,
    pub polls_failed: AtomicU64,
    pub items_new: AtomicU64,
    pub items_seen: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub lines_delivered: AtomicU64,
    /// Alerts raised, per watch.
    pub alerts: Mutex<BTreeMap<String, u64>>,
    /// Poll durations: counts per bucket of [`BUCKETS`] (+Inf last), sum in microseconds.
    duration_buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_us: AtomicU64,
    /// Unix seconds of the scheduler's last sign of life, for `/healthz`.
    pub heartbeat: AtomicI64,
    /// Why the last delivery to the alert log failed, until one succeeds.
    pub delivery_error: Mutex<Option<String>>,
}

/// The states of `feedwatch_feeds{state}`, each shown from the start (0 when none).
/// `never_polled` is a configured feed without a success yet, `disabled` one that answered
/// 410 Gone, `off` one with `enabled = false` in the config, `paused` one paused by
/// `feedwatch pause`.
pub const FEED_STATES: [&str; 7] = [
    "ok",
    "failing",
    "stale",
    "disabled",
    "paused",
    "off",
    "never_polled",
];

/// Gauges read at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Configured feeds per state of [`FEED_STATES`] (a missing state counts 0).
    pub feeds: BTreeMap<&'static str, u64>,
    /// Per configured feed: Unix seconds of its last successful poll (0: none yet).
    pub last_success: Vec<(String, i64)>,
    /// The configured watches: each has an alert counter, 0 until it fires.
    pub watches: Vec<String>,
    pub store_bytes: u64,
    pub pending_lines: u64,
}

impl Metrics {
    pub fn observe_poll(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.duration_buckets[i].fetch_add(1, Relaxed);
        self.duration_sum_us
            .fetch_add(d.as_micros() as u64, Relaxed);
    }

    pub fn alert(&self, watch: &str) {
        *self
            .alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(watch.to_string())
            .or_default() += 1;
    }

    /// The metrics of a service starting now: its start is its first sign of life, so
    /// `/healthz` does not call it silent before the scheduler's first beat.
    pub fn starting() -> Metrics {
        let m = Metrics::default();
        m.beat();
        m
    }

    pub fn beat(&self) {
        self.heartbeat
            .store(chrono::Utc::now().timestamp(), Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: &Gauges) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, lines: Vec<(String, u64)>| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in lines {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        counter(
            "feedwatch_polls_total",
            "Polls by outcome.",
            vec![
                ("{outcome=\"ok\"}".into(), self.polls_ok.load(Relaxed)),
                (
                    "{outcome=\"not_modified\"}".into(),
                    self.polls_not_modified.load(Relaxed),
                ),
                (
                    "{outcome=\"failed\"}".into(),
                    self.polls_failed.load(Relaxed),
                ),
            ],
        );
        counter(
            "feedwatch_items_new_total",
            "Items seen for the first time.",
            vec![(String::new(), self.items_new.load(Relaxed))],
        );
        counter(
            "feedwatch_items_seen_total",
            "Items read from feeds, new or not.",
            vec![(String::new(), self.items_seen.load(Relaxed))],
        );
        counter(
            "feedwatch_fetched_bytes_total",
            "Feed bytes received, after decompression.",
            vec![(String::new(), self.bytes_fetched.load(Relaxed))],
        );
        counter(
            "feedwatch_log_lines_delivered_total",
            "Lines appended to the alert log.",
            vec![(String::new(), self.lines_delivered.load(Relaxed))],
        );
        // every configured watch from the start (0), and a watch no longer configured that
        // fired since the start: counters never go away within a process
        let mut alerts = self
            .alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for w in &g.watches {
            alerts.entry(w.clone()).or_default();
        }
        counter(
            "feedwatch_alerts_total",
            "Alerts raised, by watch.",
            alerts
                .iter()
                .map(|(w, n)| (format!("{{watch=\"{}\"}}", escape(w)), *n))
                .collect(),
        );
        let _ = writeln!(
            s,
            "# HELP feedwatch_poll_duration_seconds Time from request to recorded result.\n# TYPE feedwatch_poll_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.duration_buckets[i].load(Relaxed);
            let _ = writeln!(
                s,
                "feedwatch_poll_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += self.duration_buckets[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(
            s,
            "feedwatch_poll_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            s,
            "feedwatch_poll_duration_seconds_sum {}",
            self.duration_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "feedwatch_poll_duration_seconds_count {cumulative}");
        let _ = writeln!(
            s,
            "# HELP feedwatch_feeds Configured feeds by state.\n# TYPE feedwatch_feeds gauge"
        );
        for state in FEED_STATES {
            let n = g.feeds.get(state).copied().unwrap_or(0);
            let _ = writeln!(s, "feedwatch_feeds{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP feedwatch_feed_last_success_timestamp_seconds Unix time of each configured feed's last successful poll (0: none yet).\n# TYPE feedwatch_feed_last_success_timestamp_seconds gauge"
        );
        for (feed, t) in &g.last_success {
            let _ = writeln!(
                s,
                "feedwatch_feed_last_success_timestamp_seconds{{feed=\"{}\"}} {t}",
                escape(feed)
            );
        }
        for (name, help, v) in [
            (
                "feedwatch_store_bytes",
                "Size of the store directory.",
                g.store_bytes,
            ),
            (
                "feedwatch_log_lines_pending",
                "Alert-log lines committed but not yet delivered.",
                g.pending_lines,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP feedwatch_build_info The running version (always 1).\n# TYPE feedwatch_build_info gauge\nfeedwatch_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        process::render(&mut s);
        s
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::default();
        m.polls_ok.fetch_add(3, Relaxed);
        m.alert("cis");
        m.alert("cis");
        m.observe_poll(Duration::from_millis(70));
        m.observe_poll(Duration::from_secs(100));
        let text = m.render(&Gauges {
            feeds: [("failing", 2)].into_iter().collect(),
            watches: vec!["cis".into(), "quiet".into()],
            last_success: vec![("a\"b".into(), 1_700_000_000)],
            ..Gauges::default()
        });
        assert!(
            text.contains("feedwatch_polls_total{outcome=\"ok\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_alerts_total{watch=\"cis\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_poll_duration_seconds_bucket{le=\"0.05\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_poll_duration_seconds_bucket{le=\"0.1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_poll_duration_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_alerts_total{watch=\"quiet\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("feedwatch_feeds{state=\"failing\"} 2"),
            "{text}"
        );
        for state in FEED_STATES {
            assert!(
                text.contains(&format!("feedwatch_feeds{{state=\"{state}\"}} ")),
                "{text}"
            );
        }
        assert!(
            text.contains(
                "feedwatch_feed_last_success_timestamp_seconds{feed=\"a\\\"b\"} 1700000000"
            ),
            "{text}"
        );
        assert!(text.contains("feedwatch_fetched_bytes_total 0"), "{text}");
        assert!(text.contains("feedwatch_build_info{version=\""), "{text}");
        assert!(!text.contains("feedwatch_feeds_failing"), "{text}");
    }
}
