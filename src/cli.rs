//! The command line: what each command does, its output, and its exit code.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::alert::{Alert, rfc3339};
use crate::config::{self, Backlog, Config, Env, LoadError};
use crate::service::{self, Service};
use crate::store::{Store, StoreError};
use crate::watch::is_case_sensitive;

const EXIT_CODES: &str = "\
Exit codes:
  0  done (for `once`: the cycle ran; feeds that failed are reported, not fatal)
  1  runtime failure (store or disk)
  2  invalid config or usage
  3  the store is held by a running feedwatch (stop it first)

Config: --config PATH, else $FEEDWATCH_CONFIG, else /etc/feedwatch/feedwatch.toml,
else the built-in default (config/feedwatch.toml, data in ./feedwatch-data/).";

/// Watches news feeds and writes one alert per item that mentions a watched term.
#[derive(Debug, Parser)]
#[command(name = "feedwatch", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The config file (TOML); see config/feedwatch.toml for every key.
    #[arg(long, short, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: poll every feed on its schedule until SIGTERM or SIGINT.
    Run,
    /// Poll every feed once, write the alerts, and exit.
    Once,
    /// Validate the config and show what would be polled and watched (exit 2 if invalid).
    Check,
    /// Show each feed's state: last success, last error, items.
    Feeds {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List stored items, newest first.
    Items {
        #[arg(long)]
        json: bool,
        /// Only items seen in this feed.
        #[arg(long, value_name = "NAME")]
        feed: Option<String>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// List alerts raised, newest first (the same objects as in the alert log).
    Alerts {
        #[arg(long)]
        json: bool,
        /// Only alerts of this watch.
        #[arg(long, value_name = "NAME")]
        watch: Option<String>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Write the whole store (feeds, items, seen keys, alerts, pending alerts) as JSON lines:
    /// a backup, or the way to move a store to another machine or feedwatch version.
    Export {
        /// Write here (replaced only once the export is complete) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Restore an export into an empty store (storage.path of the config).
    Import {
        /// The file written by `feedwatch export` (`-` for stdin).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Poll a bundled sample feed served on 127.0.0.1 and show the alerts (no network needed).
    Demo,
}

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const HELD: u8 = 3;
}

/// Runs a parsed command line; prints errors and returns the exit code.
pub fn main(cli: Cli) -> ExitCode {
    init_logging(&cli.command);
    match dispatch(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("feedwatch: {e:#}");
            ExitCode::from(code_for(&e))
        }
    }
}

fn code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<LoadError>().is_some() {
        exit::CONFIG
    } else if matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Held { .. })
    ) {
        exit::HELD
    } else {
        exit::RUNTIME
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo = cli.command {
        let out = runtime()?.block_on(crate::demo::run())?;
        print!("{out}");
        return Ok(());
    }
    let config = config::load(cli.config.as_deref(), &Env::from_process())?;
    match cli.command {
        Command::Check => {
            print!("{}", describe(&config));
            Ok(())
        }
        Command::Run => runtime()?.block_on(async {
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                service::signals().await;
                let _ = stop_tx.send(true);
            });
            loop {
                let service = Service::open(config.clone()).await?;
                let mut stop = stop_rx.clone();
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                match service.run(shutdown).await? {
                    service::Ended::Stopped => return Ok(()),
                    // opening again compacts the store
                    service::Ended::Compact => {
                        tracing::info!("reopening the store to compact it")
                    }
                }
            }
        }),
        Command::Once => runtime()?.block_on(async {
            let service = Service::open(config).await?;
            let cycle = service.once().await?;
            print!("{}", cycle.summary(&service.config.alerts.log));
            Ok(())
        }),
        Command::Feeds { json } => feeds(&config, json),
        Command::Items { json, feed, limit } => items(&config, json, feed.as_deref(), limit),
        Command::Alerts { json, watch, limit } => alerts(&config, json, watch.as_deref(), limit),
        Command::Export { output } => export(&config, output.as_deref()),
        Command::Import { file } => import(&config, &file),
        Command::Demo => unreachable!("handled above"),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Logs go to stderr: human-readable on a terminal, without colours or timestamps under
