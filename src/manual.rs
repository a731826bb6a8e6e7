//! The man page and shell completions, generated from the command-line definition
//! (`feedwatch man`, `feedwatch completions SHELL`) so that they never drift from `--help`.
//! `packaging/build-assets.sh` writes them for the Debian package.
//!
//! The caller hands in the definition as a [`clap::Command`] (`Cli::command()`), so this
//! module knows clap, not the command line that uses it. The CONFIGURATION section is read
//! from the documented example config ([`crate::config::EXAMPLE`]), so that it lists every
//! key with the comment that documents it there.

use clap::{Arg, ArgAction, Command};
use roff::{Roff, bold, italic, roman};

/// The exit codes, as in `--help` and the README.
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Done. For once: the cycle ran; feeds that failed are reported, not fatal. Also when the reader of standard output went away (export | head).",
    ),
    ("1", "Runtime failure: the store or the disk."),
    (
        "2",
        "Invalid config or usage: every problem is listed with file, line and key. The systemd unit does not restart on it (RestartPreventExitStatus=2).",
    ),
    (
        "3",
        "The store is held by a running feedwatch: for import, stop it first (systemctl stop feedwatch). Or the running service is compacting or reopening its store and a command through its control socket waited for it: try again shortly.",
    ),
    (
        "4",
        "once or poll ran but left something undone: no feed polled successfully, or alerts are still undelivered to a sink (they stay pending for the next once or run). The summary says which.",
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
        "FEEDWATCH_SERVICE_USER",
        "The user check judges the store and alert log for (default: feedwatch when that user exists, else whoever runs check).",
    ),
    (
        "RUST_LOG",
        "The log filter (default: info for run, warn otherwise), e.g. RUST_LOG=debug.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "/etc/feedwatch/feedwatch.toml",
        "The config, when neither --config nor FEEDWATCH_CONFIG is given; without it the built-in default runs. Every key is documented in the packaged copy (and under CONFIGURATION above).",
    ),
    (
        "/var/lib/feedwatch/store",
        "The sled store (one process at a time), in the unit's StateDirectory=.",
    ),
    (
        "/var/log/feedwatch/alerts.jsonl",
        "The alert log: one JSON object per line, in the unit's LogsDirectory=; rotated by /etc/logrotate.d/feedwatch (SIGHUP reopens it).",
    ),
    (
        "/run/feedwatch/control.sock",
        "The control socket of the running service (mode 0660, group feedwatch): poll, pause, resume, enable, reload, rematch and export act through it.",
    ),
    (
        "/usr/lib/systemd/system/feedwatch.service",
        "The systemd unit (Type=notify, User=feedwatch, sandboxed). Change it with systemctl edit feedwatch.",
    ),
    (
        "/usr/lib/sysusers.d/feedwatch.conf",
        "The feedwatch system user and group; join the group to use the control socket.",
    ),
];

/// What each signal does to `run`.
const SIGNALS: &[(&str, &str)] = &[
    (
        "SIGHUP",
        "Read the config again (systemctl reload feedwatch, or feedwatch reload): added feeds start, removed ones stop, changed watches apply from then on; an invalid config is logged and the running one kept. Also reopens the alert log after logrotate moved it.",
    ),
    (
        "SIGTERM, SIGINT",
        "Stop: polls in flight are cancelled, pending alerts written and the store flushed, then exit 0 (systemctl stop feedwatch).",
    ),
];

