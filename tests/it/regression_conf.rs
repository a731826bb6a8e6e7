//! Regression tests for the config faults of "Faults that lose, corrupt or stall": 12
//! (values that overflow) and 13 (config that passes `check` but cannot work). Each test is
//! named after its fault and drives the real binary, a real store, real files and a
//! loopback feed server; each failed before its fix.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use feedwatch::config::{Env, Interval};
use feedwatch::service::Service;

use super::*;

/// Runs `check` on `text` written to `dir/feedwatch.toml`: (exit code, stdout, stderr,
/// the file's path as messages name it).
fn check(dir: &Path, text: &str) -> (Option<i32>, String, String, String) {
    let path = dir.join("feedwatch.toml");
    std::fs::write(&path, text).unwrap();
    let out = feedwatch(Some(&path), &["check"]);
    (
        out.status.code(),
        stdout(&out),
        stderr(&out),
        path.display().to_string(),
    )
}

/// `file:line: key: ` for the line of `text` that starts with `setting`.
fn place(file: &str, text: &str, setting: &str, key: &str) -> String {
    let line = text
        .lines()
        .position(|l| l.starts_with(setting))
        .unwrap_or_else(|| panic!("{setting:?} is not in the config"))
        + 1;
    format!("{file}:{line}: {key}: ")
}

/// Asserts that `err` has a line starting with `prefix` (file, line, key) that contains
/// every one of `words`.
fn reported(err: &str, prefix: &str, words: &[&str]) {
    let found = err
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no problem reported at {prefix:?} in:\n{err}"));
    for w in words {
        assert!(
            found.contains(w),
            "{found:?} does not say {w:?}\nall:\n{err}"
        );
    }
}

/// Fault 12, values that overflow: `check` accepted durations no calendar can add
/// (`interval = "1000000000d"`, `storage.keep` likewise), then `once` panicked
/// (`DateTime + TimeDelta overflowed`) and `run` exited 1 at every start. Every duration
/// key now has a limit that `check` names: 100 years for `storage.keep` and `backlog`, 10
/// years for the rest; a number too big to read at all says the same.
#[test]
fn values_that_overflow_are_rejected_by_check_with_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "\"1000000000d\"";
    let text = format!(
        "[storage]\npath = \"store\"\nkeep = {huge}\n\
         [alerts]\nlog = \"alerts.jsonl\"\n\
         [fetch]\ntimeout = \"11years\"\nhost_gap = {huge}\n\
         [schedule]\nmax_backoff = {huge}\n\
         [defaults]\ninterval = {huge}\nbacklog = {huge}\n\
         [[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n\
         interval = \"99999999999999999999999s\"\n\
         [[watch]]\nname = \"w\"\nterms = [\"CSTO\"]\n\
         [[sinks]]\nname = \"s\"\nkind = \"exec\"\ncommand = [\"true\"]\nevery = {huge}\n"
    );
    let (code, out, err, file) = check(dir.path(), &text);
    assert_eq!(code, Some(2), "check accepted it:\n{out}");
    let ten = "at most 10 years";
    let hundred = "at most 100 years";
    for (setting, key, limit) in [
        ("keep", "storage.keep", hundred),
        ("timeout", "fetch.timeout", ten),
        ("host_gap", "fetch.host_gap", ten),
        ("max_backoff", "schedule.max_backoff", ten),
        ("interval = \"1", "defaults.interval", ten),
        ("backlog", "defaults.backlog", hundred),
        ("interval = \"9", "feeds[0].interval", ten),
        ("every", "sinks[0].every", ten),
    ] {
        reported(
            &err,
            &place(&file, &text, setting, key),
            &["too long", limit],
        );
    }
    assert!(err.contains("(8 problems)"), "{err}");
    // the limits themselves are accepted
    let text = "[storage]\npath = \"store\"\nkeep = \"100years\"\n[alerts]\nlog = \"alerts.jsonl\"\n\
                [defaults]\ninterval = \"10years\"\nbacklog = \"100years\"\n\
                [[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\n";
    let (code, _, err, _) = check(dir.path(), text);
    assert_eq!(code, Some(0), "{err}");
}

/// Fault 12, values that overflow, at run time: a config that bypasses `check` (as one
/// loaded by an older version could) with an interval and a retention of 10^9 days must
/// neither panic opening the service (retention) nor after a poll (the next poll's date),
/// and the store keeps working.
#[test]
fn values_that_overflow_never_panic_the_service() {
    let server = Server::start();
    server.set("/rss", Route::feed(SAMPLE));
    let setup = Setup::new(&[("mt", &server.url("/rss"), "all")]);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let mut config = feedwatch::config::parse(
        &text,
        &setup.config.display().to_string(),
        Some(setup.dir.path()),
        &Env::default(),
    )
    .unwrap();
    let eons = Duration::from_secs(1_000_000_000 * 86400);
    config.feeds[0].interval = Interval::Fixed(eons);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for keep in [eons, Duration::MAX] {
        config.storage.keep = keep;
        let c = config.clone();
        rt.block_on(async move {
            let service = Service::open(c).await.expect("opens, retention included");
            assert_eq!(service.retain().await.unwrap(), 0, "nothing is that old");
            service.poll_one("mt").await.expect("polls");
        });
    }
    let alerts = setup.alerts();
    assert!(!alerts.is_empty(), "the poll went through to the alert log");
}

