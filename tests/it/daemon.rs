use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::*;

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits for a child to exit, killing it after `limit`.
fn wait(mut child: Daemon, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("feedwatch did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A socket in the setup's directory for the service's sd_notify messages (NOTIFY_SOCKET),
/// read with a 20 s timeout.
fn notify_socket(setup: &Setup) -> (PathBuf, UnixDatagram) {
    let path = setup.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (path, sock)
}

/// `run` polls, writes alerts, tells systemd READY=1 with a status line, and on SIGTERM
/// sends STOPPING=1 and exits 0.
#[test]
fn run_notifies_systemd_writes_alerts_and_stops_on_sigterm() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let (sock_path, sock) = notify_socket(&setup);
    let child = command(Some(&setup.config))
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        msg.contains("READY=1") && msg.contains("STATUS=polling 1 feeds"),
        "{msg}"
    );
    wait_for("two alerts", Duration::from_secs(20), || {
        setup.alerts().len() == 2
    });
    sigterm(&child);
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = wait(child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert_eq!(setup.alerts().len(), 2, "no alert repeated on shutdown");
}

/// While `run` holds the store, `once`, `rematch --dry-run`, `export` and `import` exit 3
/// and name the pid holding it; `items` asks the service instead.
#[test]
fn a_held_store_exits_3_naming_the_holder() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let mut child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    // the service logs "feedwatch running" once the store is open
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("feedwatch running"));
    assert!(started);
    // `import` cannot run beside the service (`once`, `rematch` and `export` run in it,
    // through its control socket: tests/it/live.rs)
    let config = setup.config.to_str().unwrap();
    {
        let args = ["import", config];
        let out = setup.run(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("held by a running feedwatch (pid {})", child.id())),
            "{err}"
        );
        assert!(err.contains("stop it first"), "{err}");
    }
    // queries go through the service's api instead
    assert!(setup.run(&["items"]).status.success());
    sigterm(&child);
    assert_eq!(wait(child, Duration::from_secs(20)).code(), Some(0));
    // once the service is gone, the store opens again
    assert!(setup.run(&["items"]).status.success());
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification within 20 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// SIGHUP reloads: an invalid config is reported and kept out (the old one keeps running),
/// an added feed starts, a removed feed stops; systemd hears RELOADING=1 with
/// MONOTONIC_USEC, then READY=1.
#[test]
fn sighup_reloads_the_config_and_keeps_out_an_invalid_one() {
    let s = Server::start();
    s.set("/a", Route::feed(SAMPLE));
    s.set("/b", Route::feed(SAMPLE));
    let feed = |name: &str, path: &str| {
        format!("[[feeds]]\nname = \"{name}\"\nurl = \"{}\"\n", s.url(path))
    };
    let head = "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n[defaults]\ninterval = \"1s\"\nbacklog = \"all\"\n";
    let setup = Setup::new(&[]);
    let write = |feeds: &str| {
        std::fs::write(&setup.config, format!("{head}{feeds}{}", example_watches())).unwrap()
    };
    write(&feed("a", "/a"));
    let (sock_path, sock) = notify_socket(&setup);
    let child = command(Some(&setup.config))
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::null())
        .spawn()
        .map(Daemon)
        .unwrap();
    assert!(recv(&sock).contains("READY=1"));
    wait_for("feed a polled", Duration::from_secs(20), || {
        !s.seen("/a").is_empty()
    });

    // an invalid config: reported, the running one stays
    std::fs::write(&setup.config, "[[feeds]]\nname = \"a\"\n").unwrap();
    signal(&child, "HUP");
    let msg = recv(&sock);
    assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg}");
    let usec: u64 = msg
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("MONOTONIC_USEC=")
        .parse()
        .unwrap();
    assert!(usec > 0);
    let msg = recv(&sock);
    assert!(
        msg.contains("READY=1") && msg.contains("reload failed"),
        "{msg}"
    );
    let before = s.seen("/a").len();
    wait_for("feed a still polled", Duration::from_secs(20), || {
        s.seen("/a").len() > before + 1
    });

    // feed b added, feed a removed
    write(&feed("b", "/b"));
    signal(&child, "HUP");
    assert!(recv(&sock).starts_with("RELOADING=1"));
    let msg = recv(&sock);
    assert!(
        msg.contains("READY=1") && msg.contains("polling 1 feeds"),
        "{msg}"
    );
    wait_for("feed b polled", Duration::from_secs(20), || {
        !s.seen("/b").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300)); // a poll of a in flight at the reload may finish
    let a_polls = s.seen("/a").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        s.seen("/a").len(),
        a_polls,
        "feed a was removed but is still polled"
    );
    assert!(s.seen("/b").len() >= 2, "feed b polled on its 1 s schedule");

    signal(&child, "TERM");
    assert_eq!(wait(child, Duration::from_secs(20)).code(), Some(0));
    // b serves the same stories (same links) as a: they do not alert again
    assert_eq!(setup.alerts().len(), 2);
}

