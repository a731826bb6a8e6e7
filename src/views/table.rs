//! How the text output looks, in one place: tables fitted to the terminal, the one time
//! format (`2026-11-30 03:28Z`, with a relative time where it helps), plurals and long lists
//! summarised. `feeds`, `items`, `alerts`, `status`, `once` and `rematch` write through it.
//!
//! Width: `COLUMNS` when set, else the terminal's width when standard output is one; when
//! it is not (a pipe, a file) a table is written untruncated, so that `grep` sees every
//! character. A cell cut to fit ends in `…`.

use std::fmt::Write as _;
use std::io::IsTerminal;

use chrono::{DateTime, Utc};

/// The width a table may take: `COLUMNS`, else the terminal's, else `None` (untruncated).
pub fn width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_width()
}

#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct passed; nothing else is touched.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return Some(usize::from(ws.ws_col));
        }
    }
    None
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// A time as every text output writes it: `2026-11-30 03:28Z` (UTC, to the minute).
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%MZ").to_string()
}

/// [`time`] with how long ago or ahead: `2026-11-30 03:28Z (3 h ago)`.
pub fn time_and_relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", time(t), relative(t, now))
}

/// `3 h ago`, `in 12 min`, `just now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    if secs.abs() < 5 {
        return "just now".into();
    }
    let span = short(secs.unsigned_abs());
    if secs < 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A span in its largest whole unit: `42 s`, `12 min`, `3 h`, `2 days`.
pub fn short(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86400 => format!("{} h", s / 3600),
        s => plural(s / 86400, "day"),
    }
}

/// A configured duration in words: `1 day`, `7 days`, `36 h`, `15 min`, `90 s` (whole
/// units only, so nothing is rounded away).
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return "0 s".into();
    }
    if s.is_multiple_of(86400) {
        plural(s / 86400, "day")
    } else if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// `1 feed`, `2 feeds`, `0 alerts`.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') || noun.ends_with("ch") {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// Names listed, a long list cut: `a, b, c and 296 more`.
pub fn summarise(names: &[String]) -> String {
    const SHOWN: usize = 3;
    if names.len() <= SHOWN + 1 {
        return names.join(", ");
    }
    format!(
        "{} and {} more",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}

/// `s` cut to `max` characters, the cut marked with `…`.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A column: its header, whether numbers align right, the narrowest it may be cut to, and
/// how soon it gives width when the line is too long (higher: sooner).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub right: bool,
    pub min: usize,
    pub give: u8,
}

impl Column {
    /// A left-aligned column of free text (a title, an error): the first to be cut, down
    /// to `min` characters.
    pub const fn left(header: &'static str, min: usize) -> Column {
        Column {
            header,
            right: false,
            min,
            give: 3,
        }
    }

    /// A left-aligned column of names or states, cut after the free text and the relative
    /// times.
    pub const fn name(header: &'static str, min: usize) -> Column {
        Column {
            give: 1,
            ..Column::left(header, min)
        }
    }

    /// A time ([`time`], maybe with a relative time after it): its relative time is cut
    /// after the free text, before names; the time itself never.
    pub const fn time(header: &'static str) -> Column {
        Column {
            give: 2,
            ..Column::left(header, 17)
        }
    }

    /// A right-aligned column (numbers), never cut below its header.
    pub const fn right(header: &'static str) -> Column {
        Column {
            header,
            right: true,
            min: header.len(),
            give: 0,
        }
    }
}

/// A table written in batches (so that `--limit 0` streams): the column widths are fitted
/// to the first batch and kept for the rest.
#[derive(Debug)]
pub struct Table {
    columns: Vec<Column>,
    widths: Option<Vec<usize>>,
    max: Option<usize>,
}

/// Two spaces between columns.
const GAP: usize = 2;

impl Table {
    pub fn new(columns: &[Column]) -> Table {
        Table::with_width(columns, width())
    }

    /// A table fitted to `max` characters (`None`: untruncated).
    pub fn with_width(columns: &[Column], max: Option<usize>) -> Table {
        Table {
            columns: columns.to_vec(),
            widths: None,
            max,
        }
    }

    /// The whole table of `rows` at once, its header first.
    pub fn render(columns: &[Column], rows: &[Vec<String>], max: Option<usize>) -> String {
        Table::with_width(columns, max).batch(rows)
    }

