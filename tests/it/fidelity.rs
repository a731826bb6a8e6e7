//! Issue 13, parts 1 and 3a: what the analyst reads is what the outlet wrote (ё, quotes,
//! offsets into the shown text), every extension field is matched as the item's content, and
//! reading those fields raises no alert for items stored before.

use super::*;

fn feeds(list: &[(&str, String)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(n, u)| (n.to_string(), u.clone(), "all".to_string()))
        .collect()
}

fn borrow(f: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
    f.iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect()
}

/// The characters `start..end` of `text`.
fn chars(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

const YO_FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title>
<item><title>ОДКБ проведёт учения</title><link>https://outlet.example/1</link><guid>y-1</guid>
<category>Учёба ОДКБ</category>
<description><![CDATA[<p>Министр:&nbsp;«что всё готово», учения ОДКБ\u{200B}&nbsp;начнутся в среду.</p>]]></description>
</item></channel></rss>"#;

const YO_WATCHES: &str = "[[watch]]\nname = \"csto\"\nterms = [\"ОДКБ\"]\n\n[[watch]]\nname = \"ready\"\nterms = [\"все готово\"]\n\n[[watch]]\nname = \"drills\"\nterms = [\"проведет учения\"]\n";

/// The ё of a title and of a quote reaches the alert, the alert log and the views as the
/// outlet wrote it, while a term written with е still matches; `start`/`end` point into the
/// shown text and the snippet is cut from it.
#[test]
fn yo_and_quotes_are_shown_as_written_with_offsets_into_them() {
    let s = Server::start();
    s.set(
        "/rss",
        Route::feed(YO_FEED.replace("\\u{200B}", "\u{200B}")),
    );
    let f = feeds(&[("outlet", s.url("/rss"))]);
    let setup = Setup::with_watches(&borrow(&f), "", YO_WATCHES);
    once_ok(&setup);
    let alerts = setup.alerts();
    let by = |w: &str| {
        alerts
            .iter()
            .find(|a| a["watch"] == w)
            .unwrap_or_else(|| panic!("no {w} alert in {alerts:?}"))
    };
    let title = "ОДКБ проведёт учения";
    let summary = "Министр: «что всё готово», учения ОДКБ начнутся в среду.";
    for a in &alerts {
        assert_eq!(a["title"], title, "{a}");
    }
    let drills = &by("drills")["matches"][0];
    assert_eq!(drills["text"], "проведёт учения");
    assert_eq!(drills["field"], "title");
    let (start, end) = (
        drills["start"].as_u64().unwrap(),
        drills["end"].as_u64().unwrap(),
    );
    assert_eq!((start, end), (5, 20));
    assert_eq!(chars(title, start, end), "проведёт учения");

    let ready = &by("ready")["matches"][0];
    assert_eq!(ready["text"], "всё готово");
    assert_eq!(ready["snippet"], summary);
    let (start, end) = (
        ready["start"].as_u64().unwrap(),
        ready["end"].as_u64().unwrap(),
    );
    assert_eq!(chars(summary, start, end), "всё готово");

    let csto: Vec<&serde_json::Value> = by("csto")["matches"].as_array().unwrap().iter().collect();
    let in_summary = csto.iter().find(|m| m["field"] == "summary").unwrap();
    let (start, end) = (
        in_summary["start"].as_u64().unwrap(),
        in_summary["end"].as_u64().unwrap(),
    );
    assert_eq!(chars(summary, start, end), "ОДКБ");

    let in_categories = csto.iter().find(|m| m["field"] == "categories").unwrap();
    assert_eq!(
        (
            in_categories["start"].as_u64(),
            in_categories["end"].as_u64()
        ),
        (Some(6), Some(10))
    );
    assert_eq!(in_categories["snippet"], "Учёба ОДКБ");

    // the views show the same text
    let items = stdout(&setup.run(&["items", "--json"]));
    assert!(items.contains(title), "{items}");
    let listed = stdout(&setup.run(&["alerts", "--json"]));
    assert!(listed.contains("«что всё готово»"), "{listed}");
    assert!(!listed.contains("все готово»"), "{listed}");
}

const EXTENSIONS_RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:yandex="http://news.yandex.ru" xmlns:turbo="http://turbo.yandex.ru"
  xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title>
<item><title>one</title><guid>r-1</guid><description>lead</description>
  <content:encoded><![CDATA[<p>body with encodedterm</p>]]></content:encoded></item>
<item><title>two</title><guid>r-2</guid><description>lead</description>
  <yandex:full-text>Полный текст: переговоры в Душанбе о yandexterm.</yandex:full-text></item>
<item><title>three</title><guid>r-3</guid>
  <turbo:content><![CDATA[<header><h1>three</h1></header><p>turboterm в тексте</p>]]></turbo:content></item>
<item><title>four</title><guid>r-4</guid>
  <media:content url="https://outlet.example/v.mp4"><media:description>video about mediaterm</media:description></media:content></item>
<item><title>five</title><guid>r-5</guid><description>&lt;b&gt;descterm&lt;/b&gt; in the description</description></item>
</channel></rss>"#;

const EXTENSIONS_ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>a</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>
<entry><id>urn:a:1</id><title>six</title><updated>2024-01-01T00:00:00Z</updated>
  <summary>atom summary with atomsummaryterm</summary></entry>
<entry><id>urn:a:2</id><title>seven</title><updated>2024-01-01T00:00:00Z</updated>
  <content type="html">&lt;p&gt;atom content with atomcontentterm&lt;/p&gt;</content></entry>
</feed>"#;

const EXTENSIONS_JSON: &str = r#"{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[
  {"id":"j-1","title":"eight","content_html":"<p>html with jsonhtmlterm</p>","summary":"s","content_text":"text with jsontextterm"},
  {"id":"j-2","title":"nine","content_text":"only text with jsononlytextterm"},
  {"id":"j-3","title":"ten","summary":"summary with jsonsummaryterm","content_html":"<p>x</p>"}]}"#;

