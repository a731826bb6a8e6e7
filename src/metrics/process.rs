//! The standard `process_*` metrics of a Prometheus client, read from /proc/self at scrape
//! time: resident memory, CPU seconds, open and allowed descriptors, start time. A figure
//! that cannot be read (no /proc) is left out rather than shown as 0.
//!
//! Only /proc/self is read: the unit's `ProcSubset=pid` hides /proc/stat, so the start time
//! comes from the process's start in clock ticks since boot plus the boot time that
//! `CLOCK_BOOTTIME` gives.

use std::fmt::Write;

/// The process metrics, appended to `s`.
pub(super) fn render(s: &mut String) {
    let ticks = sysconf(libc::_SC_CLK_TCK).unwrap_or(100) as f64;
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // the fields after the command name, which is in parentheses and may hold spaces
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        gauge(
            s,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            (user + system) / ticks,
        );
    }
    let page = sysconf(libc::_SC_PAGESIZE).unwrap_or(4096) as f64;
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|m| m.split_whitespace().nth(1)?.parse::<f64>().ok());
    if let Some(pages) = resident {
        gauge(
            s,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            pages * page,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // the directory being read is one of them
        let open = dir.count().saturating_sub(1);
        gauge(
            s,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            open as f64,
        );
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, nothing else
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        gauge(
            s,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors (the soft limit).",
            limit.rlim_cur as f64,
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        gauge(
            s,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            (boot + start / ticks).round(),
        );
    }
}

fn gauge(s: &mut String, name: &str, kind: &str, help: &str, v: f64) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
}

fn sysconf(name: libc::c_int) -> Option<i64> {
    // SAFETY: sysconf only reads a configuration value
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as i64)
}

/// The boot time in Unix seconds: the wall clock minus the time since boot.
fn boot_time() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct it is given, nothing else
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let since_boot = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(now - since_boot)
}

#[cfg(test)]
mod tests {
    /// This test process's own figures: plausible, not just present.
    #[test]
    fn reads_this_process() {
        let mut s = String::new();
        super::render(&mut s);
        let value = |name: &str| -> f64 {
            s.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing in\n{s}"))
                .parse()
                .unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e6, "{s}");
        assert!(value("process_open_fds") >= 3.0, "{s}");
        assert!(value("process_max_fds") >= value("process_open_fds"), "{s}");
        assert!(value("process_cpu_seconds_total") >= 0.0, "{s}");
        let now = chrono::Utc::now().timestamp() as f64;
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 2.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
    }
}
