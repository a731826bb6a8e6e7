//! The command line: what each command does, its output, and its exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::alert::{Alert, AlertLog};
use crate::config::{
    self, Backlog, CaseMode, Config, DEFAULT_FIELDS, Env, Interval, LoadError, TermConfig,
    WatchConfig,
};
use crate::rematch;
use crate::service::{self, Service};
use crate::store::{Store, StoreError};
use crate::views;
use crate::watch::{Field, Match, Matcher, Rule, is_case_sensitive, quote};

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
        /// Then keep printing new lines of the alert log as they are written (like
        /// `tail -F`: follows the log across rotation), until interrupted.
        #[arg(long, short)]
        follow: bool,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Try the watches on a text: which fire and why (exit 0 either way).
    ///
    /// The text is read like an item's field: HTML tags are dropped, entities decoded, and
    /// Unicode normalised. It is taken from --text, else --file, else standard input.
    Match {
        /// The text to try.
        #[arg(long, value_name = "TEXT", conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The field the text stands for: title, summary, content, categories or link
        /// (a watch with `fields` that leave it out does not see the text).
        #[arg(long, default_value = "content", value_parser = parse_field)]
        field: Field,
        /// The feed the text comes from, for watches limited to some feeds (without it,
        /// those limits are not applied).
        #[arg(long, value_name = "NAME")]
        feed: Option<String>,
        /// One JSON object: {"fires": [watch names], "watches": [per watch: fires, reason, matches]}.
        #[arg(long)]
        json: bool,
    },
    /// Run the current watches over stored items; raise the alerts they never raised.
    ///
    /// Alerts are committed to the store and delivered to the alert log like the service's,
    /// at most once per item and watch, ever: a second run raises nothing. It opens the
    /// store, so stop the service first (exit 3 while it runs).
    Rematch {
        /// Only items published (or, undated, first seen) within this window, e.g. 7d.
        #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Only this watch.
        #[arg(long, value_name = "NAME")]
        watch: Option<String>,
        /// Report what would alert; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The alerts as JSON lines (as in the alert log) on stdout; the summary on stderr.
        #[arg(long)]
        json: bool,
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
    /// Exchange the feed list with feed readers, as OPML 2.0.
    Opml {
        #[command(subcommand)]
        command: OpmlCommand,
    },
    /// Print shell completions (for packaging).
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, as roff (for packaging).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum OpmlCommand {
    /// Print the config's feeds as OPML 2.0, for a feed reader.
    Export {
        /// Write it to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add the feeds of an OPML file to the config file.
    ///
    /// Every outline with an xmlUrl is a feed, however deep in folders. A feed whose URL is
    /// already configured (compared without tracking parameters, fragment or trailing
    /// slash) is skipped; the others are appended to the config file as [[feeds]] tables,
    /// named after their titles (lowercase, letters, digits and '-'; a name already taken
    /// gets -2, -3 ...). The rest of the file is left as it is. The new config is checked,
    /// and the file restored if it does not validate (exit 2).
    Import {
        /// The OPML file, e.g. exported from another feed reader.
        file: PathBuf,
        /// Show what would be added and skipped; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_field(name: &str) -> Result<Field, String> {
    Field::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        format!("{name:?} is not a field; use one of {}", names.join(", "))
    })
}

/// A command line that names something the config does not have: exit 2, like a config error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

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
    if e.downcast_ref::<LoadError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
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
    match cli.command {
        Command::Man => {
            std::io::stdout().write_all(crate::manual::man_page().as_bytes())?;
            return Ok(());
        }
        Command::Completions { shell } => {
            std::io::stdout().write_all(&crate::manual::completions(shell))?;
            return Ok(());
        }
        Command::Opml {
            command: OpmlCommand::Import { file, dry_run },
        } => return opml_import(cli.config.as_deref(), &file, dry_run),
        _ => {}
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
        Command::Alerts {
            json,
            watch,
            limit,
            follow,
        } => {
            let mut params = vec![("limit", limit.to_string())];
            params.extend(watch.clone().map(|w| ("watch", w)));
            // where the log ends now: what is written after this is followed
            let from = std::fs::metadata(&config.alerts.log).map_or(0, |m| m.len());
            let mut rows = query(&config, "alerts", &params)?;
            if !follow {
                return show(&rows, json, views::render_alerts);
            }
            rows.reverse(); // oldest first, then the new ones as they come
            show(&rows, json, views::render_alerts)?;
            follow_log(&config.alerts.log, from, watch.as_deref(), json)
        }
        Command::Match {
            text,
            file,
            field,
            feed,
            json,
        } => try_match(&config, text, file, field, feed, json),
        Command::Rematch {
            since,
            watch,
            dry_run,
            json,
        } => rematch(&config, since, watch.as_deref(), dry_run, json),
        Command::Opml {
            command: OpmlCommand::Export { output },
        } => {
            let xml = crate::opml::export(
                &config.feeds,
                &format!("feedwatch feeds ({})", config.source),
            );
            match output {
                Some(path) => {
                    std::fs::write(&path, xml)
                        .with_context(|| format!("opml export: writing {}", path.display()))?;
                    eprintln!(
                        "opml export: {} feeds written to {}",
                        config.feeds.len(),
                        path.display()
                    );
                }
                None => std::io::stdout().write_all(xml.as_bytes())?,
            }
            Ok(())
        }
        Command::Export { output } => export(&config, output.as_deref()),
        Command::Import { file } => import(&config, &file),
        Command::Demo
        | Command::Man
        | Command::Completions { .. }
        | Command::Opml {
            command: OpmlCommand::Import { .. },
        } => unreachable!("handled above"),
    }
}

