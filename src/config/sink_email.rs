//! `kind = "email"`: SMTP (`smtp://host:port` with STARTTLS required, opportunistic or
//! off, or `smtps://host:port`), its login, and who the mail is from and to.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::de::DeTable;
use url::Url;

use super::SinkKind;
use super::reader::Reader;

/// Whether an `smtp://` connection must, may or must not upgrade with STARTTLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starttls {
    /// Refuse to send unless the server offers STARTTLS (the default).
    Required,
    /// Upgrade when the server offers it, send in clear text otherwise.
    Opportunistic,
    /// Never upgrade: a server on loopback or a trusted network only.
    Off,
}

/// `kind = "email"`: one mail per alert, or per digest.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailSink {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte.
    pub implicit_tls: bool,
    /// For `smtp://`.
    pub starttls: Starttls,
    pub username: Option<String>,
    /// From `password_file`.
    pub password: Option<String>,
    /// A mailbox: `feedwatch@example.org` or `feedwatch <feedwatch@example.org>`.
    pub from: String,
    pub to: Vec<String>,
    /// PEM certificates trusted besides the system's (`ca_file`).
    pub ca_pem: Option<Vec<u8>>,
}

impl EmailSink {
    /// For messages and `check`: where it goes, without the password.
    pub fn describe(&self) -> String {
        format!(
            "email {}://{}:{}{} from {} to {}",
            if self.implicit_tls { "smtps" } else { "smtp" },
            self.host,
            self.port,
            match (self.implicit_tls, self.starttls) {
                (true, _) => "",
                (false, Starttls::Required) => " (STARTTLS required)",
                (false, Starttls::Opportunistic) => " (STARTTLS if offered)",
                (false, Starttls::Off) => " (no TLS)",
            },
            self.from,
            self.to.join(", ")
        )
    }
}

impl Reader<'_> {
    pub(super) fn email_sink(
        &mut self,
        t: &DeTable<'_>,
        key: &str,
        at: usize,
        base: Option<&Path>,
    ) -> Option<SinkKind> {
        let smtp = self.required(t, key, "smtp", "the server, e.g. smtp = \"smtp://mail.example.org:587\" or \"smtps://mail.example.org:465\"", at);
        let server = smtp.and_then(|s| {
            let at = t.get("smtp").map_or(at, |v| v.span().start);
            let parsed = Url::parse(&s).ok().and_then(|u| {
                let implicit = match u.scheme() {
                    "smtp" => false,
                    "smtps" => true,
                    _ => return None,
                };
                let host = u.host_str()?.trim_matches(['[', ']']).to_string();
                let port = u.port().unwrap_or(if implicit { 465 } else { 587 });
                Some((host, port, implicit))
            });
            if parsed.is_none() {
                self.error(
                    at,
                    &format!("{key}.smtp"),
                    format!("{s:?} is not smtp://host:port or smtps://host:port"),
                );
            }
            parsed
        });
        let starttls = match self.string(t, key, "starttls") {
            None => Some(Starttls::Required),
            Some((s, span)) => match s.as_str() {
                "required" => Some(Starttls::Required),
                "opportunistic" => Some(Starttls::Opportunistic),
                "off" => Some(Starttls::Off),
                _ => {
                    self.error(span.start, &format!("{key}.starttls"), format!("{s:?} is not a STARTTLS mode; use \"required\", \"opportunistic\" or \"off\""));
                    None
                }
            },
        };
        let username = self.string(t, key, "username").map(|(u, _)| u);
        let password = self.secret_file(t, key, "password_file", base).flatten();
        if username.is_some() != t.contains_key("password_file") {
            self.error(
                at,
                &format!("{key}.username"),
                "give username and password_file together, or neither",
            );
        }
        let mailbox = |r: &mut Self, name: &str, s: &str, at: usize| {
            let ok = lettre::message::Mailbox::from_str(s).is_ok();
            if !ok {
                r.error(
                    at,
                    &format!("{key}.{name}"),
                    format!("{s:?} is not an email address"),
                );
            }
            ok
        };
        let from = self.required(
            t,
            key,
            "from",
            "the sender, e.g. from = \"feedwatch <feedwatch@example.org>\"",
            at,
        );
        let from = from.filter(|f| {
            let at = t.get("from").map_or(at, |v| v.span().start);
            mailbox(self, "from", f, at)
        });
        let to = self.string_list(t, key, "to").unwrap_or_default();
        let mut to_ok = !to.is_empty();
        if to.is_empty() && !t.contains_key("to") {
            self.error(
                at,
                &format!("{key}.to"),
                "missing: to = [\"analyst@example.org\"]",
            );
        }
        for (addr, span) in &to {
            to_ok &= mailbox(self, "to", addr, span.start);
        }
        let ca_pem = self.string(t, key, "ca_file").and_then(|(f, span)| {
            let path = match base {
                Some(b) if Path::new(&f).is_relative() => b.join(&f),
                _ => PathBuf::from(&f),
            };
            match std::fs::read(&path) {
                Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => {
                    Some(pem)
                }
                Ok(_) => {
                    self.error(
                        span.start,
                        &format!("{key}.ca_file"),
                        format!("{} holds no PEM certificate", path.display()),
                    );
                    None
                }
                Err(e) => {
                    self.error(
                        span.start,
                        &format!("{key}.ca_file"),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        });
        let (host, port, implicit_tls) = server?;
        if !to_ok {
            return None;
        }
        Some(SinkKind::Email(EmailSink {
            host,
            port,
            implicit_tls,
            starttls: starttls?,
            username,
            password,
            from: from?,
            to: to.into_iter().map(|(s, _)| s).collect(),
            ca_pem,
        }))
    }
}
