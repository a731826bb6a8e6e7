//! Which module runs which command: the config is loaded once, here, for the commands
//! that need a valid one.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, ClusterCommand, Command, FeedCommand, OpmlCommand, SinksCommand};
use super::{backup, check, feed, live, matching, opml, query, service, sinks};
use crate::config::{self, Env};

/// Runs one parsed command line.
pub(super) fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo => return service::demo(),
        Command::Man => {
            std::io::stdout().write_all(crate::manual::man_page(Cli::command()).as_bytes())?;
            return Ok(());
        }
        Command::Completions { shell } => {
            std::io::stdout().write_all(&crate::manual::completions(shell, Cli::command()))?;
            return Ok(());
        }
        Command::Opml {
            command: OpmlCommand::Import { file, dry_run },
        } => return opml::import(cli.config.as_deref(), &file, dry_run),
        Command::Feed { command } => {
            return match command {
                FeedCommand::Add {
                    name,
                    url,
                    interval,
                    backlog,
                } => feed::add(
                    cli.config.as_deref(),
                    &name,
                    &url,
                    interval.as_deref(),
                    backlog.as_deref(),
                ),
                FeedCommand::Remove { name } => feed::remove(cli.config.as_deref(), &name),
            };
        }
        Command::Match {
            text,
            file,
            field,
            feed,
            json,
        } => {
            // only the watches are needed: a config without [[feeds]] will do
            let config = config::load_watches(cli.config.as_deref(), &Env::from_process())?;
            return matching::try_match(&config, text, file, field, feed, json);
        }
        _ => {}
    }
    let config = config::load(cli.config.as_deref(), &Env::from_process())?;
    // run as root (`sudo feedwatch once`), a command leaves the store and the alert log to
    // the service's user; `run` is the service itself, `check` and `names` write nothing
    let _owners = match cli.command {
        Command::Run | Command::Check | Command::Names { .. } => None,
        _ => Some(crate::owner::KeepOwners::of(&[
            &config.storage.path,
            &config.alerts.log,
        ])),
    };
    match cli.command {
        Command::Check => check::check(&config),
        Command::Names { kind } => {
            print!("{}", crate::manual::names(&config, &kind));
            Ok(())
        }
        Command::Run => service::run(config, cli.config),
        Command::Once => live::once(config),
        Command::Poll { name, .. } => live::poll(config, name),
        Command::Enable { name } => live::enable(&config, &name),
        Command::Pause { name } => live::pause(&config, &name),
        Command::Resume { name } => live::resume(&config, &name),
        Command::Reload => live::reload(&config),
        Command::Status { json } => live::status(&config, json),
        Command::Explain { item, json } => live::explain(&config, &item, json),
        Command::Feeds { json } => query::feeds(&config, json),
        Command::Items {
            json,
            feed,
            watch,
            when,
            limit,
        } => query::items(&config, json, (feed, watch, when), limit),
        Command::Alerts {
            json,
            watch,
            feed,
            when,
            limit,
            follow,
        } => query::alerts(&config, json, (feed, watch, when), limit, follow),
        Command::Rematch {
            since,
            watch,
            dry_run,
            json,
        } => live::rematch(&config, since, watch.as_deref(), dry_run, json),
        Command::Opml {
            command: OpmlCommand::Export { output },
        } => opml::export(&config, output.as_deref()),
        Command::Export { output } => live::export(&config, output.as_deref()),
        Command::Sinks {
            command: SinksCommand::Test { name },
        } => sinks::test(&config, &name),
        Command::Import { file } => backup::import(&config, &file),
        Command::Cluster {
            command: ClusterCommand::Status { json },
        } => crate::cluster::status(&config, json),
        Command::Demo
        | Command::Man
        | Command::Completions { .. }
        | Command::Feed { .. }
        | Command::Match { .. }
        | Command::Opml {
            command: OpmlCommand::Import { .. },
        } => unreachable!("handled above"),
    }
}
