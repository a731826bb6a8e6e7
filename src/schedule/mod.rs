//! When each feed is polled next, and how a feed's health is judged.
//!
//! Pure functions of a feed's config, its stored state and the time, which is always
//! passed in: the tests drive them with a controllable clock, and the service with the real
//! one. Intervals are fixed or adaptive (`"auto"`: a week divided by the items the feed
//! published in the last week, within bounds), never shorter than the freshness the feed
//! declares, with ±5% jitter; failures back off exponentially, capped, and never give up.
//!
//! The feed's state itself, and what a poll changes in it, is [`state`]'s; the store only
//! persists it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{FeedConfig, Interval, ScheduleConfig};

pub mod state;

pub use state::{Failed, FeedState};

pub const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long `recent_new` history is kept: long enough to judge staleness after a week of
/// silence.
pub const HISTORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// The first cycle after start-up is spread over at most this long.
pub const STARTUP_SPREAD: Duration = Duration::from_secs(300);

/// Items the feed published in the week before `now` (counted when first seen).
pub fn items_last_week(state: &FeedState, now: DateTime<Utc>) -> u64 {
    state
        .recent_new
        .iter()
        .filter(|(t, _)| since(*t, now) <= WEEK)
        .map(|(_, n)| u64::from(*n))
        .sum()
}

/// The wait between two successful polls of `feed`.
pub fn interval(
    feed: &FeedConfig,
    schedule: &ScheduleConfig,
    state: &FeedState,
    now: DateTime<Utc>,
) -> Duration {
    let base = match feed.interval {
        Interval::Fixed(d) => d,
        Interval::Auto => {
            let n = items_last_week(state, now);
            let d = if n == 0 {
                schedule.max_interval
            } else {
                WEEK / u32::try_from(n).unwrap_or(u32::MAX)
            };
            d.clamp(schedule.min_interval, schedule.max_interval)
        }
    };
    // polling sooner than the feed's copy stays fresh only fetches the same copy
    match state.fresh_for {
        Some(secs) => base.max(Duration::from_secs(secs).min(schedule.max_interval)),
        None => base,
    }
}

/// The wait after the `failures`-th failure in a row: doubling from a minute for transient
/// errors (or from the interval for others), capped at `max_backoff` (never shorter than
/// the interval), and never sooner than the server's `Retry-After`.
pub fn after_failure(
    interval: Duration,
    failures: u32,
    transient: bool,
    retry_after: Option<Duration>,
    max_backoff: Duration,
) -> Duration {
    let base = if transient {
        Duration::from_secs(60).min(interval)
    } else {
        interval
    };
    let grown = base.saturating_mul(1u32 << failures.saturating_sub(1).min(24));
    let capped = grown.min(max_backoff.max(interval)).max(base);
    match retry_after {
        Some(r) => capped.max(r.min(max_backoff.max(interval))),
        None => capped,
    }
}

/// `d` scaled by a factor in [0.95, 1.05], from `unit` in [0, 1].
pub fn jitter(d: Duration, unit: f64) -> Duration {
    // saturating: `Duration::mul_f64` panics past `Duration::MAX`
    Duration::try_from_secs_f64(d.as_secs_f64() * (0.95 + 0.10 * unit.clamp(0.0, 1.0)))
        .unwrap_or(Duration::MAX)
}

/// When the `index`-th of `count` feeds first polls after start-up: where the stored
/// schedule says (a restart does not make every feed poll at once), else spread evenly over
/// at most [`STARTUP_SPREAD`].
pub fn first_delay(
    index: usize,
    count: usize,
    interval: Duration,
    next_poll: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Duration {
    if let Some(next) = next_poll
        && next > now
    {
        return next
            .signed_duration_since(now)
            .to_std()
            .unwrap_or_default()
            .min(interval);
    }
    let spread = interval.min(STARTUP_SPREAD);
    spread.mul_f64(index as f64 / count.max(1) as f64)
}

/// xorshift64: a small, fast generator, reproducible from its seed (which must not be 0).
/// The jitter's source, and the property tests' and benchmarks'; nothing that needs real
/// randomness.
#[derive(Debug, Clone, Copy)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A random number in [0, 1] for jitter (not for anything that needs real randomness).
pub fn unit_random() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<XorShift> = Cell::new(XorShift(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0x9E37_79B9, |d| d.as_nanos() as u64) | 1
        ));
    }
    STATE.with(|s| {
        let mut rng = s.get();
        let x = rng.next_u64();
        s.set(rng);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// A feed's health, as `feedwatch feeds` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    NeverPolled,
    Ok,
    /// Failing since the first failure of the current run of failures.
    Failing {
        since: DateTime<Utc>,
    },
    /// Answering, but nothing new for much longer than usual, since this time.
    Stale {
        since: DateTime<Utc>,
    },
    /// Disabled because the outlet said so (410 Gone); `feedwatch enable` turns it back on.
    Disabled {
        reason: String,
    },
}

impl Health {
    pub fn word(&self) -> &'static str {
        match self {
            Health::NeverPolled => "never polled",
            Health::Ok => "ok",
            Health::Failing { .. } => "failing",
            Health::Stale { .. } => "stale",
            Health::Disabled { .. } => "disabled",
        }
    }
}

