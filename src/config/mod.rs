//! The configuration file: where it is found, what it may say, and its validation into
//! ready-to-use types.
//!
//! The reader walks the TOML document itself (with spans) instead of stopping at serde's
//! first error, so an operator sees every problem at once, each as `file:line: key: what is
//! wrong and what would be valid`. [`KEYS`] is the one list of accepted keys: the reader
//! rejects anything else, and a test checks that each one is documented in
//! `config/feedwatch.toml`, with the built-in default where the example shows one.
//!
//! This file holds the whole config and its loading; `reader` the generic walk over the
//! document; one file per section the types and their reading: `service` (`[storage]`,
//! `[alerts]`, `[api]`, `[fetch]`, `[schedule]`), `feeds` (`[defaults]`, `[[feeds]]`),
//! `watches` (`[[watch]]`), `terms` (the terms of a watch) and `sinks` (`[[sinks]]`). Each
//! section's defaults are its type's `Default` (or associated constants for the entries of
//! a list); the reader starts from them and overrides what the file sets.

mod cluster;
mod control;
mod feeds;
mod probe;
mod reader;
mod service;
mod sink_email;
mod sink_kinds;
mod sinks;
mod terms;
mod watches;

use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use cluster::{ClusterConfig, host_name};
pub use control::ControlConfig;
pub use feeds::{Backlog, DefaultsConfig, FeedConfig, Interval, MAX_BACKLOG};
use reader::Reader;
pub use reader::{MAX_DURATION, parse_size};
pub use service::{
    AlertsConfig, ApiConfig, DEFAULT_KEEP, FetchConfig, MAX_KEEP, ScheduleConfig, StorageConfig,
    default_user_agent,
};
pub use sinks::{
    EmailSink, MatrixSink, NtfySink, Rate, SinkConfig, SinkKind, Starttls, TelegramSink, secret_url,
};
pub use terms::{CaseMode, TermConfig, compile_regex};
pub use watches::{DEFAULT_FIELDS, Field, MAX_NEAR, NearConfig, WatchConfig};

/// The documented example; also the built-in default when no config file exists.
pub const EXAMPLE: &str = include_str!("../../config/feedwatch.toml");

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
    "api.allow_remote",
    "api.hosts",
    "control.socket",
    "control.group",
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
    "fetch.full_text_wait",
    "schedule.min_interval",
    "schedule.max_interval",
    "schedule.max_backoff",
    "schedule.report_after",
    "defaults.interval",
    "defaults.backlog",
    "defaults.full_text",
    "feeds.name",
    "feeds.url",
    "feeds.interval",
    "feeds.backlog",
    "feeds.enabled",
    "feeds.full_text",
    "sinks.name",
    "sinks.kind",
    "sinks.url",
    "sinks.secret",
    "sinks.secret_file",
    "sinks.command",
    "sinks.template",
    "sinks.topic",
    "sinks.token_file",
    "sinks.priority",
    "sinks.tags",
    "sinks.api_url",
    "sinks.chat_id",
    "sinks.rate",
    "sinks.homeserver",
    "sinks.room",
    "sinks.url_file",
    "sinks.smtp",
    "sinks.starttls",
    "sinks.username",
    "sinks.password_file",
    "sinks.from",
    "sinks.to",
    "sinks.ca_file",
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
    "cluster.servers",
    "cluster.creds_file",
    "cluster.name",
    "cluster.node",
];

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, for messages: a path, or "built-in default".
    pub source: String,
    pub storage: StorageConfig,
    pub alerts: AlertsConfig,
    pub api: ApiConfig,
    pub control: ControlConfig,
    pub fetch: FetchConfig,
    pub schedule: ScheduleConfig,
    pub feeds: Vec<FeedConfig>,
    pub watches: Vec<WatchConfig>,
    pub sinks: Vec<SinkConfig>,
    /// `[cluster]`: `None` runs alone, as ever.
    pub cluster: Option<ClusterConfig>,
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
    load_as(explicit, env, true)
}

/// [`load`] for a command that needs only the watches (`match`): a config without
/// `[[feeds]]` is valid for it.
pub fn load_watches(explicit: Option<&Path>, env: &Env) -> Result<Config, LoadError> {
    load_as(explicit, env, false)
}

fn load_as(explicit: Option<&Path>, env: &Env, need_feeds: bool) -> Result<Config, LoadError> {
    match path(explicit, env) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let file = path.display().to_string();
            parse_as(&text, &file, Some(&base), env, need_feeds)
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
    parse_as(text, file, base, env, true)
}

