//! One poll of one feed, stage by stage: fetch → decode → parse → normalise → dedup keys →
//! watch → store (item + alerts in one transaction). Delivery to the alert log is the
//! deliverer's job ([`crate::deliver`]). Every failure is this feed's alone: it is recorded in
//! the feed's state with the step that failed and returned as [`Outcome::Failed`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tracing::{info, warn};
use url::Url;

use crate::alert::HealthLine;
use crate::config::{Backlog, FeedConfig, ScheduleConfig};
use crate::decode;
use crate::dedup;
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::hosts::Hosts;
use crate::parse;
use crate::schedule::{self, Health};
use crate::store::{FeedState, Incoming, Store, StoreError};
use crate::watch::{ItemText, Matcher};

/// Items per store transaction.
pub const COMMIT_ITEMS: usize = 500;

/// What one poll needs, shared by all polls.
pub struct Poller {
    pub fetcher: Fetcher,
    pub store: Arc<Store>,
    pub matcher: Arc<Matcher>,
    pub schedule: ScheduleConfig,
    /// Per-host politeness.
    pub hosts: Hosts,
    /// Polls in flight at once, over all feeds (`fetch.concurrency`).
    pub in_flight: Semaphore,
    /// Items read from one document (`fetch.max_items`).
    pub max_items: usize,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How a poll ended.
#[derive(Debug)]
pub enum Outcome {
    /// 304: nothing changed.
    NotModified,
    Polled {
        items: usize,
        new_items: usize,
        alerts: usize,
    },
    /// The feed failed at some step; the message names the step.
    Failed { message: String, transient: bool },
    /// Not polled: disabled after the outlet said 410 Gone.
    Disabled { reason: String },
}

/// A poll's outcome and when the feed is due again (`None`: not until an operator enables it).
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub next_in: Option<Duration>,
    /// Whether a feed-health line was recorded for the alert log.
    pub health_line: bool,
}

/// A poll that could not be recorded: only the store failing stops the service.
#[derive(Debug, thiserror::Error)]
#[error("recording poll of {feed}: {source}")]
pub struct PollError {
    pub feed: String,
    #[source]
    pub source: StoreError,
}

/// A failed fetch or parse, in words, with what the scheduler needs to know.
struct Failure {
    message: String,
    transient: bool,
    retry_after: Option<Duration>,
    gone: bool,
}

/// What a successful fetch and parse yielded.
struct Fetch {
    validators: Validators,
    parsed: parse::ParsedFeed,
    moved_to: Option<Url>,
    fresh_for: Option<Duration>,
}

