//! The `[[sinks]]` kinds that reach people: `ntfy`, `telegram`, `matrix`, `slack`,
//! `discord`, and their keys. Secrets (tokens, a chat webhook's URL) come from the config
//! or from files, and never appear in [`super::SinkKind::describe`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use url::Url;

use super::SinkKind;
use super::reader::Reader;

/// `kind = "ntfy"`: a push to an ntfy topic.
#[derive(Clone, PartialEq, Eq)]
pub struct NtfySink {
    /// The server, `https://ntfy.sh` by default.
    pub url: Url,
    pub topic: String,
    /// An access token (`token_file`), sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// 1 (min) to 5 (max); `None`: the server's default (3).
    pub priority: Option<u8>,
    /// ntfy tags (emoji short codes show as icons).
    pub tags: Vec<String>,
}

impl NtfySink {
    /// `url` unless the sink says otherwise.
    pub const DEFAULT_URL: &str = "https://ntfy.sh";
}

/// `kind = "telegram"`: a bot's `sendMessage` to one chat.
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramSink {
    /// The Bot API, `https://api.telegram.org` by default.
    pub api_url: Url,
    /// The bot token (`token_file`); it travels in the request path.
    pub token: String,
    /// A chat id (negative for groups) or `@channelname`, as written.
    pub chat_id: String,
    /// At most this many messages to this chat.
    pub rate: Rate,
}

impl TelegramSink {
    /// `api_url` unless the sink says otherwise.
    pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

    /// Telegram's limits: 1 message per second to a chat, 20 per minute to a group (a
    /// negative chat id).
    pub fn default_rate(chat_id: &str) -> Rate {
        if chat_id.starts_with('-') {
            Rate {
                count: 20,
                per: Duration::from_secs(60),
            }
        } else {
            Rate {
                count: 1,
                per: Duration::from_secs(1),
            }
        }
    }
}

/// `rate = "N/PERIOD"`: at most `count` messages per `per`, spaced evenly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The least time between two messages.
    pub fn gap(&self) -> Duration {
        self.per / self.count.max(1)
    }

    /// `"10/s"`, `"20/min"`, `"20/1m"`, `"100/h"`.
    pub fn parse(s: &str) -> Option<Rate> {
        let (count, per) = s.split_once('/')?;
        let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
        let per = per.trim();
        let per = match per {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => humantime::parse_duration(per).ok()?,
        };
        (!per.is_zero()).then_some(Rate { count, per })
    }
}

/// `kind = "matrix"`: an `m.room.message` to one room.
#[derive(Clone, PartialEq, Eq)]
pub struct MatrixSink {
    pub homeserver: Url,
    /// An access token (`token_file`).
    pub token: String,
    /// The room id, `!opaque:server`.
    pub room: String,
}

/// ntfy's priority names, and the numbers it also accepts.
fn ntfy_priority(s: &str) -> Option<u8> {
    Some(match s {
        "min" | "1" => 1,
        "low" | "2" => 2,
        "default" | "3" => 3,
        "high" | "4" => 4,
        "max" | "urgent" | "5" => 5,
        _ => return None,
    })
}

