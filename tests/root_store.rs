//! Tests that need root: a small tmpfs holds the store, filled and freed. Run as root:
//!
//!     FEEDWATCH_ROOT_TESTS=require cargo test --test root_store
//!
//! `.ci/run` runs them so (CI is root): there, not being root is a failure, never a skip. A
//! developer's plain `cargo test` as another user skips them, saying so loudly on stderr
//! (as `tests/root.rs` does for the alert log).

/// The test HTTP server (real sockets on 127.0.0.1).
#[path = "it/server.rs"]
#[allow(dead_code)] // shared with tests/it, which uses all of it
mod server;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server::{Route, Server};

/// Whether this process is root. Not root: a failure where the root tests are required
/// (`FEEDWATCH_ROOT_TESTS=require`, or `CI` set), else a loud skip.
fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let required = std::env::var("FEEDWATCH_ROOT_TESTS").is_ok_and(|v| v == "require")
        || std::env::var_os("CI").is_some();
    assert!(
        !required,
        "tests/root_store.rs mounts a tmpfs: run it as root (`sudo -E cargo test --test root_store`); CI runs it as root"
    );
    eprintln!(
        "SKIPPED {test}: it mounts a tmpfs and needs root (`sudo -E FEEDWATCH_ROOT_TESTS=require cargo test --test root_store`)"
    );
    false
}

/// A tmpfs of `mib` MiB mounted at `at`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}M"), "tmpfs"])
            .arg(at)
            .status()
            .expect("running mount");
        assert!(ok.success(), "mount -t tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A running feedwatch, killed when dropped (before the tmpfs is unmounted).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://outlet.example/{guid}</link></item>"
        ));
    }
    s + "</channel></rss>"
}

/// `GET path` from the API of the service whose log is `diag` (the address file beside
/// the store cannot be written while its disk is full): (status, body).
fn get(diag: &Path, path: &str) -> Option<(u16, String)> {
    let text = std::fs::read_to_string(diag).ok()?;
    let at = text.find("api listening listen=")? + "api listening listen=".len();
    let addr = text[at..].split_whitespace().next()?;
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    conn.read_to_string(&mut resp).ok()?;
    let status = resp.split(' ').nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Writes a file at `path` until the file system refuses: ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            return;
        }
    }
}

fn alerts(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A config: the store at `store`, the alert log at `log`, one feed at `url` polled every
/// second, watches cis and csto.
fn write_config(dir: &Path, store: &Path, log: &Path, url: &str) -> PathBuf {
    let config = dir.join("feedwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\ncache = \"1MiB\"\n[alerts]\nlog = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n[defaults]\ninterval = \"1s\"\n\n[[feeds]]\nname = \"f\"\nurl = \"{url}\"\nbacklog = \"all\"\n\n{}",
            store.display(),
            log.display(),
            "[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n\n[[watch]]\nname = \"csto\"\nterms = [\"CSTO\"]\n"
        ),
    )
    .unwrap();
    config
}

/// `feedwatch run`, its log in `diag`.
fn start(config: &Path, diag: &Path) -> Daemon {
    Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(diag).unwrap())
        .spawn()
        .map(Daemon)
        .unwrap()
}

