//! `feedwatch explain ITEM`: one stored item (by key, or by link or guid): its keys, the
//! feeds that carried it, and for each watch whether it alerted, and if not, why: the
//! words of `match`, or that it matched but was held back as backlog. `--json` prints one
//! object, a documented format (docs/operations.md):
//!
//! ```json
//! {"key":"ab12…","guid":"…","link":"…","title":"…","feeds":["mt"],"first_seen":"…",
//!  "published":"…","watches":[{"watch":"cis","fires":true,"alerted":true,"why":"…"}]}
//! ```

use serde_json::{Value, json};

use crate::alert::rfc3339;
use crate::config::{Backlog, CaseMode, Config, Field, TermConfig, WatchConfig};
use crate::dedup::Key;
use crate::store::{Store, StoredItem};
use crate::watch::{Matcher, is_case_sensitive, quote};

/// The explanation of the item `what` (a key, a link or a guid).
pub fn explain(config: &Config, store: &Store, what: &str) -> anyhow::Result<Value> {
    let (key, item) = find(store, what)?.ok_or_else(|| {
        crate::exit::usage_error(format!(
            "explain: no stored item has the key, link or guid {what:?} (see `feedwatch items`)"
        ))
    })?;
    let matcher = Matcher::new(&config.watches)?;
    let categories = item.categories.join(", ");
    let fields: Vec<(Field, &str)> = vec![
        (Field::Title, &item.title),
        (Field::Summary, &item.summary),
        (Field::Content, &item.content),
        (Field::Categories, &categories),
        (Field::Link, item.link.as_deref().unwrap_or("")),
    ];
    let mut watches = Vec::new();
    let explained = matcher.explain(Some(&item.feeds), &fields);
    for (e, w) in explained.into_iter().zip(&config.watches) {
        let alerted = store.has_alert(key.alert_id(&e.watch))?;
        let why = match (alerted, e.fires) {
            (true, _) => "alerted".to_string(),
            (false, true) => held_back(config, &item),
            (false, false) => {
                let mut why = format!(
                    "does not fire: {}",
                    e.reason.as_deref().unwrap_or("no term matched")
                );
                if let Some(note) = case_note(w, Some(&item.feeds), &fields) {
                    why.push_str("; ");
                    why.push_str(&note);
                }
                why
            }
        };
        watches.push(json!({
            "watch": e.watch,
            "fires": e.fires,
            "alerted": alerted,
            "why": why,
            "matches": e.matches,
        }));
    }
    Ok(json!({
        "key": item.key,
        "guid": item.guid,
        "link": item.link,
        "title": item.title,
        "feeds": item.feeds,
        "first_seen": rfc3339(item.first_seen),
        "published": item.published.map(rfc3339),
        "text_dropped": item.title.is_empty() && item.content.is_empty() && item.summary.is_empty(),
        "watches": watches,
    }))
}

/// When a watch does not fire only because of letter case: which of its case-sensitive
/// terms (all capitals: an acronym, under `case = "auto"`) the text has in other letters,
/// and how to match any case. `None` when ignoring case would not make it fire either.
pub fn case_note(
    w: &WatchConfig,
    feeds: Option<&[String]>,
    fields: &[(Field, &str)],
) -> Option<String> {
    let sensitive = |t: &TermConfig| !t.regex && is_case_sensitive(&t.text, t.case);
    let fold = |t: &mut TermConfig| {
        if sensitive(t) {
            t.case = CaseMode::Insensitive;
        }
    };
    let mut folded = w.clone();
    folded.terms.iter_mut().for_each(fold);
    folded.all.iter_mut().flatten().for_each(fold);
    if let Some(near) = &mut folded.near {
        near.terms.iter_mut().for_each(fold);
    }
    if folded == *w {
        return None; // no case-sensitive term it looks for
    }
    let e = Matcher::new(&[folded]).ok()?.explain(feeds, fields).pop()?;
    if !e.fires {
        return None;
    }
    let found: Vec<String> = e
        .matches
        .iter()
        .filter(|m| m.text != m.term)
        .map(|m| {
            format!(
                "{} is case-sensitive and the {} has {:?}",
                quote(&m.term),
                m.field.name(),
                m.text
            )
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    Some(format!(
        "it would fire if case were ignored: {} (a term in capitals is an acronym, matched in capitals only; write it as {{ term = {:?}, case = \"insensitive\" }} to match any case)",
        found.join("; "),
        e.matches
            .iter()
            .find(|m| m.text != m.term)
            .map_or("", |m| m.term.as_str())
    ))
}

/// Why a watch that fires on the item raised no alert.
fn held_back(config: &Config, item: &StoredItem) -> String {
    let feed = config.feeds.iter().find(|f| f.name == item.feeds[0]);
    let window = match feed.map(|f| f.backlog) {
        Some(Backlog::None) => " (its feed's backlog = \"none\")".to_string(),
        Some(Backlog::Window(w)) => match item.published {
            Some(p) if item.first_seen - p > chrono::Duration::from_std(w).unwrap_or_default() => {
                format!(
                    " (published {}, before its feed's backlog window of {})",
                    crate::views::table::time(p),
                    crate::views::table::duration(w)
                )
            }
            _ => String::new(),
        },
        _ => String::new(),
    };
    format!(
        "fires, but raised no alert: held back as backlog when its feed was first polled{window}, or the watch is newer than the item; `feedwatch rematch` raises it"
    )
}

/// The item whose key (hex), link or guid is `what`.
fn find(store: &Store, what: &str) -> anyhow::Result<Option<(Key, StoredItem)>> {
    if let Some(key) = Key::from_hex(what)
        && let Some(item) = store.item(key)?
    {
        return Ok(Some((key, item)));
    }
    for entry in store.each_item() {
        let (key, item) = entry?;
        if item.link.as_deref() == Some(what) || item.guid.as_deref() == Some(what) {
            return Ok(Some((key, item)));
        }
    }
    Ok(None)
}

/// The explanation for a person.
pub fn render(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    let mut out = format!("{}\n", s("title"));
    out.push_str(&format!("  key        {}\n", s("key")));
    out.push_str(&format!("  guid       {}\n", s("guid")));
    out.push_str(&format!("  link       {}\n", s("link")));
    let feeds: Vec<&str> = v["feeds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    out.push_str(&format!("  feeds      {}\n", feeds.join(", ")));
    let time = |k: &str| {
        v[k].as_str()
            .and_then(|t| t.parse().ok())
            .map_or_else(|| s(k), crate::views::table::time)
    };
    out.push_str(&format!("  first seen {}\n", time("first_seen")));
    out.push_str(&format!("  published  {}\n", time("published")));
    for w in v["watches"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}: {}\n",
            w["watch"].as_str().unwrap_or(""),
            w["why"].as_str().unwrap_or("")
        ));
    }
    out
}
