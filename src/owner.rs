//! A command run as root leaves the store and the alert log to their owner.
//!
//! The service runs as its own user (`feedwatch`); an operator often types `sudo feedwatch
//! once` or `sudo feedwatch items` while it is stopped. sled writes files as it opens a
//! store (its lock, snapshots, new segments), and `once` may create the alert log: as root,
//! those would be root-owned, and the service could then not open its own store. So a
//! command run as root notes who owns each location (the nearest existing directory above
//! it when it does not exist yet) and, when it ends, gives back to that owner everything
//! under it that root now owns. A location whose owner is root is left alone, and nothing
//! happens when the command does not run as root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Gives the files root created under its locations back to their owners when dropped.
#[derive(Debug, Default)]
pub struct KeepOwners {
    places: Vec<(PathBuf, u32, u32)>,
}

impl KeepOwners {
    /// Notes the owner of each of `paths` (for a path that does not exist, of the nearest
    /// existing directory above it), when this process runs as root.
    pub fn of(paths: &[&Path]) -> KeepOwners {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return KeepOwners::default();
        }
        let places = paths
            .iter()
            .filter_map(|path| {
                let meta = path.ancestors().find_map(|p| std::fs::metadata(p).ok())?;
                (meta.uid() != 0).then(|| (path.to_path_buf(), meta.uid(), meta.gid()))
            })
            .collect();
        KeepOwners { places }
    }

    /// Gives back what root owns under each noted location; returns how many entries.
    pub fn restore(&self) -> usize {
        self.places
            .iter()
            .map(|(path, uid, gid)| {
                let changed = give_back(path, *uid, *gid);
                if changed > 0 {
                    tracing::debug!(path = %path.display(), changed, uid, "gave root's files back to their owner");
                }
                changed
            })
            .sum()
    }
}

impl Drop for KeepOwners {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Chowns `path` and everything under it that root owns to `uid:gid` (symlinks themselves,
/// never what they point to).
fn give_back(path: &Path, uid: u32, gid: u32) -> usize {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut changed = 0;
    if meta.uid() == 0 && std::os::unix::fs::lchown(path, Some(uid), Some(gid)).is_ok() {
        changed += 1;
    }
    if meta.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for entry in entries.flatten() {
            changed += give_back(&entry.path(), uid, gid);
        }
    }
    changed
}
