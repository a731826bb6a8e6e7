//! Serving connections: the listener, the connection cap (a new connection past it closes
//! the longest idle one), header and idle timeouts, the `Host` check, and an accept loop
//! that backs off when it fails.

use super::*;

/// The connections being served, oldest first, so that a new one past the cap can close
/// the longest idle one instead of being refused (or of running out of descriptors).
#[derive(Default)]
pub(super) struct Conns {
    next: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

pub(super) struct Conn {
    /// Requests of this connection being answered.
    busy: AtomicUsize,
    /// Since when no request is in progress.
    idle_since: Mutex<Instant>,
    /// Told to close (evicted).
    close: Notify,
}

impl Conn {
    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Conns {
    /// Closes the oldest connection without a request in progress; false if all are busy.
    fn evict_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Connections the API may hold: half the descriptors this process may open (the rest is
/// for feeds, the store and the logs), at most [`MAX_CONNECTIONS`].
pub fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, nothing else
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    (soft / 2).clamp(8, MAX_CONNECTIONS as u64) as usize
}

/// Whether a request's `Host` header may be answered: loopback names and addresses, and
/// the names of `[api] hosts` (with or without a port). A web page whose DNS name was
/// rebound to 127.0.0.1 sends its own name, and is refused. A request without `Host` (not
/// one a browser sends) is answered.
pub fn host_allowed(host: Option<&[u8]>, hosts: &[String]) -> bool {
    let Some(host) = host else { return true };
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || is_port(port) => ip.to_string(),
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name.to_string(),
            Some(_) => return false,
            None => host.clone(),
        },
    };
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    hosts.iter().any(|h| {
        let h = h.trim().to_ascii_lowercase();
        h == host || h.strip_suffix('.').unwrap_or(&h) == name
    })
}

pub(super) fn is_port(s: &str) -> bool {
    let p = s.strip_prefix(':').unwrap_or(s);
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Logs at most once a minute per kind, so a flood is seen without flooding the log.
pub(super) struct Every {
    last: Mutex<Option<Instant>>,
}

impl Every {
    pub(super) fn new() -> Every {
        Every {
            last: Mutex::new(None),
        }
    }

    pub(super) fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|l| now.duration_since(l) < Duration::from_secs(60)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Binds `addr` and serves until `stop`, on `tasks` (the listener and one task per
/// connection). Returns the bound address (useful when the port was 0) after writing it to
/// [`ADDR_FILE`] beside the store; the file is removed when the listener stops.
///
/// Connections are capped ([`connection_cap`]); past the cap a new one closes the longest
/// idle one, so `/healthz` is answered however many clients sit on connections. Each gets
/// [`HEADER_READ_TIMEOUT`] to send a request and is closed after [`IDLE_TIMEOUT`] without
/// one. An accept that fails (out of descriptors) is logged and retried after a pause
/// that grows to a second, instead of at once, forever.
pub async fn start(
    addr: SocketAddr,
    api: Api,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let addr_file: PathBuf = api.store.path().join(ADDR_FILE);
    api.store.announce(bound);
    let cap = connection_cap();
    info!(listen = %bound, connections = cap, "api listening");
    if !bound.ip().is_loopback() {
        warn!(listen = %bound, "the api listens beyond loopback ([api] allow_remote = true): anyone who can reach it reads the alerts and the feed URLs, without authentication");
    }
    let served = Served {
        api,
        queries: Arc::new(Semaphore::new(QUERY_SLOTS)),
        refused_host: Arc::new(Every::new()),
    };
    let conns = Arc::new(Mutex::new(Conns::default()));
    let connections = tasks.clone();
    let listen = async move {
        let at_cap = Every::new();
        let accept_failed = Every::new();
        let mut pause = Duration::from_millis(10);
        loop {
            let conn = tokio::select! {
                _ = stop.cancelled() => break,
                conn = listener.accept() => conn,
            };
            let stream = match conn {
                Ok((stream, _)) => {
                    pause = Duration::from_millis(10);
                    stream
                }
                Err(e) => {
                    // out of descriptors, typically: the connection stays queued, so
                    // accepting again at once would spin. Free one, wait, try again.
                    let freed = conns.lock().unwrap_or_else(|p| p.into_inner()).evict_idle();
                    if accept_failed.due() {
                        warn!(error = %e, retry_in = ?pause, closed_an_idle_connection = freed, "api: cannot accept a connection");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let conn = Arc::new(Conn {
                busy: AtomicUsize::new(0),
                idle_since: Mutex::new(Instant::now()),
                close: Notify::new(),
            });
            let id = {
                let mut all = conns.lock().unwrap_or_else(|p| p.into_inner());
                if all.open.len() >= cap {
                    let evicted = all.evict_idle();
                    if at_cap.due() {
                        warn!(
                            connections = cap,
                            "api: too many connections; closing the longest idle ones (or refusing new ones while all are busy)"
                        );
                    }
                    if !evicted {
                        continue; // every connection is being answered: drop this one
                    }
                }
                all.next += 1;
                let id = all.next;
                all.open.insert(id, conn.clone());
                id
            };
            let served = served.clone();
            let stop = stop.clone();
            let conns = conns.clone();
            // connections end with the service too: each holds the store, which must be
            // let go of when the service stops or closes the store to compact it
            connections.spawn(
                async move {
                    serve(stream, served, conn, stop).await;
                    conns
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .open
                        .remove(&id);
                }
                .in_current_span(),
            );
        }
        let _ = std::fs::remove_file(&addr_file);
    };
    tasks.spawn(listen.instrument(tracing::info_span!("api")));
    Ok(bound)
}

/// Serves one connection until it ends, idles out, is evicted, or the service stops.
/// Connections end with the service too: each holds the store, which must be let go of
/// when the service stops or closes the store to compact it.
pub(super) async fn serve(
    stream: tokio::net::TcpStream,
    served: Served,
    conn: Arc<Conn>,
    stop: CancellationToken,
) {
    let in_service = conn.clone();
    let service = service_fn(move |req| {
        let served = served.clone();
        let conn = in_service.clone();
        async move {
            conn.busy.fetch_add(1, Ordering::AcqRel);
            let resp = served.handle(req).await;
            *conn.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            conn.busy.fetch_sub(1, Ordering::AcqRel);
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let idle = async {
        loop {
            if conn.busy.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(IDLE_TIMEOUT).await;
                continue;
            }
            let since = conn.idle_since();
            if since.elapsed() >= IDLE_TIMEOUT {
                return;
            }
            tokio::time::sleep_until(since + IDLE_TIMEOUT).await;
        }
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = conn.close.notified() => {}
        _ = idle => {}
        served = connection => if let Err(e) = served {
            tracing::debug!(error = %e, "api connection");
        }
    }
}
