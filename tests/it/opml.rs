use super::*;

/// A config file with no `[[feeds]]` yet, with a comment the import must keep.
fn empty_config(dir: &Path) -> PathBuf {
    let path = dir.join("empty.toml");
    std::fs::write(
        &path,
        "# the operator's own notes\n[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n",
    )
    .unwrap();
    path
}

/// Every (name, url) that `check` lists for a config.
fn feeds_of(config: &Path) -> Vec<(String, String)> {
    let out = feedwatch(Some(config), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let start = text.find("feeds:\n").unwrap() + "feeds:\n".len();
    text[start..]
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_string(), words[5].to_string())
        })
        .collect()
}

/// `opml export` of the example config, imported into a config without feeds, gives the
/// same names and URLs; the existing text stays as it was, with the feeds appended.
#[test]
fn export_then_import_round_trips_names_and_urls() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let dir = tempfile::tempdir().unwrap();
    let opml = dir.path().join("feeds.opml");
    let out = feedwatch(
        Some(&example),
        &["opml", "export", "--output", opml.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let exported = std::fs::read_to_string(&opml).unwrap();
    assert!(exported.contains("<opml version=\"2.0\">"), "{exported}");
    // stdout gives the same document
    let to_stdout = stdout(&feedwatch(Some(&example), &["opml", "export"]));
    assert!(to_stdout.contains("xmlUrl=\"https://www.themoscowtimes.com/rss/news\""));

    let config = empty_config(dir.path());
    let before = std::fs::read_to_string(&config).unwrap();
    let out = feedwatch(Some(&config), &["opml", "import", opml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("5 added, 0 skipped"),
        "{}",
        stdout(&out)
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(
        after.starts_with(&before),
        "appended, not rewritten:\n{after}"
    );
    assert_eq!(feeds_of(&config), feeds_of(&example));

    // a second import adds nothing and leaves the file alone
    let out = feedwatch(Some(&config), &["opml", "import", opml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 added, 5 skipped"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), after);
}

/// A URL already configured (with tracking parameters and a fragment) is skipped; a title
/// whose name is taken by another feed gets a new name; --dry-run writes nothing.
#[test]
fn duplicates_are_skipped_and_taken_names_renamed() {
    let setup = Setup::new(&[(
        "moscow-times",
        "https://www.themoscowtimes.com/rss/news",
        "all",
    )]);
    let opml = setup.dir.path().join("dups.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="MT" title="The Moscow Times" xmlUrl="https://WWW.themoscowtimes.com/rss/news/?utm_source=rss&amp;utm_medium=feed#top"/>
<outline text="Moscow Times" xmlUrl="https://www.themoscowtimes.com/rss/business"/>
<outline text="Eurasianet" xmlUrl="https://eurasianet.org/rss"/>
</body></opml>"#,
    )
    .unwrap();
    let before = std::fs::read_to_string(&setup.config).unwrap();
    let out = setup.run(&["opml", "import", "--dry-run", opml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would add moscow-times-2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&setup.config).unwrap(), before);

    let out = setup.run(&["opml", "import", opml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("skipped \"The Moscow Times\" <https://WWW.themoscowtimes.com/rss/news/?utm_source=rss&utm_medium=feed#top>: same URL as the feed \"moscow-times\""),
        "{text}"
    );
    assert!(
        text.contains("added moscow-times-2")
            && text.contains("(renamed: \"moscow-times\" is taken)"),
        "{text}"
    );
    assert!(text.contains("2 added, 1 skipped"), "{text}");
    let feeds = feeds_of(&setup.config);
    let names: Vec<&str> = feeds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["moscow-times", "moscow-times-2", "eurasianet"]);
    assert_eq!(feeds[1].1, "https://www.themoscowtimes.com/rss/business");
}

/// An export from another reader: folders nested in folders, `text` without `title`, odd
/// attribute case, a non-HTTP feed; every feed is found, the folders themselves are not.
#[test]
fn another_readers_nested_folders_are_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let config = empty_config(dir.path());
    let opml = dir.path().join("reader.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by SomeReader -->
<opml version="1.0">
  <head><title>Subscriptions</title><dateCreated>Mon, 01 Jan 2024 00:00:00 GMT</dateCreated></head>
  <body>
    <outline text="World" title="World">
      <outline text="Eastern Europe">
        <outline type="rss" text="Meduza in English" xmlUrl="https://meduza.io/rss/en/all" htmlUrl="https://meduza.io/en"/>
        <outline type="rss" text="Коммерсантъ" xmlurl="https://www.kommersant.ru/RSS/news.xml"/>
      </outline>
      <outline type="rss" title="TASS" text="ignored" xmlUrl="https://tass.com/rss/v2.xml"></outline>
    </outline>
    <outline text="Old" type="rss" xmlUrl="gopher://old.example/feed"/>
    <outline text="Empty folder"/>
  </body>
</opml>"#,
    )
    .unwrap();
    let out = feedwatch(Some(&config), &["opml", "import", opml.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("skipped \"Old\" <gopher://old.example/feed>: scheme \"gopher\""),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        feeds_of(&config),
        [
            (
                "meduza-in-english".to_string(),
                "https://meduza.io/rss/en/all".to_string()
            ),
            (
                "коммерсантъ".to_string(),
                "https://www.kommersant.ru/RSS/news.xml".to_string()
            ),
            (
                "tass".to_string(),
                "https://tass.com/rss/v2.xml".to_string()
            ),
        ]
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with("# the operator's own notes\n"), "{text}");
}

/// Malformed or foreign documents: a clear error, exit 2, the config byte for byte as it was.
#[test]
fn malformed_opml_is_refused_and_the_config_untouched() {
    let setup = Setup::new(&[("a", "https://a.example/rss", "all")]);
    let before = std::fs::read(&setup.config).unwrap();
    for (doc, expected) in [
        (
            "<opml><body><outline text=\"x\" xmlUrl=\"https://b.example/\"></body></opml>",
            "not well-formed XML",
        ),
        (
            "<opml><body><outline xmlUrl=\"https://b.example/\"/>",
            "ends inside an element",
        ),
        (
            "<rss version=\"2.0\"><channel/></rss>",
            "the root element is <rss>, not <opml>",
        ),
        ("not xml at all", "has no <opml> element"),
    ] {
        let opml = setup.dir.path().join("bad.opml");
        std::fs::write(&opml, doc).unwrap();
        let out = setup.run(&["opml", "import", opml.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{doc}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("is not a usable OPML file") && err.contains(expected),
            "{doc}: {err}"
        );
        assert!(stdout(&out).is_empty());
        assert_eq!(std::fs::read(&setup.config).unwrap(), before, "{doc}");
    }
    let missing = setup.run(&["opml", "import", "/nonexistent/x.opml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read /nonexistent/x.opml"),
        "{}",
        stderr(&missing)
    );
}

/// A config whose feeds are an inline array cannot take appended [[feeds]] tables: the
/// import is checked, the file restored, exit 2.
#[test]
fn an_import_that_breaks_the_config_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("inline.toml");
    let text = "feeds = [{ name = \"a\", url = \"https://a.example/rss\" }]\n[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"";
    std::fs::write(&config, text).unwrap();
    let opml = dir.path().join("one.opml");
    std::fs::write(
        &opml,
        "<opml><body><outline text=\"B\" xmlUrl=\"https://b.example/rss\"/></body></opml>",
    )
    .unwrap();
    let out = feedwatch(Some(&config), &["opml", "import", opml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("does not validate") && stderr(&out).contains("restored"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

/// Without a config file there is nothing to add feeds to: exit 2, and how to get one.
#[test]
fn import_without_a_config_file_says_what_to_do() {
    if Path::new(feedwatch::config::SYSTEM_PATH).exists() {
        return; // this machine has a system config, which would be used
    }
    let dir = tempfile::tempdir().unwrap();
    let opml = dir.path().join("one.opml");
    std::fs::write(&opml, "<opml><body/></opml>").unwrap();
    let out = feedwatch(None, &["opml", "import", opml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--config") && err.contains("/etc/feedwatch/feedwatch.toml"),
        "{err}"
    );
}
