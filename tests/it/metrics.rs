//! `/metrics` of a real `feedwatch run`: every series an alerting rule names is there from
//! the first scrape, and the example rule file parses and names only series that exist.

use std::process::{Child, Stdio};
use std::time::Duration;

use super::*;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `run`, and the API address it wrote beside the store.
fn start(setup: &Setup) -> (Running, String) {
    let child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let file = setup
        .dir
        .path()
        .join("store")
        .join(feedwatch::api::ADDR_FILE);
    let mut addr = String::new();
    wait_for("the api's address", Duration::from_secs(20), || {
        addr = std::fs::read_to_string(&file).unwrap_or_default();
        !addr.trim().is_empty()
    });
    (running, addr.trim().to_string())
}

/// A GET: (status, content type, body).
fn get(addr: &str, path: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let kind = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, kind, body.to_string())
}

/// The value of the series `series` (name and labels, as written), if present.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const STATES: [&str; 7] = [
    "ok",
    "failing",
    "stale",
    "disabled",
    "paused",
    "off",
    "never_polled",
];

/// A feed that works, one that fails, one off in the config (polled by a `once` before the
/// service starts); the example's watches and one that never fires. The service's first
/// scrape has a series for every watch (0: the alerts were the `once`'s) and every state,
/// the right counts and last-success times, build info and process metrics; /metrics is
/// labelled as Prometheus text, /healthz and 404s as plain text.
#[test]
fn every_series_is_there_from_the_start() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    s.set("/broken", Route::status(500, "down"));
    let off = format!(
        "[[feeds]]\nname = \"switched-off\"\nurl = \"{}\"\nenabled = false\n",
        s.url("/rss/off")
    );
    let watches = format!(
        "{}\n[[watch]]\nname = \"quiet\"\nterms = [\"zyzzyva\"]\n",
        example_watches()
    );
    let setup = Setup::with_watches(
        &[
            ("moscow-times", &s.url("/rss/news"), "all"),
            ("broken", &s.url("/broken"), "all"),
        ],
        &off,
        &watches,
    );
    // a `once` first: the store knows one feed ok and one failing, and the service's own
    // counters start from nothing
    setup.run(&["once"]);
    assert_eq!(setup.alerts().len(), 2);
    let (_running, addr) = start(&setup);

    let now = chrono::Utc::now().timestamp() as f64;
    let (status, kind, first) = get(&addr, "/metrics");
    assert_eq!(status, 200, "{first}");
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    for watch in ["cis", "csto", "quiet"] {
        let series = format!("feedwatch_alerts_total{{watch=\"{watch}\"}}");
        assert!(value(&first, &series).is_some(), "{series} in\n{first}");
    }
    for state in STATES {
        let series = format!("feedwatch_feeds{{state=\"{state}\"}}");
        assert!(value(&first, &series).is_some(), "{series} in\n{first}");
    }
    for feed in ["moscow-times", "broken", "switched-off"] {
        let series = format!("feedwatch_feed_last_success_timestamp_seconds{{feed=\"{feed}\"}}");
        assert!(value(&first, &series).is_some(), "{series} in\n{first}");
    }
    let version = format!(
        "feedwatch_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&first, &version), Some(1.0), "{first}");
    for old in [
        "feedwatch_feeds ",
        "feedwatch_feeds_failing ",
        "feedwatch_feeds_stale ",
        "feedwatch_feeds_disabled ",
        "feedwatch_bytes_fetched_total ",
    ] {
        assert!(
            !first.lines().any(|l| l.starts_with(old)),
            "{old} is gone:\n{first}"
        );
    }
    let started = value(&first, "process_start_time_seconds").expect("start time");
    assert!(
        (now - 120.0..=now + 2.0).contains(&started),
        "{started} vs {now}"
    );
    assert!(value(&first, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(value(&first, "process_open_fds").unwrap() >= 3.0);
    assert!(value(&first, "process_cpu_seconds_total").is_some());

    let metrics = first;
    assert_eq!(value(&metrics, "feedwatch_feeds{state=\"ok\"}"), Some(1.0));
    assert_eq!(
        value(&metrics, "feedwatch_feeds{state=\"failing\"}"),
        Some(1.0)
    );
    for watch in ["cis", "csto", "quiet"] {
        let series = format!("feedwatch_alerts_total{{watch=\"{watch}\"}}");
        assert_eq!(
            value(&metrics, &series),
            Some(0.0),
            "{series}: the store had them"
        );
    }
    assert_eq!(value(&metrics, "feedwatch_feeds{state=\"off\"}"), Some(1.0));
    assert_eq!(
        value(&metrics, "feedwatch_feeds{state=\"never_polled\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&metrics, "feedwatch_alerts_total{watch=\"quiet\"}"),
        Some(0.0)
    );
    let ok = value(
        &metrics,
        "feedwatch_feed_last_success_timestamp_seconds{feed=\"moscow-times\"}",
    )
    .unwrap();
    assert!((now - 120.0..=now + 1.0).contains(&ok), "{ok} vs {now}");
    assert_eq!(
        value(
            &metrics,
            "feedwatch_feed_last_success_timestamp_seconds{feed=\"broken\"}"
        ),
        Some(0.0)
    );
    assert!(value(&metrics, "feedwatch_fetched_bytes_total").is_some());

    for path in ["/healthz", "/nope"] {
        let (_, kind, _) = get(&addr, path);
        assert_eq!(kind, "text/plain; charset=utf-8", "{path}");
    }

    // every feedwatch_ and process_ name in the example rules is served
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/feedwatch.rules.yml"),
    )
    .unwrap();
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("feedwatch_") || word.starts_with("process_") {
            named += 1;
            assert!(
                metrics
                    .lines()
                    .any(|l| l.starts_with(&format!("{word} "))
                        || l.starts_with(&format!("{word}{{"))),
                "the rules name {word}, which /metrics does not serve"
            );
        }
    }
    assert!(named >= 5, "{rules}");
}

/// The example rule file is YAML of Prometheus' rule-file shape: groups of named rules,
/// each an alert with an expression (parsed by PyYAML where python3 has it).
#[test]
fn the_example_rules_parse() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/feedwatch.rules.yml");
    let script = "import sys, yaml\n\
        doc = yaml.safe_load(open(sys.argv[1]))\n\
        rules = [r for g in doc['groups'] for r in g['rules']]\n\
        assert all(g['name'] for g in doc['groups'])\n\
        assert all(isinstance(r['alert'], str) and isinstance(r['expr'], str) for r in rules), rules\n\
        print(' '.join(r['alert'] for r in rules))\n";
    let has_yaml = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_yaml {
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let alerts = stdout(&out);
        for name in [
            "FeedwatchDown",
            "FeedwatchFeedFailing",
            "FeedwatchDeliveryStuck",
        ] {
            assert!(alerts.contains(name), "{name} in {alerts}");
        }
    } else {
        // without PyYAML: the shape, line by line (no tabs, alerts each with an expr)
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains('\t'), "YAML has no tabs");
        assert!(text.starts_with('#') && text.contains("\ngroups:\n"));
        let alerts = text.matches("- alert: ").count();
        assert!(
            alerts >= 3 && text.matches("expr: ").count() == alerts,
            "{text}"
        );
    }
}
