//! The configuration file: where it is found, what it may say, and its validation into
//! ready-to-use types.
//!
//! The reader walks the TOML document itself (with spans) instead of stopping at serde's
//! first error, so an operator sees every problem at once, each as `file:line: key: what is
//! wrong and what would be valid`. [`KEYS`] is the one list of accepted keys: the reader
//! rejects anything else, and a test checks that each one is documented in
//! `config/feedwatch.toml`.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use url::Url;

use crate::watch::Field;

/// The documented example; also the built-in default when no config file exists.
pub const EXAMPLE: &str = include_str!("../config/feedwatch.toml");

/// How long item bodies are kept by default (`storage.keep`).
pub const DEFAULT_KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

/// Where the config is looked for when `--config` is not given, after `$FEEDWATCH_CONFIG`.
pub const SYSTEM_PATH: &str = "/etc/feedwatch/feedwatch.toml";

/// Every key the config accepts, as `section.key` (`watch.terms.KEY` for the inline-table
/// form of a term). The reader allows exactly these.
pub const KEYS: &[&str] = &[
    "storage.path",
    "storage.cache",
    "storage.keep",
    "alerts.log",
    "api.listen",
    "fetch.timeout",
    "fetch.connect_timeout",
    "fetch.read_timeout",
    "fetch.max_body",
    "fetch.max_redirects",
    "fetch.concurrency",
    "fetch.user_agent",
    "fetch.max_items",
    "fetch.per_host",
    "fetch.host_gap",
    "schedule.min_interval",
    "schedule.max_interval",
    "schedule.max_backoff",
    "schedule.report_after",
    "defaults.interval",
    "defaults.backlog",
    "feeds.name",
    "feeds.url",
    "feeds.interval",
    "feeds.backlog",
    "feeds.enabled",
    "sinks.name",
    "sinks.kind",
    "sinks.url",
    "sinks.secret",
    "sinks.secret_file",
    "sinks.command",
    "sinks.watches",
    "sinks.every",
    "sinks.timeout",
    "watch.name",
    "watch.terms",
    "watch.all",
    "watch.not",
    "watch.near",
    "watch.near.terms",
    "watch.near.within",
    "watch.fields",
    "watch.feeds",
    "watch.case",
    "watch.stem",
    "watch.terms.term",
    "watch.terms.regex",
    "watch.terms.case",
    "watch.terms.stem",
];

/// The keys of a term written as an inline table, wherever a term may stand.
const TERM_KEYS: &[&str] = &["term", "regex", "case", "stem"];

/// Most words allowed between the two terms of `near`.
pub const MAX_NEAR: u64 = 1000;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, for messages: a path, or "built-in default".
    pub source: String,
    pub storage: StorageConfig,
    pub alerts: AlertsConfig,
    pub api: ApiConfig,
    pub fetch: FetchConfig,
    pub schedule: ScheduleConfig,
    pub feeds: Vec<FeedConfig>,
    pub watches: Vec<WatchConfig>,
    pub sinks: Vec<SinkConfig>,
}

/// Where alerts go besides the alert log.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    /// The watches whose alerts it receives; empty: all, and feed-health lines too.
    pub watches: Vec<String>,
    /// Send a digest (a JSON array) this often instead of each alert at once.
    pub every: Option<Duration>,
    /// For one request or one run of the command.
    pub timeout: Duration,
}

#[derive(Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// POST the alert JSON; `secret` signs it (HMAC-SHA256 in X-Feedwatch-Signature).
    Webhook { url: Url, secret: Option<String> },
    /// Run the command with the alert JSON on stdin.
    Exec { command: Vec<String> },
}

/// Never prints the secret.
impl fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("name", &self.name)
            .field("kind", &self.kind.describe())
            .field("watches", &self.watches)
            .field("every", &self.every)
            .finish()
    }
}

impl SinkKind {
    /// For messages and `check`: what it is, without secrets.
    pub fn describe(&self) -> String {
        match self {
            SinkKind::Webhook { url, secret } => {
                format!(
                    "webhook {}{}",
                    crate::fetch::redact_url(url.as_str()),
                    if secret.is_some() { " (signed)" } else { "" }
                )
            }
            SinkKind::Exec { command } => format!("exec {command:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The sled directory.
    pub path: PathBuf,
    /// sled's page cache, in bytes (sled's own default is 1 GB).
    pub cache: u64,
    /// How long item bodies are kept after their first sighting; their seen keys and
    /// alerts are kept forever.
    pub keep: Duration,
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// The JSON-lines alert log.
    pub log: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where the local HTTP endpoint listens; `None` turns it off.
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone)]
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
}

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

/// How often a feed is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Fixed(Duration),
    /// Adapted to how often the feed publishes, within [`ScheduleConfig`]'s bounds.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's identity (its URL may change); renaming makes a new feed.
    pub name: String,
    pub url: Url,
    pub interval: Interval,
    pub backlog: Backlog,
    /// `false` pauses the feed without forgetting its state.
    pub enabled: bool,
}

/// Which items of a feed's first successful poll may alert (DESIGN.md, "Backlog").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    All,
    None,
    /// Those published within this window before the poll.
    Window(Duration),
}

/// One watch: a subject and the rules that decide whether an item is about it. The watch
/// fires when every rule it has holds: one of `terms`, something of each `all` group, the
/// two `near` terms close together; and none of `not`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub name: String,
    /// The any-list (`terms`): one of them must match. Empty when the watch has only `all`
    /// or `near`.
    pub terms: Vec<TermConfig>,
    /// `all`: every group must match (a group is a list of aliases, one of which suffices).
    pub all: Vec<Vec<TermConfig>>,
    /// `not`: a match of any of these suppresses the watch for the whole item.
    pub not: Vec<TermConfig>,
    pub near: Option<NearConfig>,
    /// The fields looked at, in [`Field`] order; never empty.
    pub fields: Vec<Field>,
    /// The feeds whose items this watch looks at; empty: every feed.
    pub feeds: Vec<String>,
}

