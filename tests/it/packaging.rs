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
    // man and completions are documented now; the completions' helper is not
    assert!(page.contains("\\fBfeedwatch completions\\fR"), "{page}");
    assert!(page.contains("\\fBfeedwatch man\\fR"), "{page}");
    assert!(!page.contains("feedwatch names"), "{page}");
}

/// The man page's own sections: examples, every table and key of the documented config,
/// signals, files; no source-tree path for --config, no stale DynamicUser.
#[test]
fn the_man_page_has_examples_configuration_signals_and_files() {
    let page = stdout(&feedwatch(None, &["man"]));
    for section in [
        ".SH EXAMPLES",
        ".SH CONFIGURATION",
        ".SH SIGNALS",
        ".SH FILES",
    ] {
        assert!(page.contains(section), "{section} missing:\n{page}");
    }
    let example = feedwatch::config::EXAMPLE;
    let mut tables = 0;
    for line in example.lines() {
        let line = line.trim_start_matches("# ");
        if line.starts_with('[') && line.ends_with(']') && !line.contains(' ') {
            tables += 1;
            assert!(page.contains(&format!(".SS {line}")), "{line}:\n{page}");
        }
    }
    assert!(tables >= 10, "{tables}");
    for key in [
        "path",
        "cache",
        "keep",
        "log",
        "listen",
        "allow_remote",
        "socket",
        "max_body",
        "per_host",
        "max_backoff",
        "backlog",
        "enabled",
        "fields",
        "template",
        "secret_file",
        "chat_id",
        "starttls",
    ] {
        assert!(
            page.contains(&format!(".TP\n\\fB{key}\\fR")),
            "key {key} missing:\n{page}"
        );
    }
    assert!(page.contains("\\fBSIGHUP\\fR"), "{page}");
    assert!(page.contains("/run/feedwatch/control.sock"), "{page}");
    assert!(
        !page.contains("config/feedwatch.toml"),
        "a source-tree path:\n{page}"
    );
    assert!(!page.contains("DynamicUser"), "{page}");
}

