//! The commands that act on the store, beside a running service: when a service answers on
//! its control socket ([`crate::ctl`]), the command runs there and prints what the service
//! sends back (the same text as without a service); otherwise this process opens the store.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::progress::Progress;
use super::{UsageError, backup, matching, open_store, service};
use crate::config::Config;
use crate::ctl::{self, Reply, Request};

/// Runs `request` in the running service, its output written to `out`; `None` when no
/// service answers on the control socket. `Some(summary)` for an export.
fn in_service(
    config: &Config,
    request: &Request,
    out: &mut dyn Write,
) -> anyhow::Result<Option<Option<String>>> {
    let Some(stream) = ctl::connect(config)? else {
        return Ok(None);
    };
    let mut progress = Progress::new("rematch");
    let answer = ctl::call(stream, request, &mut |reply| {
        match reply {
            Reply::Out(s) => out.write_all(s.as_bytes())?,
            Reply::Err(s) => eprint!("{s}"),
            Reply::Progress(done, total) => progress.tick(done, total),
            Reply::Summary(_) | Reply::Exit { .. } => {}
        }
        Ok(())
    });
    progress.finish();
    let answer = answer?;
    out.flush()?;
    match (answer.code, answer.error) {
        (0, _) => Ok(Some(answer.summary)),
        (2, e) => Err(UsageError(e.unwrap_or_default()).into()),
        // the service's store is out (compacting, reopening): exit 3, try again
        (3, e) => Err(crate::exit::Busy(e.unwrap_or_default()).into()),
        (4, e) => {
            let e = e.unwrap_or_default();
            let said = e
                .strip_prefix("the cycle left something undone: ")
                .unwrap_or(&e);
            Err(super::Undone(said.split("; ").map(str::to_string).collect()).into())
        }
        (_, e) => Err(anyhow::anyhow!(
            "{} (in the running feedwatch)",
            e.unwrap_or_else(|| "failed".into())
        )),
    }
}

/// Runs `request` in the running service with its output on stdout; false when there is
/// no service to run it.
fn ask(config: &Config, request: Request) -> anyhow::Result<bool> {
    Ok(in_service(config, &request, &mut std::io::stdout().lock())?.is_some())
}

/// `once`: beside a running service, what `poll --all` does.
pub(super) fn once(config: Config) -> anyhow::Result<()> {
    if ask(&config, Request::Poll { feed: None })? {
        return Ok(());
    }
    not_a_lone_node(&config, "once", "poll --all")?;
    service::once(config)
}

/// `poll NAME` or `poll --all`.
pub(super) fn poll(config: Config, name: Option<String>) -> anyhow::Result<()> {
    if ask(&config, Request::Poll { feed: name.clone() })? {
        return Ok(());
    }
    let (what, instead) = match &name {
        Some(n) => (format!("poll {n}"), format!("poll {n}")),
        None => ("poll --all".to_string(), "poll --all".to_string()),
    };
    not_a_lone_node(&config, &what, &instead)?;
    match name {
        Some(name) => service::poll(config, &name),
        None => service::once(config),
    }
}

/// `enable NAME`.
pub(super) fn enable(config: &Config, name: &str) -> anyhow::Result<()> {
    known(config, name)?;
    if ask(config, Request::Enable { feed: name.into() })? {
        return Ok(());
    }
    let was = open_store(config)?.enable(name)?;
    print!("{}", ctl::enable_message(name, was));
    Ok(())
}

/// `pause NAME`: kept in the store, so it survives restarts.
pub(super) fn pause(config: &Config, name: &str) -> anyhow::Result<()> {
    known(config, name)?;
    if ask(config, Request::Pause { feed: name.into() })? {
        return Ok(());
    }
    not_a_lone_node(config, &format!("pause {name}"), &format!("pause {name}"))?;
    let changed = open_store(config)?.set_paused(name, Some(chrono::Utc::now()))?;
    print!("{}", ctl::pause_message(name, changed));
    Ok(())
}

/// `resume NAME`: never overrides the config's `enabled = false`.
pub(super) fn resume(config: &Config, name: &str) -> anyhow::Result<()> {
    let off = !known(config, name)?.enabled;
    if ask(config, Request::Resume { feed: name.into() })? {
        return Ok(());
    }
    not_a_lone_node(config, &format!("resume {name}"), &format!("resume {name}"))?;
    let changed = open_store(config)?.set_paused(name, None)?;
    print!("{}", ctl::resume_message(name, changed, off));
    Ok(())
}

