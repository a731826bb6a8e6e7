//! A progress counter on stderr for long runs such as `rematch`.

use std::time::{Duration, Instant};

/// A counter on stderr for long runs: shown only on a terminal, only after the first
/// second, redrawn at most ten times a second, erased at the end.
pub(super) struct Progress {
    what: &'static str,
    tty: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Progress {
    pub(super) fn new(what: &'static str) -> Progress {
        Progress {
            what,
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            start: Instant::now(),
            last: None,
        }
    }

    pub(super) fn tick(&mut self, done: usize, total: usize) {
        if !self.tty || !done.is_multiple_of(64) {
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

    pub(super) fn finish(&self) {
        if self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}
