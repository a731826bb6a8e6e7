//! `feed add NAME URL` and `feed remove NAME`: edit the config file with `toml_edit`,
//! keeping its comments and layout, whatever form its feeds take (`[[feeds]]` tables, an
//! inline array `feeds = [{...}, ...]`, quoted or dotted keys inside them): a new feed goes
//! after the last one in the same form; a removed one is cut out with the comments above
//! it, its neighbours' kept. The result is validated in memory and written (through a
//! temporary file beside it, renamed over it) only when it is valid and the file is
//! writable, so a refusal leaves the file byte-identical. Then the running service reloads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::UsageError;
use crate::config::{self, Env};
use crate::ctl::{self, Request};

/// The config file to edit: never the built-in default. A symlink is followed, so that
/// the file it points to is the one edited.
fn config_file(explicit: Option<&Path>) -> anyhow::Result<(PathBuf, Env)> {
    let env = Env::from_process();
    let Some(path) = config::path(explicit, &env) else {
        return Err(UsageError(format!(
            "feed: there is no config file to edit (feedwatch is using its built-in default); pass --config FILE, or create {} first",
            config::SYSTEM_PATH
        ))
        .into());
    };
    let path = std::fs::canonicalize(&path).unwrap_or(path);
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
    let mut keys = vec![("name", name), ("url", url)];
    keys.extend(interval.map(|i| ("interval", i)));
    keys.extend(backlog.map(|b| ("backlog", b)));
    let next = with_feed(&text, &keys).map_err(|e| edit_error("feed add", &path, e))?;
    write_checked(&path, &env, &next, "feed add")?;
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
    let next = without_feed(&text, name).map_err(|e| edit_error("feed remove", &path, e))?;
    write_checked(&path, &env, &next, "feed remove")?;
    println!(
        "{name}: removed from {} (its state and items stay in the store)",
        path.display()
    );
    reload_running(&path, &env)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn edit_error(what: &str, path: &Path, e: String) -> anyhow::Error {
    UsageError(format!("{what}: {} {e}; nothing changed", path.display())).into()
}

/// `text` with a feed of `keys` added after the last feed, in the form the feeds take.
fn with_feed(text: &str, keys: &[(&str, &str)]) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot be parsed for editing ({e})"))?;
    let empty = doc.is_empty() && doc.trailing().as_str().is_none_or(str::is_empty);
    match doc.get_mut("feeds") {
        None => {
            let mut table = Table::new();
            for (k, v) in keys {
                table.insert(k, toml_edit::value(*v));
            }
            // at the end of the file: after its closing comments, if any
            let trailing = doc.trailing().as_str().unwrap_or("").to_string();
            doc.set_trailing("");
            let sep = if empty || trailing.ends_with("\n\n") {
                ""
            } else if trailing.is_empty() || trailing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            table.decor_mut().set_prefix(format!("{trailing}{sep}"));
            let mut feeds = ArrayOfTables::new();
            feeds.push(table);
            doc.insert("feeds", Item::ArrayOfTables(feeds));
        }
        Some(Item::ArrayOfTables(feeds)) => {
            let mut table = Table::new();
            for (k, v) in keys {
                table.insert(k, toml_edit::value(*v));
            }
            table.decor_mut().set_prefix("\n");
            feeds.push(table);
        }
        Some(Item::Value(Value::Array(feeds))) => {
            let mut table = InlineTable::new();
            for (k, v) in keys {
                table.insert(*k, (*v).into());
            }
            table.fmt();
            let mut entry = Value::InlineTable(table);
            // laid out like the entry before it (one a line, say)
            if let Some(prefix) = feeds.iter().last().and_then(|v| v.decor().prefix()) {
                entry.decor_mut().set_prefix(prefix.clone());
            }
            feeds.push_formatted(entry);
        }
        Some(_) => return Err("has a `feeds` that is not an array of feeds".into()),
    }
    Ok(doc.to_string())
}

