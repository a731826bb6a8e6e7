//! Issue 17, "The first day", points 1 to 5: what the command line says to a newcomer:
//! held-back backlog counted, empty answers said, exit codes as documented, `match` with
//! only watches, tables fitted to the terminal with one time format.

use std::io::Read;
use std::process::Stdio;

use super::*;

fn sample_server() -> Server {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    s
}

/// A polled store: the sample feed with backlog "all" (its CIS-summit item fires cis and csto).
fn polled() -> (Server, Setup) {
    let s = sample_server();
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "all")]);
    once_ok(&setup);
    (s, setup)
}

/// Point 1: with the default 24 h backlog, `once` says how many items it held back, how
/// many a watch fires on, and how to see them; each poll with new items logs one INFO
/// line, an unchanged poll none at INFO.
#[test]
fn once_counts_backlog_held_back_and_logs_one_line_per_poll() {
    let s = sample_server();
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "24h")]);
    let run = || {
        command(Some(&setup.config))
            .env("RUST_LOG", "info")
            .arg("once")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("polled 1 feed: 1 ok"), "{text}");
    assert!(text.contains("3 new; 0 alerts"), "{text}");
    assert!(
        text.contains("held back: 3 new items as backlog") && text.contains("a watch fires on 1"),
        "{text}"
    );
    assert!(text.contains("`feedwatch rematch --dry-run`"), "{text}");
    let log = stderr(&out);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("polled:")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    for field in [
        "mt",
        "status=\"ok\"",
        "items=3",
        "new=3",
        "held_back=3",
        "alerts=0",
    ] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
    // nothing new: no INFO line, and no held-back note
    let out = run();
    assert!(!stderr(&out).contains("polled:"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("held back"), "{}", stdout(&out));
    // what was held back, as the summary promised
    let dry = setup.run(&["rematch", "--dry-run"]);
    assert!(
        stdout(&dry).contains("2 alerts would be raised"),
        "{}",
        stdout(&dry)
    );
}

/// Point 2: an empty answer says so on stderr (stdout is a pipe here) and stays empty with
/// `--json`; an unknown feed or watch name is exit 2 for every command that takes one.
#[test]
fn empty_answers_say_so_and_unknown_names_exit_2() {
    let s = sample_server();
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "all")]);
    for (args, said) in [
        (&["alerts"][..], "no alerts yet: "),
        (&["items"][..], "no items yet: "),
        (
            &["alerts", "--since", "1d"][..],
            "no alerts match --since 1d",
        ),
    ] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    assert!(stderr(&setup.run(&["alerts"])).contains("rematch --dry-run"));
    for args in [&["alerts", "--json"][..], &["items", "--json"][..]] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    }
    for args in [
        &["items", "--feed", "nope"][..],
        &["alerts", "--watch", "nope"][..],
        &["alerts", "--feed", "nope"][..],
        &["poll", "nope"][..],
        &["enable", "nope"][..],
        &["pause", "nope"][..],
        &["resume", "nope"][..],
        &["explain", "nope"][..],
        &["feed", "remove", "nope"][..],
        &["rematch", "--watch", "nope"][..],
    ] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("nope"), "{args:?}: {}", stderr(&out));
    }
}

