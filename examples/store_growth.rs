//! How the store's directory grows: DAYS simulated days of FEEDS feeds, each publishing
//! ITEMS_PER_DAY new items a day, polled `--polls` times a day (each poll sees the latest
//! 30 items, so most items are seen again). Every simulated day, as `feedwatch run` does,
//! retention drops old item bodies and the compaction check runs: a store grown past twice
//! its live data plus 64 MiB is reopened, which compacts it (`--check 0`: never, to see
//! sled on its own). Each simulated month it prints the directory's disk use; at the end,
//! the bytes per live item and per tombstone, measured on a compacted copy.
//!
//! cargo run --release --example store_growth -- DAYS FEEDS ITEMS_PER_DAY
//!     [--polls N (2)] [--keep DAYS (90)] [--check DAYS (1)] [--dir PATH]

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use feedwatch::dedup::{self, KeyPolicy};
use feedwatch::parse::Item;
use feedwatch::store::compact::dir_size;
use feedwatch::store::{FeedState, Incoming, Store};
use feedwatch::watch::Fired;

const WINDOW: u64 = 30;
const CACHE: u64 = 16 << 20;

struct Args {
    days: u64,
    feeds: u64,
    per_day: u64,
    polls: u64,
    keep: i64,
    check: u64,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let usage = "usage: store_growth DAYS FEEDS ITEMS_PER_DAY [--polls N] [--keep DAYS] [--check DAYS] [--dir PATH]";
    let mut pos = Vec::new();
    let mut a = Args {
        days: 0,
        feeds: 0,
        per_day: 0,
        polls: 2,
        keep: 90,
        check: 1,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = || it.next().expect(usage);
        match x.as_str() {
            "--polls" => a.polls = val().parse().expect(usage),
            "--keep" => a.keep = val().parse().expect(usage),
            "--check" => a.check = val().parse().expect(usage),
            "--dir" => a.dir = Some(val().into()),
            _ => pos.push(x.parse::<u64>().expect(usage)),
        }
    }
    let [days, feeds, per_day] = pos[..] else {
        panic!("{usage}")
    };
    (a.days, a.feeds, a.per_day) = (days, feeds, per_day);
    a.polls = a.polls.clamp(1, per_day.max(1));
    a
}

