//! Integration tests: the real binary, a real HTTP server on 127.0.0.1, a real sled store
//! in a temporary directory. One test binary, one module per area.

/// The test HTTP server (real sockets, misbehaving on request).
mod server;

/// Sinks people read: ntfy, Telegram, Matrix, Slack, Discord; digests; `sinks test`.
mod alerts;
/// Email sinks against a loopback SMTP server: STARTTLS required/opportunistic, SMTPS, AUTH.
mod alerts_email;
/// The local HTTP endpoint: health, metrics, and queries while the service runs.
mod api;
/// `check`, `demo`, exit codes, `--help`: the command line as an operator meets it.
mod cli;
/// `run` as a service: sd_notify, SIGTERM, the store lock.
mod daemon;
/// The documentation: every relative link resolves; the README stays a short front page.
mod docs;
/// Nothing lost, nothing twice: sliding windows, edits, key policies, pending alerts.
mod durable;
/// Issue 13 (1, 3a): the outlet's text shown as written, extension fields matched, no
/// alerts on upgrade.
mod fidelity;
/// Issue 17, "The first day": held-back backlog said, empty answers, exit codes, `match`
/// with only watches, tables fitted to the terminal.
mod firstday;
/// Full text for truncated feeds: article pages fetched, extracted and matched.
mod full_text;
/// Hostile servers: hangs, dribbles, huge bodies, bombs, redirect tricks, odd documents.
mod hostile;
/// Every command beside a running service, through its control socket.
mod live;
/// `/metrics` of a running service: every series present from the start; the example rules.
mod metrics;
/// `opml export` and `opml import`: round trip, duplicates, other readers' files, errors.
mod opml;
/// The man page and shell completions generated from the CLI.
mod packaging;
/// `once` against served feeds: alerts, backlog, dedup, conditional GET, charsets, failures.
mod pipeline;
/// The process around the pipeline: two malloc arenas at most (issue 15).
mod process;
/// Issue 13, part 2: ill-formed and namespaced documents recovered, unreadable items a failure.
mod recover;
/// One test per bug fixed, named after the bug.
mod regression;
/// The issue "Faults that lose, corrupt or stall": the API's faults (5, 6, 14).
mod regression_api;
/// Config faults: values that overflow, config that passes `check` but cannot work.
mod regression_conf;
/// The alert log and the sinks: full disks, crashes between append and mark, `once` and sinks.
mod regression_log;
/// Issue faults 4 and 15: a huge document's memory is bounded; far-future dates are no dates.
mod regression_memory;
/// Regressions of the sink and display faults: redirects, exec sinks, escape sequences,
/// secrets in URLs, unbounded text in deliveries.
mod regression_sinks;
/// Issue faults 8 and 17: the API through a compaction, `once` never compacting.
mod regression_store;
/// `rematch` on a real store: dry runs, raising once, selecting by time and watch.
mod rematch;
/// Sinks beyond the alert log: webhook (signed, retried) and exec.
mod sinks;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use server::{Mode, Route, Server};

/// The sample feed: item 1 mentions the CIS and the CSTO, item 2 is a substring trap.
pub const SAMPLE: &[u8] = include_bytes!("../fixtures/moscow-times-2022-12-27.xml");

/// A temporary directory with a config file in it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// The `[[watch]]` tables of the documented example (cis, csto).
pub fn example_watches() -> &'static str {
    let e = feedwatch::config::EXAMPLE;
    &e[e.find("\n[[watch]]").unwrap() + 1..]
}

impl Setup {
    /// A config polling `feeds` (name, url, backlog) with the example's watches; store and
    /// alert log inside the temporary directory.
    pub fn new(feeds: &[(&str, &str, &str)]) -> Setup {
        Setup::with_extra(feeds, "")
    }

    pub fn with_extra(feeds: &[(&str, &str, &str)], extra: &str) -> Setup {
        Setup::with_watches(feeds, extra, example_watches())
    }

    /// A config with `feeds`, `extra` settings and these `[[watch]]` tables.
    pub fn with_watches(feeds: &[(&str, &str, &str)], extra: &str, watches: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("feedwatch.toml");
        let setup = Setup { dir, config };
        setup.write_config(feeds, extra, watches);
        setup
    }

    /// Rewrites the config file (same store and alert log).
    pub fn write_config(&self, feeds: &[(&str, &str, &str)], extra: &str, watches: &str) {
        let mut toml = format!(
            "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n[fetch]\ntimeout = \"10s\"\nconnect_timeout = \"2s\"\nread_timeout = \"5s\"\n{extra}\n"
        );
        for (name, url, backlog) in feeds {
            toml.push_str(&format!(
                "[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\nbacklog = \"{backlog}\"\n\n"
            ));
        }
        toml.push_str(watches);
        std::fs::write(&self.config, toml).unwrap();
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("alerts.jsonl")
    }

    /// Runs `feedwatch --config CONFIG args...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        feedwatch(Some(&self.config), args)
    }

    /// The alert log's lines, parsed.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        read_alerts(&self.log())
    }
}

/// A running feedwatch, killed when dropped: a test that fails while the service runs
/// leaves no process behind.
pub struct Daemon(pub std::process::Child);

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Polls `f` every 20 ms until it holds; fails the test, naming `what`, after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs `feedwatch once` with the setup's config, asserts it succeeded, returns its stdout.
pub fn once_ok(setup: &Setup) -> String {
    let out = setup.run(&["once"]);
    assert!(
        out.status.success(),
        "once failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

pub fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .lines()
            .map(|l| serde_json::from_str(l).expect("every alert line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A `feedwatch` command with a clean environment (no inherited config or systemd sockets).
pub fn command(config: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_feedwatch"));
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    for var in [
        "FEEDWATCH_CONFIG",
        "NOTIFY_SOCKET",
        "STATE_DIRECTORY",
        "LOGS_DIRECTORY",
        "JOURNAL_STREAM",
        "RUST_LOG",
        "COLUMNS", // tables fit it: a test sets it when it wants a width
    ] {
        c.env_remove(var);
    }
    c
}

pub fn feedwatch(config: Option<&Path>, args: &[&str]) -> Output {
    command(config).args(args).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (watch, title) of each alert, sorted, for comparing sets of alerts.
pub fn watch_titles(alerts: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["watch"].as_str().unwrap().to_string(),
                a["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}