    /// Rows as text; the first batch fits the widths and writes the header.
    pub fn batch(&mut self, rows: &[Vec<String>]) -> String {
        let mut out = String::new();
        if self.widths.is_none() {
            let widths = self.fit(rows);
            let header: Vec<String> = self.columns.iter().map(|c| c.header.to_string()).collect();
            self.widths = Some(widths);
            self.line(&mut out, &header);
        }
        for row in rows {
            self.line(&mut out, row);
        }
        out
    }

    fn line(&self, out: &mut String, cells: &[String]) {
        let widths = self.widths.as_deref().unwrap_or_default();
        let last = self.columns.len() - 1;
        let mut line = String::new();
        for (i, (c, w)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).map_or("", String::as_str);
            let cell = match c.give {
                // a time loses its relative part whole, with no mark: the time stays exact
                2 if cell.chars().count() > *w && *w >= 17 => cell.chars().take(17).collect(),
                _ => cut(cell, *w),
            };
            let pad = w.saturating_sub(cell.chars().count());
            if c.right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                if i < last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i < last {
                line.extend(std::iter::repeat_n(' ', GAP));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }

    /// Each column as wide as its widest cell; then, while the line is too long, the widest
    /// of the columns that give soonest and may still give is narrowed by one.
    fn fit(&self, rows: &[Vec<String>]) -> Vec<usize> {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                rows.iter()
                    .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                    .chain([c.header.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let Some(max) = self.max else {
            return widths;
        };
        let gaps = GAP * self.columns.len().saturating_sub(1);
        while widths.iter().sum::<usize>() + gaps > max {
            let give = (0..widths.len())
                .filter(|&i| widths[i] > self.columns[i].min.max(1))
                .max_by_key(|&i| (self.columns[i].give, widths[i]));
            match give {
                Some(i) => widths[i] -= 1,
                None => break, // as narrow as it goes: the line wraps
            }
        }
        widths
    }
}

/// The hint for an empty answer, where a person sees it: on standard output when it is a
/// terminal, else on standard error (a script reading standard output gets nothing).
pub fn say_empty(hint: &str) -> std::io::Result<()> {
    use std::io::Write;
    if std::io::stdout().is_terminal() {
        writeln!(std::io::stdout().lock(), "{hint}")
    } else {
        writeln!(std::io::stderr().lock(), "{hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans() {
        let t: DateTime<Utc> = "2026-11-30T03:28:07Z".parse().unwrap();
        assert_eq!(time(t), "2026-11-30 03:28Z");
        let now = t + chrono::Duration::hours(3);
        assert_eq!(time_and_relative(t, now), "2026-11-30 03:28Z (3 h ago)");
        assert_eq!(
            relative(now + chrono::Duration::minutes(12), now),
            "in 12 min"
        );
        assert_eq!(relative(now, now), "just now");
        assert_eq!(short(86400 * 3), "3 days");
        assert_eq!(duration(std::time::Duration::from_secs(86400)), "1 day");
        assert_eq!(
            duration(std::time::Duration::from_secs(7 * 86400)),
            "7 days"
        );
        assert_eq!(duration(std::time::Duration::from_secs(5400)), "90 min");
        assert_eq!(plural(1u64, "feed"), "1 feed");
        assert_eq!(plural(2u64, "watch"), "2 watches");
        assert_eq!(plural(0u64, "alert"), "0 alerts");
    }

    #[test]
    fn long_lists_are_summarised() {
        let names: Vec<String> = (0..299).map(|i| format!("f{i}")).collect();
        assert_eq!(summarise(&names), "f0, f1, f2 and 296 more");
        assert_eq!(summarise(&names[..4]), "f0, f1, f2, f3");
    }

    #[test]
    fn tables_fit_the_width_and_mark_cuts() {
        let cols = [
            Column::left("FEED", 4),
            Column::right("ITEMS"),
            Column::left("LAST ERROR", 10),
        ];
        let rows = vec![vec!["moscow-times".into(), "12".into(), "x".repeat(150)]];
        let out = Table::render(&cols, &rows, Some(60));
        for line in out.lines() {
            assert!(line.chars().count() <= 60, "{line:?}");
        }
        assert!(out.starts_with("FEED"), "{out}");
        assert!(out.contains('…'), "{out}");
        let wide = Table::render(&cols, &rows, None);
        assert!(wide.contains(&"x".repeat(150)), "untruncated: {wide}");
        assert!(!wide.contains('…'));
    }
}
