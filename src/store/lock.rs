//! The store's directory lock: sled holds an exclusive lock on its directory, and a pid file
//! beside it names the process holding the store, so that a second process is told who.

use std::path::Path;
use std::time::Duration;

use super::{Result, StoreError};

const PID_FILE: &str = "feedwatch.pid";

/// How long [`open_db`] waits for a lock that this process (or a holder that left no
/// pid) still has: sled lets go of it shortly after its last handle is dropped.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Opens the sled database at `path` (which exists) with a page cache of `cache` bytes.
/// A database is compressed (sled's zstd) or not for good when it is made: an existing
/// one opens as its `conf` file says, a new one as `compress_new` says. Returns it with
/// whether it is compressed.
pub(super) fn open_db(path: &Path, cache: u64, compress_new: bool) -> Result<(sled::Db, bool)> {
    let compress = compressed(path).unwrap_or(compress_new);
    // sled releases its lock a moment after the last handle is dropped (its IO threads
    // finish the last writes): a store this process just closed, or one whose holder
    // left no pid, is tried again for up to LOCK_WAIT before it counts as held
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache)
            .use_compression(compress)
            .compression_factor(ZSTD_LEVEL);
        match config.open() {
            Ok(db) => return Ok((db, compress)),
            Err(e) if e.to_string().contains("could not acquire lock") => {
                let pid = holder(path);
                let ours = pid.is_none_or(|p| p == std::process::id());
                if !ours || std::time::Instant::now() >= deadline {
                    return Err(StoreError::Held {
                        path: path.into(),
                        pid,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.into(),
                    source,
                });
            }
        }
    }
}

/// zstd's level for compressed stores: its fastest, which keeps most of the gain on text.
const ZSTD_LEVEL: i32 = 1;

/// Whether the sled database at `path` was made compressed; `None` when there is none yet
/// (no readable `conf`, which sled writes when it makes a database).
pub(super) fn compressed(path: &Path) -> Option<bool> {
    let conf = std::fs::read(path.join("conf")).ok()?;
    let has = |line: &[u8]| conf.windows(line.len()).any(|w| w == line);
    if has(b"use_compression: true") {
        Some(true)
    } else if has(b"use_compression: false") {
        Some(false)
    } else {
        None
    }
}

/// Writes this process's pid beside the store, for [`holder`].
pub(super) fn write_pid(path: &Path) {
    let _ = std::fs::write(path.join(PID_FILE), std::process::id().to_string());
}

/// Removes the pid file written by [`write_pid`].
pub(super) fn remove_pid(path: &Path) {
    let _ = std::fs::remove_file(path.join(PID_FILE));
}

/// The pid written by the process that holds the store, if it is still alive.
pub(super) fn holder(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}
