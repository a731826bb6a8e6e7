//! The world the nodes watch: a loopback HTTP server with many feeds that gain items while
//! the test runs (some stories in several feeds at once), counting each fetch with its time
//! and the fetching node (its user agent); and a webhook receiver.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One fetch of a feed, as the server saw it.
#[derive(Clone, Debug)]
pub struct Fetch {
    pub feed: usize,
    pub node: String,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    /// Per feed: its items as (guid, title, link), newest last.
    feeds: Vec<Vec<(String, String, String)>>,
    fetches: Vec<Fetch>,
    /// Webhook deliveries: the alert JSON bodies.
    hooks: Vec<serde_json::Value>,
}

pub struct World {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl World {
    pub fn start(feeds: usize) -> World {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            feeds: vec![Vec::new(); feeds],
            ..State::default()
        }));
        let s = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || {
                    let _ = handle(conn, &s);
                });
            }
        });
        World { addr, state }
    }

    pub fn feed_url(&self, i: usize) -> String {
        format!("http://{}/feed/{i}", self.addr)
    }

    pub fn hook_url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Adds story `n` to each of `feeds`, with its own guid in each feed and one link.
    pub fn add_story(&self, n: usize, title: &str, feeds: &[usize]) {
        let mut s = self.state.lock().unwrap();
        for &f in feeds {
            s.feeds[f].push((
                format!("urn:feed-{f}:story-{n}"),
                title.to_string(),
                // the same story under slightly different URLs: tracking parameters differ
                format!("https://news.example/story/{n}?utm_source=feed{f}"),
            ));
        }
    }

    pub fn fetches(&self) -> Vec<Fetch> {
        self.state.lock().unwrap().fetches.clone()
    }

    pub fn hooks(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().hooks.clone()
    }
}

fn rss(items: &[(String, String, String)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>t</title><link>https://news.example/</link><description>d</description>\n",
    );
    // newest first, at most the last 50, as outlets do
    for (guid, title, link) in items.iter().rev().take(50) {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><link>{link}</link><description>{title}</description></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn handle(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let (status, ctype, answer) = if path == "/hook" {
        if let Ok(v) = serde_json::from_slice(&body) {
            state.lock().unwrap().hooks.push(v);
        }
        (200, "text/plain", "ok".to_string())
    } else if let Some(i) = path
        .strip_prefix("/feed/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut s = state.lock().unwrap();
        if i >= s.feeds.len() {
            (404, "text/plain", "no such feed".to_string())
        } else {
            let node = headers.get("user-agent").cloned().unwrap_or_default();
            s.fetches.push(Fetch {
                feed: i,
                node,
                at: Instant::now(),
            });
            (200, "application/rss+xml", rss(&s.feeds[i]))
        }
    } else {
        (404, "text/plain", "not found".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        answer.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(answer.as_bytes())?;
    conn.flush()
}
