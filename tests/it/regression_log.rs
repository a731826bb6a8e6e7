//! Regression tests for the faults "that lose, corrupt or stall" around the alert log and
//! the sinks: one test per fault, named after it, driving the real binary against loopback
//! servers and a real store. (The full-disk fault needs a tmpfs, so root: tests/root.rs.)

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

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

/// Fault 11, "`once` never calls sinks": a cron-driven `once` wrote its alerts to the log and
/// the journal, but no sink ever got them (and a sink's cursor, first read by a later `run`,
/// started past them). Now `once` sends every sink what it has before it exits; what a sink
/// refused stays pending and goes out with the next `once`; exit 4 says something was left.
#[test]
fn once_never_calls_sinks() {
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let receiver = Server::start();
    receiver.set("/hook", Route::status(503, "down for maintenance"));
    let setup = Setup::new(&[("moscow-times", &feeds.url("/rss/news"), "all")]);
    let exec_out = setup.dir.path().join("exec.jsonl");
    add_sinks(
        &setup,
        &format!(
            "[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n\n\
             [[sinks]]\nname = \"script\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\ntimeout = \"10s\"\n",
            receiver.url("/hook"),
            exec_out.display()
        ),
    );

    // the webhook is down: the exec sink gets both alerts, the webhook's stay pending
    let out = setup.run(&["once"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let summary = stdout(&out);
    assert!(
        summary.contains("undone: sink hook: 2 alerts undelivered") && summary.contains("503"),
        "{summary}"
    );
    assert!(summary.contains("sink script: 2 sent, 0 left"), "{summary}");
    assert!(
        !summary.contains("undone: sink script"),
        "the exec sink is done: {summary}"
    );
    assert!(
        stderr(&out).contains("left something undone"),
        "{}",
        stderr(&out)
    );
    let log_ids: Vec<String> = setup
        .alerts()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(log_ids.len(), 2);
    let exec_ids = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(
        exec_ids(&exec_out),
        log_ids,
        "the exec sink got every alert"
    );
    assert_eq!(
        receiver.seen("/hook").len(),
        1,
        "a refused send ends that sink's pass"
    );

    // back up: the next `once` (nothing new in the feed) sends the webhook what it missed
    receiver.set("/hook", Route::status(200, "ok"));
    let out = once_ok(&setup);
    assert!(out.contains("0 new; 0 alerts"), "{out}");
    assert!(out.contains("sink hook: 2 sent, 0 left"), "{out}");
    assert!(!out.contains("undone"), "{out}");
    let accepted: Vec<String> = receiver
        .seen("/hook")
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        accepted, log_ids,
        "the webhook got the pending alerts, in order"
    );
    assert_eq!(
        exec_ids(&exec_out),
        log_ids,
        "nothing twice to the exec sink"
    );

    // and nothing again after that
    once_ok(&setup);
    assert_eq!(receiver.seen("/hook").len(), 3);
    assert_eq!(exec_ids(&exec_out), log_ids);
}

/// Fault 11, its second half: a sink's cursor starts at the journal's end when first read,
/// and `run` first read it after delivering the alerts left pending by the last run (here:
/// an alert log that could not be written), so a sink configured meanwhile never got them.
#[test]
fn once_never_calls_sinks_and_a_new_sink_starts_after_the_pending_alerts() {
    if !Path::new("/dev/full").exists() {
        panic!("this test needs /dev/full to make the alert log fail");
    }
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let receiver = Server::start();
    receiver.set("/hook", Route::status(200, "ok"));
    let setup = Setup::new(&[("mt", &feeds.url("/rss/news"), "all")]);
    let good = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        good.replace("log = \"alerts.jsonl\"", "log = \"/dev/full\""),
    )
    .unwrap();
    let failed = setup.run(&["once"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));

    // the log works again, and a webhook is configured: `run` delivers the pending alerts
    // at start-up, and the new sink gets them
    std::fs::write(&setup.config, good).unwrap();
    add_sinks(
        &setup,
        &format!(
            "[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            receiver.url("/hook")
        ),
    );
    let mut child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .map(Daemon)
        .unwrap();
    wait_for(
        "the webhook to get the alerts left pending",
        Duration::from_secs(30),
        || receiver.seen("/hook").len() >= 2,
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut hooked: Vec<String> = receiver
        .seen("/hook")
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    hooked.sort();
    let mut logged: Vec<String> = ids_in_log(&setup).into_keys().collect();
    logged.sort();
    assert_eq!(hooked, logged);
}

/// Fault 11: `once` exits 4 when no feed polled successfully, and says so.
#[test]
fn once_never_calls_sinks_exit_4_when_no_feed_polled() {
    let s = Server::start();
    s.set("/500", Route::status(500, "oops"));
    let setup = Setup::new(&[("a", &s.url("/500"), "all"), ("b", &s.url("/500"), "all")]);
    let out = setup.run(&["once"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("undone: no feed polled successfully (2 failed)"),
        "{}",
        stdout(&out)
    );
    // one feed that works is enough for 0
    s.set("/ok", Route::feed(SAMPLE));
    let setup = Setup::new(&[("a", &s.url("/500"), "all"), ("b", &s.url("/ok"), "all")]);
    once_ok(&setup);
    // the code is documented with the others
    let help = stdout(&feedwatch(None, &["--help"]));
    assert!(
        help.contains("4  `once` or `poll` ran but left something undone"),
        "{help}"
    );
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
