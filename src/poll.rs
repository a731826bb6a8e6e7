//! One poll of one feed, stage by stage: fetch → decode → parse → normalise → dedup keys →
//! watch → decide ([`crate::decide`]) → store (item + alerts in one transaction, with the
//! feed's state) → schedule (the state's transitions, [`crate::schedule::state`]), all in
//! one tracing span named after the feed. Delivery to the alert log is the
//! deliverer's job ([`crate::deliver`]). Every failure is this feed's alone: it is recorded in
//! the feed's state with the step that failed and returned as [`Outcome::Failed`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tracing::{Instrument, info, warn};
use url::Url;

use crate::alert::HealthLine;
use crate::config::{Backlog, FeedConfig, ScheduleConfig};
use crate::dedup::{self, Key};
use crate::fetch::{Fetched, Fetcher, Validators};
use crate::hosts::Hosts;
use crate::parse;
use crate::schedule::{Failed, FeedState, unit_random};
use crate::store::{Finish, Incoming, Store, StoreError};
use crate::watch::Matcher;

/// Items per store transaction.
pub const COMMIT_ITEMS: usize = 500;

/// What one poll needs, shared by all polls.
pub struct Poller {
    pub fetcher: Fetcher,
    pub store: Arc<Store>,
    pub matcher: Arc<Matcher>,
    pub schedule: ScheduleConfig,
    /// Per-host politeness (shared with the article fetches).
    pub hosts: Arc<Hosts>,
    /// Full text for `full_text` feeds.
    pub articles: crate::article::Articles,
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
        /// New items held back as backlog ([`crate::polled::Held`]).
        held: crate::polled::Held,
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
struct Document {
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
        let hosts = Arc::new(Hosts::new(config.fetch.per_host, config.fetch.host_gap));
        let articles = crate::article::Articles::new(
            fetcher.clone(),
            hosts.clone(),
            store.clone(),
            matcher.clone(),
            metrics.clone(),
            &config.fetch,
        );
        Poller {
            fetcher,
            store,
            matcher,
            schedule: config.schedule,
            hosts,
            articles,
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
            .unwrap_or_else(|| FeedState::new(&feed.name));
        state.follow_config(&feed.url);
        Ok(state)
    }

    /// Polls `feed` once (within the global and per-host limits) and records the result, in
    /// one tracing span that names the feed.
    pub async fn poll(&self, feed: &FeedConfig) -> Result<Report, PollError> {
        // at WARN, so that the feed's name is on its warnings under the default filter
        let span = tracing::warn_span!("poll", feed = %feed.name);
        let report = self.poll_feed(feed).instrument(span.clone()).await;
        if let Ok(report) = &report {
            span.in_scope(|| crate::polled::log(report));
        }
        report
    }

    /// One poll, stage by stage: fetch, decode and parse, then (for a new document) keys,
    /// watches, the alert decision and the commit, and the schedule; the feed's state is
    /// written once, at the end.
    async fn poll_feed(&self, feed: &FeedConfig) -> Result<Report, PollError> {
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
        let global = self.in_flight.acquire().await.expect("never closed");
        let started = Instant::now();
        let fetched = {
            let _host = self.hosts.acquire(&url).await;
            self.fetch(&url, &state).await
        };
        let parsed = match fetched {
            Ok(Fetched::Document(doc)) => decode_and_parse(doc, self.max_items).await.map(Some),
            Ok(Fetched::NotModified) => Ok(None),
            Err(failure) => Err(failure),
        };
        let now = Utc::now();
        let (outcome, next_in, health_line) = match parsed {
            Err(failure) => self.failed(feed, &url, &mut state, failure, now),
            Ok(None) => {
                state.on_not_modified(now);
                let (next_in, line) = self.schedule(feed, &mut state, None, unit_random(), now);
                (Outcome::NotModified, next_in, line)
            }
            Ok(Some(doc)) => {
                // a parsed document holds its place until it is committed, so that
                // documents never pile up in memory waiting for the store; waiting for
                // articles is no poll in flight
                if feed.full_text {
                    drop(global);
                }
                return self
                    .record_document(feed, &url, state, doc, now, started)
                    .await
                    .map_err(store_err);
            }
        };
        let health_line = self.save(&state, health_line).map_err(store_err)?;
        self.count(&outcome, started.elapsed());
        Ok(Report {
            outcome,
            next_in,
            health_line,
        })
    }

