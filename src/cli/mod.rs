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

pub use args::{Cli, Command, FeedCommand, OpmlCommand, SinksCommand, When};
pub use check::describe;

pub use crate::exit::code as exit;
pub use crate::exit::{Undone, UsageError, code_for, usage_error};

/// Runs a parsed command line; prints errors and returns the exit code.
pub fn main(cli: Cli) -> ExitCode {
    logging::init_logging(&cli.command);
    quiet_on_closed_stdout();
    match dispatch::dispatch(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        // a reader that stopped reading (`feedwatch export | head -1`) is no failure
        Err(e) if closed_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("feedwatch: {}", chain(&e));
            ExitCode::from(code_for(&e))
        }
    }
}

/// The error and its causes, `: `-separated, each said once: a cause whose text its
/// parent's message already ends with (thiserror's `{source}` in a message) is not
/// repeated.
pub fn chain(e: &anyhow::Error) -> String {
    let mut said = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if said.ends_with(&text) || said.contains(&format!("{text}: ")) {
            continue;
        }
        if !said.is_empty() {
            said.push_str(": ");
        }
        said.push_str(&text);
    }
    said
}

/// Whether the error is standard output's reader gone: a broken pipe in its chain while
/// standard output is a pipe nobody reads (a sink's broken pipe is a failure like any).
fn closed_pipe(e: &anyhow::Error) -> bool {
    let epipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe (os error 32)")
    });
    epipe && stdout_closed()
}

/// Whether standard output is a pipe whose reading end is closed (poll says POLLERR).
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLERR != 0
}

/// `print!` panics when standard output's reader is gone: such a panic ends the command
/// quietly with 0, like the error does ([`closed_pipe`]); any other panic is reported as
/// before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && stdout_closed() {
            std::process::exit(i32::from(exit::OK));
        }
        report(info);
    }));
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
