//! The local HTTP endpoint of a running service (`[api] listen`, 127.0.0.1:9185 by
//! default): `GET /healthz`, `GET /metrics` (Prometheus), and read-only JSON lines at
//! `/api/feeds`, `/api/items` and `/api/alerts` (`feed`, `watch`, `since`, `until`, `limit`:
//! checked by [`crate::filter`], 400 when wrong), the same objects
//! as `feedwatch feeds|items|alerts --json`. sled lets one process open the store, so this
//! is how the CLI queries a store that the service holds: the service writes the address
//! it bound beside the store, in `feedwatch.api`.
//!
//! It has no authentication, so: a non-loopback `listen` needs `[api] allow_remote = true`
//! (the config refuses it otherwise, and the start warns), and a request is answered only
//! when its `Host` is a loopback name or one of `[api] hosts` (a DNS-rebinding web page is
//! refused). It survives clients that hold connections: connections are capped (a new one
//! past the cap closes the longest idle), heads must arrive within a timeout, idle
//! connections close, and a failing accept backs off. Queries are read through the store's
//! indexes, a few at a time, and large answers come in pages ([`PAGE`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use crate::config::Config;
use crate::metrics::{Gauges, Metrics};
use crate::schedule::{self, Health};
use crate::store::slot::{StoreSlot, Unavailable};
use crate::views;

/// The file beside the store that names the API address of the process holding it.
pub use crate::store::slot::ADDR_FILE;

/// How long the scheduler may stay silent before `/healthz` says it is stuck.
pub const HEARTBEAT_LIMIT_SECS: i64 = 60;

/// Most connections served at once, whatever the descriptor limit.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time a client has to send a request's head, from the connection (or the end of the
/// last response) on: a client that opens and says nothing, or dribbles, is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no request in progress for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Queries (`/api/*`, `/metrics`) answered at once; more wait for a turn.
pub const QUERY_SLOTS: usize = 4;
/// How long a query waits for a turn before it is answered 503.
pub const QUERY_WAIT: Duration = Duration::from_secs(10);
/// Rows of `/api/items` and `/api/alerts` in one answer; more come page by page (a
/// `Link: <...>; rel="next"` header names the next one).
pub const PAGE: usize = 500;

/// What the endpoint reads.
#[derive(Clone)]
pub struct Api {
    /// The store, or why it is out (compacting, failed and being reopened).
    pub store: Arc<StoreSlot>,
    pub metrics: Arc<Metrics>,
    /// The config in force (replaced on reload).
    pub config: Arc<RwLock<Arc<Config>>>,
}

mod client;
mod conn;

pub use client::{CLI_WAIT, address_of, each_row};
use conn::*;
pub use conn::{connection_cap, host_allowed, start};

/// The API with what its connections share.
#[derive(Clone)]
struct Served {
    api: Api,
    queries: Arc<Semaphore>,
    refused_host: Arc<Every>,
}

impl Served {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let config = self.api.config();
        let host = req.headers().get(hyper::header::HOST).map(|h| h.as_bytes());
        if !host_allowed(host, &config.api.hosts) {
            if self.refused_host.due() {
                // the name is the client's: shown escaped
                let host = String::from_utf8_lossy(host.unwrap_or_default());
                warn!(host = ?host, "api: refused a request for a host name that is not loopback nor in [api] hosts (a DNS-rebinding web page, or a name to add there)");
            }
            return text(
                StatusCode::FORBIDDEN,
                "refused: the Host header names neither a loopback address nor one of [api] hosts\n",
            );
        }
        if req.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        }
        let path = req.uri().path().to_string();
        if let (Err(why), false) = (self.api.store.get(), path == "/metrics") {
            return unavailable(&path, &why);
        }
        // store reads are blocking, and a few at a time (each may read many records)
        let _turn = match path.as_str() {
            "/healthz" => None,
            _ => match tokio::time::timeout(QUERY_WAIT, self.queries.clone().acquire_owned()).await
            {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy: too many queries at once; try again\n",
                    );
                }
            },
        };
        let query = parse_query(req.uri().query().unwrap_or(""));
        let api = self.api.clone();
        let result = tokio::task::spawn_blocking(move || api.answer(&path, &query)).await;
        match result {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        }
    }
}

