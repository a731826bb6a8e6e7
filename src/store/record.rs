//! The binary form of a [`StoredItem`] in the `records` tree: written by every build since
//! schema 2's binary records, read beside the JSON form that older builds wrote (a JSON
//! record starts with `{`, a binary one with [`BINARY_V1`]), so an existing store needs no
//! migration: its records become binary as they are rewritten.
//!
//! Why: the cold run's store cost is mostly sled copying and writing nodes, in proportion
//! to their bytes; the binary record is about a third smaller than its JSON (no field
//! names, no escapes, keys and digests as 16 raw bytes instead of 32 hex digits plus quotes,
//! times as 12 bytes instead of 30-odd characters), and is written and read without a
//! parser.
//!
//! Layout after the tag byte, in [`StoredItem`]'s field order: a string is a LEB128 length
//! and its UTF-8 bytes; `key` and `digest` are [`hex16`] fields; an `Option` is 0 (none) or
//! 1 and the value; a list is a LEB128 count and its elements; a time is its Unix seconds
//! (i64, little-endian) and nanoseconds (u32).
//!
//! A record of [`LZ4_MIN`] bytes or more is stored compressed when that makes it smaller:
//! the tag [`LZ4_V1`], the LEB128 length of the version-1 body (everything after its tag)
//! and that body as one LZ4 block. News text compresses about 1.5-2x this way, and what sled
//! writes, copies and caches shrinks with it; LZ4 is used because it costs about 2 us per
//! record each way, against 20 us or more for deflate (measured in examples/bench_store.rs).

use chrono::{DateTime, Utc};

use super::{Result, StoreError, StoredItem};
use crate::dedup::Key;

/// First byte of a binary item record, version 1.
pub(super) const BINARY_V1: u8 = 1;

/// First byte of a version-1 record compressed with LZ4.
pub(super) const LZ4_V1: u8 = 2;

/// Records shorter than this are stored as they are: LZ4 rarely shrinks them.
const LZ4_MIN: usize = 128;

/// The record of `item` as written to the `records` tree: LZ4-compressed when `lz4` and
/// that makes it smaller. A store that sled compresses itself (a compacted one) takes
/// records plain: zstd over a page of plain records shrinks them far more than over
/// records compressed one by one.
pub(super) fn encode_item(item: &StoredItem, lz4: bool) -> Vec<u8> {
    let text = item.title.len() + item.summary.len() + item.content.len();
    let mut w = Vec::with_capacity(text + 160);
    w.push(BINARY_V1);
    hex16(&mut w, &item.key);
    list(&mut w, &item.feeds);
    opt_str(&mut w, item.guid.as_deref());
    opt_str(&mut w, item.link.as_deref());
    string(&mut w, &item.title);
    string(&mut w, &item.summary);
    string(&mut w, &item.content);
    list(&mut w, &item.categories);
    match item.published {
        None => w.push(0),
        Some(t) => {
            w.push(1);
            time(&mut w, t);
        }
    }
    time(&mut w, item.first_seen);
    hex16(&mut w, &item.digest);
    list(&mut w, &item.matched);
    opt_str(&mut w, item.article.as_deref());
    if !lz4 || w.len() < LZ4_MIN {
        return w;
    }
    let packed = lz4_flex::block::compress(&w[1..]);
    let mut c = Vec::with_capacity(packed.len() + 6);
    c.push(LZ4_V1);
    uvarint(&mut c, (w.len() - 1) as u64);
    c.extend_from_slice(&packed);
    if c.len() < w.len() { c } else { w }
}

/// A record of the `records` tree in its plain binary form: an LZ4 one decompressed
/// (`None` if it does not decompress), any other as it is.
pub(super) fn plain(bytes: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    if bytes.first() != Some(&LZ4_V1) {
        return Some(bytes.into());
    }
    unpack(bytes).ok().map(Into::into)
}

/// The version-1 record (tag included) that an [`LZ4_V1`] record compresses.
fn unpack(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut r = Reader { bytes, at: 1 };
    let len = r.uvarint()?;
    let packed = &bytes[r.at..];
    // LZ4 expands at most 255 times: a larger length is damage, not a record
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= packed.len().saturating_mul(255).saturating_add(16))
        .ok_or_else(|| r.bad("a compressed length out of range"))?;
    let body = lz4_flex::block::decompress(packed, len)
        .ok()
        .filter(|b| b.len() == len)
        .ok_or_else(|| r.bad("compressed bytes that do not decompress"))?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(BINARY_V1);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The item of a record of the `records` tree, in either form.