impl WatchConfig {
    /// A watch on any of `terms` (options as written), every default otherwise.
    pub fn any(name: &str, terms: Vec<TermConfig>) -> WatchConfig {
        WatchConfig {
            name: name.to_string(),
            terms,
            all: Vec::new(),
            not: Vec::new(),
            near: None,
            fields: DEFAULT_FIELDS.to_vec(),
            feeds: Vec::new(),
        }
    }
}

/// `near = { terms = ["A", "B"], within = N }`: A and B in the same field with at most N
/// words between them, in either order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearConfig {
    pub terms: [TermConfig; 2],
    pub within: usize,
}

/// The fields a watch looks at unless it says `fields = [...]` (not the link).
pub const DEFAULT_FIELDS: [Field; 4] = [
    Field::Title,
    Field::Summary,
    Field::Content,
    Field::Categories,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermConfig {
    /// The words as configured, or the pattern when `regex` is set.
    pub text: String,
    pub case: CaseMode,
    /// Prefix match: the term may be followed by more letters of the same word.
    pub stem: bool,
    /// `text` is a regular expression, matched as written over the normalised text.
    pub regex: bool,
}

impl TermConfig {
    /// Plain words with the `auto` case rule and no stemming.
    pub fn words(text: &str) -> TermConfig {
        TermConfig {
            text: text.to_string(),
            case: CaseMode::Auto,
            stem: false,
            regex: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseMode {
    /// All-capitals terms are acronyms (case-sensitive); others are case-insensitive.
    Auto,
    Sensitive,
    Insensitive,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.key, self.message
            )
        }
    }
}

/// Every problem found in a config, or a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {file} ({} problem{}):\n{}", .errors.len(), if .errors.len() == 1 { "" } else { "s" }, list(.errors))]
    Invalid {
        file: String,
        errors: Vec<ConfigError>,
    },
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment that decides default paths (systemd's `$STATE_DIRECTORY` and
/// `$LOGS_DIRECTORY`), passed in so tests do not depend on the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub state_directory: Option<PathBuf>,
    pub logs_directory: Option<PathBuf>,
    pub feedwatch_config: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Env {
        // systemd may list several directories separated by ':'; the first is ours
        let dir = |name: &str| {
            std::env::var_os(name)
                .and_then(|v| {
                    v.to_str()
                        .map(|s| s.split(':').next().unwrap_or("").to_string())
                })
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        Env {
            state_directory: dir("STATE_DIRECTORY"),
            logs_directory: dir("LOGS_DIRECTORY"),
            feedwatch_config: std::env::var_os("FEEDWATCH_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    fn default_store(&self) -> PathBuf {
        match &self.state_directory {
            Some(d) => d.join("store"),
            None => PathBuf::from("feedwatch-data/store"),
        }
    }

    fn default_alert_log(&self) -> PathBuf {
        match &self.logs_directory {
            Some(d) => d.join("alerts.jsonl"),
            None => PathBuf::from("feedwatch-data/alerts.jsonl"),
        }
    }
}

/// The config file [`load`] reads: `explicit`, else `$FEEDWATCH_CONFIG`, else [`SYSTEM_PATH`]
/// if it exists; `None` means the built-in default.
pub fn path(explicit: Option<&Path>, env: &Env) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| env.feedwatch_config.clone())
        .or_else(|| Some(PathBuf::from(SYSTEM_PATH)).filter(|p| p.exists()))
}

/// Finds and loads the config: `explicit` (from `--config`), else `$FEEDWATCH_CONFIG`, else
/// [`SYSTEM_PATH`] if it exists, else the built-in default.
pub fn load(explicit: Option<&Path>, env: &Env) -> Result<Config, LoadError> {
    match path(explicit, env) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            parse(&text, &path.display().to_string(), Some(&base), env)
        }
        None => builtin(env),
    }
}

/// The built-in default: the example's feeds and watches, with the store and alert log in
/// the systemd directories or `./feedwatch-data/`.
pub fn builtin(env: &Env) -> Result<Config, LoadError> {
    let mut config = parse(EXAMPLE, "built-in default", None, env)?;
    config.storage.path = env.default_store();
    config.alerts.log = env.default_alert_log();
    Ok(config)
}