/// (term, the field its alert names)
const EXTENSION_TERMS: [(&str, &str); 10] = [
    ("encodedterm", "content"),
    ("yandexterm", "content"),
    ("turboterm", "content"),
    ("mediaterm", "content"),
    ("descterm", "summary"),
    ("atomsummaryterm", "summary"),
    ("atomcontentterm", "content"),
    ("jsonhtmlterm", "content"),
    ("jsontextterm", "content"),
    ("jsononlytextterm", "content"),
];

/// Every element an outlet puts its text in is matched: `content:encoded`,
/// `yandex:full-text`, `turbo:content`, `media:description`, RSS `description`, Atom
/// `summary` and `content`, JSON Feed `content_html`, `content_text` (beside `content_html`
/// and `summary`, and alone) and `summary`. One watch per element, each fires once, naming
/// its field.
#[test]
fn every_extension_field_is_matched_as_content() {
    let s = Server::start();
    s.set("/rss", Route::feed(EXTENSIONS_RSS));
    s.set("/atom", Route::feed(EXTENSIONS_ATOM));
    s.set("/json", Route::feed(EXTENSIONS_JSON));
    let f = feeds(&[
        ("rss", s.url("/rss")),
        ("atom", s.url("/atom")),
        ("json", s.url("/json")),
    ]);
    let mut watches = String::new();
    for (term, _) in EXTENSION_TERMS
        .iter()
        .chain(&[("jsonsummaryterm", "summary")])
    {
        watches.push_str(&format!(
            "[[watch]]\nname = \"{term}\"\nterms = [\"{term}\"]\n\n"
        ));
    }
    let setup = Setup::with_watches(&borrow(&f), "", &watches);
    once_ok(&setup);
    let alerts = setup.alerts();
    for (term, field) in EXTENSION_TERMS
        .iter()
        .chain(&[("jsonsummaryterm", "summary")])
    {
        let mine: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["watch"] == *term).collect();
        assert_eq!(mine.len(), 1, "{term}: {alerts:?}");
        let m = &mine[0]["matches"][0];
        assert_eq!(
            (m["field"].as_str(), m["text"].as_str()),
            (Some(*field), Some(*term)),
            "{m}"
        );
        assert!(m["snippet"].as_str().unwrap().contains(term), "{m}");
    }
    // the whole article of a Yandex feed is kept as shown, for rematch and the views
    let yandex = alerts.iter().find(|a| a["watch"] == "yandexterm").unwrap();
    let snippet = yandex["matches"][0]["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("Полный текст: переговоры в Душанбе"),
        "{snippet}"
    );
    // the turbo page's header is markup, not a word glued to the text
    let turbo = alerts.iter().find(|a| a["watch"] == "turboterm").unwrap();
    assert!(
        turbo["matches"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("three turboterm"),
        "{turbo}"
    );
}