impl Poller {
    pub fn new(
        fetcher: Fetcher,
        store: Arc<Store>,
        matcher: Arc<Matcher>,
        config: &crate::config::Config,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Poller {
        Poller {
            fetcher,
            store,
            matcher,
            schedule: config.schedule,
            hosts: Hosts::new(config.fetch.per_host, config.fetch.host_gap),
            in_flight: Semaphore::new(config.fetch.concurrency),
            max_items: config.fetch.max_items,
            metrics,
        }
    }

    /// The feed's stored state, made to agree with its current config.
    pub fn state(&self, feed: &FeedConfig) -> Result<FeedState, StoreError> {
        let mut state = self
            .store
            .feed_state(&feed.name)?
            .unwrap_or_else(|| FeedState {
                name: feed.name.clone(),
                ..FeedState::default()
            });
        // An operator's new URL wins over a remembered redirect; validators belong to a URL.
        if state.config_url != feed.url.as_str() || state.url.is_empty() {
            state.config_url = feed.url.to_string();
            state.url = feed.url.to_string();
            state.validators = Validators::default();
        }
        Ok(state)
    }

    /// Polls `feed` once (within the global and per-host limits) and records the result.
    pub async fn poll(&self, feed: &FeedConfig) -> Result<Report, PollError> {
        let store_err = |source| PollError {
            feed: feed.name.clone(),
            source,
        };
        let mut state = self.state(feed).map_err(store_err)?;
        if let Some(reason) = state.disabled.clone() {
            return Ok(Report {
                outcome: Outcome::Disabled { reason },
                next_in: None,
                health_line: false,
            });
        }
        let url = Url::parse(&state.url).unwrap_or_else(|_| feed.url.clone());
        let _global = self.in_flight.acquire().await.expect("never closed");
        let started = Instant::now();
        let result = {
            let _host = self.hosts.acquire(&url).await;
            self.fetch_and_parse(&url, &state).await
        };
        let now = Utc::now();
        state.last_poll = Some(now);
        let first_poll = state.last_success.is_none();

        let (outcome, delay) = match result {
            Err(f) => {
                state.failures += 1;
                state.last_error = Some(f.message.clone());
                state.last_error_at = Some(now);
                state.failing_since.get_or_insert(now);
                let interval = schedule::interval(feed, &self.schedule, &state, now);
                let mut delay = schedule::after_failure(
                    interval,
                    state.failures,
                    f.transient,
                    f.retry_after,
                    self.schedule.max_backoff,
                );
                if let Some(r) = f.retry_after {
                    if let Some(pause) = self.hosts.rate_limited(&url, &feed.name, r) {
                        warn!(feed = %feed.name, host = %crate::hosts::authority(&url), pause = ?pause, "several feeds of this host are rate-limited: pausing the host");
                    }
                }
                if f.gone {
                    let reason = format!(
                        "{url} answered 410 Gone on {}: the outlet removed this feed; `feedwatch enable {}` polls it again",
                        now.format("%Y-%m-%d %H:%M UTC"),
                        feed.name
                    );
                    warn!(feed = %feed.name, url = %url, "feed disabled: {reason}");
                    state.disabled = Some(reason);
                    delay = Duration::MAX;
                } else {
                    warn!(feed = %feed.name, url = %url, failures = state.failures, retry_in = %humantime::format_duration(Duration::from_secs(delay.as_secs())), error = %f.message, "poll failed");
                }
                let outcome = Outcome::Failed {
                    message: f.message,
                    transient: f.transient,
                };
                (outcome, delay)
            }
            Ok(None) => {
                mark_success(&mut state, now);
                (
                    Outcome::NotModified,
                    schedule::interval(feed, &self.schedule, &state, now),
                )
            }
            Ok(Some(fetch)) => {
                mark_success(&mut state, now);
                if let Some(to) = &fetch.moved_to {
                    info!(feed = %feed.name, from = %url, to = %to, "feed moved permanently (301/308): polling the new URL from now on");
                    state.url = to.to_string();
                }
                state.validators = fetch.validators;
                let ttl = fetch
                    .parsed
                    .ttl_minutes
                    .map(|m| Duration::from_secs(u64::from(m) * 60));
                state.fresh_for = fetch.fresh_for.max(ttl).map(|d| d.as_secs());
                let items = fetch.parsed.items.len();
                let mut parsed_items = fetch.parsed.items;
                if items > self.max_items {
                    warn!(feed = %feed.name, items, max_items = self.max_items, "the document has {items} items; only its first {} are read (fetch.max_items)", self.max_items);
                    parsed_items.truncate(self.max_items);
                }
                let (policy, changed) = dedup::next_policy(state.key_policy, &parsed_items);
                if changed {
                    // said once per change: the policy is part of the feed's stored state
                    info!(feed = %feed.name, policy = ?policy, "{}", policy_note(policy));
                }
                state.key_policy = Some(policy);
                let incoming = self.prepare(feed, parsed_items, policy, first_poll, now);
                // Each item commits with its alerts; a huge document commits in parts so
                // that no transaction grows without bound.
                let (mut new_items, mut alerts) = (0, 0);
                for part in incoming.chunks(COMMIT_ITEMS) {
                    let committed = self
                        .store
                        .commit_poll(&state, part, now)
                        .map_err(store_err)?;
                    for a in &committed.alerts {
                        info!(feed = %feed.name, watch = %a.watch, alert = %a.id, title = %a.title, "alert");
                        self.metrics.alert(&a.watch);
                    }
                    state.items = committed.state.items;
                    new_items += committed.new_items;
                    alerts += committed.alerts.len();
                }
                if new_items > 0 {
                    state.recent_new.push((now, new_items as u32));
                    state.last_new_item = Some(now);
                }
                state.recent_new.retain(|(t, _)| {
                    now.signed_duration_since(*t).to_std().unwrap_or_default() <= schedule::HISTORY
                });
                let outcome = Outcome::Polled {
                    items,
                    new_items,
                    alerts,
                };
                (
                    outcome,
                    schedule::interval(feed, &self.schedule, &state, now),
                )
            }
        };
        let next_in =
            (delay != Duration::MAX).then(|| schedule::jitter(delay, schedule::unit_random()));
        // past the calendar's end there is no date to store; the loop still waits `next_in`
        state.next_poll = next_in.and_then(|d| crate::dates::after(now, d));
        let health_line = self.record(&mut state, now).map_err(store_err)?;
        self.count(&outcome, started.elapsed());
        Ok(Report {
            outcome,
            next_in,
            health_line,
        })
    }

    fn count(&self, outcome: &Outcome, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        m.observe_poll(took);
        match outcome {
            Outcome::NotModified => m.polls_not_modified.fetch_add(1, Relaxed),
            Outcome::Polled {
                items, new_items, ..
            } => {
                m.items_seen.fetch_add(*items as u64, Relaxed);
                m.items_new.fetch_add(*new_items as u64, Relaxed);
                m.polls_ok.fetch_add(1, Relaxed)
            }
            Outcome::Failed { .. } | Outcome::Disabled { .. } => {
                m.polls_failed.fetch_add(1, Relaxed)
            }
        };
    }

    /// Saves the feed's state, with a feed-health line when it has been failing or stale for
    /// longer than `schedule.report_after`, or has recovered after such a line.
    fn record(&self, state: &mut FeedState, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let line = match schedule::assess(state, now) {
            Health::Failing { since } | Health::Stale { since } if state.reported.is_none() => {
                let word = schedule::assess(state, now).word();
                let long = now
                    .signed_duration_since(since)
                    .to_std()
                    .unwrap_or_default()
                    >= self.schedule.report_after;
                long.then(|| {
                    state.reported = Some(word.to_string());
                    HealthLine::new(&state.name, word, since, state.last_error.as_deref(), now)
                })
            }
            Health::Ok if state.reported.is_some() => {
                state.reported = None;
                let since = state.last_success.unwrap_or(now);
                Some(HealthLine::new(&state.name, "ok", since, None, now))
            }
            _ => None,
        };
        match line {
            Some((id, line)) => {
                warn!(feed = %state.name, state = %line.state, since = %line.since, "feed health");
                self.store.record_health(state, id, &line.to_line())
            }
            None => self.store.save_feed_state(state).map(|()| false),
        }
    }

    /// Fetch, decode and parse. `Ok(None)` is a 304.
    async fn fetch_and_parse(
        &self,
        url: &Url,
        state: &FeedState,
    ) -> Result<Option<Fetch>, Failure> {
        let doc = match self.fetcher.fetch(url, &state.validators).await {
            Ok(Fetched::NotModified) => return Ok(None),
            Ok(Fetched::Document(doc)) => {
                self.metrics
                    .bytes_fetched
                    .fetch_add(doc.body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                doc
            }
            Err(e) => {
                return Err(Failure {
                    message: format!("fetching {url}: {e}"),
                    transient: e.is_transient(),
                    retry_after: e.retry_after(),
                    gone: e.is_gone(),
                });
            }
        };
        let failure = |message: String| Failure {
            message,
            transient: false,
            retry_after: None,
            gone: false,
        };
        let content_type = doc.content_type.clone();
        let (validators, moved_to, fresh_for) =
            (doc.validators.clone(), doc.moved_to.clone(), doc.fresh_for);
        let base = doc.url.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let decoded = decode::to_utf8(&doc.body, doc.content_type.as_deref());
            let encoding = decoded.encoding;
            parse::parse(&decoded.text, &doc.url, doc.content_type.as_deref())
                .map_err(|e| (e, encoding))
        })
        .await;
        match parsed {
            Ok(Ok(parsed)) => Ok(Some(Fetch {
                validators,
                parsed,
                moved_to,
                fresh_for,
            })),
            Ok(Err((e, encoding))) => Err(failure(format!(
                "parsing {base} ({}, {encoding}): {e}",
                content_type.as_deref().unwrap_or("no content type")
            ))),
            Err(join) => Err(failure(format!(
                "parsing {base}: the parser task failed: {join}"
            ))),
        }
    }