/// Parses and validates config text. `file` names it in messages; relative paths are taken
/// from `base` (the config file's directory), or the working directory when `None`.
pub fn parse(text: &str, file: &str, base: Option<&Path>, env: &Env) -> Result<Config, LoadError> {
    let mut r = Reader {
        file,
        src: text,
        errors: Vec::new(),
    };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    for e in syntax {
        let at = e.span().map_or(0, |s| s.start);
        r.error(at, "", e.message().trim().to_string());
    }
    let config = r.config(doc.get_ref(), base, env);
    if r.errors.is_empty() {
        Ok(config)
    } else {
        r.errors.sort_by_key(|e| e.line);
        Err(LoadError::Invalid {
            file: file.to_string(),
            errors: r.errors,
        })
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Walks a parsed document, collecting every problem with its line.
struct Reader<'a> {
    file: &'a str,
    src: &'a str,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn line(&self, at: usize) -> usize {
        self.src[..at.min(self.src.len())].matches('\n').count() + 1
    }

    fn error(&mut self, at: usize, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: self.line(at),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn config(&mut self, doc: &DeTable<'_>, base: Option<&Path>, env: &Env) -> Config {
        self.check_keys(
            doc,
            "",
            &[
                "storage", "alerts", "api", "fetch", "schedule", "defaults", "feeds", "watch",
                "sinks",
            ],
        );
        let empty = DeTable::default();
        let storage = self.section(doc, "storage").unwrap_or(&empty);
        let alerts = self.section(doc, "alerts").unwrap_or(&empty);
        let fetch = self.section(doc, "fetch").unwrap_or(&empty);
        let api = self.section(doc, "api").unwrap_or(&empty);
        let defaults = self.section(doc, "defaults").unwrap_or(&empty);
        let schedule = self.section(doc, "schedule").unwrap_or(&empty);
        let resolve = |p: PathBuf| match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        };

        let storage = StorageConfig {
            path: self
                .string(storage, "storage", "path")
                .map(|(s, _)| resolve(PathBuf::from(s)))
                .unwrap_or_else(|| env.default_store()),
            cache: self.size(storage, "storage", "cache").unwrap_or(16 << 20),
            keep: self
                .duration(storage, "storage", "keep")
                .unwrap_or(DEFAULT_KEEP),
        };
        let alerts = AlertsConfig {
            log: self
                .string(alerts, "alerts", "log")
                .map(|(s, _)| resolve(PathBuf::from(s)))
                .unwrap_or_else(|| env.default_alert_log()),
        };
        let api = ApiConfig {
            listen: match self.string(api, "api", "listen") {
                None => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9185))),
                Some((s, _)) if s.is_empty() => None,
                Some((s, span)) => match s.parse() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        self.error(span.start, "api.listen", format!("{s:?} is not an address; write e.g. \"127.0.0.1:9185\", or \"\" to turn the api off"));
                        None
                    }
                },
            },
        };
        let fetch = FetchConfig {
            timeout: self
                .duration(fetch, "fetch", "timeout")
                .unwrap_or(Duration::from_secs(60)),
            connect_timeout: self
                .duration(fetch, "fetch", "connect_timeout")
                .unwrap_or(Duration::from_secs(10)),
            read_timeout: self
                .duration(fetch, "fetch", "read_timeout")
                .unwrap_or(Duration::from_secs(20)),
            max_body: self.size(fetch, "fetch", "max_body").unwrap_or(16 << 20),
            max_redirects: self
                .count(fetch, "fetch", "max_redirects", 0, 20)
                .unwrap_or(5),
            concurrency: self
                .count(fetch, "fetch", "concurrency", 1, 1024)
                .unwrap_or(32),
            user_agent: self
                .string(fetch, "fetch", "user_agent")
                .map(|(s, _)| s)
                .unwrap_or_else(default_user_agent),
            max_items: self
                .count(fetch, "fetch", "max_items", 1, 1_000_000)
                .unwrap_or(5000),
            per_host: self.count(fetch, "fetch", "per_host", 1, 64).unwrap_or(2),
            host_gap: self
                .duration_or_zero(fetch, "fetch", "host_gap")
                .unwrap_or(Duration::ZERO),
        };
        let schedule = ScheduleConfig {
            min_interval: self
                .duration(schedule, "schedule", "min_interval")
                .unwrap_or(Duration::from_secs(300)),
            max_interval: self
                .duration(schedule, "schedule", "max_interval")
                .unwrap_or(Duration::from_secs(24 * 3600)),
            max_backoff: self
                .duration(schedule, "schedule", "max_backoff")
                .unwrap_or(Duration::from_secs(6 * 3600)),
            report_after: self
                .duration(schedule, "schedule", "report_after")
                .unwrap_or(Duration::from_secs(6 * 3600)),
        };
        if schedule.min_interval > schedule.max_interval {
            let at = doc.get("schedule").map_or(0, |v| v.span().start);
            self.error(
                at,
                "schedule.min_interval",
                "must not be longer than schedule.max_interval",
            );
        }
        let interval = self
            .interval(defaults, "defaults")
            .unwrap_or(Interval::Fixed(Duration::from_secs(600)));
        let backlog = self
            .backlog(defaults, "defaults")
            .unwrap_or(Backlog::Window(Duration::from_secs(24 * 3600)));

        let (feeds, feed_names) = self.feeds(doc, interval, backlog);
        let watches = self.watches(doc, &feed_names);
        let sinks = self.sinks(doc, &watches, base);
        Config {
            source: self.file.to_string(),
            storage,
            alerts,
            api,
            fetch,
            schedule,
            feeds,
            watches,
            sinks,
        }
    }

    fn sinks(
        &mut self,
        doc: &DeTable<'_>,
        watches: &[WatchConfig],
        base: Option<&Path>,
    ) -> Vec<SinkConfig> {
        let mut sinks = Vec::new();
        let mut names = HashSet::new();
        let tables = if doc.contains_key("sinks") {
            self.array_of_tables(doc, "sinks").unwrap_or_default()
        } else {
            Vec::new()
        };
        for (i, (t, at)) in tables.into_iter().enumerate() {
            let key = format!("sinks[{i}]");
            self.check_keys(t, &key, &section_keys("sinks"));
            let name = self.name(t, &key, at, &mut names, "sink");
            let timeout = self
                .duration(t, &key, "timeout")
                .unwrap_or(Duration::from_secs(30));
            let every = self.duration(t, &key, "every");
            let sink_watches: Vec<String> = self
                .string_list(t, &key, "watches")
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            for w in &sink_watches {
                if !watches.iter().any(|x| &x.name == w) {
                    let at = t.get("watches").map_or(at, |v| v.span().start);
                    self.error(
                        at,
                        &format!("{key}.watches"),
                        format!(
                            "no watch called {w:?}; watches: {}",
                            watches
                                .iter()
                                .map(|w| w.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
            let kind = match self
                .string(t, &key, "kind")
                .map(|(k, span)| (k, span.start))
            {
                Some((k, _)) if k == "webhook" => {
                    let url = match self.string(t, &key, "url") {
                        Some((u, span)) => match Url::parse(&u) {
                            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                            _ => {
                                self.error(
                                    span.start,
                                    &format!("{key}.url"),
                                    format!("{u:?} is not an http(s) URL"),
                                );
                                None
                            }
                        },
                        None => {
                            self.error(
                                at,
                                &format!("{key}.url"),
                                "missing: a webhook sink needs url = \"https://...\"",
                            );
                            None
                        }
                    };
                    let secret = match (
                        self.string(t, &key, "secret"),
                        self.string(t, &key, "secret_file"),
                    ) {
                        (Some(_), Some((_, span))) => {
                            self.error(
                                span.start,
                                &format!("{key}.secret_file"),
                                "give secret or secret_file, not both",
                            );
                            None
                        }
                        (Some((s, _)), None) => Some(s),
                        (None, Some((f, span))) => {
                            let path = match base {
                                Some(b) if Path::new(&f).is_relative() => b.join(&f),
                                _ => PathBuf::from(&f),
                            };
                            match std::fs::read_to_string(&path) {
                                Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
                                Err(e) => {
                                    self.error(
                                        span.start,
                                        &format!("{key}.secret_file"),
                                        format!("cannot read {}: {e}", path.display()),
                                    );
                                    None
                                }
                            }
                        }
                        (None, None) => None,
                    };
                    url.map(|url| SinkKind::Webhook { url, secret })
                }
                Some((k, _)) if k == "exec" => {
                    let command: Vec<String> = self
                        .string_list(t, &key, "command")
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(s, _)| s)
                        .collect();
                    if command.is_empty() {
                        self.error(at, &format!("{key}.command"), "missing: an exec sink needs command = [\"/path/to/program\", \"arg\"...]");
                        None
                    } else {
                        Some(SinkKind::Exec { command })
                    }
                }
                Some((k, at)) => {
                    self.error(
                        at,
                        &format!("{key}.kind"),
                        format!("{k:?} is not a sink kind; use \"webhook\" or \"exec\""),
                    );
                    None
                }
                None => {
                    self.error(
                        at,
                        &format!("{key}.kind"),
                        "missing: kind = \"webhook\" or \"exec\"",
                    );
                    None
                }
            };
            if let (Some(name), Some(kind)) = (name, kind) {
                sinks.push(SinkConfig {
                    name,
                    kind,
                    watches: sink_watches,
                    every,
                    timeout,
                });
            }
        }
        sinks
    }

    fn feeds(
        &mut self,
        doc: &DeTable<'_>,
        interval: Interval,
        backlog: Backlog,
    ) -> (Vec<FeedConfig>, Vec<String>) {
        let mut feeds = Vec::new();
        let Some(items) = self.array_of_tables(doc, "feeds") else {
            self.error(
                0,
                "feeds",
                "no [[feeds]] entries: add at least one feed to poll",
            );
            return (feeds, Vec::new());
        };
        // every name given, valid entry or not, so that a watch's `feeds` is checked against
        // what the operator wrote rather than failing twice over one bad feed
        let named: Vec<String> = items
            .iter()
            .filter_map(|(t, _)| match t.get("name").map(|v| v.get_ref()) {
                Some(DeValue::String(s)) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        let mut names = HashSet::new();
        for (i, (t, at)) in items.into_iter().enumerate() {
            let key = format!("feeds[{i}]");
            self.check_keys(t, &key, &section_keys("feeds"));
            let name = self.name(t, &key, at, &mut names, "feed");
            let url = match self.string(t, &key, "url") {
                Some((s, span)) => match Url::parse(&s) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(u),
                    Ok(u) => {
                        self.error(
                            span.start,
                            &format!("{key}.url"),
                            format!(
                                "scheme {:?} is not supported; use an http:// or https:// URL",
                                u.scheme()
                            ),
                        );
                        None
                    }
                    Err(e) => {
                        self.error(
                            span.start,
                            &format!("{key}.url"),
                            format!("{s:?} is not a URL ({e}); use an http:// or https:// URL"),
                        );
                        None
                    }
                },
                None => {
                    self.error(at, &format!("{key}.url"), "missing: every feed needs a url");
                    None
                }
            };
            let interval = self.interval(t, &key).unwrap_or(interval);
            let backlog = self.backlog(t, &key).unwrap_or(backlog);
            let enabled = self.boolean(t, &key, "enabled").unwrap_or(true);
            if let (Some(name), Some(url)) = (name, url) {
                feeds.push(FeedConfig {
                    name,
                    url,
                    interval,
                    backlog,
                    enabled,
                });
            }
        }
        (feeds, named)
    }

    fn watches(&mut self, doc: &DeTable<'_>, feed_names: &[String]) -> Vec<WatchConfig> {
        let mut watches = Vec::new();
        let mut names = HashSet::new();
        for (i, (t, at)) in self
            .array_of_tables(doc, "watch")
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let key = format!("watch[{i}]");
            self.check_keys(t, &key, &section_keys("watch"));
            let name = self.name(t, &key, at, &mut names, "watch");
            let case = self.case(t, &key).unwrap_or(CaseMode::Auto);
            let stem = self.boolean(t, &key, "stem").unwrap_or(false);
            let opts = (case, stem);
            let terms = self.term_list(t, &key, "terms", opts);
            let all = self.groups(t, &key, opts);
            let not = self.term_list(t, &key, "not", opts).unwrap_or_default();
            let near = self.near(t, &key, opts);
            let fields = self.fields(t, &key);
            let feeds = self.watch_feeds(t, &key, feed_names);
            if t.get("terms").is_none() && t.get("all").is_none() && t.get("near").is_none() {
                self.error(
                    at,
                    &format!("{key}.terms"),
                    "missing: a watch needs terms (any of them fires), all or near, e.g. terms = [\"CSTO\"]",
                );
            }
            if let Some(name) = name {
                watches.push(WatchConfig {
                    name,
                    terms: terms.unwrap_or_default(),
                    all,
                    not,
                    near,
                    fields: fields.unwrap_or_else(|| DEFAULT_FIELDS.to_vec()),
                    feeds,
                });
            }
        }
        watches
    }

    /// `name = [term, ...]`, non-empty. `None` when absent or not a list (reported).
    fn term_list(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        opts: (CaseMode, bool),
    ) -> Option<Vec<TermConfig>> {
        let v = t.get(name)?;
        match v.get_ref() {
            DeValue::Array(a) if !a.is_empty() => Some(
                a.iter()
                    .enumerate()
                    .filter_map(|(j, term)| self.term(term, &format!("{key}.{name}[{j}]"), opts))
                    .collect(),
            ),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{key}.{name}"),
                    "expected a non-empty list of terms, e.g. [\"CSTO\", \"ОДКБ\"]",
                );
                None
            }
        }
    }

    /// `all = [group, ...]`: each group a list of aliases, or a single term.
    fn groups(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        opts: (CaseMode, bool),
    ) -> Vec<Vec<TermConfig>> {
        let Some(v) = t.get("all") else {
            return Vec::new();
        };
        let example = "e.g. all = [[\"CSTO\", \"ОДКБ\"], [\"Armenia\", \"Армения\"]]";
        let DeValue::Array(a) = v.get_ref() else {
            self.error(
                v.span().start,
                &format!("{key}.all"),
                format!("expected a list of groups, {example}"),
            );
            return Vec::new();
        };
        if a.is_empty() {
            self.error(
                v.span().start,
                &format!("{key}.all"),
                format!("expected a non-empty list of groups, {example}"),
            );
        }
        let mut groups = Vec::new();
        for (g, group) in a.iter().enumerate() {
            let gkey = format!("{key}.all[{g}]");
            match group.get_ref() {
                DeValue::Array(terms) if terms.is_empty() => self.error(
                    group.span().start,
                    &gkey,
                    "an empty group can never match; list at least one term",
                ),
                DeValue::Array(terms) => groups.push(
                    terms
                        .iter()
                        .enumerate()
                        .filter_map(|(j, term)| self.term(term, &format!("{gkey}[{j}]"), opts))
                        .collect(),
                ),
                _ => groups.extend(self.term(group, &gkey, opts).map(|t| vec![t])),
            }
        }
        groups
    }

    /// `near = { terms = ["A", "B"], within = N }`.
    fn near(&mut self, t: &DeTable<'_>, key: &str, opts: (CaseMode, bool)) -> Option<NearConfig> {
        let v = t.get("near")?;
        let nkey = format!("{key}.near");
        let DeValue::Table(n) = v.get_ref() else {
            self.error(
                v.span().start,
                &nkey,
                "expected a table such as near = { terms = [\"CSTO\", \"Armenia\"], within = 5 }",
            );
            return None;
        };
        self.check_keys(n, &nkey, &["terms", "within"]);
        let within = self.count(n, &nkey, "within", 0, MAX_NEAR);
        if n.get("within").is_none() {
            self.error(
                v.span().start,
                &format!("{nkey}.within"),
                "missing: how many words may stand between the two terms, e.g. within = 5",
            );
        }
        let terms = self.term_list(n, &nkey, "terms", opts);
        let terms = match terms {
            Some(terms) if terms.len() == 2 => Some([terms[0].clone(), terms[1].clone()]),
            Some(_) => {
                self.error(
                    n.get("terms").map_or(v.span().start, |t| t.span().start),
                    &format!("{nkey}.terms"),
                    "expected exactly two terms, e.g. terms = [\"CSTO\", \"Armenia\"]",
                );
                None
            }
            None => {
                if n.get("terms").is_none() {
                    self.error(
                        v.span().start,
                        &format!("{nkey}.terms"),
                        "missing: the two terms, e.g. terms = [\"CSTO\", \"Armenia\"]",
                    );
                }
                None
            }
        };
        Some(NearConfig {
            terms: terms?,
            within: within?,
        })
    }

    /// `fields = ["title", ...]`: `None` when absent (the defaults apply) or invalid.
    fn fields(&mut self, t: &DeTable<'_>, key: &str) -> Option<Vec<Field>> {
        let names = self.string_list(t, key, "fields")?;
        let mut fields = Vec::new();
        for (name, span) in names {
            match Field::parse(&name) {
                Some(f) => fields.push(f),
                None => self.error(
                    span.start,
                    &format!("{key}.fields"),
                    format!(
                        "{name:?} is not a field; use {}",
                        Field::ALL.map(|f| format!("{:?}", f.name())).join(", ")
                    ),
                ),
            }
        }
        fields.sort();
        fields.dedup();
        (!fields.is_empty()).then_some(fields)
    }

    /// `feeds = ["name", ...]`: names of configured feeds.
    fn watch_feeds(&mut self, t: &DeTable<'_>, key: &str, feed_names: &[String]) -> Vec<String> {
        let mut feeds = Vec::new();
        for (name, span) in self.string_list(t, key, "feeds").unwrap_or_default() {
            if feed_names.contains(&name) {
                if !feeds.contains(&name) {
                    feeds.push(name);
                }
            } else {
                self.error(
                    span.start,
                    &format!("{key}.feeds"),
                    format!(
                        "no feed is named {name:?}; the [[feeds]] are: {}",
                        feed_names.join(", ")
                    ),
                );
            }
        }
        feeds
    }

    /// A non-empty list of strings, with the span of each.
    fn string_list(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let v = t.get(key)?;
        let items = match v.get_ref() {
            DeValue::Array(a) if !a.is_empty() => a
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => Some((s.to_string(), item.span())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if items.is_none() {
            self.error(
                v.span().start,
                &format!("{path}.{key}"),
                "expected a non-empty list of strings (in double quotes)",
            );
        }
        items
    }

    /// A term: a string, or `{ term = "...", case = "...", stem = true }`, or
    /// `{ regex = "...", case = "..." }`. `opts` are the watch's case and stem.
    fn term(&mut self, v: &Value<'_>, key: &str, opts: (CaseMode, bool)) -> Option<TermConfig> {
        let (case, stem) = opts;
        let (text, case, stem, regex, at) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), case, stem, false, v.span().start),
            DeValue::Table(t) => {
                self.check_keys(t, key, TERM_KEYS);
                let case = self.case(t, key).unwrap_or(case);
                let own_stem = self.boolean(t, key, "stem");
                let term = self.string(t, key, "term");
                let regex = self.string(t, key, "regex");
                match (term, regex) {
                    (Some((text, span)), None) => {
                        (text, case, own_stem.unwrap_or(stem), false, span.start)
                    }
                    (None, Some((pattern, span))) => {
                        if own_stem == Some(true) {
                            self.error(
                                t.get("stem").map_or(span.start, |s| s.span().start),
                                &format!("{key}.stem"),
                                "stem does not apply to a regex; let the pattern take the rest of the word, e.g. regex = \"Содружеств\\\\w*\"",
                            );
                        }
                        (pattern, case, false, true, span.start)
                    }
                    (Some(_), Some((_, span))) => {
                        self.error(
                            span.start,
                            &format!("{key}.regex"),
                            "a term is either words (term = ...) or a pattern (regex = ...), not both",
                        );
                        return None;
                    }
                    (None, None) => {
                        self.error(
                            v.span().start,
                            &format!("{key}.term"),
                            "missing: an inline term needs term = \"...\" (or regex = \"...\")",
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.error(v.span().start, key, "expected a string, or an inline table such as { term = \"CIS\", case = \"insensitive\" }");
                return None;
            }
        };
        if regex {
            if let Err(e) = crate::watch::compile_regex(&text, case) {
                self.error(at, &format!("{key}.regex"), e);
                return None;
            }
        } else if crate::text::normalize(&text)
            .chars()
            .all(|c| !crate::text::is_word_char(c))
        {
            self.error(
                at,
                key,
                format!("term {text:?} has no letters or digits and would match nothing useful"),
            );
            return None;
        }
        Some(TermConfig {
            text,
            case,
            stem,
            regex,
        })
    }

    fn case(&mut self, t: &DeTable<'_>, key: &str) -> Option<CaseMode> {
        let (s, span) = self.string(t, key, "case")?;
        match s.as_str() {
            "auto" => Some(CaseMode::Auto),
            "sensitive" => Some(CaseMode::Sensitive),
            "insensitive" => Some(CaseMode::Insensitive),
            _ => {
                self.error(
                    span.start,
                    &format!("{key}.case"),
                    format!(
                        "{s:?} is not a case mode; use \"auto\", \"sensitive\" or \"insensitive\""
                    ),
                );
                None
            }
        }
    }

    /// A required, unique name made of letters, digits, '-', '_' and '.'.
    fn name(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        at: usize,
        seen: &mut HashSet<String>,
        what: &str,
    ) -> Option<String> {
        let Some((name, span)) = self.string(t, key, "name") else {
            self.error(
                at,
                &format!("{key}.name"),
                format!("missing: every {what} needs a name"),
            );
            return None;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            self.error(
                span.start,
                &format!("{key}.name"),
                format!(
                    "{name:?} is not a valid {what} name; use letters, digits, '-', '_' and '.'"
                ),
            );
            return None;
        }
        if !seen.insert(name.clone()) {
            self.error(
                span.start,
                &format!("{key}.name"),
                format!("{what} name {name:?} is used twice; names must be unique"),
            );
            return None;
        }
        Some(name)
    }

    fn interval(&mut self, t: &DeTable<'_>, key: &str) -> Option<Interval> {
        if let Some(DeValue::String(s)) = t.get("interval").map(|v| v.get_ref()) {
            if s == "auto" {
                return Some(Interval::Auto);
            }
        }
        let d = self.duration(t, key, "interval")?;
        if d < Duration::from_secs(1) {
            let at = t.get("interval").map_or(0, |v| v.span().start);
            self.error(
                at,
                &format!("{key}.interval"),
                "must be at least 1s, or \"auto\"",
            );
            return None;
        }
        Some(Interval::Fixed(d))
    }

    /// A duration where "0s" (off) is allowed.
    fn duration_or_zero(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<Duration> {
        if let Some(DeValue::String(s)) = t.get(key).map(|v| v.get_ref()) {
            if humantime::parse_duration(s).is_ok_and(|d| d.is_zero()) {
                return Some(Duration::ZERO);
            }
        }
        self.duration(t, path, key)
    }

    fn backlog(&mut self, t: &DeTable<'_>, key: &str) -> Option<Backlog> {
        let (s, span) = self.string(t, key, "backlog")?;
        match s.as_str() {
            "all" => Some(Backlog::All),
            "none" => Some(Backlog::None),
            _ => {
                match humantime::parse_duration(&s) {
                    Ok(d) => Some(Backlog::Window(d)),
                    Err(_) => {
                        self.error(span.start, &format!("{key}.backlog"), format!("{s:?} is not valid; use \"all\", \"none\" or a window such as \"24h\""));
                        None
                    }
                }
            }
        }
    }

    fn section<'t, 'i>(&mut self, doc: &'t DeTable<'i>, name: &str) -> Option<&'t DeTable<'i>> {
        let v = doc.get(name)?;
        match v.get_ref() {
            DeValue::Table(t) => {
                self.check_keys(t, name, &section_keys(name));
                Some(t)
            }
            _ => {
                self.error(
                    v.span().start,
                    name,
                    format!("expected a table: write it as [{name}]"),
                );
                None
            }
        }
    }

    fn array_of_tables<'t, 'i>(
        &mut self,
        doc: &'t DeTable<'i>,
        name: &str,
    ) -> Option<Vec<(&'t DeTable<'i>, usize)>> {
        let v = doc.get(name)?;
        let DeValue::Array(a) = v.get_ref() else {
            self.error(
                v.span().start,
                name,
                format!("expected a list of tables: write each entry as [[{name}]]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span().start)),
                _ => self.error(
                    item.span().start,
                    &format!("{name}[{i}]"),
                    format!("expected a table: write each entry as [[{name}]]"),
                ),
            }
        }
        Some(out)
    }

    fn check_keys(&mut self, t: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let key = if path.is_empty() {
                    k.get_ref().to_string()
                } else {
                    format!("{path}.{}", k.get_ref())
                };
                self.error(
                    k.span().start,
                    &key,
                    format!("unknown key; expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    fn string(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<(String, Range<usize>)> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected a string (in double quotes)",
                );
                None
            }
        }
    }

    fn boolean(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<bool> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected true or false",
                );
                None
            }
        }
    }

    fn duration(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<Duration> {
        let (s, span) = self.string(t, path, key)?;
        match humantime::parse_duration(&s) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => {
                self.error(
                    span.start,
                    &format!("{path}.{key}"),
                    format!("{s:?} is not a duration; write e.g. \"30s\", \"10m\", \"1h 30m\""),
                );
                None
            }
        }
    }

    fn count(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        key: &str,
        min: u64,
        max: u64,
    ) -> Option<usize> {
        let v = t.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n as usize),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    format!("expected a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    fn size(&mut self, t: &DeTable<'_>, path: &str, key: &str) -> Option<u64> {
        let v = t.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) => parse_size(s),
            _ => None,
        };
        match n {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.error(
                    v.span().start,
                    &format!("{path}.{key}"),
                    "expected a size such as \"16MiB\", \"512KiB\" or a number of bytes",
                );
                None
            }
        }
    }
}

