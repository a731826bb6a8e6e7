//! Crash safety, proven: the real `feedwatch` binary against a local server that keeps
//! publishing, killed with SIGKILL at random moments, restarted each time; at the end the
//! alert log is checked against the server's ground truth.
//!
//! cargo run --release --example torture -- [--rounds 200] [--seed N] [--binary PATH] [--keep-dir]
//!
//! The server (in this process, on 127.0.0.1) serves three RSS feeds and publishes a story
//! every ~100 ms: some mention the CIS or the CSTO, some do not, some are traps ("decision",
//! "Francisco"); some are cross-posted to several feeds under other guids and tracking
//! parameters; some are edited later to mention the CSTO as well. Each feed shows its
//! latest 40 items, so items slide out of the window and back. Each round starts
//! `feedwatch run` (interval 1s) or `feedwatch once`, kills it after 0-1.5 s (a third within
//! 300 ms: start-up, re-delivery, retention, first polls; the rest during polls, store writes
//! and deliveries), and checks that `feedwatch items` opens the store. Retention keeps 30 s,
//! so purges and tombstones are part of every round, and a third of the starts compact the
//! store (`FEEDWATCH_COMPACT_ALWAYS=1`: at start-up and, in `run`, again and again while it
//! runs), so some kills land in the middle of a compaction.
//! At the end the server shows every item, two clean `once` runs poll it all, and:
//!
//! - every story whose final text matches a watch has exactly one alert id for that watch
//!   in the log, on exactly one line: a line repeated with the same id (a re-delivery: the
//!   line was appended, the kill came before it was marked delivered, and the restart
//!   appended it again) is a violation;
//! - no alert for a story or watch that does not match (a spurious alert);
//! - every line of the log is valid JSON, and every alert in the store is in the log;
//! - the store opened cleanly after every kill.
//!
//! It prints a summary and exits 1 on any violation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const FEEDS: [&str; 3] = ["world", "politics", "all"];
const WINDOW: usize = 40;

/// xorshift64*: enough randomness for timings and story kinds, reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One published story: what the server shows, and what it should raise.
#[derive(Clone)]
struct Story {
    n: u64,
    title: String,
    /// Feeds carrying it, in publication order.
    feeds: Vec<usize>,
    published: SystemTime,
}

impl Story {
    /// The watches its current text matches, by the rules feedwatch documents: CIS and CSTO
    /// are acronyms (whole words, capitals only).
    fn watches(&self) -> BTreeSet<&'static str> {
        let words: Vec<&str> = self
            .title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut w = BTreeSet::new();
        if words.contains(&"CIS") {
            w.insert("cis");
        }
        if words.contains(&"CSTO") {
            w.insert("csto");
        }
        w
    }
}

/// What the server publishes; shared with the connection threads.
#[derive(Default)]
struct World {
    stories: Vec<Story>,
    /// Serve every item instead of the latest [`WINDOW`] (for the final check).
    full: bool,
}

impl World {
    fn publish(&mut self, rng: &mut Rng) {
        let n = self.stories.len() as u64;
        let title = match rng.below(10) {
            0..=1 => format!("Story {n}: CIS leaders meet in Minsk"),
            2 => format!("Story {n}: CSTO drills begin in Tajikistan"),
            3 => format!("Story {n}: CIS and CSTO ministers talk security"),
            4 => format!("Story {n}: a decision in San Francisco, concisely"),
            5 => format!("Story {n}: cis-lunar mission and the csto-like council"),
            _ => format!("Story {n}: markets close higher"),
        };
        let mut feeds = vec![rng.below(3) as usize];
        if rng.below(4) == 0 {
            // cross-posted: the same link (tracking parameters aside) in another feed
            let other = (feeds[0] + 1 + rng.below(2) as usize) % 3;
            feeds.push(other);
        }
        self.stories.push(Story {
            n,
            title,
            feeds,
            published: SystemTime::now(),
        });
        // now and then an outlet edits a recent story to mention the CSTO as well
        if rng.below(6) == 0 && self.stories.len() > 5 {
            let i = self.stories.len() - 1 - rng.below(5) as usize;
            let s = &mut self.stories[i];
            if !s.title.contains("(updated)") {
                s.title.push_str(" (updated: CSTO responds)");
            }
        }
    }

