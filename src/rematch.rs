//! `rematch`: the current watches over the items already stored.
//!
//! A changed config applies to items polled from then on (DESIGN.md); the past is this
//! module's job. It runs the matcher over stored items, keeps the (item, watch) pairs that
//! never alerted (alert ids are deterministic, so "never" is one lookup), and either
//! reports them (a dry run) or commits them to the store's outbox in one transaction per
//! batch, for delivery to the alert log like a poll's alerts. Run twice, it raises nothing
//! the second time.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use chrono::{DateTime, Utc};

use crate::alert::Alert;
use crate::config::{Config, WatchConfig};
use crate::dedup::Key;
use crate::store::{Result, Store};
use crate::text::normalize;
use crate::watch::{ItemText, Matcher};

/// Alerts committed per store transaction.
const BATCH: usize = 512;

/// What a pass over the store found.
#[derive(Debug, Default)]
pub struct Found {
    /// Items the watches were run over (those within `since`).
    pub checked: usize,
    /// Items left out by `since`.
    pub older: usize,
    /// (item, watch) pairs that match and alerted before: not raised again.
    pub already: usize,
    /// Alerts that the current watches raise and that were never raised, with their ids,
    /// in store order.
    pub new: Vec<(Key, Alert)>,
}

/// Runs `matcher` over the stored items published (or, undated, first seen) within `since`
/// before `now` (every item when `None`). `progress` is called with (items done, items in
/// the store) after each item.
pub fn find(
    store: &Store,
    matcher: &Matcher,
    since: Option<Duration>,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Found> {
    let total = store.item_count();
    // a window reaching before the calendar's start is no limit
    let cutoff = since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d));
    let mut found = Found::default();
    for (done, entry) in store.each_item().enumerate() {
        let (key, item) = entry?;
        progress(done + 1, total);
        // as for the backlog: a date up to a day ahead counts as now, further ahead as no date
        let when = item
            .published
            .filter(|p| *p <= now + chrono::Duration::days(1))
            .unwrap_or(item.first_seen)
            .min(now);
        if cutoff.is_some_and(|c| when < c) {
            found.older += 1;
            continue;
        }
        found.checked += 1;
        // stored text is shown text (normalised, for items stored before it was kept as
        // shown): normalising it again gives what the poll matched
        let norm = [&item.title, &item.summary, &item.content].map(|t| normalize(t));
        let categories: Vec<String> = item.categories.iter().map(|c| normalize(c)).collect();
        // the stored article is shown text too: its matches point into it
        let article = item.article.as_deref().and_then(crate::article::unpack);
        let article_norm = article.as_deref().map(normalize);
        let fired = matcher.check_item_with(
            Some(&item.feeds),
            &ItemText {
                title: &norm[0],
                summary: &norm[1],
                content: &norm[2],
                categories: &categories,
                link: item.link.as_deref(),
                shown: [&item.title, &item.summary, &item.content],
                shown_categories: &item.categories,
            },
            article_norm.as_deref().zip(article.as_deref()),
        );
        for f in fired {
            let id = key.alert_id(&f.watch);
            if store.has_alert(id)? {
                found.already += 1;
                continue;
            }
            let alert = item.alert(key, now, &f);
            found.new.push((id, alert));
        }
    }
    Ok(found)
}

/// Commits the alerts `find` found, in batches of one transaction each; returns those
/// written (an alert raised meanwhile by another run is skipped). Deliver them afterwards
/// with [`crate::service::deliver_pending`].
pub fn raise(store: &Store, new: &[(Key, Alert)]) -> Result<Vec<Alert>> {
    let mut written = Vec::new();
    for batch in new.chunks(BATCH) {
        written.extend(store.commit_alerts(batch)?);
    }
    Ok(written)
}
/// Where [`rematch_with`] writes, counts and delivers: this process's terminal and alert
/// log, or a control connection and the running service's alert log.
pub struct Streams<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// (items done, items in the store), after each item.
    pub progress: &'a mut dyn FnMut(usize, usize),
    /// Delivers the pending alerts to the alert log; how many.
    pub deliver: &'a mut dyn FnMut(&crate::store::Store) -> anyhow::Result<usize>,
}

/// The watches `rematch --watch` selects, or a usage error listing them.
pub fn select_watches(config: &Config, watch: Option<&str>) -> anyhow::Result<Vec<WatchConfig>> {
    let Some(name) = watch else {
        return Ok(config.watches.clone());
    };
    let w: Vec<WatchConfig> = config
        .watches
        .iter()
        .filter(|w| w.name == name)
        .cloned()
        .collect();
    if w.is_empty() {
        return Err(crate::exit::UsageError(format!(
            "rematch: no watch is named {name:?} in {}; its watches are: {}",
            config.source,
            crate::exit::names(config.watches.iter().map(|w| w.name.as_str()))
        ))
        .into());
    }
    Ok(w)
}

/// `rematch` on an open store: the same output whether this process holds the store or
/// the running service does (through its control socket).
pub fn rematch_with(
    config: &Config,
    store: &crate::store::Store,
    since: Option<std::time::Duration>,
    watch: Option<&str>,
    dry_run: bool,
    json: bool,
    streams: Streams<'_>,
) -> anyhow::Result<()> {
    let Streams {
        out,
        err,
        progress,
        deliver,
    } = streams;
    let matcher = Matcher::new(&select_watches(config, watch)?)?;
    let found = find(store, &matcher, since, Utc::now(), progress)
        .context("rematch: reading the stored items")?;
    let (alerts, verb) = if dry_run {
        let alerts: Vec<Alert> = found.new.iter().map(|(_, a)| a.clone()).collect();
        (alerts, "would be raised")
    } else {
        let written = raise(store, &found.new).context("rematch: committing alerts")?;
        deliver(store).context("rematch: delivering alerts")?;
        (written, "raised")
    };
    for a in &alerts {
        if json {
            writeln!(out, "{}", a.to_line())?;
        } else {
            let row = serde_json::to_value(a)?;
            write!(
                out,
                "{}",
                crate::views::render_alerts(std::slice::from_ref(&row))
            )?;
        }
    }
    let window = since.map_or(String::new(), |d| {
        format!(" from the last {}", crate::dates::short(d))
    });
    let mut summary = format!(
        "rematch{}: {} items checked{window}, {} alert{} {verb}, {} already raised before",
        if dry_run { " (dry run)" } else { "" },
        found.checked,
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        found.already,
    );
    if dry_run {
        summary.push_str("; nothing written");
    } else if !alerts.is_empty() {
        summary.push_str(&format!("; written to {}", config.alerts.log.display()));
    }
    if json {
        writeln!(err, "{summary}")?;
    } else {
        writeln!(out, "{summary}")?;
    }
    out.flush()?;
    Ok(())
}
