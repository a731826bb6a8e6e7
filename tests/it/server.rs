//! A real HTTP/1.1 server on 127.0.0.1 for the tests: serves what a test puts at a path,
//! honours ETag/If-None-Match with 304, counts requests, and can misbehave on purpose.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the server answers at one path.
#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sent as `ETag`; a request whose `If-None-Match` equals it gets 304.
    pub etag: Option<String>,
    /// Wait this long before answering (a slow or hung server).
    pub delay: Duration,
    pub mode: Mode,
    /// Answer 500 to this many requests first.
    pub fail_first: usize,
}

/// How the body is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// All at once, with its Content-Length.
    Normal,
    /// Accept the request and never answer.
    Hang,
    /// Headers, then one byte of the body a second.
    Dribble,
    /// No Content-Length: the body repeats until the client hangs up.
    Endless,
    /// Claims this Content-Length, sends the body repeatedly until the client hangs up.
    Claims(u64),
}

impl Route {
    pub fn feed(body: impl Into<Vec<u8>>) -> Route {
        Route {
            status: 200,
            headers: vec![("Content-Type".into(), "application/rss+xml".into())],
            body: body.into(),
            etag: None,
            delay: Duration::ZERO,
            mode: Mode::Normal,
            fail_first: 0,
        }
    }

    pub fn status(status: u16, body: &str) -> Route {
        Route {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            etag: None,
            delay: Duration::ZERO,
            mode: Mode::Normal,
            fail_first: 0,
        }
    }

    pub fn with_etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Route {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }

    pub fn failing_first(mut self, n: usize) -> Route {
        self.fail_first = n;
        self
    }

    pub fn with_mode(mut self, mode: Mode) -> Route {
        self.mode = mode;
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
}

/// The server; it stops accepting when dropped (its threads end with the test process).
pub struct Server {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || {
                    let _ = handle(conn, &s);
                });
            }
        });
        Server { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.state.lock().unwrap().routes.insert(path.into(), route);
    }

    /// Requests made to `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
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
    let mut body = vec![
        0u8;
        headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0)
    ];
    reader.read_exact(&mut body)?;
    let route = state.lock().unwrap().routes.get(&path).cloned();
    let route = route.unwrap_or_else(|| Route::status(404, "not found"));
    thread::sleep(route.delay);
    let not_modified = route.etag.is_some() && headers.get("if-none-match") == route.etag.as_ref();
    let earlier = state
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.path == path)
        .count();
    let status = if earlier < route.fail_first {
        500
    } else if not_modified {
        304
    } else {
        route.status
    };
    state.lock().unwrap().seen.push(Seen {
        path,
        headers,
        status,
        body,
    });
    let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    if let Some(e) = &route.etag {
        head.push_str(&format!("ETag: {e}\r\n"));
    }
    if not_modified {
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())?;
        return Ok(());
    }
    for (k, v) in &route.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match route.mode {
        Mode::Normal => head.push_str(&format!("Content-Length: {}\r\n\r\n", route.body.len())),
        Mode::Hang => {
            thread::sleep(Duration::from_secs(600));
            return Ok(());
        }
        Mode::Dribble => head.push_str(&format!("Content-Length: {}\r\n\r\n", route.body.len())),
        Mode::Endless => head.push_str("\r\n"),
        Mode::Claims(n) => head.push_str(&format!("Content-Length: {n}\r\n\r\n")),
    }
    conn.write_all(head.as_bytes())?;
    match route.mode {
        Mode::Dribble => {
            for b in &route.body {
                conn.write_all(&[*b])?;
                thread::sleep(Duration::from_secs(1));
            }
        }
        Mode::Endless | Mode::Claims(_) => loop {
            conn.write_all(&route.body)?; // ends when the client hangs up
        },
        _ => conn.write_all(&route.body)?,
    }
    let _ = conn.flush();
    let mut rest = [0u8; 16];
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = reader.read(&mut rest);
    Ok(())
}
