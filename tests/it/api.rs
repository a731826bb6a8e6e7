use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::*;

struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(setup: &Setup) -> Running {
    let child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let file = setup
        .dir
        .path()
        .join("store")
        .join(feedwatch::api::ADDR_FILE);
    let started = Instant::now();
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&file) {
            break a.trim().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the api did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Running { child, addr }
}

/// A plain HTTP/1.1 GET with std's TcpStream: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let status = raw.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// /healthz is 200, /metrics counts the poll and the alerts by watch, and the CLI's
/// `feeds`, `items` and `alerts` (which go through the api while the service holds the
/// store) print what the api serves, and what the store shows once the service stopped.
#[test]
fn health_metrics_and_queries_while_running() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE).with_etag("\"v1\""));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let running = start(&setup);
    wait_for("two alerts", Duration::from_secs(20), || {
        setup.alerts().len() == 2
    });

    let (status, body) = get(&running.addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, metrics) = get(&running.addr, "/metrics");
    assert_eq!(status, 200);
    for expected in [
        "feedwatch_polls_total{outcome=\"ok\"} 1",
        "feedwatch_alerts_total{watch=\"cis\"} 1",
        "feedwatch_alerts_total{watch=\"csto\"} 1",
        "feedwatch_items_new_total 3",
        "feedwatch_feeds{state=\"ok\"} 1",
        "feedwatch_feeds{state=\"failing\"} 0",
        "# TYPE feedwatch_poll_duration_seconds histogram",
        "feedwatch_poll_duration_seconds_count 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("feedwatch_store_bytes ") && !l.ends_with(" 0")),
        "{metrics}"
    );

    for view in ["feeds", "items", "alerts"] {
        let (status, api) = get(&running.addr, &format!("/api/{view}"));
        assert_eq!(status, 200);
        let cli = setup.run(&[view, "--json"]);
        assert!(cli.status.success(), "{view}: {}", stderr(&cli));
        assert_eq!(
            lines(&stdout(&cli)),
            lines(&api),
            "{view}: the CLI through the api"
        );
    }
    let (_, api_alerts) = get(&running.addr, "/api/alerts?watch=csto");
    assert_eq!(lines(&api_alerts).len(), 1);
    let (status, _) = get(&running.addr, "/nope");
    assert_eq!(status, 404);

    let (_, api_items) = get(&running.addr, "/api/items");
    let (_, api_alerts) = get(&running.addr, "/api/alerts");
    Command::new("kill")
        .arg("-TERM")
        .arg(running.child.id().to_string())
        .status()
        .unwrap();
    wait_for("the service to stop", Duration::from_secs(20), || {
        !setup
            .dir
            .path()
            .join("store")
            .join(feedwatch::api::ADDR_FILE)
            .exists()
    });
    std::thread::sleep(Duration::from_millis(200));
    // the same output from the store itself
    assert_eq!(
        lines(&stdout(&setup.run(&["items", "--json"]))),
        lines(&api_items)
    );
    assert_eq!(
        lines(&stdout(&setup.run(&["alerts", "--json"]))),
        lines(&api_alerts)
    );
}

/// When alerts cannot be written (here: the alert log is /dev/full, a full disk),
/// /healthz answers 503 and says why; the alerts stay pending in the store.
#[test]
fn healthz_is_503_while_alerts_cannot_be_delivered() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let config = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace("log = \"alerts.jsonl\"", "log = \"/dev/full\"");
    std::fs::write(&setup.config, config).unwrap();
    let running = start(&setup);
    let mut last = (0, String::new());
    wait_for("an unhealthy /healthz", Duration::from_secs(20), || {
        last = get(&running.addr, "/healthz");
        last.0 == 503
    });
    assert!(
        last.1.starts_with("unhealthy: writing alerts to /dev/full"),
        "{}",
        last.1
    );
    assert!(last.1.contains("No space left on device"), "{}", last.1);
    let (_, metrics) = get(&running.addr, "/metrics");
    assert!(
        metrics.contains("feedwatch_log_lines_pending 2"),
        "{metrics}"
    );
}
