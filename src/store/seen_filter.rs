//! An in-memory filter in front of the `seen` tree: it answers "certainly never seen" for
//! most keys that are not there, so that a poll full of new items (a cold run, a busy feed)
//! does not walk sled's tree (reading its pages from disk once the tree outgrows the cache)
//! three times per item only to learn that none of its keys exists.
//!
//! A Bloom filter over the keys, which are SHA-256 prefixes and so already uniform: the
//! probes are taken from the key's own bytes (double hashing). It never forgets and never
//! says "absent" for a key that is present: it is built from the whole tree before its
//! first answer, and every key is added before the transaction that writes it commits
//! (a retried or aborted transaction leaves a key added that is not in the tree: a false
//! "maybe", which only costs the sled read it would have cost anyway). It grows by adding
//! a filter twice the size of the last when the last is full, so its false-positive rate
//! stays near 1% whatever the store's size, at about 10 bits per key (2 MB for 1.5
//! million keys).

use std::sync::{Mutex, OnceLock};

use crate::dedup::Key;

/// Bits per key and probes per key: about 1% false positives.
const BITS_PER_KEY: usize = 10;
const PROBES: usize = 7;
/// Keys the first filter holds before the next is added.
const FIRST_CAPACITY: usize = 1 << 16;

/// One fixed-size Bloom filter.
struct Bloom {
    bits: Vec<u64>,
    /// How many keys it holds, and how many it takes before it counts as full.
    len: usize,
    capacity: usize,
}

impl Bloom {
    fn new(capacity: usize) -> Bloom {
        let words = (capacity * BITS_PER_KEY).div_ceil(64).next_power_of_two();
        Bloom {
            bits: vec![0; words],
            len: 0,
            capacity,
        }
    }

    /// The bit positions of `key`.
    fn probes(&self, key: &Key) -> [usize; PROBES] {
        let a = u64::from_le_bytes(key.0[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(key.0[8..].try_into().expect("8 bytes")) | 1;
        let mask = (self.bits.len() * 64 - 1) as u64;
        std::array::from_fn(|i| (a.wrapping_add((i as u64).wrapping_mul(b)) & mask) as usize)
    }

    fn insert(&mut self, key: &Key) {
        for p in self.probes(key) {
            self.bits[p / 64] |= 1 << (p % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, key: &Key) -> bool {
        self.probes(key)
            .iter()
            .all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }
}

/// The growing filter.
#[derive(Default)]
struct Filters(Vec<Bloom>);

impl Filters {
    fn insert(&mut self, key: &Key) {
        let full = self.0.last().is_none_or(|b| b.len >= b.capacity);
        if full {
            let capacity = self.0.last().map_or(FIRST_CAPACITY, |b| b.capacity * 2);
            self.0.push(Bloom::new(capacity));
        }
        self.0.last_mut().expect("one at least").insert(key);
    }

    fn may_contain(&self, key: &Key) -> bool {
        self.0.iter().any(|b| b.may_contain(key))
    }
}

/// The filter of one open store; built on first use.
#[derive(Default)]
pub(super) struct SeenFilter {
    filters: OnceLock<Mutex<Filters>>,
    /// Held while the filter is built, so that callers arriving meanwhile wait for it
    /// instead of each reading the whole tree.
    building: Mutex<()>,
}

impl SeenFilter {
    /// The filter, built from `seen` (every key in it) on the first call.
    fn get(&self, seen: &sled::Tree) -> sled::Result<&Mutex<Filters>> {
        if let Some(f) = self.filters.get() {
            return Ok(f);
        }
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = self.filters.get() {
            return Ok(f);
        }
        // writers of `seen` add to the filter only once this returns: none writes meanwhile
        let mut filters = Filters::default();
        for k in seen.iter().keys() {
            if let Ok(k) = <[u8; 16]>::try_from(k?.as_ref()) {
                filters.insert(&Key(k));
            }
        }
        Ok(self.filters.get_or_init(|| Mutex::new(filters)))
    }

    /// Builds the filter now if it is not built yet: call before a transaction that uses
    /// [`SeenFilter::may_contain`] or [`SeenFilter::insert`], which must not read the
    /// tree themselves.
    pub(super) fn ready(&self, seen: &sled::Tree) -> sled::Result<()> {
        self.get(seen).map(|_| ())
    }

    /// False when `key` is certainly not in `seen`. Before [`SeenFilter::ready`]: true.
    pub(super) fn may_contain(&self, key: &Key) -> bool {
        match self.filters.get() {
            Some(f) => f.lock().unwrap_or_else(|e| e.into_inner()).may_contain(key),
            None => true,
        }
    }

    /// Adds `key`, about to be written to `seen`. Before [`SeenFilter::ready`] there is no
    /// filter to add to: the build reads the key from the tree.
    pub(super) fn insert(&self, key: &Key) {
        if let Some(f) = self.filters.get() {
            f.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key added is reported present, through several growths, and most keys never
    /// added are reported absent.
    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = Filters::default();
        let n = FIRST_CAPACITY * 3;
        for i in 0..n {
            f.insert(&Key::of(&[&i.to_string()]));
        }
        assert!(f.0.len() >= 2, "it grew");
        assert!((0..n).all(|i| f.may_contain(&Key::of(&[&i.to_string()]))));
        let false_positives = (n..n + 10_000)
            .filter(|i| f.may_contain(&Key::of(&[&i.to_string()])))
            .count();
        assert!(false_positives < 500, "{false_positives} of 10000");
    }
}
