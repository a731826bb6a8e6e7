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
