//! Full text for truncated feeds (`full_text = true`, issue 13 §3): each new item's page is
//! fetched from a loopback server and its main text matched as field `article`; a page's
//! navigation, related stories and footer are not; a failing page is that item's problem,
//! retried, and reported in the feed's article health; an article that arrives after
//! `fetch.full_text_wait` raises only the alerts the feed's text did not.

use std::process::Stdio;
use std::time::Duration;

use crate::{Daemon, Route, Server, Setup, command, once_ok, stdout, wait_for};

const WATCHES: &str = "[[watch]]\nname = \"kestrel\"\nterms = [\"Kestrel\"]\n\n[[watch]]\nname = \"osprey\"\nterms = [\"Osprey\"]\n";

/// An RSS document whose items (title, link) carry a one-line lead and nothing else.
fn feed(items: &[(&str, &str)]) -> Vec<u8> {
    let mut x =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>");
    for (i, (title, link)) in items.iter().enumerate() {
        x.push_str(&format!(
            "<item><guid>g{i}</guid><title>{title}</title><link>{link}</link><description>A one-line lead.</description></item>"
        ));
    }
    x.push_str("</channel></rss>");
    x.into_bytes()
}

/// An article page: `body` is the fourth of five paragraphs; `nav` goes into the navigation,
/// a "related stories" aside and the footer.
fn page(body: &str, nav: &str) -> Route {
    let html = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Story</title></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/n">{nav}</a></nav></header>
<main><article><h1>The story</h1>
<p>The alliance held exercises on Tuesday near the border, officials said in a statement.</p>
<p>Observers from several countries attended; the drills involved infantry and air units.</p>
<p>Local residents said the noise of the vehicles could be heard through the night.</p>
<p>{body}</p>
<p>Further exercises are planned for next spring, according to the defence ministry.</p>
</article></main>
<aside class="related"><h3>Related stories</h3><ul><li><a href="/r1">{nav} spotted again</a></li><li><a href="/r2">Other news</a></li></ul></aside>
<footer><p>Follow {nav} on social media. All rights reserved.</p></footer>
</body></html>"#
    );
    Route::feed(html).with_header("Content-Type", "text/html; charset=utf-8")
}

fn setup(server: &Server, wait: &str) -> Setup {
    let url = server.url("/feed");
    Setup::with_watches(
        &[("outlet", &url, "all")],
        &format!("full_text_wait = \"{wait}\"\n[defaults]\nfull_text = true\ninterval = \"1s\""),
        WATCHES,
    )
}

