//! Tests that need root: a real tmpfs, mounted small and filled, holds the alert log, so that
//! appends fail with ENOSPC the way they do on a full /var/log; throwaway users inside and
//! outside the control socket's group. Run as root:
//!
//!     FEEDWATCH_ROOT_TESTS=require cargo test --test root
//!
//! `.ci/run` runs them so (CI is root): there, not being root is a failure, never a skip. A
//! developer's plain `cargo test` as another user skips them, saying so loudly on stderr.

#[path = "it/server.rs"]
#[allow(dead_code)]
mod server;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use server::{Route, Server};

/// Whether this process is root. Not root: a failure where the root tests are required
/// (`FEEDWATCH_ROOT_TESTS=require`, or `CI` set), else a loud skip.
fn root_or_skip(test: &str) -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return true;
    }
    let required = std::env::var("FEEDWATCH_ROOT_TESTS").is_ok_and(|v| v == "require")
        || std::env::var_os("CI").is_some();
    assert!(
        !required,
        "tests/root.rs mounts a tmpfs: run it as root (`sudo -E cargo test --test root`); CI runs it as root"
    );
    eprintln!(
        "SKIPPED {test}: it mounts a tmpfs and needs root (`sudo -E FEEDWATCH_ROOT_TESTS=require cargo test --test root`)"
    );
    false
}

/// A small tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount")
            .success();
        assert!(ok, "mount -t tmpfs on {} failed", dir.path().display());
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem with a filler file, then frees `free` bytes of it: the next
    /// writes fail with ENOSPC once they pass that much.
    fn fill_leaving(&self, free: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(free)).unwrap();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// errno for "No space left on device" on Linux.
const ENOSPC: i32 = 28;

