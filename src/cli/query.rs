//! `feeds`, `items` and `alerts` (with `--follow`): the views, read from the store, or
//! from the running service's API when it holds the store.

use std::io::Write;

use anyhow::Context;
use chrono::Utc;

use super::runtime;
use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::views;

/// `feeds`: each feed's health.
pub(super) fn feeds(config: &Config, json: bool) -> anyhow::Result<()> {
    show(&query(config, "feeds", &[])?, json, |r| {
        views::render_feeds(r, Utc::now())
    })
}

/// `items`: stored items, newest first.
pub(super) fn items(
    config: &Config,
    json: bool,
    feed: Option<String>,
    limit: usize,
) -> anyhow::Result<()> {
    let mut params = vec![("limit", limit.to_string())];
    params.extend(feed.map(|f| ("feed", f)));
    show(&query(config, "items", &params)?, json, views::render_items)
}

/// `alerts`: alerts raised, newest first; with `follow`, then the log's new lines.
pub(super) fn alerts(
    config: &Config,
    json: bool,
    watch: Option<String>,
    limit: usize,
    follow: bool,
) -> anyhow::Result<()> {
    let mut params = vec![("limit", limit.to_string())];
    params.extend(watch.clone().map(|w| ("watch", w)));
    // where the log ends now: what is written after this is followed
    let from = std::fs::metadata(&config.alerts.log).map_or(0, |m| m.len());
    let mut rows = query(config, "alerts", &params)?;
    if !follow {
        return show(&rows, json, views::render_alerts);
    }
    rows.reverse(); // oldest first, then the new ones as they come
    show(&rows, json, views::render_alerts)?;
    follow_log(&config.alerts.log, from, watch.as_deref(), json)
}

/// Where `feeds`, `items` and `alerts` get their data: the store, or the running service
/// that holds it.
enum Source {
    Store(Store),
    Api(String),
}

fn source(config: &Config) -> anyhow::Result<Source> {
    match Store::open(&config.storage.path, config.storage.cache) {
        Ok(store) => Ok(Source::Store(store)),
        Err(e @ StoreError::Held { .. }) => match crate::api::address_of(&config.storage.path) {
            Some(addr) => Ok(Source::Api(format!("http://{addr}"))),
            None => Err(anyhow::Error::new(e)
                .context("the running feedwatch has no api ([api] listen) to ask instead")),
        },
        Err(e) => Err(e.into()),
    }
}

/// The rows of one view, from the store or from the service's API (same objects either way).
fn query(
    config: &Config,
    view: &str,
    params: &[(&str, String)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    match source(config)? {
        Source::Store(store) => Ok(match view {
            "feeds" => views::feeds(config, &store, Utc::now())?,
            "items" => views::items(&store, param("feed"), limit)?,
            _ => views::alerts(&store, param("watch"), limit)?,
        }),
        Source::Api(base) => runtime()?.block_on(async {
            let url = reqwest::Url::parse_with_params(&format!("{base}/api/{view}"), params)?;
            crate::fetch::install_crypto_provider();
            let resp = reqwest::Client::new().get(url.clone()).send().await.with_context(|| {
                format!("the store is held by a running feedwatch, and its API at {base} does not answer")
            })?;
            if !resp.status().is_success() {
                anyhow::bail!("{url}: HTTP {}: {}", resp.status(), resp.text().await.unwrap_or_default());
            }
            let body = resp.text().await?;
            body.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
        }),
    }
}

/// The rows as JSON lines, or rendered for a reader.
fn show(
    rows: &[serde_json::Value],
    json: bool,
    render: impl Fn(&[serde_json::Value]) -> String,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for r in rows {
            writeln!(out, "{r}")?;
        }
    } else {
        write!(out, "{}", render(rows))?;
    }
    Ok(())
}

/// Prints the alert log's new match lines from byte `from` on, forever, reopening the log
/// when it is rotated (a new inode, or a shorter file).
fn follow_log(
    path: &std::path::Path,
    mut from: u64,
    watch: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let mut ino = std::fs::metadata(path).map_or(0, |m| m.ino());
    let mut partial = String::new();
    loop {
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.ino() != ino || meta.len() < from {
                ino = meta.ino();
                from = 0;
                partial.clear();
            }
            if meta.len() > from {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(from))?;
                let mut chunk = String::new();
                let n = file.take(meta.len() - from).read_to_string(&mut chunk)?;
                from += n as u64;
                partial.push_str(&chunk);
                let complete = partial.rfind('\n').map_or(0, |i| i + 1);
                let mut rows = Vec::new();
                for line in partial[..complete].lines() {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    if v["kind"] == "match" && watch.is_none_or(|w| v["watch"] == w) {
                        rows.push(v);
                    }
                }
                partial.drain(..complete);
                show(&rows, json, views::render_alerts)?;
                std::io::stdout().flush()?;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
