//! `match` (try the watches on a text and say why each fires or not) and `rematch` (the
//! current watches over stored items).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::UsageError;
use super::open_store;
use super::progress::Progress;
use crate::alert::AlertLog;
use crate::config::Config;
use crate::rematch::{Streams, rematch_with, select_watches};
use crate::service;
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
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                // waiting silently on a terminal looks like a hang
                eprintln!(
                    "match: type or paste the text to try the watches on, then Ctrl-D on a line of its own (or give --text TEXT, --file PATH, or pipe it in)"
                );
            }
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("match: reading the text from standard input")?;
            s
        }
    };
    if let Some(f) = &feed
        && !config.feeds.iter().any(|c| &c.name == f)
    {
        return Err(UsageError(format!(
            "match: no feed is named {f:?} in {}; its feeds are: {}",
            config.source,
            names(config.feeds.iter().map(|f| f.name.as_str()))
        ))
        .into());
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
    let fields = [(field, text.as_str())];
    // per watch that misses only because of letter case: the note that says so
    let case: Vec<Option<String>> = explained
        .iter()
        .zip(&config.watches)
        .map(|(e, w)| {
            (!e.fires)
                .then(|| crate::explain::case_note(w, feeds.as_deref(), &fields))
                .flatten()
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::json!({ "fires": firing, "watches": explained });
        for (w, note) in v["watches"].as_array_mut().into_iter().flatten().zip(&case) {
            if let Some(note) = note {
                w["case"] = note.as_str().into();
            }
        }
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
    for ((e, w), case) in explained.iter().zip(&config.watches).zip(&case) {
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
        if let Some(note) = case {
            writeln!(out, "  {note}")?;
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