    /// A failed poll: counted in the state, backed off (or the feed disabled, for 410 Gone),
    /// and said in the log.
    fn failed(
        &self,
        feed: &FeedConfig,
        url: &Url,
        state: &mut FeedState,
        mut f: Failure,
        now: DateTime<Utc>,
    ) -> (Outcome, Option<Duration>, Option<(Key, HealthLine)>) {
        // outside text (reqwest, feed-rs, a document quoted) and URLs with secrets
        f.message = crate::text::sanitize(&f.message);
        let shown = crate::redact::redact_url(url.as_str());
        state.on_failure(&f.message, now);
        if let Some(r) = f.retry_after
            && let Some(pause) = self.hosts.rate_limited(url, &feed.name, r)
        {
            warn!(host = %crate::hosts::authority(url), pause = ?pause, "several feeds of this host are rate-limited: pausing the host");
        }
        if f.gone {
            let reason = format!(
                "{shown} answered 410 Gone on {}: the outlet removed this feed; `feedwatch enable {}` polls it again",
                crate::views::table::time(now),
                feed.name
            );
            warn!(url = %shown, "feed disabled: {reason}");
            state.disable(reason);
        }
        let failed = Failed {
            transient: f.transient,
            retry_after: f.retry_after,
        };
        let wait = state.wait(feed, &self.schedule, Some(failed), now);
        if let (false, Some(delay)) = (f.gone, wait) {
            warn!(url = %shown, failures = state.failures, retry_in = %humantime::format_duration(Duration::from_secs(delay.as_secs())), error = %f.message, "poll failed");
        }
        let next_in = state.next_due(wait, unit_random(), now);
        let line = state.health_line(now, self.schedule.report_after);
        let outcome = Outcome::Failed {
            message: f.message,
            transient: f.transient,
        };
        (outcome, next_in, line)
    }

    /// A new document: its items keyed, matched and committed with the alerts that
    /// [`crate::decide`] raises, and the feed's state (scheduled) with them. The new items
    /// of a `full_text` feed wait for their articles first ([`crate::article`]).
    async fn record_document(
        &self,
        feed: &FeedConfig,
        url: &Url,
        mut state: FeedState,
        doc: Document,
        now: DateTime<Utc>,
        started: Instant,
    ) -> Result<Report, StoreError> {
        let first_poll = state.first_poll();
        if let Some(to) = &doc.moved_to {
            info!(from = %crate::redact::redact_url(url.as_str()), to = %crate::redact::redact_url(to.as_str()), "feed moved permanently (301/308): polling the new URL from now on");
        }
        let ttl = doc
            .parsed
            .ttl_minutes
            .map(|m| Duration::from_secs(u64::from(m) * 60));
        state.on_document(
            now,
            doc.moved_to.as_ref(),
            doc.validators,
            doc.fresh_for.max(ttl),
        );
        if let Some(note) = &doc.parsed.recovered {
            warn!(note = %crate::text::sanitize(note), "the document is ill-formed; its items were read from a repaired copy");
        }
        state.recovered = doc.parsed.recovered.clone();
        let items = doc.parsed.items_in_document;
        let parsed_items = self.first_items(doc.parsed.items, items);
        let policy = key_policy(&mut state, &parsed_items);
        let mut incoming = self.prepare(feed, parsed_items, policy, first_poll, now);
        let articles = match feed.full_text {
            true => self.articles.fetch(feed, &mut incoming).await,
            false => Default::default(),
        };
        let (new_items, alerts, next_in, health_line) = self.commit(feed, state, &incoming, now)?;
        self.articles.store(feed, &incoming, articles);
        let outcome = Outcome::Polled {
            items,
            new_items,
            alerts,
            held: crate::polled::Held::of(&incoming, new_items),
        };
        self.count(&outcome, started.elapsed());
        Ok(Report {
            outcome,
            next_in,
            health_line,
        })
    }

    /// The items read from a document: its first `fetch.max_items`.
    /// `in_document` is how many the document has (it may have been cut before parsing).
    fn first_items(&self, mut items: Vec<parse::Item>, in_document: usize) -> Vec<parse::Item> {
        if in_document > self.max_items {
            let n = in_document;
            warn!(
                items = n,
                max_items = self.max_items,
                "the document has {n} items; only its first {} are read (fetch.max_items)",
                self.max_items
            );
            items.truncate(self.max_items);
        }
        items
    }

    /// Commits a document's items with their alerts, and with the last part the feed's
    /// state, its new items counted and its next poll scheduled. Each item commits with its
    /// alerts; a huge document commits in parts so that no transaction grows without bound.
    /// Returns (new items, alerts, next poll in, whether a health line was queued).
    fn commit(
        &self,
        feed: &FeedConfig,
        mut state: FeedState,
        incoming: &[Incoming],
        now: DateTime<Utc>,
    ) -> Result<(usize, usize, Option<Duration>, bool), StoreError> {
        let unit = unit_random();
        let scheduled = std::cell::RefCell::new((None, None));
        let mut parts: Vec<&[Incoming]> = incoming.chunks(COMMIT_ITEMS).collect();
        if parts.is_empty() {
            parts.push(&[]); // an empty document still records the poll
        }
        let last = parts.len() - 1;
        let (mut new_items, mut alerts, mut health_line) = (0, 0, false);
        for (i, part) in parts.into_iter().enumerate() {
            let before = new_items;
            let finish = |state: &mut FeedState, new: usize| {
                state.on_new_items(before + new, now);
                let (next_in, line) = self.schedule(feed, state, None, unit, now);
                let text = line.as_ref().map(|(id, l)| (*id, l.to_line()));
                *scheduled.borrow_mut() = (next_in, line.map(|(_, l)| l));
                text
            };
            let finish: Option<Finish> = (i == last).then_some(&finish);
            let committed = self.store.commit_poll_part(&state, part, now, finish)?;
            for a in &committed.alerts {
                info!(watch = %a.watch, alert = %a.id, title = %a.title, "alert");
                self.metrics.alert(&a.watch);
            }
            state = committed.state;
            new_items += committed.new_items;
            alerts += committed.alerts.len();
            health_line = committed.health_line;
        }
        let (next_in, line) = scheduled.into_inner();
        if let Some(line) = line {
            warn!(state = %line.state, since = %line.since, "feed health");
        }
        Ok((new_items, alerts, next_in, health_line))
    }

