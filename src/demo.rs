//! `feedwatch demo`: the whole path on a machine without network. A bundled copy of the
//! sample feed is served on 127.0.0.1, polled once with the built-in watches into a
//! temporary store, and the alerts it raised are printed.

use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::{self, Backlog, Env, FeedConfig};
use crate::service::Service;

/// The Moscow Times' news feed as it was on 27 December 2022 (three items; the first is
/// about the CIS summit and mentions the CSTO, the second is a trap for substring matchers).
pub const SAMPLE: &[u8] = include_bytes!("../tests/fixtures/moscow-times-2022-12-27.xml");

/// Serves `body` to every GET on a fresh 127.0.0.1 port until the task is dropped.
pub async fn serve(
    body: &'static [u8],
    content_type: &'static str,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok((addr, task))
}

/// Runs the demo and returns what to print.
pub async fn run() -> anyhow::Result<String> {
    let (addr, server) = serve(SAMPLE, "application/rss+xml; charset=utf-8").await?;
    let dir = TempDir::new()?;
    let mut config = config::builtin(&Env::default())?;
    config.storage.path = dir.0.join("store");
    config.alerts.log = dir.0.join("alerts.jsonl");
    let url = format!("http://{addr}/rss/news");
    config.feeds = vec![FeedConfig {
        name: "moscow-times".into(),
        url: url.parse()?,
        interval: config::Interval::Fixed(std::time::Duration::from_secs(600)),
        backlog: Backlog::All,
        enabled: true,
        full_text: false,
    }];
    let watches: Vec<&str> = config.watches.iter().map(|w| w.name.as_str()).collect();
    let mut out = format!(
        "Serving a bundled copy of The Moscow Times' news feed (27 December 2022) at {url}\n\
         and polling it once with the built-in watches ({}), backlog = \"all\" (its items are old).\n\n",
        watches.join(", ")
    );
    let log = config.alerts.log.clone();
    let service = Service::open(config).await?;
    let cycle = service.once().await?;
    drop(service);
    server.abort();
    // the log is in a temporary directory, removed when the demo ends: not named as if it
    // could be read afterwards
    out.push_str(&cycle.summary(std::path::Path::new(
        "a temporary alert log (removed when the demo ends; printed below)",
    )));
    let lines = std::fs::read_to_string(&log)?;
    out.push_str(&format!(
        "\nThe temporary alert log ({} lines, one JSON object each):\n",
        lines.lines().count()
    ));
    out.push_str(&lines);
    out.push_str(
        "\nItem 2 (\"decision\", \"precise\", \"San Francisco\", \"concise\") raised nothing: terms match whole words,\n\
         and an all-capitals term like CIS is an acronym that matches only in capitals.\n\
         Next: `feedwatch check` shows the built-in config; `feedwatch run` polls the real feeds.\n",
    );
    Ok(out)
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("feedwatch-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
