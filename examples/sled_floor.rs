//! The floor under the store's write path: what sled 0.34 alone costs to write the entries a
//! cold run must write, with none of feedwatch's work (no decoding, parsing, matching,
//! encoding or deciding). FEEDS polls of ITEMS new items each, from 2 threads as the service's
//! poll tasks commit, into a fresh sled database in a temp dir with the service's cache
//! (4 MiB). Each item is what schema 3 writes: one record of RECORD bytes (as LZ4 leaves a
//! news item: 670 by default) under its location (first sighting ++ key) and three seen keys
//! (16 bytes: a 4-byte scope, the feed's or the link host's, then 12 of hash) whose values are
//! that location (24 bytes). Prints wall and CPU time (user+sys) for each way of writing them:
//!
//! - `tx`: a transaction over two trees per poll, as `Store::commit_poll` writes (sled's
//!   transactional insert reads each key before writing it);
//! - `batch`: one tree, one atomic `apply_batch` per poll: blind writes, the least sled does
//!   for four entries per item;
//! - `packed`: one tree, the poll's records packed into one value (so one record write per
//!   poll) and the three seen keys per item;
//! - `seen`: the seen keys alone (no record at all).
//!
//! cargo run --release --example sled_floor -- [FEEDS (2000)] [ITEMS (50)] [--record BYTES]
//!     [--only tx|batch|packed|seen]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use feedwatch::schedule::XorShift;
use sled::Transactional;

/// Deterministic bytes, from the service's own generator.
fn fill(rng: &mut XorShift, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// One poll's entries: (record key, record), and three (seen key, location) per item.
struct Poll {
    records: Vec<([u8; 24], Vec<u8>)>,
    seen: Vec<([u8; 16], [u8; 24])>,
}

fn poll(feed: usize, items: usize, record: usize, time: u64) -> Poll {
    let mut rng = XorShift(feed as u64 * 7919 + 1);
    let scope = |s: u64| (XorShift(s + 1).next_u64() as u32).to_be_bytes();
    let feed_scope = scope(feed as u64 + 1);
    let host_scope = scope(0); // every bench feed is on one host, as in bench/run.sh
    let mut p = Poll {
        records: Vec::with_capacity(items),
        seen: Vec::with_capacity(items * 3),
    };
    for _ in 0..items {
        let mut keys = [[0u8; 16]; 3];
        for (k, sc) in keys.iter_mut().zip([feed_scope, host_scope, feed_scope]) {
            k[..4].copy_from_slice(&sc);
            fill(&mut rng, &mut k[4..]);
        }
        let mut loc = [0u8; 24];
        loc[..8].copy_from_slice(&time.to_be_bytes());
        loc[8..].copy_from_slice(&keys[0]);
        let mut value = vec![0u8; record];
        fill(&mut rng, &mut value);
        p.records.push((loc, value));
        p.seen.extend(keys.iter().map(|k| (*k, loc)));
    }
    p
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn run(way: &str, feeds: usize, items: usize, record: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .cache_capacity(4 << 20)
        .open()
        .expect("opening sled");
    let records = db.open_tree("records").unwrap();
    let seen = db.open_tree("seen").unwrap();
    let one = db.open_tree("one").unwrap();
    let next = AtomicUsize::new(0);
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let f = next.fetch_add(1, Ordering::Relaxed);
                    if f >= feeds {
                        break;
                    }
                    let p = poll(f, items, record, 1_700_000_000_000 + f as u64);
                    write(way, &p, &records, &seen, &one);
                }
            });
        }
    });
    db.flush().unwrap();
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let n = (feeds * items) as f64;
    println!(
        "{way:7} {feeds} x {items}: {wall:6.2} s wall, {cpu:6.2} s CPU, {:5.1} us CPU per item",
        cpu / n * 1e6
    );
}

fn write(way: &str, p: &Poll, records: &sled::Tree, seen: &sled::Tree, one: &sled::Tree) {
    match way {
        "tx" => {
            (records, seen)
                .transaction(|(r, s)| {
                    for (k, v) in &p.records {
                        r.insert(&k[..], &v[..])?;
                    }
                    for (k, v) in &p.seen {
                        s.insert(&k[..], &v[..])?;
                    }
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                })
                .unwrap();
        }
        "batch" | "packed" | "seen" => {
            let mut b = sled::Batch::default();
            match way {
                "batch" => {
                    for (k, v) in &p.records {
                        let mut key = vec![b'r'];
                        key.extend_from_slice(k);
                        b.insert(key, &v[..]);
                    }
                }
                "packed" => {
                    let mut key = vec![b'r'];
                    key.extend_from_slice(&p.records[0].0);
                    let packed: Vec<u8> = p.records.iter().flat_map(|(_, v)| v.clone()).collect();
                    b.insert(key, packed);
                }
                _ => {}
            }
            for (k, v) in &p.seen {
                let mut key = vec![b's'];
                key.extend_from_slice(k);
                b.insert(key, &v[..]);
            }
            one.apply_batch(b).unwrap();
        }
        _ => unreachable!(),
    }
}

fn main() {
    let usage = "usage: sled_floor [FEEDS] [ITEMS] [--record BYTES] [--only tx|batch|packed|seen]";
    let (mut pos, mut record, mut only) = (Vec::new(), 670usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--record" => record = args.next().and_then(|v| v.parse().ok()).expect(usage),
            "--only" => only = Some(args.next().expect(usage)),
            _ => pos.push(a.parse::<usize>().expect(usage)),
        }
    }
    let feeds = pos.first().copied().unwrap_or(2000);
    let items = pos.get(1).copied().unwrap_or(50);
    println!(
        "sled_floor: {feeds} polls x {items} new items, record {record} B, 2 threads, cache 4 MiB"
    );
    for way in ["tx", "batch", "packed", "seen"] {
        if only.as_deref().is_none_or(|o| o == way) {
            run(way, feeds, items, record);
        }
    }
}
