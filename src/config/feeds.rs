//! `[defaults]` and `[[feeds]]`: the feeds to poll, how often, and which items of a first
//! poll may alert.

use std::collections::HashSet;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use url::Url;

use super::reader::{Reader, YEAR_SECS, section_keys, set, too_long};

/// The longest `backlog` window: 100 years ("100y"), which is "all" for any feed.
pub const MAX_BACKLOG: Duration = Duration::from_secs(100 * YEAR_SECS);

/// How often a feed is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Fixed(Duration),
    /// Adapted to how often the feed publishes, within the bounds of
    /// [`ScheduleConfig`](super::ScheduleConfig).
    Auto,
}

/// One `[[feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's identity (its URL may change); renaming makes a new feed.
    pub name: String,
    pub url: Url,
    pub interval: Interval,
    pub backlog: Backlog,
    /// `false` pauses the feed without forgetting its state.
    pub enabled: bool,
    /// `full_text`: fetch each new item's link and match its main text as field `article`
    /// ([`crate::article`]).
    pub full_text: bool,
}

impl FeedConfig {
    /// A feed is polled unless it says `enabled = false`.
    pub const DEFAULT_ENABLED: bool = true;
}

/// Which items of a feed's first successful poll may alert (DESIGN.md, "Backlog").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    All,
    None,
    /// Those published within this window before the poll.
    Window(Duration),
}

/// `[defaults]`: what a feed that does not say otherwise gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultsConfig {
    /// `interval`: how often a feed is polled.
    pub interval: Interval,
    /// `backlog`: which items of a feed's first successful poll may alert.
    pub backlog: Backlog,
    /// `full_text`: fetch each new item's article (see [`FeedConfig::full_text`]).
    pub full_text: bool,
}

impl Default for DefaultsConfig {
    fn default() -> DefaultsConfig {
        DefaultsConfig {
            interval: Interval::Fixed(Duration::from_secs(600)),
            backlog: Backlog::Window(Duration::from_secs(24 * 3600)),
            full_text: false,
        }
    }
}

impl Reader<'_> {
    pub(super) fn defaults(&mut self, t: &DeTable<'_>) -> DefaultsConfig {
        let mut c = DefaultsConfig::default();
        set(&mut c.interval, self.interval(t, "defaults"));
        set(&mut c.backlog, self.backlog(t, "defaults"));
        set(&mut c.full_text, self.boolean(t, "defaults", "full_text"));
        c
    }

    /// Every valid `[[feeds]]` entry, and the name of every entry that gives one, valid or
    /// not (what a watch's `feeds` is checked against).
    pub(super) fn feeds(
        &mut self,
        doc: &DeTable<'_>,
        defaults: DefaultsConfig,
    ) -> (Vec<FeedConfig>, Vec<String>) {
        let mut feeds = Vec::new();
        let Some(items) = self.array_of_tables(doc, "feeds") else {
            self.error(
                0,
                "feeds",
                "no [[feeds]] entries: add at least one feed to poll",
            );
            return (feeds, Vec::new());
        };
        // every name given, valid entry or not, so that a watch's `feeds` is checked against
        // what the operator wrote rather than failing twice over one bad feed
        let named: Vec<String> = items
            .iter()
            .filter_map(|(t, _)| match t.get("name").map(|v| v.get_ref()) {
                Some(DeValue::String(s)) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        let mut names = HashSet::new();
        for (i, (t, at)) in items.into_iter().enumerate() {
            let key = format!("feeds[{i}]");
            self.check_keys(t, &key, &section_keys("feeds"));
            let name = self.name(t, &key, at, &mut names, "feed");
            let url = match self.string(t, &key, "url") {
                Some((s, span)) => match Url::parse(&s) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(u),
                    Ok(u) => {
                        self.error(
                            span.start,
                            &format!("{key}.url"),
                            format!(
                                "scheme {:?} is not supported; use an http:// or https:// URL",
                                u.scheme()
                            ),
                        );
                        None
                    }
                    Err(e) => {
                        self.error(
                            span.start,
                            &format!("{key}.url"),
                            format!("{s:?} is not a URL ({e}); use an http:// or https:// URL"),
                        );
                        None
                    }
                },
                None => {
                    self.error(at, &format!("{key}.url"), "missing: every feed needs a url");
                    None
                }
            };
            let interval = self.interval(t, &key).unwrap_or(defaults.interval);
            let backlog = self.backlog(t, &key).unwrap_or(defaults.backlog);
            let enabled = self
                .boolean(t, &key, "enabled")
                .unwrap_or(FeedConfig::DEFAULT_ENABLED);
            let full_text = self
                .boolean(t, &key, "full_text")
                .unwrap_or(defaults.full_text);
            if let (Some(name), Some(url)) = (name, url) {
                feeds.push(FeedConfig {
                    name,
                    url,
                    interval,
                    backlog,
                    enabled,
                    full_text,
                });
            }
        }
        (feeds, named)
    }

    fn interval(&mut self, t: &DeTable<'_>, key: &str) -> Option<Interval> {
        let value = t.get("interval");
        if let Some(DeValue::String(s)) = value.map(|v| v.get_ref()) {
            if s == "auto" {
                return Some(Interval::Auto);
            }
            // zero too: a feed polled without pause is no interval
            if humantime::parse_duration(s).is_ok_and(|d| d < Duration::from_secs(1)) {
                let at = value.map_or(0, |v| v.span().start);
                self.error(
                    at,
                    &format!("{key}.interval"),
                    format!("{s:?} is too short: must be at least 1s, or \"auto\""),
                );
                return None;
            }
        }
        let d = self.duration(t, key, "interval")?;
        Some(Interval::Fixed(d))
    }

    fn backlog(&mut self, t: &DeTable<'_>, key: &str) -> Option<Backlog> {
        let (s, span) = self.string(t, key, "backlog")?;
        match s.as_str() {
            "all" => Some(Backlog::All),
            "none" => Some(Backlog::None),
            _ => {
                match humantime::parse_duration(&s) {
                    Ok(d) if d <= MAX_BACKLOG => Some(Backlog::Window(d)),
                    Ok(_) | Err(humantime::DurationError::NumberOverflow) => {
                        self.error(
                            span.start,
                            &format!("{key}.backlog"),
                            too_long(&s, MAX_BACKLOG),
                        );
                        None
                    }
                    Err(_) => {
                        self.error(span.start, &format!("{key}.backlog"), format!("{s:?} is not valid; use \"all\", \"none\" or a window such as \"24h\""));
                        None
                    }
                }
            }
        }
    }
}
