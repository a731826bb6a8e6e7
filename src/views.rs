//! What `feeds`, `items` and `alerts` show, as JSON objects (one per line with `--json`,
//! and the body of the API's `/api/feeds|items|alerts`) and as text for a person. The CLI
//! and the API build them here from the store, so an operator sees the same thing whether
//! the command opened the store or asked the running service.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alert::{Alert, rfc3339};
use crate::config::Config;
use crate::dedup::Key;
use crate::redact::redact_url;
use crate::schedule::{self, Health};
use crate::store::{self, Cursor, Store};
use crate::text;

pub mod table;
mod text_view;

pub use text_view::{Printer, render_alerts, render_feeds, render_items};

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
            Some(c) if !c.enabled => "off in config",
            _ if st.paused.is_some() => "paused",
            _ => health.word(),
        };
        // what the scheduler will poll: enabled in the config, not paused, not disabled
        let polled = conf.is_some_and(|c| c.enabled)
            && st.paused.is_none()
            && !matches!(health, Health::Disabled { .. });
        let since = match health {
            Health::Failing { since } | Health::Stale { since } => Some(since),
            _ => None,
        };
        let per_day = schedule::items_last_week(&st, now) as f64 / 7.0;
        let mut row = json!({
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
            "recovered": st.recovered.as_deref().map(text::sanitize),
            "failures": st.failures,
            // a feed that is not polled (paused, off, gone from the config, disabled) has no
            // next poll to show, whatever its stored schedule says
            "next_poll": st.next_poll.filter(|_| polled).map(rfc3339),
            "items": st.items,
            "items_per_day": (per_day * 10.0).round() / 10.0,
        });
        // full_text feeds: how their articles fared (crate::article)
        if let Some(a) = store.article_health(name)? {
            row["articles"] = json!({
                "fetched": a.fetched,
                "failed": a.failed,
                "last_error": a.last_error.as_deref().map(text::sanitize),
                "last_error_at": a.last_error_at.map(rfc3339),
                "last_fetched_at": a.last_fetched_at.map(rfc3339),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Stored items, newest first.
pub fn items(store: &Store, feed: Option<&str>, limit: usize) -> store::Result<Vec<Value>> {
    each_item(store, feed, None)
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|r| r.map(|(_, v)| v))
        .collect()
}

/// Alerts raised, newest first: the objects of the alert log, each with `feeds`, every feed
/// its story has been seen in so far, first-seen first (the alert's `feed` alone once
/// retention has dropped the item).
pub fn alerts(store: &Store, watch: Option<&str>, limit: usize) -> store::Result<Vec<Value>> {
    each_alert(store, watch, None)?
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|r| r.map(|(_, v)| v))
        .collect()
}

/// The rows of [`items`], read one at a time through the store's index (never the whole
/// store), from below `before` (a cursor of an earlier row), each with its cursor.
pub fn each_item<'a>(
    store: &'a Store,
    feed: Option<&'a str>,
    before: Option<&[u8]>,
) -> impl Iterator<Item = store::Result<(Cursor, Value)>> + 'a {
    store.items_newest(before).filter_map(move |r| match r {
        Err(e) => Some(Err(e)),
        Ok((_, i)) if !feed.is_none_or(|f| i.feeds.iter().any(|x| x == f)) => None,
        Ok((c, i)) => Some(Ok((
            c,
            json!({
                "feed": i.feeds[0],
                "feeds": i.feeds,
                "key": i.key,
                "guid": i.guid,
                "title": i.title,
                "link": i.link,
                "published": crate::alert::published_rfc3339(i.published),
                "first_seen": rfc3339(i.first_seen),
            }),
        ))),
    })
}

/// Adds `watches` to an item's row: the configured watches that raised an alert on it
/// (`items` shows them in a column).
pub fn add_watches(
    store: &Store,
    watches: &[crate::config::WatchConfig],
    row: &mut Value,
) -> store::Result<()> {
    let Some(key) = row["key"].as_str().and_then(Key::from_hex) else {
        return Ok(());
    };
    let mut fired = Vec::new();
    for w in watches {
        if store.has_alert(key.alert_id(&w.name))? {
            fired.push(w.name.as_str());
        }
    }
    row["watches"] = json!(fired);
    Ok(())
}