/// (watch, field of the first match) of each alert, sorted.
fn watch_fields(alerts: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a["watch"].as_str().unwrap().to_string(),
                a["matches"][0]["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The feed's row of `feeds --json`.
fn feed_row(setup: &Setup) -> serde_json::Value {
    let out = setup.run(&["feeds", "--json"]);
    assert!(out.status.success(), "{}", crate::stderr(&out));
    serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap()
}

/// The term only in the body of one page alerts, with field `article` and a snippet from
/// the body; the same term only in another page's navigation, related stories and footer
/// does not.
#[test]
fn a_term_in_the_article_body_alerts_and_one_in_its_navigation_does_not() {
    let server = Server::start();
    let (a, b) = (server.url("/a.html"), server.url("/b.html"));
    server.set(
        "/feed",
        Route::feed(feed(&[
            ("Drills in the north", &a),
            ("Drills in the south", &b),
        ])),
    );
    server.set(
        "/a.html",
        page("A Kestrel unit took part, the ministry said.", "Weather"),
    );
    server.set(
        "/b.html",
        page("No bird names appear in this paragraph at all.", "Kestrel"),
    );
    let setup = setup(&server, "30s");
    once_ok(&setup);
    let alerts = setup.alerts();
    assert_eq!(
        watch_fields(&alerts),
        [("kestrel".into(), "article".into())],
        "{alerts:#?}"
    );
    assert_eq!(alerts[0]["title"], "Drills in the north");
    let snippet = alerts[0]["matches"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("A Kestrel unit took part"), "{snippet}");
    assert_eq!(server.seen("/a.html").len(), 1);
    let row = feed_row(&setup);
    assert_eq!(row["articles"]["fetched"], 2, "{row}");
    assert_eq!(row["articles"]["failed"], 0, "{row}");
    // a second poll fetches no page again: the items are not new
    once_ok(&setup);
    assert_eq!(server.seen("/a.html").len(), 1);
    assert_eq!(setup.alerts().len(), 1);
}

/// A page that fails (404: not retried) leaves its item alerting on the feed's text and
/// the other items their articles; the poll is a success, and the failure is in the
/// feed's article health, naming the page and the step.
#[test]
fn a_failing_article_page_does_not_stop_the_feed() {
    let server = Server::start();
    let (gone, b) = (server.url("/gone.html"), server.url("/b.html"));
    server.set(
        "/feed",
        Route::feed(feed(&[
            ("Kestrel drills begin", &gone),
            ("Drills in the south", &b),
        ])),
    );
    server.set("/gone.html", Route::status(404, "not here"));
    server.set(
        "/b.html",
        page("An Osprey helicopter landed near the camp.", "Weather"),
    );
    let setup = setup(&server, "30s");
    let out = once_ok(&setup);
    assert!(out.contains("1 ok") && out.contains("0 failed"), "{out}");
    let alerts = setup.alerts();
    assert_eq!(
        watch_fields(&alerts),
        [
            ("kestrel".into(), "title".into()),
            ("osprey".into(), "article".into())
        ],
        "{alerts:#?}"
    );
    assert_eq!(server.seen("/gone.html").len(), 1, "a 404 is not retried");
    let row = feed_row(&setup);
    assert_eq!(row["state"], "ok", "{row}");
    assert_eq!(row["failures"], 0, "{row}");
    assert_eq!(row["articles"]["fetched"], 1, "{row}");
    assert_eq!(row["articles"]["failed"], 1, "{row}");
    let error = row["articles"]["last_error"].as_str().unwrap();
    assert!(
        error.contains("/gone.html") && error.contains("fetching") && error.contains("404"),
        "{error}"
    );
    let text = stdout(&setup.run(&["feeds"]));
    assert!(text.contains("articles: 1 fetched, 1 failed"), "{text}");
}

/// A page that fails once with a 500 is retried, and its article arrives within the wait.
#[test]
fn a_transient_failure_of_a_page_is_retried() {
    let server = Server::start();
    let a = server.url("/flaky.html");
    server.set("/feed", Route::feed(feed(&[("Drills in the north", &a)])));
    server.set(
        "/flaky.html",
        page("A Kestrel unit took part, the ministry said.", "Weather").failing_first(1),
    );
    let setup = setup(&server, "30s");
    once_ok(&setup);
    assert_eq!(server.seen("/flaky.html").len(), 2);
    assert_eq!(
        watch_fields(&setup.alerts()),
        [("kestrel".into(), "article".into())]
    );
}

/// An article slower than `full_text_wait`: the item's alert fires on the feed's text
/// first; when the article arrives it raises the watch only it fires, once, and never the
/// feed text's watch again, however often the feed is polled.
#[test]
fn a_late_article_raises_only_what_the_feed_text_did_not() {
    let server = Server::start();
    let slow = server.url("/slow.html");
    server.set(
        "/feed",
        Route::feed(feed(&[("Kestrel drills begin", &slow)])),
    );
    server.set(
        "/slow.html",
        page(
            "A Kestrel unit and an Osprey helicopter took part.",
            "Weather",
        )
        .with_delay(Duration::from_secs(3)),
    );
    let setup = setup(&server, "500ms");
    let mut cmd = command(Some(&setup.config));
    cmd.arg("run").stdout(Stdio::null()).stderr(Stdio::null());
    let _daemon = Daemon(cmd.spawn().unwrap());
    wait_for("two alerts", Duration::from_secs(30), || {
        setup.alerts().len() >= 2
    });
    let polls = server.seen("/feed").len();
    wait_for("two more polls", Duration::from_secs(30), || {
        server.seen("/feed").len() >= polls + 2
    });
    let alerts = setup.alerts();
    let order: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a["watch"].as_str().unwrap(),
                a["matches"][0]["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [("kestrel", "title"), ("osprey", "article")],
        "{alerts:#?}"
    );
    assert_eq!(alerts[0]["item"], alerts[1]["item"]);
    assert_eq!(server.seen("/slow.html").len(), 1);
}

/// The article is kept with its item: a watch added later that only the article mentions
/// fires on `rematch`, with field `article`.
#[test]
fn rematch_matches_the_stored_article() {
    let server = Server::start();
    let a = server.url("/a.html");
    server.set("/feed", Route::feed(feed(&[("Drills in the north", &a)])));
    server.set(
        "/a.html",
        page("A Heron drone flew over the range.", "Weather"),
    );
    let setup = setup(&server, "30s");
    once_ok(&setup);
    assert!(setup.alerts().is_empty());
    let url = server.url("/feed");
    setup.write_config(
        &[("outlet", &url, "all")],
        "[defaults]\nfull_text = true",
        &format!("{WATCHES}\n[[watch]]\nname = \"heron\"\nterms = [\"Heron\"]\n"),
    );
    let out = setup.run(&["rematch"]);
    assert!(out.status.success(), "{}", crate::stderr(&out));
    assert_eq!(
        watch_fields(&setup.alerts()),
        [("heron".into(), "article".into())]
    );
    assert_eq!(server.seen("/a.html").len(), 1, "rematch fetches nothing");
}

/// An article's match is reported in the outlet's words, as every other field's is: its
/// text and snippet keep "ё", and `start`/`end` index the article text as stored (the shown
/// text), not its normalisation (here a ligature before the match, which NFKC makes two
/// characters, would move them).
#[test]
fn an_article_match_shows_the_outlets_words() {
    let server = Server::start();
    let a = server.url("/a.html");
    server.set("/feed", Route::feed(feed(&[("Drills in the north", &a)])));
    server.set(
        "/a.html",
        page(
            "В ﬁнале месяца ОДКБ проведёт учения, всё готово.",
            "Weather",
        ),
    );
    let url = server.url("/feed");
    let setup = Setup::with_watches(
        &[("outlet", &url, "all")],
        "full_text_wait = \"30s\"\n[defaults]\nfull_text = true\ninterval = \"1s\"",
        "[[watch]]\nname = \"csto\"\nterms = [\"ОДКБ проведет учения\"]\n",
    );
    once_ok(&setup);
    let alerts = setup.alerts();
    assert_eq!(
        watch_fields(&alerts),
        [("csto".into(), "article".into())],
        "{alerts:#?}"
    );
    let m = &alerts[0]["matches"][0];
    assert_eq!(m["text"], "ОДКБ проведёт учения", "{m}");
    let snippet = m["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("ОДКБ проведёт учения, всё готово"),
        "{snippet}"
    );
    assert!(snippet.contains('ﬁ'), "{snippet}");
    // the article as stored: the offsets are its characters
    let store = feedwatch::store::Store::open(&setup.dir.path().join("store"), 16 << 20).unwrap();
    let articles: Vec<String> = store
        .each_item()
        .filter_map(|e| e.unwrap().1.article)
        .map(|packed| feedwatch::article::unpack(&packed).unwrap())
        .collect();
    assert_eq!(articles.len(), 1);
    let shown: Vec<char> = articles[0].chars().collect();
    let (start, end) = (
        m["start"].as_u64().unwrap() as usize,
        m["end"].as_u64().unwrap() as usize,
    );
    let at: String = shown[start..end].iter().collect();
    assert_eq!(at, "ОДКБ проведёт учения", "{m}");
}