    /// The pure stages after parsing: keys, text digest, watches, backlog rule.
    fn prepare(
        &self,
        feed: &FeedConfig,
        items: Vec<parse::Item>,
        policy: dedup::KeyPolicy,
        first_poll: bool,
        now: DateTime<Utc>,
    ) -> Vec<Incoming> {
        let keys = dedup::keys(&feed.name, &items, policy);
        items
            .into_iter()
            .zip(keys)
            .map(|(item, keys)| {
                let fired = self.matcher.check_item(
                    Some(std::slice::from_ref(&feed.name)),
                    &ItemText {
                        title: &item.title,
                        summary: &item.summary,
                        content: &item.content,
                        categories: &item.categories,
                        link: item.link.as_deref(),
                    },
                );
                Incoming {
                    may_alert: !first_poll || within_backlog(feed.backlog, item.published, now),
                    digest: dedup::text_digest(&item),
                    keys,
                    item,
                    fired,
                }
            })
            .collect()
    }
}

/// The log line for a feed whose key policy changed to `policy`.
fn policy_note(policy: dedup::KeyPolicy) -> &'static str {
    match policy {
        dedup::KeyPolicy::Guid => {
            "item keys: this feed's guids look reliable again; identifying items by guid"
        }
        dedup::KeyPolicy::Link => {
            "item keys: more than 5% of this feed's guids are blank or repeated; identifying items by link"
        }
        dedup::KeyPolicy::Content => {
            "item keys: more than 5% of this feed's guids and links are blank or repeated; identifying items by title, date and text"
        }
    }
}