    /// Schedules the feed's next poll after this one (jittered by `unit`) and returns when
    /// it is due with the feed-health line that the state now calls for, if any.
    fn schedule(
        &self,
        feed: &FeedConfig,
        state: &mut FeedState,
        failed: Option<Failed>,
        unit: f64,
        now: DateTime<Utc>,
    ) -> (Option<Duration>, Option<(Key, HealthLine)>) {
        let wait = state.wait(feed, &self.schedule, failed, now);
        let next_in = state.next_due(wait, unit, now);
        (next_in, state.health_line(now, self.schedule.report_after))
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

    /// Saves the feed's state, with its feed-health line if it calls for one.
    fn save(&self, state: &FeedState, line: Option<(Key, HealthLine)>) -> Result<bool, StoreError> {
        // an operator's pause or resume made while this poll ran wins over the state it read
        let mut state = state.clone();
        if let Some(stored) = self.store.feed_state(&state.name)? {
            state.paused = stored.paused;
        }
        let state = &state;
        match line {
            Some((id, line)) => {
                warn!(state = %line.state, since = %line.since, "feed health");
                self.store.record_health(state, id, &line.to_line())
            }
            None => self.store.save_feed_state(state).map(|()| false),
        }
    }

    /// Fetches `url` with the state's validators. `Ok(NotModified)` is a 304.
    async fn fetch(&self, url: &Url, state: &FeedState) -> Result<Fetched, Failure> {
        match self.fetcher.fetch(url, &state.validators).await {
            Ok(fetched) => {
                if let Fetched::Document(doc) = &fetched {
                    self.metrics
                        .bytes_fetched
                        .fetch_add(doc.body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(fetched)
            }
            Err(e) => Err(Failure {
                message: format!("fetching {url}: {e}"),
                transient: e.is_transient(),
                retry_after: e.retry_after(),
                gone: e.is_gone(),
            }),
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
                // the article, for full_text feeds, is matched when it arrives (crate::article)
                let fired = crate::article::fire(
                    &self.matcher,
                    std::slice::from_ref(&feed.name),
                    &item,
                    None,
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

/// Decodes a fetched document to UTF-8 and parses it, off the async threads; a parser
/// panic stays this feed's failure.
async fn decode_and_parse(
    doc: Box<crate::fetch::Document>,
    max_items: usize,
) -> Result<Document, Failure> {
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
    // parsing is CPU-bound: a permit per core bounds the documents in memory at once
    let _parsing = parse::parsing_permit().await;
    let parsed = tokio::task::spawn_blocking(move || {
        parse::read(doc.body, &doc.url, doc.content_type.as_deref(), max_items)
    })
    .await;
    match parsed {
        Ok(Ok(parsed)) => Ok(Document {
            validators,
            parsed,
            moved_to,
            fresh_for,
        }),
        Ok(Err((e, encoding))) => Err(failure(format!(
            "parsing {base} ({}, {encoding}): {e}",
            content_type.as_deref().unwrap_or("no content type")
        ))),
        Err(join) => Err(failure(format!(
            "parsing {base}: the parser task failed: {join}"
        ))),
    }
}

/// The key policy for this document's items (DESIGN.md, "Item identity"), kept in the
/// feed's state; a change is logged once.
fn key_policy(state: &mut FeedState, items: &[parse::Item]) -> dedup::KeyPolicy {
    let (policy, changed) = dedup::next_policy(state.key_policy, items);
    if changed {
        // said once per change: the policy is part of the feed's stored state
        info!(policy = ?policy, "{}", policy_note(policy));
    }
    state.key_policy = Some(policy);
    policy
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

/// Whether an item of a feed's first poll may alert (DESIGN.md, "Backlog"): undated items
/// count as backlog; a date up to a day in the future counts as now, a date further ahead
/// as no date (a clock a little fast, not an item dated 2999).
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
            Some(p) if p > now + chrono::Duration::days(1) => false,
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
            within_backlog(day, Some(now + chrono::Duration::hours(23)), now),
            "up to a day ahead counts as now"
        );
        assert!(
            !within_backlog(day, Some(now + chrono::Duration::days(3)), now),
            "further ahead counts as no date"
        );
        assert!(!within_backlog(day, None, now), "undated is backlog");
        assert!(within_backlog(Backlog::All, None, now));
        assert!(!within_backlog(Backlog::None, Some(now), now));
    }
}
