//! Sinks: the destinations configured by `[[sinks]]`, beyond the alert log. The alert log
//! itself is not a sink: it is written first, by [`crate::deliver`]. This file owns the
//! loop every sink runs; one file per kind owns its wire format: `webhook` (a JSON POST
//! signed with HMAC-SHA256), `exec` (a command that gets the alert JSON on stdin), `ntfy`,
//! `telegram` (with its per-chat rate limiter), `matrix`, `chat` (Slack and Discord
//! incoming webhooks), `email` (SMTP). `message` renders the text the people-facing kinds send (a default
//! or the sink's `template`), `http` reads a receiver's answer.
//!
//! A sink never blocks polling. Lines reach it from the store's delivery journal, in the
//! order they were written to the alert log, after the log has them; each sink keeps its
//! own cursor in the store, so a sink that fails (receiver down, command failing) retries
//! with backoff from where it stopped, across restarts, and the others go on. Delivery is
//! at least once: a receiver can drop a repeated line by its `id`. With `every`, a sink
//! gets digests: one JSON array (one message) of everything since the last one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{SinkConfig, SinkKind};
use crate::store::Store;

mod chat;
mod email;
mod exec;
mod http;
mod matrix;
mod ntfy;
pub mod telegram;
mod webhook;

pub use webhook::{SIGNATURE_HEADER, hmac_sha256_hex};

/// Longest wait between two attempts of a failing sink.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// Whether a sink takes this alert-log line: match lines of its watches (all when it names
/// none), and feed-health lines when it names no watch.
pub(crate) fn wanted(sink: &SinkConfig, line: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    match v["kind"].as_str() {
        Some("match") => {
            sink.watches.is_empty() || sink.watches.iter().any(|w| v["watch"] == w.as_str())
        }
        _ => sink.watches.is_empty(),
    }
}

/// Runs one sink until `stop`: waits for new journal lines (`wake`), sends them, advances
/// its cursor; on failure retries with doubling waits up to [`MAX_RETRY`].
///
/// `stop` ends it at once, also in the middle of a send (an `exec` command is killed): the
/// cursor has not moved past that send, so its lines go out again on the next start.
pub async fn run(sink: SinkConfig, store: Arc<Store>, wake: Arc<Notify>, stop: CancellationToken) {
    stop.run_until_cancelled(send_from_journal(sink, store, wake))
        .await;
}

/// [`run`]'s loop, which never ends on its own unless the sink cannot start.
async fn send_from_journal(sink: SinkConfig, store: Arc<Store>, wake: Arc<Notify>) {
    let client = match client(&sink) {
        Ok(c) => c,
        Err(e) => {
            warn!(sink = %sink.name, error = %e, "sink cannot start");
            return;
        }
    };
    let mut retry = Duration::ZERO;
    loop {
        // digests wait for their period; single alerts for the next delivery
        let wait = if !retry.is_zero() {
            retry
        } else {
            sink.every.unwrap_or(Duration::from_secs(3600))
        };
        tokio::select! {
            _ = wake.notified(), if sink.every.is_none() && retry.is_zero() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let s = store.clone();
        let name = sink.name.clone();
        let text = !matches!(sink.kind, SinkKind::Webhook { .. } | SinkKind::Exec { .. });
        let batch = tokio::task::spawn_blocking(
            move || -> crate::store::Result<(u64, Vec<(u64, String)>)> {
                let cursor = s.sink_cursor(&name)?;
                let mut entries = s.journal_after(cursor, 500)?;
                if text {
                    for (_, line) in &mut entries {
                        *line = with_feeds(&s, line);
                    }
                }
                Ok((cursor, entries))
            },
        )
        .await;
        let (cursor, entries) = match batch {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                warn!(sink = %sink.name, error = %e, "sink cannot read the store");
                retry = next_retry(retry);
                continue;
            }
            Err(_) => return,
        };
        let Some(last) = entries.last().map(|(seq, _)| *seq) else {
            retry = Duration::ZERO;
            continue;
        };
        let lines: Vec<&String> = entries
            .iter()
            .map(|(_, l)| l)
            .filter(|l| wanted(&sink, l))
            .collect();
        // the cursor moves past what was sent; a failure resends from the first unsent line
        let mut done = cursor;
        let mut result = Ok(String::new());
        if sink.every.is_some() {
            if !lines.is_empty() {
                let lines: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
                result = send(&sink, &client, &lines, true).await;
            }
        } else {
            for (seq, line) in entries.iter().filter(|(_, l)| wanted(&sink, l)) {
                result = send(&sink, &client, &[line.as_str()], false).await;
                if result.is_err() {
                    break;
                }
                done = *seq;
            }
        }
        if result.is_ok() {
            done = last;
        }
        if done != cursor {
            let _ = store.set_sink_cursor(&sink.name, done);
        }
        match result {
            Ok(_) => {
                if !lines.is_empty() {
                    info!(sink = %sink.name, lines = lines.len(), "sink delivered");
                }
                retry = Duration::ZERO;
                if entries.len() >= 500 {
                    wake.notify_one(); // more waiting
                }
            }
            Err(e) => {
                // a receiver that says how long to wait (429 retry_after) is obeyed
                retry = e.retry_after.unwrap_or_else(|| next_retry(retry));
                let error = crate::text::sanitize(&e.message);
                warn!(sink = %sink.name, error = %error, retry_in = ?retry, "sink delivery failed; retrying");
            }
        }
    }
}

