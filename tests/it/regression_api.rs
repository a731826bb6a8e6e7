//! Regressions of the issue "Faults that lose, corrupt or stall", the API's share: file
//! descriptors (5), queries that load the whole store (6), the API beyond loopback (14).
//! The real binary, a real feed server, real sockets, a real sled store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// An RSS document with one item per (guid, title).
fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://outlet.example/{guid}</link></item>"
        ));
    }
    s + "</channel></rss>"
}

/// A running service, its API address and its stderr.
struct Running {
    daemon: Daemon,
    addr: String,
    stderr: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.daemon.id()
    }
}

/// Starts `run`, with RLIMIT_NOFILE set to `nofile` if given, and waits for its API.
fn start(setup: &Setup, nofile: Option<u64>) -> Running {
    let stderr = setup.dir.path().join("stderr.log");
    let mut cmd = command(Some(&setup.config));
    cmd.arg("run")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let file = setup
        .dir
        .path()
        .join("store")
        .join(feedwatch::api::ADDR_FILE);
    // a killed service leaves its address behind
    let _ = std::fs::remove_file(&file);
    let daemon = Daemon(cmd.spawn().unwrap());
    let mut addr = String::new();
    wait_for("the api", Duration::from_secs(30), || {
        addr = std::fs::read_to_string(&file).unwrap_or_default();
        !addr.trim().is_empty()
    });
    Running {
        daemon,
        addr: addr.trim().to_string(),
        stderr,
    }
}

/// A GET with this `Host` header: (status, headers, body), or an error within `limit`.
fn get_as(
    addr: &str,
    path: &str,
    host: &str,
    limit: Duration,
) -> std::io::Result<(u16, String, String)> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(limit))?;
    conn.set_write_timeout(Some(limit))?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {raw:?}")))?;
    Ok((status, head.to_string(), body.to_string()))
}

fn get(addr: &str, path: &str) -> (u16, String, String) {
    get_as(addr, path, addr, Duration::from_secs(30)).unwrap()
}

/// Raises this process's own descriptor limit to `n` (within its hard limit).
fn raise_own_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a struct we own
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= n,
        "the hard limit allows only {}",
        lim.rlim_cur
    );
}

/// A `/proc/PID/status` figure in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Writes `n` items, each alerting for `cis`, into the store at `path`, as polls of 500.
fn fill_store(path: &Path, n: usize) {
    use feedwatch::dedup::{self, KeyPolicy};
    use feedwatch::parse::Item;
    use feedwatch::store::{FeedState, Incoming, Store};
    use feedwatch::watch::Fired;
    let store = Store::open(path, 16 << 20).unwrap();
    let state = FeedState {
        name: "f".into(),
        ..FeedState::default()
    };
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
        let state = store.feed_state("f").unwrap().unwrap_or(state.clone());
        let at = t0 + chrono::Duration::seconds(start as i64);
        store.commit_poll(&state, &incoming, at).unwrap();
    }
}

