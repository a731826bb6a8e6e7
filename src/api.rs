//! The local HTTP endpoint of a running service (`[api] listen`, 127.0.0.1:9185 by
//! default): `GET /healthz`, `GET /metrics` (Prometheus), and read-only JSON lines at
//! `/api/feeds`, `/api/items?feed=&limit=`, `/api/alerts?watch=&limit=`, the same objects
//! as `feedwatch feeds|items|alerts --json`. sled lets one process open the store, so this
//! is how the CLI queries a store that the service holds: the service writes the address
//! it bound beside the store, in `feedwatch.api`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use crate::config::Config;
use crate::metrics::{Gauges, Metrics};
use crate::schedule::{self, Health};
use crate::store::Store;
use crate::views;

/// The file beside the store that names the API address of the process holding it.
pub const ADDR_FILE: &str = "feedwatch.api";

/// How long the scheduler may stay silent before `/healthz` says it is stuck.
pub const HEARTBEAT_LIMIT_SECS: i64 = 60;

/// What the endpoint reads.
#[derive(Clone)]
pub struct Api {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    /// The config in force (replaced on reload).
    pub config: Arc<RwLock<Arc<Config>>>,
}

/// Binds `addr` and serves until `stop`, on `tasks` (the listener and one task per
/// connection). Returns the bound address (useful when the port was 0) after writing it to
/// [`ADDR_FILE`] beside the store; the file is removed when the listener stops.
pub async fn start(
    addr: SocketAddr,
    api: Api,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let addr_file: PathBuf = api.store.path().join(ADDR_FILE);
    let _ = std::fs::write(&addr_file, bound.to_string());
    info!(listen = %bound, "api listening");
    let connections = tasks.clone();
    let listen = async move {
        loop {
            let conn = tokio::select! {
                _ = stop.cancelled() => break,
                conn = listener.accept() => conn,
            };
            let Ok((stream, _)) = conn else { continue };
            let api = api.clone();
            let stop = stop.clone();
            // connections end with the service too: each holds the store, which must be
            // let go of when the service stops or closes the store to compact it
            connections.spawn(
                async move {
                    let service = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let conn =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        served = conn => if let Err(e) = served {
                            tracing::debug!(error = %e, "api connection");
                        }
                    }
                }
                .in_current_span(),
            );
        }
        let _ = std::fs::remove_file(&addr_file);
    };
    tasks.spawn(listen.instrument(tracing::info_span!("api")));
    Ok(bound)
}

/// The address of the API of the process holding the store at `store_path`, if it said.
pub fn address_of(store_path: &std::path::Path) -> Option<SocketAddr> {
    std::fs::read_to_string(store_path.join(ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Api {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        }
        let query = parse_query(req.uri().query().unwrap_or(""));
        let param = move |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
        let api = self.clone();
        let path = req.uri().path().to_string();
        // store reads are blocking
        let result = tokio::task::spawn_blocking(move || match path.as_str() {
            "/healthz" => Ok(api.healthz()),
            "/metrics" => api.metrics_text().map(|t| text(StatusCode::OK, &t)),
            "/api/feeds" => api.lines(|c, s| views::feeds(c, s, chrono::Utc::now())),
            "/api/items" => api.lines(|_, s| views::items(s, param("feed").as_deref(), limit)),
            "/api/alerts" => api.lines(|_, s| views::alerts(s, param("watch").as_deref(), limit)),
            _ => Ok(text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /metrics, /api/feeds, /api/items, /api/alerts\n",
            )),
        })
        .await;
        match result {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        }
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lines(
        &self,
        rows: impl FnOnce(&Config, &Store) -> crate::store::Result<Vec<serde_json::Value>>,
    ) -> crate::store::Result<Response<Full<Bytes>>> {
        let rows = rows(&self.config(), &self.store)?;
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
        Ok(resp)
    }

    /// 200 when the scheduler beat recently and the store takes a write; 503 and why not.
    fn healthz(&self) -> Response<Full<Bytes>> {
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
        if let Err(e) = self.store.check_writable() {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("unhealthy: the store is not writable: {e}\n"),
            );
        }
        text(StatusCode::OK, "ok\n")
    }

    fn metrics_text(&self) -> crate::store::Result<String> {
        let config = self.config();
        let now = chrono::Utc::now();
        let mut g = Gauges {
            feeds: config.feeds.iter().filter(|f| f.enabled).count() as u64,
            store_bytes: dir_size(self.store.path()),
            pending_lines: self.store.pending_count() as u64,
            ..Gauges::default()
        };
        for state in self.store.feed_states()? {
            if !config
                .feeds
                .iter()
                .any(|f| f.name == state.name && f.enabled)
            {
                continue;
            }
            match schedule::assess(&state, now) {
                Health::Failing { .. } => g.feeds_failing += 1,
                Health::Stale { .. } => g.feeds_stale += 1,
                Health::Disabled { .. } => g.feeds_disabled += 1,
                _ => {}
            }
        }
        Ok(self.metrics.render(&g))
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
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

/// Logs why the API could not start; the service runs on without it.
pub fn warn_unavailable(addr: SocketAddr, e: &std::io::Error) {
    warn!(listen = %addr, error = %e, "cannot listen for the api (healthz, metrics, queries); running without it. Set [api] listen to a free address, or \"\" to turn it off");
}