/// `opml import`: append the OPML's new feeds to the config file, then check the result.
fn opml_import(
    explicit: Option<&std::path::Path>,
    opml: &std::path::Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let env = Env::from_process();
    let Some(path) = config::path(explicit, &env) else {
        return Err(UsageError(format!(
            "opml import: there is no config file to add feeds to (feedwatch is using its built-in default); \
             pass --config FILE, or create {} (from config/feedwatch.toml) first",
            config::SYSTEM_PATH
        ))
        .into());
    };
    // The feeds already there. A config without any [[feeds]] is invalid only for that,
    // and is what an import into a fresh config starts from.
    let existing = match config::load(Some(&path), &env) {
        Ok(c) => c.feeds,
        Err(LoadError::Invalid { errors, .. })
            if errors
                .iter()
                .all(|e| e.key == "feeds" && e.message.starts_with("no [[feeds]]")) =>
        {
            Vec::new()
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("opml import: the config must be valid before feeds are added to it"));
        }
    };
    let bytes = std::fs::read(opml)
        .map_err(|e| UsageError(format!("opml import: cannot read {}: {e}", opml.display())))?;
    let text = crate::decode::to_utf8(&bytes, None).text;
    let outlines = crate::opml::parse(&text).map_err(|e| {
        UsageError(format!(
            "opml import: {} is not a usable OPML file: {e}; {} left unchanged",
            opml.display(),
            path.display()
        ))
    })?;
    let plan = crate::opml::plan(&existing, &outlines);
    // What it adds and skips: printed once the file is written and checked (or at once
    // for a dry run), so a failed import prints only the error.
    let mut report = String::new();
    let verb = if dry_run { "would add" } else { "added" };
    for a in &plan.added {
        report.push_str(&format!(
            "{verb} {:<20} {}",
            a.name,
            crate::fetch::redact_url(a.url.as_str())
        ));
        if let Some(wanted) = &a.renamed_from {
            report.push_str(&format!("  (renamed: {wanted:?} is taken)"));
        }
        report.push('\n');
    }
    for (label, why) in &plan.skipped {
        report.push_str(&format!("skipped {label}: {why}\n"));
    }
    report.push_str(&format!(
        "opml import{}: {} feeds in {}, {} {verb}, {} skipped",
        if dry_run { " (dry run)" } else { "" },
        outlines.len(),
        opml.display(),
        plan.added.len(),
        plan.skipped.len()
    ));
    let mut out = std::io::stdout().lock();
    if dry_run || plan.added.is_empty() {
        writeln!(out, "{report}; {} unchanged", path.display())?;
        return Ok(());
    }
    let original = std::fs::metadata(&path)
        .with_context(|| format!("opml import: {}", path.display()))?
        .len();
    let mut addition = crate::opml::to_toml(&plan.added, &opml.display().to_string());
    let ends_in_newline = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        let mut last = [0u8; 1];
        original == 0
            || (f.seek(SeekFrom::End(-1)).is_ok() && f.read(&mut last)? == 1 && last[0] == b'\n')
    };
    if !ends_in_newline {
        addition.insert(0, '\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .with_context(|| format!("opml import: opening {} to append to it", path.display()))?;
    let restore = |file: &std::fs::File| file.set_len(original).and_then(|_| file.sync_all());
    if let Err(e) = file
        .write_all(addition.as_bytes())
        .and_then(|_| file.sync_all())
    {
        restore(&file).ok();
        return Err(
            anyhow::Error::new(e).context(format!("opml import: appending to {}", path.display()))
        );
    }
    if let Err(e) = config::load(Some(&path), &env) {
        restore(&file).with_context(|| format!("opml import: restoring {}", path.display()))?;
        return Err(anyhow::Error::new(e).context(format!(
            "opml import: the config with the new feeds does not validate; {} is restored as it was",
            path.display()
        )));
    }
    writeln!(
        out,
        "{report}; appended to {} (apply with `systemctl reload feedwatch`)",
        path.display()
    )?;
    Ok(())
}

/// The async runtime: a worker per core, and a small pool for blocking work (parsing,
/// store commits), whose every thread would otherwise cost memory.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
}

