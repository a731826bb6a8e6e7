//! One poll of one feed, stage by stage: fetch → decode → parse → normalise → dedup keys →
//! watch → store (item + alerts in one transaction). Delivery to the alert log is the
//! deliverer's job ([`crate::deliver`]). Every failure is this feed's alone: it is recorded in
//! the feed's state with the step that failed and returned as [`Outcome::Failed`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::{Backlog, FeedConfig};
use crate::decode;
use crate::dedup;
use crate::fetch::{Fetched, Fetcher};
use crate::parse;
use crate::store::{FeedState, Incoming, Store, StoreError};
use crate::watch::{Field, Matcher};

/// What one poll needs, shared by all polls.
pub struct Poller {
    pub fetcher: Fetcher,
    pub store: Arc<Store>,
    pub matcher: Arc<Matcher>,
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
}

/// A poll that could not be recorded: only the store failing stops the service.
#[derive(Debug, thiserror::Error)]
#[error("recording poll of {feed}: {source}")]
pub struct PollError {
    pub feed: String,
    #[source]
    pub source: StoreError,
}

impl Poller {
    /// Polls `feed` once and records the result.
    pub async fn poll(&self, feed: &FeedConfig) -> Result<Outcome, PollError> {
        let started = Instant::now();
        let span = tracing::info_span!("poll", feed = %feed.name);
        let _enter = span.enter();
        drop(_enter);
        let store_err = |source| PollError {
            feed: feed.name.clone(),
            source,
        };
        let mut state = self
            .store
            .feed_state(&feed.name)
            .map_err(store_err)?
            .unwrap_or_else(|| FeedState {
                name: feed.name.clone(),
                ..FeedState::default()
            });
        // Validators belong to a URL: a changed URL starts over.
        if state.url != feed.url.as_str() {
            state.url = feed.url.to_string();
            state.validators = Default::default();
        }
        let now = Utc::now();
        state.last_poll = Some(now);
        let first_poll = state.last_success.is_none();

        let result = self.fetch_and_parse(feed, &state).await;
        let outcome = match result {
            Err(failure) => {
                state.failures += 1;
                state.last_error = Some(failure.message.clone());
                state.last_error_at = Some(now);
                warn!(feed = %feed.name, url = %feed.url, failures = state.failures, error = %failure.message, "poll failed");
                self.store.save_feed_state(&state).map_err(store_err)?;
                Outcome::Failed {
                    message: failure.message,
                    transient: failure.transient,
                }
            }
            Ok(None) => {
                mark_success(&mut state, now);
                self.store.save_feed_state(&state).map_err(store_err)?;
                Outcome::NotModified
            }
            Ok(Some((doc_validators, parsed))) => {
                mark_success(&mut state, now);
                state.validators = doc_validators;
                let items = parsed.items.len();
                let (policy, changed) = dedup::next_policy(state.key_policy, &parsed.items);
                if changed {
                    // said once per change: the policy is part of the feed's stored state
                    info!(feed = %feed.name, policy = ?policy, "{}", policy_note(policy));
                }
                state.key_policy = Some(policy);
                let incoming = self.prepare(feed, parsed.items, policy, first_poll, now);
                let committed = self
                    .store
                    .commit_poll(&state, &incoming, now)
                    .map_err(store_err)?;
                for a in &committed.alerts {
                    info!(feed = %feed.name, watch = %a.watch, alert = %a.id, title = %a.title, "alert");
                }
                Outcome::Polled {
                    items,
                    new_items: committed.new_items,
                    alerts: committed.alerts.len(),
                }
            }
        };
        tracing::debug!(feed = %feed.name, elapsed = ?started.elapsed(), outcome = ?outcome, "poll done");
        Ok(outcome)
    }

    /// Fetch, decode and parse. `Ok(None)` is a 304.
    async fn fetch_and_parse(
        &self,
        feed: &FeedConfig,
        state: &FeedState,
    ) -> Result<Option<(crate::fetch::Validators, parse::ParsedFeed)>, Failure> {
        let doc = match self.fetcher.fetch(&feed.url, &state.validators).await {
            Ok(Fetched::NotModified) => return Ok(None),
            Ok(Fetched::Document(doc)) => doc,
            Err(e) => {
                return Err(Failure {
                    message: format!("fetching {}: {e}", feed.url),
                    transient: e.is_transient(),
                });
            }
        };
        let url = doc.url.clone();
        let content_type = doc.content_type.clone();
        let validators = doc.validators.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let decoded = decode::to_utf8(&doc.body, doc.content_type.as_deref());
            let encoding = decoded.encoding;
            parse::parse(&decoded.text, &doc.url, doc.content_type.as_deref())
                .map_err(|e| (e, encoding))
        })
        .await;
        match parsed {
            Ok(Ok(parsed)) => Ok(Some((validators, parsed))),
            Ok(Err((e, encoding))) => Err(Failure {
                message: format!(
                    "parsing {url} ({}, {encoding}): {e}",
                    content_type.as_deref().unwrap_or("no content type")
                ),
                transient: false,
            }),
            Err(join) => Err(Failure {
                message: format!("parsing {url}: the parser task failed: {join}"),
                transient: false,
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
                let cats = item.categories.join(" · ");
                let fired = self.matcher.check(&[
                    (Field::Title, &item.title),
                    (Field::Summary, &item.summary),
                    (Field::Content, &item.content),
                    (Field::Categories, &cats),
                ]);
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

struct Failure {
    message: String,
    transient: bool,
}

fn mark_success(state: &mut FeedState, now: DateTime<Utc>) {
    state.last_success = Some(now);
    state.failures = 0;
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
