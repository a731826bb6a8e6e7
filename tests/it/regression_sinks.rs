//! Regressions of the issue "Faults that lose, corrupt or stall", the sink and display
//! faults (2, 3, 9, 10, 16): each test is named after its fault and runs the real binary
//! against loopback servers, with a real store in a temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// Generous limits for a shared, busy machine; every wait ends as soon as its condition holds.
const LIMIT: Duration = Duration::from_secs(40);

/// `feedwatch run` with its stderr (the log) collected while it runs.
struct Running {
    daemon: Daemon,
    log: Arc<Mutex<String>>,
    store: PathBuf,
}

impl Running {
    fn start(setup: &Setup) -> Running {
        let mut daemon = command(Some(&setup.config))
            .arg("run")
            .stderr(Stdio::piped())
            .spawn()
            .map(Daemon)
            .unwrap();
        let mut stderr = BufReader::new(daemon.0.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let collected = log.clone();
        // bytes, not lines of UTF-8: the log must be drained whatever it holds
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while stderr.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        });
        Running {
            daemon,
            log,
            store: setup.dir.path().join("store"),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log satisfies `f`; fails showing the log.
    fn wait_log(&self, what: &str, f: impl Fn(&str) -> bool) {
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, LIMIT, || f(&self.log()))
        }));
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; the log:\n{}",
            self.log()
        );
    }

    /// The API's address, once the service has written it beside the store.
    fn api(&self) -> String {
        let file = self.store.join(feedwatch::api::ADDR_FILE);
        wait_for("the api to start", LIMIT, || file.exists());
        std::fs::read_to_string(file).unwrap().trim().to_string()
    }

    /// SIGTERM, and the log once the service has said it stopped.
    fn stop(mut self) -> String {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.daemon.id().to_string())
            .status()
            .unwrap();
        let status = self.daemon.0.wait().unwrap();
        assert!(status.success(), "feedwatch run ended with {status}");
        // the reader may still hold the last lines (a sink's grandchild can keep the pipe open)
        wait_for("the last log lines", LIMIT, || {
            self.log().contains("stopping")
        });
        self.log()
    }
}

/// A plain HTTP/1.1 GET: the body.
fn get(addr: &str, path: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Appends TOML (sinks, watches) to the setup's config.
fn append_config(setup: &Setup, toml: &str) {
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push('\n');
    config.push_str(toml);
    std::fs::write(&setup.config, config).unwrap();
}

/// An RSS document with one item per title, each with its own guid.
fn rss(titles: &[String]) -> Vec<u8> {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>t</title><link>http://example.com/</link><description>d</description>\n",
    );
    for (i, t) in titles.iter().enumerate() {
        doc.push_str(&format!(
            "<item><title>{t}</title><link>http://example.com/{i}</link><guid>g-{i}</guid><description>about {t}</description></item>\n"
        ));
    }
    doc.push_str("</channel></rss>\n");
    doc.into_bytes()
}

/// Control characters a terminal acts on; `\n` ends lines and stays.
fn controls(s: &str) -> Vec<char> {
    s.chars().filter(|&c| c.is_control() && c != '\n').collect()
}

