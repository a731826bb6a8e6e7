//! What the benchmark examples share (`mod common;` in each; not an example itself).

use std::time::Duration;

/// Time this thread has spent on a CPU (Linux: /proc/thread-self/schedstat, in ns), so that
/// figures on a busy machine measure the work, not the wait for a core. `None` where it
/// cannot be read.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    (ns > 0).then(|| Duration::from_nanos(ns))
}
