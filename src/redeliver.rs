//! Lines already in the alert log but still pending in the store: found in the log's tail
//! and marked delivered, so that no alert id is appended twice.
//!
//! The deliverer appends a batch to the log, fsyncs it, then marks it delivered in the
//! store. A process killed in between (or a store that refused the mark, or a mark that
//! sled had not yet written when the process died) leaves the batch pending although the
//! log has it; delivering it again would repeat those lines, which readers of the log
//! (`tail -f`, `jq`) see. Every line before that batch was marked delivered, so the lines
//! in question are exactly the log's tail since the last delivery mark: the last lines
//! whose ids are still pending. [`mark_logged`] reads the log backwards while that holds.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::alert::AlertLog;
use crate::store::{Queued, Store};

/// How many of the oldest pending lines are looked for: well above one delivery batch
/// (1024), since a few batches' marks can be lost together when the process dies.
const LOOK_FOR: usize = 8192;

/// Marks delivered the pending lines that the log already ends with, and journals them for
/// the sinks (in log order; a sink may get a line twice, never miss one). Blocking; the
/// number of lines marked.
pub fn mark_logged(store: &Store, log: &AlertLog) -> anyhow::Result<usize> {
    let pending = store.pending(LOOK_FOR)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut by_id: HashMap<String, (Queued, String)> = pending
        .into_iter()
        .map(|(q, line)| (q.alert().hex(), (q, line)))
        .collect();
    let ids: Vec<String> = tail_ids(&log.reader()?, |id| by_id.contains_key(id))?;
    // the tail was read backwards: the oldest line first, each id once
    let mut queued = Vec::new();
    let mut lines = Vec::new();
    for id in ids.iter().rev() {
        if let Some((q, line)) = by_id.remove(id) {
            queued.push(q);
            lines.push(line);
        }
    }
    if queued.is_empty() {
        return Ok(0);
    }
    store.journal_append(&lines)?;
    store.mark_delivered(&queued)?;
    Ok(queued.len())
}

/// The `id`s of the file's last lines, newest first, for as long as `wanted` holds.
fn tail_ids(file: &File, mut wanted: impl FnMut(&str) -> bool) -> std::io::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut start = file.metadata()?.len();
    // bytes [start, start + buf.len()) of the file, not yet split into lines
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = 4096u64;
    loop {
        // the last complete line in `buf` (a line counts once its newline, or the start of
        // the file, is in view); a trailing newline ends the line before it
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => Some(body[i + 1..].to_vec()),
            None if start == 0 => Some(body.to_vec()),
            None => None,
        };
        match line {
            Some(line) => {
                if buf.is_empty() {
                    return Ok(ids); // the start of the file
                }
                match id_of(&line) {
                    Some(id) if wanted(&id) => ids.push(id),
                    _ => return Ok(ids),
                }
                buf.truncate(buf.len() - line.len() - usize::from(buf.ends_with(b"\n")));
            }
            None => {
                let from = start.saturating_sub(chunk);
                let mut more = vec![0u8; (start - from) as usize];
                file.read_exact_at(&mut more, from)?;
                more.extend_from_slice(&buf);
                buf = more;
                start = from;
                chunk = (chunk * 2).min(1 << 20);
            }
        }
    }
}

/// A log line's `id`, if it is a JSON object with one.
fn id_of(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(line).ok().map(|l| l.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids_in(text: &str, wanted: &[&str]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        tail_ids(&File::open(&path).unwrap(), |id| wanted.contains(&id)).unwrap()
    }

    #[test]
    fn the_tail_is_read_backwards_while_its_ids_are_wanted() {
        let log = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n";
        assert_eq!(ids_in(log, &["b", "c"]), ["c", "b"]);
        assert_eq!(ids_in(log, &["a", "b", "c"]), ["c", "b", "a"]);
        assert_eq!(ids_in(log, &["a", "b"]), Vec::<String>::new());
        assert_eq!(ids_in(log, &["a", "c"]), ["c"]);
        assert_eq!(ids_in("", &["a"]), Vec::<String>::new());
        assert_eq!(ids_in("not json\n{\"id\":\"a\"}\n", &["a"]), ["a"]);
        // lines longer than a read, many of them
        let long: String = (0..3000)
            .map(|i| format!("{{\"id\":\"{i}\",\"pad\":\"{}\"}}\n", "x".repeat(i % 5000)))
            .collect();
        let wanted: Vec<String> = (1000..3000).map(|i| i.to_string()).collect();
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let found = ids_in(&long, &wanted);
        assert_eq!(found.len(), 2000);
        assert_eq!(found[0], "2999");
        assert_eq!(found[1999], "1000");
    }
}