/// Prints the alert log's new match lines from byte `from` on, forever, reopening the log
/// when it is rotated (a new inode, or a shorter file).
fn follow_log(
    path: &std::path::Path,
    mut from: u64,
    watch: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let mut ino = std::fs::metadata(path).map_or(0, |m| m.ino());
    let mut partial = String::new();
    loop {
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.ino() != ino || meta.len() < from {
                ino = meta.ino();
                from = 0;
                partial.clear();
            }
            if meta.len() > from {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(from))?;
                let mut chunk = String::new();
                let n = file.take(meta.len() - from).read_to_string(&mut chunk)?;
                from += n as u64;
                partial.push_str(&chunk);
                let complete = partial.rfind('\n').map_or(0, |i| i + 1);
                let mut rows = Vec::new();
                for line in partial[..complete].lines() {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    if v["kind"] == "match" && watch.is_none_or(|w| v["watch"] == w) {
                        rows.push(v);
                    }
                }
                partial.drain(..complete);
                show(&rows, json, views::render_alerts)?;
                std::io::stdout().flush()?;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Logs: to the journal, with structured fields (FEED, URL, WATCH, ALERT, ...), when
/// systemd connected stderr to it and its socket is reachable; else to stderr,
/// human-readable (colours on a terminal). `RUST_LOG` overrides the level.
fn init_logging(command: &Command) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let default = match command {
        Command::Run => "info",
        _ => "warn",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let journal = stderr_is_journal();
    if journal {
        if let Ok(layer) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter())
                .with(layer.with_syslog_identifier("feedwatch".into()))
                .init();
            return;
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if journal {
        builder.without_time().init(); // the journal stamps lines itself
    } else {
        builder.init();
    }
}

/// Whether stderr is the journal stream systemd set up (`$JOURNAL_STREAM` names its
/// device and inode, as sd_journal_stream_fd documents).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
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
            interval(f.interval),
            backlog(f.backlog),
            crate::fetch::redact_url(f.url.as_str()),
            if f.enabled { "" } else { "  (paused)" }
        ));
    }
    s.push_str(&format!("\n{} watches:\n", c.watches.len()));
    if c.watches.is_empty() {
        s.push_str("  (none: items are stored but nothing alerts; add [[watch]] tables)\n");
    }
    for w in &c.watches {
        let list = |terms: &[TermConfig], sep: &str| {
            terms.iter().map(term_label).collect::<Vec<_>>().join(sep)
        };
        if w.terms.is_empty() {
            s.push_str(&format!("  {}:\n", w.name));
        } else {
            s.push_str(&format!("  {}: {}\n", w.name, list(&w.terms, ", ")));
        }
        if !w.all.is_empty() {
            let groups: Vec<String> = w
                .all
                .iter()
                .map(|g| format!("[{}]", list(g, " | ")))
                .collect();
            s.push_str(&format!("      all of: {}\n", groups.join(" and ")));
        }
        if let Some(n) = &w.near {
            s.push_str(&format!(
                "      near: {} within {} words\n",
                list(&n.terms, " and "),
                n.within
            ));
        }
        if !w.not.is_empty() {
            s.push_str(&format!("      not: {}\n", list(&w.not, ", ")));
        }
        if w.fields != DEFAULT_FIELDS {
            let fields: Vec<&str> = w.fields.iter().map(|f| f.name()).collect();
            s.push_str(&format!("      fields: {}\n", fields.join(", ")));
        }
        if !w.feeds.is_empty() {
            s.push_str(&format!("      feeds: {}\n", w.feeds.join(", ")));
        }
    }
    if !c.sinks.is_empty() {
        s.push_str(&format!("\n{} sinks:\n", c.sinks.len()));
        for k in &c.sinks {
            let watches = if k.watches.is_empty() {
                "all watches and feed health".to_string()
            } else {
                k.watches.join(", ")
            };
            let every = k
                .every
                .map(|d| format!(", a digest every {}", humantime::format_duration(d)))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {}: {} ({watches}{every})\n",
                k.name,
                k.kind.describe()
            ));
        }
    }
    s
}

