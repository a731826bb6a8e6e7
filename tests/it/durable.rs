//! Nothing lost, nothing twice: items that slide back into a feed, edits, guid policy
//! changes, and alerts left pending by a failed delivery.

use super::*;

/// An RSS document with one item per (guid, title); links are derived from the guid.
fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://outlet.example/{guid}</link>\
             <pubDate>Fri, 27 Nov 2026 10:00:00 +0000</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// Item 1 leaves the feed's window when newer items arrive, then comes back (an outlet
/// re-sorting, or a "most read" list): it is not news again.
#[test]
fn an_item_sliding_back_into_the_window_does_not_alert_again() {
    let s = Server::start();
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    let one = ("1", "CIS summit opens");
    let two = ("2", "CSTO drills begin");
    let three = ("3", "CIS trade talks");
    s.set("/f", Route::feed(rss(&[one, two])));
    once_ok(&setup);
    s.set("/f", Route::feed(rss(&[two, three])));
    once_ok(&setup);
    s.set("/f", Route::feed(rss(&[one, three])));
    let out = once_ok(&setup);
    assert!(out.contains("2 items, 0 new; 0 alerts"), "{out}");
    assert_eq!(
        watch_titles(&setup.alerts()),
        [
            ("cis".into(), "CIS summit opens".into()),
            ("cis".into(), "CIS trade talks".into()),
            ("csto".into(), "CSTO drills begin".into()),
        ]
    );
}

/// An outlet edits a headline after publication: the watch that already fired stays
/// quiet; a watch the new text matches for the first time fires once.
#[test]
fn an_edited_item_alerts_only_for_a_newly_matching_watch() {
    let s = Server::start();
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    once_ok(&setup);
    s.set(
        "/f",
        Route::feed(rss(&[("1", "CIS summit opens; CSTO joins the talks")])),
    );
    once_ok(&setup);
    s.set(
        "/f",
        Route::feed(rss(&[(
            "1",
            "CIS summit opens; CSTO joins the talks (updated)",
        )])),
    );
    once_ok(&setup);
    let alerts = setup.alerts();
    assert_eq!(
        watch_titles(&alerts),
        [
            ("cis".into(), "CIS summit opens".into()),
            (
                "csto".into(),
                "CIS summit opens; CSTO joins the talks".into()
            ),
        ]
    );
    assert_eq!(
        alerts[0]["item"], alerts[1]["item"],
        "one item, two watches"
    );
    let items = stdout(&setup.run(&["items", "--json"]));
    assert_eq!(items.lines().count(), 1, "{items}");
    assert!(
        items.contains("(updated)"),
        "the store keeps the latest text: {items}"
    );
}

