//! Alerts: their JSON-lines form, and the alert log they are delivered to.
//!
//! An alert is committed to the store's outbox with its item (see the store module); the
//! deliverer ([`crate::deliver`]) appends it to the alert log, and only then hands it on to
//! the sinks (`[[sinks]]`). A line is appended and the file fsynced before the alert counts
//! as delivered, so a crash can repeat a line (same `id`) but never lose one. serde_json
//! escapes every control character, and the text fields were normalised before, so a feed
//! cannot break or forge a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::dedup::Key;
use crate::text;
use crate::watch::{Fired, Match};

/// One line of the alert log: a watch that fired on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// `"match"`; other kinds (feed health) share the log.
    pub kind: String,
    /// Deterministic from the item key and the watch: a re-delivered line has the same id.
    pub id: String,
    pub watch: String,
    /// The feed where the item was first seen.
    pub feed: String,
    pub title: String,
    pub link: Option<String>,
    /// RFC 3339, UTC; null when the feed gives no date.
    pub published: Option<String>,
    /// When feedwatch raised the alert, RFC 3339, UTC.
    pub detected: String,
    /// The item's key, as shown by `feedwatch items`.
    pub item: String,
    pub matches: Vec<Match>,
}

/// Longest title an alert carries, in characters; the stored item keeps the whole title.
pub const MAX_TITLE: usize = 1000;

/// Longest snippet (and matched text) an alert carries, in characters.
pub const MAX_SNIPPET: usize = 300;

impl Alert {
    /// The alert of `fired` for an item. Every delivery (the log line, the `alert` log
    /// event, a webhook body, an exec sink's stdin) takes its text from here, so the title
    /// is capped at [`MAX_TITLE`] and each match's snippet and text at [`MAX_SNIPPET`]
    /// characters, cut at a word boundary where there is one and ended with "…".
    pub fn new(
        item: Key,
        feed: &str,
        title: &str,
        link: Option<&str>,
        published: Option<DateTime<Utc>>,
        detected: DateTime<Utc>,
        fired: &Fired,
    ) -> Alert {
        Alert {
            kind: "match".into(),
            id: item.alert_id(&fired.watch).hex(),
            watch: fired.watch.clone(),
            feed: feed.to_string(),
            title: text::cap(title, MAX_TITLE),
            link: link.map(str::to_string),
            published: published_rfc3339(published),
            detected: rfc3339(detected),
            item: item.hex(),
            matches: fired
                .matches
                .iter()
                .map(|m| Match {
                    text: text::cap(&m.text, MAX_SNIPPET),
                    snippet: text::cap(&m.snippet, MAX_SNIPPET),
                    ..m.clone()
                })
                .collect(),
        }
    }

    /// The log line, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("alerts always serialise")
    }
}

/// A `"feed-health"` line: a feed that has failed or been stale for a while, or recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLine {
    pub kind: String,
    pub id: String,
    pub feed: String,
    /// "failing", "stale", or "ok" (recovered).
    pub state: String,
    /// When the state began, RFC 3339.
    pub since: String,
    /// The last error, in words, for "failing".
    pub error: Option<String>,
    pub detected: String,
}

impl HealthLine {
    pub fn new(
        feed: &str,
        state: &str,
        since: DateTime<Utc>,
        error: Option<&str>,
        detected: DateTime<Utc>,
    ) -> (Key, HealthLine) {
        let since = rfc3339(since);
        let id = Key::of(&["health", feed, state, &since]);
        let line = HealthLine {
            kind: "feed-health".into(),
            id: id.hex(),
            feed: feed.into(),
            state: state.into(),
            since,
            error: error.map(text::sanitize),
            detected: rfc3339(detected),
        };
        (id, line)
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("health lines always serialise")
    }
}

/// Where a regular file's last complete line ends, when bytes without a newline follow it.
fn torn_tail(file: &File) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let meta = file.metadata()?;
    let len = meta.len();
    if !meta.is_file() || len == 0 {
        return Ok(None);
    }
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(None);
        }
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64 + 1));
        }
        if start == 0 {
            return Ok(Some(0));
        }
        end = start;
    }
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An item's date as written in alert lines and views: RFC 3339, or `None` for a year that
/// RFC 3339 cannot write (chrono would give `"+99999-01-01T00:00:00Z"`).
pub fn published_rfc3339(published: Option<DateTime<Utc>>) -> Option<String> {
    use chrono::Datelike;
    published
        .filter(|t| (0..=9999).contains(&t.year()))
        .map(rfc3339)
}