/// The rows of [`alerts`], one at a time, like [`each_item`].
pub fn each_alert<'a>(
    store: &'a Store,
    watch: Option<&'a str>,
    before: Option<&[u8]>,
) -> store::Result<impl Iterator<Item = store::Result<(Cursor, Value)>> + 'a> {
    Ok(store.alerts_newest(before)?.filter_map(move |r| match r {
        Err(e) => Some(Err(e)),
        Ok((_, a)) if watch.is_some_and(|w| a.watch != w) => None,
        Ok((c, a)) => Some(alert_row(store, &a).map(|v| (c, v))),
    }))
}

/// An alert's object, with the feeds of its item (only the items of the alerts shown are
/// read).
fn alert_row(store: &Store, a: &Alert) -> store::Result<Value> {
    let stored = match Key::from_hex(&a.item) {
        Some(key) => store.item(key)?,
        None => None,
    };
    let mut v = serde_json::to_value(a).expect("alerts serialise");
    v["feeds"] = json!(stored.map_or_else(|| vec![a.feed.clone()], |i| i.feeds));
    Ok(v)
}

/// One answer of the API to `items` or `alerts`: at most a page of rows, and where the
/// next page starts when more rows are wanted and there are.
#[derive(Debug, Default)]
pub struct Page {
    pub rows: Vec<Value>,
    /// The cursor to read below for the next page (hex), with how many rows are still
    /// wanted (0: all).
    pub next: Option<(String, usize)>,
}

/// Up to `limit` rows (0: all) of `view` ("items" or "alerts", filtered by feed or watch)
/// from below the cursor `before`, but at most about `max` in this page. A page ends
/// between rows of different cursors (items of one poll share one), so a page may run
/// over `max` by the rest of one poll's items.
#[allow(clippy::too_many_arguments)]
pub fn page(
    store: &Store,
    view: &str,
    filter: Option<&str>,
    select: &crate::filter::Filter,
    limit: usize,
    before: Option<&str>,
    max: usize,
) -> store::Result<Page> {
    let want = if limit == 0 { usize::MAX } else { limit };
    let before = before.and_then(from_hex);
    let rows: Box<dyn Iterator<Item = store::Result<(Cursor, Value)>>> = match view {
        "items" => Box::new(each_item(store, filter, before.as_deref())),
        _ => Box::new(each_alert(store, filter, before.as_deref())?),
    };
    let mut page = Page::default();
    let mut last: Option<Cursor> = None;
    for row in rows {
        let (cursor, value) = row?;
        if page.rows.len() >= want || select.past(view, &value) {
            break;
        }
        if !select.keep(store, view, &value) {
            continue;
        }
        if page.rows.len() >= max && last.as_ref() != Some(&cursor) {
            let left = if limit == 0 {
                0
            } else {
                want - page.rows.len()
            };
            page.next = last.map(|c| (hex(&c), left));
            break;
        }
        page.rows.push(value);
        last = Some(cursor);
    }
    Ok(page)
}

/// Every row of `view` for the CLI, handed to `each` one at a time as they are read:
/// `--limit 0` streams a store of any size.
pub fn each_row(
    config: &Config,
    store: &Store,
    view: &str,
    param: impl Fn(&str) -> Option<String>,
    each: &mut dyn FnMut(Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    let take = if limit == 0 { usize::MAX } else { limit };
    let (feed, watch) = (param("feed"), param("watch"));
    let select = if view == "feeds" {
        crate::filter::Filter::default()
    } else {
        crate::filter::Filter::from_params(config, Some(store), &[], &param, Utc::now())
            .map_err(|e| crate::exit::usage_error(format!("{view}: {e}")))?
    };
    let rows: Box<dyn Iterator<Item = store::Result<(Cursor, Value)>>> = match view {
        "feeds" => Box::new(
            feeds(config, store, Utc::now())?
                .into_iter()
                .map(|v| Ok((Cursor::default(), v))),
        ),
        "items" => Box::new(each_item(store, feed.as_deref(), None)),
        _ => Box::new(each_alert(store, watch.as_deref(), None)?),
    };
    let mut shown = 0;
    for row in rows {
        let row = row?.1;
        if select.past(view, &row) || shown >= take {
            break;
        }
        if select.keep(store, view, &row) {
            shown += 1;
            let mut row = row;
            if view == "items" {
                add_watches(store, &config.watches, &mut row)?;
            }
            each(row)?;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
