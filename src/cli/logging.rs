//! Where log lines go: the journal under systemd, else stderr.

use super::Command;

/// Logs: to the journal, with structured fields (FEED, URL, WATCH, ALERT, ...), when
/// systemd connected stderr to it and its socket is reachable; else to stderr,
/// human-readable (colours on a terminal). `RUST_LOG` overrides the level.
pub(super) fn init_logging(command: &Command) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let default = match command {
        Command::Run => "info",
        _ => "warn",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let journal = stderr_is_journal();
    if journal && let Ok(layer) = tracing_journald::layer() {
        tracing_subscriber::registry()
            .with(filter())
            .with(layer.with_syslog_identifier("feedwatch".into()))
            .init();
        return;
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
