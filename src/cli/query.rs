//! `feeds`, `items` and `alerts` (with `--follow`): the views, read from the store, or
//! from the running service's API when it holds the store.

use std::io::Write;

use chrono::Utc;

use super::runtime;
use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::views::{self, table};

/// `feeds`: each feed's health.
pub(super) fn feeds(config: &Config, json: bool) -> anyhow::Result<()> {
    let rows = query(config, "feeds", &[])?;
    if rows.is_empty() && !json {
        return Ok(table::say_empty(&format!(
            "no feeds yet: {} has no [[feeds]] entry; `feedwatch feed add NAME URL` adds one",
            config.source
        ))?);
    }
    show(&rows, json, |r| views::render_feeds(r, Utc::now()))
}

/// `items`: stored items, newest first.
pub(super) fn items(
    config: &Config,
    json: bool,
    select: Select,
    limit: usize,
) -> anyhow::Result<()> {
    let filters = described(&select);
    let params = params(limit, select);
    let mut print = views::Printer::new(json, "items");
    query_each(config, "items", &params, &mut |r| print.row(r))?;
    print.finish()?;
    if print.rows == 0 && !json {
        table::say_empty(&match filters {
            None if !config.storage.path.exists() => format!(
                "no items yet: there is no store at {} yet (nothing has been polled with this \
                 config); the service makes it at its first start, `feedwatch once` polls every feed",
                config.storage.path.display()
            ),
            None => format!(
                "no items yet: the store {} holds none; `feedwatch once` polls every feed",
                config.storage.path.display()
            ),
            Some(f) => format!("no items match {f}"),
        })?;
    }
    Ok(())
}

/// `alerts`: alerts raised, newest first; with `follow`, then the log's new lines.
pub(super) fn alerts(
    config: &Config,
    json: bool,
    select: Select,
    limit: usize,
    follow: bool,
) -> anyhow::Result<()> {
    let watch = select.1.clone();
    let filters = described(&select);
    let params = params(limit, select);
    // where the log ends now: what is written after this is followed
    let from = std::fs::metadata(&config.alerts.log).map_or(0, |m| m.len());
    let mut print = views::Printer::new(json, "alerts");
    if !follow {
        query_each(config, "alerts", &params, &mut |r| print.row(r))?;
    } else {
        let mut rows = query(config, "alerts", &params)?;
        rows.reverse(); // oldest first, then the new ones as they come
        for r in rows {
            print.row(r)?;
        }
    }
    print.finish()?;
    if print.rows == 0 && !json {
        table::say_empty(&match filters {
            None => "no alerts yet: no watch has fired on a new item. Items held back as backlog \
                     at a feed's first poll never alert (`feedwatch rematch --dry-run` lists what \
                     they would raise); `feedwatch items` lists what is stored, `feedwatch match \
                     --text TEXT` tries the watches"
                .to_string(),
            Some(f) => format!("no alerts match {f}"),
        })?;
    }
    if follow {
        return follow_log(&config.alerts.log, from, watch.as_deref(), json);
    }
    Ok(())
}

/// The options that narrowed a query, for its empty answer (`None`: none given).
fn described((feed, watch, when): &Select) -> Option<String> {
    let mut parts = Vec::new();
    parts.extend(feed.as_ref().map(|f| format!("--feed {f}")));
    parts.extend(watch.as_ref().map(|w| format!("--watch {w}")));
    parts.extend(when.since.as_ref().map(|s| format!("--since {s}")));
    parts.extend(when.until.as_ref().map(|u| format!("--until {u}")));
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// `--feed`, `--watch`, `--since` and `--until`.
pub(super) type Select = (Option<String>, Option<String>, super::When);

/// The query parameters of `items` and `alerts` (the API's names).
fn params(limit: usize, (feed, watch, when): Select) -> Vec<(&'static str, String)> {
    let mut params = vec![("limit", limit.to_string())];
    params.extend(feed.map(|f| ("feed", f)));
    params.extend(watch.map(|w| ("watch", w)));
    params.extend(when.since.map(|s| ("since", s)));
    params.extend(when.until.map(|u| ("until", u)));
    params
}

/// Where `feeds`, `items` and `alerts` get their data: the store, or the running service
/// that holds it.
enum Source {
    Store(Store),
    Api(String),
}

/// A store held by a service without an address file beside it is asked again for this
/// long: the file may be between two places (a compaction swapping the directory).
const ADDRESS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn source(config: &Config) -> anyhow::Result<Source> {
    let deadline = std::time::Instant::now() + ADDRESS_WAIT;
    loop {
        match Store::open_existing(&config.storage.path, config.storage.cache) {
            Ok(store) => return Ok(Source::Store(store)),
            Err(e @ StoreError::Held { .. }) => {
                match crate::api::address_of(&config.storage.path) {
                    Some(addr) => return Ok(Source::Api(format!("http://{addr}"))),
                    None if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    None => {
                        return Err(anyhow::Error::new(e).context(
                            "the running feedwatch has no api ([api] listen) to ask instead",
                        ));
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The rows of one view, from the store or from the service's API (same objects either way).
fn query(
    config: &Config,
    view: &str,
    params: &[(&str, String)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut rows = Vec::new();
    query_each(config, view, params, &mut |r| {
        rows.push(r);
        Ok(())
    })?;
    Ok(rows)
}

/// Each row of one view, as it is read (from the store, or page by page from the API).
fn query_each(
    config: &Config,
    view: &str,
    params: &[(&str, String)],
    each: &mut dyn FnMut(serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let source = match source(config) {
        // before the first poll, `items` and `alerts` have an empty answer (said as such)
        Err(e) if matches!(view, "items" | "alerts") && not_yet(&e) => {
            // the names and times are still checked: a typo is not an empty answer
            crate::filter::Filter::from_params(config, None, &[], param, Utc::now())
                .map_err(|e| crate::exit::usage_error(format!("{view}: {e}")))?;
            return Ok(());
        }
        found => found?,
    };
    match source {
        Source::Store(store) => views::each_row(config, &store, view, param, each),
        Source::Api(base) => runtime()?.block_on(crate::api::each_row(&base, view, params, each)),
    }
}

/// Whether `e` says the store has not been made yet (nothing polled with this config).
fn not_yet(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::NotYet { .. })
    )
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
