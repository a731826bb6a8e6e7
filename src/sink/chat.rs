//! `kind = "slack"` and `kind = "discord"`: their incoming webhooks. The URL is the
//! secret, so messages name only its host. Neither takes an idempotency key.

use url::Url;

use super::{Failure, http};
use crate::message::{Markup, Message};

/// Which chat's webhook format.
#[derive(Clone, Copy)]
pub(super) enum Chat {
    Slack,
    Discord,
}

pub(super) async fn send(
    client: &reqwest::Client,
    url: &Url,
    chat: Chat,
    msg: &Message<'_>,
) -> Result<String, Failure> {
    let body = match chat {
        // Slack cuts text at 40,000 characters; links unfurled would bury the alert
        Chat::Slack => serde_json::json!({
            "text": msg.render(Markup::Slack, 39_000)?,
            "unfurl_links": false,
            "unfurl_media": false,
        }),
        // Discord refuses content over 2,000 characters; a feed's "@everyone" pings no one
        Chat::Discord => serde_json::json!({
            "content": msg.render(Markup::Discord, 2000)?,
            "allowed_mentions": { "parse": [] },
        }),
    };
    let shown = format!("POST {}", crate::config::secret_url(url));
    http::answer(
        &shown,
        http::json(client.post(url.clone()), &body).send().await,
    )
    .await
}
