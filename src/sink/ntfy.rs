//! `kind = "ntfy"`: one JSON publish (`POST` to the server's root) per alert or digest,
//! with the item's link as the click action. ntfy has no idempotency key: a retried
//! publish after a lost answer can show twice.

use super::{Failure, http};
use crate::config::NtfySink;
use crate::message::{Markup, Message};

/// ntfy's limit on a message body is 4,096 bytes; characters here, kept well under it
/// for Cyrillic's two bytes each.
const MAX_CHARS: usize = 2000;

pub(super) async fn send(
    client: &reqwest::Client,
    n: &NtfySink,
    msg: &Message<'_>,
) -> Result<String, Failure> {
    let mut body = serde_json::json!({
        "topic": n.topic,
        "title": msg.title(),
        "message": msg.render(Markup::Plain, MAX_CHARS)?,
    });
    if let Some(p) = n.priority {
        body["priority"] = p.into();
    }
    if !n.tags.is_empty() {
        body["tags"] = n.tags.clone().into();
    }
    if let Some(link) = msg.link() {
        body["click"] = link.into();
    }
    let mut req = http::json(client.post(n.url.clone()), &body);
    if let Some(token) = &n.token {
        req = req.bearer_auth(token);
    }
    let shown = format!(
        "POST {} (topic {})",
        crate::redact::redact_url(n.url.as_str()),
        n.topic
    );
    http::answer(&shown, req.send().await).await
}
