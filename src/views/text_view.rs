//! The views as text for a person: `feeds` and `items` as tables with headers, `alerts` as
//! one block per item (every watch it fired listed in it). Times, widths, plurals and long
//! lists go through [`super::table`], the one place that decides how they look.

use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::table::{self, Column, Table};
use crate::text;

/// A string field as a person sees it: the fields come from feeds, servers and older
/// stores, so they are [`text::clean`]ed (no escape sequences reach the terminal).
fn str_of(v: &Value, key: &str) -> String {
    text::clean(v[key].as_str().unwrap_or(""))
}

fn time_of(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v[key].as_str().and_then(|s| s.parse().ok())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(text::clean)
        .collect()
}

const FEED_COLUMNS: [Column; 8] = [
    Column::name("FEED", 6),
    Column::name("STATE", 6),
    Column::time("LAST SUCCESS"),
    Column::right("FAILS"),
    Column::name("NEXT POLL", 9),
    Column::right("ITEMS"),
    Column::right("ITEMS/DAY"),
    Column::left("LAST ERROR", 8),
];

/// `feeds`: one line per feed (and one for a `full_text` feed's articles), fitted to the
/// terminal's width.
pub fn render_feeds(rows: &[Value], now: DateTime<Utc>) -> String {
    render_feeds_in(rows, now, table::width())
}

/// [`render_feeds`] in `width` characters (`None`: untruncated).
pub fn render_feeds_in(rows: &[Value], now: DateTime<Utc>, width: Option<usize>) -> String {
    let mut lines = Vec::new();
    for r in rows {
        let mut state = str_of(r, "state");
        if let Some(since) = time_of(r, "since") {
            state = format!("{state} since {}", table::time_and_relative(since, now));
        }
        let error = text::sanitize(
            r["disabled"]
                .as_str()
                .or(r["last_error"].as_str())
                .or(r["recovered"].as_str())
                .unwrap_or(""),
        );
        lines.push(vec![
            str_of(r, "feed"),
            state,
            time_of(r, "last_success").map_or("-".into(), |t| table::time_and_relative(t, now)),
            r["failures"].as_u64().unwrap_or(0).to_string(),
            // a countdown: how soon matters here, not the hour
            time_of(r, "next_poll").map_or("-".into(), |t| {
                if t <= now {
                    "due".into()
                } else {
                    table::relative(t, now)
                }
            }),
            r["items"].as_u64().unwrap_or(0).to_string(),
            format!("{:.1}", r["items_per_day"].as_f64().unwrap_or(0.0)),
            error,
        ]);
        let a = &r["articles"];
        if a.is_object() {
            let mut note = format!(
                "articles: {} fetched, {} failed",
                a["fetched"].as_u64().unwrap_or(0),
                a["failed"].as_u64().unwrap_or(0),
            );
            if let Some(e) = a["last_error"].as_str() {
                let _ = write!(note, "; last: {}", text::sanitize(e));
            }
            let mut row = vec![String::new(); FEED_COLUMNS.len()];
            row[1] = note;
            lines.push(row);
        }
    }
    Table::render(&FEED_COLUMNS, &lines, width)
}

const ITEM_COLUMNS: [Column; 5] = [
    Column::time("PUBLISHED"),
    Column::name("FEED", 6),
    Column::name("WATCHES", 7),
    Column::left("TITLE", 20),
    Column::left("LINK", 16),
];

/// An item's table cells: its date (published, else first seen), feed, the watches that
/// fired on it (`-`: none), title and link.
fn item_cells(i: &Value) -> Vec<String> {
    let when = time_of(i, "published")
        .or(time_of(i, "first_seen"))
        .map(table::time)
        .unwrap_or_default();
    let watches = strings(&i["watches"]);
    vec![
        when,
        str_of(i, "feed"),
        if watches.is_empty() {
            "-".into()
        } else {
            watches.join(",")
        },
        str_of(i, "title"),
        str_of(i, "link"),
    ]
}

/// `items` as one table (its header first).
pub fn render_items(rows: &[Value]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(item_cells).collect();
    Table::render(&ITEM_COLUMNS, &cells, table::width())
}

/// `alerts` as text: one block per item, newest first, listing every watch it fired.
/// Alerts of one item are grouped when they come one after the other (as the store and the
/// alert log keep them).
pub fn render_alerts(rows: &[Value]) -> String {
    let now = Utc::now();
    let mut out = String::new();
    let mut start = 0;
    while start < rows.len() {
        let item = &rows[start]["item"];
        let end = rows[start..]
            .iter()
            .position(|r| r["item"] != *item || item.is_null() && r != &rows[start])
            .map_or(rows.len(), |n| start + n);
        out.push_str(&alert_block(&rows[start..end], now));
        start = end;
    }
    out
}

