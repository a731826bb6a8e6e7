use super::*;

/// `feedwatch man` is roff with every command, the exit codes and the files; the hidden
/// packaging commands are not in it.
#[test]
fn the_man_page_lists_commands_and_exit_codes() {
    let out = feedwatch(None, &["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains(".TH feedwatch 1"), "{page}");
    for command in [
        "run",
        "once",
        "check",
        "poll",
        "enable",
        "feeds",
        "items",
        "alerts",
        "match",
        "rematch",
        "demo",
        "opml export",
        "opml import",
    ] {
        assert!(
            page.contains(&format!("\\fBfeedwatch {command}\\fR")),
            "{command} missing from:\n{page}"
        );
    }
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    for code in ["0", "1", "2", "3"] {
        assert!(
            page.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit code {code}:\n{page}"
        );
    }
    assert!(page.contains("/etc/feedwatch/feedwatch.toml"), "{page}");
    assert!(!page.contains("feedwatch completions") && !page.contains("feedwatch man\\fR"));
}

/// Completions for bash, zsh and fish name the subcommands.
#[test]
fn completions_mention_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = feedwatch(None, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in ["run", "check", "rematch", "opml", "import", "export"] {
            assert!(script.contains(command), "{shell}: {command} missing");
        }
    }
    let bash = stdout(&feedwatch(None, &["completions", "bash"]));
    assert!(bash.contains("complete -F _feedwatch"), "{bash}");
    assert_eq!(
        feedwatch(None, &["completions", "tcsh"]).status.code(),
        Some(2)
    );
}
