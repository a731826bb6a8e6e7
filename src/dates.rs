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
}