/// The keys allowed directly in `section`, from [`KEYS`].
fn section_keys(section: &str) -> Vec<&'static str> {
    KEYS.iter()
        .filter_map(|k| {
            let mut parts = k.split('.');
            (parts.next() == Some(section))
                .then(|| parts.next())
                .flatten()
                .filter(|_| parts.next().is_none())
        })
        .collect()
}

/// "16MiB", "512 KiB", "2GB", "1000": bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

pub fn default_user_agent() -> String {
    format!(
        "feedwatch/{} (feed monitor; +https://github.com/feedwatch/feedwatch)",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text, "t.toml", None, &Env::default()) {
            Ok(_) => Vec::new(),
            Err(LoadError::Invalid { errors, .. }) => {
                errors.iter().map(ToString::to_string).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn the_example_is_valid_and_is_the_builtin_default() {
        let c = builtin(&Env::default()).unwrap();
        assert!(c.feeds.iter().any(|f| f.name == "moscow-times"));
        assert!(c.watches.iter().any(|w| w.name == "cis"));
        assert!(c.watches.iter().any(|w| w.name == "csto"));
        assert_eq!(c.storage.path, PathBuf::from("feedwatch-data/store"));
        let env = Env {
            state_directory: Some("/var/lib/feedwatch".into()),
            logs_directory: Some("/var/log/feedwatch".into()),
            feedwatch_config: None,
        };
        let c = builtin(&env).unwrap();
        assert_eq!(c.storage.path, PathBuf::from("/var/lib/feedwatch/store"));
        assert_eq!(
            c.alerts.log,
            PathBuf::from("/var/log/feedwatch/alerts.jsonl")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_line() {
        let text = "[defaults]\ninterval = \"soon\"\nbacklog = \"yesterday\"\n\n[[feeds]]\nname = \"a\"\nurl = \"ftp://x\"\ncolour = 1\n\n[[feeds]]\nname = \"a\"\nurl = \"http://x\"\n\n[[watch]]\nname = \"w\"\nterms = []\n";
        let e = errors(text);
        assert_eq!(e.len(), 6, "{e:#?}");
        assert!(
            e[0].starts_with("t.toml:2: defaults.interval: \"soon\" is not a duration"),
            "{}",
            e[0]
        );
        assert!(e[1].starts_with("t.toml:3: defaults.backlog:"), "{}", e[1]);
        assert!(
            e[2].starts_with("t.toml:7: feeds[0].url: scheme \"ftp\""),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("t.toml:8: feeds[0].colour: unknown key"),
            "{}",
            e[3]
        );
        assert!(
            e[4].starts_with("t.toml:11: feeds[1].name: feed name \"a\" is used twice"),
            "{}",
            e[4]
        );
        assert!(
            e[5].starts_with("t.toml:16: watch[0].terms: expected a non-empty list"),
            "{}",
            e[5]
        );
    }

    #[test]
    fn syntax_errors_have_lines_too() {
        let e = errors("[[feeds]]\nname = \"a\"\nurl = \"http://x\n");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
    }

    #[test]
    fn terms_may_carry_options() {
        let c = parse(
            "[[feeds]]\nname='a'\nurl='http://x/'\n[[watch]]\nname='w'\nstem=true\nterms=['Содружеств', { term = 'cis', case = 'sensitive', stem = false }]\n",
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        let t = &c.watches[0].terms;
        assert!(t[0].stem && t[0].case == CaseMode::Auto);
        assert!(!t[1].stem && t[1].case == CaseMode::Sensitive);
    }

    /// The commented example watches of the documented config are valid when uncommented.
    #[test]
    fn the_commented_example_watches_are_valid() {
        let mut extra = String::new();
        let mut inside = false;
        for line in EXAMPLE.lines() {
            if line == "# [[watch]]" {
                inside = true;
            } else if !line.starts_with("# ") || line.starts_with("# The ") {
                inside = inside && line.starts_with("# ");
            }
            if inside && line.starts_with("# ") && !line.ends_with(':') {
                extra.push_str(&line[2..]);
                extra.push('\n');
            }
        }
        assert!(extra.matches("[[watch]]").count() >= 3, "{extra}");
        let text = format!("{EXAMPLE}\n{extra}");
        let c = match parse(&text, "example+", None, &Env::default()) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{extra}"),
        };
        let w = c.watches.iter().find(|w| w.name == "csto-armenia").unwrap();
        assert_eq!(w.all.len(), 2);
        assert!(w.all[1][1].stem && w.not[1].regex);
        let w = c
            .watches
            .iter()
            .find(|w| w.name == "border-troops")
            .unwrap();
        assert_eq!(w.near.as_ref().map(|n| n.within), Some(5));
        assert_eq!(w.fields, [Field::Title, Field::Summary]);
        assert_eq!(w.feeds, ["moscow-times", "eurasianet"]);
    }

    const ONE_FEED: &str =
        "[[feeds]]\nname='a'\nurl='http://x/'\n[[feeds]]\nname='b'\nurl='http://y/'\n";

    /// Every rule key, read into the watch: terms, all (groups and single terms), not,
    /// near, fields, feeds, and watch-level options reaching every term.
    #[test]
    fn rules_are_read() {
        let c = parse(
            &format!(
                "{ONE_FEED}[[watch]]\nname='w'\ncase='insensitive'\nterms=['CIS']\nall=[['x','y'], 'z']\nnot=[{{ regex = '(?i)cup' }}]\nnear={{ terms=['A', {{ term='B', stem=true }}], within=3 }}\nfields=['link','title']\nfeeds=['b']\n"
            ),
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        let w = &c.watches[0];
        assert_eq!(w.terms[0].case, CaseMode::Insensitive);
        assert_eq!(w.all.len(), 2);
        assert_eq!(w.all[1][0].text, "z");
        assert!(w.not[0].regex && !w.not[0].stem);
        let near = w.near.as_ref().unwrap();
        assert_eq!(near.within, 3);
        assert!(near.terms[1].stem && near.terms[0].case == CaseMode::Insensitive);
        assert_eq!(w.fields, [Field::Title, Field::Link]);
        assert_eq!(w.feeds, ["b"]);
        // without fields, the defaults; without terms but with near, fine
        let c = parse(
            &format!("{ONE_FEED}[[watch]]\nname='w'\nnear={{ terms=['A','B'], within=0 }}\n"),
            "t",
            None,
            &Env::default(),
        )
        .unwrap();
        assert_eq!(c.watches[0].fields, DEFAULT_FIELDS);
        assert!(c.watches[0].terms.is_empty());
    }

    /// Mistakes in rules: each reported with its line and key, and what would be valid.
    #[test]
    fn rule_errors_have_lines() {
        let text = format!(
            "{ONE_FEED}[[watch]]\nname='w'\nterms=[{{ regex = '(' }}, {{ regex = 'a*' }}, {{ regex = 'x', stem = true }}, {{ term = 'a', regex = 'b' }}]\nall=[[]]\nnear={{ terms=['A'], within=3, far=1 }}\nfields=['body']\nfeeds=['c']\nnot=[]\n[[watch]]\nname='v'\nnot=['x']\n"
        );
        let e = errors(&text);
        let expect = [
            "t.toml:9: watch[0].terms[0].regex: invalid regex \"(\": unclosed group",
            "t.toml:9: watch[0].terms[1].regex: regex \"a*\" matches empty text",
            "t.toml:9: watch[0].terms[2].stem: stem does not apply to a regex",
            "t.toml:9: watch[0].terms[3].regex: a term is either words",
            "t.toml:10: watch[0].all[0]: an empty group can never match",
            "t.toml:11: watch[0].near.far: unknown key; expected one of: terms, within",
            "t.toml:11: watch[0].near.terms: expected exactly two terms",
            "t.toml:12: watch[0].fields: \"body\" is not a field; use \"title\", \"summary\", \"content\", \"categories\", \"link\"",
            "t.toml:13: watch[0].feeds: no feed is named \"c\"; the [[feeds]] are: a, b",
            "t.toml:14: watch[0].not: expected a non-empty list of terms",
            "t.toml:15: watch[1].terms: missing: a watch needs terms (any of them fires), all or near",
        ];
        for x in expect {
            assert!(
                e.iter().any(|e| e.starts_with(x)),
                "missing {x:?} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_directory() {
        let c = parse(
            "[storage]\npath='store'\n[alerts]\nlog='/abs/a.jsonl'\n[[feeds]]\nname='a'\nurl='http://x/'\n",
            "t",
            Some(Path::new("/etc/fw")),
            &Env::default(),
        )
        .unwrap();
        assert_eq!(c.storage.path, PathBuf::from("/etc/fw/store"));
        assert_eq!(c.alerts.log, PathBuf::from("/abs/a.jsonl"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
    }

    /// Every accepted key appears in the documented example, set or commented out, under
    /// its section, so the example stays the complete reference. Keys of inline tables
    /// count too: a term table (`{ term = ...}` or `{ regex = ...}`) documents
    /// `watch.terms.KEY` wherever it stands; another inline table documents `KEY` under the
    /// key it is the value of (`near = { within = 5 }`: `watch.near.within`).
    #[test]
    fn every_key_is_documented_in_the_example() {
        let mut documented = HashSet::new();
        let mut section = String::new();
        let mut open_list: Option<String> = None;
        for line in EXAMPLE.lines() {
            let l = line.trim_start_matches('#').trim();
            let header = l.trim_matches(|c| c == '[' || c == ']');
            if l.starts_with('[')
                && l.ends_with(']')
                && !header.is_empty()
                && header
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                section = header.to_string();
                continue;
            }
            let lead = l
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
            if let Some(k) = lead {
                documented.insert(format!("{section}.{k}"));
            }
            let parent = lead.map(str::to_string).or_else(|| open_list.clone());
            for (depth, keys) in inline_tables(l) {
                let term_table = keys.iter().any(|k| k == "term" || k == "regex");
                for k in keys {
                    if term_table {
                        documented.insert(format!("{section}.terms.{k}"));
                    } else if let (1, Some(p)) = (depth, &parent) {
                        documented.insert(format!("{section}.{p}.{k}"));
                    }
                }
            }
            if let Some(k) = lead {
                let value = l.split_once('=').map_or("", |(_, v)| v.trim());
                if value.starts_with('[') && !value.contains(']') {
                    open_list = Some(k.to_string());
                }
            } else if l.starts_with(']') {
                open_list = None;
            }
        }
        let missing: Vec<_> = KEYS.iter().filter(|k| !documented.contains(**k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from config/feedwatch.toml: {missing:?}"
        );
    }

    /// The keys of each inline table on a line, with its nesting depth (1: outermost),
    /// skipping what is inside strings.
    fn inline_tables(line: &str) -> Vec<(usize, Vec<String>)> {
        let mut done = Vec::new();
        let mut open: Vec<Vec<String>> = Vec::new();
        let mut chars = line.chars().peekable();
        let mut quote = None;
        let mut expect_key = false;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '{') => {
                    open.push(Vec::new());
                    expect_key = true;
                }
                (None, '}') => {
                    if let Some(keys) = open.pop() {
                        done.push((open.len() + 1, keys));
                    }
                }
                (None, ',') => expect_key = !open.is_empty(),
                (None, c) if expect_key && (c.is_alphanumeric() || c == '_') => {
                    let mut key = c.to_string();
                    while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_')
                    {
                        key.push(n);
                        chars.next();
                    }
                    if let Some(keys) = open.last_mut() {
                        keys.push(key);
                    }
                    expect_key = false;
                }
                (None, c) if !c.is_whitespace() => expect_key = false,
                _ => {}
            }
        }
        done
    }
}