/// A term for `check`: quoted, with its options in words.
fn term_label(t: &TermConfig) -> String {
    let mut flags = Vec::new();
    if t.regex {
        flags.push("regex");
        if t.case == CaseMode::Insensitive {
            flags.push("any case");
        }
    } else if is_case_sensitive(&crate::text::normalize(&t.text), t.case) {
        flags.push("exact case");
    }
    if t.stem {
        flags.push("stem");
    }
    if flags.is_empty() {
        quote(&t.text)
    } else {
        format!("{} ({})", quote(&t.text), flags.join(", "))
    }
}

fn interval(i: Interval) -> String {
    match i {
        Interval::Fixed(d) => humantime::format_duration(d).to_string(),
        Interval::Auto => "auto".into(),
    }
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

/// `match`: every watch on one text, with why it fires or why not.
fn try_match(
    config: &Config,
    text: Option<String>,
    file: Option<PathBuf>,
    field: Field,
    feed: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let raw = match (text, &file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("match: reading the text from {}", path.display()))?,
        (None, None) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("match: reading the text from standard input")?;
            s
        }
    };
    if let Some(f) = &feed {
        if !config.feeds.iter().any(|c| &c.name == f) {
            return Err(UsageError(format!(
                "match: no feed is named {f:?} in {}; its feeds are: {}",
                config.source,
                names(config.feeds.iter().map(|f| f.name.as_str()))
            ))
            .into());
        }
    }
    let text = match field {
        Field::Link => crate::text::link_to_text(raw.trim()),
        _ => crate::text::html_to_text(&raw),
    };
    let matcher = Matcher::new(&config.watches)?;
    let feeds = feed.map(|f| vec![f]);
    let explained = matcher.explain(feeds.as_deref(), &[(field, &text)]);
    let firing: Vec<&str> = explained
        .iter()
        .filter(|e| e.fires)
        .map(|e| e.watch.as_str())
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "fires": firing, "watches": explained });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    let n = explained.len();
    if firing.is_empty() {
        writeln!(out, "no watch fires ({n} checked)")?;
    } else {
        writeln!(
            out,
            "{} of {n} watches fire{}: {}",
            firing.len(),
            if firing.len() == 1 { "s" } else { "" },
            firing.join(", ")
        )?;
    }
    for (e, w) in explained.iter().zip(&config.watches) {
        match &e.reason {
            None => writeln!(out, "\n{} fires:", e.watch)?,
            Some(reason) => writeln!(out, "\n{} does not fire: {reason}", e.watch)?,
        }
        if feeds.is_none() && !w.feeds.is_empty() {
            writeln!(
                out,
                "  (limited to feeds {}; not applied without --feed)",
                w.feeds.join(", ")
            )?;
        }
        for m in &e.matches {
            writeln!(out, "  {}", explain_match(m))?;
        }
        for m in &e.excluded_by {
            writeln!(out, "  excluded by {}", explain_match(m))?;
        }
    }
    Ok(())
}