/// The usual time between polls that bring something new, from the recorded history:
/// `None` until there are at least three such polls.
pub fn usual_gap(state: &FeedState) -> Option<Duration> {
    let times: Vec<DateTime<Utc>> = state.recent_new.iter().map(|(t, _)| *t).collect();
    if times.len() < 3 {
        return None;
    }
    let span = since(times[0], times[times.len() - 1]);
    Some(span / (times.len() as u32 - 1))
}

/// Silence longer than this is staleness: four usual gaps, and at least two hours (a quiet
/// night is not a broken feed).
pub fn stale_after(state: &FeedState) -> Option<Duration> {
    usual_gap(state).map(|g| g.saturating_mul(4).max(Duration::from_secs(2 * 3600)))
}

pub fn assess(state: &FeedState, now: DateTime<Utc>) -> Health {
    if let Some(reason) = &state.disabled {
        return Health::Disabled {
            reason: reason.clone(),
        };
    }
    if let Some(since) = state.failing_since {
        return Health::Failing { since };
    }
    if state.last_success.is_none() {
        return Health::NeverPolled;
    }
    if let (Some(last), Some(after)) = (state.last_new_item, stale_after(state)) {
        let quiet = since(last, now);
        if quiet > after {
            return Health::Stale {
                since: crate::dates::after(last, after).unwrap_or(last),
            };
        }
    }
    Health::Ok
}

