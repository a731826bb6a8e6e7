//! `feed add NAME URL` and `feed remove NAME`: edit the config file, keeping its comments
//! and layout (a new `[[feeds]]` table is appended; a removed one is cut out, the comments
//! of its neighbours kept), check the result, and reload the running service. The file is
//! left as it was when it is not writable or the result does not validate.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::UsageError;
use crate::config::{self, Env};
use crate::ctl::{self, Request};
use crate::opml::toml_string;

/// The config file to edit: never the built-in default.
fn config_file(explicit: Option<&Path>) -> anyhow::Result<(PathBuf, Env)> {
    let env = Env::from_process();
    let Some(path) = config::path(explicit, &env) else {
        return Err(UsageError(format!(
            "feed: there is no config file to edit (feedwatch is using its built-in default); pass --config FILE, or create {} first",
            config::SYSTEM_PATH
        ))
        .into());
    };
    Ok((path, env))
}

/// `feed add NAME URL [--interval D] [--backlog W]`.
pub(super) fn add(
    explicit: Option<&Path>,
    name: &str,
    url: &str,
    interval: Option<&str>,
    backlog: Option<&str>,
) -> anyhow::Result<()> {
    let (path, env) = config_file(explicit)?;
    let before = config::load(Some(&path), &env)
        .context("feed add: the config must be valid before a feed is added to it")?;
    if before.feeds.iter().any(|f| f.name == name) {
        return Err(UsageError(format!(
            "feed add: {} already has a feed called {name:?}",
            path.display()
        ))
        .into());
    }
    let text = read(&path)?;
    let mut table = format!(
        "[[feeds]]\nname = {}\nurl = {}\n",
        toml_string(name),
        toml_string(url)
    );
    if let Some(i) = interval {
        table.push_str(&format!("interval = {}\n", toml_string(i)));
    }
    if let Some(b) = backlog {
        table.push_str(&format!("backlog = {}\n", toml_string(b)));
    }
    let sep = if text.is_empty() || text.ends_with("\n\n") {
        ""
    } else if text.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let next = format!("{text}{sep}{table}");
    write_checked(&path, &env, &text, &next, "feed add")?;
    println!("{name}: added to {}", path.display());
    reload_running(&path, &env)
}

/// `feed remove NAME`.
pub(super) fn remove(explicit: Option<&Path>, name: &str) -> anyhow::Result<()> {
    let (path, env) = config_file(explicit)?;
    let config = config::load(Some(&path), &env)
        .context("feed remove: the config must be valid before a feed is removed from it")?;
    if !config.feeds.iter().any(|f| f.name == name) {
        return Err(crate::service::unknown_feed(&config, name));
    }
    let text = read(&path)?;
    let Some((start, end)) = feed_table(&text, name) else {
        return Err(UsageError(format!(
            "feed remove: {name:?} is not written as a [[feeds]] table with name = {name:?} in {}; remove it by hand",
            path.display()
        ))
        .into());
    };
    let next = format!("{}{}", &text[..start], &text[end..]);
    write_checked(&path, &env, &text, &next, "feed remove")?;
    println!(
        "{name}: removed from {} (its state and items stay in the store)",
        path.display()
    );
    reload_running(&path, &env)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes `next` over `path` (through a temporary file beside it), then checks it; restores
/// `before` when it does not validate.
fn write_checked(
    path: &Path,
    env: &Env,
    before: &str,
    next: &str,
    what: &str,
) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.permissions().readonly() {
        return Err(UsageError(format!(
            "{what}: {} is not writable; nothing changed",
            path.display()
        ))
        .into());
    }
    let tmp = path.with_file_name(format!(
        ".{}.new",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, next)
        .and_then(|()| std::fs::set_permissions(&tmp, meta.permissions()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            UsageError(format!(
                "{what}: cannot write {} ({e}); nothing changed",
                path.display()
            ))
        })?;
    if let Err(e) = config::load(Some(path), env) {
        std::fs::write(path, before)
            .with_context(|| format!("{what}: restoring {}", path.display()))?;
        return Err(anyhow::Error::new(e).context(format!(
            "{what}: the changed config does not validate; {} is restored as it was",
            path.display()
        )));
    }
    Ok(())
}

/// Asks the running service, if any, to reload; prints the outcome.
fn reload_running(path: &Path, env: &Env) -> anyhow::Result<()> {
    let config = config::load(Some(path), env)?;
    let Some(stream) = ctl::connect(&config)? else {
        println!(
            "no running feedwatch answers on the control socket: the change applies at its next start"
        );
        return Ok(());
    };
    let answer = ctl::call(stream, &Request::Reload, &mut |r| {
        if let ctl::Reply::Out(s) = r {
            print!("{s}");
        }
        Ok(())
    })?;
    match answer.code {
        0 => Ok(()),
        _ => Err(UsageError(answer.error.unwrap_or_default()).into()),
    }
}

/// The byte range of the `[[feeds]]` table whose `name` is `name`: from its header to its
/// last key line (comments and blank lines after it, which may belong to the next table,
/// stay).
fn feed_table(text: &str, name: &str) -> Option<(usize, usize)> {
    let mut offsets = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        offsets.push((at, line));
        at += line.len();
    }
    let wanted = [
        format!("name = {}", toml_string(name)),
        format!("name = '{name}'"),
    ];
    let mut i = 0;
    while i < offsets.len() {
        if offsets[i].1.trim() == "[[feeds]]" {
            let start = offsets[i].0;
            let mut j = i + 1;
            let mut last = i;
            let mut found = false;
            while j < offsets.len() && !offsets[j].1.trim_start().starts_with('[') {
                let t = offsets[j].1.trim();
                if !t.is_empty() && !t.starts_with('#') {
                    last = j;
                    let norm = t.split('#').next().unwrap_or("").trim().replace("  ", " ");
                    found |= wanted
                        .iter()
                        .any(|w| *w == norm || w.replace(" = ", "=") == norm);
                }
                j += 1;
            }
            if found {
                let mut end = offsets[last].0 + offsets[last].1.len();
                // and one blank line after it, so that the gap does not grow
                if let Some((o, l)) = offsets.get(last + 1)
                    && l.trim().is_empty()
                {
                    end = o + l.len();
                }
                return Some((start, end));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_table_leaves_its_neighbours_and_their_comments() {
        let text = "# top\n[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n\n# Meduza\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n";
        let (s, e) = feed_table(text, "a").unwrap();
        let out = format!("{}{}", &text[..s], &text[e..]);
        assert_eq!(
            out,
            "# top\n# Meduza\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n"
        );
        let (s, e) = feed_table(text, "b").unwrap();
        assert_eq!(
            &text[s..e],
            "[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n"
        );
        assert!(feed_table(text, "c").is_none());
    }
}
