//! What the file system says about the paths a config names: a store path that is a file,
//! an alert log that is a directory, either one under a file, an exec command that does not
//! exist or cannot be run. Each is a config error (so `check` rejects it, and so does every
//! command, a reload included) instead of a failure at the service's first use of it.
//!
//! Only what cannot work is rejected: a path that does not exist yet is fine when it can be
//! created (the store and the log's directory are created as needed), and a path this
//! process may not look at (another user's directory) is given the benefit of the doubt,
//! since `check` is often run by someone other than the service's user.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The sled store's directory: a directory, or creatable as one.
pub(super) fn store_dir(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("empty: give the store's directory, e.g. \"/var/lib/feedwatch/store\"".into());
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} is a file, not a directory: the store is a directory of files; give a \
             directory's path (it is created if missing) or move the file away",
            path.display()
        )),
        Err(e) => creatable(path, &e),
    }
}

/// The alert log: a file (or anything but a directory), or creatable as one.
pub(super) fn log_file(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err(
            "empty: give the alert log's file, e.g. \"/var/log/feedwatch/alerts.jsonl\"".into(),
        );
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!(
            "{} is a directory, not a file: give the log file's path, e.g. \"{}\"",
            path.display(),
            path.join("alerts.jsonl").display()
        )),
        Ok(_) => Ok(()),
        Err(e) => creatable(path, &e),
    }
}

/// `path` does not exist (`e`): fine unless the nearest thing above it that exists is not
/// a directory, so that it can never be created.
fn creatable(path: &Path, e: &std::io::Error) -> Result<(), String> {
    if !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) {
        return Ok(()); // not ours to look at: the service's user may see more
    }
    let mut up = path.parent();
    while let Some(dir) = up.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(format!(
                    "{} is a file, so {} cannot be created under it: give a path under a \
                     directory, or move the file away",
                    dir.display(),
                    path.display()
                ));
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                up = dir.parent();
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// An exec sink's program, found as the service will run it: by its path when it has a
/// '/' (relative ones from the working directory), else in `$PATH`.
pub(super) fn program(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the program is \"\": give its full path first, then its arguments".into());
    }
    if name.contains('/') {
        return match runnable(Path::new(name)) {
            Runnable::Yes | Runnable::Unknown => Ok(()),
            Runnable::Missing => Err(format!(
                "{name} does not exist: give the program's full path, or install it"
            )),
            Runnable::No(why) => Err(format!("{name} {why}")),
        };
    }
    let search = std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut unusable = None;
    for dir in std::env::split_paths(&search) {
        let candidate = dir.join(name);
        match runnable(&candidate) {
            Runnable::Yes | Runnable::Unknown => return Ok(()),
            Runnable::Missing => {}
            Runnable::No(why) => {
                unusable.get_or_insert_with(|| format!("{} {why}", candidate.display()));
            }
        }
    }
    Err(unusable.unwrap_or_else(|| {
        format!(
            "{name:?} is not found in PATH ({}): give the program's full path, or install it",
            search.to_string_lossy()
        )
    }))
}

/// What the file system says about running a file.
enum Runnable {
    Yes,
    /// This process may not look; the service's user may.
    Unknown,
    Missing,
    /// Why not.
    No(&'static str),
}

fn runnable(path: &Path) -> Runnable {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            Runnable::No("is a directory, not a program: give the program's full path")
        }
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Runnable::No(
            "is not executable: chmod +x it, or run it through its interpreter \
             (command = [\"sh\", \"/path/to/script\"])",
        ),
        Ok(_) => Runnable::Yes,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            Runnable::Missing
        }
        Err(_) => Runnable::Unknown,
    }
}