fn mark_success(state: &mut FeedState, now: DateTime<Utc>) {
    state.last_success = Some(now);
    state.failures = 0;
    state.failing_since = None;
    state.last_error = None;
    state.last_error_at = None;
}

/// Whether an item of a feed's first poll may alert (DESIGN.md, "Backlog"): undated items
/// count as backlog; a date in the future counts as now.
pub fn within_backlog(
    backlog: Backlog,
    published: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    match backlog {
        Backlog::All => true,
        Backlog::None => false,
        Backlog::Window(w) => match published {
            None => false,
            Some(p) => {
                let p = p.min(now);
                now.signed_duration_since(p)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    <= w
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_rule() {
        let now = Utc::now();
        let day = Backlog::Window(Duration::from_secs(86400));
        assert!(within_backlog(
            day,
            Some(now - chrono::Duration::hours(2)),
            now
        ));
        assert!(!within_backlog(
            day,
            Some(now - chrono::Duration::hours(25)),
            now
        ));
        assert!(
            within_backlog(day, Some(now + chrono::Duration::days(3)), now),
            "future counts as now"
        );
        assert!(!within_backlog(day, None, now), "undated is backlog");
        assert!(within_backlog(Backlog::All, None, now));
        assert!(!within_backlog(Backlog::None, Some(now), now));
    }
}