impl Api {
    fn answer(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> crate::store::Result<Response<Full<Bytes>>> {
        let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
        let store = match self.store.get() {
            Ok(store) => store,
            // the counters are the process's: shown while the store is out (every watch's
            // included), without the gauges the store knows
            Err(_) if path == "/metrics" => {
                let watches = self
                    .config()
                    .watches
                    .iter()
                    .map(|w| w.name.clone())
                    .collect();
                return Ok(exposition(&self.metrics.render(&Gauges {
                    watches,
                    ..Gauges::default()
                })));
            }
            Err(why) => return Ok(unavailable(path, &why)),
        };
        match path {
            "/healthz" => Ok(self.healthz(&store)),
            "/metrics" => self.metrics_text(&store).map(|t| exposition(&t)),
            "/api/feeds" => {
                let rows = views::feeds(&self.config(), &store, chrono::Utc::now())?;
                Ok(lines(rows, None))
            }
            "/api/items" | "/api/alerts" => {
                let (view, filter) = match path {
                    "/api/items" => ("items", "feed"),
                    _ => ("alerts", "watch"),
                };
                let names: Vec<&str> = query.iter().map(|(n, _)| n.as_str()).collect();
                let select = match crate::filter::Filter::from_params(
                    &self.config(),
                    Some(&store),
                    &names,
                    param,
                    chrono::Utc::now(),
                ) {
                    Ok(f) => f,
                    Err(e) => return Ok(text(StatusCode::BAD_REQUEST, &format!("{e}\n"))),
                };
                let before = param("before");
                if before
                    .as_deref()
                    .is_some_and(|b| b.len() % 2 != 0 || !b.bytes().all(|c| c.is_ascii_hexdigit()))
                {
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        "before: not a cursor of this api\n",
                    ));
                }
                let page = views::page(
                    &store,
                    view,
                    param(filter).as_deref(),
                    &select,
                    limit,
                    before.as_deref(),
                    PAGE,
                )?;
                let mut page = page;
                if view == "items" {
                    for row in &mut page.rows {
                        views::add_watches(&store, &self.config().watches, row)?;
                    }
                }
                let next = page.next.map(|(cursor, left)| {
                    let mut q = url::form_urlencoded::Serializer::new(String::new());
                    for k in ["feed", "watch"] {
                        if let Some(f) = param(k) {
                            q.append_pair(k, &f);
                        }
                    }
                    for (k, t) in [("since", select.since), ("until", select.until)] {
                        if let Some(t) = t {
                            q.append_pair(k, &crate::alert::rfc3339(t));
                        }
                    }
                    q.append_pair("limit", &left.to_string());
                    q.append_pair("before", &cursor);
                    format!("{path}?{}", q.finish())
                });
                Ok(lines(page.rows, next))
            }
            _ => Ok(text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /metrics, /api/feeds, /api/items, /api/alerts\n",
            )),
        }
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// 200 when the scheduler beat recently and the store takes a write; 503 and why not.
    fn healthz(&self, store: &crate::store::Store) -> Response<Full<Bytes>> {
        let beat = self
            .metrics
            .heartbeat
            .load(std::sync::atomic::Ordering::Relaxed);
        let silent = chrono::Utc::now().timestamp() - beat;
        if silent > HEARTBEAT_LIMIT_SECS {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: the scheduler has not run for {silent} s\n"),
            );
        }
        if let Some(e) = self
            .metrics
            .delivery_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: {e}\n"),
            );
        }
        if let Err(e) = store.check_writable() {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: the store is not writable: {e}\n"),
            );
        }
        text(StatusCode::OK, "ok\n")
    }

    fn metrics_text(&self, store: &crate::store::Store) -> crate::store::Result<String> {
        let config = self.config();
        let now = chrono::Utc::now();
        let states = store.feed_states()?;
        let mut g = Gauges {
            store_bytes: dir_size(store.path()),
            pending_lines: store.pending_count() as u64,
            watches: config.watches.iter().map(|w| w.name.clone()).collect(),
            ..Gauges::default()
        };
        for feed in &config.feeds {
            let state = states.iter().find(|s| s.name == feed.name);
            let word = match state {
                _ if !feed.enabled => "off",
                Some(st) if st.paused.is_some() => "paused",
                Some(st) => match schedule::assess(st, now) {
                    Health::NeverPolled => "never_polled",
                    Health::Ok => "ok",
                    Health::Failing { .. } => "failing",
                    Health::Stale { .. } => "stale",
                    Health::Disabled { .. } => "disabled",
                },
                None => "never_polled",
            };
            *g.feeds.entry(word).or_default() += 1;
            let last = state.and_then(|s| s.last_success).map(|t| t.timestamp());
            g.last_success.push((feed.name.clone(), last.unwrap_or(0)));
        }
        Ok(self.metrics.render(&g))
    }
}

