//! Where an item's record lives: its *location*, [`time_key`] of its first sighting ++ its
//! item key (24 bytes). The `records` tree is keyed by location, so it is ordered by first
//! sighting and a cold poll's new records land at its right edge (sled then splits one
//! leaf at a time instead of touching a random leaf per item); retention and the
//! newest-first query read it in that order. Every `seen` entry's value is its item's
//! location, so one `seen` read finds the record.
//!
//! A `seen` value is written short, 22 bytes: a location's first two bytes are the same
//! for every time from 1970 to the year 10,000 ([`SHORT_PREFIX`]), and sled keeps a value
//! of at most 22 bytes inside its node instead of in an allocation of its own, which every
//! node copy then shares (about 10% of sled's CPU per new item: `examples/sled_floor.rs`).
//! Values of 24 bytes, as earlier builds wrote them, read the same.
//!
//! A `seen` value of 16 bytes (the bare item key, as schema 2 wrote it) remains only for
//! an item purged before the store was migrated to schema 3: a tombstone, as is a location
//! with no record.

use super::time_key;
use crate::dedup::Key;

/// The first two bytes of the location of every time from 1970 until the year 10,000
/// ([`time_key`]'s sign bit, then the top byte of 48 bits of milliseconds): left out of a
/// short `seen` value.
const SHORT_PREFIX: [u8; 2] = [0x80, 0x00];

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

    /// The place a `seen` value names; `None` for a value of none of its lengths (damaged).
    pub(super) fn of_value(v: &[u8]) -> Option<Place> {
        match v.len() {
            24 => Some(Place::At(v.try_into().expect("24 bytes"))),
            22 => {
                let mut loc = [0; 24];
                loc[..2].copy_from_slice(&SHORT_PREFIX);
                loc[2..].copy_from_slice(v);
                Some(Place::At(loc))
            }
            16 => Some(Place::Purged(Key(v.try_into().expect("16 bytes")))),
            _ => None,
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

    /// The `seen` value: a location short where it can be.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Place::At(loc) if loc[..2] == SHORT_PREFIX => &loc[2..],
            Place::At(loc) => loc,
            Place::Purged(key) => &key.0,
        }
    }
}

/// The item key of a location.
pub(super) fn key_of(loc: &[u8; 24]) -> Key {
    Key(loc[8..].try_into().expect("24 = 8 + 16"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    /// A location is written in 22 bytes for any time from 1970 to the year 10,000 and in
    /// 24 outside it; both, the 24-byte form earlier builds wrote and a purged item's key
    /// read back as the same place; other lengths are damage.
    #[test]
    fn seen_values_are_short_and_read_back_in_every_form() {
        let key = Key([7; 16]);
        for (t, len) in [
            (Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(), 22),
            (Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap(), 22),
            (Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(), 22),
            (Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(), 24),
        ] {
            let place = Place::new(t, key);
            assert_eq!(place.bytes().len(), len, "{t}");
            assert_eq!(Place::of_value(place.bytes()), Some(place), "{t}");
            let long = place.location().unwrap();
            assert_eq!(Place::of_value(long), Some(place), "{t}: the 24-byte form");
            assert_eq!(place.key(), key);
        }
        let purged = Place::Purged(key);
        assert_eq!(Place::of_value(purged.bytes()), Some(purged));
        for n in [0, 8, 21, 23, 25] {
            assert_eq!(Place::of_value(&vec![0x80; n]), None, "{n} bytes");
        }
    }
}
