//! `check`: what the config says, in words: where things are, every feed, watch and sink;
//! and whether the store and the alert log can be used by the service's user ([`usable`]).

use crate::config::{Backlog, CaseMode, Config, DEFAULT_FIELDS, Interval, TermConfig};
use crate::watch::{is_case_sensitive, quote};

mod usable;

/// `check`: the config was loaded (so it is valid); print what it describes, then whether
/// the service's user can use the store and the alert log (exit 1 when it cannot).
pub(super) fn check(config: &Config) -> anyhow::Result<()> {
    print!("{}", describe(config));
    let (who, why) = usable::service_user();
    let store = usable::store(&who, &config.storage.path);
    let log = usable::log(&who, &config.alerts.log);
    println!("\nusable by {} ({why}):", who.name);
    let mut refused = Vec::new();
    for (what, path, result) in [
        ("store", &config.storage.path, store),
        ("alert log", &config.alerts.log, log),
    ] {
        match result {
            Ok(how) => println!("  {what} {}: yes, {how}", path.display()),
            Err(why) => {
                println!("  {what} {}: NO: {why}", path.display());
                refused.push(format!("the {what}: {why}"));
            }
        }
    }
    if !refused.is_empty() {
        anyhow::bail!(
            "{} cannot use {}; fix the owner or mode shown (the service would fail at its start)",
            who.name,
            refused.join("; ")
        );
    }
    Ok(())
}

/// What `check` prints: where things are, every feed, watch and sink.
pub fn describe(c: &Config) -> String {
    let mut s = format!("config ok: {}\n", c.source);
    s.push_str(&format!(
        "store: {} (item text kept {} after first sighting, keys forever)\nalert log: {}\n",
        c.storage.path.display(),
        days(c.storage.keep),
        c.alerts.log.display()
    ));
    s.push_str(&format!("\n{}:\n", count(c.feeds.len(), "feed", "feeds")));
    for f in &c.feeds {
        s.push_str(&format!(
            "  {:<16} every {:<6} backlog {:<5} {}{}\n",
            f.name,
            interval(f.interval),
            backlog(f.backlog),
            crate::redact::redact_url(f.url.as_str()),
            if f.enabled { "" } else { "  (off in config)" }
        ));
    }
    s.push_str(&format!(
        "\n{}:\n",
        count(c.watches.len(), "watch", "watches")
    ));
    if c.watches.is_empty() {
        s.push_str("  (none: items are stored but nothing alerts; add [[watch]] tables)\n");
    }
    for w in &c.watches {
        let list = |terms: &[TermConfig], sep: &str| {
            terms.iter().map(term_label).collect::<Vec<_>>().join(sep)
        };
        if w.terms.is_empty() {
            s.push_str(&format!("  {}:\n", w.name));
        } else {
            s.push_str(&format!("  {}: {}\n", w.name, list(&w.terms, ", ")));
        }
        if !w.all.is_empty() {
            let groups: Vec<String> = w
                .all
                .iter()
                .map(|g| format!("[{}]", list(g, " | ")))
                .collect();
            s.push_str(&format!("      all of: {}\n", groups.join(" and ")));
        }
        if let Some(n) = &w.near {
            s.push_str(&format!(
                "      near: {} within {} words\n",
                list(&n.terms, " and "),
                n.within
            ));
        }
        if !w.not.is_empty() {
            s.push_str(&format!("      not: {}\n", list(&w.not, ", ")));
        }
        if w.fields != DEFAULT_FIELDS {
            let fields: Vec<&str> = w.fields.iter().map(|f| f.name()).collect();
            s.push_str(&format!("      fields: {}\n", fields.join(", ")));
        }
        if !w.feeds.is_empty() {
            s.push_str(&format!("      feeds: {}\n", w.feeds.join(", ")));
        }
    }
    if !c.sinks.is_empty() {
        s.push_str(&format!("\n{}:\n", count(c.sinks.len(), "sink", "sinks")));
        for k in &c.sinks {
            let watches = if k.watches.is_empty() {
                "all watches and feed health".to_string()
            } else {
                k.watches.join(", ")
            };
            let every = k
                .every
                .map(|d| format!(", a digest every {}", humantime::format_duration(d)))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {}: {} ({watches}{every})\n",
                k.name,
                k.kind.describe()
            ));
        }
    }
    s
}

/// A term for `check`: quoted, with its options in words.
fn term_label(t: &TermConfig) -> String {
    let mut flags = Vec::new();
    if t.regex {
        flags.push("regex");
        if t.case == CaseMode::Insensitive {
            flags.push("any case");
        }
    } else if is_case_sensitive(&crate::text::normalize(&t.text), t.case) {
        flags.push("exact case");
    }
    if t.stem {
        flags.push("stem");
    }
    if flags.is_empty() {
        quote(&t.text)
    } else {
        format!("{} ({})", quote(&t.text), flags.join(", "))
    }
}

fn interval(i: Interval) -> String {
    match i {
        Interval::Fixed(d) => crate::dates::short(d),
        Interval::Auto => "auto".into(),
    }
}

/// A duration in whole days as "90d" (humantime would say "2months 29days 13h 26m 24s").
/// "1 feed", "2 feeds".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn days(d: std::time::Duration) -> String {
    crate::dates::short(d)
}

fn backlog(b: Backlog) -> String {
    match b {
        Backlog::All => "all".into(),
        Backlog::None => "none".into(),
        Backlog::Window(d) => crate::dates::short(d),
    }
}
