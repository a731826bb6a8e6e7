//! `[[sinks]]`: where alerts are delivered besides the alert log (a webhook, a command run
//! with the alert on stdin, or a service people read: see `sink_kinds`), and which of them
//! each receives.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::DeTable;
use url::Url;

use super::probe;
use super::reader::{Reader, section_keys};

/// What an empty (or blank) `secret` or `secret_file` is told.
const EMPTY_SECRET: &str = "an empty secret: anyone can forge an HMAC with an empty key, so \
     the signature would prove nothing; set a long random secret (e.g. from `openssl rand \
     -hex 32`), or remove it to send unsigned";
pub use super::sink_email::{EmailSink, Starttls};
pub use super::sink_kinds::{MatrixSink, NtfySink, Rate, TelegramSink};
use super::watches::WatchConfig;

/// The kinds `sink_kinds` reads.
const PEOPLE_KINDS: &[&str] = &["ntfy", "telegram", "matrix", "slack", "discord"];

/// Every value `kind` takes.
const ALL_KINDS: &[&str] = &[
    "webhook", "exec", "ntfy", "telegram", "matrix", "slack", "discord", "email",
];

/// Where alerts go besides the alert log.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    /// The watches whose alerts it receives; empty: all, and feed-health lines too.
    pub watches: Vec<String>,
    /// Send a digest (a JSON array) this often instead of each alert at once.
    pub every: Option<Duration>,
    /// For one request or one run of the command.
    pub timeout: Duration,
    /// A Jinja template for the message of the kinds that send text (not webhook, exec).
    pub template: Option<String>,
}

impl SinkConfig {
    /// `timeout` unless the sink says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
}

/// What a sink does with an alert.
#[derive(Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// POST the alert JSON; `secret` signs it (HMAC-SHA256 in X-Feedwatch-Signature).
    Webhook { url: Url, secret: Option<String> },
    /// Run the command with the alert JSON on stdin.
    Exec { command: Vec<String> },
    /// Push to an ntfy topic.
    Ntfy(NtfySink),
    /// A Telegram bot's message to a chat.
    Telegram(TelegramSink),
    /// A Matrix room message.
    Matrix(MatrixSink),
    /// A Slack incoming webhook (the URL is the secret).
    Slack { url: Url },
    /// A Discord webhook (the URL is the secret).
    Discord { url: Url },
    /// Mail over SMTP.
    Email(EmailSink),
}

/// Never prints the secret.
impl fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("name", &self.name)
            .field("kind", &self.kind.describe())
            .field("watches", &self.watches)
            .field("every", &self.every)
            .finish()
    }
}

impl SinkKind {
    /// For messages and `check`: what it is, without secrets.
    pub fn describe(&self) -> String {
        match self {
            SinkKind::Webhook { url, secret } => {
                format!(
                    "webhook {}{}",
                    crate::redact::redact_url(url.as_str()),
                    if secret.is_some() { " (signed)" } else { "" }
                )
            }
            SinkKind::Exec { command } => format!("exec {command:?}"),
            SinkKind::Ntfy(n) => format!(
                "ntfy {} topic {:?}{}",
                crate::redact::redact_url(n.url.as_str()),
                n.topic,
                if n.token.is_some() {
                    " (with token)"
                } else {
                    ""
                }
            ),
            SinkKind::Telegram(t) => format!(
                "telegram chat {} via {} (at most {}/{:?})",
                t.chat_id,
                crate::redact::redact_url(t.api_url.as_str()),
                t.rate.count,
                t.rate.per
            ),
            SinkKind::Matrix(m) => format!(
                "matrix room {} on {}",
                m.room,
                crate::redact::redact_url(m.homeserver.as_str())
            ),
            SinkKind::Slack { url } => format!("slack {}", secret_url(url)),
            SinkKind::Discord { url } => format!("discord {}", secret_url(url)),
            SinkKind::Email(e) => e.describe(),
        }
    }
}

