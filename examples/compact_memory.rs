//! Peak memory of a compaction (issue fault 17): builds a store of FEEDS feeds x ITEMS
//! items (each about 600 bytes of text, one in 50 alerting), then compacts it in a fresh
//! process and reports that process's peak RSS (VmHWM), the time, and the sizes. `--old`
//! copies the way compaction did before (through the export records and the importer) for
//! comparison; the default is today's streaming copy ([`Store::compact_now`]).
//!
//! cargo run --release --example compact_memory -- FEEDS ITEMS [--old] [--dir PATH]
//!
//! The store is built once per directory (kept with --dir) and compacted as often as asked.
//!
//! Measured on a loaded 2-core machine (`--dir /tmp/cm`): before the chunked copy with
//! both stores reopened (fault 17), 1000 x 100 items peaked at 223 MiB (8 s), 1000 x 300
//! at 274 MiB (38 s); now 60 MiB (11 s), 127 MiB (42 s), and 1000 x 500 at 218 MiB
//! (137 s, beside a full `cargo test`). More in docs/durability.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::{Duration, Utc};
use feedwatch::dedup::{self, KeyPolicy};
use feedwatch::parse::Item;
use feedwatch::store::compact::dir_size;
use feedwatch::store::{FeedState, Incoming, Store};
use feedwatch::watch::Fired;

const CACHE: u64 = 16 << 20;

fn words(seed: u64, len: usize) -> String {
    const W: &[&str] = &[
        "minister",
        "talks",
        "summit",
        "region",
        "security",
        "trade",
        "border",
        "economy",
        "election",
        "sanctions",
        "energy",
        "pipeline",
        "said",
        "on",
        "the",
        "of",
        "and",
        "in",
    ];
    let mut s = String::new();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    while s.len() < len {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        s.push_str(W[(x % W.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

fn build(path: &Path, feeds: u64, items: u64) {
    let store = Store::open(path, CACHE).expect("opening the store");
    let now = Utc::now();
    for f in 0..feeds {
        let name = format!("feed{f}");
        let batch: Vec<Item> = (0..items)
            .map(|n| Item {
                guid: Some(format!("https://outlet{f}.example/?p={n}")),
                link: Some(format!("https://outlet{f}.example/news/{n}")),
                title: words(n * 7 + f, 70),
                summary: words(n * 13 + f, 500),
                content: String::new(),
                categories: vec!["World".into()],
                published: Some(now - Duration::minutes(n as i64)),
                ..Default::default()
            })
            .collect();
        let keys = dedup::keys(&name, &batch, KeyPolicy::Guid);
        let incoming: Vec<Incoming> = batch
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(i, (item, keys))| Incoming {
                digest: dedup::text_digest(&item),
                fired: if i % 50 == 0 {
                    vec![Fired {
                        watch: "cis".into(),
                        matches: vec![],
                    }]
                } else {
                    vec![]
                },
                keys,
                item,
                may_alert: true,
            })
            .collect();
        let state = FeedState {
            name,
            ..FeedState::default()
        };
        store
            .commit_poll(&state, &incoming, now)
            .expect("committing");
        let pending: Vec<_> = store
            .pending(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(q, _)| q)
            .collect();
        store.mark_delivered(&pending).unwrap();
    }
    store.flush().unwrap();
}

/// Peak resident set of this process, in KiB.
fn vm_hwm() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// In the child: compacts the store at `path` and prints "peak_kib secs before after".
fn compact(path: &Path, old: bool) {
    let store = Store::open(path, CACHE).expect("opening the store");
    eprintln!("peak RSS after opening the store: {} MiB", vm_hwm() / 1024);
    let before = dir_size(path).unwrap();
    let started = Instant::now();
    if std::env::var_os("COMPACT_MEMORY_READ_ONLY").is_some() {
        // the baseline: what reading every record of the store costs
        let n = store.records().count();
        eprintln!("read {n} records");
    } else if old {
        let copy_path = path.with_extension("oldcopy");
        let _ = std::fs::remove_dir_all(&copy_path);
        let copy = Store::open(&copy_path, CACHE).unwrap();
        store.copy_into(&copy).expect("copying through the records");
        copy.flush().unwrap();
        drop(copy);
        drop(store);
        std::fs::remove_dir_all(path).unwrap();
        std::fs::rename(&copy_path, path).unwrap();
    } else {
        let (store, _) = store.compact_now(CACHE).expect("compacting");
        drop(store);
    }
    let secs = started.elapsed().as_secs_f64();
    let after = dir_size(path).unwrap();
    println!("{} {secs:.1} {before} {after}", vm_hwm());
}

fn main() {
    let usage = "usage: compact_memory FEEDS ITEMS [--old] [--dir PATH]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        compact(Path::new(&args[1]), args.get(2).is_some_and(|a| a == "old"));
        return;
    }
    let mut pos = Vec::new();
    let (mut old, mut dir) = (false, None::<PathBuf>);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--old" => old = true,
            "--dir" => dir = Some(it.next().expect(usage).into()),
            _ => pos.push(a.parse::<u64>().expect(usage)),
        }
    }
    let [feeds, items] = pos[..] else {
        panic!("{usage}")
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let path = dir.join(format!("store-{feeds}x{items}"));
    if !path.exists() {
        let t = Instant::now();
        build(&path, feeds, items);
        eprintln!(
            "built {feeds} x {items} items in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(&path)
        .arg(if old { "old" } else { "new" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let mib = |b: f64| b / (1 << 20) as f64;
    println!(
        "{} copy of {feeds} x {items} items: peak RSS {:.0} MiB, {:.1} s, store {:.0} -> {:.0} MiB",
        if old { "records (old)" } else { "streaming" },
        f[0] / 1024.0,
        f[1],
        mib(f[2]),
        mib(f[3])
    );
}
