//! The store's write path alone, as a cold `feedwatch once` drives it: FEEDS feeds of ITEMS
//! new items each (shaped like bench/run.sh's synthetic news items: a title of 6-12 words,
//! a summary of 60-140, a guid that is the link, a category; 3% fire a watch) committed
//! through the real store path ([`Store::commit_poll`], one commit per polled feed, from
//! `--threads` threads at once as the service's poll tasks do) into a fresh store in a temp
//! dir. Prints items/s, the process's CPU time (user+sys, the figure to compare on a loaded
//! machine) and the bytes on disk per item after the run (flushed) and after a compaction.
//!
//! cargo run --release --example bench_store -- [FEEDS (2000)] [ITEMS (50)]
//!     [--threads N (2)] [--cache BYTES (4 MiB, the config's default)] [--no-compact]

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use feedwatch::dedup::{self, KeyPolicy};
use feedwatch::parse::Item;
use feedwatch::store::compact::dir_size;
use feedwatch::store::{FeedState, Incoming, Store};
use feedwatch::watch::Fired;

const WORDS: &[&str] = &[
    "president",
    "summit",
    "leaders",
    "economy",
    "security",
    "cooperation",
    "ruble",
    "sanctions",
    "ministry",
    "parliament",
    "oil",
    "gas",
    "export",
    "region",
    "governor",
    "court",
    "ruling",
    "protest",
    "election",
    "border",
    "decision",
    "agreement",
    "talks",
    "pipeline",
    "wheat",
    "harvest",
    "inflation",
    "bank",
    "rate",
    "budget",
    "energy",
    "treaty",
];

/// A small deterministic generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn words(&mut self, lo: u64, hi: u64) -> String {
        let n = lo + self.next() % (hi - lo + 1);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[(self.next() % WORDS.len() as u64) as usize]);
        }
        s
    }
}

/// The incoming items of feed `f`'s first poll.
fn feed(f: usize, items: usize, rng: &mut Rng) -> Vec<Incoming> {
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let name = format!("f{f}");
    let parsed: Vec<Item> = (0..items)
        .map(|i| {
            let link = format!("https://outlet{f}.example/news/{f}-{i}");
            Item {
                guid: Some(link.clone()),
                link: Some(link),
                title: rng.words(6, 12),
                summary: rng.words(60, 140) + " related more",
                categories: vec!["News".into()],
                published: Some(base + Duration::minutes((rng.next() % 40000) as i64)),
                ..Item::default()
            }
        })
        .collect();
    let keys = dedup::keys(&name, &parsed, KeyPolicy::Guid);
    parsed
        .into_iter()
        .zip(keys)
        .map(|(item, keys)| Incoming {
            digest: dedup::text_digest(&item),
            fired: if rng.next() % 100 < 3 {
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
        .collect()
}

/// This process's CPU time so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() {
    let usage = "usage: bench_store [FEEDS] [ITEMS] [--threads N] [--cache BYTES] [--no-compact]";
    let (mut pos, mut threads, mut cache, mut compact) = (Vec::new(), 2usize, 4u64 << 20, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).expect(usage),
            "--cache" => cache = args.next().and_then(|v| v.parse().ok()).expect(usage),
            "--no-compact" => compact = false,
            _ => pos.push(a.parse::<usize>().expect(usage)),
        }
    }
    let feeds = pos.first().copied().unwrap_or(2000);
    let items = pos.get(1).copied().unwrap_or(50);
    let threads = threads.max(1);

    // the documents are made before the clock starts: parsing is not this stage
    let mut rng = Rng(1);
    let docs: Vec<Vec<Incoming>> = (0..feeds).map(|f| feed(f, items, &mut rng)).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store");
    let store = Store::open(&path, cache).expect("opening the store");

    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (new_items, alerts) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (mut n, mut a) = (0, 0);
                    loop {
                        let f = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(doc) = docs.get(f) else { break };
                        let state = FeedState::new(&format!("f{f}"));
                        // the time of each poll, as the service passes it: items first
                        // seen in one poll share a millisecond, polls follow one another
                        let c = store
                            .commit_poll(&state, doc, Utc::now())
                            .expect("committing");
                        n += c.new_items;
                        a += c.alerts.len();
                    }
                    (n, a)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker"))
            .fold((0, 0), |(n, a), (x, y)| (n + x, a + y))
    });
    store.flush().expect("flushing");
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    let total = feeds * items;
    assert_eq!(new_items, total, "every item is new");
    let disk = dir_size(&path).expect("the store's size");
    println!(
        "bench_store: {feeds} feeds x {items} items, {threads} threads, cache {} MiB",
        cache >> 20
    );
    println!(
        "commit: {total} items, {alerts} alerts in {wall:.2} s wall, {cpu:.2} s CPU (user+sys): {:.0} items/s wall, {:.1} us CPU per item",
        total as f64 / wall,
        cpu * 1e6 / total as f64
    );
    println!(
        "disk after the run: {:.1} MiB, {:.0} B per item",
        disk as f64 / (1 << 20) as f64,
        disk as f64 / total as f64
    );
    if compact {
        let (store, _) = store.compact_now(cache).expect("compacting");
        store.flush().expect("flushing");
        let disk = dir_size(&path).expect("the store's size");
        println!(
            "disk after a compaction: {:.1} MiB, {:.0} B per item",
            disk as f64 / (1 << 20) as f64,
            disk as f64 / total as f64
        );
    }
}