/// The keys each kind takes besides `name`, `kind`, `watches`, `every`, `timeout`.
const KIND_KEYS: &[(&str, &[&str])] = &[
    ("webhook", &["url", "secret", "secret_file"]),
    ("exec", &["command"]),
    (
        "ntfy",
        &["url", "topic", "token_file", "priority", "tags", "template"],
    ),
    (
        "telegram",
        &["api_url", "token_file", "chat_id", "rate", "template"],
    ),
    ("matrix", &["homeserver", "token_file", "room", "template"]),
    ("slack", &["url", "url_file", "template"]),
    ("discord", &["url", "url_file", "template"]),
    (
        "email",
        &[
            "smtp",
            "starttls",
            "username",
            "password_file",
            "from",
            "to",
            "ca_file",
            "template",
        ],
    ),
];

impl Reader<'_> {
    /// A key that another kind takes is an error here: a `topic` on a telegram sink would
    /// otherwise be silently ignored.
    fn keys_of_kind(&mut self, t: &DeTable<'_>, key: &str, kind: &str) {
        let Some((_, own)) = KIND_KEYS.iter().find(|(k, _)| *k == kind) else {
            return;
        };
        for (k, _) in t.iter() {
            let name = k.get_ref().as_ref();
            let common = ["name", "kind", "watches", "every", "timeout"].contains(&name);
            // webhook and exec report `template` themselves, with the reason
            if common || own.contains(&name) || name == "template" {
                continue;
            }
            if KIND_KEYS.iter().any(|(_, keys)| keys.contains(&name)) {
                self.error(
                    k.span().start,
                    &format!("{key}.{name}"),
                    format!("not a key of a {kind} sink; its keys: {}", own.join(", ")),
                );
            }
        }
    }
}

/// A URL whose path is the secret (a chat webhook): only where it goes.
pub fn secret_url(url: &Url) -> String {
    format!(
        "{}://{}/*** (url redacted)",
        url.scheme(),
        url.host_str().unwrap_or("")
    )
}

