//! The control channel: how the CLI asks a running service to act (poll, enable, pause,
//! resume, reload, rematch, export) while that service holds the store.
//!
//! It is a Unix socket (`[control] socket`; by default `$RUNTIME_DIRECTORY/control.sock`
//! under systemd, else `control.sock` beside the store directory), mode 0660: the operating
//! system decides who may connect (the service's user, and the members of its group). The
//! loopback TCP API stays read-only; nothing writes without this socket's permissions.
//!
//! The protocol is JSON lines: the client sends one [`Request`], the service answers with
//! [`Reply`] lines, the last one [`Reply::Exit`]. `Out` is the command's standard output
//! (the same text the command prints without a service), `Err` its standard error,
//! `Progress` a count for a long run. The service writes the socket's path beside the store,
//! in [`PATH_FILE`], so that a CLI whose config leaves `socket` unset finds it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;

pub mod lines;

/// The file beside the store that names the control socket of the process holding it.
pub const PATH_FILE: &str = "feedwatch.control";

/// The socket's file mode: the service's user and group read and write, nobody else.
pub const MODE: u32 = 0o660;

/// Longest request line the service reads.
pub const MAX_REQUEST: usize = 64 * 1024;

/// One command for the running service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// `poll NAME`, or every feed (`poll --all`, `once`) when `feed` is `None`.
    Poll {
        feed: Option<String>,
    },
    Enable {
        feed: String,
    },
    Pause {
        feed: String,
    },
    Resume {
        feed: String,
    },
    /// Re-read the config (as SIGHUP does) and say whether it was taken.
    Reload,
    Rematch {
        /// Seconds.
        since: Option<f64>,
        watch: Option<String>,
        dry_run: bool,
        json: bool,
    },
    /// The whole store as JSON lines, streamed in `Out` lines; `Summary` gives the counts.
    Export,
    /// `status`: one `Out` line, the status object ([`crate::status`]).
    Status,
    /// `explain ITEM`: one `Out` line, the explanation ([`crate::explain`]).
    Explain {
        item: String,
    },
}

/// One line of the service's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply {
    /// Text for standard output.
    Out(String),
    /// Text for standard error.
    Err(String),
    /// (done, total) of a long run.
    Progress(usize, usize),
    /// What an export wrote, e.g. "3 feeds, 10 items, ...".
    Summary(String),
    /// The end: the command's exit code, and its error (printed by the CLI as its own).
    Exit { code: u8, error: Option<String> },
}

/// The path the service binds: `[control] socket`, else `$RUNTIME_DIRECTORY/control.sock`,
/// else `control.sock` beside the store directory.
pub fn bind_path(config: &Config) -> PathBuf {
    if let Some(p) = &config.control.socket {
        return p.clone();
    }
    let runtime = std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|v| {
            v.to_str()
                .map(|s| s.split(':').next().unwrap_or("").to_string())
        })
        .filter(|s| !s.is_empty());
    match runtime {
        Some(dir) => Path::new(&dir).join("control.sock"),
        None => beside_store(&config.storage.path),
    }
}

/// `control.sock` in the directory that holds the store directory.
fn beside_store(store: &Path) -> PathBuf {
    match store.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("control.sock"),
        _ => PathBuf::from("control.sock"),
    }
}

/// The id of the group called `name`, if the system has one (`getgrnam_r`: /etc/group,
/// or whatever NSS consults).
pub fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: every pointer is to a live local of the right type; `buf` is as long as
        // said; `grp` is only read when getgrnam_r set `found` to it.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return (rc == 0 && !found.is_null()).then_some(grp.gr_gid);
    }
}

/// Where the systemd unit's service puts its socket (`RuntimeDirectory=feedwatch`).
pub const SYSTEMD_SOCKET: &str = "/run/feedwatch/control.sock";

/// Where the CLI looks for the running service: `[control] socket`, else the path the
/// running service wrote beside the store, else the default path when a socket is there,
/// else the systemd unit's socket when the store is the unit's (an operator may not read
/// the store directory, mode 0700).
pub fn client_path(config: &Config) -> Option<PathBuf> {
    if let Some(p) = &config.control.socket {
        return Some(p.clone());
    }
    if let Ok(named) = std::fs::read_to_string(config.storage.path.join(PATH_FILE)) {
        return Some(PathBuf::from(named.trim_end_matches('\n')));
    }
    // where the service binds it by default: the store directory does not name it while
    // the running service compacts it (the copy is written without it)
    let own = bind_path(config);
    if own.exists() {
        return Some(own);
    }
    let unit = Path::new(SYSTEMD_SOCKET);
    (config.storage.path.starts_with("/var/lib/feedwatch") && unit.exists())
        .then(|| unit.to_path_buf())
}

