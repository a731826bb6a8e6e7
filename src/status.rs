//! `feedwatch status`: one screen about the service: version, uptime, config, store path and
//! size, feeds by state, alerts of the last 24 hours per watch, pending deliveries (alert
//! log and each sink), the next polls. `--json` prints the same as one object, a
//! documented format (docs/operations.md):
//!
//! ```json
//! {"version":"0.1.0","running":true,"uptime_secs":3600,"config":"/etc/feedwatch/feedwatch.toml",
//!  "store":{"path":"/var/lib/feedwatch/store","bytes":1048576},
//!  "feeds":{"ok":4,"failing":1},"alerts_24h":{"cis":3,"csto":0},
//!  "pending":{"alert log":0,"sinks":{"ops":2}},
//!  "next_polls":[{"feed":"tass","at":"2026-11-30T12:00:00Z"}]}
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::Config;
use crate::store::Store;
use crate::views::table::{self, Column, Table};

/// Next polls listed.
const NEXT: usize = 5;

/// The status object. `started`: when the running service started (`None`: no service).
pub fn status(
    config: &Config,
    store: &Store,
    started: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let rows = crate::views::feeds(config, store, now)?;
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    let mut next: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let mut state = r["state"].as_str().unwrap_or("unknown").to_string();
        if r["last_poll"].is_null() && state == "ok" {
            state = "never polled".into();
        }
        *states.entry(state.clone()).or_default() += 1;
        if let (Some(at), "ok" | "failing" | "stale") = (r["next_poll"].as_str(), state.as_str()) {
            next.push((at.to_string(), r["feed"].as_str().unwrap_or("").to_string()));
        }
    }
    next.sort();
    let mut alerts: BTreeMap<String, u64> =
        config.watches.iter().map(|w| (w.name.clone(), 0)).collect();
    let since = now - chrono::Duration::hours(24);
    for a in store.alerts_newest(None)? {
        let (_, a) = a?;
        match a.detected.parse::<DateTime<Utc>>() {
            Ok(t) if t >= since => *alerts.entry(a.watch).or_default() += 1,
            _ => break,
        }
    }
    let mut sinks = BTreeMap::new();
    for s in &config.sinks {
        let cursor = store.sink_cursor(&s.name)?;
        sinks.insert(s.name.clone(), store.journal_after(cursor, 100_000)?.len());
    }
    let bytes = crate::store::compact::dir_size(store.path()).unwrap_or(0);
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "running": started.is_some(),
        "uptime_secs": started.map(|s| (now - s).num_seconds()),
        "config": config.source,
        "store": {"path": store.path().display().to_string(), "bytes": bytes},
        "feeds": states,
        "alerts_24h": alerts,
        "pending": {"alert log": store.pending_count(), "sinks": sinks},
        "next_polls": next.iter().take(NEXT).map(|(at, feed)| json!({"feed": feed, "at": at})).collect::<Vec<_>>(),
    }))
}

/// The status a running service gives while its store is out (compacting, or reopening
/// it): what it knows without the store; `store.state` says why, the store's figures are
/// null.
pub fn without_store(
    config: &Config,
    path: &std::path::Path,
    why: &str,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "running": true,
        "uptime_secs": (now - started).num_seconds(),
        "config": config.source,
        "store": {"path": path.display().to_string(), "bytes": crate::store::compact::dir_size(path).ok(), "state": why},
        "feeds": {"configured": config.feeds.len()},
        "alerts_24h": null,
        "pending": null,
        "next_polls": [],
    })
}

/// The status for a person.
pub fn render(s: &Value) -> String {
    let mut out = format!("feedwatch {}", s["version"].as_str().unwrap_or(""));
    match s["uptime_secs"].as_i64() {
        Some(up) => out.push_str(&format!(
            ", running for {}\n",
            table::short(up.max(0) as u64)
        )),
        None => out.push_str(", not running\n"),
    }
    out.push_str(&format!(
        "config   {}\n",
        s["config"].as_str().unwrap_or("")
    ));
    out.push_str(&format!(
        "store    {} ({:.1} MiB)\n",
        s["store"]["path"].as_str().unwrap_or(""),
        s["store"]["bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0
    ));
    if let Some(why) = s["store"]["state"].as_str() {
        out.push_str(&format!("         out of reach: {why}\n"));
    }
    out.push_str(&format!("feeds    {}\n", counts(&s["feeds"])));
    out.push_str(&format!(
        "alerts   last 24 h: {}\n",
        counts(&s["alerts_24h"])
    ));
    let mut pending = match &s["pending"] {
        Value::Null => "(unknown while the store is out)".to_string(),
        p => format!("alert log {}", p["alert log"]),
    };
    if let Some(sinks) = s["pending"]["sinks"].as_object() {
        for (name, n) in sinks {
            pending.push_str(&format!(", sink {name} {n}"));
        }
    }
    out.push_str(&format!("pending  {pending}\n"));
    let now = Utc::now();
    let next: Vec<Vec<String>> = s["next_polls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let at = p["at"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            vec![
                format!("  {}", p["feed"].as_str().unwrap_or("")),
                at.map_or("-".into(), |t| match t <= now {
                    true => "due".into(),
                    false => table::time_and_relative(t, now),
                }),
            ]
        })
        .collect();
    if next.is_empty() {
        out.push_str("next     (no poll due: no feed is on)\n");
    } else {
        out.push_str("next polls\n");
        let columns = [Column::name("  FEED", 8), Column::time("DUE")];
        out.push_str(&Table::render(&columns, &next, table::width()));
    }
    out
}

/// `ok 4, failing 1`.
fn counts(v: &Value) -> String {
    let parts: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "(none)".into()
    } else {
        parts.join(", ")
    }
}