impl Reader<'_> {
    pub(super) fn sinks(
        &mut self,
        doc: &DeTable<'_>,
        watches: &[WatchConfig],
        base: Option<&Path>,
    ) -> Vec<SinkConfig> {
        let mut sinks = Vec::new();
        let mut names = HashSet::new();
        let tables = if doc.contains_key("sinks") {
            self.array_of_tables(doc, "sinks").unwrap_or_default()
        } else {
            Vec::new()
        };
        for (i, (t, at)) in tables.into_iter().enumerate() {
            let key = format!("sinks[{i}]");
            self.check_keys(t, &key, &section_keys("sinks"));
            let name = self.name(t, &key, at, &mut names, "sink");
            let timeout = self
                .duration(t, &key, "timeout")
                .unwrap_or(SinkConfig::DEFAULT_TIMEOUT);
            let every = self.duration(t, &key, "every");
            let sink_watches: Vec<String> = self
                .string_list(t, &key, "watches")
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            for w in &sink_watches {
                if !watches.iter().any(|x| &x.name == w) {
                    let at = t.get("watches").map_or(at, |v| v.span().start);
                    self.error(
                        at,
                        &format!("{key}.watches"),
                        format!(
                            "no watch called {w:?}; watches: {}",
                            watches
                                .iter()
                                .map(|w| w.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
            let kind = match self
                .string(t, &key, "kind")
                .map(|(k, span)| (k, span.start))
            {
                Some((k, _)) if k == "webhook" => {
                    let url = match self.string(t, &key, "url") {
                        Some((u, span)) => match Url::parse(&u) {
                            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                            _ => {
                                self.error(
                                    span.start,
                                    &format!("{key}.url"),
                                    format!("{u:?} is not an http(s) URL"),
                                );
                                None
                            }
                        },
                        None => {
                            self.error(
                                at,
                                &format!("{key}.url"),
                                "missing: a webhook sink needs url = \"https://...\"",
                            );
                            None
                        }
                    };
                    let secret = match (
                        self.string(t, &key, "secret"),
                        self.string(t, &key, "secret_file"),
                    ) {
                        (Some(_), Some((_, span))) => {
                            self.error(
                                span.start,
                                &format!("{key}.secret_file"),
                                "give secret or secret_file, not both",
                            );
                            None
                        }
                        (Some((s, span)), None) => {
                            if s.trim().is_empty() {
                                self.error(span.start, &format!("{key}.secret"), EMPTY_SECRET);
                            }
                            Some(s)
                        }
                        (None, Some((f, span))) => {
                            let path = match base {
                                Some(b) if Path::new(&f).is_relative() => b.join(&f),
                                _ => PathBuf::from(&f),
                            };
                            match std::fs::read_to_string(&path) {
                                Ok(s) => {
                                    let s = s.trim_end_matches(['\r', '\n']).to_string();
                                    if s.trim().is_empty() {
                                        self.error(
                                            span.start,
                                            &format!("{key}.secret_file"),
                                            format!("{} holds {EMPTY_SECRET}", path.display()),
                                        );
                                    }
                                    Some(s)
                                }
                                Err(e) => {
                                    self.error(
                                        span.start,
                                        &format!("{key}.secret_file"),
                                        format!("cannot read {}: {e}", path.display()),
                                    );
                                    None
                                }
                            }
                        }
                        (None, None) => None,
                    };
                    url.map(|url| SinkKind::Webhook { url, secret })
                }
                Some((k, _)) if k == "exec" => {
                    let command = self.string_list(t, &key, "command").unwrap_or_default();
                    if let Some((program, span)) = command.first()
                        && let Err(e) = probe::program(program)
                    {
                        self.error(span.start, &format!("{key}.command"), e);
                    }
                    let command: Vec<String> = command.into_iter().map(|(s, _)| s).collect();
                    if command.is_empty() {
                        self.error(at, &format!("{key}.command"), "missing: an exec sink needs command = [\"/path/to/program\", \"arg\"...]");
                        None
                    } else {
                        Some(SinkKind::Exec { command })
                    }
                }
                Some((k, _)) if k == "email" => self.email_sink(t, &key, at, base),
                Some((k, _)) if PEOPLE_KINDS.contains(&k.as_str()) => {
                    self.people_sink(&k, t, &key, at, base)
                }
                Some((k, at)) => {
                    self.error(
                        at,
                        &format!("{key}.kind"),
                        format!(
                            "{k:?} is not a sink kind; use one of: {}",
                            ALL_KINDS.join(", ")
                        ),
                    );
                    None
                }
                None => {
                    self.error(
                        at,
                        &format!("{key}.kind"),
                        format!("missing: kind = one of {}", ALL_KINDS.join(", ")),
                    );
                    None
                }
            };
            let template = self.string(t, &key, "template").and_then(|(tpl, span)| {
                match crate::message::check_template(&tpl) {
                    Ok(()) => Some(tpl),
                    Err(e) => {
                        self.error(span.start, &format!("{key}.template"), e);
                        None
                    }
                }
            });
            if let (Some(kind), Some((_, span))) =
                (&kind, t.get("template").map(|v| ((), v.span())))
                && matches!(kind, SinkKind::Webhook { .. } | SinkKind::Exec { .. })
            {
                self.error(
                    span.start,
                    &format!("{key}.template"),
                    "webhook and exec sinks get the alert JSON, not a message: remove template",
                );
            }
            if let Some((k, _)) = t
                .get("kind")
                .and_then(|v| v.get_ref().as_str().map(|k| (k, ())))
            {
                self.keys_of_kind(t, &key, k);
            }
            if let (Some(name), Some(kind)) = (name, kind) {
                sinks.push(SinkConfig {
                    name,
                    kind,
                    watches: sink_watches,
                    every,
                    timeout,
                    template,
                });
            }
        }
        sinks
    }
}