/// Under WatchdogSec= (here 0.4 s), the service pings WATCHDOG=1 at half the interval
/// while its scheduler works.
#[test]
fn the_systemd_watchdog_is_pinged() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let (sock_path, sock) = notify_socket(&setup);
    let child = command(Some(&setup.config))
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(Stdio::null())
        .spawn()
        .map(Daemon)
        .unwrap();
    assert!(recv(&sock).contains("READY=1"));
    let started = Instant::now();
    let pings = (0..3).filter(|_| recv(&sock) == "WATCHDOG=1").count();
    assert_eq!(pings, 3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    signal(&child, "TERM");
    assert_eq!(wait(child, Duration::from_secs(20)).code(), Some(0));
}

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

/// A service runs for months: the daily check (here every second, FEEDWATCH_MAINTENANCE_SECS)
/// finds the store outgrown (here always: FEEDWATCH_COMPACT_ALWAYS=1), pauses polls, compacts the store and carries on in the same process, without
/// losing or repeating an alert; its API answers again afterwards.
#[test]
fn run_compacts_an_outgrown_store_without_a_restart() {
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let setup = Setup::with_extra(
        &[("f", &s.url("/f"), "all")],
        "[defaults]\ninterval = \"1s\"\n",
    );
    let diag = setup.dir.path().join("stderr.log");
    let child = command(Some(&setup.config))
        .arg("run")
        .env("FEEDWATCH_COMPACT_ALWAYS", "1")
        .env("FEEDWATCH_MAINTENANCE_SECS", "1")
        .stderr(std::fs::File::create(&diag).unwrap())
        .spawn()
        .map(Daemon)
        .unwrap();
    let log = || std::fs::read_to_string(&diag).unwrap_or_default();
    let compactions = || log().matches("compacted the store").count();
    wait_for("the first alert", Duration::from_secs(20), || {
        setup.alerts().len() == 1
    });
    // compacted while running (the store holds an item and an alert by then)
    let before = compactions();
    wait_for("a compaction in run", Duration::from_secs(30), || {
        compactions() > before
    });
    assert!(log().contains("stopping polls to compact it"), "{}", log());
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
    let again = compactions();
    wait_for("another compaction", Duration::from_secs(30), || {
        compactions() > again
    });
    // the reopened service answers queries (through its API, as the store is held)
    let items = setup.run(&["items", "--json"]);
    assert!(items.status.success(), "{}", stderr(&items));
    assert_eq!(stdout(&items).lines().count(), 2, "{}", stdout(&items));
    sigterm(&child);
    assert_eq!(wait(child, Duration::from_secs(30)).code(), Some(0));
    let alerts = setup.alerts();
    assert_eq!(
        watch_titles(&alerts),
        [
            ("cis".into(), "CIS summit opens".into()),
            ("csto".into(), "CSTO drills begin".into()),
        ],
        "one alert each, none repeated by the compactions"
    );
    assert!(!log().contains("ERROR"), "{}", log());
}
