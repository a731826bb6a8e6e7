//! The service's own sections: `[storage]`, `[alerts]`, `[api]`, `[fetch]` and
//! `[schedule]`. Each is one type whose `Default` is the built-in default that
//! `config/feedwatch.toml` documents; the reader starts from it and overrides what the file
//! sets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::Env;
use super::probe;
use super::reader::{Reader, set};

/// How long item bodies are kept by default (`storage.keep`).
pub const DEFAULT_KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

/// The longest `storage.keep`: 100 years ("100y").
pub const MAX_KEEP: Duration = Duration::from_secs(100 * super::reader::YEAR_SECS);

/// `[storage]`: the sled store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// The sled directory.
    pub path: PathBuf,
    /// sled's page cache, in bytes (sled's own default is 1 GB).
    pub cache: u64,
    /// How long item bodies are kept after their first sighting; their seen keys and
    /// alerts are kept forever.
    pub keep: Duration,
}

/// The store under `./feedwatch-data/`: the default outside systemd (see [`Env`]).
impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            path: Env::default().default_store(),
            cache: 4 << 20,
            keep: DEFAULT_KEEP,
        }
    }
}

/// `[alerts]`: the alert log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// The JSON-lines alert log.
    pub log: PathBuf,
}

/// The log under `./feedwatch-data/`: the default outside systemd (see [`Env`]).
impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            log: Env::default().default_alert_log(),
        }
    }
}

/// `[api]`: the local HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where the local HTTP endpoint listens; `None` turns it off.
    pub listen: Option<SocketAddr>,
    /// Opt-in to a non-loopback `listen` (see [`crate::api`]).
    pub allow_remote: bool,
    /// `Host` names served besides the loopback ones.
    pub hosts: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9185))),
            allow_remote: false,
            hosts: Vec::new(),
        }
    }
}

/// `[fetch]`: how feeds are requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Whole request, from connect to the last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Cap on the decompressed body, in bytes.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Polls in flight at once, over all feeds.
    pub concurrency: usize,
    pub user_agent: String,
    /// Items read from one document; a feed's newest come first, the rest is ignored.
    pub max_items: usize,
    /// Requests in flight at once to one host (host:port).
    pub per_host: usize,
    /// Least time between the starts of two requests to one host.
    pub host_gap: Duration,
    /// How long a new item of a `full_text` feed waits for its article before its alerts
    /// fire on what the feed had.
    pub full_text_wait: Duration,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
            max_body: 16 << 20,
            max_redirects: 5,
            concurrency: 32,
            user_agent: default_user_agent(),
            max_items: 5000,
            per_host: 2,
            host_gap: Duration::ZERO,
            full_text_wait: Duration::from_secs(60),
        }
    }
}

/// `[schedule]`: the bounds of adaptive polling, backoff and feed-health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Bounds of `interval = "auto"`.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Longest wait after failures, however many.
    pub max_backoff: Duration,
    /// How long a feed may fail or stay stale before a feed-health line is written.
    pub report_after: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            min_interval: Duration::from_secs(300),
            max_interval: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(6 * 3600),
            report_after: Duration::from_secs(6 * 3600),
        }
    }
}

/// The User-Agent sent with every request unless `fetch.user_agent` says otherwise.
pub fn default_user_agent() -> String {
    format!(
        "feedwatch/{} (feed monitor; +https://github.com/feedwatch/feedwatch)",
        env!("CARGO_PKG_VERSION")
    )
}

