use super::*;

const PUTIN: &str = "Putin Presents Rings to his Fellow CIS Leaders During Summit";

fn sample_server() -> Server {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    s
}

/// The sample feed with backlog = "all": the CIS-summit item alerts for cis and csto, the
/// trap item (decision, precise, Francisco, concise) and the third item do not.
#[test]
fn sample_feed_alerts_for_its_first_item_only() {
    let s = sample_server();
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let out = once_ok(&setup);
    assert!(out.contains("3 items, 3 new; 2 alerts"), "{out}");
    let alerts = setup.alerts();
    assert_eq!(
        watch_titles(&alerts),
        [("cis".into(), PUTIN.into()), ("csto".into(), PUTIN.into())]
    );
    let cis = alerts.iter().find(|a| a["watch"] == "cis").unwrap();
    assert_eq!(cis["kind"], "match");
    assert_eq!(cis["feed"], "moscow-times");
    assert_eq!(cis["published"], "2022-12-27T07:41:00Z");
    assert_eq!(
        cis["link"],
        "https://www.themoscowtimes.com/2022/12/27/putin-presents-rings-to-his-fellow-cis-leaders-during-summit-a79810"
    );
    let id = cis["id"].as_str().unwrap();
    assert!(
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{id}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(cis["detected"].as_str().unwrap()).is_ok());
    let matches = cis["matches"].as_array().unwrap();
    assert!(
        matches
            .iter()
            .any(|m| m["term"] == "CIS" && m["field"] == "title")
    );
    assert!(
        matches
            .iter()
            .any(|m| m["term"] == "Commonwealth of Independent States" && m["field"] == "summary")
    );
    for m in matches {
        let snippet = m["snippet"].as_str().unwrap();
        assert!(snippet.contains(m["text"].as_str().unwrap()), "{snippet}");
    }
    let csto = alerts.iter().find(|a| a["watch"] == "csto").unwrap();
    assert_ne!(csto["id"], cis["id"], "ids differ per watch");
}

/// With the default 24-hour backlog, items from 2022 are held back: stored, never alerted.
#[test]
fn default_backlog_holds_back_old_items() {
    let s = sample_server();
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "24h")]);
    let out = once_ok(&setup);
    assert!(out.contains("3 new; 0 alerts"), "{out}");
    assert!(setup.alerts().is_empty());
    // held-back items are remembered: a later poll does not alert on them either
    once_ok(&setup);
    assert!(setup.alerts().is_empty());
    let items = setup.run(&["items", "--json"]);
    assert_eq!(stdout(&items).lines().count(), 3, "{}", stdout(&items));
}

/// A second poll of the same feed, in the same process or after a restart, raises nothing new.
#[test]
fn a_second_poll_and_a_restart_raise_no_new_alerts() {
    let s = sample_server();
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    once_ok(&setup);
    assert_eq!(setup.alerts().len(), 2);
    let out = once_ok(&setup); // a new process: the store is reopened
    assert!(out.contains("0 new; 0 alerts"), "{out}");
    assert_eq!(setup.alerts().len(), 2);
}

/// ETag is sent back; a 304 is honoured as "nothing changed" and is not an error.
#[test]
fn not_modified_is_honoured() {
    let s = Server::start();
    s.set("/feed", Route::feed(SAMPLE).with_etag("\"v1\""));
    let setup = Setup::new(&[("mt", &s.url("/feed"), "all")]);
    once_ok(&setup);
    let out = once_ok(&setup);
    assert!(out.contains("1 ok (1 unchanged), 0 failed"), "{out}");
    let seen = s.seen("/feed");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers.get("if-none-match"), None);
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert_eq!(seen[1].status, 304);
    assert!(seen[0].headers["user-agent"].starts_with("feedwatch/"));
    assert_eq!(setup.alerts().len(), 2);
}

