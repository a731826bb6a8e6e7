//! The command line: what each command does, its output, and its exit code.
//!
//! This file owns how a run ends: [`main`] maps the outcome to one of the [`exit`] codes
//! (the only place that does). The definition is in `args`, `dispatch` sends each command
//! to its module, and each command or group of commands has a module of its own.

use std::process::ExitCode;

use crate::config::Config;
use crate::store::Store;

mod args;
mod backup;
mod check;
mod dispatch;
mod feed;
mod live;
mod logging;
mod matching;
mod opml;
mod progress;
mod query;
mod service;
mod sinks;

pub use args::{Cli, ClusterCommand, Command, FeedCommand, OpmlCommand, SinksCommand, When};
pub use check::describe;

pub use crate::exit::code as exit;
pub use crate::exit::{Undone, UsageError, code_for, usage_error};

/// Runs a parsed command line; prints errors and returns the exit code.
pub fn main(cli: Cli) -> ExitCode {
    logging::init_logging(&cli.command);
    match dispatch::dispatch(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("feedwatch: {e:#}");
            ExitCode::from(code_for(&e))
        }
    }
}

/// The async runtime: a worker per core, and a small pool for blocking work (parsing,
/// store commits), whose every thread would otherwise cost memory.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
}

/// The configured store, for the commands that read or write it (exit 3 while a running
/// feedwatch holds it).
fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&config.storage.path, config.storage.cache)?)
}
