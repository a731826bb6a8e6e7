//! The outbox (alert-log lines committed but not yet delivered) and the sinks' delivery
//! journal.

use chrono::{DateTime, Utc};

use super::{Result, Store, decode};
use crate::alert::Alert;
use crate::dedup::Key;

/// The outbox value that marks a feed-health line (an alert's entry has an empty value).
pub const HEALTH_TAG: u8 = b'h';

impl Store {
    /// Undelivered alert-log lines (alerts and feed-health lines), oldest first, with their
    /// outbox entries.
    pub fn pending(&self, limit: usize) -> Result<Vec<(Queued, String)>> {
        let mut out = Vec::new();
        for entry in self.outbox.iter().take(limit) {
            let (queued, tag) = entry?;
            let queued = Queued(queued.as_ref().try_into().unwrap_or([0; 24]));
            let id = queued.alert();
            let line = if tag.as_ref() == [HEALTH_TAG] {
                self.health
                    .get(id.0)?
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
            } else {
                self.alerts
                    .get(id.0)?
                    .map(|a| decode::<Alert>("alerts", &a).map(|a| a.to_line()))
                    .transpose()?
            };
            match line {
                Some(line) => out.push((queued, line)),
                // cannot happen (line and entry are written together); never block the queue
                None => {
                    self.outbox.remove(queued.0)?;
                }
            }
        }
        Ok(out)
    }

    /// Removes delivered alerts from the outbox.
    pub fn mark_delivered(&self, delivered: &[Queued]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for q in delivered {
            batch.remove(&q.0[..]);
        }
        self.outbox.apply_batch(batch)?;
        Ok(())
    }
    /// Alert-log lines committed but not yet delivered.
    pub fn pending_count(&self) -> usize {
        self.outbox.len()
    }
}

/// The delivery journal for sinks: every line written to the alert log, in order, and
/// each sink's cursor into it. Kept only while sinks are configured.
impl Store {
    /// Turns the journal on (the service does when `[[sinks]]` exist).
    pub fn keep_journal(&self, on: bool) {
        self.journal_on
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Appends delivered lines to the journal, if it is kept. Sequences only grow, also
    /// after an import or a compaction copied the journal into a fresh database (whose
    /// id generator starts again from zero).
    pub fn journal_append(&self, lines: &[String]) -> Result<()> {
        if !self.journal_on.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let journal = self.db.open_tree(JOURNAL)?;
        let mut next = journal.last()?.map_or(0, |(k, _)| be_u64(&k) + 1);
        let mut batch = sled::Batch::default();
        for line in lines {
            // sequences start at 1: a cursor of 0 means "nothing delivered yet"
            let seq = (self.db.generate_id()? + 1).max(next);
            next = seq + 1;
            batch.insert(&seq.to_be_bytes(), line.as_bytes());
        }
        journal.apply_batch(batch)?;
        Ok(())
    }

    /// Journal entries after sequence `after`, oldest first.
    pub fn journal_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>> {
        let journal = self.db.open_tree(JOURNAL)?;
        let start = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for entry in journal.range(start..).take(limit) {
            let (k, v) = entry?;
            out.push((be_u64(&k), String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// The last journal sequence a sink has delivered (0: none). A new sink starts at the
    /// journal's end: it receives what is delivered from its first start on.
    pub fn sink_cursor(&self, sink: &str) -> Result<u64> {
        let key = format!("{SINK_CURSOR}{sink}");
        if let Some(v) = self.meta.get(&key)? {
            return Ok(be_u64(&v));
        }
        let journal = self.db.open_tree(JOURNAL)?;
        let end = journal.last()?.map_or(0, |(k, _)| be_u64(&k));
        self.meta.insert(key, &end.to_be_bytes())?;
        Ok(end)
    }

    pub fn set_sink_cursor(&self, sink: &str, seq: u64) -> Result<()> {
        self.meta
            .insert(format!("{SINK_CURSOR}{sink}"), &seq.to_be_bytes())?;
        Ok(())
    }
}

/// The tree of the sinks' delivery journal.
pub(super) const JOURNAL: &str = "journal";
/// `meta` key prefix of a sink's cursor into the journal.
pub(super) const SINK_CURSOR: &str = "sink:";

pub(super) fn be_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or_default())
}
/// An outbox entry: when the line was queued, and its alert id or feed-health line id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Queued(pub(super) [u8; 24]);

impl Queued {
    pub fn alert(&self) -> Key {
        Key(self.0[8..].try_into().expect("24 = 8 + 16"))
    }
}

/// A key that sorts by time, then by `key`: milliseconds since 1970 (offset so that dates
/// before 1970 sort first), big-endian, then the 16 bytes of `key`.
pub fn time_key(t: DateTime<Utc>, key: Key) -> [u8; 24] {
    let mut k = [0; 24];
    k[..8].copy_from_slice(&time_prefix(t));
    k[8..].copy_from_slice(&key.0);
    k
}

/// The first 8 bytes of [`time_key`]: every key of an earlier time sorts below it.
pub(super) fn time_prefix(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time of a [`time_key`].
pub(super) fn key_time(k: &[u8]) -> Option<DateTime<Utc>> {
    let ms = u64::from_be_bytes(k.get(..8)?.try_into().ok()?) ^ (1 << 63);
    DateTime::from_timestamp_millis(ms as i64)
}