fn next_retry(current: Duration) -> Duration {
    if current.is_zero() {
        Duration::from_secs(1)
    } else {
        (current * 2).min(MAX_RETRY)
    }
}

/// A match line with `feeds` added: every feed the store has seen its story in so far
/// (the line's `feed` is only the first), for the messages people read. Blocking.
fn with_feeds(store: &Store, line: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let item = v["item"].as_str().and_then(crate::dedup::Key::from_hex);
    match item.map(|k| store.item(k)) {
        Some(Ok(Some(stored))) if v["kind"] == "match" && !stored.feeds.is_empty() => {
            v["feeds"] = stored.feeds.into();
            v.to_string()
        }
        _ => line.to_string(),
    }
}

/// The HTTP client of a sink: its `timeout`, and no redirects.
pub(crate) fn client(sink: &SinkConfig) -> reqwest::Result<reqwest::Client> {
    crate::fetch::install_crypto_provider();
    // A redirect is a failed delivery, never followed: 301/302/303 would turn the POST into
    // a bodiless GET that a 200 makes look delivered, 307/308 re-POST the signed body to
    // wherever the Location says, and a loop would POST ten times per attempt.
    reqwest::Client::builder()
        .timeout(sink.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A failed delivery: what went wrong (no secrets in it), and how long the receiver asked
/// us to wait before the next attempt, if it did.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            retry_after: None,
        }
    }
}

/// Sends alert-log `lines` (one, or a digest's) to the sink; what the receiver answered.
pub(crate) async fn send(
    sink: &SinkConfig,
    client: &reqwest::Client,
    lines: &[&str],
    digest: bool,
) -> Result<String, Failure> {
    let json = || {
        if digest {
            format!("[{}]", lines.join(","))
        } else {
            lines.first().copied().unwrap_or_default().to_string()
        }
    };
    match &sink.kind {
        SinkKind::Webhook { url, secret } => {
            webhook::send(client, url, secret.as_deref(), json()).await
        }
        SinkKind::Exec { command } => exec::exec(command, sink.timeout, json())
            .await
            .map(|()| "exited 0".to_string())
            .map_err(Failure::from),
        kind => {
            let alerts: Vec<serde_json::Value> = lines
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let msg = crate::message::Message {
                sink: &sink.name,
                template: sink.template.as_deref(),
                alerts: &alerts,
                digest,
            };
            match kind {
                SinkKind::Ntfy(n) => ntfy::send(client, n, &msg).await,
                SinkKind::Telegram(t) => telegram::send(client, t, &msg).await,
                SinkKind::Matrix(m) => matrix::send(client, m, &msg).await,
                SinkKind::Slack { url } => chat::send(client, url, chat::Chat::Slack, &msg).await,
                SinkKind::Discord { url } => {
                    chat::send(client, url, chat::Chat::Discord, &msg).await
                }
                SinkKind::Email(e) => email::send(e, sink.timeout, &msg).await,
                SinkKind::Webhook { .. } | SinkKind::Exec { .. } => unreachable!("matched above"),
            }
        }
    }
}

/// `feedwatch sinks test`: sends `alert` (an alert-log line) through `sink` once, now,
/// outside the journal and its cursor; what the receiver answered.
pub async fn send_sample(sink: &SinkConfig, alert: &str) -> Result<String, Failure> {
    let client = client(sink).map_err(|e| Failure::from(format!("building its client: {e}")))?;
    send(sink, &client, &[alert], false).await
}
