//! Which watches alert for one sighting of an item: a pure function of what the store
//! knows about the item and what this poll found, so that the rules (DESIGN.md: "Seen means
//! seen forever", "One alert per story and watch, ever", "Backlog") are tested without a
//! store. The store's `commit_poll` reads the inputs inside its transaction, calls
//! [`decide`] and applies the result in the same transaction.

use crate::watch::Fired;

/// What the store knows about a sighted item, read inside the poll's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known<'a> {
    /// None of its keys was seen before.
    New,
    /// Seen long ago; retention dropped its body. Never alerts again.
    Tombstone,
    /// Stored: the feeds it was seen in, its text digest, and every watch its text has
    /// matched at any sighting (alerted or held back as backlog).
    Stored {
        feeds: &'a [String],
        digest: &'a str,
        matched: &'a [String],
    },
}

/// One sighting of an item in one feed's document.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a> {
    /// The feed polled.
    pub feed: &'a str,
    /// Digest of the item's text now.
    pub digest: &'a str,
    /// The watches its text fires now.
    pub fired: &'a [Fired],
    /// False for a backlog item of a feed's first poll: stored and seen, never alerted.
    pub may_alert: bool,
}

/// What to record for a sighting, and which alerts to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Nothing changes but its keys being recorded (a tombstone, or an item seen before in
    /// this feed with the same text).
    KeysOnly,
    /// Store the item (new, or updated).
    Record {
        /// First seen now: store it as a new item.
        new_item: bool,
        /// A stored item seen in this feed for the first time: add the feed to its list.
        add_feed: bool,
        /// The text changed: store the new text.
        edited: bool,
        /// The item's matched watches after this sighting.
        matched: Vec<String>,
        /// The watches to alert for (each at most once per story, ever).
        raise: Vec<&'a Fired>,
    },
}

/// The decision for `sighting` of an item the store knows as `known`; `alerted` tells
/// whether a watch already alerted for this story (from this feed or another one).
pub fn decide<'a>(
    known: Known<'_>,
    sighting: Sighting<'a>,
    alerted: impl Fn(&str) -> bool,
) -> Decision<'a> {
    let (new_item, add_feed, edited, matched, candidates) = match known {
        Known::Tombstone => return Decision::KeysOnly,
        Known::New => {
            let matched = sighting.fired.iter().map(|f| f.watch.clone()).collect();
            let candidates: Vec<&Fired> = if sighting.may_alert {
                sighting.fired.iter().collect()
            } else {
                Vec::new() // backlog: matched, remembered, held back
            };
            (true, false, false, matched, candidates)
        }
        Known::Stored {
            feeds,
            digest,
            matched,
        } => {
            let edited = digest != sighting.digest;
            let new_here = !feeds.iter().any(|f| f == sighting.feed);
            if !edited && !new_here {
                return Decision::KeysOnly;
            }
            // an edit may fire a watch that never matched this item before
            let mut matched = matched.to_vec();
            let mut candidates = Vec::new();
            if edited {
                for fired in sighting.fired {
                    if !matched.contains(&fired.watch) {
                        matched.push(fired.watch.clone());
                        candidates.push(fired);
                    }
                }
            }
            (false, new_here, edited, matched, candidates)
        }
    };
    Decision::Record {
        new_item,
        add_feed,
        edited,
        matched,
        // this watch fired for this story already
        raise: candidates
            .into_iter()
            .filter(|f| !alerted(&f.watch))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(watches: &[&str]) -> Vec<Fired> {
        watches
            .iter()
            .map(|w| Fired {
                watch: w.to_string(),
                matches: vec![],
            })
            .collect()
    }

    fn sighting<'a>(feed: &'a str, digest: &'a str, fired: &'a [Fired]) -> Sighting<'a> {
        Sighting {
            feed,
            digest,
            fired,
            may_alert: true,
        }
    }

    fn raised<'a>(d: &'a Decision) -> Vec<&'a str> {
        match d {
            Decision::KeysOnly => vec![],
            Decision::Record { raise, .. } => raise.iter().map(|f| f.watch.as_str()).collect(),
        }
    }

    fn never(_: &str) -> bool {
        false
    }

    /// A new item alerts for every watch it fires, and remembers them all.
    #[test]
    fn a_new_item_alerts_for_every_fired_watch() {
        let f = fired(&["cis", "csto"]);
        let d = decide(Known::New, sighting("a", "d1", &f), never);
        assert_eq!(raised(&d), ["cis", "csto"]);
        let Decision::Record {
            new_item, matched, ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert!(new_item);
        assert_eq!(matched, ["cis", "csto"]);
    }

    /// A backlog item of a first poll is stored with its matches, and alerts for none.
    #[test]
    fn a_backlog_item_is_held_back_but_remembers_its_matches() {
        let f = fired(&["cis"]);
        let s = Sighting {
            may_alert: false,
            ..sighting("a", "d1", &f)
        };
        let d = decide(Known::New, s, never);
        assert_eq!(raised(&d), Vec::<&str>::new());
        assert!(
            matches!(d, Decision::Record { ref matched, new_item: true, .. } if matched == &["cis"])
        );
    }

    /// Seen means seen forever: a tombstone records its keys and nothing else.
    #[test]
    fn a_tombstone_never_alerts() {
        let f = fired(&["cis"]);
        assert_eq!(
            decide(Known::Tombstone, sighting("a", "d2", &f), never),
            Decision::KeysOnly
        );
    }

    /// The same text in the same feed again changes nothing.
    #[test]
    fn an_unchanged_item_changes_nothing() {
        let f = fired(&["cis"]);
        let feeds = ["a".to_string()];
        let matched = ["cis".to_string()];
        let known = Known::Stored {
            feeds: &feeds,
            digest: "d1",
            matched: &matched,
        };
        assert_eq!(
            decide(known, sighting("a", "d1", &f), never),
            Decision::KeysOnly
        );
    }

    /// An edit alerts only for a watch the item never matched before, also when the earlier
    /// match was held back as backlog.
    #[test]
    fn an_edit_alerts_only_for_newly_matching_watches() {
        let f = fired(&["cis", "csto"]);
        let feeds = ["a".to_string()];
        let matched = ["cis".to_string()];
        let known = Known::Stored {
            feeds: &feeds,
            digest: "d1",
            matched: &matched,
        };
        let d = decide(known, sighting("a", "d2", &f), never);
        assert_eq!(raised(&d), ["csto"]);
        assert!(
            matches!(d, Decision::Record { edited: true, add_feed: false, new_item: false, ref matched, .. } if matched == &["cis", "csto"])
        );
    }

    /// The same story in a second feed: the feed is added, nothing alerts again.
    #[test]
    fn a_story_seen_in_another_feed_adds_the_feed_only() {
        let f = fired(&["csto"]);
        let feeds = ["a".to_string()];
        let matched = ["csto".to_string()];
        let known = Known::Stored {
            feeds: &feeds,
            digest: "d1",
            matched: &matched,
        };
        let d = decide(known, sighting("b", "d1", &f), never);
        assert!(
            matches!(d, Decision::Record { add_feed: true, edited: false, ref raise, .. } if raise.is_empty())
        );
    }

    /// A watch that already alerted for this story (from any feed) is not raised again.
    #[test]
    fn a_watch_alerts_once_per_story() {
        let f = fired(&["cis", "csto"]);
        let d = decide(Known::New, sighting("b", "d1", &f), |w| w == "cis");
        assert_eq!(raised(&d), ["csto"]);
        let Decision::Record { matched, .. } = d else {
            panic!()
        };
        assert_eq!(matched, ["cis", "csto"], "still remembered as matched");
    }
}
