//! Regression tests for the faults "that lose, corrupt or stall" around the alert log and
//! the sinks: one test per fault, named after it, driving the real binary against loopback
//! servers and a real store. (The full-disk fault needs a tmpfs, so root: tests/root.rs.)

use std::collections::HashMap;

use feedwatch::alert::Alert;
use feedwatch::dedup::Key;
use feedwatch::store::Store;
use feedwatch::watch::Fired;

use super::*;

/// Appends `[[sinks]]` tables to the setup's config.
fn add_sinks(setup: &Setup, sinks: &str) {
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push('\n');
    config.push_str(sinks);
    std::fs::write(&setup.config, config).unwrap();
}

/// How many times each id appears in the alert log; every line must be JSON.
fn ids_in_log(setup: &Setup) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for a in setup.alerts() {
        *ids.entry(a["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    ids
}

/// Fault 18, "the same alert line twice after a crash": a batch appended to the log (whole
/// lines, the last one torn by the kill) whose process died before it was marked delivered
/// was appended again at the next start, so `tail -f` readers saw its lines twice. Now the
/// pending lines the log already ends with are marked delivered (and journalled for the
/// sinks, which stay at least once), and only the rest is written.
#[test]
fn the_same_alert_line_twice_after_a_crash() {
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let receiver = Server::start();
    receiver.set("/hook", Route::status(200, "ok"));
    let setup = Setup::new(&[("mt", &feeds.url("/rss/news"), "all")]);
    add_sinks(
        &setup,
        &format!(
            "[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            receiver.url("/hook")
        ),
    );
    // the first run delivered one alert (in the log, marked delivered)...
    let store = Store::open(&setup.dir.path().join("store"), 16 << 20).unwrap();
    let raise = |n: u32| -> Vec<(Key, Alert)> {
        (0..n)
            .map(|i| {
                let item = Key::of(&["crash", &i.to_string()]);
                let fired = Fired {
                    watch: "cis".into(),
                    matches: vec![],
                };
                let title = format!("CIS story {i}");
                let alert = Alert::new(item, "mt", &title, None, None, chrono::Utc::now(), &fired);
                (item.alert_id("cis"), alert)
            })
            .collect()
    };
    let raised = raise(1);
    store.commit_alerts(&raised).unwrap();
    let first = store.pending(10).unwrap();
    assert_eq!(first.len(), 1);
    let mut log = first[0].1.clone() + "\n";
    store.mark_delivered(&[first[0].0]).unwrap();
    // ...then raised five more, appended them, and was killed inside the append: three
    // whole lines and part of the fourth reached the file, none was marked delivered
    let raised: Vec<(Key, Alert)> = raise(6).into_iter().skip(1).collect();
    store.commit_alerts(&raised).unwrap();
    let batch = store.pending(10).unwrap();
    assert_eq!(batch.len(), 5);
    for (_, line) in &batch[..3] {
        log.push_str(line);
        log.push('\n');
    }
    log.push_str(&batch[3].1[..20]);
    std::fs::write(setup.log(), &log).unwrap();
    drop(store);

    // the restart (a `once`, here) delivers what is left, polls the feed (two alerts)
    let out = once_ok(&setup);
    assert!(out.contains("2 alerts written"), "{out}");
    let ids = ids_in_log(&setup);
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "lines in the log twice: {twice:?}");
    assert_eq!(ids.len(), 1 + 5 + 2, "every alert once: {ids:?}");
    for (q, _) in &batch {
        assert!(
            ids.contains_key(&q.alert().hex()),
            "lost {}",
            q.alert().hex()
        );
    }
    // the order of the log is the order of delivery: the three found lines stay where they
    // were, the torn one and the last come after them
    let order: Vec<String> = setup
        .alerts()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = batch.iter().map(|(q, _)| q.alert().hex()).collect();
    assert_eq!(order[1..6], expected[..]);
    // the sink, new in this run, got every line of the log after its cursor: the three
    // found in the log, the two written now and the feed's two (at least once, by id)
    let mut hooked: Vec<String> = receiver
        .seen("/hook")
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    hooked.sort();
    hooked.dedup();
    let mut after_first: Vec<String> = order[1..].to_vec();
    after_first.sort();
    assert_eq!(hooked, after_first);

    // and a second restart finds nothing to repeat
    once_ok(&setup);
    assert_eq!(ids_in_log(&setup), ids);
}
