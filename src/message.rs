//! The text a people-facing sink sends: a small default message, or the sink's `template`
//! (Jinja syntax, rendered by minijinja), in the markup of the service it goes to.
//!
//! A template sees `alert` (the first alert: its alert-log object, plus `terms`: each
//! matched term once, with its snippet, and `feeds`: every feed that carried the story), `alerts` (all of
//! them: one, or a digest's), `digest` (true for a digest), `count` (how many alerts),
//! `more` (how many a too-long digest left out) and `sink` (the sink's name), and the
//! functions `link(url, text)` and `bold(text)`, which write the service's markup. Every
//! value is escaped for the service on output (HTML for Telegram and Matrix, `&<>` for
//! Slack, Markdown for Discord), so a feed's `<` or `&` can never become markup.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, Output, State};
use serde_json::Value as Json;

/// The default message: one alert in a few lines, a digest one line per alert.
pub const DEFAULT_TEMPLATE: &str = r#"{% if digest -%}
{{ bold(count ~ " alerts") }}
{%- for a in alerts %}
{% if a.kind == "match" %}[{{ a.watch }}] {{ link(a.link, a.title) }}{% else %}feed {{ a.feed }}: {{ a.state }}{% endif %}
{%- endfor %}
{%- if more %}
… and {{ more }} more{% endif %}
{%- elif alert.kind == "match" -%}
{{ bold("[" ~ alert.watch ~ "] " ~ alert.title) }}
{%- for m in alert.terms %}{% if loop.index <= 3 %}
{{ m.term }}: {{ m.snippet }}{% endif %}{% endfor %}
{%- if alert.link %}
{{ link(alert.link) }}{% endif %}
feed{% if alert.feeds and alert.feeds | length > 1 %}s{% endif %}: {{ alert.feeds | default([alert.feed]) | join(", ") }}
{%- else -%}
{{ bold("feed " ~ alert.feed ~ ": " ~ alert.state) }} since {{ alert.since }}
{%- if alert.error %}
{{ alert.error }}{% endif %}
{%- endif %}"#;

/// What a message is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Markup {
    /// Text as it is (ntfy, Matrix's `body`).
    Plain,
    /// Telegram's HTML parse mode: line breaks are newlines.
    TelegramHtml,
    /// Matrix's `formatted_body`: line breaks are `<br>`.
    MatrixHtml,
    /// Slack mrkdwn.
    Slack,
    /// Discord Markdown.
    Discord,
}

/// The alerts of one delivery, and how the sink wants them written.
pub struct Message<'a> {
    pub sink: &'a str,
    pub template: Option<&'a str>,
    /// Alert-log objects.
    pub alerts: &'a [Json],
    pub digest: bool,
}

