//! Sinks people read (issue 14): ntfy, Telegram, Matrix, Slack, Discord, each against a
//! loopback server that records the exact request; digests; retries; `sinks test`.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// One request as the recording server saw it.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
    /// The status it was answered with.
    status: u16,
}

impl Request {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Recorded {
    requests: Vec<Request>,
    /// Answers to give first, in order (status, body); then 200 `{"ok":true}`.
    script: VecDeque<(u16, String)>,
    /// While set, every request is answered 503.
    closed: bool,
}

/// An HTTP/1.1 server on 127.0.0.1 that records every request and answers from a script.
struct Recorder {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<Recorded>>,
}

impl Recorder {
    fn start(script: &[(u16, &str)]) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(Recorded {
            requests: Vec::new(),
            script: script.iter().map(|(s, b)| (*s, b.to_string())).collect(),
            closed: false,
        }));
        let s = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Recorder { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers 503 to everything while `closed`.
    fn close(&self, closed: bool) {
        self.state.lock().unwrap().closed = closed;
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests answered 2xx.
    fn accepted(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

fn serve(conn: std::net::TcpStream, state: &Mutex<Recorded>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        let (status, answer) = if s.closed {
            (503, "{}".to_string())
        } else {
            s.script
                .pop_front()
                .unwrap_or((200, r#"{"ok":true}"#.to_string()))
        };
        s.requests.push(Request {
            method,
            path,
            headers,
            body: String::from_utf8(body).unwrap(),
            at,
            status,
        });
        (status, answer)
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    conn.flush()
}

/// The watch of these tests: "CSTO" anywhere.
const WATCH: &str = "[[watch]]\nname = \"csto\"\nterms = [\"CSTO\"]\n";

/// The title of story `i`: `<`, `&` and Cyrillic, which every markup must escape or keep.
fn title(i: usize) -> String {
    format!("CSTO story {i}: Минск & Москва, 1 < 2 > 0")
}

/// An RSS feed of `n` stories, each mentioning the CSTO.
fn feed(n: usize) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link><description>d</description>",
    );
    for i in 0..n {
        xml.push_str(&format!(
            "<item><title>{}</title><link>https://example.org/story/{i}?a=1&amp;b=2</link><guid>story-{i}</guid><description>The CSTO met.</description></item>",
            title(i).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// A config polling a feed of `n` stories, with `sinks` appended; the feed server too.
fn setup(n: usize, sinks: &str) -> (Setup, Server) {
    let feeds = Server::start();
    feeds.set("/feed", Route::feed(feed(n)));
    let setup = Setup::with_watches(&[("news", &feeds.url("/feed"), "all")], "", WATCH);
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push('\n');
    config.push_str(sinks);
    std::fs::write(&setup.config, config).unwrap();
    (setup, feeds)
}

/// Starts `run`; the returned daemon is killed when dropped.
fn start(setup: &Setup) -> Daemon {
    command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap()
}

/// Stops the daemon with SIGTERM and returns its log.
fn stop(mut d: Daemon) -> String {
    Command::new("kill")
        .arg("-TERM")
        .arg(d.id().to_string())
        .status()
        .unwrap();
    assert!(d.wait().unwrap().success());
    let mut log = String::new();
    std::io::Read::read_to_string(d.stderr.as_mut().unwrap(), &mut log).unwrap();
    log
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// ntfy: a JSON publish to the server's root with the topic, the link as click action,
/// priority as its number, tags, and the token as a bearer token that `check` and the log
/// never show.
#[test]
fn ntfy_gets_a_json_publish_with_click_priority_tags_and_token() {
    let ntfy = Recorder::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("ntfy-token");
    std::fs::write(&token, "tk_secret_ntfy\n").unwrap();
    let (setup, _feeds) = setup(
        1,
        &format!(
            "[[sinks]]\nname = \"phone\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"alerts-1\"\ntoken_file = \"{}\"\npriority = \"high\"\ntags = [\"newspaper\"]\n",
            ntfy.url("/"),
            token.display()
        ),
    );
    let check = stdout(&setup.run(&["check"]));
    assert!(check.contains("phone: ntfy"), "{check}");
    assert!(!check.contains("tk_secret_ntfy"), "{check}");
    let d = start(&setup);
    wait_for("the ntfy publish", Duration::from_secs(30), || {
        !ntfy.accepted().is_empty()
    });
    let log = stop(d);
    assert!(!log.contains("tk_secret_ntfy"), "{log}");
    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/"));
    assert_eq!(r.headers["authorization"], "Bearer tk_secret_ntfy");
    assert_eq!(r.headers["content-type"], "application/json");
    let alert = &setup.alerts()[0];
    assert_eq!(
        r.json(),
        serde_json::json!({
            "topic": "alerts-1",
            "title": "feedwatch: csto",
            "message": format!(
                "[csto] {}\nCSTO: {}\nhttps://example.org/story/0?a=1&b=2\nfeed: news",
                title(0),
                alert["matches"][0]["snippet"].as_str().unwrap()
            ),
            "priority": 4,
            "tags": ["newspaper"],
            "click": "https://example.org/story/0?a=1&b=2",
        })
    );
}

/// Telegram: sendMessage in HTML parse mode with `<`, `&` escaped and Cyrillic kept; a
/// `429` with `retry_after: 2` delays the next attempt by those 2 s (the ordinary backoff
/// would wait 1 s), and the token never shows in the log.
#[test]
fn telegram_escapes_html_and_honours_429_retry_after() {
    let tg = Recorder::start(&[(
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}}"#,
    )]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("tg");
    std::fs::write(&token, "123456:ABC-secret").unwrap();
    let (setup, _feeds) = setup(
        1,
        &format!(
            "[[sinks]]\nname = \"tg\"\nkind = \"telegram\"\napi_url = \"{}\"\ntoken_file = \"{}\"\nchat_id = -100777\n",
            tg.url(""),
            token.display()
        ),
    );
    let d = start(&setup);
    wait_for("the telegram message", Duration::from_secs(30), || {
        !tg.accepted().is_empty()
    });
    let log = stop(d);
    assert!(!log.contains("ABC-secret"), "{log}");
    let reqs = tg.requests();
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    let alert = &setup.alerts()[0];
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/bot123456:ABC-secret/sendMessage");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "chat_id": -100777,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
                "text": format!(
                    "<b>[csto] {}</b>\nCSTO: {}\n<a href=\"{link}\">{link}</a>\nfeed: news",
                    html(&title(0)),
                    html(alert["matches"][0]["snippet"].as_str().unwrap()),
                    link = "https://example.org/story/0?a=1&amp;b=2"
                ),
            })
        );
    }
    assert!(reqs[0].body.contains("Минск &amp; Москва, 1 &lt; 2 &gt; 0"));
}

/// Twenty alerts to one chat with `rate = "10/s"` go out one by one, spaced by the
/// limiter: 100 ms apart (as the server sees them, give or take a connection's latency),
/// 1.9 s from first to last.
#[test]
fn telegram_burst_is_spaced_by_the_rate_limiter() {
    let tg = Recorder::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("tg");
    std::fs::write(&token, "1:x").unwrap();
    let (setup, _feeds) = setup(
        20,
        &format!(
            "[[sinks]]\nname = \"tg\"\nkind = \"telegram\"\napi_url = \"{}\"\ntoken_file = \"{}\"\nchat_id = 42\nrate = \"10/s\"\n",
            tg.url(""),
            token.display()
        ),
    );
    let d = start(&setup);
    wait_for("20 telegram messages", Duration::from_secs(60), || {
        tg.accepted().len() >= 20
    });
    stop(d);
    let reqs = tg.requests();
    assert_eq!(reqs.len(), 20, "each alert once");
    let mut titles: Vec<String> = reqs
        .iter()
        .map(|r| {
            r.json()["text"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 20, "twenty different alerts");
    // arrival times carry each connection's latency: most gaps, not every one, show the
    // 100 ms; without the limiter all twenty arrive within a few tens of milliseconds
    let gaps: Vec<Duration> = reqs.windows(2).map(|w| w[1].at - w[0].at).collect();
    let spaced = gaps
        .iter()
        .filter(|g| **g >= Duration::from_millis(90))
        .count();
    assert!(spaced >= 15, "gaps: {gaps:?}");
    let span = reqs[19].at - reqs[0].at;
    assert!(
        span >= Duration::from_millis(1700),
        "20 messages in {span:?}"
    );
}

/// Matrix: a PUT of m.room.message with a plain and an HTML body and the alert id as
/// transaction id. The homeserver fails twice, then accepts: the alert is retried with the
/// same transaction id and accepted exactly once.
#[test]
fn matrix_retries_with_the_same_transaction_id_and_delivers_once() {
    let mx = Recorder::start(&[(500, "{}"), (502, "{}")]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("mx");
    std::fs::write(&token, "syt_secret").unwrap();
    let (setup, _feeds) = setup(
        1,
        &format!(
            "[[sinks]]\nname = \"room\"\nkind = \"matrix\"\nhomeserver = \"{}\"\ntoken_file = \"{}\"\nroom = \"!room1:example.org\"\n",
            mx.url(""),
            token.display()
        ),
    );
    let d = start(&setup);
    wait_for("the matrix message", Duration::from_secs(30), || {
        !mx.accepted().is_empty()
    });
    // a second delivery would come right after the first
    std::thread::sleep(Duration::from_millis(500));
    stop(d);
    let reqs = mx.requests();
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 502, 200]
    );
    let alert = &setup.alerts()[0];
    let id = alert["id"].as_str().unwrap();
    let snippet = alert["matches"][0]["snippet"].as_str().unwrap();
    for r in &reqs {
        assert_eq!(r.method, "PUT");
        assert_eq!(
            r.path,
            format!("/_matrix/client/v3/rooms/!room1:example.org/send/m.room.message/{id}")
        );
        assert_eq!(r.headers["authorization"], "Bearer syt_secret");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "msgtype": "m.text",
                "format": "org.matrix.custom.html",
                "body": format!("[csto] {}\nCSTO: {snippet}\nhttps://example.org/story/0?a=1&b=2\nfeed: news", title(0)),
                "formatted_body": format!(
                    "<b>[csto] {}</b><br>\nCSTO: {}<br>\n<a href=\"{link}\">{link}</a><br>\nfeed: news",
                    html(&title(0)),
                    html(snippet),
                    link = "https://example.org/story/0?a=1&amp;b=2"
                ),
            })
        );
    }
}

/// Slack (its URL from `url_file`) and Discord (its URL inline) get their webhook formats;
/// `check` shows neither URL's secret path.
#[test]
fn slack_and_discord_get_their_webhook_formats_and_their_urls_stay_secret() {
    let slack = Recorder::start(&[]);
    let discord = Recorder::start(&[(204, "")]);
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("slack-url");
    std::fs::write(
        &url_file,
        slack.url("/services/T000/B000/slacksecret") + "\n",
    )
    .unwrap();
    let (setup, _feeds) = setup(
        1,
        &format!(
            "[[sinks]]\nname = \"team\"\nkind = \"slack\"\nurl_file = \"{}\"\n\n[[sinks]]\nname = \"guild\"\nkind = \"discord\"\nurl = \"{}\"\n",
            url_file.display(),
            discord.url("/api/webhooks/1/discordsecret")
        ),
    );
    let check = stdout(&setup.run(&["check"]));
    assert!(
        check.contains("team: slack") && check.contains("guild: discord"),
        "{check}"
    );
    assert!(
        !check.contains("slacksecret") && !check.contains("discordsecret"),
        "{check}"
    );
    let d = start(&setup);
    wait_for("both chats", Duration::from_secs(30), || {
        !slack.accepted().is_empty() && !discord.accepted().is_empty()
    });
    stop(d);
    let alert = &setup.alerts()[0];
    let snippet = alert["matches"][0]["snippet"].as_str().unwrap();
    let s = &slack.requests()[0];
    assert_eq!(
        (s.method.as_str(), s.path.as_str()),
        ("POST", "/services/T000/B000/slacksecret")
    );
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    assert_eq!(
        s.json(),
        serde_json::json!({
            "text": format!(
                "*[csto] {}*\nCSTO: {}\n<https://example.org/story/0?a=1&amp;b=2|https://example.org/story/0?a=1&amp;b=2>\nfeed: news",
                esc(&title(0)),
                esc(snippet)
            ),
            "unfurl_links": false,
            "unfurl_media": false,
        })
    );
    let dc = &discord.requests()[0];
    assert_eq!(
        (dc.method.as_str(), dc.path.as_str()),
        ("POST", "/api/webhooks/1/discordsecret")
    );
    let body = dc.json();
    assert_eq!(body["allowed_mentions"], serde_json::json!({"parse": []}));
    assert_eq!(
        body["content"].as_str().unwrap().lines().next().unwrap(),
        format!("**\\[csto\\] {}**", title(0).replace('>', "\\>"))
    );
}

/// A digest sink with `every = "2s"` sends one message holding the alerts of its window,
/// and nothing when a window has none.
#[test]
fn a_digest_sends_one_message_with_the_alerts_of_its_window() {
    let ntfy = Recorder::start(&[]);
    let (setup, _feeds) = setup(
        3,
        &format!(
            "[[sinks]]\nname = \"daily\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"digest\"\nevery = \"2s\"\n",
            ntfy.url("/")
        ),
    );
    let d = start(&setup);
    wait_for("the digest", Duration::from_secs(30), || {
        !ntfy.accepted().is_empty()
    });
    // the next two windows are empty: no message for them
    std::thread::sleep(Duration::from_millis(4500));
    stop(d);
    let reqs = ntfy.requests();
    assert_eq!(reqs.len(), 1, "one digest: {reqs:?}");
    let body = reqs[0].json();
    assert_eq!(body["title"], "feedwatch: 3 alerts");
    assert!(body.get("click").is_none());
    let message = body["message"].as_str().unwrap();
    let mut lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.remove(0), "3 alerts");
    lines.sort();
    let expected: Vec<String> = (0..3)
        .map(|i| format!("[csto] {} https://example.org/story/{i}?a=1&b=2", title(i)))
        .collect();
    assert_eq!(lines, expected);
}

/// `sinks test NAME` sends a sample alert and shows the server's answer; a refusal exits
/// 1 with the answer; an unknown name exits 2.
#[test]
fn sinks_test_sends_a_sample_and_shows_the_answer() {
    let ntfy = Recorder::start(&[
        (200, r#"{"id":"msg-1"}"#),
        (403, r#"{"error":"forbidden"}"#),
    ]);
    let (setup, _feeds) = setup(
        1,
        &format!(
            "[[sinks]]\nname = \"phone\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"t\"\n",
            ntfy.url("/")
        ),
    );
    let out = setup.run(&["sinks", "test", "phone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#"HTTP 200 OK: {"id":"msg-1"}"#),
        "{}",
        stdout(&out)
    );
    let sample = ntfy.requests()[0].json();
    assert!(
        sample["message"]
            .as_str()
            .unwrap()
            .contains("<sample> & проверка")
    );
    let out = setup.run(&["sinks", "test", "phone"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    let out = setup.run(&["sinks", "test", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no sink called \"nosuch\""));
    assert_eq!(ntfy.requests().len(), 2);
}

/// `check` names the file, line and key of each mistake in the new kinds' tables.
#[test]
fn check_reports_each_kinds_mistakes_with_their_line() {
    let (setup, _feeds) = setup(
        0,
        "[[sinks]]\nname = \"a\"\nkind = \"ntfy\"\npriority = \"loud\"\n\n\
         [[sinks]]\nname = \"b\"\nkind = \"telegram\"\ntoken_file = \"/nonexistent/tg\"\nchat_id = \"somebody\"\nrate = \"fast\"\ntopic = \"x\"\n\n\
         [[sinks]]\nname = \"c\"\nkind = \"matrix\"\nhomeserver = \"https://m.example.org\"\ntoken_file = \"/nonexistent/mx\"\nroom = \"#alias:example.org\"\n\n\
         [[sinks]]\nname = \"d\"\nkind = \"slack\"\ntemplate = \"{{ alert.title \"\n",
    );
    let out = setup.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    for (key, needle, message) in [
        // a missing key: the line of its table
        ("sinks[0].topic", "[[sinks]]\nname = \"a\"", "missing"),
        (
            "sinks[0].priority",
            "priority = \"loud\"",
            "not an ntfy priority",
        ),
        (
            "sinks[1].token_file",
            "token_file = \"/nonexistent/tg\"",
            "cannot read",
        ),
        (
            "sinks[1].chat_id",
            "chat_id = \"somebody\"",
            "expected a chat id",
        ),
        ("sinks[1].rate", "rate = \"fast\"", "not a rate"),
        (
            "sinks[1].topic",
            "topic = \"x\"",
            "not a key of a telegram sink",
        ),
        ("sinks[2].room", "room = \"#alias", "not a room id"),
        ("sinks[3].url", "[[sinks]]\nname = \"d\"", "missing"),
        ("sinks[3].template", "template =", "not a valid template"),
    ] {
        let expected = format!(":{}: {key}: ", line_of(needle));
        assert!(
            err.lines()
                .any(|l| l.contains(&expected) && l.contains(message)),
            "missing {expected:?} ({message}) in {err}"
        );
    }
}

/// The message lists every feed that carried the story, not only the first: the sink's
/// server refuses (503) until the store has seen the story in both feeds, and the retried
/// message names both.
#[test]
fn the_message_names_every_feed_that_carried_the_story() {
    let ntfy = Recorder::start(&[]);
    ntfy.close(true);
    let feeds = Server::start();
    feeds.set("/feed", Route::feed(feed(1)));
    feeds.set("/other", Route::feed(feed(1)));
    // a short interval: the second feed's first poll comes half of it after start-up
    let setup = Setup::with_watches(
        &[
            ("news", &feeds.url("/feed"), "all"),
            ("wire", &feeds.url("/other"), "all"),
        ],
        "[schedule]\nmin_interval = \"1s\"\n[defaults]\ninterval = \"2s\"\n",
        WATCH,
    );
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "\n[[sinks]]\nname = \"phone\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"t\"\n",
        ntfy.url("/")
    ));
    std::fs::write(&setup.config, config).unwrap();
    let d = start(&setup);
    wait_for("the story in both feeds", Duration::from_secs(30), || {
        let out = setup.run(&["items", "--json"]);
        stdout(&out).lines().any(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["feeds"].as_array().is_some_and(|f| f.len() == 2))
        })
    });
    ntfy.close(false);
    wait_for("the message", Duration::from_secs(30), || {
        !ntfy.accepted().is_empty()
    });
    stop(d);
    let accepted = ntfy.accepted();
    assert_eq!(accepted.len(), 1);
    let message = accepted[0].json()["message"].as_str().unwrap().to_string();
    let last = message.lines().last().unwrap();
    assert!(
        last == "feeds: wire, news" || last == "feeds: news, wire",
        "{message}"
    );
}
