//! Compaction: sled 0.34 does not give disk space back after deletes (retention deletes
//! every day), so a store whose directory has outgrown its live data (see [`threshold`])
//! is rewritten into a fresh directory, tree by tree, keys and values as they are, and
//! swapped in by renaming: at start-up, and when the daily check of a running service
//! ([`Store::outgrown`]) finds it due (the service then reopens its store). The live size
//! measured last is kept in `meta`, so a check reads the whole store only when the
//! directory has passed the threshold of that measure.
//!
//! Memory: sled 0.34 keeps in memory what a handle has written, and its cache evicts what
//! it has read only late (each of its 256 shards acts once 64 reads are queued), whatever
//! its capacity; a copy through two open handles grew with the store (223 MiB at 100,000
//! items, 274 MiB at 300,000). So the copy goes in chunks of at most `CHUNK` bytes or
//! `CHUNK_RECORDS` records, written in batches of at most `BATCH` records (a batch's
//! writes stay in memory until it ends, and the garbage they leave is collected after
//! each), and after each chunk the copy, after every `SOURCE_CHUNKS` the store read, is
//! closed and opened again, the copy resuming after the last key copied. What stays is
//! what sled keeps for an open store (its page table), which grows with the store far
//! more slowly: figures in docs/durability.md.
//!
//! The swap, with `S` the store directory, `S.compacting` the copy and `S.retired` the old
//! one: copy into `S.compacting`, flush, write the marker `COMPACTED` into it; rename `S` to
//! `S.retired`; rename `S.compacting` to `S`; delete `S.retired`. While copying, the two
//! stores are closed and opened again one at a time, so this process holds one of them
//! throughout, and the copy holds this process's pid file from its start: another
//! feedwatch opening `S` meanwhile is told it is held (`recover` looks at the copy's pid
//! first), never let in to delete the unfinished copy. Both stay open from the marker
//! until both renames are done.
//! A crash at any point leaves a state that `recover` finishes on the next open: `S`
//! missing and a marked `S.compacting` means the second rename is still to do; any other
//! `S.compacting` or `S.retired` is a leftover to delete (its pid file names a process
//! that is gone).

use std::path::{Path, PathBuf};

use super::{Result, SCHEMA_VERSION, Store, StoreError};
use crate::store::export::Counts;

/// The marker written into a finished copy, before the swap.
const COMPACTED: &str = "COMPACTED";

/// `meta` key of the live data measured last, in bytes (big-endian u64).
const LIVE_BYTES: &str = "live_bytes";

/// `meta` key of the disk use per live byte that the last compaction achieved (f64 bits).
const COPY_RATIO: &str = "copy_ratio";

/// Live data below which a compaction's ratio is not recorded.
const MIN_RATIO_LIVE: u64 = 16 << 20;

/// The largest ratio recorded (so a threshold is at most 4.5x the live data).
const MAX_COPY_RATIO: f64 = 3.0;

/// Added to every threshold, so that small stores are left alone.
pub const SLACK: u64 = 64 << 20;

/// The directory size above which a store of `live` bytes of keys and values is compacted:
/// twice the live data, or one and a half times what the last compaction made of that much
/// data (`copy_ratio`: disk bytes per live byte; a fresh sled copy takes 1.5-2x, more as
/// small records such as tombstones take a larger share, and a plain "2x live" rule would
/// then compact every day), plus `slack`.
pub fn threshold(live: u64, copy_ratio: f64, slack: u64) -> u64 {
    let by_live = live.saturating_mul(2);
    let by_copy = (live as f64 * copy_ratio * 1.5) as u64;
    by_live.max(by_copy).saturating_add(slack)
}

/// `FEEDWATCH_COMPACT_ALWAYS=1`: compact whatever the size (the torture and daemon tests
/// use it, so that compactions happen, and kills land in their middle).
fn always() -> bool {
    std::env::var_os("FEEDWATCH_COMPACT_ALWAYS").is_some_and(|v| v == "1")
}

