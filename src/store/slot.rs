//! The running service's store as a slot that the service can empty and fill again while
//! the API (and its address file) stays up: the in-run compaction takes the store out,
//! rewrites it and puts the new one in; a store that refuses writes (a full disk: sled
//! 0.34 then fails every write until it is opened again) is taken out and reopened, with
//! backoff, until it takes writes. Meanwhile readers are told why there is no store
//! ([`Unavailable`]) instead of finding nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::{Store, StoreError};

/// The file beside the store that names the API address of the process holding it
/// (written by the API when it binds, read by the CLI: `crate::api::address_of`).
pub const ADDR_FILE: &str = "feedwatch.api";
/// Where the store of a running service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Open and in use.
    Open,
    /// Taken out to be compacted; back when the copy is swapped in.
    Compacting,
    /// Taken out after it failed, being opened again.
    Reopening,
    /// Opening it again failed; retried with backoff. The reason is the last failure.
    Failed(String),
}

/// Why a reader gets no store, and when to ask again.
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// The slot's state (never [`SlotState::Open`]).
    pub state: SlotState,
    /// A hint for `Retry-After`.
    pub retry_after: Duration,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            SlotState::Open => write!(f, "the store is open"),
            SlotState::Compacting => write!(
                f,
                "compacting the store (polls pause until it is done); try again shortly"
            ),
            SlotState::Reopening => write!(f, "reopening the store after it failed"),
            SlotState::Failed(reason) => write!(
                f,
                "the store is not writable: {reason}; polls and writes are retried with backoff"
            ),
        }
    }
}

/// The store of a running service, or why it is out (see the module docs).
pub struct StoreSlot {
    /// The store directory (where the API writes its address file).
    path: PathBuf,
    /// The store while open, and the state.
    inner: RwLock<(Option<Arc<Store>>, SlotState)>,
    /// The API's address, written beside the store ([`ADDR_FILE`]) when the
    /// API starts and again whenever a store is put in (a full disk may have refused it).
    api: std::sync::OnceLock<std::net::SocketAddr>,
}

impl StoreSlot {
    /// A slot holding `store`, open.
    pub fn new(store: Arc<Store>) -> Arc<StoreSlot> {
        Arc::new(StoreSlot {
            path: store.path().to_path_buf(),
            inner: RwLock::new((Some(store), SlotState::Open)),
            api: Default::default(),
        })
    }

    /// A slot without a store (`run` started on a full disk), in `state`.
    pub fn empty(path: PathBuf, state: SlotState) -> Arc<StoreSlot> {
        Arc::new(StoreSlot {
            path,
            inner: RwLock::new((None, state)),
            api: Default::default(),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open store, or why there is none.
    pub fn get(&self) -> Result<Arc<Store>, Unavailable> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match &inner.0 {
            Some(store) => Ok(store.clone()),
            None => Err(Unavailable {
                state: inner.1.clone(),
                retry_after: match inner.1 {
                    SlotState::Failed(_) => Duration::from_secs(10),
                    _ => Duration::from_secs(1),
                },
            }),
        }
    }

    /// The state now.
    pub fn state(&self) -> SlotState {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Puts `store` in, open (and writes the API's address beside it if it is missing).
    pub fn put(&self, store: Arc<Store>) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = (Some(store), SlotState::Open);
        if let Some(addr) = self.api.get() {
            let file = self.path.join(ADDR_FILE);
            if !file.exists() {
                let _ = std::fs::write(file, addr.to_string());
            }
        }
    }

    /// Records the API's address and writes it beside the store, for the CLI.
    pub fn announce(&self, addr: std::net::SocketAddr) {
        let _ = self.api.set(addr);
        let _ = std::fs::write(self.path.join(ADDR_FILE), addr.to_string());
    }

    /// Takes the store out (readers then get `state`); what was in, if anything.
    pub fn take(&self, state: SlotState) -> Option<Arc<Store>> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.1 = state;
        inner.0.take()
    }

    /// Sets the state of an empty slot (a store in it stays, and the state with it).
    pub fn set_out(&self, state: SlotState) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.0.is_none() {
            inner.1 = state;
        }
    }
}

/// Whether `e` (or one of its causes) is a full disk or an exhausted quota: a condition
/// to ride out (health, log, retries), not a reason to exit.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c
            .downcast_ref::<std::io::Error>()
            .or_else(|| match c.downcast_ref::<sled::Error>() {
                Some(sled::Error::Io(io)) => Some(io),
                _ => None,
            })
            .or_else(|| match c.downcast_ref::<StoreError>() {
                Some(
                    StoreError::Open {
                        source: sled::Error::Io(io),
                        ..
                    }
                    | StoreError::Sled(sled::Error::Io(io)),
                ) => Some(io),
                Some(StoreError::Io { source, .. }) => Some(source),
                _ => None,
            });
        io.is_some_and(|io| {
            io.kind() == std::io::ErrorKind::StorageFull
                || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers get the store while it is in, and the reason while it is out.
    #[test]
    fn a_slot_says_why_it_is_empty() {
        let (_d, store) = crate::store::tests::open();
        let slot = StoreSlot::new(Arc::new(store));
        assert!(slot.get().is_ok());
        let store = slot.take(SlotState::Compacting).unwrap();
        let why = slot.get().err().unwrap();
        assert_eq!(why.state, SlotState::Compacting);
        assert!(why.to_string().contains("compacting"), "{why}");
        slot.set_out(SlotState::Failed("No space left on device".into()));
        assert!(slot.get().err().unwrap().to_string().contains("No space"));
        slot.put(store);
        assert_eq!(slot.state(), SlotState::Open);
    }

    #[test]
    fn a_full_disk_is_told_from_other_failures() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = anyhow::Error::new(StoreError::Sled(sled::Error::Io(full)));
        assert!(is_disk_full(&e.context("recording poll of f")));
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        let e = anyhow::Error::new(StoreError::Sled(sled::Error::Io(denied)));
        assert!(!is_disk_full(&e));
    }
}
