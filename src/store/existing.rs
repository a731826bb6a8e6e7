//! [`Store::open_existing`]: the store for commands that only read it (`feeds`, `items`,
//! `alerts`, `status`, `explain`), which must not create it. Run as root before the
//! service's first start, [`Store::open`] would make the directory root-owned, and the
//! service's user could then not open it.

use std::path::Path;

use super::{Result, Store, StoreError, compact};

impl Store {
    /// Opens the store at `path` as [`Store::open`] does, but only if it exists: a missing
    /// store is [`StoreError::NotYet`], and nothing is created.
    pub fn open_existing(path: &Path, cache: u64) -> Result<Store> {
        // between the two renames of a compaction the directory is briefly absent: that
        // store exists, and open says it is held
        if !path.exists() && !compact::under_way(path) {
            return Err(StoreError::NotYet { path: path.into() });
        }
        Store::open(path, cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_store_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/lib/feedwatch/store");
        let err = Store::open_existing(&path, 1 << 20)
            .err()
            .expect("an error");
        assert!(matches!(err, StoreError::NotYet { .. }), "{err}");
        assert!(err.to_string().contains("no store yet at"), "{err}");
        assert!(!dir.path().join("var").exists());
        drop(Store::open(&path, 1 << 20).unwrap());
        assert!(Store::open_existing(&path, 1 << 20).is_ok());
    }
}
