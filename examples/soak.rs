//! Soak test: many feeds on loopback, a tenth of them misbehaving, a schedule compressed to
//! seconds, for minutes of wall time. Checks that every healthy feed met its interval.
//!
//! usage: cargo run --release --example soak -- [FEEDS] [SECONDS] [INTERVAL_SECS]
//!        (defaults: 1000 feeds, 180 s, interval 10 s)
//!
//! The feeds are spread over 50 servers (50 hosts, as on the real web: per-host limits
//! apply per host:port). Every tenth feed misbehaves in turn: never answers, answers 500,
//! answers garbage, or answers after 3 s. Healthy feeds publish a new item every poll or
//! so. At the end it prints, for healthy feeds, the number of polls and the largest gap
//! between two polls, and exits 1 if any healthy feed waited longer than its interval plus
//! jitter and one second of slack, or was polled fewer times than the run allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SERVERS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Healthy,
    Hang,
    Error500,
    Garbage,
    Slow,
}

fn kind(i: usize) -> Kind {
    if i % 10 != 9 {
        return Kind::Healthy;
    }
    match (i / 10) % 4 {
        0 => Kind::Hang,
        1 => Kind::Error500,
        2 => Kind::Garbage,
        _ => Kind::Slow,
    }
}

type Log = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

async fn serve(listener: TcpListener, log: Log, start: Instant) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let log = log.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 2048];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let i: usize = path
                .trim_start_matches("/feed")
                .trim_end_matches(".xml")
                .parse()
                .unwrap_or(0);
            log.lock()
                .unwrap()
                .entry(path.clone())
                .or_default()
                .push(Instant::now());
            let (status, body) = match kind(i) {
                Kind::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                Kind::Error500 => ("500 Internal Server Error", "oops".to_string()),
                Kind::Garbage => ("200 OK", "<html><body>not a feed".to_string()),
                Kind::Slow => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    ("200 OK", feed(i, start))
                }
                Kind::Healthy => ("200 OK", feed(i, start)),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}

/// A feed whose newest item changes every 5 seconds; one item in ten mentions the CIS.
fn feed(i: usize, start: Instant) -> String {
    let tick = start.elapsed().as_secs() / 5;
    let mut items = String::new();
    for t in tick.saturating_sub(4)..=tick {
        let title = if (t as usize + i).is_multiple_of(10) {
            "CIS leaders meet"
        } else {
            "Markets calm"
        };
        items.push_str(&format!(
            "<item><title>{title}</title><guid>f{i}-{t}</guid><link>https://soak.example/{i}/{t}</link></item>"
        ));
    }
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>f{i}</title>{items}</channel></rss>"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let feeds: usize = args.get(1).map_or(Ok(1000), |s| s.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(180), |s| s.parse())?;
    let interval: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;

    let start = Instant::now();
    let log: Log = Arc::default();
    let mut ports = Vec::new();
    for _ in 0..SERVERS {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        ports.push(listener.local_addr()?.port());
        tokio::spawn(serve(listener, log.clone(), start));
    }
    let dir = std::env::temp_dir().join(format!("feedwatch-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut toml = format!(
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n\
         [fetch]\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nread_timeout = \"2s\"\n\
         [defaults]\ninterval = \"{interval}s\"\nbacklog = \"all\"\n"
    );
    for i in 0..feeds {
        let port = ports[i % SERVERS];
        toml.push_str(&format!(
            "[[feeds]]\nname = \"f{i}\"\nurl = \"http://127.0.0.1:{port}/feed{i}.xml\"\n"
        ));
    }
    toml.push_str("[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n");
    let config_path = dir.join("feedwatch.toml");
    std::fs::write(&config_path, toml)?;
    let config = feedwatch::config::load(Some(&config_path), &feedwatch::config::Env::default())?;

    println!(
        "soak: {feeds} feeds ({} misbehaving) on {SERVERS} hosts, interval {interval}s, {seconds}s",
        (0..feeds).filter(|i| kind(*i) != Kind::Healthy).count()
    );
    let service = feedwatch::service::Service::open(config).await?;
    let run_started = Instant::now();
    service
        .run_until(tokio::time::sleep(Duration::from_secs(seconds)))
        .await?;
    let ran = run_started.elapsed();

    // Judge healthy feeds after their first poll (the first cycle is spread over the
    // interval): every gap between polls within interval + 5% jitter + 1 s of slack.
    let limit = Duration::from_secs(interval).mul_f64(1.05) + Duration::from_secs(1);
    let log = log.lock().unwrap();
    let (mut worst, mut worst_feed, mut late, mut polls) = (Duration::ZERO, String::new(), 0, 0);
    let min_polls = (seconds / interval).saturating_sub(2) as usize;
    let mut too_few = 0;
    for i in (0..feeds).filter(|i| kind(*i) == Kind::Healthy) {
        let path = format!("/feed{i}.xml");
        let times = log.get(&path).cloned().unwrap_or_default();
        polls += times.len();
        if times.len() < min_polls {
            too_few += 1;
        }
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            if gap > worst {
                worst = gap;
                worst_feed = path.clone();
            }
            if gap > limit {
                late += 1;
            }
        }
    }
    let alerts = std::fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    println!(
        "ran {:.0}s: {polls} polls of healthy feeds, largest gap {:.2}s ({worst_feed}), limit {:.2}s; {late} late polls; {too_few} feeds polled fewer than {min_polls} times; {alerts} alerts",
        ran.as_secs_f64(),
        worst.as_secs_f64(),
        limit.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if late > 0 || too_few > 0 {
        println!("FAIL: healthy feeds missed their interval");
        std::process::exit(1);
    }
    println!("ok: every healthy feed met its interval");
    Ok(())
}