/// A windows-1251 feed (declaration past byte 64, which panics feed-rs 3.0 when not decoded
/// first) and a KOI8-R feed labelled only by the HTTP charset both match Cyrillic terms.
#[test]
fn windows_1251_and_koi8_r_feeds_match_cyrillic_terms() {
    let s = Server::start();
    s.set(
        "/cp1251",
        Route::feed(&include_bytes!("../fixtures/kommersant-windows-1251.xml")[..]),
    );
    s.set(
        "/koi8",
        Route::feed(&include_bytes!("../fixtures/news-koi8-r.xml")[..])
            .with_header("Content-Type", "application/rss+xml; charset=KOI8-R"),
    );
    let setup = Setup::new(&[
        ("kommersant", &s.url("/cp1251"), "all"),
        ("koi8", &s.url("/koi8"), "all"),
    ]);
    once_ok(&setup);
    assert_eq!(
        watch_titles(&setup.alerts()),
        [
            ("cis".into(), "Лидеры СНГ встретились в Петербурге".into()),
            ("csto".into(), "Учения ОДКБ прошли в Таджикистане".into()),
        ]
    );
    let alerts = setup.alerts();
    let cis = alerts.iter().find(|a| a["watch"] == "cis").unwrap();
    let terms: Vec<&str> = cis["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["term"].as_str().unwrap())
        .collect();
    assert_eq!(terms, ["СНГ", "Содружества Независимых Государств"]);
}

/// A feed that fails (HTTP 500, garbage, an HTML page, a refused connection) is reported and
/// does not stop the others; `once` still exits 0.
#[test]
fn a_broken_feed_does_not_stop_the_others() {
    let s = sample_server();
    s.set("/500", Route::status(500, "oops"));
    s.set("/garbage", Route::feed("this is not xml at all"));
    s.set(
        "/html",
        Route::feed(
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>",
        )
        .with_header("Content-Type", "text/html"),
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let setup = Setup::new(&[
        ("a-500", &s.url("/500"), "all"),
        ("b-garbage", &s.url("/garbage"), "all"),
        ("c-html", &s.url("/html"), "all"),
        ("d-refused", &format!("http://{closed}/feed"), "all"),
        ("e-good", &s.url("/rss/news"), "all"),
    ]);
    let out = once_ok(&setup);
    assert!(
        out.contains("polled 5 feeds: 1 ok (0 unchanged), 4 failed"),
        "{out}"
    );
    assert!(
        out.contains("failed: a-500: fetching http://127.0.0.1"),
        "{out}"
    );
    assert!(out.contains("HTTP 500"), "{out}");
    assert!(out.contains("failed: b-garbage: parsing"), "{out}");
    assert!(
        out.contains("failed: c-html: parsing")
            && out.contains("HTML page, not a feed (titled \"Just a moment...\")"),
        "{out}"
    );
    assert!(
        out.contains("failed: d-refused: fetching") && out.contains("cannot connect"),
        "{out}"
    );
    assert_eq!(setup.alerts().len(), 2);
    // the failures are recorded per feed
    let feeds = stdout(&setup.run(&["feeds", "--json"]));
    let a500: serde_json::Value =
        serde_json::from_str(feeds.lines().find(|l| l.contains("\"a-500\"")).unwrap()).unwrap();
    assert_eq!(a500["state"], "failing");
    assert_eq!(a500["failures"], 1);
    assert!(a500["last_error"].as_str().unwrap().contains("HTTP 500"));
}

/// One story published in three feeds (same link, tracking parameters aside) raises one
/// alert per watch, from the feed where it was first seen.
#[test]
fn the_same_story_in_three_feeds_alerts_once() {
    let s = Server::start();
    let story = |guid: &str, query: &str| {
        format!(
            r#"<rss version="2.0"><channel><title>t</title><item><title>CSTO drills begin</title>
            <link>https://outlet.example/2026/csto-drills{query}</link><guid>{guid}</guid>
            <pubDate>Fri, 27 Nov 2026 10:00:00 +0000</pubDate></item></channel></rss>"#
        )
    };
    s.set("/world", Route::feed(story("w-1", "")));
    s.set("/politics", Route::feed(story("p-77", "?utm_source=rss")));
    s.set("/all", Route::feed(story("a-9", "#top")));
    let setup = Setup::new(&[("world", &s.url("/world"), "all")]);
    once_ok(&setup);
    // add the other two sections to the same config and store
    let mut cfg = std::fs::read_to_string(&setup.config).unwrap();
    let at = cfg.find("[[watch]]").unwrap();
    cfg.insert_str(
        at,
        &format!(
            "[[feeds]]\nname = \"politics\"\nurl = \"{}\"\nbacklog = \"all\"\n\n[[feeds]]\nname = \"all\"\nurl = \"{}\"\nbacklog = \"all\"\n\n",
            s.url("/politics"),
            s.url("/all")
        ),
    );
    std::fs::write(&setup.config, cfg).unwrap();
    once_ok(&setup);
    let alerts = setup.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["feed"], "world");
    let items = stdout(&setup.run(&["items", "--json"]));
    assert_eq!(items.lines().count(), 1, "{items}");
    let item: serde_json::Value = serde_json::from_str(items.lines().next().unwrap()).unwrap();
    // first seen in "world"; the other two were polled concurrently, in either order
    let mut feeds: Vec<&str> = item["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(feeds.remove(0), "world");
    feeds.sort();
    assert_eq!(feeds, ["all", "politics"]);
    // `alerts` names every feed the story was seen in, the first one first
    let listed = stdout(&setup.run(&["alerts", "--json"]));
    let alert: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(alert["feed"], "world");
    assert_eq!(alert["feeds"], item["feeds"], "{listed}");
    let text = stdout(&setup.run(&["alerts"]));
    assert!(
        text.contains("also in: politics, all") || text.contains("also in: all, politics"),
        "{text}"
    );
}

/// Control characters and bidi overrides in feed text cannot break or disguise a log line.
#[test]
fn feed_text_cannot_forge_alert_lines() {
    let s = Server::start();
    let doc = "<rss version=\"2.0\"><channel><title>t</title><item><guid>x1</guid>\
        <title>CIS news&#10;{\"kind\":\"match\",\"id\":\"forged\"}&#13; \u{202E}txt.exe</title>\
        </item></channel></rss>";
    s.set("/f", Route::feed(doc));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    once_ok(&setup);
    let raw = std::fs::read_to_string(setup.log()).unwrap();
    assert_eq!(raw.lines().count(), 1, "{raw}");
    let alert: serde_json::Value = serde_json::from_str(raw.trim()).unwrap();
    let title = alert["title"].as_str().unwrap();
    assert!(
        !title.chars().any(|c| c.is_control() || c == '\u{202E}'),
        "{title:?}"
    );
    assert!(title.starts_with("CIS news {"), "{title:?}");
}

/// `items` and `alerts` list what the store holds; `alerts --json` prints the log's objects
/// (with the feeds each story was seen in).
#[test]
fn items_and_alerts_commands_list_the_store() {
    let s = sample_server();
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    once_ok(&setup);
    let items = stdout(&setup.run(&["items", "--json"]));
    let first: serde_json::Value = serde_json::from_str(items.lines().next().unwrap()).unwrap();
    for key in ["feed", "key", "title", "link", "published"] {
        assert!(first.get(key).is_some(), "item line lacks {key}: {first}");
    }
    let listed: Vec<serde_json::Value> = stdout(&setup.run(&["alerts", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut logged = setup.alerts();
    // the log's objects, plus `feeds`: every feed the story was seen in (here its one feed)
    let mut listed_sorted: Vec<serde_json::Value> = listed
        .iter()
        .map(|a| {
            let mut a = a.clone();
            let feeds = a.as_object_mut().unwrap().remove("feeds");
            assert_eq!(feeds, Some(serde_json::json!([a["feed"].clone()])), "{a}");
            a
        })
        .collect();
    logged.sort_by_key(|a| a["id"].as_str().unwrap().to_string());
    listed_sorted.sort_by_key(|a| a["id"].as_str().unwrap().to_string());
    assert_eq!(listed_sorted, logged);
    let human = stdout(&setup.run(&["alerts", "--watch", "csto"]));
    assert!(
        human.contains("[csto]") && human.contains(PUTIN) && !human.contains("[cis]"),
        "{human}"
    );
    let feeds = stdout(&setup.run(&["feeds"]));
    assert!(
        feeds.contains("moscow-times") && feeds.contains(" ok "),
        "{feeds}"
    );
}

/// Watches with `all`, `near`, `not`, `fields` and `feeds`, end to end: each alert's matches
/// name the terms that made it fire and the rule each satisfied, with the words as they
/// appear, character offsets into the field's normalised text, and a snippet of about 160
/// characters around them; an exclusion suppresses its watch for the whole item; a watch
/// limited to another feed stays silent.
#[test]
fn rule_alerts_explain_themselves() {
    let s = Server::start();
    let filler = "Officials said talks would continue next week. ".repeat(8);
    let doc = format!(
        r#"<rss version="2.0"><channel><title>t</title>
        <item><guid>1</guid><title>ОДКБ: учения в Армении</title>
          <link>https://outlet.example/news/csto-drills</link>
          <description>{filler}&lt;p&gt;CSTO &lt;b&gt;troops&lt;/b&gt; arrive in&lt;br&gt;Armenia.&lt;/p&gt; {filler}</description></item>
        <item><guid>2</guid><title>CIS Cup final tonight</title>
          <description>The CIS and its football.</description></item>
        </channel></rss>"#
    );
    s.set("/f", Route::feed(doc));
    let watches = r#"
[[watch]]
name = "csto-armenia"
all = [["CSTO", "ОДКБ"], ["Armenia", { term = "Армени", stem = true }]]

[[watch]]
name = "troops"
near = { terms = ["CSTO", { term = "troop", stem = true }], within = 2 }
fields = ["summary"]

[[watch]]
name = "cis"
terms = ["CIS"]
not = ["CIS Cup"]

[[watch]]
name = "slugs"
terms = ["drills"]
fields = ["link"]

[[watch]]
name = "elsewhere"
terms = ["CSTO"]
feeds = ["other"]
"#;
    let other = s.url("/other");
    let setup = Setup::with_watches(
        &[("f", &s.url("/f"), "all"), ("other", &other, "none")],
        "",
        watches,
    );
    s.set(
        "/other",
        Route::feed(r#"<rss version="2.0"><channel><title>o</title></channel></rss>"#),
    );
    once_ok(&setup);
    let alerts = setup.alerts();
    let watches: Vec<&str> = {
        let mut w: Vec<&str> = alerts
            .iter()
            .map(|a| a["watch"].as_str().unwrap())
            .collect();
        w.sort();
        w
    };
    assert_eq!(watches, ["csto-armenia", "slugs", "troops"], "{alerts:#?}");
    let of = |w: &str| -> Vec<(String, String, String, String)> {
        let a = alerts.iter().find(|a| a["watch"] == w).unwrap();
        a["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let text = m["text"].as_str().unwrap();
                let snippet = m["snippet"].as_str().unwrap();
                assert!(snippet.contains(text), "{snippet:?} lacks {text:?}");
                assert!(snippet.chars().count() <= 165, "{snippet:?}");
                let (start, end) = (m["start"].as_u64().unwrap(), m["end"].as_u64().unwrap());
                assert_eq!((end - start) as usize, text.chars().count());
                let s = |k: &str| m[k].as_str().unwrap().to_string();
                (s("rule"), s("field"), s("term"), s("text"))
            })
            .collect()
    };
    let q = |r: &str, f: &str, t: &str, x: &str| (r.into(), f.into(), t.into(), x.into());
    assert_eq!(
        of("csto-armenia"),
        [
            q("all", "title", "ОДКБ", "ОДКБ"),
            q("all", "title", "Армени", "Армении"),
            q("all", "summary", "CSTO", "CSTO"),
            q("all", "summary", "Armenia", "Armenia"),
        ]
    );
    // "troops" is inline-tagged inside the summary; the pair is one word apart
    assert_eq!(
        of("troops"),
        [
            q("near", "summary", "CSTO", "CSTO"),
            q("near", "summary", "troop", "troops"),
        ]
    );
    assert_eq!(of("slugs"), [q("any", "link", "drills", "drills")]);
    // the snippet of a match deep in a long summary is cut around it
    let csto = alerts.iter().find(|a| a["watch"] == "troops").unwrap();
    let snippet = csto["matches"][0]["snippet"].as_str().unwrap();
    assert!(
        snippet.starts_with('…') && snippet.ends_with('…'),
        "{snippet}"
    );
    assert_eq!(
        csto["matches"][0]["start"],
        filler.trim_end().chars().count() + 1
    );
    // the human listing shows the rule of each match
    let human = stdout(&setup.run(&["alerts", "--watch", "troops"]));
    assert!(human.contains("\"troop\" (near) in summary: …"), "{human}");
}

/// `alerts --follow` prints the alerts so far, then each new one as it is written, and
/// keeps following the log after it is rotated (moved away and created anew).
#[test]
fn alerts_follow_streams_new_alerts_across_rotation() {
    use std::io::{BufRead, BufReader};
    let s = Server::start();
    let doc = |titles: &[&str]| {
        let items: String = titles
            .iter()
            .enumerate()
            .map(|(i, t)| format!("<item><title>{t}</title><guid>g{i}</guid></item>"))
            .collect();
        format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
    };
    s.set("/f", Route::feed(doc(&["CIS summit opens"])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    once_ok(&setup);
    let mut child = command(Some(&setup.config))
        .args(["alerts", "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next =
        || -> serde_json::Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    assert_eq!(next()["title"], "CIS summit opens");
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.set(
        "/f",
        Route::feed(doc(&["CIS summit opens", "CSTO drills begin"])),
    );
    once_ok(&setup);
    assert_eq!(next()["title"], "CSTO drills begin");
    std::fs::rename(setup.log(), setup.dir.path().join("alerts.jsonl.1")).unwrap();
    s.set(
        "/f",
        Route::feed(doc(&[
            "CIS summit opens",
            "CSTO drills begin",
            "ОДКБ: учения",
        ])),
    );
    once_ok(&setup);
    assert_eq!(next()["title"], "ОДКБ: учения");
    child.kill().unwrap();
    child.wait().unwrap();
}
