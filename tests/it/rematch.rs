use super::*;

const PUTIN: &str = "Putin Presents Rings to his Fellow CIS Leaders During Summit";
const BANK: &str = "Central Bank Holds Key Rate, Citing Precise Inflation Risks";

const CIS_ONLY: &str = "[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n";
const WITH_MORE: &str = "[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n\n[[watch]]\nname = \"csto\"\nterms = [\"CSTO\"]\n\n[[watch]]\nname = \"rates\"\nterms = [\"key rate\"]\n";

/// A store polled with one watch; then the config gains two. `rematch --dry-run` lists the
/// alerts they would raise and writes nothing; `rematch` writes them once; a second
/// `rematch` writes nothing; the first watch's alert is never repeated.
#[test]
fn rematch_raises_new_watches_alerts_once() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let feeds = [("moscow-times", s.url("/rss/news"), "all")];
    let feeds: Vec<(&str, &str, &str)> =
        feeds.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
    let setup = Setup::with_watches(&feeds, "", CIS_ONLY);
    assert!(setup.run(&["once"]).status.success());
    assert_eq!(
        watch_titles(&setup.alerts()),
        [("cis".into(), PUTIN.into())]
    );

    setup.write_config(&feeds, "", WITH_MORE);
    let out = setup.run(&["rematch", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("[csto]  moscow-times: {PUTIN}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("[rates]  moscow-times: {BANK}")),
        "{text}"
    );
    assert!(text.contains("\"CSTO\" in summary:"), "{text}");
    assert!(!text.contains("[cis]"), "{text}");
    assert!(
        text.contains("rematch (dry run): 3 items checked, 2 alerts would be raised, 1 already raised before; nothing written"),
        "{text}"
    );
    assert_eq!(setup.alerts().len(), 1, "a dry run writes nothing");
    assert_eq!(stdout(&setup.run(&["alerts", "--json"])).lines().count(), 1);
    // --json: the alert lines, as they would be written
    let out = setup.run(&["rematch", "--dry-run", "--json", "--watch", "csto"]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(watch_titles(&lines), [("csto".into(), PUTIN.into())]);
    assert!(
        stderr(&out).contains("1 alert would be raised"),
        "{}",
        stderr(&out)
    );

    let out = setup.run(&["rematch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("3 items checked, 2 alerts raised, 1 already raised before; written to"),
        "{}",
        stdout(&out)
    );
    let alerts = setup.alerts();
    assert_eq!(
        watch_titles(&alerts),
        [
            ("cis".into(), PUTIN.into()),
            ("csto".into(), PUTIN.into()),
            ("rates".into(), BANK.into())
        ]
    );
    // the ids are the ones a poll would have given: item key + watch
    let rates = alerts.iter().find(|a| a["watch"] == "rates").unwrap();
    let item = feedwatch::dedup::Key::from_hex(rates["item"].as_str().unwrap()).unwrap();
    assert_eq!(rates["id"], item.alert_id("rates").hex());
    assert_eq!(rates["matches"][0]["text"], "Key Rate");

    let out = setup.run(&["rematch"]);
    assert!(
        stdout(&out).contains("3 items checked, 0 alerts raised, 3 already raised before"),
        "{}",
        stdout(&out)
    );
    assert_eq!(setup.alerts().len(), 3, "never twice");
    // and a later poll does not raise them again either
    assert!(setup.run(&["once"]).status.success());
    assert_eq!(setup.alerts().len(), 3);
}

/// `--since` leaves out older items (the sample's are from 2022); `--watch` must name a
/// configured watch (exit 2).
#[test]
fn rematch_since_and_watch_select() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let url = s.url("/rss/news");
    let feeds = [("moscow-times", url.as_str(), "none")];
    let setup = Setup::with_watches(&feeds, "", WITH_MORE);
    assert!(setup.run(&["once"]).status.success());
    assert!(
        setup.alerts().is_empty(),
        "backlog none holds everything back"
    );
    let out = setup.run(&["rematch", "--since", "30d"]);
    assert!(
        stdout(&out).contains("0 items checked from the last 30d, 0 alerts raised"),
        "{}",
        stdout(&out)
    );
    let out = setup.run(&["rematch", "--watch", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("rematch: no watch is named \"nope\"")
            && stderr(&out).contains("its watches are: cis, csto, rates"),
        "{}",
        stderr(&out)
    );
    // held-back items alert only through rematch
    let out = setup.run(&["rematch", "--watch", "cis"]);
    assert!(stdout(&out).contains("1 alert raised"), "{}", stdout(&out));
    assert_eq!(
        watch_titles(&setup.alerts()),
        [("cis".into(), PUTIN.into())]
    );
}