/// The bash completion offers the config's feed and watch names, asked of the binary
/// named on the command line (`feedwatch names`).
#[test]
fn bash_completion_offers_feed_and_watch_names() {
    let setup = Setup::new(&[
        ("moscow-times", "http://127.0.0.1:9/a", "all"),
        ("meduza", "http://127.0.0.1:9/b", "all"),
    ]);
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        feedwatch(None, &["completions", "bash"]).stdout,
    )
    .unwrap();
    let complete = |line: &str| -> Vec<String> {
        let words: Vec<&str> = line.split(' ').collect();
        let bash = format!(
            "source {}\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_feedwatch_with_names \"${{COMP_WORDS[0]}}\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.path().display(),
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1
        );
        let out = Command::new("bash").args(["-c", &bash]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let mut got: Vec<String> = stdout(&out)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        got.sort();
        got
    };
    let bin = env!("CARGO_BIN_EXE_feedwatch");
    let config = setup.config.display().to_string();
    assert_eq!(
        complete(&format!("{bin} --config {config} poll ")),
        ["meduza", "moscow-times"]
    );
    assert_eq!(
        complete(&format!("{bin} -c {config} pause mo")),
        ["moscow-times"]
    );
    assert_eq!(
        complete(&format!("{bin} --config {config} alerts --watch c")),
        ["cis", "csto"]
    );
    // elsewhere, clap's completion: subcommands
    assert!(complete(&format!("{bin} --config {config} re")).contains(&"rematch".to_string()));
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

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// packaging/build-assets.sh with this build's binary, writing into `target` as
/// CARGO_TARGET_DIR (a directory of the test, never the real target dir).
fn build_assets(bin: &Path, target: &Path) -> Output {
    Command::new("bash")
        .arg(repo().join("packaging/build-assets.sh"))
        .env("FEEDWATCH_BIN", bin)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap()
}

/// build-assets.sh writes into CARGO_TARGET_DIR's release/assets (where the package's
/// assets point), nothing empty; a binary that fails makes the script fail, not an empty
/// man page in the package (set -euo pipefail).
#[test]
fn build_assets_honours_the_target_dir_and_fails_on_a_failing_step() {
    let target = tempfile::tempdir().unwrap();
    let out = build_assets(Path::new(env!("CARGO_BIN_EXE_feedwatch")), target.path());
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let assets = target.path().join("release/assets");
    let man = std::fs::read(assets.join("feedwatch.1.gz")).unwrap();
    assert!(
        man.starts_with(&[0x1f, 0x8b]) && man.len() > 1000,
        "{}",
        man.len()
    );
    for f in ["feedwatch", "_feedwatch", "feedwatch.fish"] {
        let script = std::fs::read_to_string(assets.join("completions").join(f)).unwrap();
        assert!(script.contains("rematch"), "{f}: {script}");
    }
    let cargo_toml = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    for asset in [
        "target/release/assets/feedwatch.1.gz",
        "target/release/assets/completions/feedwatch",
        "target/release/assets/completions/_feedwatch",
        "target/release/assets/completions/feedwatch.fish",
    ] {
        assert!(cargo_toml.contains(&format!("[\"{asset}\"")), "{asset}");
    }

    let failing = tempfile::tempdir().unwrap();
    let out = build_assets(Path::new("/bin/false"), failing.path());
    assert!(!out.status.success(), "{}", stdout(&out));
}

/// What `[package.metadata.deb]` declares: a summary `apt show` does not cut, a routable
/// maintainer address, the dependencies the service needs, a changelog and a copyright
/// file with a notice (lintian: bogus-mail-host, no-changelog,
/// copyright-without-copyright-notice).
#[test]
fn the_package_metadata_is_complete() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let package = manifest["package"].as_table().unwrap();
    let description = package["description"].as_str().unwrap();
    assert!(description.len() <= 80, "{} characters", description.len());
    let deb = package["metadata"]["deb"].as_table().unwrap();
    let maintainer = deb["maintainer"].as_str().unwrap();
    assert!(
        !maintainer.contains("@localhost") && !maintainer.contains("localdomain"),
        "{maintainer}"
    );
    assert!(deb["depends"].as_str().unwrap().contains("ca-certificates"));
    assert!(deb["recommends"].as_str().unwrap().contains("logrotate"));
    let changelog =
        std::fs::read_to_string(repo().join(deb["changelog"].as_str().unwrap())).unwrap();
    assert!(
        changelog.starts_with(&format!(
            "feedwatch ({}-1) ",
            package["version"].as_str().unwrap()
        )),
        "{changelog}"
    );
    let license = deb["license-file"].as_array().unwrap()[0].as_str().unwrap();
    let copyright = std::fs::read_to_string(repo().join(license)).unwrap();
    assert!(
        copyright
            .lines()
            .any(|l| l.starts_with("Copyright: 2") && l.contains("feedwatch")),
        "{copyright}"
    );
}

/// Whether cargo-deb is here. Absent: a failure where the package test is required
/// (`FEEDWATCH_PACKAGE_TESTS=require`, or `CI` set: `.ci/run` installs cargo-deb), else a
/// loud skip.
fn cargo_deb_or_skip(test: &str) -> bool {
    let present = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return true;
    }
    let required = std::env::var("FEEDWATCH_PACKAGE_TESTS").is_ok_and(|v| v == "require")
        || std::env::var_os("CI").is_some();
    assert!(
        !required,
        "{test} builds the .deb: install cargo-deb (cargo install cargo-deb --locked --no-default-features); .ci/run does"
    );
    eprintln!("SKIPPED {test}: cargo-deb is not installed (cargo install cargo-deb --locked)");
    false
}