/// A feed whose guids are all the same (a broken generator) is identified by links; the
/// daemon says so once, not on every poll, and items keep their identity.
#[test]
fn a_feed_with_unreliable_guids_is_keyed_by_link_and_said_once() {
    let s = Server::start();
    let doc = |titles: &[&str]| {
        let mut d = String::from("<rss version=\"2.0\"><channel><title>t</title>");
        for (i, t) in titles.iter().enumerate() {
            d.push_str(&format!(
                "<item><guid>https://outlet.example/</guid><title>{t}</title>\
                 <link>https://outlet.example/{i}</link></item>"
            ));
        }
        d + "</channel></rss>"
    };
    s.set("/f", Route::feed(doc(&["CIS one", "CSTO two", "three"])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    let logged = |out: &Output| {
        stderr(out)
            .lines()
            .filter(|l| l.contains("identifying items by link"))
            .count()
    };
    let info = |setup: &Setup| {
        let out = command(Some(&setup.config))
            .env("RUST_LOG", "info")
            .arg("once")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let first = info(&setup);
    assert_eq!(logged(&first), 1, "{}", stderr(&first));
    assert!(
        stderr(&first)
            .lines()
            .any(|l| l.contains("identifying items by link") && l.contains("feed=f")),
        "the line names the feed: {}",
        stderr(&first)
    );
    s.set(
        "/f",
        Route::feed(doc(&["CIS one", "CSTO two", "three", "four"])),
    );
    let second = info(&setup);
    assert_eq!(
        logged(&second),
        0,
        "said once, not per poll: {}",
        stderr(&second)
    );
    assert!(
        stdout(&second).contains("4 items, 1 new; 0 alerts"),
        "{}",
        stdout(&second)
    );
    assert_eq!(setup.alerts().len(), 2);
}

/// The alert log cannot be written (here /dev/full: every write fails with ENOSPC). The
/// poll is committed with its alerts pending and `once` exits 1; the next start, with a
/// working log, delivers them before polling, and exactly once.
#[test]
fn alerts_pending_after_a_failed_delivery_are_delivered_once_on_restart() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "all")]);
    let good = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        good.replace("log = \"alerts.jsonl\"", "log = \"/dev/full\""),
    )
    .unwrap();
    let failed = setup.run(&["once"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("writing alerts to /dev/full (they stay pending"),
        "{}",
        stderr(&failed)
    );
    // the poll itself was recorded: the alerts exist in the store, undelivered
    let listed = stdout(&setup.run(&["alerts", "--json"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(setup.alerts().is_empty());

    std::fs::write(&setup.config, good).unwrap();
    let out = once_ok(&setup);
    assert!(out.contains("0 new; 0 alerts"), "{out}");
    let delivered = setup.alerts();
    assert_eq!(delivered.len(), 2, "{delivered:#?}");
    assert_eq!(
        watch_titles(&delivered),
        watch_titles(
            &listed
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        )
    );
    once_ok(&setup);
    assert_eq!(setup.alerts().len(), 2, "delivered once, not again");
}

/// Retention (`storage.keep`, here 1s) drops items' text at start-up but keeps their keys:
/// served again, the purged items are recognised and raise nothing.
#[test]
fn items_purged_by_retention_then_served_again_raise_no_alert() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "all")]);
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let config = config.replace("path = \"store\"\n", "path = \"store\"\nkeep = \"1s\"\n");
    std::fs::write(&setup.config, config).unwrap();
    once_ok(&setup);
    assert_eq!(setup.alerts().len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = command(Some(&setup.config))
        .env("RUST_LOG", "info")
        .arg("once")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retention: dropped the text") && stderr(&out).contains("items=3"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("3 items, 0 new; 0 alerts"),
        "{}",
        stdout(&out)
    );
    assert_eq!(setup.alerts().len(), 2, "no alert again");
    let items = stdout(&setup.run(&["items", "--json"]));
    assert_eq!(items, "", "the text is gone, the keys stay");
    let alerts = stdout(&setup.run(&["alerts", "--json"]));
    assert_eq!(
        alerts.lines().count(),
        2,
        "alert records are kept: {alerts}"
    );
}

/// `export` → `import` into a new store → `export` again gives the same file, and a poll
/// of the restored store raises nothing again. Importing into a store with data is refused.
#[test]
fn export_and_import_round_trip_through_the_binary() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("mt", &s.url("/rss/news"), "all")]);
    once_ok(&setup);
    let first = setup.dir.path().join("backup.jsonl");
    let out = setup.run(&["export", "--output", first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exported 1 feeds, 3 items")
            && stderr(&out).contains("2 alerts (0 pending)"),
        "{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&first).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["type"].is_string(), "{line}");
    }

    // the same config with another store and alert log
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let restored = setup.dir.path().join("restored.toml");
    std::fs::write(
        &restored,
        config
            .replace("path = \"store\"", "path = \"store2\"")
            .replace("log = \"alerts.jsonl\"", "log = \"alerts2.jsonl\""),
    )
    .unwrap();
    let out = feedwatch(Some(&restored), &["import", first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 1 feeds, 3 items"),
        "{}",
        stderr(&out)
    );
    let again = feedwatch(Some(&restored), &["export"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        text,
        "export → import → export is the identity"
    );

    let out = feedwatch(Some(&restored), &["once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 items, 0 new; 0 alerts"),
        "{}",
        stdout(&out)
    );
    assert!(read_alerts(&setup.dir.path().join("alerts2.jsonl")).is_empty());

    let out = feedwatch(Some(&restored), &["import", first.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("it already holds data; import restores into an empty store"),
        "{}",
        stderr(&out)
    );
}
