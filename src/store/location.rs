//! Where an item's record lives: its *location*, [`time_key`] of its first sighting ++ its
//! item key (24 bytes). The `records` tree is keyed by location, so it is ordered by first
//! sighting and a cold poll's new records land at its right edge (sled then splits one
//! leaf at a time instead of touching a random leaf per item); retention and the
//! newest-first query read it in that order. Every `seen` entry's value is its item's
//! location, so one `seen` read finds the record.
//!
//! A `seen` value of 16 bytes (the bare item key, as schema 2 wrote it) remains only for
//! an item purged before the store was migrated to schema 3: a tombstone, as is a location
//! with no record.

use super::time_key;
use crate::dedup::Key;

/// What a `seen` entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// The location of the item's record (the record may be gone: a tombstone).
    At([u8; 24]),
    /// An item purged before schema 3: a tombstone that names its item key alone.
    Purged(Key),
}

impl Place {
    /// The place a new item first seen at `now` under `key` takes.
    pub(super) fn new(now: chrono::DateTime<chrono::Utc>, key: Key) -> Place {
        Place::At(time_key(now, key))
    }

    /// The place a `seen` value names; `None` for a value of neither length (damaged).
    pub(super) fn of_value(v: &[u8]) -> Option<Place> {
        if let Ok(loc) = <[u8; 24]>::try_from(v) {
            Some(Place::At(loc))
        } else {
            <[u8; 16]>::try_from(v).ok().map(|k| Place::Purged(Key(k)))
        }
    }

    /// The item key.
    pub(super) fn key(&self) -> Key {
        match self {
            Place::At(loc) => key_of(loc),
            Place::Purged(key) => *key,
        }
    }

    /// The location of the record, if this names one.
    pub(super) fn location(&self) -> Option<&[u8; 24]> {
        match self {
            Place::At(loc) => Some(loc),
            Place::Purged(_) => None,
        }
    }

    /// The `seen` value.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Place::At(loc) => loc,
            Place::Purged(key) => &key.0,
        }
    }
}

/// The item key of a location.
pub(super) fn key_of(loc: &[u8; 24]) -> Key {
    Key(loc[8..].try_into().expect("24 = 8 + 16"))
}