/// Stops the service (SIGTERM: exit 0) and checks that the log holds the cis and the csto
/// alert, each once.
fn stop_and_check(mut child: Daemon, log: &Path, diag: &Path) {
    let diag_text = || std::fs::read_to_string(diag).unwrap_or_default();
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", diag_text());
    let mut seen: Vec<(String, String)> = alerts(log)
        .iter()
        .map(|a| {
            (
                a["watch"].as_str().unwrap().to_string(),
                a["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("cis".to_string(), "CIS summit opens".to_string()),
            ("csto".to_string(), "CSTO drills begin".to_string()),
        ],
        "every alert exactly once: {}",
        diag_text()
    );
}

/// Waits until `/healthz` says 503 for a full store; the body.
fn wait_for_full(diag: &Path) -> String {
    let mut said = String::new();
    wait_for(
        "/healthz to say the store is full",
        Duration::from_secs(60),
        || match get(diag, "/healthz") {
            Some((503, body)) if body.contains("No space left") => {
                said = body;
                true
            }
            _ => false,
        },
    );
    said
}

/// Issue fault 7, the restart: `run` starting with the store's disk full stays up (exiting
/// would be restarted at once until systemd's start limit left it down), says why on
/// `/healthz`, and starts polling by itself when space returns.
#[test]
fn store_disk_full_at_start_up_does_not_exit() {
    if !root_or_skip("store_disk_full_at_start_up_does_not_exit") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), 24);
    let store = fs.0.join("store");
    let log = dir.path().join("alerts.jsonl");
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let config = write_config(dir.path(), &store, &log, &s.url("/f"));
    let once = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(&config)
        .arg("once")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(once.status.success(), "{once:?}");
    assert_eq!(alerts(&log).len(), 1);
    let filler = fs.0.join("filler");
    fill(&filler);
    s.set(
        "/f",
        Route::feed(rss(&[
            ("1", "CIS summit opens"),
            ("2", "CSTO drills begin"),
        ])),
    );
    let diag = dir.path().join("stderr.log");
    let mut child = start(&config, &diag);
    let said = wait_for_full(&diag);
    assert!(said.contains("store"), "the reason names the store: {said}");
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "{}",
        std::fs::read_to_string(&diag).unwrap_or_default()
    );
    std::fs::remove_file(&filler).unwrap();
    wait_for(
        "the second alert after recovery",
        Duration::from_secs(90),
        || alerts(&log).len() == 2,
    );
    // the API's address, refused while the disk was full, is beside the store again
    wait_for("the api's address file", Duration::from_secs(10), || {
        store.join("feedwatch.api").exists()
    });
    stop_and_check(child, &log, &diag);
}

/// Issue fault 7, "store disk full": the store's file system fills up while `run` runs. The
/// service stays up, `/healthz` says 503 and why; when space returns it closes and reopens
/// the store by itself (sled 0.34 refuses every write after one failed until it is
/// reopened), polls again, and every alert is in the log exactly once.
#[test]
fn store_disk_full_is_ridden_out_and_recovered_from() {
    if !root_or_skip("store_disk_full_is_ridden_out_and_recovered_from") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), 24);
    let store = fs.0.join("store");
    let log = dir.path().join("alerts.jsonl");
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let config = write_config(dir.path(), &store, &log, &s.url("/f"));
    let diag = dir.path().join("stderr.log");
    let child = start(&config, &diag);
    let mut child = child;
    let diag_text = || std::fs::read_to_string(&diag).unwrap_or_default();
    wait_for("the first alert", Duration::from_secs(30), || {
        alerts(&log).len() == 1
    });
    wait_for("a healthy service", Duration::from_secs(30), || {
        get(&diag, "/healthz").is_some_and(|(status, _)| status == 200)
    });

    // the disk fills up; a new item arrives meanwhile
    let filler = fs.0.join("filler");
    fill(&filler);
    // with 40 other new items: a poll of one small item fits in the last, partly written
    // page of sled's log file, which a full file system still takes (binary records are
    // small); this one needs pages that the full disk does not have
    let others: Vec<(String, String)> = (3..43)
        .map(|i| {
            (
                i.to_string(),
                format!("Weather report number {i} for the region"),
            )
        })
        .collect();
    let mut items = vec![("1", "CIS summit opens"), ("2", "CSTO drills begin")];
    items.extend(others.iter().map(|(g, t)| (g.as_str(), t.as_str())));
    s.set("/f", Route::feed(rss(&items)));
    let said = wait_for_full(&diag);
    assert!(said.contains("store"), "the reason names the store: {said}");
    // it stays up while the disk is full (polls and reopening retried with backoff)
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.0.try_wait().unwrap().is_none(), "{}", diag_text());
    assert_eq!(
        alerts(&log).len(),
        1,
        "nothing alerted while the store is full: {}",
        diag_text()
    );

    // space returns: the service recovers by itself
    std::fs::remove_file(&filler).unwrap();
    wait_for(
        "the second alert after recovery",
        Duration::from_secs(90),
        || alerts(&log).len() == 2,
    );
    wait_for("a healthy service again", Duration::from_secs(30), || {
        get(&diag, "/healthz").is_some_and(|(status, _)| status == 200)
    });
    stop_and_check(child, &log, &diag);
    assert!(
        diag_text().contains("the store refuses writes"),
        "{}",
        diag_text()
    );
}