/// One item's alerts as a block: when, the watches, the feed and title; the other feeds
/// that carried it; the link; each watch's matched terms.
fn alert_block(alerts: &[Value], now: DateTime<Utc>) -> String {
    let a = &alerts[0];
    let mut watches: Vec<String> = Vec::new();
    for x in alerts {
        let w = str_of(x, "watch");
        if !watches.contains(&w) {
            watches.push(w);
        }
    }
    let when = time_of(a, "detected").map_or_else(
        || str_of(a, "detected"),
        |t| table::time_and_relative(t, now),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{when}  [{}]  {}: {}",
        watches.join(", "),
        str_of(a, "feed"),
        str_of(a, "title")
    );
    let feed = str_of(a, "feed");
    let also: Vec<String> = strings(&a["feeds"])
        .into_iter()
        .filter(|f| *f != feed)
        .collect();
    if !also.is_empty() {
        let _ = writeln!(out, "    also in: {}", table::summarise(&also));
    }
    if let Some(link) = a["link"].as_str() {
        let _ = writeln!(out, "    {}", text::clean(link));
    }
    for x in alerts {
        let who = if alerts.len() > 1 {
            format!("{}: ", str_of(x, "watch"))
        } else {
            String::new()
        };
        for m in x["matches"].as_array().into_iter().flatten() {
            // the rule a term belongs to, unless it is the plain any-list
            let rule = match str_of(m, "rule").as_str() {
                "" | "any" => String::new(),
                r => format!(" ({r})"),
            };
            let _ = writeln!(
                out,
                "    {who}{:?}{rule} in {}: {}",
                str_of(m, "term"),
                str_of(m, "field"),
                str_of(m, "snippet")
            );
        }
    }
    out
}

/// Rows before the first batch of a table is written: its widths are fitted to them.
const BATCH: usize = 100;

/// Writes `items` or `alerts` rows to stdout as they come: JSON lines, or text (a table in
/// batches, or alert blocks, an item's alerts kept together), and counts them.
pub struct Printer {
    json: bool,
    view: &'static str,
    table: Table,
    pending: Vec<Value>,
    /// Rows written so far.
    pub rows: usize,
}

impl Printer {
    /// A printer for `view` (`"items"` or `"alerts"`).
    pub fn new(json: bool, view: &'static str) -> Printer {
        Printer {
            json,
            view,
            table: Table::new(&ITEM_COLUMNS),
            pending: Vec::new(),
            rows: 0,
        }
    }

    /// One row.
    pub fn row(&mut self, row: Value) -> anyhow::Result<()> {
        self.rows += 1;
        if self.json {
            writeln!(std::io::stdout().lock(), "{row}")?;
            return Ok(());
        }
        let flush = match self.view {
            "items" => self.pending.len() + 1 >= BATCH,
            // an item's alerts are adjacent: a block is written when the next item starts
            _ => self
                .pending
                .last()
                .is_some_and(|p| p["item"] != row["item"]),
        };
        if flush && self.view != "items" {
            self.write()?;
        }
        self.pending.push(row);
        if flush && self.view == "items" {
            self.write()?;
        }
        Ok(())
    }

    /// Writes what is held back; call it once after the last row.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> anyhow::Result<()> {
        let rows = std::mem::take(&mut self.pending);
        let text = match self.view {
            "items" => {
                let cells: Vec<Vec<String>> = rows.iter().map(item_cells).collect();
                self.table.batch(&cells)
            }
            _ => render_alerts(&rows),
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The feeds table: a 150-character error and a long state stay in their
    /// columns at 100 characters, times in one format.
    #[test]
    fn feeds_fit_and_say_times_one_way() {
        let now: DateTime<Utc> = "2026-11-30T06:28:07Z".parse().unwrap();
        let row = json!({
            "feed": "moscow-times", "state": "failing", "since": "2026-11-30T03:28:07Z",
            "last_success": "2026-11-29T03:28:07Z", "failures": 4,
            "next_poll": "2026-11-30T06:40:00Z", "items": 12, "items_per_day": 3.0,
            "last_error": "e".repeat(150),
        });
        let out = render_feeds_in(std::slice::from_ref(&row), now, Some(100));
        assert!(out.starts_with("FEED"), "{out}");
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{line:?}");
        }
        assert!(out.contains("2026-11-29 03:28Z "), "{out}");
        assert!(out.contains('…'), "{out}");
        let wide = render_feeds_in(&[row], now, None);
        assert!(wide.contains("2026-11-29 03:28Z (27 h ago)"), "{wide}");
        assert!(wide.contains(&"e".repeat(150)), "{wide}");
        assert!(out.contains('…'), "{out}");
    }

    #[test]
    fn an_items_alerts_are_one_block() {
        let a = |w: &str| {
            json!({"item": "k1", "watch": w, "feed": "mt", "title": "T", "link": "https://x/1",
                   "detected": "2026-11-30T03:28:07Z", "feeds": ["mt", "a", "b", "c", "d", "e"],
                   "matches": [{"term": w, "field": "title", "snippet": "…"}]})
        };
        let out = render_alerts(&[a("cis"), a("csto"), a("csto2"), a("x")]);
        assert_eq!(out.matches("mt: T").count(), 1, "{out}");
        assert!(out.contains("[cis, csto, csto2, x]"), "{out}");
        assert!(out.contains("also in: a, b, c and 2 more"), "{out}");
    }
}
