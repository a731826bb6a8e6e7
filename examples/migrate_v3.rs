//! The schema 2 → 3 migration on a large store: writes a store as schema 2 laid it out
//! (through sled directly: ITEMS records of about 1 KiB under their item keys in `items`,
//! the `first_seen` index, three seen keys per item naming its key, and as many tombstones
//! of three seen keys with no record as `--tombstones` says), then opens it with
//! [`Store::open`] in a process of its own, which migrates it. Prints the time and CPU the
//! open took and that process's peak RSS (the migration must not grow with the store).
//!
//! cargo run --release --example migrate_v3 -- [ITEMS (100000)] [--tombstones N (ITEMS/2)]

use std::time::Instant;

use chrono::{Duration, Utc};
use feedwatch::dedup::Key;
use feedwatch::store::{Store, StoredItem, time_key};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The process's peak RSS (`VmHWM`: getrusage's `ru_maxrss` survives the exec that
/// starts the open's process, and with it the writer's peak).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

struct Rng(u64);
impl Rng {
    fn key(&mut self) -> Key {
        let mut k = [0; 16];
        for half in k.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            half.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
        }
        Key(k)
    }
}

fn main() {
    let usage = "usage: migrate_v3 [ITEMS] [--tombstones N]";
    let (mut items, mut tombstones) = (100_000usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tombstones" => tombstones = args.next().and_then(|v| v.parse().ok()),
            "--open" => return open(std::path::Path::new(&args.next().expect(usage))),
            n => items = n.parse().expect(usage),
        }
    }
    let tombstones = tombstones.unwrap_or(items / 2);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store");
    let clock = Instant::now();
    {
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(16 << 20)
            .open()
            .expect("sled");
        db.open_tree("meta")
            .unwrap()
            .insert("schema", &2u32.to_be_bytes())
            .unwrap();
        let (tree, index, seen) = (
            db.open_tree("items").unwrap(),
            db.open_tree("first_seen").unwrap(),
            db.open_tree("seen").unwrap(),
        );
        let mut rng = Rng(7);
        let t0 = Utc::now() - Duration::days(30);
        let text = "summit leaders economy security cooperation ".repeat(20);
        let (mut b_items, mut b_index, mut b_seen) = Default::default();
        for i in 0..items + tombstones {
            let key = rng.key();
            for k in [key, rng.key(), rng.key()] {
                sled::Batch::insert(&mut b_seen, &k.0, &key.0);
            }
            if i < items {
                let first_seen = t0 + Duration::seconds(i as i64);
                let record = StoredItem {
                    key: key.hex(),
                    feeds: vec![format!("f{}", i % 2000)],
                    guid: Some(format!("https://x.example/{i}")),
                    link: Some(format!("https://x.example/{i}")),
                    title: format!("item {i}"),
                    summary: text.clone(),
                    content: String::new(),
                    categories: vec!["news".into()],
                    published: Some(first_seen),
                    first_seen,
                    digest: key.hex(),
                    matched: vec![],
                    article: None,
                };
                let bytes = serde_json::to_vec(&record).unwrap();
                sled::Batch::insert(&mut b_items, &key.0, bytes);
                sled::Batch::insert(&mut b_index, &time_key(first_seen, key)[..], &[]);
            }
            if i % 10_000 == 9_999 {
                tree.apply_batch(std::mem::take(&mut b_items)).unwrap();
                index.apply_batch(std::mem::take(&mut b_index)).unwrap();
                seen.apply_batch(std::mem::take(&mut b_seen)).unwrap();
            }
        }
        tree.apply_batch(b_items).unwrap();
        index.apply_batch(b_index).unwrap();
        seen.apply_batch(b_seen).unwrap();
        db.flush().unwrap();
    }
    println!(
        "schema-2 store: {items} items, {tombstones} tombstones written in {:.1} s, {:.0} MiB on disk",
        clock.elapsed().as_secs_f64(),
        feedwatch::store::compact::dir_size(&path).unwrap() as f64 / (1 << 20) as f64
    );
    // opened in a process of its own, so that its peak RSS is the migration's
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--open")
        .arg(&path)
        .status()
        .expect("running the open");
    assert!(status.success());
}

fn open(path: &std::path::Path) {
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let store = Store::open(path, 16 << 20).expect("opening (migrating) the store");
    println!(
        "open with migration to schema 3: {:.1} s wall, {:.1} s CPU; peak RSS {:.0} MiB; {} items",
        wall0.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
        peak_rss_mib(),
        store.item_count()
    );
}