/// Commands a newcomer and an operator start with.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "feedwatch demo",
        "Poll a bundled sample feed served on 127.0.0.1 and show the alerts it raises: no network, no config.",
    ),
    (
        "feedwatch --config feedwatch.toml check",
        "Validate a config and show what it polls and watches, and whether the store and log are usable.",
    ),
    (
        "feedwatch match --text \"CSTO troops arrived in Armenia\"",
        "Try the watches on a text: which fire, and why not.",
    ),
    (
        "feedwatch once",
        "Poll every feed once, write the alerts, and exit (for cron, or a first try).",
    ),
    (
        "sudo systemctl enable --now feedwatch",
        "Run it as a service (the Debian package installs the unit).",
    ),
    (
        "feedwatch feeds",
        "Each feed's health: state, last success, last error, next poll.",
    ),
    (
        "feedwatch alerts --since 24h",
        "The alerts of the last day, newest first; --json for the alert log's objects.",
    ),
    (
        "tail -f /var/log/feedwatch/alerts.jsonl | jq .title",
        "Follow the alert log as alerts arrive.",
    ),
    (
        "feedwatch rematch --dry-run --since 7d",
        "What a changed watch would have raised over the stored items of the last week.",
    ),
    (
        "curl -s 127.0.0.1:9185/metrics",
        "The Prometheus metrics of the running service (docs/metrics.md).",
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
    roff.control("SH", ["EXAMPLES"]);
    for (command, meaning) in EXAMPLES {
        roff.control("TP", [])
            .text([bold(*command)])
            .text([roman(*meaning)]);
    }
    configuration(&mut roff, crate::config::EXAMPLE);
    roff.control("SH", ["SIGNALS"]);
    for (signal, meaning) in SIGNALS {
        roff.control("TP", [])
            .text([bold(*signal)])
            .text([roman(*meaning)]);
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
        "systemctl(1), journalctl(1), jq(1); /usr/share/doc/feedwatch/ (README, the unit's notes, example Prometheus rules).",
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

/// One key of the example config: its value there, whether it was commented out (then the
/// value is the default, in a `[table]`), and the comment above it.
struct Key {
    name: String,
    value: Option<String>,
    commented: bool,
    about: String,
}

/// The CONFIGURATION section: every table and key of `example` (the documented config),
/// with the comments that document them.
fn configuration(roff: &mut Roff, example: &str) {
    let mut tables: Vec<(String, Vec<String>, Vec<Key>)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut in_array = false;
    for raw in example.lines() {
        let line = raw.trim_end();
        if in_array {
            in_array = !line.trim_start().starts_with(']');
            continue;
        }
        if line.is_empty() {
            pending.clear();
            continue;
        }
        let (commented, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.strip_prefix(' ').unwrap_or(rest)),
            None => (false, line),
        };
        if body.starts_with('[') && body.ends_with(']') && !body.contains(' ') {
            let name = body.to_string();
            if !tables.iter().any(|(n, _, _)| *n == name) {
                tables.push((name, pending.clone(), Vec::new()));
            }
            pending.clear();
            continue;
        }
        let key = body.split_once(" = ").filter(|(k, _)| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        match (key, tables.last_mut()) {
            (Some((name, rest)), Some((table, _, keys))) => {
                let (value, note) = match rest.split_once("  #") {
                    Some((v, n)) => (v.trim(), Some(n.trim_start_matches('#').trim())),
                    None => (rest.trim(), None),
                };
                if !commented && value == "[" {
                    in_array = true;
                }
                let mut about = pending
                    .iter()
                    .filter(|l| !l.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(n) = note {
                    about = if about.is_empty() {
                        n.to_string()
                    } else {
                        format!("{about} {n}")
                    };
                }
                pending.clear();
                let complete = !(value.ends_with('[') || value.ends_with('{'));
                // the first mention of a key documents it (later tables are examples)
                if !keys.iter().any(|k| k.name == name) {
                    keys.push(Key {
                        name: name.into(),
                        value: complete.then(|| value.to_string()),
                        commented: commented && !table.starts_with("[["),
                        about,
                    });
                }
            }
            _ if commented => pending.push(body.to_string()),
            _ => pending.clear(),
        }
    }
    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(
        "A TOML file: --config PATH, else $FEEDWATCH_CONFIG, else /etc/feedwatch/feedwatch.toml, else the built-in default (the packaged file as shipped, with the store and log in $STATE_DIRECTORY and $LOGS_DIRECTORY under systemd, else in ./feedwatch-data/). Durations are written like 30s, 10m, 1h 30m, 7d; sizes like 16MiB. Relative paths are taken from the config file's directory. An unknown key, a wrong type or an impossible value is an error naming file, line and key (exit 2); feedwatch check validates a file. The tables and keys:",
    )]);
    for (table, about, keys) in &tables {
        roff.control("SS", [table.as_str()]);
        if !about.is_empty() {
            // as laid out in the file: lists and examples keep their columns
            roff.control("nf", []);
            for line in about {
                roff.text([roman(line.as_str())]);
            }
            roff.control("fi", []);
        }
        for k in keys {
            let mut head = vec![bold(k.name.as_str())];
            if let Some(v) = &k.value {
                head.push(roman(if k.commented {
                    " (default: "
                } else {
                    " (e.g. "
                }));
                head.push(italic(v.as_str()));
                head.push(roman(")"));
            }
            roff.control("TP", [])
                .text(head)
                .text([roman(k.about.as_str())]);
        }
    }
}

/// Shell completions of `cmd` (the whole command line) for `shell`; for bash, zsh and fish,
/// with the config's feed, watch and sink names where a command takes one (asked of
/// `feedwatch names` when completing, so they follow the config).
pub fn completions(shell: clap_complete::Shell, mut cmd: Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "feedwatch", &mut out);
    match shell {
        clap_complete::Shell::Bash => out.extend_from_slice(BASH_NAMES.as_bytes()),
        clap_complete::Shell::Fish => out.extend_from_slice(FISH_NAMES.as_bytes()),
        clap_complete::Shell::Zsh => out = zsh_names(&String::from_utf8_lossy(&out)).into_bytes(),
        _ => {}
    }
    out
}