impl Message<'_> {
    /// The message in `markup`, at most `max_chars` characters: a digest that is too long
    /// lists fewer alerts and says how many it left out.
    pub fn render(&self, markup: Markup, max_chars: usize) -> Result<String, String> {
        let env = environment(markup);
        let source = self.template.unwrap_or(DEFAULT_TEMPLATE);
        let tpl = env
            .template_from_str(source)
            .map_err(|e| format!("template: {e}"))?;
        let alerts: Vec<Json> = self.alerts.iter().map(with_terms).collect();
        let mut shown = alerts.len();
        loop {
            let ctx = minijinja::context! {
                alert => Value::from_serialize(alerts.first()),
                alerts => Value::from_serialize(&alerts[..shown]),
                digest => self.digest,
                count => self.alerts.len(),
                more => self.alerts.len() - shown,
                sink => self.sink,
            };
            let text = tpl
                .render(ctx)
                .map_err(|e| format!("rendering the template: {e}"))?;
            let text = text.trim().to_string();
            let text = if markup == Markup::MatrixHtml {
                text.replace('\n', "<br>\n")
            } else {
                text
            };
            if text.chars().count() <= max_chars || shown <= 1 {
                return Ok(crate::text::cap(&text, max_chars));
            }
            shown = (shown * 3 / 4).max(1);
        }
    }

    /// A short title: `feedwatch: WATCH` for one alert, `feedwatch: N alerts` for a digest.
    pub fn title(&self) -> String {
        match (self.digest, self.alerts.first()) {
            (false, Some(a)) if a["kind"] == "match" => {
                format!("feedwatch: {}", a["watch"].as_str().unwrap_or(""))
            }
            (false, Some(a)) => format!("feedwatch: feed {}", a["feed"].as_str().unwrap_or("")),
            _ => format!("feedwatch: {} alerts", self.alerts.len()),
        }
    }

    /// The first alert's link, for a click action.
    pub fn link(&self) -> Option<&str> {
        if self.digest {
            return None;
        }
        self.alerts.first().and_then(|a| a["link"].as_str())
    }

    /// The alert ids this message carries.
    pub fn ids(&self) -> Vec<&str> {
        self.alerts
            .iter()
            .filter_map(|a| a["id"].as_str())
            .collect()
    }

    /// Its idempotency key (Matrix's transaction id, the mail's Message-ID): the alert id;
    /// for a digest, `digest-` and a hash of its alert ids.
    pub fn key(&self) -> String {
        use sha2::{Digest, Sha256};
        match self.ids().as_slice() {
            [one] if !self.digest => (*one).to_string(),
            ids => {
                let hash = Sha256::digest(ids.join(",").as_bytes());
                let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("digest-{hex}")
            }
        }
    }

    /// A subject line: `[WATCH] title` for one alert, `feedwatch: N alerts` for a digest.
    pub fn title_line(&self) -> String {
        match (self.digest, self.alerts.first()) {
            (false, Some(a)) if a["kind"] == "match" => format!(
                "[{}] {}",
                a["watch"].as_str().unwrap_or(""),
                a["title"].as_str().unwrap_or("")
            ),
            _ => self.title(),
        }
    }
}

/// An alert with `terms` added: each matched term once, with the snippet of the first
/// field it matched in (an alert has a match per term and field).
fn with_terms(alert: &Json) -> Json {
    let mut alert = alert.clone();
    let mut terms: Vec<Json> = Vec::new();
    if let Some(matches) = alert["matches"].as_array() {
        for m in matches {
            if !terms.iter().any(|t| t["term"] == m["term"]) {
                terms.push(serde_json::json!({
                    "term": m["term"], "snippet": m["snippet"], "field": m["field"],
                }));
            }
        }
    }
    if let Some(obj) = alert.as_object_mut() {
        obj.insert("terms".into(), Json::Array(terms));
    }
    alert
}

/// `template`'s syntax, checked when the config is read.
pub fn check_template(source: &str) -> Result<(), String> {
    let env = environment(Markup::Plain);
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| format!("not a valid template: {e}"))
}

/// `text` escaped for `markup`.
pub fn escape(markup: Markup, text: &str) -> String {
    match markup {
        Markup::Plain => text.to_string(),
        Markup::TelegramHtml | Markup::MatrixHtml => {
            html_escape::encode_double_quoted_attribute(text).into_owned()
        }
        Markup::Slack => text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        Markup::Discord => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
    }
}

fn environment(markup: Markup) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(move |out: &mut Output, _: &State, value: &Value| {
        let written = if value.is_safe() {
            write!(out, "{value}")
        } else if value.is_none() || value.is_undefined() {
            Ok(())
        } else {
            out.write_str(&escape(markup, &value.to_string()))
        };
        written.map_err(|_| Error::new(ErrorKind::WriteFailure, "writing the message"))
    });
    env.add_function("bold", move |text: Value| {
        let t = escape(markup, &text.to_string());
        Value::from_safe_string(match markup {
            Markup::Plain => t,
            Markup::TelegramHtml | Markup::MatrixHtml => format!("<b>{t}</b>"),
            Markup::Slack => format!("*{t}*"),
            Markup::Discord => format!("**{t}**"),
        })
    });
    env.add_function("link", move |url: Value, text: Option<Value>| {
        let url = if url.is_none() || url.is_undefined() {
            String::new()
        } else {
            url.to_string()
        };
        let text = text.map(|t| t.to_string());
        Value::from_safe_string(link(markup, &url, text.as_deref()))
    });
    env
}

