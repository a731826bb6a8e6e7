//! The process around the pipeline (issue 15, docs/performance.md "Process: memory and
//! threads"): the real binary runs with two malloc arenas at most, whatever its threads.

use std::process::Stdio;
use std::time::Duration;

use super::*;

/// The glibc arenas beyond the main one in a `/proc/PID/maps` text. Each is a 64 MiB
/// reservation (HEAP_MAX_SIZE on 64-bit) at a 64 MiB-aligned address, mapped PROT_NONE and
/// made writable from its start as it grows: an anonymous `rw-p` mapping at an aligned
/// address, then an anonymous `---p` one that ends at the next 64 MiB boundary.
fn extra_arenas(maps: &str) -> usize {
    const HEAP: u64 = 64 << 20;
    let rows: Vec<(u64, u64, &str, bool)> = maps
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (lo, hi) = f.next()?.split_once('-')?;
            let perms = f.next()?;
            let anon = f.nth(3).is_none();
            Some((
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
                perms,
                anon,
            ))
        })
        .collect();
    rows.windows(2)
        .filter(|w| {
            let ((lo, hi, p, anon), (lo2, hi2, p2, anon2)) = (w[0], w[1]);
            anon && anon2
                && lo % HEAP == 0
                && p == "rw-p"
                && p2 == "---p"
                && lo2 == hi
                && hi2 == lo + HEAP
        })
        .count()
}

/// `run` polls a feed (its runtime's workers, blocking threads and sled's threads all
/// allocate: the store opens on a blocking thread, the poll runs on a worker) and keeps two
/// arenas at most: glibc's default gives each such thread its own, up to 8 per core, each
/// holding what its thread freed. Run with `GLIBC_TUNABLES=glibc.malloc.arena_max=8` in the
/// environment (which the binary honours), this test fails.
#[test]
fn two_malloc_arenas_at_most() {
    let s = Server::start();
    s.set("/f", Route::feed(SAMPLE.to_vec()));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    let alerts = setup.log();
    let mut cmd = command(Some(&setup.config));
    cmd.arg("run").stdout(Stdio::null()).stderr(Stdio::null());
    let daemon = Daemon(cmd.spawn().unwrap());
    wait_for("the poll's alerts", Duration::from_secs(30), || {
        std::fs::read_to_string(&alerts).is_ok_and(|t| t.lines().count() >= 1)
    });
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", daemon.id())).unwrap();
    let extra = extra_arenas(&maps);
    assert!(extra <= 1, "{extra} arenas beyond the main one:\n{maps}");
}

#[test]
fn extra_arenas_are_found() {
    let maps = "\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
7f3a64000000-7f3a64e5d000 rw-p 00000000 00:00 0 
7f3a64e5d000-7f3a68000000 ---p 00000000 00:00 0 
7f3a6bfff000-7f3a6c000000 ---p 00000000 00:00 0 
7f3a6c000000-7f3a6c800000 rw-p 00000000 00:00 0 
7f3a70000000-7f3a70021000 r-xp 00000000 08:01 42                         /usr/lib/libc.so.6
";
    assert_eq!(extra_arenas(maps), 1);
}