/// Fault 12, values that overflow, from a server: `Retry-After: 18446744073709551615`
/// (u64::MAX seconds) was added to an Instant and panicked `once`. Now the feed fails like
/// any 429, and `once` exits 4 (the cycle ran, no feed polled successfully), not 101.
#[test]
fn values_that_overflow_from_a_server_do_not_panic() {
    let server = Server::start();
    for (path, value) in [
        ("/a", "18446744073709551615"),
        ("/b", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ] {
        server.set(
            path,
            Route::status(429, "slow down").with_header("Retry-After", value),
        );
    }
    let setup = Setup::new(&[
        ("a", &server.url("/a"), "all"),
        ("b", &server.url("/b"), "all"),
    ]);
    let out = setup.run(&["once"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(server.seen("/a").len(), 1);
}

/// Fault 13, config that passes `check` but cannot work: an empty webhook secret (shown as
/// "signed", though anyone can forge an HMAC with an empty key), a store path that is a
/// file or lies under one, an alert log that is a directory or lies under a file, an exec
/// command that does not exist (by path or in PATH) or cannot be run, and `interval =
/// "0s"` (which said "not a duration"). Each is now a problem with file, line and key
/// that says what to do; `once` refuses the same config.
#[test]
fn config_that_passes_check_but_cannot_work_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a-file"), "not a directory\n").unwrap();
    std::fs::create_dir(d.join("a-dir")).unwrap();
    std::fs::write(d.join("empty-secret"), "\n").unwrap();
    let script = d.join("notify.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sinks = |secret: &str, command: &str| {
        format!(
            "[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n{secret}\n\
             [[sinks]]\nname = \"run\"\nkind = \"exec\"\ncommand = [{command}, \"--urgent\"]\n"
        )
    };
    let feeds = "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/a\"\ninterval = \"0s\"\n";

    let text = format!(
        "[storage]\npath = \"a-file\"\n[alerts]\nlog = \"a-dir\"\n{feeds}{}",
        sinks("secret = \"\"", "\"/nonexistent/notify-analyst\"")
    );
    let (code, out, err, file) = check(d, &text);
    assert_eq!(code, Some(2), "check accepted it:\n{out}");
    let at = |setting: &str, key: &str| place(&file, &text, setting, key);
    reported(
        &err,
        &at("path", "storage.path"),
        &["is a file", "directory"],
    );
    reported(&err, &at("log", "alerts.log"), &["is a directory", "file"]);
    reported(&err, &at("interval", "feeds[0].interval"), &["at least 1s"]);
    reported(&err, &at("secret", "sinks[0].secret"), &["empty", "forge"]);
    reported(
        &err,
        &at("command", "sinks[1].command"),
        &["/nonexistent/notify-analyst", "does not exist", "full path"],
    );
    assert!(err.contains("(5 problems)"), "{err}");
    let path = d.join("feedwatch.toml");
    assert_eq!(feedwatch(Some(&path), &["once"]).status.code(), Some(2));
    assert!(!d.join("a-file").is_dir() && !d.join("store").exists());

    let text = format!(
        "[storage]\npath = \"a-file/store\"\n[alerts]\nlog = \"a-file/logs/alerts.jsonl\"\n{feeds}{}",
        sinks(
            "secret_file = \"empty-secret\"",
            "\"feedwatch-no-such-program\""
        )
    );
    let (code, out, err, file) = check(d, &text);
    assert_eq!(code, Some(2), "check accepted it:\n{out}");
    let at = |setting: &str, key: &str| place(&file, &text, setting, key);
    reported(&err, &at("path", "storage.path"), &["a-file", "is a file"]);
    reported(&err, &at("log", "alerts.log"), &["a-file", "is a file"]);
    reported(
        &err,
        &at("secret_file", "sinks[0].secret_file"),
        &["empty", "forge"],
    );
    reported(
        &err,
        &at("command", "sinks[1].command"),
        &["feedwatch-no-such-program", "PATH", "full path"],
    );

    let text = format!(
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n{feeds}{}",
        sinks("secret = \"  \"", &format!("\"{}\"", script.display()))
    );
    let (code, out, err, file) = check(d, &text);
    assert_eq!(code, Some(2), "check accepted it:\n{out}");
    let at = |setting: &str, key: &str| place(&file, &text, setting, key);
    reported(&err, &at("secret", "sinks[0].secret"), &["empty"]);
    reported(
        &err,
        &at("command", "sinks[1].command"),
        &["not executable", "chmod"],
    );

    // the same config, made workable, passes: the store and log do not exist yet, the
    // command is found in PATH or by its path, the secret is not empty
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let feeds = feeds.replace("\"0s\"", "\"1s\"");
    for command in [format!("\"{}\"", script.display()), "\"sh\"".to_string()] {
        let text = format!(
            "[storage]\npath = \"new/store\"\n[alerts]\nlog = \"new/alerts.jsonl\"\n{feeds}{}",
            sinks("secret = \"k\"", &command)
        );
        let (code, out, err, _) = check(d, &text);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("(signed)"), "{out}");
    }
}