/// Deterministic filler text of about `len` characters.
fn words(seed: u64, len: usize) -> String {
    const W: &[&str] = &[
        "minister",
        "talks",
        "summit",
        "region",
        "security",
        "trade",
        "border",
        "agreement",
        "economy",
        "election",
        "parliament",
        "sanctions",
        "energy",
        "pipeline",
        "president",
        "delegation",
        "officials",
        "said",
        "on",
        "the",
        "of",
        "and",
        "in",
        "with",
        "a",
    ];
    let mut s = String::new();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while s.len() < len {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        s.push_str(W[(x % W.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

/// Item `n` of feed `f`, published at `at` (the same every time it is served).
fn item(f: u64, n: u64, at: DateTime<Utc>) -> Item {
    Item {
        guid: Some(format!("https://outlet{f}.example/?p={n}")),
        link: Some(format!(
            "https://outlet{f}.example/news/{}/{}-{n}",
            at.format("%Y/%m/%d"),
            words(n, 30).trim().replace(' ', "-")
        )),
        title: words(n * 7 + f, 70),
        summary: words(n * 13 + f, 300),
        content: String::new(),
        categories: vec!["World".into(), words(n, 6).trim().into()],
        published: Some(at),
        ..Default::default()
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    let a = args();
    let tmp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().expect("a temporary directory");
            tmp.path().to_path_buf()
        }
    };
    let path = dir.join("store");
    let mut store = Store::open(&path, CACHE).expect("opening the store");
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let per_poll = a.per_day.div_ceil(a.polls);
    let (mut published, mut purged, mut alerts, mut compactions) = (0u64, 0u64, 0u64, 0);
    let mut peak = 0u64;
    let mut peak_compacting = 0u64;
    let clock = Instant::now();
    println!(
        "{} days x {} feeds x {} new items a day, {} polls a day, keep {} days, compaction check {}",
        a.days,
        a.feeds,
        a.per_day,
        a.polls,
        a.keep,
        if a.check == 0 {
            "never".to_string()
        } else {
            format!("every {} days", a.check)
        }
    );
    println!(
        "{:>5} {:>10} {:>10} {:>11} {:>10} {:>8}",
        "day", "disk MiB", "live items", "tombstones", "B/item", "elapsed"
    );
    for day in 0..a.days {
        for poll in 0..a.polls {
            let now =
                start + Duration::days(day as i64) + Duration::hours((24 * poll / a.polls) as i64);
            for f in 0..a.feeds {
                // items published so far in this feed, and the window the document shows
                let total = (day * a.per_day + ((poll + 1) * per_poll).min(a.per_day)).max(1);
                let first = total.saturating_sub(WINDOW);
                let published_at =
                    |n: u64| start + Duration::seconds((n * 86400 / a.per_day.max(1)) as i64);
                let items: Vec<Item> = (first..total)
                    .map(|n| item(f, n, published_at(n)))
                    .collect();
                let keys = dedup::keys(&format!("feed{f}"), &items, KeyPolicy::Guid);
                let incoming: Vec<Incoming> = items
                    .into_iter()
                    .zip(keys)
                    .enumerate()
                    .map(|(i, (item, keys))| Incoming {
                        digest: dedup::text_digest(&item),
                        fired: if (first + i as u64).is_multiple_of(50) {
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
                let name = format!("feed{f}");
                let state = store.feed_state(&name).unwrap().unwrap_or(FeedState {
                    name: name.clone(),
                    ..FeedState::default()
                });
                let c = store
                    .commit_poll(&state, &incoming, now)
                    .expect("committing a poll");
                published += c.new_items as u64;
                alerts += c.alerts.len() as u64;
                let pending = store.pending(usize::MAX).unwrap();
                let queued: Vec<_> = pending.into_iter().map(|(q, _)| q).collect();
                store.mark_delivered(&queued).unwrap();
            }
        }
        let now = start + Duration::days(day as i64 + 1);
        purged += store
            .purge(now - Duration::days(a.keep))
            .expect("retention");
        if a.check > 0 && (day + 1) % a.check == 0 && store.outgrown().expect("checking") {
            drop(store);
            let reopened = Instant::now();
            let (s, c) = Store::open_compacting(&path, CACHE).expect("reopening");
            store = s;
            if let Some(c) = c {
                compactions += 1;
                // the directory just before, and the old store and its copy side by side
                peak = peak.max(c.before);
                peak_compacting = peak_compacting.max(c.before + c.after);
                println!(
                    "      compacted at day {}: {:.0} MiB -> {:.0} MiB ({:.0} MiB live) in {:.0}s",
                    day + 1,
                    mib(c.before),
                    mib(c.after),
                    mib(c.live),
                    reopened.elapsed().as_secs_f64()
                );
            }
        }
        store.flush().unwrap();
        let size = dir_size(&path).unwrap();
        peak = peak.max(size);
        if (day + 1) % 30 == 0 || day + 1 == a.days {
            println!(
                "{:>5} {:>10.1} {:>10} {:>11} {:>10.0} {:>7.0}s",
                day + 1,
                mib(size),
                published - purged,
                purged,
                size as f64 / published.max(1) as f64,
                clock.elapsed().as_secs_f64()
            );
        }
    }
    store.flush().unwrap();
    let size = dir_size(&path).unwrap();
    let trees = store.tree_sizes().unwrap();
    let live_bytes: u64 = trees.iter().map(|t| t.2).sum();
    println!(
        "\n{published} items published, {purged} purged (tombstones), {alerts} alerts, {compactions} compactions; largest directory {:.1} MiB; largest during a compaction (old store and copy) {:.1} MiB",
        mib(peak),
        mib(peak_compacting)
    );
    println!("tree        entries    MiB of keys+values");
    for (name, n, bytes) in &trees {
        println!("{name:<10} {n:>9} {:>10.1}", mib(*bytes));
    }
    println!(
        "directory: {:.1} MiB on disk for {:.1} MiB of keys and values",
        mib(size),
        mib(live_bytes)
    );
    store.compact(CACHE).expect("compacting");
    let compacted = dir_size(&path).unwrap();
    let factor = compacted as f64 / live_bytes as f64;
    let get = |name: &str| trees.iter().find(|t| t.0 == name).map_or(0, |t| t.2) as f64;
    let live = (published - purged).max(1) as f64;
    // a tombstone is the seen keys of an item (the item key is already in them)
    let per_tombstone = get("seen") / published.max(1) as f64;
    let per_item = get("records") / live + per_tombstone;
    println!(
        "compacted copy: {:.1} MiB ({factor:.2} bytes on disk per byte of keys and values)",
        mib(compacted)
    );
    println!(
        "per live item: {per_item:.0} B of records, ~{:.0} B on disk; per tombstone: {per_tombstone:.0} B of records, ~{:.0} B on disk",
        per_item * factor,
        per_tombstone * factor
    );
    println!("elapsed {:.0}s", clock.elapsed().as_secs_f64());
}