fn since(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    later
        .signed_duration_since(earlier)
        .to_std()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backlog;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn t0() -> DateTime<Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    fn at(d: Duration) -> DateTime<Utc> {
        t0() + chrono::Duration::from_std(d).unwrap()
    }

    fn feed(interval: Interval) -> FeedConfig {
        FeedConfig {
            name: "f".into(),
            url: "http://127.0.0.1/f".parse().unwrap(),
            interval,
            backlog: Backlog::All,
            enabled: true,
            full_text: false,
        }
    }

    fn schedule() -> ScheduleConfig {
        ScheduleConfig {
            min_interval: 5 * MIN,
            max_interval: 24 * HOUR,
            max_backoff: 6 * HOUR,
            report_after: 6 * HOUR,
        }
    }

    #[test]
    fn fixed_intervals_are_kept() {
        let s = FeedState::default();
        assert_eq!(
            interval(&feed(Interval::Fixed(10 * MIN)), &schedule(), &s, t0()),
            10 * MIN
        );
    }

    #[test]
    fn auto_follows_the_publishing_rate_within_bounds() {
        let auto = feed(Interval::Auto);
        let mut s = FeedState::default();
        assert_eq!(
            interval(&auto, &schedule(), &s, t0()),
            24 * HOUR,
            "nothing published: the ceiling"
        );
        // 168 items in the last week: one an hour
        s.recent_new = (0..168).map(|h| (at(HOUR * h), 1)).collect();
        assert_eq!(interval(&auto, &schedule(), &s, at(168 * HOUR)), HOUR);
        // 10,000 items a week: the floor
        s.recent_new = vec![(at(HOUR), 10_000)];
        assert_eq!(interval(&auto, &schedule(), &s, at(2 * HOUR)), 5 * MIN);
        // items older than a week no longer count
        assert_eq!(
            interval(&auto, &schedule(), &s, at(HOUR * 24 * 8)),
            24 * HOUR
        );
    }

    #[test]
    fn declared_freshness_is_respected_up_to_the_ceiling() {
        let mut s = FeedState {
            fresh_for: Some(1800),
            ..FeedState::default()
        };
        assert_eq!(
            interval(&feed(Interval::Fixed(10 * MIN)), &schedule(), &s, t0()),
            30 * MIN
        );
        s.fresh_for = Some(10 * 24 * 3600);
        assert_eq!(
            interval(&feed(Interval::Fixed(10 * MIN)), &schedule(), &s, t0()),
            24 * HOUR
        );
        s.fresh_for = Some(60);
        assert_eq!(
            interval(&feed(Interval::Fixed(10 * MIN)), &schedule(), &s, t0()),
            10 * MIN
        );
    }

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let i = 10 * MIN;
        let got: Vec<u64> = (1..=12)
            .map(|n| after_failure(i, n, true, None, 6 * HOUR).as_secs())
            .collect();
        assert_eq!(
            got,
            [
                60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600, 21600
            ]
        );
        assert_eq!(
            after_failure(i, 1, false, None, 6 * HOUR),
            i,
            "permanent errors start from the interval"
        );
        assert_eq!(after_failure(i, 3, false, None, 6 * HOUR), 4 * i);
        assert_eq!(
            after_failure(48 * HOUR, 9, false, None, 6 * HOUR),
            48 * HOUR,
            "never shorter than the interval"
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap() {
        assert_eq!(
            after_failure(10 * MIN, 1, true, Some(15 * MIN), 6 * HOUR),
            15 * MIN
        );
        assert_eq!(
            after_failure(10 * MIN, 1, true, Some(Duration::from_secs(5)), 6 * HOUR),
            MIN
        );
        assert_eq!(
            after_failure(10 * MIN, 1, true, Some(100 * HOUR), 6 * HOUR),
            6 * HOUR
        );
    }

    #[test]
    fn jitter_bounds() {
        assert_eq!(jitter(100 * MIN, 0.0), 95 * MIN);
        assert_eq!(jitter(100 * MIN, 1.0), 105 * MIN);
        for _ in 0..1000 {
            let d = jitter(100 * MIN, unit_random());
            assert!(d >= 95 * MIN && d <= 105 * MIN, "{d:?}");
        }
    }

    #[test]
    fn the_first_cycle_is_spread_and_a_restart_keeps_the_schedule() {
        let offsets: Vec<u64> = (0..4)
            .map(|i| first_delay(i, 4, 10 * MIN, None, t0()).as_secs())
            .collect();
        assert_eq!(offsets, [0, 75, 150, 225], "spread over 5 minutes");
        assert_eq!(
            first_delay(1, 2, 20 * std::time::Duration::from_secs(1), None, t0()),
            Duration::from_secs(10)
        );
        assert_eq!(
            first_delay(0, 4, 10 * MIN, Some(at(3 * MIN)), t0()),
            3 * MIN
        );
        assert_eq!(
            first_delay(0, 4, 10 * MIN, Some(at(3 * HOUR)), t0()),
            10 * MIN,
            "at most one interval"
        );
    }

    #[test]
    fn health() {
        let mut s = FeedState::default();
        assert_eq!(assess(&s, t0()), Health::NeverPolled);
        s.last_success = Some(t0());
        assert_eq!(assess(&s, t0()), Health::Ok);
        // new items every hour, then silence
        s.recent_new = (0..10).map(|h| (at(HOUR * h), 2)).collect();
        s.last_new_item = Some(at(9 * HOUR));
        assert_eq!(usual_gap(&s), Some(HOUR));
        // stale after four usual gaps (at least two hours) without anything new
        assert_eq!(assess(&s, at(12 * HOUR)), Health::Ok);
        assert_eq!(
            assess(&s, at(14 * HOUR)),
            Health::Stale {
                since: at(13 * HOUR)
            }
        );
        s.failing_since = Some(at(12 * HOUR));
        assert_eq!(
            assess(&s, at(13 * HOUR)),
            Health::Failing {
                since: at(12 * HOUR)
            }
        );
        s.disabled = Some("HTTP 410 Gone".into());
        assert_eq!(assess(&s, at(13 * HOUR)).word(), "disabled");
    }

    /// Fault 12 ("values that overflow"): 2^32 items in a week made `WEEK / n as u32` a
    /// division by zero, and jitter on a duration near `Duration::MAX` overflowed.
    #[test]
    fn arithmetic_at_the_edges_does_not_panic() {
        let auto = feed(Interval::Auto);
        let s = FeedState {
            recent_new: vec![(at(HOUR), u32::MAX), (at(HOUR), 1)],
            ..FeedState::default()
        };
        assert_eq!(interval(&auto, &schedule(), &s, at(2 * HOUR)), 5 * MIN);
        assert_eq!(jitter(Duration::MAX, 1.0), Duration::MAX);
        let eons = Duration::from_secs(1_000_000_000 * 86400);
        assert!(jitter(eons, 1.0) > eons);
        assert_eq!(
            after_failure(eons, u32::MAX, false, Some(Duration::MAX), eons),
            eons
        );
    }
}
