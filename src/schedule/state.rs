//! A feed's state between polls, and its transitions: what a success, a 304, a failure or a
//! batch of new items changes, and when the feed is due next. The store persists this record
//! (JSON in its `feeds` tree): its serde form is a stored format, so its field names and
//! defaults must not change.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::alert::HealthLine;
use crate::config::{FeedConfig, ScheduleConfig};
use crate::dedup::{Key, KeyPolicy};
use crate::fetch::Validators;

use super::{HISTORY, Health, after_failure, assess, interval, jitter};

/// What feedwatch remembers about a feed between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedState {
    pub name: String,
    /// The URL polled: the configured one, or where a permanent redirect (301/308) led.
    pub url: String,
    /// The URL in the config when `url` was set; an operator's change there wins.
    pub config_url: String,
    pub validators: Validators,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, in words, and when it happened; cleared by a success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failures since the last success.
    pub failures: u32,
    /// Items first seen in this feed.
    pub items: u64,
    /// How the last document's items were identified.
    pub key_policy: Option<KeyPolicy>,
    /// When the current run of failures began.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the feed is no longer polled (the outlet said 410 Gone); `feedwatch enable` clears it.
    pub disabled: Option<String>,
    /// Polls that brought new items, (when, how many), for the last 30 days.
    pub recent_new: Vec<(DateTime<Utc>, u32)>,
    pub last_new_item: Option<DateTime<Utc>>,
    /// Seconds the feed's copy stays fresh, as the server or the feed's `<ttl>` declared.
    pub fresh_for: Option<u64>,
    pub next_poll: Option<DateTime<Utc>>,
    /// The unhealthy state last written to the alert log ("failing", "stale"), until recovery.
    pub reported: Option<String>,
    /// How the last document was read although ill-formed ("recovered from ill-formed XML:
    /// ..."); cleared by a well-formed one. Not written while empty, so older records and
    /// this one read and write alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    /// When an operator paused the feed (`feedwatch pause`): not polled until `feedwatch
    /// resume`. Absent in stores written before pausing existed, and left out when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<DateTime<Utc>>,
}