const UPGRADE_FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:yandex="http://news.yandex.ru"><channel><title>t</title>
<item><title>Переговоры в Душанбе</title><link>https://outlet.example/old</link><guid>u-old</guid>
  <description>Коротко.</description>
  <yandex:full-text>Стороны обсудили ОДКБ и границу.</yandex:full-text></item>
<item><title>Новости дня</title><link>https://outlet.example/new</link><guid>u-new</guid>
  <description>Коротко.</description>
  <yandex:full-text>Учения ОДКБ пройдут осенью.</yandex:full-text></item>
</channel></rss>"#;

/// An item stored by the code that did not read `yandex:full-text` (its record and edit
/// digest written as that code wrote them) raises no alert when the upgraded code reads a
/// watched term there; an item first seen after the upgrade, with the term in the same
/// element, alerts.
#[test]
fn reading_new_fields_raises_no_alert_for_items_stored_before() {
    use feedwatch::dedup::{self, Key, KeyPolicy};
    use feedwatch::store::{Incoming, Store};
    let s = Server::start();
    s.set("/rss", Route::feed(UPGRADE_FEED));
    let f = feeds(&[("outlet", s.url("/rss"))]);
    let setup = Setup::with_watches(
        &borrow(&f),
        "",
        "[[watch]]\nname = \"csto\"\nterms = [\"ОДКБ\"]\n",
    );
    {
        // the old code path: the item's normalised title, summary and content, no
        // extension text, and the digest formula of that code
        let store = Store::open(&setup.dir.path().join("store"), 1 << 20).unwrap();
        let item = feedwatch::parse::Item {
            guid: Some("u-old".into()),
            link: Some("https://outlet.example/old".into()),
            title: "Переговоры в Душанбе".into(),
            summary: "Коротко.".into(),
            ..Default::default()
        };
        let old_digest = Key::of(&[&item.title, &item.summary, &item.content, ""]).hex();
        let state = feedwatch::schedule::FeedState {
            name: "outlet".into(),
            ..Default::default()
        };
        let incoming = Incoming {
            keys: dedup::keys("outlet", std::slice::from_ref(&item), KeyPolicy::Guid).remove(0),
            item,
            digest: old_digest,
            fired: vec![],
            may_alert: true,
        };
        let committed = store
            .commit_poll(&state, &[incoming], chrono::Utc::now())
            .unwrap();
        assert_eq!(committed.new_items, 1);
    }
    once_ok(&setup);
    let alerts = setup.alerts();
    let titles: Vec<&str> = alerts
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Новости дня"], "{alerts:?}");
    assert_eq!(alerts[0]["matches"][0]["field"], "content");
    // a second poll of the same document changes nothing
    once_ok(&setup);
    assert_eq!(setup.alerts().len(), 1);
}

/// Extension text stored with an item after the upgrade is what `rematch` applies a new
/// watch to: the Yandex full text of an item stored without alerting alerts on `rematch`,
/// shown as written.
#[test]
fn rematch_applies_a_new_watch_to_stored_extension_text() {
    let s = Server::start();
    s.set("/rss", Route::feed(EXTENSIONS_RSS));
    let f = feeds(&[("rss", s.url("/rss"))]);
    let setup = Setup::with_watches(
        &borrow(&f),
        "",
        "[[watch]]\nname = \"none\"\nterms = [\"absentterm\"]\n",
    );
    once_ok(&setup);
    assert!(setup.alerts().is_empty());
    setup.write_config(
        &borrow(&f),
        "",
        "[[watch]]\nname = \"dushanbe\"\nterms = [\"Душанбе\"]\n",
    );
    let out = setup.run(&["rematch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = setup.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let m = &alerts[0]["matches"][0];
    assert_eq!(
        (m["field"].as_str(), m["text"].as_str()),
        (Some("content"), Some("Душанбе"))
    );
    assert_eq!(alerts[0]["title"], "two");
}