/// The .deb, built by cargo-deb from this build's binary: every file where Debian wants it,
/// the man page and completions not empty, and the control fields right.
#[test]
fn the_package_holds_what_it_should() {
    if !cargo_deb_or_skip("the_package_holds_what_it_should") {
        return;
    }
    let target = tempfile::tempdir().unwrap();
    let release = target.path().join("release");
    std::fs::create_dir_all(&release).unwrap();
    let bin = release.join("feedwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_feedwatch"), &bin).unwrap();
    let out = build_assets(&bin, target.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let deb = target.path().join("feedwatch.deb");
    let out = Command::new("cargo")
        .args(["deb", "--no-build", "--fast", "--output"])
        .arg(&deb)
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", target.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo deb: {}", stderr(&out));

    let list = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", stderr(&list));
    let list = stdout(&list);
    let size = |path: &str| -> u64 {
        let line = list
            .lines()
            .find(|l| l.ends_with(&format!(" ./{path}")))
            .unwrap_or_else(|| panic!("{path} missing from the package:\n{list}"));
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    assert!(size("usr/bin/feedwatch") > 1_000_000);
    assert!(size("usr/share/man/man1/feedwatch.1.gz") > 1000);
    for completion in [
        "usr/share/bash-completion/completions/feedwatch",
        "usr/share/zsh/vendor-completions/_feedwatch",
        "usr/share/fish/vendor_completions.d/feedwatch.fish",
    ] {
        assert!(size(completion) > 100, "{completion}");
    }
    for file in [
        "etc/feedwatch/feedwatch.toml",
        "etc/logrotate.d/feedwatch",
        "usr/lib/sysusers.d/feedwatch.conf",
        "usr/lib/systemd/system/feedwatch.service",
        "usr/share/doc/feedwatch/copyright",
        "usr/share/doc/feedwatch/examples/feedwatch.rules.yml",
    ] {
        assert!(size(file) > 0, "{file}");
    }

    // changelog.Debian.gz (Debian Policy 12.7), or changelog.gz in older cargo-deb
    assert!(
        list.lines()
            .any(|l| l.contains(" ./usr/share/doc/feedwatch/changelog") && l.ends_with(".gz")),
        "no changelog in\n{list}"
    );

    let info = Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(info.status.success(), "{}", stderr(&info));
    let info = stdout(&info);
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in\n{info}"))
            .to_string()
    };
    assert!(field("Depends").contains("ca-certificates"), "{info}");
    assert!(field("Recommends").contains("logrotate"), "{info}");
    assert!(field("Description").len() <= 80, "{info}");
    assert!(!field("Maintainer").contains("localhost"), "{info}");

    // where lintian is installed: none of the tags the issue found
    if let Ok(out) = Command::new("lintian").arg(&deb).output() {
        let tags = stdout(&out);
        for tag in [
            "bogus-mail-host",
            "no-changelog",
            "copyright-without-copyright-notice",
            "debian-changelog-line-too-long",
            "extended-description-line-too-long",
        ] {
            assert!(!tags.contains(tag), "lintian: {tags}");
        }
    }
}

/// A config whose store and log are under `dir/data`, with one feed.
fn data_config(dir: &Path) -> PathBuf {
    let config = dir.join("feedwatch.toml");
    std::fs::write(
        &config,
        "[storage]\npath = \"data/store\"\n[alerts]\nlog = \"data/alerts.jsonl\"\n[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/feed\"\n",
    )
    .unwrap();
    config
}