/// Fault 5: 1,100 idle connections to the API of a service limited to 1,024 descriptors.
/// `/healthz` still answers within 2 s, the feed still polls, and the service holds
/// fewer descriptors than its limit.
#[test]
fn fault5_api_file_descriptors() {
    raise_own_nofile(4096);
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let setup = Setup::with_extra(
        &[("f", &s.url("/f"), "all")],
        "[defaults]\ninterval = \"1s\"\n",
    );
    let running = start(&setup, Some(1024));
    wait_for("the first alert", Duration::from_secs(30), || {
        setup.alerts().len() == 1
    });

    let mut held = Vec::new();
    for i in 0..1100 {
        match TcpStream::connect(&running.addr) {
            Ok(c) => held.push(c),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    let started = Instant::now();
    let health = get_as(
        &running.addr,
        "/healthz",
        &running.addr,
        Duration::from_secs(2),
    );
    let took = started.elapsed();
    let (status, _, body) = health.unwrap_or_else(|e| {
        panic!(
            "/healthz did not answer with 1,100 idle connections held: {e}\n{}",
            running.log()
        )
    });
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(took < Duration::from_secs(2), "/healthz took {took:?}");

    // the feed still polls: a new item alerts while the connections are held
    s.set(
        "/f",
        Route::feed(rss(&[
            ("1", "CIS summit opens"),
            ("2", "CSTO drills begin"),
        ])),
    );
    wait_for("the second alert", Duration::from_secs(30), || {
        setup.alerts().len() == 2
    });
    assert!(
        !running.log().contains("Too many open files"),
        "{}",
        running.log()
    );
    let fds = open_fds(running.pid());
    assert!(fds < 900, "{fds} descriptors open");
    assert!(
        running.log().contains("too many connections"),
        "{}",
        running.log()
    );
    drop(held);
}

/// Fault 5, the other half: a connection that never sends a request is closed after the
/// header-read timeout, not held forever.
#[test]
fn fault5_a_silent_connection_is_closed() {
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "nothing")])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    let running = start(&setup, None);
    let mut silent = TcpStream::connect(&running.addr).unwrap();
    let limit = feedwatch::api::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    silent.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut buf = [0; 512];
    // hyper answers a timed-out head with 408 or just closes; either way the read ends
    let mut n = silent.read(&mut buf).unwrap_or(usize::MAX);
    while n > 0 && n != usize::MAX {
        n = silent.read(&mut buf).unwrap_or(usize::MAX);
    }
    assert_eq!(n, 0, "the connection was not closed within {limit:?}");
    assert!(started.elapsed() >= feedwatch::api::HEADER_READ_TIMEOUT - Duration::from_millis(500));
}

/// Fault 6: a store of 5,000 alerts. 100 concurrent `limit=1` queries add a few MiB to
/// the service, not a copy of the store each (the full-scale figure: `cargo run --release
/// --example query_load`). `--limit 0` streams, and the API answers it page by page: the
/// CLI through the API and straight from the store print every alert, in the same order.
#[test]
fn fault6_queries_that_load_the_whole_store() {
    const ALERTS: usize = 5000;
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "nothing")])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    fill_store(&setup.dir.path().join("store"), ALERTS);
    let running = start(&setup, None);
    // settled: one query served
    assert_eq!(get(&running.addr, "/api/alerts?limit=1").0, 200);
    let before = status_kib(running.pid(), "VmRSS");
    let answers: Vec<(u16, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let addr = running.addr.clone();
                scope.spawn(move || {
                    let view = if i % 2 == 0 { "alerts" } else { "items" };
                    let (status, _, body) = get(&addr, &format!("/api/{view}?limit=1"));
                    (status, body.lines().count())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| *a == (200, 1)), "{answers:?}");
    let peak = status_kib(running.pid(), "VmHWM");
    let grown = peak.saturating_sub(before);
    eprintln!("RSS {before} KiB, peak {peak} KiB");
    assert!(
        grown < 25 << 10,
        "100 queries of one row took the service from {before} KiB to a peak of {peak} KiB"
    );

    // a large answer comes in pages, linked
    let (status, head, body) = get(&running.addr, "/api/alerts?limit=0");
    assert_eq!(status, 200);
    assert_eq!(body.lines().count(), feedwatch::api::PAGE);
    assert!(
        head.to_lowercase().contains("\r\nlink: </api/alerts?"),
        "{head}"
    );
    // the CLI follows them
    let through_api = setup.run(&["alerts", "--json", "--limit", "0"]);
    assert!(through_api.status.success(), "{}", stderr(&through_api));
    let through_api = stdout(&through_api);
    assert_eq!(through_api.lines().count(), ALERTS);
    let items_api = stdout(&setup.run(&["items", "--json", "--limit", "0"]));
    assert_eq!(items_api.lines().count(), ALERTS);
    drop(running);
    // the same, in the same order, straight from the store
    let direct = setup.run(&["alerts", "--json", "--limit", "0"]);
    assert!(direct.status.success(), "{}", stderr(&direct));
    assert_eq!(stdout(&direct), through_api);
    assert_eq!(
        stdout(&setup.run(&["items", "--json", "--limit", "0"])),
        items_api
    );
    let newest: serde_json::Value =
        serde_json::from_str(through_api.lines().next().unwrap()).unwrap();
    assert!(
        newest["title"]
            .as_str()
            .unwrap()
            .starts_with(&format!("CIS summit {}:", ALERTS - 1)),
        "{newest}"
    );
}

