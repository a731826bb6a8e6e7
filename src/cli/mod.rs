//! The command line: what each command does, its output, and its exit code.
//!
//! This file owns how a run ends: [`main`] maps the outcome to one of the [`exit`] codes
//! (the only place that does). The definition is in `args`, `dispatch` sends each command
//! to its module, and each command or group of commands has a module of its own.

use std::process::ExitCode;

use crate::config::{Config, LoadError};
use crate::store::{Store, StoreError};

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

pub use args::{Cli, Command, FeedCommand, OpmlCommand, When};
pub use check::describe;
pub use matching::{Streams, rematch_with};

/// A usage error (exit 2) with this message, for code outside the CLI.
pub fn usage_error(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// A command line that names something the config does not have: exit 2, like a config error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Exit codes, as documented in `--help` and the README. Their meanings are also spelled
/// out in the `--help` footer (`args`) and the man page ([`crate::manual`]): change all three.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const HELD: u8 = 3;
}

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

/// The exit code for an error: what the operator must fix decides it, not where it came from.
pub fn code_for(e: &anyhow::Error) -> u8 {
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