/// Why a poll failed, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// Worth retrying soon (timeouts, 5xx, 429...).
    pub transient: bool,
    /// The server's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl FeedState {
    /// A feed never polled before.
    pub fn new(name: &str) -> FeedState {
        FeedState {
            name: name.to_string(),
            ..FeedState::default()
        }
    }

    /// Makes the state agree with the configured URL: an operator's new URL wins over a
    /// remembered redirect, and validators belong to the URL they came from.
    pub fn follow_config(&mut self, url: &Url) {
        if self.config_url != url.as_str() || self.url.is_empty() {
            self.config_url = url.to_string();
            self.url = url.to_string();
            self.validators = Validators::default();
        }
    }

    /// Whether no poll of this feed has succeeded yet (its first success is its backlog).
    pub fn first_poll(&self) -> bool {
        self.last_success.is_none()
    }

    /// A poll at `now` failed with `message`.
    pub fn on_failure(&mut self, message: &str, now: DateTime<Utc>) {
        self.last_poll = Some(now);
        self.failures += 1;
        self.last_error = Some(message.to_string());
        self.last_error_at = Some(now);
        self.failing_since.get_or_insert(now);
    }

    /// The outlet removed the feed (410 Gone): it is not polled until `feedwatch enable`.
    pub fn disable(&mut self, reason: String) {
        self.disabled = Some(reason);
    }

    /// `feedwatch enable`: polls the feed again from its next cycle. Returns whether it was
    /// disabled.
    pub fn enable(&mut self) -> bool {
        let was = self.disabled.take().is_some();
        self.next_poll = None;
        self.failures = 0;
        self.failing_since = None;
        was
    }

    /// A poll at `now` answered 304 Not Modified.
    pub fn on_not_modified(&mut self, now: DateTime<Utc>) {
        self.on_success(now);
    }

    /// A poll at `now` brought a document: from `moved_to` if a permanent redirect led there,
    /// with these validators, fresh for `fresh_for` as the server or the feed declared.
    pub fn on_document(
        &mut self,
        now: DateTime<Utc>,
        moved_to: Option<&Url>,
        validators: Validators,
        fresh_for: Option<Duration>,
    ) {
        self.on_success(now);
        if let Some(to) = moved_to {
            self.url = to.to_string();
        }
        self.validators = validators;
        self.fresh_for = fresh_for.map(|d| d.as_secs());
    }

    fn on_success(&mut self, now: DateTime<Utc>) {
        self.last_poll = Some(now);
        self.last_success = Some(now);
        self.failures = 0;
        self.failing_since = None;
        self.last_error = None;
        self.last_error_at = None;
    }

    /// A poll at `now` found `new_items` items never seen before; history older than
    /// [`HISTORY`] is forgotten.
    pub fn on_new_items(&mut self, new_items: usize, now: DateTime<Utc>) {
        if new_items > 0 {
            self.recent_new.push((now, new_items as u32));
            self.last_new_item = Some(now);
        }
        self.recent_new
            .retain(|(t, _)| now.signed_duration_since(*t).to_std().unwrap_or_default() <= HISTORY);
    }

    /// The wait before the next poll after this poll at `now`: the feed's interval, or after
    /// a failure its backoff; `None` for a disabled feed.
    pub fn wait(
        &self,
        feed: &FeedConfig,
        schedule: &ScheduleConfig,
        failed: Option<Failed>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        if self.disabled.is_some() {
            return None;
        }
        let interval = interval(feed, schedule, self, now);
        Some(match failed {
            None => interval,
            Some(f) => after_failure(
                interval,
                self.failures,
                f.transient,
                f.retry_after,
                schedule.max_backoff,
            ),
        })
    }

    /// Schedules the next poll after `wait` (none: not until enabled), jittered by `unit`
    /// in [0, 1]; returns the jittered wait.
    pub fn next_due(
        &mut self,
        wait: Option<Duration>,
        unit: f64,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let next_in = wait.map(|d| jitter(d, unit));
        // past the calendar's end there is no date to store; the loop still waits `next_in`
        self.next_poll = next_in.and_then(|d| crate::dates::after(now, d));
        next_in
    }

    /// The feed-health line this state calls for at `now`: when the feed has been failing or
    /// stale for `report_after` or longer and no line says so yet, or when it has recovered
    /// after such a line. Remembers what it reported.
    pub fn health_line(
        &mut self,
        now: DateTime<Utc>,
        report_after: Duration,
    ) -> Option<(Key, HealthLine)> {
        let health = assess(self, now);
        match health {
            Health::Failing { since } | Health::Stale { since } if self.reported.is_none() => {
                let word = health.word();
                let long = now
                    .signed_duration_since(since)
                    .to_std()
                    .unwrap_or_default()
                    >= report_after;
                long.then(|| {
                    self.reported = Some(word.to_string());
                    HealthLine::new(&self.name, word, since, self.last_error.as_deref(), now)
                })
            }
            Health::Ok if self.reported.is_some() => {
                self.reported = None;
                let since = self.last_success.unwrap_or(now);
                Some(HealthLine::new(&self.name, "ok", since, None, now))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backlog, Interval};

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn t0() -> DateTime<Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn feed() -> FeedConfig {
        FeedConfig {
            name: "f".into(),
            url: "http://127.0.0.1/f".parse().unwrap(),
            interval: Interval::Fixed(10 * MIN),
            backlog: Backlog::All,
            enabled: true,
            full_text: false,
        }
    }

    fn schedule() -> ScheduleConfig {
        ScheduleConfig {
            min_interval: 5 * MIN,
            max_interval: 24 * HOUR,
            max_backoff: 6 * HOUR,
            report_after: 6 * HOUR,
        }
    }

    /// The stored form is a disk format: a record written before the state moved here (all
    /// fields, by these names) reads back, and an old record missing fields takes defaults.
    #[test]
    fn the_stored_form_reads_back() {
        let old = r#"{"name":"f","url":"https://x.example/rss","config_url":"https://x.example/rss","validators":{"etag":null,"last_modified":null},"last_poll":"2026-11-27T12:00:00Z","last_success":"2026-11-27T12:00:00Z","last_error":null,"last_error_at":null,"failures":0,"items":3,"key_policy":null,"failing_since":null,"disabled":null,"recent_new":[["2026-11-27T12:00:00Z",3]],"last_new_item":"2026-11-27T12:00:00Z","fresh_for":600,"next_poll":null,"reported":null}"#;
        let state: FeedState = serde_json::from_str(old).unwrap();
        assert_eq!((state.items, state.fresh_for), (3, Some(600)));
        assert_eq!(serde_json::to_string(&state).unwrap(), old);
        let sparse: FeedState = serde_json::from_str(r#"{"name":"f","items":2}"#).unwrap();
        assert_eq!(sparse.items, 2);
        assert_eq!(sparse.failures, 0);
    }

    /// Failures count up and back off; a success clears them.
    #[test]
    fn a_failure_backs_off_and_a_success_clears_it() {
        let mut s = FeedState::new("f");
        assert!(s.first_poll());
        let failed = Failed {
            transient: true,
            retry_after: None,
        };
        s.on_failure("HTTP 503", t0());
        s.on_failure("HTTP 503", t0());
        assert_eq!((s.failures, s.failing_since), (2, Some(t0())));
        assert_eq!(
            s.wait(&feed(), &schedule(), Some(failed), t0()),
            Some(2 * MIN)
        );
        s.on_not_modified(t0());
        assert_eq!(
            (s.failures, s.failing_since, s.last_error.as_deref()),
            (0, None, None)
        );
        assert!(!s.first_poll());
        assert_eq!(s.wait(&feed(), &schedule(), None, t0()), Some(10 * MIN));
        s.disable("gone".into());
        assert_eq!(s.wait(&feed(), &schedule(), Some(failed), t0()), None);
        assert!(s.enable());
    }

    /// next_due jitters the wait and sets next_poll; no wait means not scheduled.
    #[test]
    fn next_due_sets_next_poll() {
        let mut s = FeedState::new("f");
        assert_eq!(s.next_due(Some(100 * MIN), 0.0, t0()), Some(95 * MIN));
        assert_eq!(s.next_poll, Some(t0() + chrono::Duration::minutes(95)));
        assert_eq!(s.next_due(None, 0.5, t0()), None);
        assert_eq!(s.next_poll, None);
    }

    /// A document from a new place moves the feed there and keeps its validators.
    #[test]
    fn a_document_records_the_redirect_and_freshness() {
        let mut s = FeedState::new("f");
        s.follow_config(&"https://x.example/old".parse().unwrap());
        let to: Url = "https://x.example/new".parse().unwrap();
        s.on_document(t0(), Some(&to), Validators::default(), Some(30 * MIN));
        assert_eq!(
            (s.url.as_str(), s.fresh_for),
            ("https://x.example/new", Some(1800))
        );
        s.follow_config(&"https://x.example/old".parse().unwrap());
        assert_eq!(s.url, "https://x.example/new", "a redirect is remembered");
        s.follow_config(&"https://x.example/other".parse().unwrap());
        assert_eq!(
            s.url, "https://x.example/other",
            "the operator's change wins"
        );
        s.on_new_items(2, t0());
        s.on_new_items(0, t0() + chrono::Duration::days(31));
        assert!(
            s.recent_new.is_empty(),
            "history older than 30 days is forgotten"
        );
        assert_eq!(s.last_new_item, Some(t0()));
    }

    /// A feed failing for longer than report_after gets one "failing" line, and one "ok"
    /// line when it recovers.
    #[test]
    fn health_lines_are_said_once_per_change() {
        let mut s = FeedState::new("f");
        s.on_not_modified(t0());
        s.on_failure("HTTP 500", t0());
        assert!(
            s.health_line(t0() + chrono::Duration::hours(1), 6 * HOUR)
                .is_none()
        );
        let later = t0() + chrono::Duration::hours(7);
        let (_, line) = s.health_line(later, 6 * HOUR).unwrap();
        assert_eq!(line.state, "failing");
        assert!(s.health_line(later, 6 * HOUR).is_none(), "said once");
        s.on_not_modified(later);
        let (_, line) = s.health_line(later, 6 * HOUR).unwrap();
        assert_eq!(line.state, "ok");
    }
}
