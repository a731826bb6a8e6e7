//! Whether the store and the alert log can be used by the user the service runs as: they
//! exist and are writable by it, or can be created by it (or by systemd's
//! `StateDirectory=`/`LogsDirectory=`). Judged from owners and modes, so that `check` run as
//! root answers for the service's user (`feedwatch`, as in the packaged unit's `User=`).
//!
//! The user is `$FEEDWATCH_SERVICE_USER` if set, else `feedwatch` when that user exists,
//! else whoever runs `check`.

use std::ffi::{CStr, CString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The user of the packaged unit (`User=feedwatch`).
const SERVICE_USER: &str = "feedwatch";

/// The directories systemd creates for the unit, owned by its user, at its start.
const SYSTEMD_DIRS: [(&str, &str); 2] = [
    ("/var/lib/feedwatch", "StateDirectory=feedwatch"),
    ("/var/log/feedwatch", "LogsDirectory=feedwatch"),
];

/// A user: name, ids and groups.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl User {
    /// The user named `name`, if the system knows it.
    pub fn named(name: &str) -> Option<User> {
        let c = CString::new(name).ok()?;
        // SAFETY: getpwnam returns a pointer into static storage or null; it is read at
        // once, before any other passwd call (check runs on one thread)
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if pw.is_null() {
            return None;
        }
        // SAFETY: non-null, as returned by getpwnam
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        let mut groups = vec![0 as libc::gid_t; 256];
        let mut n = groups.len() as libc::c_int;
        // SAFETY: the buffer holds n entries; getgrouplist writes at most n and sets n
        let found =
            unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut n) } >= 0;
        groups.truncate(if found { n.max(0) as usize } else { 0 });
        Some(User {
            name: name.into(),
            uid,
            gid,
            groups,
        })
    }

    /// The user this process runs as.
    fn current() -> User {
        // SAFETY: geteuid cannot fail; getpwuid returns static storage or null
        let uid = unsafe { libc::geteuid() };
        let pw = unsafe { libc::getpwuid(uid) };
        let name = if pw.is_null() {
            uid.to_string()
        } else {
            // SAFETY: non-null, pw_name is a C string
            unsafe { CStr::from_ptr((*pw).pw_name) }
                .to_string_lossy()
                .into_owned()
        };
        User::named(&name).unwrap_or(User {
            name,
            uid,
            // SAFETY: getegid cannot fail
            gid: unsafe { libc::getegid() },
            groups: Vec::new(),
        })
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Whom to check for, and why that user (for the heading).
pub fn service_user() -> (User, &'static str) {
    if let Some(name) = std::env::var("FEEDWATCH_SERVICE_USER")
        .ok()
        .filter(|n| !n.is_empty())
    {
        return match User::named(&name) {
            Some(u) => (u, "$FEEDWATCH_SERVICE_USER"),
            None => (
                User {
                    name,
                    uid: u32::MAX,
                    gid: u32::MAX,
                    groups: Vec::new(),
                },
                "$FEEDWATCH_SERVICE_USER, unknown to this system",
            ),
        };
    }
    match User::named(SERVICE_USER) {
        Some(u) => (u, "the service's user"),
        None => (User::current(), "this user; no feedwatch user exists"),
    }
}

/// Whether `who` may do `want` (a mask of r=4, w=2, x=1) on a file with `meta`.
fn may(who: &User, meta: &std::fs::Metadata, want: u32) -> bool {
    if who.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    let bits = if meta.uid() == who.uid {
        mode >> 6
    } else if who.in_group(meta.gid()) {
        mode >> 3
    } else {
        mode
    };
    bits & want == want
}

/// "owned by root:root, mode 0755", for a refusal.
fn owner(meta: &std::fs::Metadata) -> String {
    let name = |uid: u32| {
        // SAFETY: getpwuid returns static storage or null, read at once
        let pw = unsafe { libc::getpwuid(uid) };
        if pw.is_null() {
            uid.to_string()
        } else {
            // SAFETY: non-null, pw_name is a C string
            unsafe { CStr::from_ptr((*pw).pw_name) }
                .to_string_lossy()
                .into_owned()
        }
    };
    format!(
        "owned by {}, mode {:04o}",
        name(meta.uid()),
        meta.mode() & 0o7777
    )
}

fn read_only_fs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statvfs writes into the struct it is given
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) }) == 0 && s.f_flag & libc::ST_RDONLY != 0
}