/// `text` without the feed called `name`.
fn without_feed(text: &str, name: &str) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot be parsed for editing ({e})"))?;
    let named = |v: Option<&Item>| v.and_then(Item::as_str) == Some(name);
    match doc.get_mut("feeds") {
        Some(Item::ArrayOfTables(feeds)) => {
            let i = feeds
                .iter()
                .position(|t| named(t.get("name")))
                .ok_or_else(|| format!("has no [[feeds]] entry with name = {name:?}"))?;
            let table = feeds.get(i).expect("found above");
            let (at, prefix) = (table.position(), prefix_of(table.decor()));
            feeds.remove(i);
            if feeds.is_empty() {
                doc.remove("feeds");
            }
            keep_detached(&mut doc, at, &prefix);
        }
        Some(Item::Value(Value::Array(feeds))) => {
            let i = feeds
                .iter()
                .position(|v| {
                    v.as_inline_table()
                        .and_then(|t| t.get("name"))
                        .and_then(Value::as_str)
                        == Some(name)
                })
                .ok_or_else(|| format!("has no entry with name = {name:?} in its feeds"))?;
            let removed = feeds.remove(i);
            // the first entry keeps the layout the removed one had after `[`
            if i == 0
                && let (Some(first), Some(prefix)) = (feeds.get_mut(0), removed.decor().prefix())
            {
                first.decor_mut().set_prefix(prefix.clone());
            }
        }
        _ => return Err(format!("has no feeds to remove {name:?} from")),
    }
    Ok(doc.to_string())
}

fn prefix_of(decor: &toml_edit::Decor) -> String {
    decor
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string()
}

/// The comments above a removed table that a blank line sets off from it (a file's
/// heading, a section's note) stay: they go to the table that followed it, or to the end.
fn keep_detached(doc: &mut DocumentMut, at: Option<isize>, prefix: &str) {
    let Some(cut) = prefix.rfind("\n\n") else {
        return;
    };
    let detached = &prefix[..cut + 2];
    let (Some(at), false) = (at, detached.trim().is_empty()) else {
        return;
    };
    let mut next: Option<&mut Table> = None;
    for (_, item) in doc.as_table_mut().iter_mut() {
        let tables: Vec<&mut Table> = match item {
            Item::Table(t) => vec![t],
            Item::ArrayOfTables(a) => a.iter_mut().collect(),
            _ => continue,
        };
        for t in tables {
            let Some(p) = t.position() else { continue };
            if p > at
                && next
                    .as_ref()
                    .is_none_or(|n| n.position().is_some_and(|q| p < q))
            {
                next = Some(t);
            }
        }
    }
    match next {
        Some(t) => {
            let kept = format!("{detached}{}", prefix_of(t.decor()));
            t.decor_mut().set_prefix(kept);
        }
        None => {
            let trailing = doc.trailing().as_str().unwrap_or("").to_string();
            doc.set_trailing(format!("{detached}{trailing}"));
        }
    }
}