/// Point 3: `once` and `poll NAME` where no feed succeeded exit 4; `poll nosuch` is a
/// usage error (2).
#[test]
fn no_feed_succeeding_is_exit_4() {
    let s = Server::start();
    s.set("/a", Route::status(500, "down"));
    s.set("/b", Route::status(404, "gone"));
    let setup = Setup::new(&[("a", &s.url("/a"), "all"), ("b", &s.url("/b"), "all")]);
    let out = setup.run(&["once"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("polled 2 feeds: 0 ok"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("no feed polled successfully"));
    let out = setup.run(&["poll", "a"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = setup.run(&["poll", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no feed called \"nosuch\""));
}

/// Point 3: a reader that is gone before the command writes (`export | head -1` after
/// head exits) ends the command quietly with 0, for a long stream and a short one.
#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    let (_s, setup) = polled();
    for args in [
        &["export"][..],
        &["items"][..],
        &["alerts", "--json"][..],
        &["status"][..],
        &["feeds"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // the reader is gone before the first write
        let out = command(Some(&setup.config))
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    // a reader that reads a little and goes (head -c 10)
    let mut child = command(Some(&setup.config))
        .args(["export"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

/// Point 3: every error chain is said once: a missing config names its path and the
/// step, and the OS error once.
#[test]
fn a_missing_config_says_its_error_once() {
    let out = feedwatch(Some(Path::new("/nonexistent/feedwatch.toml")), &["feeds"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err.matches("No such file or directory (os error 2)")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("cannot read config /nonexistent/feedwatch.toml"),
        "{err}"
    );
}

/// A config with watches and no feeds, for `match`.
fn watches_only() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feedwatch.toml");
    std::fs::write(&config, example_watches()).unwrap();
    Setup { dir, config }
}

/// Point 4: `match` needs only watches; a watch that misses only because of letter case
/// says so.
#[test]
fn match_needs_only_watches_and_names_case() {
    let setup = watches_only();
    let out = setup.run(&["match", "--text", "Putin met the CIS leaders"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("cis fires"), "{}", stdout(&out));
    let out = setup.run(&["match", "--text", "the cis leaders"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cis does not fire"), "{text}");
    assert!(
        text.contains("would fire if case were ignored: \"CIS\" is case-sensitive"),
        "{text}"
    );
    assert!(text.contains("case = \"insensitive\""), "{text}");
    let out = setup.run(&["match", "--json", "--text", "the cis leaders"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        v["watches"][0]["case"]
            .as_str()
            .is_some_and(|n| n.contains("\"CIS\" is case-sensitive")),
        "{v}"
    );
    assert!(v["watches"][1]["case"].is_null(), "{v}");
    // a text with no term in any case gets no such note
    let out = setup.run(&["match", "--text", "nothing here"]);
    assert!(
        !stdout(&out).contains("case were ignored"),
        "{}",
        stdout(&out)
    );
    // the rest of the config is still checked
    std::fs::write(&setup.config, "[[watch]]\nname = \"x\"\n").unwrap();
    assert_eq!(setup.run(&["match", "--text", "x"]).status.code(), Some(2));
}

/// Point 4: `explain`'s "why not" names case too.
#[test]
fn explain_names_case() {
    let s = Server::start();
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>What the cis leaders said</title><link>https://example.org/cis</link>
<pubDate>Tue, 27 Dec 2022 10:41:00 +0300</pubDate></item></channel></rss>"#;
    s.set("/f", Route::feed(feed));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    once_ok(&setup);
    let out = setup.run(&["explain", "https://example.org/cis"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cis: does not fire: ")
            && stdout(&out).contains("would fire if case were ignored"),
        "{}",
        stdout(&out)
    );
}

/// Point 4: a bare `match` on a terminal says what it waits for.
#[test]
fn a_bare_match_on_a_terminal_says_what_it_expects() {
    let setup = watches_only();
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; no name, termios or size are given.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = command(Some(&setup.config))
        .arg("match")
        .stdin(slave)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    // read on a thread: a `match` that waits silently must fail the test, not hang it
    let mut err = child.0.stderr.take().unwrap();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = said.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = err.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_for(
        "match to say what it waits for",
        std::time::Duration::from_secs(20),
        || said.lock().unwrap().contains('\n'),
    );
    let said = said.lock().unwrap().clone();
    assert!(said.contains("type or paste the text"), "{said}");
    assert!(said.contains("Ctrl-D"), "{said}");
    drop(master);
}

/// Point 5: the tables have headers, fit COLUMNS with `…`, write every time as
/// `2026-11-30 03:28Z` (with a relative time), show the watches of each item, and one
/// block per item in `alerts`.
#[test]
fn tables_fit_the_width_in_one_time_format() {
    let (s, setup) = polled();
    // a second feed failing with a long error
    let long = format!("/{}", "x".repeat(150));
    s.set(&long, Route::status(500, "down"));
    setup.write_config(
        &[
            ("mt", &s.url("/rss/news"), "all"),
            ("broken", &s.url(&long), "all"),
        ],
        "",
        example_watches(),
    );
    let _ = setup.run(&["poll", "broken"]);
    let in_columns = |columns: &str, args: &[&str]| {
        let out = command(Some(&setup.config))
            .env("COLUMNS", columns)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let narrow = |args: &[&str]| in_columns("100", args);
    for (columns, max) in [("80", 80), ("100", 100)] {
        let feeds = in_columns(columns, &["feeds"]);
        assert!(feeds.starts_with("FEED"), "{feeds}");
        for line in feeds.lines() {
            assert!(line.chars().count() <= max, "{line:?}\n{feeds}");
        }
        assert!(feeds.contains('…'), "{feeds}");
    }
    let feeds = narrow(&["feeds"]);
    let stamp = |t: &str| {
        let b = t.as_bytes();
        t.len() >= 17 && b[4] == b'-' && b[10] == b' ' && b[13] == b':' && b[16] == b'Z'
    };
    let mt = feeds.lines().find(|l| l.starts_with("mt ")).unwrap();
    let at = mt.find("20").unwrap();
    assert!(stamp(&mt[at..]), "{mt}");
    // untruncated when stdout is not a terminal and COLUMNS is unset, with relative times
    let wide = stdout(&setup.run(&["feeds"]));
    assert!(wide.contains(&"x".repeat(150)), "{wide}");
    let mt = wide.lines().find(|l| l.starts_with("mt ")).unwrap();
    assert!(mt.contains(" ago)") || mt.contains("(just now)"), "{mt}");

    let items = narrow(&["items"]);
    let header = items.lines().next().unwrap();
    for col in ["PUBLISHED", "FEED", "WATCHES", "TITLE", "LINK"] {
        assert!(header.contains(col), "{header}");
    }
    let cis = items.lines().find(|l| l.contains("cis,csto")).unwrap();
    assert!(cis.starts_with("2022-12-27 07:41Z"), "{cis}");

    let alerts = narrow(&["alerts"]);
    assert_eq!(
        alerts.matches("mt: Putin Presents Rings").count(),
        1,
        "one block for the item's two alerts: {alerts}"
    );
    assert!(
        alerts.contains("[csto, cis]") || alerts.contains("[cis, csto]"),
        "{alerts}"
    );
    assert!(stamp(&alerts), "{alerts}");

    let status = narrow(&["status"]);
    assert!(status.contains("next polls\n  FEED"), "{status}");
}
