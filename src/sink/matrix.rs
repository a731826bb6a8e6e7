//! `kind = "matrix"`: an `m.room.message` with a plain and an HTML body, sent with
//! `PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}`. The transaction id is
//! the alert id (a digest: a hash of its alert ids), so a retried send is the same
//! message to the homeserver, never a second one.

use super::{Failure, http};
use crate::config::MatrixSink;
use crate::message::{Markup, Message};

/// Matrix events are limited to 65,536 bytes; the two bodies share it.
const MAX_CHARS: usize = 12_000;

pub(super) async fn send(
    client: &reqwest::Client,
    m: &MatrixSink,
    msg: &Message<'_>,
) -> Result<String, Failure> {
    let body = serde_json::json!({
        "msgtype": "m.text",
        "body": msg.render(Markup::Plain, MAX_CHARS)?,
        "format": "org.matrix.custom.html",
        "formatted_body": msg.render(Markup::MatrixHtml, MAX_CHARS)?,
    });
    let txn = msg.key();
    let mut url = m.homeserver.clone();
    url.path_segments_mut()
        .map_err(|()| Failure::from("the homeserver URL cannot take a path".to_string()))?
        .pop_if_empty()
        .extend([
            "_matrix",
            "client",
            "v3",
            "rooms",
            &m.room,
            "send",
            "m.room.message",
            &txn,
        ]);
    let shown = format!("PUT {}", crate::redact::redact_url(url.as_str()));
    http::answer(
        &shown,
        http::json(client.put(url).bearer_auth(&m.token), &body)
            .send()
            .await,
    )
    .await
}
