//! Memory of concurrent API queries (fault 6 of "Faults that lose, corrupt or stall"):
//! fills a store with ALERTS alerts (one item each), starts the real `feedwatch run` on it,
//! and sends QUERIES concurrent `/api/alerts?limit=1` and `/api/items?limit=1`; prints the
//! service's RSS before, its peak (VmHWM) after, and how long the slowest query and a
//! `/healthz` asked meanwhile took.
//!
//! cargo build --release && cargo run --release --example query_load -- [ALERTS (20000)]
//!     [QUERIES (100)] [--bin PATH (target/release/feedwatch, beside this example)]
//!
//! Measured (debug profile, dependencies at opt-level 2; 2 cores shared with other builds),
//! `cargo build && cargo run --example query_load -- 20000 100`:
//!   before the fix (6c3c31d): RSS 59.3 MiB -> peak 261.4 MiB (+202.1 MiB), slowest query
//!     34.7 s, a /healthz asked meanwhile 32.0 s;
//!   with it: RSS 57.1 MiB -> peak 63.7 MiB (+6.7 MiB), slowest query 0.33 s, /healthz 0.35 ms.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feedwatch::dedup::{self, KeyPolicy};
use feedwatch::parse::Item;
use feedwatch::store::{FeedState, Incoming, Store};
use feedwatch::watch::Fired;

fn main() {
    let mut pos = Vec::new();
    let mut bin: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = args.next().map(PathBuf::from),
            _ => pos.push(
                a.parse::<usize>()
                    .expect("usage: query_load [ALERTS] [QUERIES] [--bin PATH]"),
            ),
        }
    }
    let alerts = pos.first().copied().unwrap_or(20_000);
    let queries = pos.get(1).copied().unwrap_or(100);
    let bin = bin.unwrap_or_else(|| {
        // target/PROFILE/examples/query_load -> target/PROFILE/feedwatch
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("feedwatch")
    });
    assert!(bin.exists(), "{} missing: cargo build first", bin.display());

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    fill(&dir.path().join("store"), alerts);
    println!(
        "filled a store with {alerts} alerts in {:.1?}",
        started.elapsed()
    );
    let config = dir.path().join("feedwatch.toml");
    std::fs::write(
        &config,
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n\
         [[feeds]]\nname = \"f\"\nurl = \"http://127.0.0.1:9/\"\n\n[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr_file = dir.path().join("store").join(feedwatch::api::ADDR_FILE);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file)
            && !a.trim().is_empty()
        {
            break a.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    get(&addr, "/api/alerts?limit=1");
    let pid = child.id();
    let before = kib(pid, "VmRSS");
    let slowest = std::thread::scope(|s| {
        let handles: Vec<_> = (0..queries)
            .map(|i| {
                let addr = addr.clone();
                s.spawn(move || {
                    let view = if i % 2 == 0 { "alerts" } else { "items" };
                    let t = Instant::now();
                    get(&addr, &format!("/api/{view}?limit=1"));
                    t.elapsed()
                })
            })
            .collect();
        let t = Instant::now();
        get(&addr, "/healthz");
        println!("/healthz meanwhile: {:.2?}", t.elapsed());
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    });
    let peak = kib(pid, "VmHWM");
    println!(
        "{queries} concurrent queries on {alerts} alerts: RSS {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB), slowest query {:.2?}",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        slowest
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn get(addr: &str, path: &str) {
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

fn kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `n` items, each alerting for `cis`, as polls of 500 a second apart.
fn fill(path: &Path, n: usize) {
    let store = Store::open(path, 16 << 20).unwrap();
    let t0 = chrono::Utc::now() - chrono::Duration::days(1);
    for start in (0..n).step_by(500) {
        let items: Vec<Item> = (start..n.min(start + 500))
            .map(|i| Item {
                guid: Some(format!("g{i}")),
                link: Some(format!("https://outlet.example/{i}")),
                title: format!("CIS summit {i}: {}", "a long headline ".repeat(12)),
                summary: "the summary of the story ".repeat(8),
                content: String::new(),
                categories: vec![],
                published: Some(t0 + chrono::Duration::seconds(i as i64)),
                ..Default::default()
            })
            .collect();
        let keys = dedup::keys("f", &items, KeyPolicy::Guid);
        let incoming: Vec<Incoming> = items
            .into_iter()
            .zip(keys)
            .map(|(item, keys)| Incoming {
                digest: dedup::text_digest(&item),
                keys,
                item,
                fired: vec![Fired {
                    watch: "cis".into(),
                    matches: vec![],
                }],
                may_alert: true,
            })
            .collect();
        let state = store.feed_state("f").unwrap().unwrap_or(FeedState {
            name: "f".into(),
            ..FeedState::default()
        });
        let at = t0 + chrono::Duration::seconds(start as i64);
        store.commit_poll(&state, &incoming, at).unwrap();
    }
}
