//! Date and time arithmetic that cannot panic. chrono's `DateTime + TimeDelta` and std's
//! (and tokio's) `Instant + Duration` panic when the result is out of range, and the
//! durations added come from the config, a server (`Retry-After`) or the store; every such
//! sum goes through here instead. The config keeps durations far below these edges (see
//! `config::MAX_DURATION`); this is what makes a value past them harmless anyway.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// `t + d`, or `None` when that is past the calendar's end (year 262143).
pub fn after(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
}

/// `t - d`, or `None` when that is before the calendar's start (year -262143).
pub fn before(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
}

/// About 30 years: what an `Instant` too far away to represent is taken as (tokio does the
/// same for its timers).
const FAR: Duration = Duration::from_secs(86400 * 365 * 30);

/// `now + d` as a tokio `Instant`, saturating at about 30 years from now.
pub fn instant_after(now: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    now.checked_add(d.min(FAR))
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// A duration as a config writes it: "30s", "10m", "1h 30m", "7d" (humantime says "7days",
/// and "2months 29days 13h 26m 24s" for 90 days).
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86400) {
        return format!("{}d", s / 86400);
    }
    let parts: Vec<String> = [
        (s / 86400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| format!("{n}{unit}"))
    .collect();
    if parts.is_empty() {
        humantime::format_duration(d).to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_past_the_calendar_are_none_not_panics() {
        let now = Utc::now();
        let eons = Duration::from_secs(1_000_000_000 * 86400);
        assert_eq!(after(now, eons), None);
        assert_eq!(before(now, eons), None);
        assert_eq!(after(now, Duration::MAX), None);
        assert_eq!(before(now, Duration::MAX), None);
        let day = Duration::from_secs(86400);
        assert_eq!(after(now, day), Some(now + chrono::Duration::days(1)));
        assert_eq!(before(now, day), Some(now - chrono::Duration::days(1)));
    }

    #[test]
    fn instants_saturate() {
        let now = tokio::time::Instant::now();
        assert_eq!(instant_after(now, Duration::MAX), now + FAR);
        let s = Duration::from_secs(1);
        assert_eq!(instant_after(now, s), now + s);
    }

    #[test]
    fn short_durations_read_like_the_config() {
        use std::time::Duration;
        assert_eq!(short(Duration::from_secs(86400)), "1d");
        assert_eq!(short(Duration::from_secs(90 * 86400)), "90d");
        assert_eq!(short(Duration::from_secs(600)), "10m");
        assert_eq!(short(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(short(Duration::from_secs(90_061)), "1d 1h 1m 1s");
        assert_eq!(short(Duration::ZERO), "0s");
    }
}
