//! `match` (try the watches on a text and say why each fires or not) and `rematch` (the
//! current watches over stored items).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use super::UsageError;
use super::open_store;
use super::progress::Progress;
use crate::alert::{Alert, AlertLog};
use crate::config::{Config, WatchConfig};
use crate::rematch;
use crate::service;
use crate::views;
use crate::watch::{Field, Match, Matcher, Rule, quote};

/// `match`: every watch on one text, with why it fires or why not.
pub(super) fn try_match(
    config: &Config,
    text: Option<String>,
    file: Option<PathBuf>,
    field: Field,
    feed: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let raw = match (text, &file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("match: reading the text from {}", path.display()))?,
        (None, None) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("match: reading the text from standard input")?;
            s
        }
    };
    if let Some(f) = &feed {
        if !config.feeds.iter().any(|c| &c.name == f) {
            return Err(UsageError(format!(
                "match: no feed is named {f:?} in {}; its feeds are: {}",
                config.source,
                names(config.feeds.iter().map(|f| f.name.as_str()))
            ))
            .into());
        }
    }
    let text = match field {
        Field::Link => crate::text::link_to_text(raw.trim()),
        _ => crate::text::html_to_text(&raw),
    };
    let matcher = Matcher::new(&config.watches)?;
    let feeds = feed.map(|f| vec![f]);
    let explained = matcher.explain(feeds.as_deref(), &[(field, &text)]);
    let firing: Vec<&str> = explained
        .iter()
        .filter(|e| e.fires)
        .map(|e| e.watch.as_str())
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "fires": firing, "watches": explained });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    let n = explained.len();
    if firing.is_empty() {
        writeln!(out, "no watch fires ({n} checked)")?;
    } else {
        writeln!(
            out,
            "{} of {n} watches fire{}: {}",
            firing.len(),
            if firing.len() == 1 { "s" } else { "" },
            firing.join(", ")
        )?;
    }
    for (e, w) in explained.iter().zip(&config.watches) {
        match &e.reason {
            None => writeln!(out, "\n{} fires:", e.watch)?,
            Some(reason) => writeln!(out, "\n{} does not fire: {reason}", e.watch)?,
        }
        if feeds.is_none() && !w.feeds.is_empty() {
            writeln!(
                out,
                "  (limited to feeds {}; not applied without --feed)",
                w.feeds.join(", ")
            )?;
        }
        for m in &e.matches {
            writeln!(out, "  {}", explain_match(m))?;
        }
        for m in &e.excluded_by {
            writeln!(out, "  excluded by {}", explain_match(m))?;
        }
    }
    Ok(())
}

/// `rematch`: the current watches over stored items (this process opens the store).
pub(super) fn rematch(
    config: &Config,
    since: Option<std::time::Duration>,
    watch: Option<&str>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    // the watch is checked before the store is opened: a typo is exit 2 either way
    select_watches(config, watch)?;
    let store = open_store(config)?;
    let mut progress = Progress::new("rematch");
    let mut deliver = |store: &crate::store::Store| {
        let mut log = AlertLog::open(&config.alerts.log).with_context(|| {
            format!(
                "rematch: opening the alert log {} (the alerts stay pending in the store and are delivered by the next run)",
                config.alerts.log.display()
            )
        })?;
        service::deliver_pending(store, &mut log)
    };
    let result = rematch_with(
        config,
        &store,
        since,
        watch,
        dry_run,
        json,
        Streams {
            out: &mut std::io::stdout().lock(),
            err: &mut std::io::stderr(),
            progress: &mut |done, total| progress.tick(done, total),
            deliver: &mut deliver,
        },
    );
    progress.finish();
    result
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
fn select_watches(config: &Config, watch: Option<&str>) -> anyhow::Result<Vec<WatchConfig>> {
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
        return Err(UsageError(format!(
            "rematch: no watch is named {name:?} in {}; its watches are: {}",
            config.source,
            names(config.watches.iter().map(|w| w.name.as_str()))
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
    let found = rematch::find(store, &matcher, since, Utc::now(), progress)
        .context("rematch: reading the stored items")?;
    let (alerts, verb) = if dry_run {
        let alerts: Vec<Alert> = found.new.iter().map(|(_, a)| a.clone()).collect();
        (alerts, "would be raised")
    } else {
        let written = rematch::raise(store, &found.new).context("rematch: committing alerts")?;
        deliver(store).context("rematch: delivering alerts")?;
        (written, "raised")
    };
    for a in &alerts {
        if json {
            writeln!(out, "{}", a.to_line())?;
        } else {
            let row = serde_json::to_value(a)?;
            write!(out, "{}", views::render_alerts(std::slice::from_ref(&row)))?;
        }
    }
    let window = since.map_or(String::new(), |d| {
        format!(" from the last {}", humantime::format_duration(d))
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

/// `"CIS" in title: …snippet…`, with the rule when it is not the any-list.
fn explain_match(m: &Match) -> String {
    let rule = match m.rule {
        Rule::Any => "",
        Rule::All => " (all)",
        Rule::Near => " (near)",
        Rule::Not => " (not)",
    };
    format!(
        "{}{rule} in {}: {}",
        quote(&m.term),
        m.field.name(),
        m.snippet
    )
}

/// A list of names for an error message, `(none)` when empty.
fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
