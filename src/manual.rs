//! The man page and shell completions, generated from the command-line definition
//! (`feedwatch man`, `feedwatch completions SHELL`) so that they never drift from `--help`.
//! `packaging/build-assets.sh` writes them for the Debian package.
//!
//! The caller hands in the definition as a [`clap::Command`] (`Cli::command()`), so this
//! module knows clap, not the command line that uses it.

use clap::{Arg, ArgAction, Command};
use roff::{Roff, bold, italic, roman};

/// The exit codes, as in `--help` and the README.
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Done. For once: the cycle ran; feeds that failed are reported, not fatal.",
    ),
    ("1", "Runtime failure: the store or the disk."),
    (
        "2",
        "Invalid config or usage: every problem is listed with file, line and key. The systemd unit does not restart on it (RestartPreventExitStatus=2).",
    ),
    (
        "3",
        "The store is held by a running feedwatch: stop it first (systemctl stop feedwatch).",
    ),
    (
        "4",
        "once ran its cycle but left something undone: every feed failed, or alerts are still undelivered to a sink (they stay pending for the next once or run). The summary says which.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "FEEDWATCH_CONFIG",
        "The config file, when --config is not given.",
    ),
    (
        "STATE_DIRECTORY",
        "Set by systemd (StateDirectory=): the built-in default keeps its store there.",
    ),
    (
        "LOGS_DIRECTORY",
        "Set by systemd (LogsDirectory=): the built-in default writes its alert log there.",
    ),
    (
        "NOTIFY_SOCKET",
        "Set by systemd (Type=notify): run reports READY, RELOADING, STOPPING, STATUS and WATCHDOG there.",
    ),
    (
        "RUST_LOG",
        "The log filter (default: info for run, warn otherwise), e.g. RUST_LOG=debug.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "/etc/feedwatch/feedwatch.toml",
        "The config, when neither --config nor FEEDWATCH_CONFIG is given; without it the built-in default runs. Every key is documented in the packaged copy.",
    ),
    (
        "/var/lib/feedwatch/store",
        "The sled store (one process at a time).",
    ),
    (
        "/var/log/feedwatch/alerts.jsonl",
        "The alert log: one JSON object per line, rotated by /etc/logrotate.d/feedwatch.",
    ),
    (
        "/usr/lib/systemd/system/feedwatch.service",
        "The systemd unit (Type=notify, DynamicUser=, sandboxed).",
    ),
];

/// The man page of `cmd` (the whole command line), section 1, as roff.
pub fn man_page(mut cmd: Command) -> String {
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out).expect("writing to a Vec");
    man.render_name_section(&mut out).expect("writing to a Vec");
    man.render_synopsis_section(&mut out)
        .expect("writing to a Vec");
    man.render_description_section(&mut out)
        .expect("writing to a Vec");
    man.render_options_section(&mut out)
        .expect("writing to a Vec");

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in visible(&cmd) {
        command_entry(&mut roff, &[cmd.get_name()], sub);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        roff.control("TP", [])
            .text([bold(*code)])
            .text([roman(*meaning)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(*name)])
            .text([roman(*meaning)]);
    }
    roff.control("SH", ["FILES"]);
    for (path, meaning) in FILES {
        roff.control("TP", [])
            .text([italic(*path)])
            .text([roman(*meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemctl(1), journalctl(1), jq(1); README.md and DESIGN.md in the source.",
    )]);
    out.extend_from_slice(roff.render().as_bytes());
    man.render_version_section(&mut out)
        .expect("writing to a Vec");
    String::from_utf8(out).expect("roff is UTF-8")
}

fn visible(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One command: its synopsis, what it does, its own arguments; then its subcommands.
fn command_entry(roff: &mut Roff, path: &[&str], cmd: &Command) {
    let mut words: Vec<&str> = path.to_vec();
    words.push(cmd.get_name());
    let args: Vec<&Arg> = cmd.get_arguments().filter(|a| shown(a)).collect();
    let mut synopsis = vec![bold(words.join(" "))];
    for a in &args {
        synopsis.push(roman(" "));
        synopsis.push(roman(usage(a, true)));
    }
    if cmd.has_subcommands() {
        synopsis.push(roman(" "));
        synopsis.push(italic("COMMAND"));
    }
    roff.control("TP", []).text(synopsis);
    let about = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    for (i, para) in about.split("\n\n").enumerate() {
        if i > 0 {
            roff.control("IP", []);
        }
        roff.text([roman(para.replace('\n', " "))]);
    }
    if !args.is_empty() {
        roff.control("RS", []);
        for a in &args {
            let help = a
                .get_long_help()
                .or_else(|| a.get_help())
                .map(|s| s.to_string().replace('\n', " "))
                .unwrap_or_default();
            roff.control("TP", [])
                .text([bold(usage(a, false))])
                .text([roman(help)]);
        }
        roff.control("RE", []);
    }
    for sub in visible(cmd) {
        command_entry(roff, &words, sub);
    }
}

/// The arguments a command documents itself: not --help, --version or the global --config.
fn shown(a: &Arg) -> bool {
    !a.is_hide_set()
        && !a.is_global_set()
        && !matches!(a.get_action(), ArgAction::Help | ArgAction::Version)
        && !matches!(a.get_id().as_str(), "help" | "version" | "config")
}

/// `--flag VALUE`, in brackets for a synopsis when it is optional.
fn usage(a: &Arg, brackets: bool) -> String {
    let optional = |s: String| if brackets { format!("[{s}]") } else { s };
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
    if a.is_positional() {
        return if a.is_required_set() {
            value
        } else {
            optional(value)
        };
    }
    let flag = match (a.get_long(), a.get_short()) {
        (Some(l), _) => format!("--{l}"),
        (None, Some(s)) => format!("-{s}"),
        (None, None) => value.clone(),
    };
    if a.get_action().takes_values() {
        optional(format!("{flag} {value}"))
    } else {
        optional(flag)
    }
}

/// Shell completions of `cmd` (the whole command line) for `shell`.
pub fn completions(shell: clap_complete::Shell, mut cmd: Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "feedwatch", &mut out);
    out
}
