//! The command line: what each command does, its output, and its exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::config::{self, Backlog, Config, Env, Interval, LoadError};
use crate::service::{self, Service};
use crate::store::{Store, StoreError};
use crate::views;
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
    /// Poll one feed now, write its alerts, and show the outcome.
    Poll {
        /// The feed's name in the config.
        name: String,
    },
    /// Poll a feed again that was disabled because it answered 410 Gone.
    Enable { name: String },
    /// Show each feed's health: state, last success, last error, next poll, items.
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
            let service = Service::open(config).await?;
            let path = cli.config.clone();
            let reload = move || Ok(config::load(path.as_deref(), &Env::from_process())?);
            service.run(service::signals(), reload).await
        }),
        Command::Once => runtime()?.block_on(async {
            let service = Service::open(config).await?;
            let cycle = service.once().await?;
            print!("{}", cycle.summary(&service.config.alerts.log));
            Ok(())
        }),
        Command::Poll { name } => runtime()?.block_on(async {
            let service = Service::open(config).await?;
            let cycle = service.poll_one(&name).await?;
            print!("{}", cycle.summary(&service.config.alerts.log));
            Ok(())
        }),
        Command::Enable { name } => {
            if !config.feeds.iter().any(|f| f.name == name) {
                anyhow::bail!("no feed called {name:?} in {}", config.source);
            }
            let store = open_store(&config)?;
            if store.enable(&name)? {
                println!(
                    "{name}: enabled; it is polled on the next cycle (or now with `feedwatch poll {name}`)"
                );
            } else {
                println!("{name}: was not disabled");
            }
            Ok(())
        }
        Command::Feeds { json } => show(&query(&config, "feeds", &[])?, json, |r| {
            views::render_feeds(r, Utc::now())
        }),
        Command::Items { json, feed, limit } => {
            let mut params = vec![("limit", limit.to_string())];
            params.extend(feed.map(|f| ("feed", f)));
            show(
                &query(&config, "items", &params)?,
                json,
                views::render_items,
            )
        }
        Command::Alerts { json, watch, limit } => {
            let mut params = vec![("limit", limit.to_string())];
            params.extend(watch.map(|w| ("watch", w)));
            show(
                &query(&config, "alerts", &params)?,
                json,
                views::render_alerts,
            )
        }
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
        "store: {}\nalert log: {}\n",
        c.storage.path.display(),
        c.alerts.log.display()
    ));
    s.push_str(&format!("\n{} feeds:\n", c.feeds.len()));
    for f in &c.feeds {
        s.push_str(&format!(
            "  {:<16} every {:<6} backlog {:<5} {}{}\n",
            f.name,
            interval(f.interval),
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

fn interval(i: Interval) -> String {
    match i {
        Interval::Fixed(d) => humantime::format_duration(d).to_string(),
        Interval::Auto => "auto".into(),
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

/// Where `feeds`, `items` and `alerts` get their data: the store, or the running service
/// that holds it.
enum Source {
    Store(Store),
    Api(String),
}

fn source(config: &Config) -> anyhow::Result<Source> {
    match Store::open(&config.storage.path, config.storage.cache) {
        Ok(store) => Ok(Source::Store(store)),
        Err(e @ StoreError::Held { .. }) => match crate::api::address_of(&config.storage.path) {
            Some(addr) => Ok(Source::Api(format!("http://{addr}"))),
            None => Err(anyhow::Error::new(e)
                .context("the running feedwatch has no api ([api] listen) to ask instead")),
        },
        Err(e) => Err(e.into()),
    }
}

/// The rows of one view, from the store or from the service's API (same objects either way).
fn query(
    config: &Config,
    view: &str,
    params: &[(&str, String)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    match source(config)? {
        Source::Store(store) => Ok(match view {
            "feeds" => views::feeds(config, &store, Utc::now())?,
            "items" => views::items(&store, param("feed"), limit)?,
            _ => views::alerts(&store, param("watch"), limit)?,
        }),
        Source::Api(base) => runtime()?.block_on(async {
            let url = reqwest::Url::parse_with_params(&format!("{base}/api/{view}"), params)?;
            crate::fetch::install_crypto_provider();
            let resp = reqwest::Client::new().get(url.clone()).send().await.with_context(|| {
                format!("the store is held by a running feedwatch, and its API at {base} does not answer")
            })?;
            if !resp.status().is_success() {
                anyhow::bail!("{url}: HTTP {}: {}", resp.status(), resp.text().await.unwrap_or_default());
            }
            let body = resp.text().await?;
            body.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
        }),
    }
}

fn show(
    rows: &[serde_json::Value],
    json: bool,
    render: impl Fn(&[serde_json::Value]) -> String,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for r in rows {
            writeln!(out, "{r}")?;
        }
    } else {
        write!(out, "{}", render(rows))?;
    }
    Ok(())
}