/// `FEEDWATCH_COMPACT_DELAY_MS=N`: a compaction waits N ms before its swap, as a big
/// store's copy takes minutes (the regression tests use it to see the service meanwhile).
fn delay() -> Option<std::time::Duration> {
    std::env::var("FEEDWATCH_COMPACT_DELAY_MS")
        .ok()?
        .parse()
        .ok()
        .map(std::time::Duration::from_millis)
}

/// What a compaction did.
#[derive(Debug, Clone, Copy)]
pub struct Compacted {
    /// Disk use of the directory before and after, in bytes.
    pub before: u64,
    pub after: u64,
    /// Bytes of keys and values in the store.
    pub live: u64,
    pub records: Counts,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// Disk use of a directory and everything below it, in bytes (allocated blocks, so a
/// sparse file counts for what it takes). 0 when it does not exist.
pub fn dir_size(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

fn remove_dir(path: &Path, what: &str) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
            step: format!("removing {what} {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| StoreError::Io {
        step: format!("renaming {} to {}", from.display(), to.display()),
        source,
    })
}

/// Whether a compaction of the store at `path` is under way (or was interrupted): its
/// copy or the store moved aside exists.
pub(super) fn under_way(path: &Path) -> bool {
    sibling(path, "compacting").exists() || sibling(path, "retired").exists()
}

/// Opens a store only to hold its lock (no pid file, no schema handling).
fn lock(path: &Path) -> Result<Store> {
    let mut s = Store::open_raw(path, 1 << 20)?;
    s.owns_pid_file = false;
    Ok(s)
}

/// Finishes or undoes a compaction interrupted by a crash; called by [`Store::open`]
/// before it opens the store. A compaction under way in another process holds both
/// directories, so this reports [`StoreError::Held`] instead of touching them.
pub(super) fn recover(path: &Path) -> Result<()> {
    let fresh = sibling(path, "compacting");
    let retired = sibling(path, "retired");
    if !fresh.exists() && !retired.exists() {
        return Ok(());
    }
    // a compaction under way closes its stores and opens them again between chunks (see
    // compact_measuring), holding one of them throughout; its copy names it from the start
    if let Some(pid) = super::lock::holder(&fresh).filter(|&p| p != std::process::id()) {
        return Err(StoreError::Held {
            path: path.into(),
            pid: Some(pid),
        });
    }
    let held = |e: StoreError| match e {
        StoreError::Held { pid, .. } => StoreError::Held {
            path: path.into(),
            pid,
        },
        e => e,
    };
    if !path.exists() {
        if fresh.join(COMPACTED).exists() {
            // crashed between the two renames: the copy is complete, put it in place
            let copy = lock(&fresh).map_err(held)?;
            rename(&fresh, path)?;
            drop(copy);
        } else if retired.exists() {
            rename(&retired, path)?;
        } else {
            // an unfinished copy of a store that does not exist: a leftover (a compaction
            // under way holds its store in place until its copy is marked)
            let copy = lock(&fresh).map_err(held)?;
            drop(copy);
            remove_dir(&fresh, "an unfinished compacted copy")?;
        }
    }
    // the store is in place; hold it while deleting what is left of a compaction
    let store = lock(path)?;
    remove_dir(&fresh, "an unfinished compacted copy")?;
    remove_dir(&retired, "the store left by a compaction")?;
    let _ = std::fs::remove_file(path.join(COMPACTED));
    drop(store);
    Ok(())
}