/// A connection to the running service, when one listens on its control socket. `Ok(None)`
/// when no service answers there (no socket, or a stale one): the command runs on its own.
pub fn connect(config: &Config) -> anyhow::Result<Option<UnixStream>> {
    let Some(path) = client_path(config) else {
        return Ok(None);
    };
    match UnixStream::connect(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(anyhow::anyhow!(
            "the running feedwatch's control socket {} refuses you ({e}): run this as the service's user, or as a member of the socket's group (see `ls -l {}`)",
            path.display(),
            path.display()
        )),
        Err(e) => Err(anyhow::anyhow!(
            "connecting to the running feedwatch's control socket {}: {e}",
            path.display()
        )),
    }
}

/// What the service answered, after its `Out`, `Err` and `Progress` lines were handed to
/// `each`: its exit code and error.
pub struct Answer {
    pub code: u8,
    pub error: Option<String>,
    pub summary: Option<String>,
}

/// Sends `request` on `stream` and hands each reply line to `each` until the service's
/// `Exit`.
pub fn call(
    mut stream: UnixStream,
    request: &Request,
    each: &mut dyn FnMut(Reply) -> anyhow::Result<()>,
) -> anyhow::Result<Answer> {
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| anyhow::anyhow!("sending the command to the running feedwatch: {e}"))?;
    let mut summary = None;
    for line in BufReader::new(stream).lines() {
        let line =
            line.map_err(|e| anyhow::anyhow!("reading the running feedwatch's answer: {e}"))?;
        let reply: Reply = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!("the running feedwatch answered something unreadable ({e})")
        })?;
        match reply {
            Reply::Exit { code, error } => {
                return Ok(Answer {
                    code,
                    error,
                    summary,
                });
            }
            Reply::Summary(s) => summary = Some(s),
            other => each(other)?,
        }
    }
    anyhow::bail!(
        "the running feedwatch closed the control connection before the command ended (it may have stopped or failed; see its log)"
    )
}

/// The message of `enable NAME`, with or without a service.
pub fn enable_message(name: &str, was: bool) -> String {
    if was {
        format!(
            "{name}: enabled; it is polled on the next cycle (or now with `feedwatch poll {name}`)\n"
        )
    } else {
        format!("{name}: was not disabled\n")
    }
}

/// The message of `pause NAME`, with or without a service.
pub fn pause_message(name: &str, changed: bool) -> String {
    if changed {
        format!(
            "{name}: paused; not polled until `feedwatch resume {name}` (kept across restarts)\n"
        )
    } else {
        format!("{name}: was already paused\n")
    }
}

/// The message of `resume NAME`, with or without a service: a resume never overrides the
/// config's `enabled = false`.
pub fn resume_message(name: &str, changed: bool, off_in_config: bool) -> String {
    let mut s = if changed {
        format!("{name}: resumed; polled on its schedule again\n")
    } else {
        format!("{name}: was not paused\n")
    };
    if off_in_config {
        s.push_str(&format!(
            "{name}: still off in config (enabled = false): not polled until the config turns it on\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_as_json_lines() {
        let r = Request::Rematch {
            since: Some(60.0),
            watch: Some("cis".into()),
            dry_run: true,
            json: false,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""cmd":"rematch""#), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        let e = Reply::Exit {
            code: 2,
            error: Some("x".into()),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), e);
    }

    #[test]
    fn groups_are_found_by_name() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-feedwatch"), None);
        assert_eq!(group_id("nul\0byte"), None);
    }

    #[test]
    fn the_default_socket_is_beside_the_store_directory() {
        assert_eq!(
            beside_store(Path::new("/var/lib/feedwatch/store")),
            PathBuf::from("/var/lib/feedwatch/control.sock")
        );
        assert_eq!(
            beside_store(Path::new("store")),
            PathBuf::from("control.sock")
        );
    }
}
