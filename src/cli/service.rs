//! The commands that poll: `run` (the service until a signal), `once`, `poll NAME`,
//! `demo`; and `enable NAME` for a feed disabled by 410 Gone.

use std::path::PathBuf;

use super::{open_store, runtime};
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

/// `once`: one cycle over every feed, then its summary.
pub(super) fn once(config: Config) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let service = Service::open(config).await?;
        let cycle = service.once().await?;
        print!("{}", cycle.summary(&service.config.alerts.log));
        Ok(())
    })
}

/// `poll NAME`: one feed now, then the summary.
pub(super) fn poll(config: Config, name: &str) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let service = Service::open(config).await?;
        let cycle = service.poll_one(name).await?;
        print!("{}", cycle.summary(&service.config.alerts.log));
        Ok(())
    })
}

/// `enable NAME`: poll a feed again that 410 Gone disabled.
pub(super) fn enable(config: &Config, name: &str) -> anyhow::Result<()> {
    if !config.feeds.iter().any(|f| f.name == name) {
        anyhow::bail!("no feed called {name:?} in {}", config.source);
    }
    let store = open_store(config)?;
    if store.enable(name)? {
        println!(
            "{name}: enabled; it is polled on the next cycle (or now with `feedwatch poll {name}`)"
        );
    } else {
        println!("{name}: was not disabled");
    }
    Ok(())
}

/// `demo`: the bundled sample feed, served and polled locally.
pub(super) fn demo() -> anyhow::Result<()> {
    let out = runtime()?.block_on(crate::demo::run())?;
    print!("{out}");
    Ok(())
}