/// Fault 2: a receiver's redirect is a failed delivery, retried with backoff, never
/// followed: 303 did turn the POST into a bodiless GET that a 200 made look delivered, 307
/// re-POSTed the signed body to another host, and a 308 loop sent 11 POSTs per attempt.
#[test]
fn fault_02_webhook_redirects_are_failed_deliveries_not_followed() {
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let receiver = Server::start();
    let elsewhere = Server::start();
    receiver.set(
        "/see-other",
        Route::status(303, "").with_header("Location", "/landing"),
    );
    receiver.set("/landing", Route::status(200, "ok"));
    receiver.set(
        "/temporary",
        Route::status(307, "").with_header("Location", &elsewhere.url("/stolen")),
    );
    elsewhere.set("/stolen", Route::status(200, "ok"));
    receiver.set(
        "/loop",
        Route::status(308, "").with_header("Location", "/loop"),
    );
    let setup = Setup::new(&[("moscow-times", &feeds.url("/rss/news"), "all")]);
    let mut sinks = String::new();
    for name in ["see-other", "temporary", "loop"] {
        sinks.push_str(&format!(
            "[[sinks]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"k\"\nwatches = [\"cis\"]\ntimeout = \"5s\"\n\n",
            receiver.url(&format!("/{name}"))
        ));
    }
    append_config(&setup, &sinks);

    let running = Running::start(&setup);
    // a third POST means the second attempt's failure was logged: the sink logs a failure
    // before it waits to retry (after only two POSTs, a service stopped at once under load
    // had not yet logged the second failure, and the test below failed)
    for path in ["/see-other", "/temporary", "/loop"] {
        wait_for(
            &format!("{path} to be retried twice after its redirect"),
            LIMIT,
            || receiver.seen(path).len() >= 3,
        );
    }
    let log = running.stop();

    assert!(
        receiver.seen("/landing").is_empty(),
        "a 303 was followed with a GET"
    );
    assert!(
        elsewhere.seen("/stolen").is_empty(),
        "a 307 re-POSTed the signed body to another host"
    );
    let failed = |sink: &str| {
        log.lines()
            .filter(|l| l.contains("sink delivery failed") && l.contains(&format!("sink={sink}")))
            .count()
    };
    let loops = receiver.seen("/loop").len();
    assert!(
        loops <= failed("loop") + 1,
        "{loops} POSTs to a redirect loop in {} attempts:\n{log}",
        failed("loop")
    );
    for (sink, location) in [
        ("see-other", "\"/landing\""),
        ("temporary", &format!("{:?}", elsewhere.url("/stolen"))),
        ("loop", "\"/loop\""),
    ] {
        assert!(failed(sink) >= 2, "{sink} was not retried:\n{log}");
        assert!(
            log.lines().any(|l| l.contains(&format!("sink={sink}"))
                && l.contains(&format!("a redirect to {location}"))),
            "no failure naming the Location {location} of {sink}:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("sink delivered") && l.contains(&format!("sink={sink}"))),
            "{sink} counted a redirect as delivered:\n{log}"
        );
    }
    // every attempt was the signed POST itself
    for seen in receiver.seen("/see-other") {
        assert!(!seen.body.is_empty() && seen.headers.contains_key("x-feedwatch-signature"));
    }
    assert_eq!(setup.alerts().len(), 2, "the alert log is not affected");
}

/// Kills the processes whose ids are listed in a file when dropped: a failing test leaves
/// no `sleep` behind.
struct KillListed(PathBuf);

