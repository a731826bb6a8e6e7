//! What `items` and `alerts` select (the CLI's options and the API's query parameters,
//! checked the same way): `feed`, `watch`, `since`, `until`, `limit` (and the API's
//! `before` cursor). A name that does not exist, a time that cannot be read or a parameter
//! that is not one of these is refused with the names that exist and the closest one,
//! instead of an empty answer that looks like "nothing happened".

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::config::Config;
use crate::dedup::Key;
use crate::store::Store;

/// The parameters `items` and `alerts` accept (the API's `before` included).
pub const ACCEPTED: &[&str] = &["feed", "watch", "since", "until", "limit", "before"];

/// A checked selection of rows.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub feed: Option<String>,
    pub watch: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// Reads and checks the parameters of a query of `view` ("items" or "alerts"): names
    /// must exist (feeds of the config or the store, watches of the config), times must read.
    /// `store` is `None` before the first poll made it. The error is a message for the
    /// operator.
    pub fn from_params(
        config: &Config,
        store: Option<&Store>,
        names: &[&str],
        param: impl Fn(&str) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Filter, String> {
        if let Some(bad) = names.iter().find(|n| !ACCEPTED.contains(n)) {
            return Err(format!(
                "unknown parameter {bad:?}; accepted: {}",
                ACCEPTED.join(", ")
            ));
        }
        if let Some(l) = param("limit")
            && l.parse::<usize>().is_err()
        {
            return Err(format!("limit: {l:?} is not a number (0: all)"));
        }
        let mut f = Filter::default();
        if let Some(feed) = param("feed") {
            let mut known: Vec<String> = config.feeds.iter().map(|f| f.name.clone()).collect();
            let stored = store.map(Store::feed_states).transpose();
            for s in stored.map_err(|e| e.to_string())?.unwrap_or_default() {
                if !known.contains(&s.name) {
                    known.push(s.name);
                }
            }
            check_name("feed", &feed, &known)?;
            f.feed = Some(feed);
        }
        if let Some(watch) = param("watch") {
            let known: Vec<String> = config.watches.iter().map(|w| w.name.clone()).collect();
            check_name("watch", &watch, &known)?;
            f.watch = Some(watch);
        }
        f.since = param("since")
            .map(|s| parse_when(&s, now).map_err(|e| format!("since: {e}")))
            .transpose()?;
        f.until = param("until")
            .map(|s| parse_when(&s, now).map_err(|e| format!("until: {e}")))
            .transpose()?;
        Ok(f)
    }

    /// Whether a row of `view` is selected (the feed and watch filters the store's walk
    /// already applied are applied again: cheap, and this stays whole on its own).
    pub fn keep(&self, store: &Store, view: &str, row: &Value) -> bool {
        let when = row_time(view, row);
        if self.since.is_some_and(|s| when.is_some_and(|w| w < s)) {
            return false;
        }
        if self.until.is_some_and(|u| when.is_some_and(|w| w > u)) {
            return false;
        }
        if let Some(feed) = &self.feed {
            let in_feeds = row["feeds"]
                .as_array()
                .is_some_and(|fs| fs.iter().any(|f| f == feed.as_str()));
            if !in_feeds && row["feed"] != feed.as_str() {
                return false;
            }
        }
        if let Some(watch) = &self.watch {
            if view == "alerts" {
                return row["watch"] == watch.as_str();
            }
            // an item: whether it alerted for this watch
            let key = row["key"].as_str().and_then(Key::from_hex);
            return key.is_some_and(|k| store.has_alert(k.alert_id(watch)).unwrap_or(false));
        }
        true
    }

    /// Whether a row (newest first) is older than `since`, so that no later row is wanted.
    pub fn past(&self, view: &str, row: &Value) -> bool {
        view == "items"
            && self
                .since
                .is_some_and(|s| row_time(view, row).is_some_and(|w| w < s))
    }
}

/// When a row happened: an item's first sighting, an alert's detection.
fn row_time(view: &str, row: &Value) -> Option<DateTime<Utc>> {
    let field = if view == "items" {
        "first_seen"
    } else {
        "detected"
    };
    row[field].as_str()?.parse().ok()
}

/// `name` when it is one of `known`; else the names that exist and the closest one.
pub fn check_name(what: &str, name: &str, known: &[String]) -> Result<(), String> {
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    let plural = if what.ends_with('h') { "es" } else { "s" };
    let mut msg = format!(
        "no {what} is called {name:?}; {what}{plural}: {}",
        if known.is_empty() {
            "(none)".to_string()
        } else {
            known.join(", ")
        }
    );
    if let Some(c) = closest(name, known) {
        msg.push_str(&format!(" (did you mean {c:?}?)"));
    }
    Err(msg)
}

/// The name of `known` nearest to `name` (edit distance), when it is near enough to be a typo.
pub fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(name, k), k))
        .filter(|(d, k)| *d <= (k.chars().count().max(2) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A time for `--since`/`--until`: a duration before `now` ("7d", "12h"), an RFC 3339
/// time, or a date (its midnight, UTC).
pub fn parse_when(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("{s:?} reaches before the calendar's start"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "{s:?} is neither a duration (e.g. 7d, 12h) nor a date (2026-11-30, or RFC 3339)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_is_offered_for_a_typo() {
        let known = vec!["meduza".to_string(), "moscow-times".into(), "tass".into()];
        assert_eq!(closest("medusa", &known), Some("meduza"));
        assert_eq!(closest("tas", &known), Some("tass"));
        assert_eq!(closest("kommersant", &known), None);
        let e = check_name("feed", "medusa", &known).unwrap_err();
        assert!(e.contains("feeds: meduza, moscow-times, tass"), "{e}");
        assert!(e.contains("did you mean \"meduza\""), "{e}");
    }

    #[test]
    fn times_read_as_durations_dates_or_rfc3339() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_when("1d", now).unwrap(),
            "2026-11-29T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_when("2026-11-01", now).unwrap(),
            "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse_when("2026-11-01T10:00:00+02:00", now).is_ok());
        assert!(
            parse_when("yesterday", now)
                .unwrap_err()
                .contains("neither a duration")
        );
    }
}