impl Store {
    /// Entries and bytes of keys and values, tree by tree.
    pub fn tree_sizes(&self) -> Result<Vec<(&'static str, u64, u64)>> {
        let mut out = Vec::new();
        for (name, tree) in [
            ("feeds", &self.feeds),
            ("records", &self.records),
            ("seen", &self.seen),
            ("alerts", &self.alerts),
            ("outbox", &self.outbox),
            ("meta", &self.meta),
        ] {
            let (mut n, mut bytes) = (0, 0);
            for entry in tree.iter() {
                let (k, v) = entry?;
                n += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            out.push((name, n, bytes));
        }
        Ok(out)
    }

    /// Bytes of keys and values over every tree: what a fresh copy of the store holds.
    pub fn live_bytes(&self) -> Result<u64> {
        Ok(self.tree_sizes()?.iter().map(|(_, _, b)| b).sum())
    }

    /// Disk use of the store's directory, in bytes.
    pub fn disk_use(&self) -> Result<u64> {
        dir_size(&self.path).map_err(StoreError::io(format!(
            "measuring the store {}",
            self.path.display()
        )))
    }

    /// Whether the directory has outgrown its [`threshold`]. Measuring the live data reads
    /// the whole store, so it is done only once the directory has passed the threshold of
    /// the live size measured last time (kept in `meta`).
    /// With `FEEDWATCH_COMPACT_ALWAYS=1` it always has (tests use it to compact in `run`).
    pub fn outgrown(&self) -> Result<bool> {
        Ok(always() || self.outgrown_over(SLACK)?.is_some())
    }

    /// The live size when the directory is over its threshold with `slack`.
    fn outgrown_over(&self, slack: u64) -> Result<Option<u64>> {
        let size = self.disk_use()?;
        let meta_u64 = |key| -> Result<Option<u64>> {
            Ok(self
                .meta
                .get(key)?
                .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
        };
        let last = meta_u64(LIVE_BYTES)?.unwrap_or(0);
        let ratio = meta_u64(COPY_RATIO)?.map_or(0.0, f64::from_bits);
        if size <= threshold(last, ratio, slack) {
            return Ok(None);
        }
        let live = self.live_bytes()?;
        self.meta.insert(LIVE_BYTES, &live.to_be_bytes())?;
        Ok((size > threshold(live, ratio, slack)).then_some(live))
    }

    /// Opens the store at `path`, first rewriting it into a fresh directory when it has
    /// outgrown its [`threshold`]. With `FEEDWATCH_COMPACT_ALWAYS=1` in the environment it
    /// compacts whatever the size: the torture test uses it so that kills land in the
    /// middle of compactions.
    pub fn open_compacting(path: &Path, cache: u64) -> Result<(Store, Option<Compacted>)> {
        Store::open_compacting_over(path, cache, if always() { None } else { Some(SLACK) })
    }

    /// [`Store::open_compacting`] with another slack than [`SLACK`]; `None`: always.
    fn open_compacting_over(
        path: &Path,
        cache: u64,
        slack: Option<u64>,
    ) -> Result<(Store, Option<Compacted>)> {
        let store = Store::open(path, cache)?;
        let due = match slack {
            Some(slack) => store.outgrown_over(slack)?.is_some(),
            // the copy measures the live data: no read of the whole store beforehand
            None => true,
        };
        if !due {
            return Ok((store, None));
        }
        let (store, done) = store.compact_now(cache)?;
        Ok((store, Some(done)))
    }

    /// Compacts this store now (see [`Store::compact`]) and opens the result; for a
    /// running service whose daily check found the store outgrown.
    /// The live data is measured by the copy, not read beforehand: a read of the whole
    /// store costs sled as much memory as the copy.
    pub fn compact_now(self, cache: u64) -> Result<(Store, Compacted)> {
        let path = self.path.clone();
        let before = self.disk_use()?;
        let (records, live) = self.compact_measuring(cache)?;
        let store = Store::open(&path, cache)?;
        let after = store.disk_use()?;
        store.meta.insert(LIVE_BYTES, &live.to_be_bytes())?;
        // a small store's copy is mostly sled's preallocated segments: its ratio would say
        // nothing about the store grown big, and would hold compaction off for good
        if live >= MIN_RATIO_LIVE {
            let ratio = (after as f64 / live as f64).min(MAX_COPY_RATIO);
            store
                .meta
                .insert(COPY_RATIO, &ratio.to_bits().to_be_bytes())?;
        } else {
            store.meta.remove(COPY_RATIO)?;
        }
        let done = Compacted {
            before,
            after,
            live,
            records,
        };
        Ok((store, done))
    }

    /// Rewrites this store into a fresh directory and swaps it in place of this one; this
    /// handle is closed, open the store again to use it.
    pub fn compact(self, cache: u64) -> Result<Counts> {
        Ok(self.compact_measuring(cache)?.0)
    }

    /// [`Store::compact`], also returning the bytes of keys and values copied.
    fn compact_measuring(self, cache: u64) -> Result<(Counts, u64)> {
        let path = self.path.clone();
        let fresh = sibling(&path, "compacting");
        let retired = sibling(&path, "retired");
        remove_dir(&fresh, "an unfinished compacted copy")?;
        remove_dir(&retired, "the store left by a compaction")?;
        let cache = cache.min(COPY_CACHE);
        let mut copy = open_copy(&fresh, cache, true)?;
        // the pid file stays in the store, naming this process, while its handle is
        // closed and opened again
        let mut this = self;
        this.owns_pid_file = false;
        let mut counts = Counts::default();
        let mut at = Resume::default();
        // sled 0.34 keeps in memory what it has written and (as its cache evicts late)
        // much of what it has read, whatever its cache size: the copy is closed and opened
        // again after each chunk to bound it, the store after every SOURCE_CHUNKS, one
        // after the other, so that this process holds one of them throughout (see
        // [`recover`])
        for chunk in 1.. {
            if this.stream_into(&copy, &mut counts, &mut at)? {
                break;
            }
            copy.flush()?;
            drop(copy);
            copy = open_copy(&fresh, cache, false)?;
            // the store read grows more slowly than the copy written, and opening it
            // again costs more (it is whole): every few chunks
            if chunk % SOURCE_CHUNKS == 0 {
                drop(this);
                trim();
                this = Store::open_raw(&path, cache)?;
                this.owns_pid_file = false;
            }
            trim();
        }
        copy.set_schema(SCHEMA_VERSION)?;
        copy.flush()?;
        // the files that name the holder go along, so that a reader finds them throughout
        for name in CARRIED {
            if let Ok(text) = std::fs::read(path.join(name)) {
                let _ = std::fs::write(fresh.join(name), text);
            }
        }
        let marker = fresh.join(COMPACTED);
        std::fs::File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io(format!("writing {}", marker.display())))?;
        sync_dir(&fresh)?;
        if let Some(pause) = delay() {
            std::thread::sleep(pause);
        }

        let mut old = this;
        old.owns_pid_file = false;
        rename(&path, &retired)?;
        rename(&fresh, &path)?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        drop(copy);
        drop(old);
        remove_dir(&retired, "the store left by a compaction")?;
        let _ = std::fs::remove_file(path.join(COMPACTED));
        Ok((counts, at.live))
    }
}

/// Records written to the copy in one batch, and their bytes at most: sled holds what a
/// batch writes in memory until the batch is done.
const BATCH: usize = 1_000;
const BATCH_BYTES: usize = 256 << 10;
/// Bytes and records copied before both stores are closed and opened again (see
/// [`Store::compact`]): sled's memory grows with either.
const CHUNK: usize = 4 << 20;
const CHUNK_RECORDS: usize = 10_000;
/// Chunks copied before the store read is closed and opened again.
const SOURCE_CHUNKS: usize = 2;
/// The page cache of both stores while copying, at most.
const COPY_CACHE: u64 = 16 << 20;

/// Opens the compacted copy at `fresh`; `new`: a fresh one, given this process's pid file
/// at once (so that another process's [`recover`] finds it held, see there). Opened again,
/// it must still be the copy begun (not made anew by someone who deleted it).
fn open_copy(fresh: &Path, cache: u64, new: bool) -> Result<Store> {
    // the copy is written once, in key order, and then mostly read: it is compressed
    // (sled's zstd), which halves its size on disk for a few times the CPU per write;
    // a store made by a first poll is not, so that a cold start of many feeds stays fast
    let mut copy = Store::open_raw_as(fresh, cache, true)?;
    copy.owns_pid_file = false;
    if new {
        super::lock::write_pid(fresh);
    } else if super::lock::holder(fresh) != Some(std::process::id()) {
        return Err(StoreError::Io {
            step: format!("copying the store into {}", fresh.display()),
            source: std::io::Error::other("the unfinished copy was deleted meanwhile"),
        });
    }
    Ok(copy)
}

/// Frees what sled's writes left for its epoch-based garbage collector: a batch runs under
/// one pin, so the old versions of every page it wrote pile up, and each later pin frees
/// only a few bags of them. Pinning (through sled's own re-export of the collector) and
/// flushing a few times frees them while copying, not at the next reopening.
pub(super) fn collect_garbage() {
    for _ in 0..64 {
        sled::pin().flush();
    }
}

/// Gives the memory freed by closing the stores back to the system (glibc keeps it in
/// its arenas, where the next chunk's allocations, made by other threads, may not reuse it).
pub(super) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The files beside the store that name the process holding it (the pid, the API's
/// address), carried into the compacted copy.
const CARRIED: [&str; 2] = ["feedwatch.pid", "feedwatch.api"];

impl Store {
    /// Copies the trees of this store into `target` as they are (keys and values, no
    /// decoding), tree by tree in bounded batches, from `at` on, until about [`CHUNK`]
    /// bytes or [`CHUNK_RECORDS`] records are copied (false: more to do from `at`) or all
    /// of it (true).
    fn stream_into(&self, target: &Store, counts: &mut Counts, at: &mut Resume) -> Result<bool> {
        let names = self.db.tree_names();
        let (mut copied, mut records) = (0, 0);
        while let Some(name) = names.get(at.tree) {
            let from = self.db.open_tree(name)?;
            let to = target.db.open_tree(name)?;
            let entries = match at.after.take() {
                Some(after) => {
                    from.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                }
                None => from.iter(),
            };
            let (mut batch, mut n, mut bytes) = (sled::Batch::default(), 0, 0);
            for entry in entries {
                let (k, v) = entry?;
                count(counts, name, &k);
                bytes += k.len() + v.len();
                at.live += (k.len() + v.len()) as u64;
                // a compressed copy takes records plain (see record::encode_item)
                let v = match (target.compressed, name.as_ref()) {
                    (true, b"records") => super::record::plain(&v)
                        .map(|p| sled::IVec::from(p.as_ref()))
                        .unwrap_or(v),
                    _ => v,
                };
                batch.insert(k.clone(), v);
                n += 1;
                if n >= BATCH || bytes >= BATCH_BYTES {
                    to.apply_batch(std::mem::take(&mut batch))?;
                    collect_garbage();
                    (copied, records) = (copied + bytes, records + n);
                    (n, bytes) = (0, 0);
                    if copied >= CHUNK || records >= CHUNK_RECORDS {
                        at.after = Some(k);
                        return Ok(false);
                    }
                }
            }
            to.apply_batch(batch)?;
            (copied, records) = (copied + bytes, records + n);
            at.tree += 1;
        }
        Ok(true)
    }
}

/// Where a chunked copy goes on: the tree (by its place in the list) and the last key
/// copied from it.
#[derive(Default)]
struct Resume {
    tree: usize,
    after: Option<sled::IVec>,
    /// Bytes of keys and values copied so far.
    live: u64,
}

/// Counts one record of tree `name` as what an export would call it.
fn count(counts: &mut Counts, name: &[u8], key: &[u8]) {
    match name {
        b"feeds" => counts.feeds += 1,
        b"records" => counts.items += 1,
        b"seen" => counts.seen += 1,
        b"alerts" => counts.alerts += 1,
        b"health" => counts.health += 1,
        b"outbox" => counts.pending += 1,
        b"journal" => counts.journal += 1,
        b"meta" if key.starts_with(super::outbox::SINK_CURSOR.as_bytes()) => counts.cursors += 1,
        _ => {}
    }
}

/// fsync a directory, so that the renames and files in it are durable.
fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(format!("syncing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::export::Record;
    use crate::store::tests::filled;

    fn records(store: &Store) -> Vec<Record> {
        store.records().map(|r| r.unwrap()).collect()
    }

    /// Compaction rewrites the store in place: the same records, one pending alert, and
    /// no leftover directories.
    #[test]
    fn compaction_keeps_every_record() {
        let (d, store) = filled();
        let path = store.path().to_path_buf();
        let before = records(&store);
        drop(store);
        assert_eq!(super::super::lock::compressed(&path), Some(false));
        let (store, done) = Store::open_compacting_over(&path, 1 << 20, Some(0)).unwrap();
        let done = done.expect("a store over 2x its live data (slack 0) is compacted");
        assert_eq!(done.records.items, 2);
        assert_eq!(records(&store), before);
        // the copy is compressed, and opens so again (sled refuses a changed setting)
        assert_eq!(super::super::lock::compressed(&path), Some(true));
        drop(store);
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(records(&store), before);
        assert_eq!(store.pending(10).unwrap().len(), 1);
        let mut left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["store"]);
        assert!(!path.join(COMPACTED).exists());
    }

    /// The check: a store over 2x its live data (slack 0 here) has outgrown it; the live
    /// data is measured again only when the size passes the threshold of the last measure;
    /// a compaction records the live size, and the copy ratio only for a store big enough.
    #[test]
    fn a_store_over_its_threshold_has_outgrown_it() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        let size = store.disk_use().unwrap();
        assert!(
            store.outgrown_over(size).unwrap().is_none(),
            "under 2x live + size"
        );
        let live = store.live_bytes().unwrap();
        assert!(
            size > 2 * live,
            "a tiny sled store is mostly preallocated segments"
        );
        let measured = store.outgrown_over(0).unwrap().expect("outgrown");
        assert!(measured >= live, "the measure includes itself in meta");
        drop(store);
        let (store, done) = Store::open_compacting_over(&path, 1 << 20, Some(0)).unwrap();
        let done = done.expect("compacted");
        let live = store.meta.get(LIVE_BYTES).unwrap().unwrap();
        assert_eq!(live.as_ref(), done.live.to_be_bytes());
        assert!(
            store.meta.get(COPY_RATIO).unwrap().is_none(),
            "a tiny store's copy ratio (preallocated segments) is not recorded"
        );
    }

    #[test]
    fn thresholds() {
        assert_eq!(
            threshold(100, 0.0, 64),
            264,
            "never compacted: 2x live + slack"
        );
        assert_eq!(
            threshold(100, 1.2, 64),
            200 + 64,
            "twice live is more than 1.5 x 1.2"
        );
        assert_eq!(
            threshold(100, 2.0, 64),
            300 + 64,
            "1.5 x what the last copy took"
        );
    }

    /// A crash between the two renames (the store moved aside, the copy not yet in place)
    /// is finished on the next open.
    #[test]
    fn an_interrupted_swap_is_finished_on_open() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        let before = records(&store);
        let fresh = sibling(&path, "compacting");
        let copy = Store::open_raw(&fresh, 1 << 20).unwrap();
        copy.set_schema(SCHEMA_VERSION).unwrap();
        store.copy_into(&copy).unwrap();
        drop(copy);
        std::fs::write(fresh.join(COMPACTED), "").unwrap();
        drop(store);
        std::fs::rename(&path, sibling(&path, "retired")).unwrap();

        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(records(&store), before);
        assert!(!fresh.exists() && !sibling(&path, "retired").exists());
    }