/// `status`: from the running service, or from the store when none runs.
pub(super) fn status(config: &Config, json: bool) -> anyhow::Result<()> {
    let mut text = Vec::new();
    let status = match in_service(config, &Request::Status, &mut text)? {
        Some(_) => serde_json::from_slice(&text)?,
        None => crate::status::status(config, &read_store(config)?, None, chrono::Utc::now())?,
    };
    if json {
        println!("{status}");
    } else {
        print!("{}", crate::status::render(&status));
    }
    Ok(())
}

/// `explain ITEM`: from the running service, or from the store when none runs.
pub(super) fn explain(config: &Config, item: &str, json: bool) -> anyhow::Result<()> {
    let mut text = Vec::new();
    let request = Request::Explain { item: item.into() };
    let v = match in_service(config, &request, &mut text)? {
        Some(_) => serde_json::from_slice(&text)?,
        None => {
            match crate::store::Store::open_existing(&config.storage.path, config.storage.cache) {
                Ok(store) => crate::explain::explain(config, &store, item)?,
                // nothing is stored yet: the item is not, a usage error like any unknown item
                Err(e @ crate::store::StoreError::NotYet { .. }) => {
                    return Err(crate::exit::usage_error(format!("explain {item}: {e}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if json {
        println!("{v}");
    } else {
        print!("{}", crate::explain::render(&v));
    }
    Ok(())
}

/// `reload`: what SIGHUP does, with the outcome. The config was already validated here
/// (exit 2 when invalid); the service reads it again itself.
pub(super) fn reload(config: &Config) -> anyhow::Result<()> {
    if ask(config, Request::Reload)? {
        return Ok(());
    }
    anyhow::bail!(
        "the config {} is valid, but no running feedwatch answers on its control socket (store {}): nothing to reload",
        config.source,
        config.storage.path.display()
    )
}

/// `rematch`.
pub(super) fn rematch(
    config: &Config,
    since: Option<std::time::Duration>,
    watch: Option<&str>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let request = Request::Rematch {
        since: since.map(|d| d.as_secs_f64()),
        watch: watch.map(str::to_string),
        dry_run,
        json,
    };
    if ask(config, request)? {
        return Ok(());
    }
    matching::rematch(config, since, watch, dry_run, json)
}

/// `export`: streamed from the running service and written here, as this user; or from
/// the store this process opens.
pub(super) fn export(config: &Config, output: Option<&Path>) -> anyhow::Result<()> {
    if ctl::client_path(config).is_none() {
        return backup::export(config, output);
    }
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        return match in_service(config, &Request::Export, &mut out)? {
            Some(counts) => {
                eprintln!("exported {}", counts.unwrap_or_default());
                Ok(())
            }
            None => backup::export(config, None),
        };
    };
    let tmp = backup::partial(path);
    let file = std::fs::File::create(&tmp).with_context(|| {
        format!(
            "exporting to {}: cannot create {}",
            path.display(),
            tmp.display()
        )
    })?;
    let mut out = std::io::BufWriter::new(file);
    let result = in_service(config, &Request::Export, &mut out).and_then(|r| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(r)
    });
    match result {
        Ok(Some(counts)) => {
            std::fs::rename(&tmp, path).with_context(|| {
                format!(
                    "exporting to {}: renaming {}",
                    path.display(),
                    tmp.display()
                )
            })?;
            eprintln!(
                "exported {} to {} (from the running feedwatch)",
                counts.unwrap_or_default(),
                path.display()
            );
            Ok(())
        }
        Ok(None) => {
            let _ = std::fs::remove_file(&tmp);
            backup::export(config, Some(path))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context(format!("exporting to {}", path.display())))
        }
    }
}

/// Exit 2 for a command that would act alone on a cluster node's store when its service
/// does not answer: a lone `once` or `poll` would raise alerts past the cluster's stream
/// (and poll feeds other nodes hold), a lone `pause` or `resume` would be undone by the
/// cluster's pause when the node starts (docs/cluster.md, "Live commands").
fn not_a_lone_node(config: &Config, what: &str, instead: &str) -> anyhow::Result<()> {
    if config.cluster.is_none() {
        return Ok(());
    }
    Err(crate::exit::usage_error(format!(
        "{what}: {} is a cluster node's config ([cluster]) and no feedwatch of it answers on its control socket (store {}): this command does not run as a lone node; start its service (`feedwatch run`) and run `feedwatch {instead}` beside it",
        config.source,
        config.storage.path.display()
    )))
}

/// The configured feed called `name`, or exit 2 listing the feeds.
fn known<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a crate::config::FeedConfig> {
    config
        .feeds
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| crate::service::unknown_feed(config, name))
}

/// The store for a command that only reads it: never created ("no store yet at PATH").
fn read_store(config: &Config) -> anyhow::Result<crate::store::Store> {
    Ok(crate::store::Store::open_existing(
        &config.storage.path,
        config.storage.cache,
    )?)
}