/// The JSON-lines alert log, opened for appending.
#[derive(Debug)]
pub struct AlertLog {
    path: PathBuf,
    file: File,
    /// A failed append could not be cut back: check for a torn last line before the next.
    torn: bool,
    /// Whether the deliverer has compared the log's tail with the store's pending lines
    /// since this file was opened or a delivery failed after an append (see
    /// [`crate::deliver::deliver_pending`]).
    tail_checked: bool,
}

impl AlertLog {
    /// Opens (creating it and its directory if needed) the log at `path`, cutting off a
    /// torn last line.
    pub fn open(path: &Path) -> std::io::Result<AlertLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        if let Some(cut) = torn_tail(&file)? {
            // A process killed inside an append can leave part of a line (Linux may end a
            // write early on SIGKILL). That batch was not yet marked delivered: its whole
            // lines are found in the tail and marked, the rest written again (see
            // crate::deliver); the fragment would only break readers such as jq.
            file.set_len(cut)?;
            file.sync_data()?;
            tracing::warn!(log = %path.display(), at = cut, "cut off a torn last line left by an interrupted write; its alert is written again");
        }
        Ok(AlertLog {
            path: path.to_path_buf(),
            file,
            torn: false,
            tail_checked: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for reading the file being appended to (also after logrotate moved it).
    pub fn reader(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Whether the log's tail still has to be compared with the store's pending lines.
    pub fn tail_unchecked(&self) -> bool {
        !self.tail_checked
    }

    /// Records that the tail was compared (true), or must be again (false).
    pub fn set_tail_checked(&mut self, checked: bool) {
        self.tail_checked = checked;
    }

    /// Appends the lines (JSON objects without their newline) and fsyncs: when this returns
    /// Ok, they are on disk; when it fails (a full disk), the file is cut back to where it
    /// ended before, so it holds none of them, not even part of a line.
    pub fn append(&mut self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        if self.torn {
            if let Some(cut) = torn_tail(&self.file)? {
                self.cut_back(cut)?;
            }
            self.torn = false;
        }
        // where this batch starts: a failed append is cut back to it, so that it leaves
        // neither part of a line (the next append would be glued to it) nor whole lines of
        // a batch that stays pending (the retry writes them again)
        let start = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(buf.as_bytes())
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if let Err(cut) = self.cut_back(start) {
                self.torn = true;
                tracing::error!(log = %self.path.display(), at = start, error = %cut, "cannot cut a failed append off the alert log; it is cut before the next append");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Truncates the log back to `len` (the end of its last whole line) and syncs that.
    /// Writing into a full filesystem never gets further than freeing its blocks.
    fn cut_back(&mut self, len: u64) -> std::io::Result<()> {
        let meta = self.file.metadata()?;
        if meta.is_file() && meta.len() > len {
            self.file.set_len(len)?;
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_is_rfc3339_or_null() {
        let at = |y| Some(DateTime::parse_from_rfc3339(y).unwrap().to_utc());
        assert_eq!(
            published_rfc3339(at("9999-01-01T00:00:00Z")).as_deref(),
            Some("9999-01-01T00:00:00Z")
        );
        let far = chrono::NaiveDate::from_ymd_opt(99999, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        assert_eq!(rfc3339(far), "+99999-01-01T00:00:00Z");
        assert_eq!(published_rfc3339(Some(far)), None);
        assert_eq!(published_rfc3339(None), None);
    }

    /// Regression: a torn last line (a write cut short by SIGKILL) was kept, and the next
    /// append was glued to it, making one line that no JSON reader could parse.
    #[test]
    fn a_torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        for (before, after) in [
            ("{\"a\":1}\n{\"b\":", "{\"a\":1}\n"),
            ("{\"b\":", ""),
            ("{\"a\":1}\n", "{\"a\":1}\n"),
            ("", ""),
        ] {
            std::fs::write(&path, before).unwrap();
            drop(AlertLog::open(&path).unwrap());
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "{before:?}");
        }
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let mut log = AlertLog::open(&path).unwrap();
        let alert = Alert::new(
            Key([0; 16]),
            "f",
            "CIS",
            None,
            None,
            Utc::now(),
            &Fired {
                watch: "cis".into(),
                matches: vec![],
            },
        );
        log.append(&[alert.to_line()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
}