impl Reader<'_> {
    /// `[storage]`; relative paths go through `resolve`, and the store's default place
    /// comes from `env`.
    pub(super) fn storage(
        &mut self,
        t: &DeTable<'_>,
        env: &Env,
        resolve: impl Fn(PathBuf) -> PathBuf,
    ) -> StorageConfig {
        let mut c = StorageConfig {
            path: env.default_store(),
            ..StorageConfig::default()
        };
        if let Some((s, span)) = self.string(t, "storage", "path") {
            c.path = resolve(PathBuf::from(s));
            if let Err(e) = probe::store_dir(&c.path) {
                self.error(span.start, "storage.path", e);
            }
        }
        set(&mut c.cache, self.size(t, "storage", "cache"));
        set(
            &mut c.keep,
            self.duration_within(t, "storage", "keep", MAX_KEEP),
        );
        c
    }

    /// `[alerts]`; like [`Reader::storage`] for the log's path.
    pub(super) fn alerts(
        &mut self,
        t: &DeTable<'_>,
        env: &Env,
        resolve: impl Fn(PathBuf) -> PathBuf,
    ) -> AlertsConfig {
        let mut c = AlertsConfig {
            log: env.default_alert_log(),
        };
        if let Some((s, span)) = self.string(t, "alerts", "log") {
            c.log = resolve(PathBuf::from(s));
            if let Err(e) = probe::log_file(&c.log) {
                self.error(span.start, "alerts.log", e);
            }
        }
        c
    }

    /// `[api]`: `listen = ""` turns the endpoint off.
    pub(super) fn api(&mut self, t: &DeTable<'_>) -> ApiConfig {
        let mut c = ApiConfig::default();
        match self.string(t, "api", "listen") {
            None => {}
            Some((s, _)) if s.is_empty() => c.listen = None,
            Some((s, span)) => match s.parse() {
                Ok(a) => c.listen = Some(a),
                Err(_) => {
                    self.error(span.start, "api.listen", format!("{s:?} is not an address; write e.g. \"127.0.0.1:9185\", or \"\" to turn the api off"));
                    c.listen = None;
                }
            },
        }
        let listen_at = t.get("listen").map_or(0, |v| v.span().start);
        if let Some(b) = self.boolean(t, "api", "allow_remote") {
            c.allow_remote = b;
        }
        // `hosts = []` (the documented default) is no list of names, and no error either
        let empty =
            matches!(t.get("hosts").map(|v| v.get_ref()), Some(DeValue::Array(a)) if a.is_empty());
        if !empty && let Some(h) = self.string_list(t, "api", "hosts") {
            c.hosts = h.into_iter().map(|(s, _)| s).collect();
        }
        if let Some(a) = c
            .listen
            .filter(|a| !a.ip().is_loopback() && !c.allow_remote)
        {
            self.error(listen_at, "api.listen", format!("{a} is not a loopback address: the api serves alerts and feed URLs without authentication; set [api] allow_remote = true to listen there anyway"));
        }
        c
    }

    pub(super) fn fetch(&mut self, t: &DeTable<'_>) -> FetchConfig {
        let mut c = FetchConfig::default();
        set(&mut c.timeout, self.duration(t, "fetch", "timeout"));
        set(
            &mut c.connect_timeout,
            self.duration(t, "fetch", "connect_timeout"),
        );
        set(
            &mut c.read_timeout,
            self.duration(t, "fetch", "read_timeout"),
        );
        set(&mut c.max_body, self.size(t, "fetch", "max_body"));
        set(
            &mut c.max_redirects,
            self.count(t, "fetch", "max_redirects", 0, 20),
        );
        set(
            &mut c.concurrency,
            self.count(t, "fetch", "concurrency", 1, 1024),
        );
        set(
            &mut c.user_agent,
            self.string(t, "fetch", "user_agent").map(|(s, _)| s),
        );
        set(
            &mut c.max_items,
            self.count(t, "fetch", "max_items", 1, 1_000_000),
        );
        set(&mut c.per_host, self.count(t, "fetch", "per_host", 1, 64));
        set(
            &mut c.host_gap,
            self.duration_or_zero(t, "fetch", "host_gap"),
        );
        set(
            &mut c.full_text_wait,
            self.duration_or_zero(t, "fetch", "full_text_wait"),
        );
        c
    }

    /// `[schedule]`; `at` is where the section starts, for a rule across its keys.
    pub(super) fn schedule(&mut self, t: &DeTable<'_>, at: usize) -> ScheduleConfig {
        let mut c = ScheduleConfig::default();
        set(
            &mut c.min_interval,
            self.duration(t, "schedule", "min_interval"),
        );
        set(
            &mut c.max_interval,
            self.duration(t, "schedule", "max_interval"),
        );
        set(
            &mut c.max_backoff,
            self.duration(t, "schedule", "max_backoff"),
        );
        set(
            &mut c.report_after,
            self.duration(t, "schedule", "report_after"),
        );
        if c.min_interval > c.max_interval {
            self.error(
                at,
                "schedule.min_interval",
                "must not be longer than schedule.max_interval",
            );
        }
        c
    }
}