/// systemd (the journal adds its own). `RUST_LOG` overrides the level.
fn init_logging(command: &Command) {
    use tracing_subscriber::EnvFilter;
    let default = match command {
        Command::Run => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if journal {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// What `check` prints: where things are, every feed and every watch.
pub fn describe(c: &Config) -> String {
    let mut s = format!("config ok: {}\n", c.source);
    s.push_str(&format!(
        "store: {} (item text kept {} after first sighting, keys forever)\nalert log: {}\n",
        c.storage.path.display(),
        days(c.storage.keep),
        c.alerts.log.display()
    ));
    s.push_str(&format!("\n{} feeds:\n", c.feeds.len()));
    for f in &c.feeds {
        s.push_str(&format!(
            "  {:<16} every {:<6} backlog {:<5} {}{}\n",
            f.name,
            humantime::format_duration(f.interval).to_string(),
            backlog(f.backlog),
            f.url,
            if f.enabled { "" } else { "  (paused)" }
        ));
    }
    s.push_str(&format!("\n{} watches:\n", c.watches.len()));
    if c.watches.is_empty() {
        s.push_str("  (none: items are stored but nothing alerts; add [[watch]] tables)\n");
    }
    for w in &c.watches {
        let terms: Vec<String> = w
            .terms
            .iter()
            .map(|t| {
                let mut flags = Vec::new();
                if is_case_sensitive(&crate::text::normalize(&t.text), t.case) {
                    flags.push("exact case");
                }
                if t.stem {
                    flags.push("stem");
                }
                if flags.is_empty() {
                    format!("{:?}", t.text)
                } else {
                    format!("{:?} ({})", t.text, flags.join(", "))
                }
            })
            .collect();
        s.push_str(&format!("  {}: {}\n", w.name, terms.join(", ")));
    }
    s
}

/// A duration in whole days as "90d" (humantime would say "2months 29days 13h 26m 24s").
fn days(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s > 0 && s % 86400 == 0 => format!("{}d", s / 86400),
        _ => humantime::format_duration(d).to_string(),
    }
}

fn backlog(b: Backlog) -> String {
    match b {
        Backlog::All => "all".into(),
        Backlog::None => "none".into(),
        Backlog::Window(d) => humantime::format_duration(d).to_string(),
    }
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&config.storage.path, config.storage.cache)?)
}

fn feeds(config: &Config, json: bool) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let states = store.feed_states()?;
    let now = Utc::now();
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "{:<16} {:<12} {:<14} {:>8} {:>7}  LAST ERROR",
            "FEED", "STATE", "LAST SUCCESS", "FAILURES", "ITEMS"
        )?;
    }
    let mut names: Vec<&str> = config.feeds.iter().map(|f| f.name.as_str()).collect();
    for s in &states {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    for name in names {
        let conf = config.feeds.iter().find(|f| f.name == name);
        let st = states.iter().find(|s| s.name == name);
        let state = match (conf, st) {
            (None, _) => "not in config",
            (Some(c), _) if !c.enabled => "paused",
            (_, None) => "never polled",
            (_, Some(s)) if s.failures > 0 => "failing",
            (_, Some(s)) if s.last_success.is_none() => "never polled",
            _ => "ok",
        };
        if json {
            let v = serde_json::json!({
                "feed": name,
                "url": conf.map(|c| c.url.to_string()).or(st.map(|s| s.url.clone())),
                "state": state,
                "last_poll": st.and_then(|s| s.last_poll).map(rfc3339),
                "last_success": st.and_then(|s| s.last_success).map(rfc3339),
                "last_error": st.and_then(|s| s.last_error.clone()),
                "last_error_at": st.and_then(|s| s.last_error_at).map(rfc3339),
                "failures": st.map_or(0, |s| s.failures),
                "items": st.map_or(0, |s| s.items),
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:<16} {:<12} {:<14} {:>8} {:>7}  {}",
                name,
                state,
                st.and_then(|s| s.last_success)
                    .map_or("-".into(), |t| ago(t, now)),
                st.map_or(0, |s| s.failures),
                st.map_or(0, |s| s.items),
                st.and_then(|s| s.last_error.as_deref()).unwrap_or("")
            )?;
        }
    }
    Ok(())
}