    /// Fault 8's race: a reader opening the store just as a compaction moved it aside
    /// (between the two renames) must not make an empty store in its place (the copy's
    /// rename would then fail, and the next open would delete both the copy and the old
    /// store as leftovers): it is told the store is held, and leaves no directory.
    #[test]
    fn a_store_between_the_renames_is_not_created_anew() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        drop(store);
        std::fs::rename(&path, sibling(&path, "retired")).unwrap();
        let opened = Store::open_raw(&path, 1 << 20);
        assert!(matches!(opened, Err(StoreError::Held { .. })));
        assert!(
            !path.exists(),
            "no store made in place of the one moved aside"
        );
    }

    /// Every tree's keys and values, tree by tree.
    fn contents(store: &Store) -> Vec<(sled::IVec, Vec<(sled::IVec, sled::IVec)>)> {
        let mut names = store.db.tree_names();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let tree = store.db.open_tree(&n).unwrap();
                (n, tree.iter().map(|e| e.unwrap()).collect())
            })
            .collect()
    }

    /// A store copied in several chunks (both stores closed and opened again between
    /// them, the copy resuming inside a tree) comes out the same, key for key.
    #[test]
    fn a_copy_in_chunks_keeps_every_record() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        let mut batch = sled::Batch::default();
        for i in 0..(2 * CHUNK_RECORDS + 1234) as u64 {
            batch.insert(&i.to_be_bytes(), format!("item {i}").as_bytes());
        }
        store.seen.apply_batch(batch).unwrap();
        let before = contents(&store);
        drop(store);
        let (store, done) = Store::open_compacting_over(&path, 1 << 20, None).unwrap();
        assert!(done.unwrap().records.seen > 2 * CHUNK_RECORDS as u64);
        let after = contents(&store);
        assert_eq!(after.len(), before.len());
        for ((name, b), (_, a)) in before.iter().zip(&after) {
            let name = String::from_utf8_lossy(name);
            let meta = name == "meta";
            // meta gains the live size measured by the copy
            let a: Vec<_> = a
                .iter()
                .filter(|(k, _)| !meta || k.as_ref() != LIVE_BYTES.as_bytes())
                .collect();
            let b: Vec<_> = b
                .iter()
                .filter(|(k, _)| !meta || k.as_ref() != LIVE_BYTES.as_bytes())
                .collect();
            assert_eq!(a.len(), b.len(), "records of {name}");
            assert!(a == b, "{name} differs");
        }
        assert!(!sibling(&path, "compacting").exists());
    }

    /// While a compaction copies, its stores are closed and opened again between chunks:
    /// another process opening the store meanwhile finds the copy named by a live process
    /// (here pid 1) and is told the store is held, leaving the copy alone.
    #[test]
    fn a_copy_under_way_in_another_process_holds_the_store() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        drop(store);
        let fresh = sibling(&path, "compacting");
        drop(Store::open_raw(&fresh, 1 << 20).unwrap());
        std::fs::write(fresh.join("feedwatch.pid"), "1").unwrap();
        let opened = Store::open(&path, 1 << 20);
        assert!(
            matches!(opened, Err(StoreError::Held { pid: Some(1), .. })),
            "{:?}",
            opened.err()
        );
        assert!(fresh.exists(), "the copy under way is left alone");
        // the same copy left by a process that is gone is a leftover
        std::fs::write(fresh.join("feedwatch.pid"), u32::MAX.to_string()).unwrap();
        drop(Store::open(&path, 1 << 20).unwrap());
        assert!(!fresh.exists());
    }

    /// A copy that was not finished (no marker) is deleted; the store is untouched.
    #[test]
    fn an_unfinished_copy_is_deleted_on_open() {
        let (_d, store) = filled();
        let path = store.path().to_path_buf();
        let before = records(&store);
        drop(store);
        let fresh = sibling(&path, "compacting");
        drop(Store::open_raw(&fresh, 1 << 20).unwrap());
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(records(&store), before);
        assert!(!fresh.exists());
    }
}
