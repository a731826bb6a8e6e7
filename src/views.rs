//! What `feeds`, `items` and `alerts` show, as JSON objects (one per line with `--json`,
//! and the body of the API's `/api/feeds|items|alerts`) and as text for a person. The CLI
//! and the API build them here from the store, so an operator sees the same thing whether
//! the command opened the store or asked the running service.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alert::rfc3339;
use crate::config::Config;
use crate::dedup::Key;
use crate::fetch::redact_url;
use crate::schedule::{self, Health};
use crate::store::{self, Store};
use crate::text;

/// One object per feed of the config, then per feed only the store knows.
pub fn feeds(config: &Config, store: &Store, now: DateTime<Utc>) -> store::Result<Vec<Value>> {
    let states = store.feed_states()?;
    let mut names: Vec<&str> = config.feeds.iter().map(|f| f.name.as_str()).collect();
    for s in &states {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let mut rows = Vec::new();
    for name in names {
        let conf = config.feeds.iter().find(|f| f.name == name);
        let st = states
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_default();
        let health = schedule::assess(&st, now);
        let state = match conf {
            None => "not in config",
            Some(c) if !c.enabled => "paused",
            _ => health.word(),
        };
        let since = match health {
            Health::Failing { since } | Health::Stale { since } => Some(since),
            _ => None,
        };
        let per_day = schedule::items_last_week(&st, now) as f64 / 7.0;
        rows.push(json!({
            "feed": name,
            "url": if st.url.is_empty() { conf.map(|c| redact_url(c.url.as_str())) } else { Some(redact_url(&st.url)) },
            "state": state,
            "since": since.map(rfc3339),
            "last_poll": st.last_poll.map(rfc3339),
            "last_success": st.last_success.map(rfc3339),
            // stored by older versions raw: cleaned and redacted on the way out too
            "last_error": st.last_error.as_deref().map(text::sanitize),
            "last_error_at": st.last_error_at.map(rfc3339),
            "disabled": st.disabled.as_deref().map(text::sanitize),
            "failures": st.failures,
            "next_poll": st.next_poll.map(rfc3339),
            "items": st.items,
            "items_per_day": (per_day * 10.0).round() / 10.0,
        }));
    }
    Ok(rows)
}

/// Stored items, newest first.
pub fn items(store: &Store, feed: Option<&str>, limit: usize) -> store::Result<Vec<Value>> {
    let items = store.items()?;
    Ok(items
        .iter()
        .filter(|i| feed.is_none_or(|f| i.feeds.iter().any(|x| x == f)))
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|i| {
            json!({
                "feed": i.feeds[0],
                "feeds": i.feeds,
                "key": i.key,
                "guid": i.guid,
                "title": i.title,
                "link": i.link,
                "published": i.published.map(rfc3339),
                "first_seen": rfc3339(i.first_seen),
            })
        })
        .collect())
}

/// Alerts raised, newest first: the objects of the alert log, each with `feeds`, every feed
/// its story has been seen in so far, first-seen first (the alert's `feed` alone once
/// retention has dropped the item).
pub fn alerts(store: &Store, watch: Option<&str>, limit: usize) -> store::Result<Vec<Value>> {
    let alerts = store.alerts()?;
    alerts
        .iter()
        .filter(|a| watch.is_none_or(|w| a.watch == w))
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|a| {
            // only the items of the alerts shown are read
            let stored = match Key::from_hex(&a.item) {
                Some(key) => store.item(key)?,
                None => None,
            };
            let mut v = serde_json::to_value(a).expect("alerts serialise");
            v["feeds"] = json!(stored.map_or_else(|| vec![a.feed.clone()], |i| i.feeds));
            Ok(v)
        })
        .collect()
}

/// A string field as a person sees it: the fields come from feeds, servers and older
/// stores, so they are [`text::clean`]ed (no escape sequences reach the terminal).
fn str_of(v: &Value, key: &str) -> String {
    text::clean(v[key].as_str().unwrap_or(""))
}

fn time_of(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v[key].as_str().and_then(|s| s.parse().ok())
}

pub fn render_feeds(rows: &[Value], now: DateTime<Utc>) -> String {
    let mut out = format!(
        "{:<16} {:<22} {:<16} {:>5} {:<14} {:>7} {:>9}  LAST ERROR\n",
        "FEED", "STATE", "LAST SUCCESS", "FAILS", "NEXT POLL", "ITEMS", "ITEMS/DAY"
    );
    for r in rows {
        let mut state = str_of(r, "state");
        if let Some(since) = time_of(r, "since") {
            state = format!("{state} since {}", since.format("%m-%d %H:%M"));
        }
        let error = text::sanitize(
            r["disabled"]
                .as_str()
                .or(r["last_error"].as_str())
                .unwrap_or(""),
        );
        let _ = writeln!(
            out,
            "{:<16} {:<22} {:<16} {:>5} {:<14} {:>7} {:>9.1}  {}",
            str_of(r, "feed"),
            state,
            time_of(r, "last_success").map_or("-".into(), |t| ago(t, now)),
            r["failures"].as_u64().unwrap_or(0),
            time_of(r, "next_poll").map_or("-".into(), |t| until(t, now)),
            r["items"].as_u64().unwrap_or(0),
            r["items_per_day"].as_f64().unwrap_or(0.0),
            error
        );
    }
    out
}

pub fn render_items(rows: &[Value]) -> String {
    let mut out = String::new();
    for i in rows {
        let when = time_of(i, "published")
            .or(time_of(i, "first_seen"))
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{when}  {:<16} {}  {}",
            str_of(i, "feed"),
            str_of(i, "title"),
            str_of(i, "link")
        );
    }
    out
}

pub fn render_alerts(rows: &[Value]) -> String {
    let mut out = String::new();
    for a in rows {
        let _ = writeln!(
            out,
            "{}  [{}]  {}: {}",
            str_of(a, "detected"),
            str_of(a, "watch"),
            str_of(a, "feed"),
            str_of(a, "title")
        );
        let feed = str_of(a, "feed");
        let also: Vec<String> = a["feeds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(text::clean)
            .filter(|f| *f != feed)
            .collect();
        if !also.is_empty() {
            let _ = writeln!(out, "    also in: {}", also.join(", "));
        }
        if let Some(link) = a["link"].as_str() {
            let _ = writeln!(out, "    {}", text::clean(link));
        }
        for m in a["matches"].as_array().into_iter().flatten() {
            // the rule a term belongs to, unless it is the plain any-list
            let rule = match str_of(m, "rule").as_str() {
                "" | "any" => String::new(),
                r => format!(" ({r})"),
            };
            let _ = writeln!(
                out,
                "    {:?}{rule} in {}: {}",
                str_of(m, "term"),
                str_of(m, "field"),
                str_of(m, "snippet")
            );
        }
    }
    out
}

fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = t.signed_duration_since(now).num_seconds();
    if secs <= 0 {
        return "due".into();
    }
    format!("in {}", rounded(secs as u64))
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = now.signed_duration_since(t).num_seconds().max(0) as u64;
    format!("{} ago", rounded(secs))
}

fn rounded(secs: u64) -> humantime::FormattedDuration {
    humantime::format_duration(std::time::Duration::from_secs(if secs > 3600 {
        secs / 60 * 60
    } else {
        secs
    }))
}