/// `rematch`: the current watches over stored items.
fn rematch(
    config: &Config,
    since: Option<std::time::Duration>,
    watch: Option<&str>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let watches: Vec<WatchConfig> = match watch {
        None => config.watches.clone(),
        Some(name) => {
            let w: Vec<WatchConfig> = config
                .watches
                .iter()
                .filter(|w| w.name == name)
                .cloned()
                .collect();
            if w.is_empty() {
                return Err(UsageError(format!(
                    "rematch: no watch is named {name:?} in {}; its watches are: {}",
                    config.source,
                    names(config.watches.iter().map(|w| w.name.as_str()))
                ))
                .into());
            }
            w
        }
    };
    let matcher = Matcher::new(&watches)?;
    let store = open_store(config)?;
    let mut progress = Progress::new("rematch");
    let found = rematch::find(&store, &matcher, since, Utc::now(), &mut |done, total| {
        progress.tick(done, total)
    })
    .context("rematch: reading the stored items")?;
    progress.finish();
    let (alerts, verb) = if dry_run {
        let alerts: Vec<Alert> = found.new.iter().map(|(_, a)| a.clone()).collect();
        (alerts, "would be raised")
    } else {
        let written = rematch::raise(&store, &found.new).context("rematch: committing alerts")?;
        let mut log = AlertLog::open(&config.alerts.log).with_context(|| {
            format!(
                "rematch: opening the alert log {} (the alerts stay pending in the store and are delivered by the next run)",
                config.alerts.log.display()
            )
        })?;
        service::deliver_pending(&store, &mut log).context("rematch: delivering alerts")?;
        (written, "raised")
    };
    let mut out = std::io::stdout().lock();
    for a in &alerts {
        if json {
            writeln!(out, "{}", a.to_line())?;
        } else {
            let row = serde_json::to_value(a)?;
            write!(out, "{}", views::render_alerts(std::slice::from_ref(&row)))?;
        }
    }
    let window = since.map_or(String::new(), |d| {
        format!(" from the last {}", humantime::format_duration(d))
    });
    let mut summary = format!(
        "rematch{}: {} items checked{window}, {} alert{} {verb}, {} already raised before",
        if dry_run { " (dry run)" } else { "" },
        found.checked,
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        found.already,
    );
    if dry_run {
        summary.push_str("; nothing written");
    } else if !alerts.is_empty() {
        summary.push_str(&format!("; written to {}", config.alerts.log.display()));
    }
    if json {
        eprintln!("{summary}");
    } else {
        writeln!(out, "{summary}")?;
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

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// A counter on stderr for long runs: shown only on a terminal, only after the first
/// second, redrawn at most ten times a second, erased at the end.
struct Progress {
    what: &'static str,
    tty: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(what: &'static str) -> Progress {
        Progress {
            what,
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            start: Instant::now(),
            last: None,
        }
    }

    fn tick(&mut self, done: usize, total: usize) {
        if !self.tty || done % 64 != 0 {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.start) < Duration::from_secs(1)
            || self
                .last
                .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        eprint!("\r{}: {done}/{total} items ({pct}%)", self.what);
    }

    fn finish(&self) {
        if self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

/// `"CIS" in title: …snippet…`, with the rule when it is not the any-list.
fn explain_match(m: &Match) -> String {
    let rule = match m.rule {
        Rule::Any => "",
        Rule::All => " (all)",
        Rule::Near => " (near)",
        Rule::Not => " (not)",
    };
    format!(
        "{}{rule} in {}: {}",
        quote(&m.term),
        m.field.name(),
        m.snippet
    )
}