/// An RSS feed of `n` items, each mentioning the CIS, with long titles: long alert lines.
fn feed(n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>http://example.org/</link><description>d</description>",
    );
    for i in 0..n {
        s.push_str(&format!(
            "<item><title>Story {i}: CIS leaders meet in Minsk {}</title><link>http://example.org/{i}</link><guid>g{i}</guid><description>CIS summit {}</description></item>",
            "and talk at length ".repeat(8),
            "words ".repeat(40)
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn feedwatch(config: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_feedwatch"));
    c.arg("--config").arg(config).args(args);
    for var in [
        "FEEDWATCH_CONFIG",
        "NOTIFY_SOCKET",
        "STATE_DIRECTORY",
        "LOGS_DIRECTORY",
        "JOURNAL_STREAM",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c.output().unwrap()
}

/// Every line of the log parsed (a line that is not JSON fails the test), and how many
/// times each id appears.
fn check_log(path: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the log ends in part of a line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    let mut ids = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("alert log line {} is not JSON ({e}): {line:?}", i + 1));
        *ids.entry(v["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    ids
}

/// Fault 1, "alert log after a full disk": an append into a full filesystem left part of a
/// batch behind, the partial last line, which the retry in the same process glued the next
/// line onto (one invalid JSON line mid-file), and the whole lines before it, which the
/// retry wrote again. Now a failed append is cut back to the last whole line.
#[test]
fn alert_log_after_a_full_disk() {
    if !root_or_skip("alert_log_after_a_full_disk") {
        return;
    }
    let fs = Tmpfs::mount("256k");

    // the deliverer's retry within one process, on the real AlertLog
    let path = fs.path().join("direct.jsonl");
    let mut log = feedwatch::alert::AlertLog::open(&path).unwrap();
    let line = |i: usize| {
        format!(
            "{{\"kind\":\"match\",\"id\":\"{i:032x}\",\"title\":\"{}\"}}",
            "x".repeat(700)
        )
    };
    log.append(&[line(0)]).unwrap();
    let filler = fs.fill_leaving(8192);
    let batch: Vec<String> = (1..=40).map(line).collect();
    let err = log.append(&batch).expect_err("the disk is full");
    assert_eq!(err.raw_os_error(), Some(ENOSPC), "{err}");
    let ids = check_log(&path);
    assert_eq!(ids.len(), 1, "the failed batch left lines behind: {ids:?}");
    std::fs::remove_file(&filler).unwrap();
    log.append(&batch).unwrap();
    let ids = check_log(&path);
    assert_eq!(ids.len(), 41);
    assert!(ids.values().all(|&n| n == 1), "lines twice: {ids:?}");
    drop(log);
    std::fs::remove_file(&path).unwrap();

    // the real binary: `once` with the log on the full tmpfs fails (exit 1, the alerts stay
    // pending); once space is freed, the next `once` delivers each alert exactly once
    let served = Server::start();
    served.set("/feed", Route::feed(feed(60)));
    let work = tempfile::tempdir().unwrap();
    let log_path = fs.path().join("alerts.jsonl");
    let config = work.path().join("feedwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[alerts]\nlog = \"{}\"\n[fetch]\ntimeout = \"10s\"\n\n\
             [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n\n\
             [[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n",
            work.path().join("store").display(),
            log_path.display(),
            served.url("/feed")
        ),
    )
    .unwrap();
    std::fs::write(&log_path, "").unwrap();
    let filler = fs.fill_leaving(8192);
    let failed = feedwatch(&config, &["once"]);
    let err = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let ids = check_log(&log_path);
    assert!(ids.is_empty(), "the failed append left lines: {ids:?}");

    std::fs::remove_file(&filler).unwrap();
    let out = feedwatch(&config, &["once"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = check_log(&log_path);
    assert_eq!(ids.len(), 60, "every alert delivered: {}", ids.len());
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "lines twice: {twice:?}");
}

/// Throwaway users and a group, removed when dropped (also when the test fails).
struct Users {
    group: String,
    users: Vec<String>,
}

impl Users {
    /// A group `group`, a user `inside` in it, and a user `outside` not in it (each with a
    /// group of its own, no home).
    fn create(group: &str, inside: &str, outside: &str) -> Users {
        let run = |args: &[&str]| {
            let ok = Command::new(args[0])
                .args(&args[1..])
                .status()
                .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
                .success();
            assert!(ok, "{args:?} failed");
        };
        run(&["groupadd", group]);
        let mut made = Users {
            group: group.into(),
            users: Vec::new(),
        };
        run(&[
            "useradd",
            "-M",
            "-U",
            "-s",
            "/bin/false",
            "-G",
            group,
            inside,
        ]);
        made.users.push(inside.into());
        run(&["useradd", "-M", "-U", "-s", "/bin/false", outside]);
        made.users.push(outside.into());
        made
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = Command::new("userdel").arg(user).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// `feedwatch ARGS` as `user` (its own groups only, from /etc/group), beside the service.
fn feedwatch_as(user: &str, config: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", user, "--regid", user, "--init-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEEDWATCH_CONFIG")
        .env_remove("RUST_LOG");
    c.output().unwrap()
}

/// The control socket belongs to `[control] group` with mode 0660: a user outside the
/// group is refused (exit 1, saying how to get in), a member of it polls and asks for the
/// status through it, beside a service run by root.
#[test]
fn the_control_socket_lets_only_its_group_in() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !root_or_skip("the_control_socket_lets_only_its_group_in") {
        return;
    }
    let tag = std::process::id();
    let group = format!("fwops{tag}");
    let (inside, outside) = (format!("fwin{tag}"), format!("fwout{tag}"));
    let _users = Users::create(&group, &inside, &outside);
    let served = Server::start();
    served.set("/feed", Route::feed(feed(2)));
    let work = tempfile::tempdir().unwrap();
    // the operators reach the config and the socket; the store stays root's
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = work.path().join("ctl.sock");
    let config = work.path().join("feedwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"\"\n\
             [control]\nsocket = \"{}\"\ngroup = \"{group}\"\n\n\
             [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n\n\
             [[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n",
            socket.display(),
            served.url("/feed")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut service = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(&mut service);
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for the control socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660, "the socket's mode");
    assert_eq!(
        Some(meta.gid()),
        feedwatch::ctl::group_id(&group),
        "the socket's group"
    );
    assert_eq!(meta.uid(), 0, "the socket's owner");

    for args in [&["status"][..], &["poll", "news"][..]] {
        let out = feedwatch_as(&outside, &config, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} as {outside}: {err}");
        assert!(
            err.contains("control socket") && err.contains("refuses you"),
            "{args:?} as {outside}: {err}"
        );
    }
    let out = feedwatch_as(&inside, &config, &["status", "--json"]);
    assert!(
        out.status.success(),
        "status as {inside}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], true, "{v}");
    let before = served.seen("/feed").len();
    let out = feedwatch_as(&inside, &config, &["poll", "news"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("polled 1 feed: 1 ok"),
        "poll as {inside}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        served.seen("/feed").len() > before,
        "the poll fetched the feed"
    );
}

/// Every entry under `dir` (and `dir` itself) with its owner, for the failure message.
fn owners_under(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.push((p, meta.uid()));
    }
    out
}

/// `sudo feedwatch once` (then `items`) on a store owned by the service's user leaves every
/// file of the store and the alert log to that user: sled's files written as root would
/// keep the service from opening its own store.
#[test]
fn a_command_run_as_root_leaves_the_store_to_its_owner() {
    if !root_or_skip("a_command_run_as_root_leaves_the_store_to_its_owner") {
        return;
    }
    let (uid, gid) = (4243, 4243); // no user needed: a numeric owner is enough
    let served = Server::start();
    served.set("/feed", Route::feed(feed(5)));
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
    let config = work.path().join("feedwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[alerts]\nlog = \"{}\"\n[api]\nlisten = \"\"\n\n\
             [[feeds]]\nname = \"news\"\nurl = \"{}\"\nbacklog = \"all\"\n\n\
             [[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n",
            data.join("store").display(),
            data.join("alerts.jsonl").display(),
            served.url("/feed")
        ),
    )
    .unwrap();
    for args in [&["once"][..], &["items"], &["alerts"], &["export"]] {
        let out = feedwatch(&config, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let owners = owners_under(&data);
        let roots: Vec<_> = owners.iter().filter(|(_, u)| *u != uid).collect();
        assert!(
            roots.is_empty(),
            "after {args:?}, owned by another user than {uid}: {roots:?}"
        );
        assert!(owners.len() > 3, "{owners:?}");
    }
    assert_eq!(check_log(&data.join("alerts.jsonl")).len(), 5);
}