/// JSON lines, with a link to the next page if there is one.
fn lines(rows: Vec<serde_json::Value>, next: Option<String>) -> Response<Full<Bytes>> {
    let mut body = String::new();
    for r in rows {
        body.push_str(&r.to_string());
        body.push('\n');
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        "content-type",
        "application/x-ndjson".parse().expect("valid"),
    );
    if let Some(link) = next.and_then(|n| format!("<{n}>; rel=\"next\"").parse().ok()) {
        resp.headers_mut().insert("link", link);
    }
    resp
}

/// 503 while the store is out: "compacting" or why it failed, with a `Retry-After`.
fn unavailable(path: &str, why: &Unavailable) -> Response<Full<Bytes>> {
    let word = match why.state {
        crate::store::slot::SlotState::Compacting => "compacting",
        _ if path == "/healthz" => "unhealthy",
        _ => "unavailable",
    };
    let mut resp = text(StatusCode::SERVICE_UNAVAILABLE, &format!("{word}: {why}\n"));
    resp.headers_mut()
        .insert("retry-after", why.retry_after.as_secs().max(1).into());
    resp
}

/// Plain text: health, errors, 404s.
fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        "text/plain; charset=utf-8".parse().expect("valid"),
    );
    resp
}

/// `/metrics`: the Prometheus text format, labelled as such.
fn exposition(body: &str) -> Response<Full<Bytes>> {
    let mut resp = text(StatusCode::OK, body);
    resp.headers_mut().insert(
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8"
            .parse()
            .expect("valid"),
    );
    resp
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::client::*;
    use super::*;

    #[test]
    fn loopback_hosts_and_listed_ones_are_allowed() {
        let listed = ["feeds.example.org".to_string(), "Box:8080".to_string()];
        for ok in [
            "127.0.0.1:9185",
            "127.1.2.3",
            "localhost",
            "LOCALHOST.:9185",
            "app.localhost:1",
            "[::1]:9185",
            "[::1]",
            "feeds.example.org",
            "feeds.example.org.:9185",
            "box:8080",
        ] {
            assert!(host_allowed(Some(ok.as_bytes()), &listed), "{ok}");
        }
        assert!(host_allowed(None, &listed), "no Host: not a browser");
        for refused in [
            "attacker.example",
            "attacker.example:9185",
            "127.0.0.1.nip.io",
            "localhost.attacker.example",
            "box:9090",
            "box",
            "[::2]:9185",
            "0.0.0.0:9185",
            "127.0.0.1:x",
            "[::1]x",
            "",
        ] {
            assert!(
                !host_allowed(Some(refused.as_bytes()), &listed),
                "{refused}"
            );
        }
        assert!(!host_allowed(Some(b"\xff\xfe"), &listed));
    }

    #[test]
    fn next_links_are_read() {
        assert_eq!(
            next_link("</api/alerts?limit=0&before=ab>; rel=\"next\""),
            Some("/api/alerts?limit=0&before=ab")
        );
        assert_eq!(next_link("</x>; rel=\"prev\""), None);
    }
}
