//! The disk a store takes per stored item, as it is and after a compaction: what
//! bench/run.sh reports for issue 15's disk targets (at most 2 KiB per item right after a
//! cold run, 1 KiB after a compaction). The store must not be in use.
//!
//! cargo run --release --example disk_use -- STORE_DIR [--compact] [--cache BYTES]
//!
//! Without `--compact` it also prints the live keys and values per tree; with it, only the
//! size after the compaction (bench/run.sh calls it once each way).

use feedwatch::store::Store;
use feedwatch::store::compact::dir_size;

fn main() {
    let usage = "usage: disk_use STORE_DIR [--compact] [--cache BYTES (16 MiB)]";
    let (mut path, mut compact, mut cache) = (None, false, 16u64 << 20);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--compact" => compact = true,
            "--cache" => cache = args.next().and_then(|v| v.parse().ok()).expect(usage),
            _ if path.is_none() => path = Some(std::path::PathBuf::from(a)),
            _ => panic!("{usage}"),
        }
    }
    let path = path.expect(usage);
    let size = |what: &str, bytes: u64, items: usize| {
        println!(
            "store {what}: {:.1} MiB, {items} items, {:.0} B per item",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / items.max(1) as f64
        );
    };
    let before = dir_size(&path).expect("the store's size");
    let store = Store::open(&path, cache).expect("opening the store");
    let items = store.item_count();
    if compact {
        let started = std::time::Instant::now();
        let (store, _) = store.compact_now(cache).expect("compacting");
        store.flush().expect("flushing");
        drop(store);
        println!("compacted in {:.1} s", started.elapsed().as_secs_f64());
        let after = dir_size(&path).expect("the store's size");
        size("after a compaction", after, items);
        return;
    }
    let mut live = 0;
    for (tree, n, bytes) in store.tree_sizes().expect("reading the trees") {
        live += bytes;
        println!(
            "tree {tree}: {n} entries, {:.1} MiB of keys and values, {:.0} B per item",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / items.max(1) as f64
        );
    }
    println!(
        "live: {:.0} B per item (keys and values of every tree)",
        live as f64 / items.max(1) as f64
    );
    drop(store);
    size("as it is", before, items);
}