/// Every directory above `path` (existing ones) lets `who` through.
fn reachable(who: &User, path: &Path) -> Result<(), String> {
    for dir in path.ancestors().skip(1) {
        if let Ok(m) = std::fs::metadata(dir)
            && !may(who, &m, 1)
        {
            return Err(format!(
                "{} cannot enter {} ({})",
                who.name,
                dir.display(),
                owner(&m)
            ));
        }
    }
    Ok(())
}

/// A directory `who` must write in: it exists and is writable, or it can be created.
fn dir_usable(who: &User, dir: &Path) -> Result<String, String> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(format!("{} is not a directory", dir.display())),
        Ok(m) => {
            reachable(who, dir)?;
            if read_only_fs(dir) {
                return Err(format!("{} is on a read-only file system", dir.display()));
            }
            if !may(who, &m, 3) {
                return Err(format!(
                    "{} cannot write in {} ({})",
                    who.name,
                    dir.display(),
                    owner(&m)
                ));
            }
            Ok("exists, writable".into())
        }
        Err(_) => {
            // the first missing directory: made by systemd, or by the service in its parent
            let missing: PathBuf = dir
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty() && !a.exists())
                .last()
                .unwrap_or(dir)
                .into();
            if let Some((_, setting)) = SYSTEMD_DIRS.iter().find(|(d, _)| Path::new(d) == missing) {
                return Ok(format!(
                    "{} is created by systemd at the service's start ({setting})",
                    missing.display()
                ));
            }
            let parent = missing.parent().unwrap_or(Path::new("."));
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            dir_usable(who, parent)
                .map(|_| format!("{} does not exist yet; can be created", missing.display()))
                .map_err(|e| format!("{} cannot be created: {e}", missing.display()))
        }
    }
}

/// The store directory: usable by `who`, and every file in it writable by `who` (a store
/// made by root cannot be opened by the service's user).
pub fn store(who: &User, path: &Path) -> Result<String, String> {
    let said = dir_usable(who, path)?;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            if let Ok(m) = e.metadata()
                && !may(who, &m, if m.is_dir() { 3 } else { 6 })
            {
                return Err(format!(
                    "{} cannot write {} ({}): chown -R {} {}",
                    who.name,
                    e.path().display(),
                    owner(&m),
                    who.name,
                    path.display()
                ));
            }
        }
    }
    Ok(said)
}

/// The alert log: its directory usable by `who`, and the file (if there) writable by `who`.
pub fn log(who: &User, path: &Path) -> Result<String, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let said = dir_usable(who, dir)?;
    match std::fs::metadata(path) {
        Ok(m) if !may(who, &m, 2) => Err(format!(
            "{} cannot write {} ({})",
            who.name,
            path.display(),
            owner(&m)
        )),
        Ok(_) => Ok("exists, writable".into()),
        Err(_) => Ok(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn nobody_or_me() -> User {
        if unsafe { libc::geteuid() } == 0 {
            User::named("nobody").expect("a nobody user")
        } else {
            User::current()
        }
    }

    #[test]
    fn a_directory_the_user_cannot_write_is_refused() {
        let who = nobody_or_me();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let err = store(&who, &locked.join("store")).unwrap_err();
        assert!(err.contains("cannot be created"), "{err}");
        assert!(err.contains("mode 0555"), "{err}");
        let err = log(&who, &locked.join("alerts.jsonl")).unwrap_err();
        assert!(err.contains("cannot write in"), "{err}");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(store(&who, &locked.join("store")).is_ok());
    }

    #[test]
    fn systemd_directories_are_created_at_start() {
        let who = nobody_or_me();
        if Path::new("/var/lib/feedwatch").exists() {
            return; // this machine has them
        }
        let ok = store(&who, Path::new("/var/lib/feedwatch/store")).unwrap();
        assert!(ok.contains("StateDirectory=feedwatch"), "{ok}");
    }
}