/// Fault 14: a non-loopback `listen` needs `[api] allow_remote = true` (and is warned
/// about), and a request is answered only for a loopback `Host` or one of `[api] hosts`:
/// a page rebinding its own name to 127.0.0.1 gets nothing.
#[test]
fn fault14_the_api_beyond_loopback() {
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let feeds = [("f", s.url("/f"), "all")];
    let feeds: Vec<(&str, &str, &str)> =
        feeds.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
    let setup = Setup::new(&feeds);
    let toml = std::fs::read_to_string(&setup.config).unwrap();

    let remote = toml.replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"");
    std::fs::write(&setup.config, &remote).unwrap();
    let out = setup.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("allow_remote"), "{}", stderr(&out));

    let opted_in = remote.replace(
        "listen = \"0.0.0.0:0\"",
        "listen = \"0.0.0.0:0\"\nallow_remote = true\nhosts = [\"feeds.example.org\"]",
    );
    std::fs::write(&setup.config, &opted_in).unwrap();
    let running = start(&setup, None);
    let port = running.addr.rsplit_once(':').unwrap().1.to_string();
    let local = format!("127.0.0.1:{port}");
    wait_for("the warning", Duration::from_secs(10), || {
        running.log().contains("beyond loopback")
    });
    let limit = Duration::from_secs(30);
    for host in [
        local.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "feeds.example.org".into(),
        format!("FEEDS.example.org:{port}"),
    ] {
        let (status, _, _) = get_as(&local, "/api/feeds", &host, limit).unwrap();
        assert_eq!(status, 200, "Host: {host}");
    }
    for host in [
        "\u{202e}gro.elpmaxe".into(),
        format!("attacker.example:{port}"),
        "attacker.example".into(),
        format!("feeds.example.org.attacker.example:{port}"),
        "127.0.0.1.nip.io".into(),
    ] {
        let (status, _, body) = get_as(&local, "/api/alerts", &host, limit).unwrap();
        assert_eq!(status, 403, "Host: {host:?}: {body}");
        assert!(!body.contains("CIS"), "{body}");
    }
    // the refusal is logged once, with the client's name escaped
    wait_for("the refusal in the log", Duration::from_secs(10), || {
        running.log().contains("refused a request for a host name")
    });
    assert!(!running.log().contains('\u{202e}'), "{}", running.log());
}

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // after the name: state is field 3, utime 14 and stime 15 (1-based)
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Fault 5, accept errors: a service left with a handful of free descriptors runs out of
/// them while accepting. It logs why, closes an idle connection, and retries after a
/// pause instead of spinning on the queued connection; `/healthz` still answers.
#[test]
fn fault5_accept_errors_back_off_and_are_logged() {
    raise_own_nofile(4096);
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "nothing")])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    // what the service holds on its own, then a limit a few above it (and well below
    // twice it, so that the connection cap does not keep it from running out)
    let baseline = {
        let running = start(&setup, None);
        assert_eq!(get(&running.addr, "/healthz").0, 200);
        open_fds(running.pid())
    };
    let running = start(&setup, Some(baseline as u64 + 4));
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(&running.addr).unwrap());
    }
    wait_for(
        "the accept error in the log",
        Duration::from_secs(10),
        || running.log().contains("cannot accept a connection"),
    );
    let cpu = cpu_secs(running.pid());
    let started = Instant::now();
    let (status, _, _) = get_as(
        &running.addr,
        "/healthz",
        &running.addr,
        Duration::from_secs(2),
    )
    .unwrap_or_else(|e| panic!("/healthz: {e}\n{}", running.log()));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    let used = cpu_secs(running.pid()) - cpu;
    let wall = started.elapsed().as_secs_f64();
    assert!(
        used < wall * 0.3,
        "{used:.2} s of CPU in {wall:.2} s while out of descriptors"
    );
    assert!(
        running.log().matches("cannot accept a connection").count() <= 2,
        "logged once a minute:\n{}",
        running.log()
    );
    drop(held);
}
