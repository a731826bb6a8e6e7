//! `opml export` and `opml import`: the feed list exchanged with feed readers. The OPML
//! itself is read and written by [`crate::opml`]; this module handles the files.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::UsageError;
use crate::config::{self, Config, Env, LoadError};

/// `opml export`: the config's feeds as OPML, to `output` or standard output.
pub(super) fn export(config: &Config, output: Option<&Path>) -> anyhow::Result<()> {
    let xml = crate::opml::export(
        &config.feeds,
        &format!("feedwatch feeds ({})", config.source),
    );
    match output {
        Some(path) => {
            std::fs::write(path, xml)
                .with_context(|| format!("opml export: writing {}", path.display()))?;
            eprintln!(
                "opml export: {} feeds written to {}",
                config.feeds.len(),
                path.display()
            );
        }
        None => std::io::stdout().write_all(xml.as_bytes())?,
    }
    Ok(())
}

/// `opml import`: append the OPML's new feeds to the config file, then check the result.
pub(super) fn import(
    explicit: Option<&std::path::Path>,
    opml: &std::path::Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let env = Env::from_process();
    let Some(path) = config::path(explicit, &env) else {
        return Err(UsageError(format!(
            "opml import: there is no config file to add feeds to (feedwatch is using its built-in default); \
             pass --config FILE, or create {} (from config/feedwatch.toml) first",
            config::SYSTEM_PATH
        ))
        .into());
    };
    // The feeds already there. A config without any [[feeds]] is invalid only for that,
    // and is what an import into a fresh config starts from.
    let existing = match config::load(Some(&path), &env) {
        Ok(c) => c.feeds,
        Err(LoadError::Invalid { errors, .. })
            if errors
                .iter()
                .all(|e| e.key == "feeds" && e.message.starts_with("no [[feeds]]")) =>
        {
            Vec::new()
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("opml import: the config must be valid before feeds are added to it"));
        }
    };
    let bytes = std::fs::read(opml)
        .map_err(|e| UsageError(format!("opml import: cannot read {}: {e}", opml.display())))?;
    let text = crate::decode::to_utf8(&bytes, None).text;
    let outlines = crate::opml::parse(&text).map_err(|e| {
        UsageError(format!(
            "opml import: {} is not a usable OPML file: {e}; {} left unchanged",
            opml.display(),
            path.display()
        ))
    })?;
    let plan = crate::opml::plan(&existing, &outlines);
    // What it adds and skips: printed once the file is written and checked (or at once
    // for a dry run), so a failed import prints only the error.
    let mut report = String::new();
    let verb = if dry_run { "would add" } else { "added" };
    for a in &plan.added {
        report.push_str(&format!(
            "{verb} {:<20} {}",
            a.name,
            crate::redact::redact_url(a.url.as_str())
        ));
        if let Some(wanted) = &a.renamed_from {
            report.push_str(&format!("  (renamed: {wanted:?} is taken)"));
        }
        report.push('\n');
    }
    for (label, why) in &plan.skipped {
        report.push_str(&format!("skipped {label}: {why}\n"));
    }
    report.push_str(&format!(
        "opml import{}: {} feeds in {}, {} {verb}, {} skipped",
        if dry_run { " (dry run)" } else { "" },
        outlines.len(),
        opml.display(),
        plan.added.len(),
        plan.skipped.len()
    ));
    let mut out = std::io::stdout().lock();
    if dry_run || plan.added.is_empty() {
        writeln!(out, "{report}; {} unchanged", path.display())?;
        return Ok(());
    }
    let original = std::fs::metadata(&path)
        .with_context(|| format!("opml import: {}", path.display()))?
        .len();
    let mut addition = crate::opml::to_toml(&plan.added, &opml.display().to_string());
    let ends_in_newline = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        let mut last = [0u8; 1];
        original == 0
            || (f.seek(SeekFrom::End(-1)).is_ok() && f.read(&mut last)? == 1 && last[0] == b'\n')
    };
    if !ends_in_newline {
        addition.insert(0, '\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .with_context(|| format!("opml import: opening {} to append to it", path.display()))?;
    let restore = |file: &std::fs::File| file.set_len(original).and_then(|_| file.sync_all());
    if let Err(e) = file
        .write_all(addition.as_bytes())
        .and_then(|_| file.sync_all())
    {
        restore(&file).ok();
        return Err(
            anyhow::Error::new(e).context(format!("opml import: appending to {}", path.display()))
        );
    }
    if let Err(e) = config::load(Some(&path), &env) {
        restore(&file).with_context(|| format!("opml import: restoring {}", path.display()))?;
        return Err(anyhow::Error::new(e).context(format!(
            "opml import: the config with the new feeds does not validate; {} is restored as it was",
            path.display()
        )));
    }
    writeln!(
        out,
        "{report}; appended to {} (apply with `systemctl reload feedwatch`)",
        path.display()
    )?;
    Ok(())
}