/// clap's zsh script with names where a command or option takes a feed, watch or sink
/// name: their `_default` completers become `_feedwatch_feeds` etc., defined before the
/// script's last lines (which register or run `_feedwatch`).
fn zsh_names(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + ZSH_NAMES.len());
    for line in script.split_inclusive('\n') {
        let completer = if line.contains("'--feed=[")
            || line.contains("name -- The feed'\\''s name in the config")
        {
            Some("_feedwatch_feeds")
        } else if line.contains("'--watch=[") {
            Some("_feedwatch_watches")
        } else if line.contains("name -- The sink'\\''s name in the config") {
            Some("_feedwatch_sinks")
        } else {
            None
        };
        if line.starts_with("if [ \"$funcstack[1]\" = \"_feedwatch\" ]") {
            out.push_str(ZSH_NAMES);
        }
        match completer {
            Some(c) if line.contains(":_default'") => {
                out.push_str(&line.replacen(":_default'", &format!(":{c}'"), 1));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `feedwatch names KIND`: the config's feeds, watches or sinks, one name a line.
pub fn names(config: &crate::config::Config, kind: &str) -> String {
    let names: Vec<&str> = match kind {
        "feeds" => config.feeds.iter().map(|f| f.name.as_str()).collect(),
        "watches" => config.watches.iter().map(|w| w.name.as_str()).collect(),
        _ => config.sinks.iter().map(|s| s.name.as_str()).collect(),
    };
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// Appended to clap's bash script: names after the commands and options that take them,
/// everything else from clap's `_feedwatch`.
const BASH_NAMES: &str = r#"
# Feed, watch and sink names, from the config given on the line (--config/-c) or the
# default one, through `feedwatch names`.
_feedwatch_names() {
    local config=() i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -c|--config) config=(--config "${COMP_WORDS[i+1]}") ;;
            --config=*) config=(--config "${COMP_WORDS[i]#--config=}") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${config[@]}" names "$1" 2>/dev/null
}
_feedwatch_with_names() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" kind="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -c|--config|--feed|--watch|--since|--until|--limit|--text|--file|--field|-o|--output) ((i++)) ;;
            -*) ;;
            *) cmd="$cmd ${COMP_WORDS[i]}" ;;
        esac
    done
    case "$prev" in
        --feed) kind=feeds ;;
        --watch) kind=watches ;;
        *)
            case "$cmd" in
                " poll" | " enable" | " pause" | " resume" | " feed remove") kind=feeds ;;
                " sinks test") kind=sinks ;;
            esac
            ;;
    esac
    if [[ -n $kind && $cur != -* ]]; then
        local IFS=$'
'
        COMPREPLY=($(compgen -W "$(_feedwatch_names "$kind")" -- "$cur"))
        return 0
    fi
    _feedwatch "$@"
}
complete -F _feedwatch_with_names -o bashdefault -o default feedwatch
"#;

/// Put into clap's zsh script, before its last lines.
const ZSH_NAMES: &str = r#"# Feed, watch and sink names from the config, through `feedwatch names` (the config of
# a --config/-c after the command, else $FEEDWATCH_CONFIG or the default one).
(( $+functions[_feedwatch_name_list] )) ||
_feedwatch_name_list() {
    local -a config
    local i
    for (( i = 1; i < ${#words}; i++ )); do
        case ${words[i]} in
            (-c|--config) config=(--config "${words[i+1]}") ;;
            (--config=*) config=(--config "${words[i]#--config=}") ;;
        esac
    done
    feedwatch "${config[@]}" names "$1" 2>/dev/null
}
_feedwatch_feeds() { local -a names; names=(${(f)"$(_feedwatch_name_list feeds)"}); compadd -a names }
_feedwatch_watches() { local -a names; names=(${(f)"$(_feedwatch_name_list watches)"}); compadd -a names }
_feedwatch_sinks() { local -a names; names=(${(f)"$(_feedwatch_name_list sinks)"}); compadd -a names }

"#;

/// Appended to clap's fish script.
const FISH_NAMES: &str = r#"
# Feed, watch and sink names from the config, through `feedwatch names`.
complete -c feedwatch -n "__fish_seen_subcommand_from poll enable pause resume remove" -f -a "(feedwatch names feeds 2>/dev/null)"
complete -c feedwatch -n "__fish_seen_subcommand_from sinks; and __fish_seen_subcommand_from test" -f -a "(feedwatch names sinks 2>/dev/null)"
complete -c feedwatch -l feed -x -a "(feedwatch names feeds 2>/dev/null)"
complete -c feedwatch -l watch -x -a "(feedwatch names watches 2>/dev/null)"
"#;