/// Writes `next` over `path` when `path` is writable and `next` validates (through a temporary
/// file beside it, renamed over it); otherwise the file stays byte-identical.
fn write_checked(path: &Path, env: &Env, next: &str, what: &str) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path)?;
    let writable = !meta.permissions().readonly()
        && std::fs::OpenOptions::new().append(true).open(path).is_ok();
    if !writable {
        return Err(UsageError(format!(
            "{what}: {} is not writable; nothing changed (edit it as its owner, or make it writable)",
            path.display()
        ))
        .into());
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if let Err(e) = config::parse(next, &path.display().to_string(), Some(&base), env) {
        return Err(anyhow::Error::new(e).context(format!(
            "{what}: the changed config would not validate; {} is left as it was",
            path.display()
        )));
    }
    let tmp = path.with_file_name(format!(
        ".{}.new",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let written = std::fs::write(&tmp, next)
        .and_then(|()| std::fs::set_permissions(&tmp, meta.permissions()))
        .and_then(|()| {
            use std::os::unix::fs::MetadataExt;
            // as root, keep the file's owner; as anyone else this is a no-op or refused
            let _ = std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()));
            std::fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(UsageError(format!(
            "{what}: cannot write {} ({e}); nothing changed",
            path.display()
        ))
        .into());
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
    let said = answer.error.unwrap_or_default();
    match answer.code {
        0 => Ok(()),
        2 => Err(UsageError(said).into()),
        3 => Err(crate::exit::Busy(format!(
            "{said}; the config file is changed: run `feedwatch reload` in a moment"
        ))
        .into()),
        _ => Err(anyhow::anyhow!("{said} (in the running feedwatch)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[(&str, &str)] = &[("name", "c"), ("url", "http://x/c")];

    #[test]
    fn a_removed_table_leaves_its_neighbours_and_their_comments() {
        let text = "# top\n[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n\n# Meduza\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n";
        assert_eq!(
            without_feed(text, "a").unwrap(),
            "\n# Meduza\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n"
        );
        assert_eq!(
            without_feed(text, "b").unwrap(),
            "# top\n[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n"
        );
        assert!(without_feed(text, "c").is_err());
    }

    #[test]
    fn comments_set_off_by_a_blank_line_stay() {
        let text = "# heading\n\n# about a\n[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n";
        assert_eq!(
            without_feed(text, "a").unwrap(),
            "# heading\n\n\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n"
        );
        let text = "[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n\n# the end\n\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n";
        assert_eq!(
            without_feed(text, "b").unwrap(),
            "[[feeds]]\nname = \"a\"\nurl = \"http://x/a\"\n\n# the end\n\n"
        );
    }

    #[test]
    fn a_table_is_added_after_the_last_feed_and_the_rest_kept() {
        let text = "# top\n[[feeds]] # first\nname = 'a'\nurl  =  \"http://x/a\"\n\n# the watches\n[[watch]]\nname = \"w\"\nterms = [\"x\"]\n";
        let out = with_feed(text, KEYS).unwrap();
        assert_eq!(
            out,
            "# top\n[[feeds]] # first\nname = 'a'\nurl  =  \"http://x/a\"\n\n[[feeds]]\nname = \"c\"\nurl = \"http://x/c\"\n\n# the watches\n[[watch]]\nname = \"w\"\nterms = [\"x\"]\n"
        );
        // and out again, leaving the file as it was
        assert_eq!(without_feed(&out, "c").unwrap(), text);
        // no feeds yet: an array of tables at the end
        let out = with_feed("# only a comment\n", KEYS).unwrap();
        assert_eq!(
            out,
            "# only a comment\n\n[[feeds]]\nname = \"c\"\nurl = \"http://x/c\"\n"
        );
    }

    #[test]
    fn an_inline_array_of_feeds_is_edited_in_place() {
        let text = "feeds = [\n  # one a line\n  { name = \"a\", url = \"http://x/a\" },\n  { name = \"b\", url = \"http://x/b\" },\n]\n\n[[watch]]\nname = \"w\"\nterms = [\"x\"]\n";
        let out = with_feed(text, KEYS).unwrap();
        assert!(
            out.contains("  { name = \"b\", url = \"http://x/b\" },\n  { name = \"c\", url = \"http://x/c\" },\n]\n"),
            "{out}"
        );
        let out = without_feed(&out, "b").unwrap();
        assert!(out.contains("# one a line"), "{out}");
        assert!(!out.contains("http://x/b"), "{out}");
        let out = without_feed(&out, "a").unwrap();
        assert!(
            out.starts_with("feeds = [\n  # one a line\n  { name = \"c\""),
            "{out}"
        );
        let single = "feeds = [{ name = \"a\", url = \"http://x/a\" }, { name = \"b\", url = \"http://x/b\" }]\n";
        assert_eq!(
            without_feed(single, "a").unwrap(),
            "feeds = [{ name = \"b\", url = \"http://x/b\" }]\n"
        );
    }

    #[test]
    fn quoted_and_dotted_keys_are_found() {
        let text = "[[feeds]]\n\"name\" = \"a\"\nurl = \"http://x/a\"\nfull_text.selector = \"p\"\n\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n";
        let out = without_feed(text, "a").unwrap();
        assert_eq!(out, "\n[[feeds]]\nname = \"b\"\nurl = \"http://x/b\"\n");
    }
}
