//! The cluster-wide id of an alert-log line: the subject it is published under and its
//! JetStream message id, so that the stream takes one message per (story, watch) whichever
//! node, feed or replay sends it.

use crate::dedup::{Key, normalize_link};

/// The id under which the cluster knows `line` (an alert-log line): for a `"match"` alert
/// with a link, the story's normalised link and the watch, as the cross-feed dedup keys a
/// story, so the same story seen in two feeds by two nodes at once has one id; otherwise
/// the line's own `id`, deterministic from the item key (the same on every node for the
/// same item of the same feed). `None` for a line that is not a JSON object with an id.
pub fn cluster_id(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let id = v.get("id")?.as_str()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str());
    if text("kind") == Some("match")
        && let (Some(link), Some(watch)) = (text("link").and_then(normalize_link), text("watch"))
    {
        return Some(Key::of(&["link", &link]).alert_id(watch).hex());
    }
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Some(id.to_string())
    } else {
        Some(Key::of(&["line-id", id]).hex())
    }
}

/// The subject of the alert with cluster id `id` in the cluster `name`.
pub fn subject(name: &str, id: &str) -> String {
    format!("{name}.alert.{id}")
}

/// A feed's key in the lease and state buckets: feed names may hold characters a KV key
/// may not.
pub fn feed_key(feed: &str) -> String {
    format!("f{}", Key::of(&["feed", feed]).hex())
}

/// The owner of `feed` among `nodes` by rendezvous hashing: each feed goes to the node
/// with the highest hash of (feed, node), so a node joining or leaving moves only the
/// feeds it wins or held. `None` when `nodes` is empty.
pub fn owner<'a>(feed: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| Key::of(&["owner", feed, n]).0)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(feed: &str, id: &str, link: Option<&str>, watch: &str) -> String {
        serde_json::json!({"kind": "match", "id": id, "feed": feed, "link": link, "watch": watch})
            .to_string()
    }

    #[test]
    fn one_story_in_two_feeds_has_one_id_per_watch() {
        let a = line(
            "a",
            "1111",
            Some("https://Ex.org/story?utm_source=x"),
            "csto",
        );
        let b = line("b", "2222", Some("https://ex.org/story#top"), "csto");
        assert_eq!(cluster_id(&a), cluster_id(&b));
        let other = line("b", "2222", Some("https://ex.org/story"), "cis");
        assert_ne!(cluster_id(&a), cluster_id(&other));
        // without a link: the line's own id (from the item key)
        assert_eq!(
            cluster_id(&line("a", "abc123", None, "w")).unwrap(),
            "abc123"
        );
        assert_eq!(cluster_id("not json"), None);
    }

    #[test]
    fn rendezvous_moves_only_what_a_new_node_wins() {
        let two = vec!["n1".to_string(), "n2".to_string()];
        let three = vec!["n1".to_string(), "n2".to_string(), "n3".to_string()];
        let mut counts = [0; 3];
        for i in 0..300 {
            let feed = format!("feed-{i}");
            let before = owner(&feed, &two).unwrap();
            let after = owner(&feed, &three).unwrap();
            assert!(
                after == before || after == "n3",
                "{feed}: {before} -> {after}"
            );
            counts[three.iter().position(|n| n == after).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
        assert_eq!(owner("x", &[]), None);
    }
}
