//! Every command beside a running `feedwatch run`, through its control socket: poll, once,
//! enable, pause/resume, reload, rematch, export; the socket's permissions; `import` still
//! asks for a stopped service; an api address that cannot be bound stops the start.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use super::*;

const CIS_ONLY: &str = "[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n";

/// A loopback feed server with the sample feed at /a (and /b), and a config polling /a.
fn setup(watches: &str) -> (Server, Setup, Vec<(String, String, String)>) {
    let s = Server::start();
    s.set("/a", Route::feed(SAMPLE));
    s.set("/b", Route::feed(SAMPLE));
    let feeds = vec![("mt".to_string(), s.url("/a"), "all".to_string())];
    let setup = Setup::with_watches(&borrow(&feeds), "", watches);
    (s, setup, feeds)
}

fn borrow(feeds: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
    feeds
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect()
}

/// `feedwatch run`, once its control socket answers and its first poll is done.
fn start(setup: &Setup, s: &Server) -> Daemon {
    let child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .map(Daemon)
        .unwrap();
    let sock = setup.dir.path().join("control.sock");
    wait_for("the control socket", Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    wait_for("the first poll", Duration::from_secs(20), || {
        !s.seen("/a").is_empty()
    });
    child
}

fn ok(setup: &Setup, args: &[&str]) -> String {
    let out = setup.run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// `poll NAME`, `poll --all` and `once` beside the service poll at once (the server sees
/// each request), print the cycle's summary, and write each alert once.
#[test]
fn poll_and_once_beside_the_running_service() {
    let (s, setup, _) = setup(example_watches());
    let _d = start(&setup, &s);
    wait_for("the first poll's alerts", Duration::from_secs(20), || {
        setup.alerts().len() == 2
    });
    let sock = setup.dir.path().join("control.sock");
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode");
    for args in [&["poll", "mt"][..], &["poll", "--all"][..], &["once"][..]] {
        let before = s.seen("/a").len();
        let started = std::time::Instant::now();
        let text = ok(&setup, args);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took too long"
        );
        assert!(text.starts_with("polled 1 feed: 1 ok"), "{args:?}: {text}");
        assert!(s.seen("/a").len() > before, "{args:?} fetched the feed");
    }
    assert_eq!(setup.alerts().len(), 2, "each alert written once");
    // an unknown feed: exit 2 naming the feeds
    let out = setup.run(&["poll", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("feeds: mt"), "{}", stderr(&out));
    // import still needs a stopped service
    let file = setup.dir.path().join("x.jsonl");
    std::fs::write(&file, "").unwrap();
    let out = setup.run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("stop the service first"),
        "{}",
        stderr(&out)
    );
}

/// A paused feed is not fetched (by the service's loop or by `poll --all`) until resumed;
/// `feeds` shows it as paused, with no next poll; the pause survives a restart.
#[test]
fn pause_and_resume_beside_the_running_service() {
    let (s, setup, _) = setup(example_watches());
    let d = start(&setup, &s);
    wait_for("the first poll's schedule", Duration::from_secs(20), || {
        ok(&setup, &["feeds", "--json"]).contains(r#""next_poll":"20"#)
    });
    let text = ok(&setup, &["pause", "mt"]);
    assert!(text.contains("mt: paused"), "{text}");
    let feeds = ok(&setup, &["feeds", "--json"]);
    assert!(feeds.contains(r#""state":"paused""#), "{feeds}");
    // a paused feed has no next poll to count down to
    assert!(feeds.contains(r#""next_poll":null"#), "{feeds}");
    let before = s.seen("/a").len();
    let text = ok(&setup, &["poll", "--all"]);
    assert!(text.starts_with("polled 0 feeds"), "{text}");
    let out = setup.run(&["poll", "mt"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("resume mt"), "{}", stderr(&out));
    assert_eq!(s.seen("/a").len(), before, "a paused feed is not fetched");
    // kept across a restart
    drop(d);
    let _d = start_paused(&setup);
    assert!(ok(&setup, &["feeds", "--json"]).contains(r#""state":"paused""#));
    assert_eq!(
        s.seen("/a").len(),
        before,
        "not fetched after the restart either"
    );
    let text = ok(&setup, &["resume", "mt"]);
    assert!(text.contains("mt: resumed"), "{text}");
    ok(&setup, &["poll", "--all"]);
    assert!(s.seen("/a").len() > before, "fetched again once resumed");
}

/// `run` whose feeds are all paused: ready once the control socket answers.
fn start_paused(setup: &Setup) -> Daemon {
    let child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .map(Daemon)
        .unwrap();
    let sock = setup.dir.path().join("control.sock");
    wait_for("the control socket", Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    child
}

/// `enable` beside the service: a feed disabled by 410 Gone is polled again.
#[test]
fn enable_beside_the_running_service() {
    let (s, setup, _) = setup(example_watches());
    s.set("/a", Route::status(410, "gone"));
    let _d = start_paused(&setup);
    wait_for("the 410", Duration::from_secs(20), || {
        !s.seen("/a").is_empty()
    });
    wait_for("the feed disabled", Duration::from_secs(20), || {
        ok(&setup, &["feeds", "--json"]).contains(r#""state":"disabled""#)
    });
    s.set("/a", Route::feed(SAMPLE));
    let text = ok(&setup, &["enable", "mt"]);
    assert!(text.contains("mt: enabled"), "{text}");
    let text = ok(&setup, &["poll", "mt"]);
    assert!(text.starts_with("polled 1 feed: 1 ok"), "{text}");
    assert_eq!(setup.alerts().len(), 2);
}

/// `reload` prints the outcome; an invalid config is exit 2 with its problems and kept
/// out; then `rematch` applies a new watch to the past once, and a second run raises none.
#[test]
fn reload_and_rematch_beside_the_running_service() {
    let (s, setup, feeds) = setup(CIS_ONLY);
    let _d = start(&setup, &s);
    wait_for("the cis alert", Duration::from_secs(20), || {
        setup.alerts().len() == 1
    });
    std::fs::write(&setup.config, "[fetch]\ntimeout = 3\n").unwrap();
    let out = setup.run(&["reload"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    setup.write_config(&borrow(&feeds), "", example_watches());
    let text = ok(&setup, &["reload"]);
    assert!(text.contains("1 feeds, 2 watches"), "{text}");
    let text = ok(&setup, &["rematch", "--dry-run"]);
    assert!(text.contains("1 alert would be raised"), "{text}");
    let text = ok(&setup, &["rematch"]);
    assert!(text.contains("1 alert raised"), "{text}");
    let text = ok(&setup, &["rematch"]);
    assert!(text.contains("0 alerts raised"), "{text}");
    let mut watches: Vec<String> = setup
        .alerts()
        .iter()
        .map(|a| a["watch"].as_str().unwrap().to_string())
        .collect();
    watches.sort();
    assert_eq!(watches, ["cis", "csto"]);
}

/// An export taken from the running service, imported into an empty store, answers the
/// same `items --json` and `alerts --json`.
#[test]
fn online_export_imports_into_the_same_store() {
    let (s, setup, feeds) = setup(example_watches());
    let _d = start(&setup, &s);
    wait_for("the alerts", Duration::from_secs(20), || {
        setup.alerts().len() == 2
    });
    let file = setup.dir.path().join("backup.jsonl");
    ok(&setup, &["export", "--output", file.to_str().unwrap()]);
    let other = Setup::with_watches(&borrow(&feeds), "", example_watches());
    ok(&other, &["import", file.to_str().unwrap()]);
    for view in ["items", "alerts"] {
        assert_eq!(
            ok(&setup, &[view, "--json", "--limit", "0"]),
            ok(&other, &[view, "--json", "--limit", "0"]),
            "{view}"
        );
    }
    // to stdout too
    let text = ok(&setup, &["export"]);
    assert!(text.starts_with(r#"{"type":"store""#), "{text}");
}

/// An api address that cannot be bound stops the start with exit 1 (systemd retries it).
#[test]
fn an_api_address_in_use_is_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let setup = Setup::new(&[("a", "http://127.0.0.1:9/feed", "all")]);
    let text = std::fs::read_to_string(&setup.config)
        .unwrap()
        .replace("127.0.0.1:0", &addr.to_string());
    std::fs::write(&setup.config, text).unwrap();
    let out = setup.run(&["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("the api cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
}

/// `items` and `alerts` say when a query is wrong, the same with and without a service:
/// an unknown name is exit 2 with the names and the closest; `--since`/`--until`/`--watch`/
/// `--feed` select; the API answers an unknown parameter 400, listing the accepted ones.
#[test]
fn queries_say_when_they_are_wrong() {
    let (s, setup, _) = setup(example_watches());
    ok(&setup, &["once"]);
    let check = |beside: &str| {
        let out = setup.run(&["items", "--feed", "mtt"]);
        assert_eq!(out.status.code(), Some(2), "{beside}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("did you mean \"mt\""),
            "{beside}: {}",
            stderr(&out)
        );
        let out = setup.run(&["alerts", "--watch", "csta"]);
        assert_eq!(out.status.code(), Some(2), "{beside}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("watches: cis, csto"),
            "{beside}: {}",
            stderr(&out)
        );
        let out = setup.run(&["alerts", "--since", "yesterday"]);
        assert_eq!(out.status.code(), Some(2), "{beside}: {}", stderr(&out));
        let rows = |args: &[&str]| ok(&setup, args).lines().count();
        assert_eq!(rows(&["alerts", "--json", "--since", "1h"]), 2, "{beside}");
        assert_eq!(
            rows(&["alerts", "--json", "--until", "2000-01-01"]),
            0,
            "{beside}"
        );
        assert_eq!(
            rows(&["alerts", "--json", "--feed", "mt", "--watch", "csto"]),
            1,
            "{beside}"
        );
        assert_eq!(rows(&["items", "--json", "--watch", "csto"]), 1, "{beside}");
        assert_eq!(rows(&["items", "--json", "--limit", "0"]), 3, "{beside}");
    };
    check("alone");
    let _d = start(&setup, &s);
    check("beside the service");
    let addr = feedwatch::api::address_of(&setup.dir.path().join("store")).unwrap();
    let answer = |path: &str| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        text
    };
    let text = answer("/api/items?bogus=1");
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("accepted: feed, watch, since, until, limit, before"),
        "{text}"
    );
    let text = answer("/api/alerts?watch=nope");
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(answer("/api/alerts?since=1h").starts_with("HTTP/1.1 200"));
}

/// `status --json` beside the service and without one: the documented fields.
#[test]
fn status_beside_the_running_service() {
    let (s, setup, _) = setup(example_watches());
    ok(&setup, &["once"]);
    let alone: serde_json::Value =
        serde_json::from_str(&ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(alone["running"], false, "{alone}");
    assert_eq!(alone["alerts_24h"]["cis"], 1, "{alone}");
    let _d = start(&setup, &s);
    let v: serde_json::Value = serde_json::from_str(&ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(v["running"], true, "{v}");
    assert!(v["uptime_secs"].as_i64().is_some(), "{v}");
    assert_eq!(v["feeds"]["ok"], 1, "{v}");
    assert_eq!(v["alerts_24h"]["csto"], 1, "{v}");
    assert_eq!(v["pending"]["alert log"], 0, "{v}");
    assert!(v["store"]["bytes"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["next_polls"][0]["feed"], "mt", "{v}");
    let text = ok(&setup, &["status"]);
    assert!(text.contains("alerts   last 24 h: cis 1, csto 1"), "{text}");
}

/// `feed add` beside the service: the config keeps its comments, the service reloads, and
/// a poll of the new feed alerts; an invalid addition leaves the file as it was; `feed
/// remove` cuts the table out.
#[test]
fn feed_add_and_remove_beside_the_running_service() {
    let (s, setup, _) = setup(CIS_ONLY);
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.insert_str(0, "# operator's note: keep this\n");
    std::fs::write(&setup.config, &text).unwrap();
    let _d = start(&setup, &s);
    wait_for("the cis alert", Duration::from_secs(20), || {
        setup.alerts().len() == 1
    });
    let before = std::fs::read_to_string(&setup.config).unwrap();
    let out = setup.run(&["feed", "add", "bad", &s.url("/b"), "--interval", "often"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&setup.config).unwrap(),
        before,
        "restored"
    );
    let text = ok(
        &setup,
        &["feed", "add", "second", &s.url("/b"), "--backlog", "all"],
    );
    assert!(text.contains("reloaded"), "{text}");
    let after = std::fs::read_to_string(&setup.config).unwrap();
    // added after the last feed (before the watches), the rest kept
    let table = format!(
        "\n[[feeds]]\nname = \"second\"\nurl = \"{}\"\nbacklog = \"all\"\n",
        s.url("/b")
    );
    assert!(after.contains(&table), "{after}");
    assert_eq!(after.replacen(&table, "", 1), before, "the rest kept");
    assert!(after.contains("# operator's note: keep this"));
    let text = ok(&setup, &["poll", "second"]);
    assert!(text.starts_with("polled 1 feed: 1 ok"), "{text}");
    assert!(!s.seen("/b").is_empty());
    // the same story seen in a second feed: no second alert for it
    assert_eq!(setup.alerts().len(), 1);
    let text = ok(&setup, &["feed", "remove", "second"]);
    assert!(text.contains("removed"), "{text}");
    let removed = std::fs::read_to_string(&setup.config).unwrap();
    assert_eq!(
        removed.trim_end(),
        before.trim_end(),
        "only the table is gone"
    );
    let out = setup.run(&["poll", "second"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `explain` beside the service and without: which watch alerted, and why another did not.
#[test]
fn explain_beside_the_running_service() {
    let (s, setup, feeds) = setup(CIS_ONLY);
    ok(&setup, &["once"]);
    setup.write_config(&borrow(&feeds), "", example_watches());
    let items = ok(&setup, &["items", "--json", "--watch", "cis"]);
    let item: serde_json::Value = serde_json::from_str(items.lines().next().unwrap()).unwrap();
    let key = item["key"].as_str().unwrap().to_string();
    let link = item["link"].as_str().unwrap().to_string();
    let check = |v: serde_json::Value| {
        assert_eq!(v["key"], key.as_str(), "{v}");
        assert_eq!(v["feeds"][0], "mt", "{v}");
        let w = v["watches"].as_array().unwrap();
        assert_eq!(w[0]["watch"], "cis");
        assert_eq!(w[0]["alerted"], true, "{v}");
        assert_eq!(w[1]["watch"], "csto");
        assert_eq!(w[1]["fires"], true, "{v}");
        assert_eq!(w[1]["alerted"], false, "{v}");
        assert!(w[1]["why"].as_str().unwrap().contains("rematch"), "{v}");
    };
    check(serde_json::from_str(&ok(&setup, &["explain", "--json", &key])).unwrap());
    let _d = start(&setup, &s);
    check(serde_json::from_str(&ok(&setup, &["explain", "--json", &link])).unwrap());
    let out = setup.run(&["explain", "nothing-like-it"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `feed add` and `feed remove` on a config whose feeds are an inline array: the array is
/// edited in place, its comments kept, and the service polls the new feed.
#[test]
fn feed_add_and_remove_in_an_inline_array() {
    let (s, setup, _) = setup(CIS_ONLY);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let head = &text[..text.find("[[feeds]]").unwrap()];
    // at the top: an inline array belongs to the root table, before any [section]
    let inline = format!(
        "# the feeds, one a line\nfeeds = [\n  # Moscow Times\n  {{ name = \"mt\", url = \"{}\", backlog = \"all\" }},\n]\n\n",
        s.url("/a"),
    );
    let text = format!("{inline}{head}{CIS_ONLY}");
    std::fs::write(&setup.config, &text).unwrap();
    let _d = start(&setup, &s);
    let out = ok(
        &setup,
        &["feed", "add", "second", &s.url("/b"), "--backlog", "all"],
    );
    assert!(out.contains("reloaded"), "{out}");
    let after = std::fs::read_to_string(&setup.config).unwrap();
    let entry = format!(
        "  {{ name = \"second\", url = \"{}\", backlog = \"all\" }},\n]",
        s.url("/b")
    );
    assert!(after.contains(&entry), "{after}");
    assert!(after.contains("# Moscow Times") && after.contains("# the feeds, one a line"));
    let polled = ok(&setup, &["poll", "second"]);
    assert!(polled.starts_with("polled 1 feed: 1 ok"), "{polled}");
    assert!(!s.seen("/b").is_empty());
    ok(&setup, &["feed", "remove", "second"]);
    assert_eq!(std::fs::read_to_string(&setup.config).unwrap(), text);
    let out = setup.run(&["poll", "second"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A config file that is not writable: `feed add` and `feed remove` refuse with exit 2
/// and a message naming it, and leave it byte-identical.
#[test]
fn feed_add_refuses_a_read_only_config() {
    let (s, setup, _) = setup(CIS_ONLY);
    let before = std::fs::read(&setup.config).unwrap();
    std::fs::set_permissions(&setup.config, std::fs::Permissions::from_mode(0o444)).unwrap();
    for args in [
        &["feed", "add", "second", &s.url("/b")][..],
        &["feed", "remove", "mt"][..],
    ] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not writable; nothing changed")
                && stderr(&out).contains(setup.config.file_name().unwrap().to_str().unwrap()),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(&setup.config).unwrap(), before, "{args:?}");
    }
    let left: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".new"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// `rematch` through the socket uses the config file as it is now: the service reloads
/// first, so a watch added to the file without a reload applies to the past.
#[test]
fn rematch_beside_the_service_reads_the_config_file_first() {
    let (s, setup, feeds) = setup(CIS_ONLY);
    let _d = start(&setup, &s);
    wait_for("the cis alert", Duration::from_secs(20), || {
        setup.alerts().len() == 1
    });
    setup.write_config(&borrow(&feeds), "", example_watches());
    let out = setup.run(&["rematch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 alert raised"), "{}", stdout(&out));
    assert!(stderr(&out).contains("reloaded"), "{}", stderr(&out));
    // the running service took the new watch too
    let v: serde_json::Value = serde_json::from_str(&ok(&setup, &["status", "--json"])).unwrap();
    assert_eq!(v["alerts_24h"]["csto"], 1, "{v}");
    // an invalid file: exit 2, nothing rematched
    std::fs::write(&setup.config, "[fetch]\ntimeout = 3\n").unwrap();
    let out = setup.run(&["rematch"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(setup.alerts().len(), 2);
}

/// The control socket stays up (bound once) while `run` compacts its store again and
/// again: `status` and `poll` answer throughout, and the socket is found after each
/// compaction rewrote the store directory.
#[test]
fn the_control_socket_answers_across_compactions() {
    let (_s, setup, _) = setup(example_watches());
    let diag = setup.dir.path().join("stderr.log");
    let _d = command(Some(&setup.config))
        .arg("run")
        .env("FEEDWATCH_COMPACT_ALWAYS", "1")
        .env("FEEDWATCH_MAINTENANCE_SECS", "1")
        .stderr(std::fs::File::create(&diag).unwrap())
        .spawn()
        .map(Daemon)
        .unwrap();
    let log = || std::fs::read_to_string(&diag).unwrap_or_default();
    let compactions = || log().matches("compacted the store").count();
    let sock = setup.dir.path().join("control.sock");
    wait_for("the control socket", Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let first = compactions();
    let (mut asked, mut polled) = (0, 0);
    while compactions() < first + 3 {
        let out = setup.run(&["status", "--json"]);
        assert!(out.status.success(), "status: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["running"], true, "{v}");
        asked += 1;
        let out = setup.run(&["poll", "mt"]);
        assert!(
            out.status.success() && stdout(&out).starts_with("polled 1 feed: 1 ok"),
            "poll after {} compactions: {}{}",
            compactions() - first,
            stdout(&out),
            stderr(&out)
        );
        polled += 1;
        assert!(asked < 2000, "no three compactions while asking: {}", log());
    }
    assert!(polled >= 1);
    assert_eq!(
        log().matches("control socket listening").count(),
        1,
        "bound once for the whole run: {}",
        log()
    );
    assert_eq!(setup.alerts().len(), 2, "each alert once");
    assert!(!log().contains("ERROR"), "{}", log());
}

/// `[control] group` names a group that must exist: `check` says so (exit 2, naming the key),
/// and so does `run`, which does not start.
#[test]
fn a_control_group_that_does_not_exist_is_a_config_error() {
    let setup = Setup::with_extra(
        &[("a", "http://127.0.0.1:9/feed", "all")],
        "[control]\ngroup = \"no-such-group-feedwatch\"\n",
    );
    for args in [&["check"][..], &["run"][..]] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("control.group")
                && stderr(&out).contains("no group \"no-such-group-feedwatch\""),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