pub(super) fn decode_item(bytes: &[u8]) -> Result<StoredItem> {
    match bytes.first() {
        Some(&BINARY_V1) => {
            let mut r = Reader { bytes, at: 1 };
            let item = r.item()?;
            if r.at != bytes.len() {
                return Err(r.bad("bytes after the record's last field"));
            }
            Ok(item)
        }
        Some(&LZ4_V1) => decode_item(&unpack(bytes)?),
        _ => super::decode("items", bytes),
    }
}

fn uvarint(w: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        w.push(n as u8 | 0x80);
        n >>= 7;
    }
    w.push(n as u8);
}

fn string(w: &mut Vec<u8>, s: &str) {
    uvarint(w, s.len() as u64);
    w.extend_from_slice(s.as_bytes());
}

fn opt_str(w: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => w.push(0),
        Some(s) => {
            w.push(1);
            string(w, s);
        }
    }
}

fn list(w: &mut Vec<u8>, l: &[String]) {
    uvarint(w, l.len() as u64);
    for s in l {
        string(w, s);
    }
}

/// A string that is almost always a [`Key`] in hex: 1 and the key's 16 bytes when it is
/// exactly that (lowercase, as [`Key::hex`] writes it), else 0 and the string.
fn hex16(w: &mut Vec<u8>, s: &str) {
    match Key::from_hex(s).filter(|k| k.hex() == s) {
        Some(k) => {
            w.push(1);
            w.extend_from_slice(&k.0);
        }
        None => {
            w.push(0);
            string(w, s);
        }
    }
}

