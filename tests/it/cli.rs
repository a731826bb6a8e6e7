use super::*;

/// The documented example passes `check`, which lists its feeds and watches.
#[test]
fn the_example_config_passes_check() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let out = feedwatch(Some(&example), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("moscow-times") && text.contains("https://www.themoscowtimes.com/rss/news"),
        "{text}"
    );
    assert!(text.contains("cis: \"CIS\" (exact case)"), "{text}");
    assert!(
        text.contains("(item text kept 90d after first sighting"),
        "{text}"
    );
    assert!(text.contains("csto:"), "{text}");
}

/// With no --config, no $FEEDWATCH_CONFIG and no /etc file, the built-in default is used.
#[test]
fn without_a_config_the_builtin_default_is_checked() {
    if Path::new(feedwatch::config::SYSTEM_PATH).exists() {
        return; // this machine has a system config, which takes precedence
    }
    let out = feedwatch(None, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("config ok: built-in default"),
        "{}",
        stdout(&out)
    );
}

/// An invalid config: every problem at once, each with file, line and key; exit 2.
#[test]
fn an_invalid_config_reports_every_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[fetch]\ntimeout = \"forever\"\nretries = 3\n\n[[feeds]]\nname = \"x\"\nurl = \"gopher://old.example/\"\n\n[[feeds]]\nurl = \"https://ok.example/\"\n\n[[watch]]\nname = \"w\"\nterms = [\"CIS\", 7]\n",
    )
    .unwrap();
    let out = feedwatch(Some(&path), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    let file = path.display().to_string();
    for expected in [
        format!("{file}:2: fetch.timeout: \"forever\" is not a duration"),
        format!("{file}:3: fetch.retries: unknown key"),
        format!("{file}:7: feeds[0].url: scheme \"gopher\" is not supported"),
        format!("{file}:9: feeds[1].name: missing"),
        format!("{file}:14: watch[0].terms[1]: expected a string"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("(5 problems)"), "{err}");
    // `once` refuses the same config with the same code, before touching anything
    assert_eq!(feedwatch(Some(&path), &["once"]).status.code(), Some(2));
}

/// A config file that does not exist is a config error (exit 2) that names the path.
#[test]
fn a_missing_config_file_is_named() {
    let out = feedwatch(Some(Path::new("/nonexistent/feedwatch.toml")), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read config /nonexistent/feedwatch.toml"),
        "{}",
        stderr(&out)
    );
}

/// Usage errors exit 2 (clap), and --help documents the exit codes.
#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    assert_eq!(feedwatch(None, &["frobnicate"]).status.code(), Some(2));
    let help = stdout(&feedwatch(None, &["--help"]));
    for line in [
        "0  done",
        "1  runtime failure",
        "2  invalid config or usage",
        "3  the store is held",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

/// `demo` needs no network: it serves the bundled sample on 127.0.0.1 and prints the two
/// alerts of its first item.
#[test]
fn demo_shows_the_whole_path_offline() {
    let out = feedwatch(None, &["demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("3 items, 3 new; 2 alerts"), "{text}");
    // the log lived in a temporary directory, gone now: no path to go and read
    assert!(text.contains("a temporary alert log"), "{text}");
    assert!(!text.contains("feedwatch-demo-"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        watch_titles(&lines),
        [
            (
                "cis".into(),
                "Putin Presents Rings to his Fellow CIS Leaders During Summit".into()
            ),
            (
                "csto".into(),
                "Putin Presents Rings to his Fellow CIS Leaders During Summit".into()
            ),
        ]
    );
}

/// `match --text`: the watch that fires, the term, field and snippet; the others say why
/// not; exit 0.
#[test]
fn match_shows_which_watches_fire_and_why() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let out = feedwatch(
        Some(&example),
        &["match", "--text", "Putin met CIS leaders"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1 of 2 watches fires: cis\n"), "{text}");
    assert!(
        text.contains("cis fires:\n  \"CIS\" in content: Putin met CIS leaders"),
        "{text}"
    );
    assert!(
        text.contains("csto does not fire: no term matched"),
        "{text}"
    );
    // nothing fires: said plainly, still exit 0
    let out = feedwatch(
        Some(&example),
        &["match", "--text", "a decision in San Francisco, concisely"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("no watch fires (2 checked)"),
        "{}",
        stdout(&out)
    );
}

/// `match` reads HTML from stdin or a file, and `--json` gives one object to script with.
#[test]
fn match_reads_stdin_or_a_file_and_speaks_json() {
    use std::io::Write;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/feedwatch.toml");
    let mut child = command(Some(&example))
        .args(["match", "--json", "--field", "title"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("<p class=\"CIS\">Учения <b>ОДКБ</b> прошли</p>".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["fires"], serde_json::json!(["csto"]));
    let csto = &v["watches"][1];
    assert_eq!(csto["watch"], "csto");
    assert_eq!(csto["matches"][0]["text"], "ОДКБ");
    assert_eq!(csto["matches"][0]["field"], "title");
    assert_eq!(csto["matches"][0]["rule"], "any");
    assert_eq!(
        (
            csto["matches"][0]["start"].as_u64(),
            csto["matches"][0]["end"].as_u64()
        ),
        (Some(7), Some(11))
    );
    assert_eq!(
        v["watches"][0]["fires"], false,
        "the class attribute never matches"
    );
    assert_eq!(v["watches"][0]["reason"], "no term matched");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("article.html");
    std::fs::write(
        &file,
        "<p>The Commonwealth of</p>\n<p>Independent States met.</p>",
    )
    .unwrap();
    let out = feedwatch(Some(&example), &["match", "--file", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("\"Commonwealth of Independent States\" in content"),
        "{}",
        stdout(&out)
    );
    let out = feedwatch(Some(&example), &["match", "--file", "/nonexistent/x.html"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("match: reading the text from /nonexistent/x.html"),
        "{}",
        stderr(&out)
    );
}

/// `match` explains rules that stop a watch: an exclusion, a missing `all` group, `near`
/// too far apart, a field the watch does not look at, a feed limit.
#[test]
fn match_explains_rules_that_do_not_hold() {
    let watches = r#"
[[watch]]
name = "cis"
terms = ["CIS"]
not = ["CIS Cup"]

[[watch]]
name = "csto-armenia"
all = [["CSTO", "ОДКБ"], ["Armenia", "Армения"]]

[[watch]]
name = "troops"
near = { terms = ["CSTO", "troops"], within = 1 }

[[watch]]
name = "headlines"
terms = ["CSTO"]
fields = ["title"]

[[watch]]
name = "only-b"
terms = ["CSTO"]
feeds = ["b"]
"#;
    let setup = Setup::with_watches(
        &[
            ("a", "http://127.0.0.1:9/a", "all"),
            ("b", "http://127.0.0.1:9/b", "all"),
        ],
        "",
        watches,
    );
    let text = "CSTO sent more troops. The CIS Cup is on.";
    let out = setup.run(&["match", "--text", text, "--feed", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    for expected in [
        "no watch fires (5 checked)",
        "cis does not fire: excluded by \"CIS Cup\"",
        "  \"CIS\" in content: CSTO sent more troops. The CIS Cup is on.",
        "  excluded by \"CIS Cup\" (not) in content:",
        "csto-armenia does not fire: all: nothing of group 2 matched (\"Armenia\", \"Армения\")",
        "troops does not fire: near: \"CSTO\" and \"troops\" are never within 1 word of each other",
        "headlines does not fire: no term matched (it looks only at title)",
        "only-b does not fire: limited to feeds b",
    ] {
        assert!(s.contains(expected), "missing {expected:?} in:\n{s}");
    }
    // without --feed, feed limits are not applied, and it says so
    let s = stdout(&setup.run(&["match", "--text", text]));
    assert!(
        s.contains("only-b fires:\n  (limited to feeds b; not applied without --feed)"),
        "{s}"
    );
    // an unknown feed is a usage error
    let out = setup.run(&["match", "--text", text, "--feed", "zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no feed is named \"zz\""),
        "{}",
        stderr(&out)
    );
}