impl Reader<'_> {
    /// The kinds of this file, `None` (and errors recorded) when a table is not valid.
    pub(super) fn people_sink(
        &mut self,
        kind: &str,
        t: &DeTable<'_>,
        key: &str,
        at: usize,
        base: Option<&Path>,
    ) -> Option<SinkKind> {
        match kind {
            "ntfy" => {
                let url = self.http_url(t, key, "url", NtfySink::DEFAULT_URL);
                let topic = self.required(
                    t,
                    key,
                    "topic",
                    "a topic, e.g. topic = \"feedwatch-alerts\"",
                    at,
                );
                let token = self.secret_file(t, key, "token_file", base);
                let priority = self.string(t, key, "priority").and_then(|(p, span)| {
                    let n = ntfy_priority(&p);
                    if n.is_none() {
                        self.error(
                            span.start,
                            &format!("{key}.priority"),
                            format!("{p:?} is not an ntfy priority; use min, low, default, high or max (urgent)"),
                        );
                    }
                    n
                });
                let tags = self
                    .string_list(t, key, "tags")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                Some(SinkKind::Ntfy(NtfySink {
                    url: url?,
                    topic: topic?,
                    token: token.flatten(),
                    priority,
                    tags,
                }))
            }
            "telegram" => {
                let api_url = self.http_url(t, key, "api_url", TelegramSink::DEFAULT_API_URL);
                let token = self.required_secret(
                    t,
                    key,
                    "token_file",
                    "the bot token from @BotFather",
                    at,
                    base,
                );
                let chat_id = self.chat_id(t, key, at);
                let rate = match self.string(t, key, "rate") {
                    Some((r, span)) => match Rate::parse(&r) {
                        Some(r) => Some(r),
                        None => {
                            self.error(
                                span.start,
                                &format!("{key}.rate"),
                                format!("{r:?} is not a rate; write messages per period, e.g. \"1/s\" or \"20/min\""),
                            );
                            None
                        }
                    },
                    None => None,
                };
                let chat_id = chat_id?;
                Some(SinkKind::Telegram(TelegramSink {
                    api_url: api_url?,
                    token: token?,
                    rate: rate.unwrap_or_else(|| TelegramSink::default_rate(&chat_id)),
                    chat_id,
                }))
            }
            "matrix" => {
                let homeserver = match t.get("homeserver") {
                    Some(_) => self.http_url(t, key, "homeserver", ""),
                    None => {
                        self.error(at, &format!("{key}.homeserver"), "missing: a matrix sink needs homeserver = \"https://matrix.example.org\"");
                        None
                    }
                };
                let token = self.required_secret(
                    t,
                    key,
                    "token_file",
                    "an access token of the sending account",
                    at,
                    base,
                );
                let room = self.required(
                    t,
                    key,
                    "room",
                    "the room id, e.g. room = \"!abcdef:example.org\"",
                    at,
                );
                let room = room.filter(|r| {
                    let ok = r.starts_with('!') && r.contains(':');
                    if !ok {
                        let at = t.get("room").map_or(at, |v| v.span().start);
                        self.error(at, &format!("{key}.room"), format!("{r:?} is not a room id; use the id (\"!opaque:server\", in the room's settings under Advanced), not an alias"));
                    }
                    ok
                });
                Some(SinkKind::Matrix(MatrixSink {
                    homeserver: homeserver?,
                    token: token?,
                    room: room?,
                }))
            }
            "slack" | "discord" => {
                let url = match (t.get("url"), t.get("url_file")) {
                    (Some(_), Some(v)) => {
                        self.error(
                            v.span().start,
                            &format!("{key}.url_file"),
                            "give url or url_file, not both",
                        );
                        None
                    }
                    (Some(_), None) => self.http_url(t, key, "url", ""),
                    (None, Some(v)) => {
                        let at = v.span().start;
                        match self.secret_file(t, key, "url_file", base).flatten() {
                            Some(u) => match Url::parse(&u) {
                                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                                _ => {
                                    self.error(
                                        at,
                                        &format!("{key}.url_file"),
                                        "the file does not hold an http(s) URL",
                                    );
                                    None
                                }
                            },
                            None => None,
                        }
                    }
                    (None, None) => {
                        self.error(
                            at,
                            &format!("{key}.url"),
                            format!(
                                "missing: a {kind} sink needs its incoming-webhook url, or url_file"
                            ),
                        );
                        None
                    }
                };
                let url = url?;
                Some(if kind == "slack" {
                    SinkKind::Slack { url }
                } else {
                    SinkKind::Discord { url }
                })
            }
            _ => unreachable!("people_sink is called with its kinds only"),
        }
    }

    /// An http(s) URL at `name`, or `default` when the key is absent.
    pub(super) fn http_url(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        default: &str,
    ) -> Option<Url> {
        let (u, at) = match self.string(t, key, name) {
            Some((u, span)) => (u, span.start),
            None if t.contains_key(name) => return None,
            None => return Url::parse(default).ok(),
        };
        match Url::parse(&u) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.error(
                    at,
                    &format!("{key}.{name}"),
                    format!("{u:?} is not an http(s) URL"),
                );
                None
            }
        }
    }

    /// A string that must be there and not be empty.
    pub(super) fn required(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        what: &str,
        at: usize,
    ) -> Option<String> {
        match self.string(t, key, name) {
            Some((s, _)) if !s.trim().is_empty() => Some(s),
            Some((_, span)) => {
                self.error(
                    span.start,
                    &format!("{key}.{name}"),
                    format!("empty; give {what}"),
                );
                None
            }
            None => {
                if !t.contains_key(name) {
                    self.error(
                        at,
                        &format!("{key}.{name}"),
                        format!("missing: give {what}"),
                    );
                }
                None
            }
        }
    }

    /// A secret read from the file `name` names; must be there.
    pub(super) fn required_secret(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        what: &str,
        at: usize,
        base: Option<&Path>,
    ) -> Option<String> {
        match self.secret_file(t, key, name, base) {
            Some(s) => s,
            None => {
                self.error(
                    at,
                    &format!("{key}.{name}"),
                    format!("missing: a file holding {what}"),
                );
                None
            }
        }
    }

    /// `None`: the key is absent; `Some(None)`: present but unusable (error recorded);
    /// otherwise the file's content without its final line break. Relative paths are
    /// relative to the config file.
    pub(super) fn secret_file(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        name: &str,
        base: Option<&Path>,
    ) -> Option<Option<String>> {
        if !t.contains_key(name) {
            return None;
        }
        let (f, span) = self.string(t, key, name)?;
        let path = match base {
            Some(b) if Path::new(&f).is_relative() => b.join(&f),
            _ => PathBuf::from(&f),
        };
        Some(match std::fs::read_to_string(&path) {
            Ok(s) => {
                let s = s.trim_end_matches(['\r', '\n']).to_string();
                if s.trim().is_empty() {
                    self.error(
                        span.start,
                        &format!("{key}.{name}"),
                        format!("{} is empty", path.display()),
                    );
                    None
                } else {
                    Some(s)
                }
            }
            Err(e) => {
                self.error(
                    span.start,
                    &format!("{key}.{name}"),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        })
    }

    /// `chat_id`: an integer (negative for a group), or `"@channelname"`.
    fn chat_id(&mut self, t: &DeTable<'_>, key: &str, at: usize) -> Option<String> {
        let Some(v) = t.get("chat_id") else {
            self.error(
                at,
                &format!("{key}.chat_id"),
                "missing: the chat's id (e.g. chat_id = -1001234567890) or \"@channelname\"",
            );
            return None;
        };
        let ok = match v.get_ref() {
            DeValue::Integer(i) => i.to_string().parse::<i64>().ok().map(|i| i.to_string()),
            DeValue::String(s) if s.starts_with('@') && s.len() > 1 => Some(s.to_string()),
            DeValue::String(s) => s.parse::<i64>().ok().map(|i| i.to_string()),
            _ => None,
        };
        if ok.is_none() {
            self.error(
                v.span().start,
                &format!("{key}.chat_id"),
                "expected a chat id (an integer, negative for a group) or \"@channelname\"",
            );
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_space_messages() {
        let r = Rate::parse("10/s").unwrap();
        assert_eq!(r.gap(), Duration::from_millis(100));
        assert_eq!(Rate::parse("20/min").unwrap().gap(), Duration::from_secs(3));
        assert_eq!(Rate::parse("20/1m"), Rate::parse("20/min"));
        assert_eq!(Rate::parse("0/s"), None);
        assert_eq!(Rate::parse("fast"), None);
        assert_eq!(
            TelegramSink::default_rate("-100123").gap(),
            Duration::from_secs(3)
        );
        assert_eq!(
            TelegramSink::default_rate("12345").gap(),
            Duration::from_secs(1)
        );
    }
}
