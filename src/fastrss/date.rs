//! feed-rs 3.0.0's lenient timestamp parsing (`parser/util/mod.rs`,
//! `parse_timestamp_lenient`, which feed-rs keeps crate-private), reproduced so that the
//! fast path dates an item exactly as feed-rs does. The regular expressions and their order
//! are feed-rs's own. feed-rs is MIT-licensed, Copyright (c) 2019 feed-rs contributors
//! (tests/fixtures/corpus/LICENSE-feed-rs).
//!
//! Three shortcuts that change no result: the common RFC 2822 shape read without the
//! expressions ([`canonical`]); a text starting with an ASCII letter skips the
//! RFC 3339 attempt (its rewrites never touch the first character unless it is a sign, and
//! RFC 3339 needs a digit there); and a rewrite that matches nothing copies nothing.

use std::borrow::Cow;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use regex::Regex;

struct PatSub(Regex, &'static str);

fn patsubs(
    cell: &'static OnceLock<Vec<PatSub>>,
    pairs: &[(&str, &'static str)],
) -> &'static [PatSub] {
    cell.get_or_init(|| {
        pairs
            .iter()
            .map(|(re, sub)| PatSub(Regex::new(re).expect("feed-rs's date fixes compile"), sub))
            .collect()
    })
}

fn rfc1123() -> &'static [PatSub] {
    static CELL: OnceLock<Vec<PatSub>> = OnceLock::new();
    patsubs(&CELL, &[(" Z$", " +0000"), ("^[[:alpha:]]{3}, ", "")])
}

fn rfc2822() -> &'static [PatSub] {
    static CELL: OnceLock<Vec<PatSub>> = OnceLock::new();
    patsubs(
        &CELL,
        &[
            ("(UTC|-0000$)", "+0000"),
            ("(Sun|Mon|Tue|Wed|Thu|Fri|Sat)[a-z]*, ", ""),
            (
                "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*",
                "$1",
            ),
            (
                "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\\d{1,2}) (\\d{4})",
                "$2 $1 $3",
            ),
            (" 24:", " 00:"),
            (" ([0-9]):", " 0${1}:"),
        ],
    )
}

fn rfc3339() -> &'static [PatSub] {
    static CELL: OnceLock<Vec<PatSub>> = OnceLock::new();
    patsubs(
        &CELL,
        &[
            (r"(\+|-)(\d{2})(\d{2})", "${1}${2}:${3}"),
            (r"-\d{2}$", "${0}T00:00:00+00:00"),
        ],
    )
}

/// `original` with each fix applied in turn (each replaces its first match only).
fn cleaned<'a>(original: &'a str, fixes: &[PatSub]) -> Cow<'a, str> {
    let mut text = Cow::Borrowed(original.trim());
    for PatSub(regex, sub) in fixes {
        if let Cow::Owned(s) = regex.replace(&text, *sub) {
            text = Cow::Owned(s);
        }
    }
    text
}

/// feed-rs's `parse_timestamp_lenient`: RFC 3339, then RFC 2822, then RFC 1123, each after
/// its fixes.
pub fn parse_timestamp_lenient(original: &str) -> Option<DateTime<Utc>> {
    canonical(original).or_else(|| lenient(original))
}

/// The common shape `Sun, 01 Nov 2026 09:05:00 +0000` (or `GMT`) without the regular
/// expressions: for it, feed-rs's RFC 3339 attempt fails (a letter first) and its RFC 2822
/// fixes only drop the weekday (no `UTC`, no `-0000` at the end, a two-digit hour other
/// than 24, a day before the month), so its result is chrono's on the rest. `None` sends
/// the text the long way.
fn canonical(original: &str) -> Option<DateTime<Utc>> {
    let t = original.trim().as_bytes();
    let digits =
        |r: std::ops::Range<usize>| t.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let ok = (t.len() == 31 || t.len() == 29)
        && matches!(
            &t[..5],
            b"Sun, " | b"Mon, " | b"Tue, " | b"Wed, " | b"Thu, " | b"Fri, " | b"Sat, "
        )
        && digits(5..7)
        && t[7] == b' '
        && matches!(
            &t[8..12],
            b"Jan "
                | b"Feb "
                | b"Mar "
                | b"Apr "
                | b"May "
                | b"Jun "
                | b"Jul "
                | b"Aug "
                | b"Sep "
                | b"Oct "
                | b"Nov "
                | b"Dec "
        )
        && digits(12..16)
        && t[16] == b' '
        && digits(17..19)
        && &t[17..19] != b"24"
        && t[19] == b':'
        && digits(20..22)
        && t[22] == b':'
        && digits(23..25)
        && t[25] == b' '
        && match t.len() {
            29 => &t[26..] == b"GMT",
            _ => matches!(t[26], b'+' | b'-') && digits(27..31) && &t[26..] != b"-0000",
        };
    if !ok {
        return None;
    }
    // ASCII throughout, so slicing the trimmed text at byte 5 is at a character boundary
    let rest = &original.trim()[5..];
    DateTime::parse_from_rfc2822(rest)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The whole of feed-rs's function.
fn lenient(original: &str) -> Option<DateTime<Utc>> {
    let letter_first = original
        .trim()
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic);
    let rfc3339_attempt = || {
        let text = cleaned(original, rfc3339());
        DateTime::parse_from_rfc3339(text.trim()).ok()
    };
    (if letter_first {
        None
    } else {
        rfc3339_attempt()
    })
    .or_else(|| DateTime::parse_from_rfc2822(&cleaned(original, rfc2822())).ok())
    .or_else(|| {
        DateTime::parse_from_str(&cleaned(original, rfc1123()), "%d %b %Y %H:%M:%S %z").ok()
    })
    .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut gives what the whole function gives, on its shape and near it.
    #[test]
    fn the_canonical_shortcut_agrees_with_the_whole_function() {
        let mut n = 0;
        for wd in ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] {
            for day in ["01", "09", "28", "29", "30", "31", "32", "00"] {
                for month in ["Jan", "Feb", "Apr", "Nov", "Dec"] {
                    for time in ["00:00:00", "09:05:00", "23:59:59", "24:10:00", "12:60:00"] {
                        for zone in ["+0000", "-0000", "+0300", "-0530", "GMT", "UTC", "Z"] {
                            let s = format!(" {wd}, {day} {month} 2024 {time} {zone}\n");
                            assert_eq!(parse_timestamp_lenient(&s), lenient(&s), "{s:?}");
                            n += usize::from(canonical(&s).is_some());
                        }
                    }
                }
            }
        }
        assert!(n > 1000, "{n} took the shortcut");
    }
}
