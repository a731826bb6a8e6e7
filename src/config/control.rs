//! `[control]`: the control socket through which the CLI acts on a running service
//! ([`crate::ctl`]).

use std::path::PathBuf;

use toml::de::DeTable;

use super::reader::Reader;

/// `[control]`: where the running service listens for the CLI's commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlConfig {
    /// The Unix socket; `None` (`socket = ""`, the default): `$RUNTIME_DIRECTORY/control.sock`
    /// under systemd, else `control.sock` beside the store directory.
    pub socket: Option<PathBuf>,
    /// The group the socket is given to (mode 0660: its members may use it); `None`
    /// (`group = ""`, the default): the service's own group. It must exist.
    pub group: Option<String>,
}

/// Longest socket path Linux accepts (`sun_path`, less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Reader<'_> {
    /// `[control]`; a relative `socket` goes through `resolve`.
    pub(super) fn control(
        &mut self,
        t: &DeTable<'_>,
        resolve: impl Fn(PathBuf) -> PathBuf,
    ) -> ControlConfig {
        let mut c = ControlConfig::default();
        if let Some((s, span)) = self.string(t, "control", "socket")
            && !s.is_empty()
        {
            let p = resolve(PathBuf::from(s));
            if p.as_os_str().len() > MAX_SOCKET_PATH {
                self.error(
                    span.start,
                    "control.socket",
                    format!(
                        "{} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket's path may have; choose a shorter path",
                        p.display()
                    ),
                );
            }
            c.socket = Some(p);
        }
        if let Some((g, span)) = self.string(t, "control", "group")
            && !g.is_empty()
        {
            if crate::ctl::group_id(&g).is_none() {
                self.error(
                    span.start,
                    "control.group",
                    format!(
                        "there is no group {g:?} on this system; create it (groupadd {g}) or leave group unset for the service's own group"
                    ),
                );
            }
            c.group = Some(g.to_string());
        }
        c
    }
}