    fn document(&self, feed: usize) -> String {
        let items: Vec<&Story> = self
            .stories
            .iter()
            .filter(|s| s.feeds.contains(&feed))
            .collect();
        let skip = if self.full {
            0
        } else {
            items.len().saturating_sub(WINDOW)
        };
        let mut d = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>torture</title>",
        );
        for s in items[skip..].iter().rev() {
            let date = httpdate(s.published);
            let query = match feed {
                0 => String::new(),
                f => format!("?utm_source={}&utm_medium=rss", FEEDS[f]),
            };
            d.push_str(&format!(
                "<item><guid isPermaLink=\"false\">{}-{}</guid><title>{}</title>\
                 <link>https://outlet.example/story/{}{}</link>\
                 <description>Report number {} of the day.</description><pubDate>{date}</pubDate></item>",
                FEEDS[feed],
                s.n,
                s.title,
                s.n,
                query.replace('&', "&amp;"),
                s.n
            ));
        }
        d.push_str("</channel></rss>");
        d
    }
}

/// RFC 822 date, as RSS wants it.
fn httpdate(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

fn serve(listener: TcpListener, world: Arc<Mutex<World>>) {
    for conn in listener.incoming().flatten() {
        let world = world.clone();
        thread::spawn(move || {
            let _ = answer(conn, &world);
        });
    }
}

fn answer(mut conn: TcpStream, world: &Mutex<World>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let feed = FEEDS.iter().position(|f| path == format!("/{f}"));
    let (status, body) = match feed {
        Some(f) => ("200 OK", world.lock().unwrap().document(f)),
        None => ("404 Not Found", "not found".to_string()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/rss+xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body.as_bytes())?;
    let _ = conn.flush();
    let mut rest = [0u8; 16];
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = reader.read(&mut rest);
    Ok(())
}

struct Args {
    rounds: u64,
    seed: u64,
    binary: Option<PathBuf>,
    keep_dir: bool,
}

fn args() -> Args {
    let usage = "usage: torture [--rounds N] [--seed N] [--binary PATH] [--keep-dir]";
    let mut a = Args {
        rounds: 200,
        seed: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1,
        binary: None,
        keep_dir: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect(usage),
            "--seed" => a.seed = it.next().and_then(|v| v.parse::<u64>().ok()).expect(usage) | 1,
            "--binary" => a.binary = Some(it.next().expect(usage).into()),
            "--keep-dir" => a.keep_dir = true,
            "-h" | "--help" => {
                println!(
                    "{usage}\n\nSIGKILLs the release feedwatch at random moments against a local publishing server, then checks the alert log against the server's ground truth (default 200 rounds)"
                );
                std::process::exit(0);
            }
            _ => {
                eprintln!("torture: unknown argument {x:?}\n{usage}");
                std::process::exit(2);
            }
        }
    }
    a
}

/// The release binary, built first when run through cargo.
fn binary(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(b) = explicit {
        return b;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = Command::new(cargo);
        // `cargo run` gave this process the package's variables (CARGO_PKG_NAME...); build
        // scripts such as ring's watch them, so passing them on would rebuild ring and
        // everything above it here, and again in the next plain cargo command
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let ok = build
            .args(["build", "--release", "--quiet", "--bin", "feedwatch"])
            .current_dir(manifest)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "building target/release/feedwatch failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    target.join("release/feedwatch")
}

/// Runs feedwatch to completion; its exit code and stderr.
fn run(bin: &Path, config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("running feedwatch");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn(bin: &Path, config: &Path, command: &str, log: &Path, compact: bool) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("the torture log");
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg(command)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        // compact the store whatever its size, at start-up and (`run`) every 0.3-0.6 s
        // while running, so that kills land in the middle of compactions too
        .env("FEEDWATCH_COMPACT_ALWAYS", if compact { "1" } else { "0" })
        .env(
            "FEEDWATCH_MAINTENANCE_SECS",
            if compact { "0.4" } else { "" },
        )
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting feedwatch")
}

fn main() -> ExitCode {
    let a = args();
    let bin = binary(a.binary.clone());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().to_path_buf();
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let world = Arc::new(Mutex::new(World::default()));
    thread::spawn({
        let world = world.clone();
        move || serve(listener, world)
    });
    let publishing = Arc::new(AtomicBool::new(true));
    let publisher = thread::spawn({
        let (world, publishing) = (world.clone(), publishing.clone());
        let mut rng = Rng(a.seed.rotate_left(17) | 1);
        move || {
            while publishing.load(Ordering::Relaxed) {
                world.lock().unwrap().publish(&mut rng);
                thread::sleep(Duration::from_millis(50 + rng.below(100)));
            }
        }
    });

    let config = dir.join("feedwatch.toml");
    let watches = {
        let e = feedwatch::config::EXAMPLE;
        &e[e.find("\n[[watch]]").unwrap() + 1..]
    };
    // keep = 30s: items leave the 40-item window within seconds, so retention purges item
    // bodies at every start-up and the final full-window poll meets thousands of tombstones
    let mut toml =
        "[storage]\npath = \"store\"\nkeep = \"30s\"\n[alerts]\nlog = \"alerts.jsonl\"\n\
        [fetch]\ntimeout = \"5s\"\nconnect_timeout = \"1s\"\nread_timeout = \"2s\"\n\
        [defaults]\ninterval = \"1s\"\nbacklog = \"all\"\n\n"
            .to_string();
    for f in FEEDS {
        toml.push_str(&format!(
            "[[feeds]]\nname = \"{f}\"\nurl = \"http://{addr}/{f}\"\n\n"
        ));
    }
    toml.push_str(watches);
    std::fs::write(&config, toml).expect("writing the config");
    let log = dir.join("alerts.jsonl");
    let diag = dir.join("torture.log");

    println!(
        "torture: {} rounds, seed {}, binary {}, in {}",
        a.rounds,
        a.seed,
        bin.display(),
        dir.display()
    );
    let started = Instant::now();
    let mut rng = Rng(a.seed);
    let mut violations: Vec<String> = Vec::new();
    let (mut killed, mut exited) = (0, 0);
    // where the kills of `run` landed, from its log: before it was running, after alerts
    // were committed, after some were delivered
    let (mut in_startup, mut with_commits, mut with_deliveries) = (0, 0, 0);
    // kills that left a compaction's directories behind, for the next start to finish
    let mut mid_compaction = 0;
    for round in 0..a.rounds {
        let command = if rng.below(10) < 7 { "run" } else { "once" };
        let logged_before = std::fs::metadata(&diag).map_or(0, |m| m.len());
        let compact = rng.below(3) == 0;
        let mut child = spawn(&bin, &config, command, &diag, compact);
        // a third of the kills in the busy first 300 ms (open, re-delivery, retention, the
        // first poll of every feed), the rest anywhere in 1.5 s
        let delay = Duration::from_millis(if rng.below(3) == 0 {
            rng.below(300)
        } else {
            rng.below(1500)
        });
        let deadline = Instant::now() + delay;
        let mut status = None;
        while Instant::now() < deadline {
            if let Some(s) = child.try_wait().unwrap() {
                status = Some(s);
                break;
            }
            thread::sleep(Duration::from_millis(5).min(deadline - Instant::now()));
        }
        match status {
            None => {
                let _ = child.kill(); // SIGKILL
                let _ = child.wait();
                killed += 1;
                if ["store.compacting", "store.retired"]
                    .iter()
                    .any(|d| dir.join(d).exists())
                {
                    mid_compaction += 1;
                }
                if command == "run" {
                    let logged = std::fs::read(&diag).unwrap_or_default();
                    let round_log = String::from_utf8_lossy(&logged[logged_before as usize..]);
                    if !round_log.contains("feedwatch running") {
                        in_startup += 1;
                    }
                    if round_log.contains(" alert ") || round_log.contains("INFO alert") {
                        with_commits += 1;
                    }
                    if round_log.contains("delivered") {
                        with_deliveries += 1;
                    }
                }
            }
            Some(s) => {
                exited += 1;
                if !s.success() {
                    violations.push(format!(
                        "round {round}: `{command}` exited by itself with {s} (see {})",
                        diag.display()
                    ));
                }
            }
        }
        let (code, err) = run(&bin, &config, &["items", "--limit", "1"]);
        if code != Some(0) {
            violations.push(format!(
                "round {round}: the store did not open after the kill: exit {code:?}: {}",
                err.trim()
            ));
        }
        if (round + 1) % 25 == 0 {
            println!(
                "  round {:>4}: {} stories published, {:.0}s",
                round + 1,
                world.lock().unwrap().stories.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }

    // the end: nothing new, every item visible, two clean cycles
    publishing.store(false, Ordering::Relaxed);
    let _ = publisher.join();
    world.lock().unwrap().full = true;
    for _ in 0..2 {
        let (code, err) = run(&bin, &config, &["once"]);
        if code != Some(0) {
            violations.push(format!(
                "final `once` failed: exit {code:?}: {}",
                err.trim()
            ));
        }
    }

    // ground truth
    let stories = world.lock().unwrap().stories.clone();
    let mut expected: BTreeSet<(u64, &str)> = BTreeSet::new();
    for s in &stories {
        for w in s.watches() {
            expected.insert((s.n, w));
        }
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut ids: BTreeMap<(u64, String), BTreeSet<String>> = BTreeMap::new();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        lines += 1;
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                violations.push(format!(
                    "alert log line {}: not JSON ({e}): {line:?}",
                    i + 1
                ));
                continue;
            }
        };
        let (Some(id), Some(watch), Some(title)) =
            (v["id"].as_str(), v["watch"].as_str(), v["title"].as_str())
        else {
            violations.push(format!("alert log line {}: fields missing: {line}", i + 1));
            continue;
        };
        let Some(n) = title
            .strip_prefix("Story ")
            .and_then(|t| t.split(':').next())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            violations.push(format!("alert log line {}: unknown story: {title}", i + 1));
            continue;
        };
        *seen_ids.entry(id.to_string()).or_default() += 1;
        ids.entry((n, watch.to_string()))
            .or_default()
            .insert(id.to_string());
    }
    let redelivered: u64 = seen_ids.values().map(|c| c - 1).sum();
    for (id, _) in seen_ids.iter().filter(|(_, c)| **c > 1).take(10) {
        violations.push(format!(
            "re-delivered: alert {id} is in the log {} times",
            seen_ids[id]
        ));
    }
    let mut lost = 0;
    for (n, w) in &expected {
        if !ids.contains_key(&(*n, w.to_string())) {
            lost += 1;
            if lost <= 10 {
                let s = &stories[*n as usize];
                violations.push(format!(
                    "lost: story {n} ({:?}, feeds {:?}) has no {w} alert",
                    s.title, s.feeds
                ));
            }
        }
    }
    let (mut spurious, mut twice) = (0, 0);
    for ((n, w), set) in &ids {
        if !expected.contains(&(*n, w.as_str())) {
            spurious += 1;
            violations.push(format!(
                "spurious: {w} alert for story {n} ({:?})",
                stories.get(*n as usize).map(|s| s.title.as_str())
            ));
        }
        if set.len() > 1 {
            twice += 1;
            violations.push(format!(
                "twice: story {n} has {} different {w} alert ids: {set:?}",
                set.len()
            ));
        }
    }
    // every alert the store holds reached the log (nothing left pending after clean runs)
    let listed = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .args(["alerts", "--json", "--limit", "0"])
        .output()
        .expect("feedwatch alerts");
    let mut undelivered = 0;
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if let Some(id) = v["id"].as_str()
            && !seen_ids.contains_key(id)
        {
            undelivered += 1;
            violations.push(format!("in the store but not in the log: {line}"));
        }
    }

    let matching = stories.iter().filter(|s| !s.watches().is_empty()).count();
    let store_failures = violations
        .iter()
        .filter(|v| v.contains("did not open"))
        .count();
    println!(
        "rounds {} ({} killed, {} exited by themselves), {:.0}s",
        a.rounds,
        killed,
        exited,
        started.elapsed().as_secs_f64()
    );
    println!(
        "kills of `run`: {in_startup} before it was running, {with_commits} after committing alerts in that round, {with_deliveries} after delivering pending ones at start-up"
    );
    println!(
        "kills in the middle of a compaction (a third of the starts compact): {mid_compaction}"
    );
    println!(
        "stories published {} ({} matching a watch, {} cross-posted), alert lines {}",
        stories.len(),
        matching,
        stories.iter().filter(|s| s.feeds.len() > 1).count(),
        lines
    );
    println!(
        "alerts expected {}, found {} distinct ids; re-deliveries (same id again) {}",
        expected.len(),
        seen_ids.len(),
        redelivered
    );
    println!(
        "lost {lost}, spurious {spurious}, twice {twice}, undelivered {undelivered}, store failures {store_failures}"
    );
    if a.keep_dir {
        println!("kept {}", tmp.keep().display());
    }
    if violations.is_empty() {
        println!("ok: every matching story alerted exactly once per watch");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: {} violations", violations.len());
        for v in violations.iter().take(40) {
            println!("  {v}");
        }
        ExitCode::FAILURE
    }
}