fn items(config: &Config, json: bool, feed: Option<&str>, limit: usize) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let items = store.items()?;
    let mut out = std::io::stdout().lock();
    let selected = items
        .iter()
        .filter(|i| feed.is_none_or(|f| i.feeds.iter().any(|x| x == f)));
    for i in selected.take(if limit == 0 { usize::MAX } else { limit }) {
        if json {
            let v = serde_json::json!({
                "feed": i.feeds[0],
                "feeds": i.feeds,
                "key": i.key,
                "guid": i.guid,
                "title": i.title,
                "link": i.link,
                "published": i.published.map(rfc3339),
                "first_seen": rfc3339(i.first_seen),
            });
            writeln!(out, "{v}")?;
        } else {
            let when = i.published.unwrap_or(i.first_seen).format("%Y-%m-%d %H:%M");
            writeln!(
                out,
                "{when}  {:<16} {}  {}",
                i.feeds[0],
                i.title,
                i.link.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

fn alerts(config: &Config, json: bool, watch: Option<&str>, limit: usize) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let alerts = store.alerts()?;
    let mut out = std::io::stdout().lock();
    let selected = alerts.iter().filter(|a| watch.is_none_or(|w| a.watch == w));
    for a in selected.take(if limit == 0 { usize::MAX } else { limit }) {
        if json {
            writeln!(out, "{}", a.to_line())?;
        } else {
            write_alert(&mut out, a)?;
        }
    }
    Ok(())
}

/// `export`: to stdout, or to a temporary file beside FILE renamed over it at the end, so
/// a failed export never leaves a truncated file that passes for a backup.
fn export(config: &Config, output: Option<&Path>) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let counts = store.export(&mut out)?;
        eprintln!("exported {counts}");
        return Ok(());
    };
    let tmp = path.with_file_name(format!(
        ".{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let file = std::fs::File::create(&tmp).with_context(|| {
        format!(
            "exporting to {}: cannot create {}",
            path.display(),
            tmp.display()
        )
    })?;
    let mut out = std::io::BufWriter::new(file);
    let written = store.export(&mut out).and_then(|counts| {
        let file = out.into_inner().map_err(|e| StoreError::Io {
            step: "writing the export".into(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| StoreError::Io {
            step: "syncing the export".into(),
            source,
        })?;
        Ok(counts)
    });
    let counts = match written {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("exporting to {}", path.display()));
        }
    };
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "exporting to {}: renaming {}",
            path.display(),
            tmp.display()
        )
    })?;
    eprintln!("exported {counts} to {}", path.display());
    Ok(())
}

/// `import`: into the configured store, which must be empty.
fn import(config: &Config, file: &Path) -> anyhow::Result<()> {
    let input: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot read the export {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let store = open_store(config)?;
    let counts = store.import(input).with_context(|| {
        format!(
            "importing {} into {}",
            file.display(),
            store.path().display()
        )
    })?;
    eprintln!("imported {counts} into {}", store.path().display());
    Ok(())
}

fn write_alert(out: &mut impl Write, a: &Alert) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  [{}]  {}: {}",
        a.detected, a.watch, a.feed, a.title
    )?;
    if let Some(link) = &a.link {
        writeln!(out, "    {link}")?;
    }
    for m in &a.matches {
        writeln!(out, "    {:?} in {:?}: {}", m.term, m.field, m.snippet)?;
    }
    Ok(())
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = now.signed_duration_since(t).num_seconds().max(0) as u64;
    let d = std::time::Duration::from_secs(if secs > 3600 { secs / 60 * 60 } else { secs });
    format!("{} ago", humantime::format_duration(d))
}
