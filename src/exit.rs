//! The errors that decide an exit code, and the codes (as documented in `--help`, the man
//! page and docs/commands.md). A closed standard output is no error: the CLI ends quietly
//! with 0 (`crate::cli::main`). The CLI maps every error through [`code_for`]; the service's
//! control socket sends the same code back to the CLI that asked.

use crate::config::LoadError;
use crate::store::StoreError;

/// A usage error (exit 2) with this message, for code outside the CLI.
pub fn usage_error(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// A command line that names something the config does not have: exit 2, like a config error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `once` or `poll` ran its cycle but left something undone (no feed polled successfully,
/// or a sink still has alerts to send): exit 4.
#[derive(Debug, thiserror::Error)]
#[error("the cycle left something undone: {}", .0.join("; "))]
pub struct Undone(pub Vec<String>);

/// The running service cannot reach its store for the moment (compacting it, or reopening
/// it): exit 3, like a store held by another process; try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Busy(pub String);

/// Exit codes, as documented in `--help` and docs/commands.md. Their meanings are also spelled
/// out in the `--help` footer (`args`) and the man page ([`crate::manual`]): change all three.
pub mod code {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const HELD: u8 = 3;
    pub const UNDONE: u8 = 4;
}

/// The exit code for an error: what the operator must fix decides it, not where it came from.
pub fn code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<LoadError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
        code::CONFIG
    } else if matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Held { .. })
    ) || e.downcast_ref::<Busy>().is_some()
    {
        code::HELD
    } else if e.downcast_ref::<Undone>().is_some() {
        code::UNDONE
    } else {
        code::RUNTIME
    }
}

/// Names for a message that lists what exists: "a, b, c", or "(none)".
pub fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
