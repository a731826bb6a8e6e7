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
    "fetch.timeout",
    "fetch.connect_timeout",
    "fetch.read_timeout",
    "fetch.max_body",
    "fetch.max_redirects",
    "fetch.concurrency",
    "fetch.user_agent",
    "defaults.interval",
    "defaults.backlog",
    "feeds.name",
    "feeds.url",
    "feeds.interval",
    "feeds.backlog",
    "feeds.enabled",
    "watch.name",
    "watch.terms",
    "watch.case",
    "watch.stem",
    "watch.terms.term",
    "watch.terms.case",
    "watch.terms.stem",
];

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, for messages: a path, or "built-in default".
    pub source: String,
    pub storage: StorageConfig,
    pub alerts: AlertsConfig,
    pub fetch: FetchConfig,
    pub feeds: Vec<FeedConfig>,
    pub watches: Vec<WatchConfig>,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feed's identity (its URL may change); renaming makes a new feed.
    pub name: String,
    pub url: Url,
    pub interval: Duration,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub name: String,
    pub terms: Vec<TermConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermConfig {
    pub text: String,
    pub case: CaseMode,
    /// Prefix match: the term may be followed by more letters of the same word.
    pub stem: bool,
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

/// Finds and loads the config: `explicit` (from `--config`), else `$FEEDWATCH_CONFIG`, else
/// [`SYSTEM_PATH`] if it exists, else the built-in default.
pub fn load(explicit: Option<&Path>, env: &Env) -> Result<Config, LoadError> {
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.feedwatch_config.clone())
        .or_else(|| Some(PathBuf::from(SYSTEM_PATH)).filter(|p| p.exists()));
    match path {
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
            &["storage", "alerts", "fetch", "defaults", "feeds", "watch"],
        );
        let empty = DeTable::default();
        let storage = self.section(doc, "storage").unwrap_or(&empty);
        let alerts = self.section(doc, "alerts").unwrap_or(&empty);
        let fetch = self.section(doc, "fetch").unwrap_or(&empty);
        let defaults = self.section(doc, "defaults").unwrap_or(&empty);
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
        };
        let interval = self
            .interval(defaults, "defaults")
            .unwrap_or(Duration::from_secs(600));
        let backlog = self
            .backlog(defaults, "defaults")
            .unwrap_or(Backlog::Window(Duration::from_secs(24 * 3600)));

        let feeds = self.feeds(doc, interval, backlog);
        let watches = self.watches(doc);
        Config {
            source: self.file.to_string(),
            storage,
            alerts,
            fetch,
            feeds,
            watches,
        }
    }

    fn feeds(
        &mut self,
        doc: &DeTable<'_>,
        interval: Duration,
        backlog: Backlog,
    ) -> Vec<FeedConfig> {
        let mut feeds = Vec::new();
        let Some(items) = self.array_of_tables(doc, "feeds") else {
            self.error(
                0,
                "feeds",
                "no [[feeds]] entries: add at least one feed to poll",
            );
            return feeds;
        };
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
        feeds
    }

    fn watches(&mut self, doc: &DeTable<'_>) -> Vec<WatchConfig> {
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
            let mut terms = Vec::new();
            match t.get("terms") {
                None => self.error(
                    at,
                    &format!("{key}.terms"),
                    "missing: a watch needs a list of terms, e.g. terms = [\"CSTO\"]",
                ),
                Some(v) => match v.get_ref() {
                    DeValue::Array(a) if !a.is_empty() => {
                        for (j, term) in a.iter().enumerate() {
                            let tkey = format!("{key}.terms[{j}]");
                            if let Some(term) = self.term(term, &tkey, case, stem) {
                                terms.push(term);
                            }
                        }
                    }
                    _ => self.error(
                        v.span().start,
                        &format!("{key}.terms"),
                        "expected a non-empty list of terms, e.g. terms = [\"CSTO\", \"ОДКБ\"]",
                    ),
                },
            }
            if let Some(name) = name {
                watches.push(WatchConfig { name, terms });
            }
        }
        watches
    }

    /// A term: a string, or `{ term = "...", case = "...", stem = true }`.
    fn term(&mut self, v: &Value<'_>, key: &str, case: CaseMode, stem: bool) -> Option<TermConfig> {
        let (text, case, stem, at) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), case, stem, v.span().start),
            DeValue::Table(t) => {
                self.check_keys(t, key, &["term", "case", "stem"]);
                let case = self.case(t, key).unwrap_or(case);
                let stem = self.boolean(t, key, "stem").unwrap_or(stem);
                let Some((text, span)) = self.string(t, key, "term") else {
                    self.error(
                        v.span().start,
                        &format!("{key}.term"),
                        "missing: an inline term needs term = \"...\"",
                    );
                    return None;
                };
                (text, case, stem, span.start)
            }
            _ => {
                self.error(v.span().start, key, "expected a string, or an inline table such as { term = \"CIS\", case = \"insensitive\" }");
                return None;
            }
        };
        if crate::text::normalize(&text)
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
        Some(TermConfig { text, case, stem })
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

    fn interval(&mut self, t: &DeTable<'_>, key: &str) -> Option<Duration> {
        let d = self.duration(t, key, "interval")?;
        if d < Duration::from_secs(1) {
            let at = t.get("interval").map_or(0, |v| v.span().start);
            self.error(at, &format!("{key}.interval"), "must be at least 1s");
            return None;
        }
        Some(d)
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
    /// its section, so the example stays the complete reference.
    #[test]
    fn every_key_is_documented_in_the_example() {
        let mut documented = HashSet::new();
        let mut section = String::new();
        for line in EXAMPLE.lines() {
            let l = line.trim_start_matches('#').trim();
            if let Some(h) = l.strip_prefix('[') {
                section = h.trim_matches(|c| c == '[' || c == ']').to_string();
                continue;
            }
            if let Some((k, _)) = l.split_once('=') {
                documented.insert(format!("{section}.{}", k.trim()));
            }
            for sub in ["term", "case", "stem"] {
                if l.contains("{ term =") && l.contains(&format!("{sub} =")) {
                    documented.insert(format!("{section}.terms.{sub}"));
                }
            }
        }
        let missing: Vec<_> = KEYS.iter().filter(|k| !documented.contains(**k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from config/feedwatch.toml: {missing:?}"
        );
    }
}