impl Drop for KillListed {
    fn drop(&mut self) {
        for pid in std::fs::read_to_string(&self.0).unwrap_or_default().lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) on a pid this test's sink wrote; no memory is involved
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Whether a process is gone (or a zombie waiting for a reaper that is not ours).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Fault 3: an exec sink's exit status decides. A command that exits 0 without reading its
/// stdin (here a digest larger than a pipe's buffer) made us see EPIPE: the delivery was
/// counted failed and re-run for ever, and later alerts never passed. And a command that
/// timed out was killed without its children: `sleep` orphans, one per attempt.
#[test]
fn fault_03_exec_sink_stuck_forever_exit_status_decides_and_timeouts_kill_the_group() {
    // 80 alerts of about 2 kB: a digest of 200 kB, far more than a 64 kB pipe holds
    let titles: Vec<String> = (0..80)
        .map(|i| format!("CIS item {i} {}", "lorem ipsum dolor ".repeat(50)))
        .collect();
    let feeds = Server::start();
    feeds.set("/feed", Route::feed(rss(&titles)));
    let setup = Setup::new(&[("big", &feeds.url("/feed"), "all")]);
    let runs = setup.dir.path().join("runs.txt");
    let pids = setup.dir.path().join("pids.txt");
    let _cleanup = KillListed(pids.clone());
    append_config(
        &setup,
        &format!(
            "[[sinks]]\nname = \"quiet\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo ran >> '{}'\"]\nevery = \"1s\"\n\n\
             [[sinks]]\nname = \"true\"\nkind = \"exec\"\ncommand = [\"true\"]\n\n\
             [[sinks]]\nname = \"slow\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"sleep 300 & echo $! >> '{}'; wait\"]\ntimeout = \"1s\"\n",
            runs.display(),
            pids.display()
        ),
    );
    let running = Running::start(&setup);
    let delivered = |log: &str, sink: &str| {
        log.lines()
            .any(|l| l.contains("sink delivered") && l.contains(&format!("sink={sink} ")))
    };
    running.wait_log(
        "the digest to a command that does not read stdin to count as delivered",
        |log| delivered(log, "quiet"),
    );
    wait_for("every alert to pass `true`, one at a time", LIMIT, || {
        running
            .log()
            .lines()
            .filter(|l| l.contains("sink delivered") && l.contains("sink=true "))
            .map(|l| {
                l.split("lines=")
                    .nth(1)
                    .and_then(|n| n.split_whitespace().next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum::<usize>()
            >= 80
    });
    wait_for("the slow command to start its child", LIMIT, || {
        std::fs::read_to_string(&pids).is_ok_and(|s| !s.trim().is_empty())
    });
    let first: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    running.wait_log("the timed-out command's child to be killed with it", |_| {
        gone(first)
    });
    let log = running.stop();
    assert!(
        log.contains("\"sh\" did not finish within 1s"),
        "the slow sink did not time out:\n{log}"
    );
    let runs = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(runs.lines().count(), 1, "the digest was run again:\n{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("sink delivery failed") && l.contains("sink=quiet ")),
        "{log}"
    );
}

/// A feed whose parser error quotes the document: a colour and an OSC window-title escape
/// inside a closing tag.
const ESCAPING: &[u8] = b"<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>t</title>\n<item><title>x</title><guid>1</guid></ite\x1b[31mm\x1b]0;pwn\x07>\n</channel></rss>\n";

/// Fault 9: text from outside (a parser's error quoting the document) went raw into
/// `feeds`, the `once` summary, `/api/feeds` and the log, where an OSC sequence set the
/// operator's window title. Everything shown, stored or logged is cleaned.
#[test]
fn fault_09_escape_sequences_in_error_text_are_cleaned_everywhere_shown() {
    let hostile = Server::start();
    hostile.set("/feed", Route::feed(ESCAPING));
    let good = Server::start();
    good.set("/feed", Route::feed(SAMPLE));
    let setup = Setup::new(&[
        ("hostile", &hostile.url("/feed"), "all"),
        ("good", &good.url("/feed"), "all"),
    ]);

    let once = setup.run(&["once"]);
    let feeds = setup.run(&["feeds"]);
    let json = setup.run(&["feeds", "--json"]);
    for (what, out) in [("once", &once), ("feeds", &feeds), ("feeds --json", &json)] {
        assert!(out.status.success(), "{what}: {}", stderr(out));
        for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
            assert!(
                controls(&text).is_empty()
                    && !text.contains("\\u001b")
                    && !text.contains("\\u0007"),
                "{what} {stream} holds escape sequences: {text:?}"
            );
        }
    }
    // the failure is still reported, in words
    assert!(
        stdout(&once).contains("failed: hostile: parsing"),
        "{}",
        stdout(&once)
    );
    let row: serde_json::Value = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["feed"] == "hostile")
        .unwrap();
    let stored = row["last_error"].as_str().unwrap();
    assert!(
        stored.contains("parsing") && controls(stored).is_empty() && !stored.contains("pwn"),
        "{stored:?}"
    );

    // the running service: its log and /api/feeds
    std::fs::remove_file(setup.log()).unwrap();
    std::fs::remove_dir_all(setup.dir.path().join("store")).unwrap();
    let running = Running::start(&setup);
    let addr = running.api();
    running.wait_log("the hostile feed to fail in run", |log| {
        log.contains("poll failed")
    });
    let api = get(&addr, "/api/feeds");
    let log = running.stop();
    assert!(api.contains("\"feed\":\"hostile\""), "{api}");
    for (what, text) in [("/api/feeds", &api), ("the log", &log)] {
        assert!(
            controls(text).is_empty() && !text.contains("\\u001b") && !text.contains("pwn"),
            "{what} holds escape sequences: {text:?}"
        );
    }
}

/// Fault 10: `https://user:pass@host/...` and `?token=...` (for chat webhooks the URL is
/// the secret) appeared in `check`, the delivery-failure log lines, `/api/feeds`, `feeds`,
/// the `once` summary and the stored `last_error`. They are redacted wherever shown; the
/// requests themselves still carry them.
#[test]
fn fault_10_secrets_in_urls_are_redacted_everywhere_shown() {
    let bad = Server::start();
    bad.set("/feed?token=tok-feed-SECRET", Route::status(500, "down"));
    let good = Server::start();
    good.set("/feed", Route::feed(SAMPLE));
    let receiver = Server::start();
    receiver.set("/hook?token=tok-hook-SECRET", Route::status(500, "down"));
    let bad_url = format!(
        "http://feeduser:feedpass-SECRET@{}/feed?token=tok-feed-SECRET",
        bad.addr
    );
    // a short interval: run spreads its first polls over it
    let setup = Setup::with_extra(
        &[
            ("bad", &bad_url, "all"),
            (
                "unreachable",
                "http://u:connpass-SECRET@127.0.0.1:9/x?token=tok-conn-SECRET",
                "all",
            ),
            ("good", &good.url("/feed"), "all"),
        ],
        "[defaults]\ninterval = \"1s\"\n",
    );
    append_config(
        &setup,
        &format!(
            "[[sinks]]\nname = \"chat\"\nkind = \"webhook\"\nurl = \"http://hookuser:hookpass-SECRET@{}/hook?token=tok-hook-SECRET\"\ntimeout = \"5s\"\n",
            receiver.addr
        ),
    );
    let leaks = |what: &str, text: &str| {
        assert!(!text.contains("SECRET"), "{what} shows a secret: {text}");
    };

    let check = setup.run(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    leaks("check", &stdout(&check));
    assert!(
        stdout(&check).contains(&format!("http://***@{}/feed?token=***", bad.addr)),
        "the redacted URL still says which feed: {}",
        stdout(&check)
    );

    let running = Running::start(&setup);
    let addr = running.api();
    running.wait_log("a webhook delivery to fail", |log| {
        log.contains("sink delivery failed")
    });
    running.wait_log("both failing feeds to fail", |log| {
        log.matches("poll failed").count() >= 2
    });
    let api = get(&addr, "/api/feeds");
    let log = running.stop();
    leaks("/api/feeds", &api);
    leaks("the log", &log);
    assert!(
        api.contains("\"feed\":\"bad\"") && api.contains("HTTP 500"),
        "{api}"
    );

    // the credentials were used, only not shown
    let hook = receiver.seen("/hook?token=tok-hook-SECRET");
    assert!(!hook.is_empty());
    assert!(hook[0].headers["authorization"].starts_with("Basic "));
    assert!(!bad.seen("/feed?token=tok-feed-SECRET").is_empty());

    let once = setup.run(&["once"]);
    assert!(stdout(&once).contains("failed: bad"), "{}", stdout(&once));
    leaks("once", &format!("{}{}", stdout(&once), stderr(&once)));
    let feeds = setup.run(&["feeds"]);
    leaks("feeds", &stdout(&feeds));
    let json = setup.run(&["feeds", "--json"]);
    leaks("feeds --json (the stored last_error)", &stdout(&json));
    assert!(stdout(&json).contains("http://***@"), "{}", stdout(&json));
}

/// Fault 16: a 1 MB title went whole into the alert line, the webhook body and exec
/// stdin. Titles are capped at 1,000 and snippets (and matched text) at 300 characters
/// where the alert is built, so every delivery gets the capped text; the stored item keeps
/// its full title.
#[test]
fn fault_16_unbounded_text_in_deliveries_is_capped() {
    let title = format!("CIS {}", "word ".repeat(200_000));
    let feeds = Server::start();
    feeds.set("/feed", Route::feed(rss(std::slice::from_ref(&title))));
    let receiver = Server::start();
    receiver.set("/hook", Route::status(200, "ok"));
    let watches = format!(
        "{}\n[[watch]]\nname = \"long\"\nterms = [{{ regex = 'CIS( word)+' }}]\n",
        example_watches()
    );
    let setup = Setup::with_watches(&[("huge", &feeds.url("/feed"), "all")], "", &watches);
    let exec_out = setup.dir.path().join("exec.jsonl");
    append_config(
        &setup,
        &format!(
            "[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"10s\"\n\n\
             [[sinks]]\nname = \"script\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\ntimeout = \"10s\"\n",
            receiver.url("/hook"),
            exec_out.display()
        ),
    );
    let running = Running::start(&setup);
    wait_for("the webhook to get both alerts", LIMIT, || {
        receiver.seen("/hook").len() >= 2
    });
    wait_for("the exec sink to get both alerts", LIMIT, || {
        std::fs::read_to_string(&exec_out).is_ok_and(|s| s.lines().count() >= 2)
    });
    let log = running.stop();

    let capped = |what: &str, alert: &serde_json::Value| {
        let t = alert["title"].as_str().unwrap();
        assert!(
            t.chars().count() <= 1000 && t.ends_with("word…") && t.starts_with("CIS word"),
            "{what}: a title of {} characters",
            t.chars().count()
        );
        for m in alert["matches"].as_array().unwrap() {
            for field in ["snippet", "text"] {
                let s = m[field].as_str().unwrap();
                assert!(
                    s.chars().count() <= 300,
                    "{what}: a {field} of {} characters",
                    s.chars().count()
                );
            }
        }
    };
    let logged = setup.alerts();
    assert_eq!(logged.len(), 2, "cis and long");
    for a in &logged {
        capped("alert log", a);
    }
    for seen in receiver.seen("/hook") {
        capped("webhook body", &serde_json::from_slice(&seen.body).unwrap());
    }
    for line in std::fs::read_to_string(&exec_out).unwrap().lines() {
        capped("exec stdin", &serde_json::from_str(line).unwrap());
    }
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4000, "a log line of {longest} bytes");
    assert!(log.contains(" alert"), "{log}");

    // the store keeps the whole title
    let items = setup.run(&["items", "--json"]);
    let item: serde_json::Value =
        serde_json::from_str(stdout(&items).lines().next().unwrap()).unwrap();
    assert_eq!(item["title"].as_str().unwrap(), title.trim_end());
}
