//! The command-line definition (clap): every command, its arguments and their help text.
//! `--help`, the man page and the shell completions are all generated from it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::watch::Field;

const EXIT_CODES: &str = "\
Exit codes:
  0  done (for `once`: the cycle ran; feeds that failed are reported, not fatal);
     also when the reader of standard output went away (`export | head`)
  1  runtime failure (store or disk)
  2  invalid config or usage (an unknown option, feed or watch name)
  3  the store is held by a running feedwatch (only `import` needs it stopped),
     or the running service is compacting its store: try again shortly
  4  `once` or `poll` ran but left something undone: no feed polled, or alerts
     are still undelivered to a sink (they stay pending); the summary says which

Config: --config PATH, else $FEEDWATCH_CONFIG, else /etc/feedwatch/feedwatch.toml,
else the built-in default (data in $STATE_DIRECTORY and $LOGS_DIRECTORY under systemd,
else in ./feedwatch-data/). Every key: `man feedwatch`, CONFIGURATION.";

/// Watches news feeds and writes one alert per item that mentions a watched term.
#[derive(Debug, Parser)]
#[command(name = "feedwatch", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The config file (TOML; every key is documented in /etc/feedwatch/feedwatch.toml as
    /// packaged and in the man page). Default: $FEEDWATCH_CONFIG, else
    /// /etc/feedwatch/feedwatch.toml, else the built-in default.
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
    /// Poll feeds now, write their alerts, and show the outcome (beside a
    /// running service: in it, through its control socket; `once` does the same there).
    Poll {
        /// The feed's name in the config.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every feed on in the config and not paused.
        #[arg(long)]
        all: bool,
    },
    /// Poll a feed again that was disabled because it answered 410 Gone.
    Enable {
        /// The feed's name in the config (as `feeds` shows it).
        name: String,
    },
    /// Stop polling a feed until `resume` (kept in the store, across restarts; not the
    /// config's `enabled = false`, shown as "off in config").
    Pause {
        /// The feed's name in the config.
        name: String,
    },
    /// Poll a paused feed again (a feed off in config stays off).
    Resume {
        /// The feed's name in the config.
        name: String,
    },
    /// One screen about the service: version, uptime, config, store, feeds by state,
    /// alerts of the last 24 h per watch, pending deliveries, the next polls.
    Status {
        /// One JSON object (documented in docs/operations.md).
        #[arg(long)]
        json: bool,
    },
    /// One stored item (by key, link or guid): its keys, the feeds that carried it, and
    /// for each watch whether it alerted and, if not, why.
    Explain {
        /// The item's key (as `items` shows it), link or guid.
        item: String,
        /// One JSON object (documented in docs/operations.md).
        #[arg(long)]
        json: bool,
    },
    /// Make the running service read its config again (as SIGHUP does) and print the
    /// outcome: exit 2 with the problems when the new config is invalid and was kept out.
    Reload,
    /// Show each feed's health: state, last success, last error, next poll, items.
    Feeds {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List stored items, newest first.
    Items {
        /// One JSON object per line (the same objects as /api/items; docs/operations.md).
        #[arg(long)]
        json: bool,
        /// Only items seen in this feed (exit 2, with the feeds, for a name that does not exist).
        #[arg(long, value_name = "NAME")]
        feed: Option<String>,
        /// Only items that alerted for this watch.
        #[arg(long, value_name = "NAME")]
        watch: Option<String>,
        #[command(flatten)]
        when: When,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// List alerts raised, newest first (the same objects as in the alert log).
    Alerts {
        /// One JSON object per line, as in the alert log.
        #[arg(long)]
        json: bool,
        /// Only alerts of this watch (exit 2, with the watches, for a name that does not exist).
        #[arg(long, value_name = "NAME")]
        watch: Option<String>,
        /// Only alerts for items seen in this feed.
        #[arg(long, value_name = "NAME")]
        feed: Option<String>,
        #[command(flatten)]
        when: When,
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
    /// at most once per item and watch, ever: a second run raises nothing. Beside a running
    /// service it runs in the service, through its control socket, which first reloads the
    /// config file (the watches it runs are the file's as it is now).
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
    /// Restore an export into an empty store (storage.path of the config); the service
    /// must be stopped (exit 3 while it runs).
    Import {
        /// The file written by `feedwatch export` (`-` for stdin).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Poll a bundled sample feed served on 127.0.0.1 and show the alerts (no network needed).
    Demo,
    /// Add or remove a feed in the config file (comments and layout kept), check it, and
    /// reload the running service.
    Feed {
        #[command(subcommand)]
        command: FeedCommand,
    },
    /// Exchange the feed list with feed readers, as OPML 2.0.
    Opml {
        #[command(subcommand)]
        command: OpmlCommand,
    },
    /// Try the sinks of the config.
    Sinks {
        #[command(subcommand)]
        command: SinksCommand,
    },
    /// Cluster mode (`[cluster]`, docs/cluster.md): what the nodes share.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Print a shell completion script: commands, options, and (bash, zsh, fish) the names of
    /// the config's feeds and watches.
    ///
    /// Install it where the shell looks, e.g. `feedwatch completions bash >
    /// /etc/bash_completion.d/feedwatch` (the Debian package does this for bash, zsh and fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, as roff: `feedwatch man | man -l -` reads it.
    Man,
    /// The names of the config's feeds or watches, one a line (for the shell completions).
    #[command(hide = true)]
    Names {
        /// feeds, watches or sinks.
        #[arg(value_parser = ["feeds", "watches", "sinks"])]
        kind: String,
    },
}

/// `--since` and `--until` of `items` (first seen) and `alerts` (raised).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct When {
    /// Only from this time on: a duration before now (7d, 12h), a date (2026-11-30) or an
    /// RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only up to this time (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Append a `[[feeds]]` table to the config file; the file is restored when the result
    /// does not validate (exit 2).
    Add {
        /// The new feed's name: how commands, alerts and the store refer to it.
        name: String,
        /// The feed's URL (http or https).
        url: String,
        /// How often to poll it, e.g. 15m (default: `[defaults] interval`).
        #[arg(long, value_name = "D")]
        interval: Option<String>,
        /// What its first poll alerts for: a window such as 24h, "all" or "none".
        #[arg(long, value_name = "W")]
        backlog: Option<String>,
    },
    /// Cut the feed's `[[feeds]]` table out of the config file (its stored state stays).
    Remove {
        /// The feed's name in the config.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The live nodes and the feeds each holds, the alert stream's size, and each
    /// consumer's lag (alert logs, sinks), read from NATS.
    Status {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SinksCommand {
    /// Send one sample alert through a sink now, and show what its server answered.
    ///
    /// The sample goes straight to the sink: not to the alert log, and the sink's cursor
    /// does not move. Exit 1 when the server refuses it, 2 when no sink has that name.
    Test {
        /// The sink's name in the config.
        name: String,
    },
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
    /// slash) is skipped; the others are appended to the config file as `[[feeds]]` tables,
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

/// `--field NAME`, with the valid names in the error.
fn parse_field(name: &str) -> Result<Field, String> {
    Field::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        format!("{name:?} is not a field; use one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command says what it is (--help, the man page).
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "feedwatch", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