fn time(w: &mut Vec<u8>, t: DateTime<Utc>) {
    w.extend_from_slice(&t.timestamp().to_le_bytes());
    w.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> StoreError {
        StoreError::BadRecord {
            tree: "items",
            message: format!("{what} at byte {} of {}", self.at, self.bytes.len()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.bad("the record ends early"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(self.bad("a length longer than 64 bits"))
    }

    fn string(&mut self) -> Result<String> {
        let n = usize::try_from(self.uvarint()?).map_err(|_| self.bad("a huge length"))?;
        let at = self.at;
        let s = self.take(n)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => {
                self.at = at;
                Err(self.bad("a string that is not UTF-8"))
            }
        }
    }

    fn flag(&mut self) -> Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.bad("a flag that is neither 0 nor 1")),
        }
    }

    fn opt_str(&mut self) -> Result<Option<String>> {
        Ok(if self.flag()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn list(&mut self) -> Result<Vec<String>> {
        let n = self.uvarint()?;
        // each element takes a byte at least: a count beyond the bytes left is damage
        if n > (self.bytes.len() - self.at) as u64 {
            return Err(self.bad("a list longer than the record"));
        }
        (0..n).map(|_| self.string()).collect()
    }

    fn hex16(&mut self) -> Result<String> {
        if self.flag()? {
            let k: [u8; 16] = self.take(16)?.try_into().expect("16 bytes");
            Ok(Key(k).hex())
        } else {
            self.string()
        }
    }

    fn time(&mut self) -> Result<DateTime<Utc>> {
        let secs = i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
        let nanos = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| self.bad("a time out of range"))
    }

    fn item(&mut self) -> Result<StoredItem> {
        Ok(StoredItem {
            key: self.hex16()?,
            feeds: self.list()?,
            guid: self.opt_str()?,
            link: self.opt_str()?,
            title: self.string()?,
            summary: self.string()?,
            content: self.string()?,
            categories: self.list()?,
            published: if self.flag()? {
                Some(self.time()?)
            } else {
                None
            },
            first_seen: self.time()?,
            digest: self.hex16()?,
            matched: self.list()?,
            article: self.opt_str()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredItem {
        StoredItem {
            key: Key::of(&["k"]).hex(),
            feeds: vec!["a".into(), "bé".into()],
            guid: Some("g-1".into()),
            link: None,
            title: "CIS summit «opens»\n".into(),
            summary: "x".repeat(300),
            content: String::new(),
            categories: vec!["World".into()],
            published: Some(DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap()),
            first_seen: DateTime::from_timestamp(1_800_000_000, 5).unwrap(),
            digest: Key::of(&["d"]).hex(),
            matched: vec!["cis".into()],
            article: Some("packed".into()),
        }
    }

    /// Every field comes back as written, also odd ones (a key that is not lowercase hex).
    #[test]
    fn a_record_reads_back_as_written() {
        let mut it = sample();
        assert_eq!(decode_item(&encode_item(&it, true)).unwrap(), it);
        it.key = "NOT-HEX".into();
        it.digest = Key::of(&["d"]).hex().to_uppercase();
        it.published = None;
        it.article = None;
        it.guid = None;
        it.feeds.clear();
        assert_eq!(decode_item(&encode_item(&it, true)).unwrap(), it);
    }

    /// Records written by older builds, in JSON, still read.
    #[test]
    fn a_json_record_still_reads() {
        let it = sample();
        let json = serde_json::to_vec(&it).unwrap();
        assert_eq!(decode_item(&json).unwrap(), it);
        let binary = encode_item(&it, true);
        assert!(
            binary.len() * 10 < json.len() * 8,
            "{} vs {}",
            binary.len(),
            json.len()
        );
    }

    /// A store whose items an older build wrote in JSON opens and keeps working: its items
    /// read, a sighting in another feed finds the item (no new item, no second alert), and
    /// the record rewritten by that sighting is binary.
    #[test]
    fn a_store_with_json_records_keeps_working() {
        use crate::dedup::KeyPolicy;
        use crate::store::tests::{incoming, item, open, poll};
        let (dir, store) = open();
        let it = item("g1", "https://x.example/1", "CIS summit");
        let c = poll(
            &store,
            "a",
            &[incoming("a", &it, KeyPolicy::Guid, &["cis"], true)],
        );
        assert_eq!((c.new_items, c.alerts.len()), (1, 1));
        // as an older build wrote it
        let (k, v) = store.records.iter().next().unwrap().unwrap();
        assert!(matches!(v[0], BINARY_V1 | LZ4_V1));
        let old = serde_json::to_vec(&decode_item(&v).unwrap()).unwrap();
        store.records.insert(&k, old).unwrap();
        drop(store);
        let store = crate::store::Store::open(&dir.path().join("store"), 1 << 20).unwrap();
        assert_eq!(store.items().unwrap()[0].title, "CIS summit");
        let c = poll(
            &store,
            "b",
            &[incoming("b", &it, KeyPolicy::Guid, &["cis"], true)],
        );
        assert_eq!((c.new_items, c.alerts.len()), (0, 0));
        let v = store.records.get(&k).unwrap().unwrap();
        assert_eq!(v[0], BINARY_V1, "rewritten in the binary form");
        assert_eq!(decode_item(&v).unwrap().feeds, ["a", "b"]);
    }

    /// A damaged record is an error that names the tree, never a panic: cut short,
    /// lengthened, or with any byte changed, in either binary form.
    #[test]
    fn a_damaged_record_is_a_clear_error() {
        let mut short = sample();
        short.summary = "x".into();
        let plain = encode_item(&short, true);
        assert_eq!(plain[0], BINARY_V1, "a short record is not compressed");
        let packed = encode_item(&sample(), true);
        assert_eq!(packed[0], LZ4_V1);
        for bytes in [plain, packed] {
            for cut in 1..bytes.len() {
                match decode_item(&bytes[..cut]) {
                    Err(e) => assert!(e.to_string().contains("items"), "{e}"),
                    Ok(it) => panic!("a record cut at {cut} read as {it:?}"),
                }
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(decode_item(&long).is_err());
            for at in 1..bytes.len() {
                let mut bad = bytes.clone();
                bad[at] ^= 0x5a;
                // a changed byte may still make a record (a changed letter): no panic
                if let Err(e) = decode_item(&bad) {
                    assert!(e.to_string().contains("items"), "{e}");
                }
            }
        }
        assert!(decode_item(&[BINARY_V1, 1, 0xff]).is_err());
        assert!(decode_item(&[LZ4_V1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]).is_err());
    }

    /// A record with text is stored compressed and reads back as written; text that LZ4
    /// cannot shrink (random bytes) is stored as it is.
    #[test]
    fn a_long_record_is_compressed_when_that_helps() {
        let it = sample();
        let packed = encode_item(&it, true);
        assert_eq!(packed[0], LZ4_V1);
        let mut plain = encode_item(
            &StoredItem {
                summary: String::new(),
                ..it.clone()
            },
            true,
        );
        plain.extend_from_slice(&[0; 300]);
        assert!(packed.len() < plain.len() / 2, "{} bytes", packed.len());
        assert_eq!(decode_item(&packed).unwrap(), it);
        // plain, as a compressed store takes it, and back from LZ4 to plain
        let unpacked = encode_item(&it, false);
        assert_eq!(unpacked[0], BINARY_V1);
        assert_eq!(super::plain(&packed).unwrap().as_ref(), &unpacked[..]);
        assert_eq!(super::plain(&unpacked).unwrap().as_ref(), &unpacked[..]);
        assert!(super::plain(&packed[..packed.len() - 3]).is_none());
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let noise: String = (0..400)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                char::from(b'!' + (rng % 90) as u8)
            })
            .collect();
        let it = StoredItem {
            summary: noise,
            ..sample()
        };
        let bytes = encode_item(&it, true);
        assert_eq!(bytes[0], BINARY_V1, "incompressible text stays plain");
        assert_eq!(decode_item(&bytes).unwrap(), it);
    }
}