/// A link in `markup`; without a URL, just the text.
fn link(markup: Markup, url: &str, text: Option<&str>) -> String {
    if url.is_empty() {
        return escape(markup, text.unwrap_or(""));
    }
    let shown = escape(markup, text.unwrap_or(url));
    match markup {
        Markup::TelegramHtml | Markup::MatrixHtml => {
            format!("<a href=\"{}\">{shown}</a>", escape(markup, url))
        }
        Markup::Slack => format!("<{}|{shown}>", escape(markup, url)),
        // Discord and plain text: the bare URL, which both make clickable
        Markup::Plain | Markup::Discord => match text {
            Some(_) => format!("{shown} {url}"),
            None => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(title: &str) -> Json {
        serde_json::json!({
            "kind": "match", "id": "abc", "watch": "csto", "feed": "moscow-times",
            "title": title, "link": "https://example.org/a?x=1&y=2",
            "matches": [{"term": "ОДКБ", "snippet": "… ОДКБ <и> СНГ & …", "text": "ОДКБ"}],
        })
    }

    #[test]
    fn default_message_escapes_for_each_markup() {
        let alerts = [alert("Moscow <b> & Минск")];
        let m = Message {
            sink: "s",
            template: None,
            alerts: &alerts,
            digest: false,
        };
        let html = m.render(Markup::TelegramHtml, 4096).unwrap();
        assert_eq!(
            html,
            "<b>[csto] Moscow &lt;b&gt; &amp; Минск</b>\nОДКБ: … ОДКБ &lt;и&gt; СНГ &amp; …\n\
             <a href=\"https://example.org/a?x=1&amp;y=2\">https://example.org/a?x=1&amp;y=2</a>\n\
             feed: moscow-times"
        );
        let plain = m.render(Markup::Plain, 4096).unwrap();
        assert!(plain.starts_with("[csto] Moscow <b> & Минск\n"), "{plain}");
        let slack = m.render(Markup::Slack, 4096).unwrap();
        assert!(
            slack.starts_with("*[csto] Moscow &lt;b&gt; &amp; Минск*"),
            "{slack}"
        );
        let discord = m.render(Markup::Discord, 4096).unwrap();
        assert!(
            discord.starts_with("**\\[csto\\] Moscow <b\\> & Минск**"),
            "{discord}"
        );
    }

    #[test]
    fn a_long_digest_lists_fewer_and_says_how_many_more() {
        let alerts: Vec<Json> = (0..100).map(|i| alert(&format!("story {i}"))).collect();
        let m = Message {
            sink: "s",
            template: None,
            alerts: &alerts,
            digest: true,
        };
        let text = m.render(Markup::Plain, 1000).unwrap();
        assert!(text.chars().count() <= 1000);
        assert!(text.starts_with("100 alerts\n[csto] story 0 "), "{text}");
        assert!(text.contains("more"), "{text}");
    }

    #[test]
    fn templates_are_checked_and_rendered() {
        assert!(check_template("{{ alert.title ").is_err());
        let alerts = [alert("A & B")];
        let m = Message {
            sink: "phone",
            template: Some("{{ sink }}: {{ alert.title }} ({{ count }})"),
            alerts: &alerts,
            digest: false,
        };
        assert_eq!(
            m.render(Markup::MatrixHtml, 100).unwrap(),
            "phone: A &amp; B (1)"
        );
    }

    /// The template shown in docs/alerts.md renders.
    #[test]
    fn the_documented_template_renders() {
        let doc = include_str!("../docs/alerts.md");
        let start = doc.find("template = \"\"\"").unwrap() + 14;
        let source = &doc[start..start + doc[start..].find("\"\"\"").unwrap()];
        check_template(source).unwrap();
        let alerts = [alert("A & B")];
        let m = Message {
            sink: "s",
            template: Some(source),
            alerts: &alerts,
            digest: false,
        };
        assert_eq!(
            m.render(Markup::TelegramHtml, 4096).unwrap(),
            "<b>csto</b> <a href=\"https://example.org/a?x=1&amp;y=2\">A &amp; B</a>"
        );
    }
}
