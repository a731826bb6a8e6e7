//! The commands that poll: `run` (the service until a signal), `once`, `poll NAME`,
//! `demo`; and `enable NAME` for a feed disabled by 410 Gone.

use std::path::PathBuf;

use super::{Undone, runtime};
use crate::config::{self, Config, Env};
use crate::service::{self, Service};

/// `run`: the service, reloading the config from `path` (as given on the command line) on SIGHUP.
pub(super) fn run(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let reload = move || Ok(config::load(path.as_deref(), &Env::from_process())?);
        match Service::open_compacting(config.clone()).await {
            Ok(service) => service.run(service::signals(), reload).await,
            // a full disk is ridden out: exiting would be restarted at once, and systemd's
            // start limit would then leave feedwatch down after space returns
            Err(e) if crate::store::slot::is_disk_full(&e) => {
                let why = format!("{e:#}");
                Service::run_on_a_full_disk(config, why, service::signals(), reload).await
            }
            Err(e) => Err(e),
        }
    })
}

/// `once`: one cycle over every feed, its alerts delivered to the log and the sinks, then
/// its summary; exit 4 when it left something undone.
pub(super) fn once(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let service = Service::open(config).await?;
        let cycle = service.once().await?;
        say(&cycle.summary(&service.config.alerts.log))?;
        let undone = cycle.undone();
        if !undone.is_empty() {
            return Err(Undone(undone).into());
        }
        Ok(())
    })
}

/// `poll NAME`: one feed now, then the summary; exit 4 when it failed (as `once`, and as
/// the running service answers).
pub(super) fn poll(config: Config, name: &str) -> anyhow::Result<()> {
    if !config.feeds.iter().any(|f| f.name == name) {
        return Err(service::unknown_feed(&config, name)); // before the store is opened
    }
    runtime()?.block_on(async {
        let service = Service::open(config).await?;
        let cycle = service.poll_one(name).await?;
        say(&cycle.summary(&service.config.alerts.log))?;
        let undone = cycle.undone();
        if !undone.is_empty() {
            return Err(Undone(undone).into());
        }
        Ok(())
    })
}

/// Writes a summary to standard output (an error, not a panic, when its reader is gone).
fn say(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `demo`: the bundled sample feed, served and polled locally.
pub(super) fn demo() -> anyhow::Result<()> {
    let out = runtime()?.block_on(crate::demo::run())?;
    print!("{out}");
    Ok(())
}