/// `check` says whether the service's user can use the store and the log: a directory it
/// cannot write in fails (exit 1, naming the directory, its owner and mode); once it can,
/// check passes. As root the user is `nobody` ($FEEDWATCH_SERVICE_USER), else this user.
#[test]
fn check_says_whether_the_store_and_log_are_usable() {
    use std::os::unix::fs::PermissionsExt;
    let root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = data_config(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let check = || {
        let mut c = command(Some(&config));
        c.arg("check").current_dir(dir.path());
        if root {
            c.env("FEEDWATCH_SERVICE_USER", "nobody");
        } else {
            c.env_remove("FEEDWATCH_SERVICE_USER");
        }
        c.output().unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("\nusable by "), "{text}");
    assert!(
        text.contains("data/store: NO: ") && text.contains("mode 0555"),
        "{text}"
    );
    assert!(text.contains("data/alerts.jsonl: NO: "), "{text}");
    assert!(
        stderr(&out).contains("cannot use the store"),
        "{}",
        stderr(&out)
    );

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = check();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("data/store: yes, ") && text.contains("data/alerts.jsonl: yes, "),
        "{text}"
    );
    // counts and durations as a person writes them: not "1 feeds", "backlog 1day"
    assert!(text.contains("\n1 feed:\n"), "{text}");
    assert!(text.contains(" backlog 1d "), "{text}");
    assert!(text.contains("item text kept 90d"), "{text}");
}

/// The read-only commands create nothing: before the first poll there is no store, and
/// `feeds`, `items`, `alerts`, `status`, `explain` and `check` say so or describe the
/// config without making the directory (which, made by root, the service could not open).
#[test]
fn read_only_commands_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = data_config(dir.path());
    for args in [
        &["feeds"][..],
        &["feeds", "--json"],
        &["items"],
        &["alerts"],
        &["status"],
        &["explain", "https://example.org/x"],
        &["check"],
    ] {
        let out = command(Some(&config))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created {}",
            dir.path().join("data").display()
        );
        if matches!(args[0], "items" | "alerts") {
            // an empty answer, said as such
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!("no {} yet: ", args[0])),
                "{args:?}: {}",
                stderr(&out)
            );
        } else if args[0] != "check" {
            // explain: an item not stored is a usage error, whether or not a store exists
            let code = if args[0] == "explain" { 2 } else { 1 };
            assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stdout(&out));
            assert!(
                stderr(&out).contains("no store yet at"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// The zsh completion names feeds, watches and sinks where commands take them: the
/// completers are wired to those arguments, and (where zsh is installed) they list the
/// config's names, asked of the binary on PATH.
#[test]
fn zsh_completion_offers_feed_and_watch_names() {
    let script = stdout(&feedwatch(None, &["completions", "zsh"]));
    for wired in [
        "name -- The feed'\\''s name in the config:_feedwatch_feeds'",
        "]:NAME:_feedwatch_feeds'",
        "]:NAME:_feedwatch_watches'",
        "name -- The sink'\\''s name in the config:_feedwatch_sinks'",
    ] {
        assert!(script.contains(wired), "{wired} missing");
    }
    let has_zsh = Command::new("zsh")
        .args(["-c", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_zsh {
        eprintln!("SKIPPED the zsh run of zsh_completion_offers_feed_and_watch_names: no zsh");
        return;
    }
    let setup = Setup::new(&[
        ("moscow-times", "http://127.0.0.1:9/a", "all"),
        ("meduza", "http://127.0.0.1:9/b", "all"),
    ]);
    let file = setup.dir.path().join("_feedwatch");
    std::fs::write(&file, &script).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_feedwatch")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // compadd only works inside a completion widget: a stand-in prints what it is given
    let zsh = format!(
        "autoload -U compinit && compinit -u -d {dir}/zcompdump\n\
         source {file}\n\
         compadd() {{ print -l -- \"${{(@P)${{@[-1]}}}}\" }}\n\
         words=(poll --config {config} '')\n_feedwatch_feeds\n\
         words=(alerts -c {config} --watch '')\n_feedwatch_watches\n",
        dir = setup.dir.path().display(),
        file = file.display(),
        config = setup.config.display()
    );
    let out = Command::new("zsh")
        .args(["-f", "-c", &zsh])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(
        names,
        ["moscow-times", "meduza", "cis", "csto"],
        "{}",
        stderr(&out)
    );
}