fn parse_as(
    text: &str,
    file: &str,
    base: Option<&Path>,
    env: &Env,
    need_feeds: bool,
) -> Result<Config, LoadError> {
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
    if !need_feeds {
        r.errors
            .retain(|e| !(e.key == "feeds" && e.message.starts_with("no [[feeds]]")));
    }
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

impl Reader<'_> {
    fn config(&mut self, doc: &DeTable<'_>, base: Option<&Path>, env: &Env) -> Config {
        self.check_keys(
            doc,
            "",
            &[
                "storage", "alerts", "api", "control", "fetch", "schedule", "defaults", "feeds",
                "watch", "sinks", "cluster",
            ],
        );
        let empty = DeTable::default();
        let storage = self.section(doc, "storage").unwrap_or(&empty);
        let alerts = self.section(doc, "alerts").unwrap_or(&empty);
        let fetch = self.section(doc, "fetch").unwrap_or(&empty);
        let api = self.section(doc, "api").unwrap_or(&empty);
        let control = self.section(doc, "control").unwrap_or(&empty);
        let defaults = self.section(doc, "defaults").unwrap_or(&empty);
        let schedule = self.section(doc, "schedule").unwrap_or(&empty);
        let resolve = |p: PathBuf| match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        };

        let storage = self.storage(storage, env, resolve);
        let alerts = self.alerts(alerts, env, resolve);
        let api = self.api(api);
        let control = self.control(control, resolve);
        let fetch = self.fetch(fetch);
        let schedule_at = doc.get("schedule").map_or(0, |v| v.span().start);
        let schedule = self.schedule(schedule, schedule_at);
        let defaults = self.defaults(defaults);

        let (feeds, feed_names) = self.feeds(doc, defaults);
        let watches = self.watches(doc, &feed_names);
        let sinks = self.sinks(doc, &watches, base);
        let cluster = self.cluster(doc, resolve);
        Config {
            source: self.file.to_string(),
            storage,
            alerts,
            api,
            control,
            fetch,
            schedule,
            feeds,
            watches,
            sinks,
            cluster,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    pub(super) fn errors(text: &str) -> Vec<String> {
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

    /// `full_text` in `[defaults]` reaches every feed that does not say otherwise;
    /// `fetch.full_text_wait` may be zero (never wait).
    #[test]
    fn full_text_per_feed_and_in_defaults() {
        let text = "[fetch]\nfull_text_wait = \"0s\"\n[defaults]\nfull_text = true\n[[feeds]]\nname = \"a\"\nurl = \"http://x/\"\n[[feeds]]\nname = \"b\"\nurl = \"http://y/\"\nfull_text = false\n";
        let c = parse(text, "t.toml", None, &Env::default()).unwrap();
        assert!(c.feeds[0].full_text);
        assert!(!c.feeds[1].full_text);
        assert_eq!(c.fetch.full_text_wait, std::time::Duration::ZERO);
        let e = parse(
            "[[feeds]]\nname = \"a\"\nurl = \"http://x/\"\nfull_text = \"yes\"\n",
            "t.toml",
            None,
            &Env::default(),
        )
        .unwrap_err();
        assert!(format!("{e}").contains("feeds[0].full_text"), "{e}");
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

    /// Each line of the example that sets a key, as `(section, key, line)`: set
    /// (`key = value`) or commented out with one `# ` (`# key = value`, which shows a
    /// default or an example), the line without its `# `. Indented prose such as
    /// `#   terms = [...]   one of these...` is not a setting.
    fn example_settings() -> Vec<(String, String, String)> {
        let mut settings = Vec::new();
        let mut section = String::new();
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
            let text = line.strip_prefix("# ").unwrap_or(line);
            if !text.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let key = text.split_once('=').map(|(k, _)| k.trim());
            if let Some(k) = key.filter(|k| k.chars().all(|c| c.is_alphanumeric() || c == '_')) {
                settings.push((section.clone(), k.to_string(), text.to_string()));
            }
        }
        settings
    }

    /// Every value the example shows in the service sections and `[defaults]` (commented
    /// out: "a commented line shows the default") is the built-in default, the `Default`
    /// of its section, so the documentation and the code cannot drift apart. Only the two
    /// paths are set to something else: their defaults depend on the environment
    /// (`the_example_is_valid_and_is_the_builtin_default`). A key of these sections that
    /// the example does not show fails the test too.
    #[test]
    fn the_documented_defaults_are_the_builtin_defaults() {
        const SECTIONS: [&str; 6] = ["storage", "alerts", "api", "fetch", "schedule", "defaults"];
        const FROM_ENV: [&str; 2] = ["storage.path", "alerts.log"];
        let mut shown: Vec<(String, String, String)> = Vec::new();
        for (section, key, line) in example_settings() {
            let name = format!("{section}.{key}");
            if SECTIONS.contains(&section.as_str())
                && !FROM_ENV.contains(&name.as_str())
                && !shown.iter().any(|(s, k, _)| (s, k) == (&section, &key))
            {
                shown.push((section, key, line));
            }
        }
        let mut text = String::new();
        for section in SECTIONS {
            text.push_str(&format!("[{section}]\n"));
            for (_, _, line) in shown.iter().filter(|(s, _, _)| s == section) {
                text.push_str(line);
                text.push('\n');
            }
        }
        text.push_str("[[feeds]]\nname = \"a\"\nurl = \"http://x/\"\n");
        let c = match parse(&text, "defaults", None, &Env::default()) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{text}"),
        };
        assert_eq!(c.storage, StorageConfig::default(), "{text}");
        assert_eq!(c.alerts, AlertsConfig::default(), "{text}");
        assert_eq!(c.api, ApiConfig::default(), "{text}");
        assert_eq!(c.control, ControlConfig::default(), "{text}");
        assert_eq!(c.fetch, FetchConfig::default(), "{text}");
        assert_eq!(c.schedule, ScheduleConfig::default(), "{text}");
        let defaults = DefaultsConfig::default();
        assert_eq!(
            (
                c.feeds[0].interval,
                c.feeds[0].backlog,
                c.feeds[0].full_text
            ),
            (defaults.interval, defaults.backlog, defaults.full_text),
            "{text}"
        );
        let missing: Vec<_> = KEYS
            .iter()
            .filter(|k| {
                let (section, key) = k.split_once('.').unwrap();
                SECTIONS.contains(&section)
                    && !FROM_ENV.contains(k)
                    && !shown
                        .iter()
                        .any(|(s, x, _)| (s.as_str(), x.as_str()) == (section, key))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "keys whose default config/feedwatch.toml does not show: {missing:?}"
        );
    }

    /// The defaults the example shows for the entries of a list (`# enabled = true` in a
    /// feed, `# case = "auto"` and `# stem = false` in a watch, `# timeout = "30s"` in a
    /// sink) are the built-in ones: an entry that sets them reads the same as one that
    /// leaves them out. The example's other commented entry keys are examples, not
    /// defaults (`# interval = "auto"`, `# every = "15m"`).
    #[test]
    fn the_documented_entry_defaults_are_the_builtin_defaults() {
        const SHOWN: [(&str, &str); 4] = [
            ("feeds", "enabled"),
            ("watch", "case"),
            ("watch", "stem"),
            ("sinks", "timeout"),
        ];
        let settings = example_settings();
        let documented = |section: &str| -> String {
            SHOWN
                .iter()
                .filter(|(s, _)| *s == section)
                .map(|(s, k)| {
                    let found = settings
                        .iter()
                        .find(|(x, y, _)| (x.as_str(), y.as_str()) == (*s, *k));
                    match found {
                        Some((_, _, line)) => format!("{line}\n"),
                        None => {
                            panic!("config/feedwatch.toml does not show the default of {s}.{k}")
                        }
                    }
                })
                .collect()
        };
        let entries = |feeds: &str, watch: &str, sinks: &str| {
            let text = format!(
                "[[feeds]]\nname = \"a\"\nurl = \"http://x/\"\n{feeds}\
                 [[watch]]\nname = \"w\"\nterms = [\"CSTO\"]\n{watch}\
                 [[sinks]]\nname = \"s\"\nkind = \"exec\"\ncommand = [\"true\"]\n{sinks}"
            );
            match parse(&text, "entries", None, &Env::default()) {
                Ok(c) => c,
                Err(e) => panic!("{e}\n{text}"),
            }
        };
        let set = entries(
            &documented("feeds"),
            &documented("watch"),
            &documented("sinks"),
        );
        let unset = entries("", "", "");
        assert_eq!(set.feeds[0].enabled, FeedConfig::DEFAULT_ENABLED);
        assert_eq!(set.watches[0].terms[0].case, CaseMode::default());
        assert!(!set.watches[0].terms[0].stem);
        assert_eq!(set.sinks[0].timeout, SinkConfig::DEFAULT_TIMEOUT);
        assert_eq!(set.feeds, unset.feeds);
        assert_eq!(set.watches, unset.watches);
        assert_eq!(set.sinks, unset.sinks);
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
