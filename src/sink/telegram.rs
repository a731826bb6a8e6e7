//! `kind = "telegram"`: a bot's `sendMessage` in HTML parse mode, spaced by a limiter per
//! chat (Telegram allows about 1 message a second to a chat, 20 a minute to a group).
//! The bot token travels in the request path: messages show `bot***`. Telegram has no
//! idempotency key: a retried send after a lost answer can show twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Failure, http};
use crate::config::TelegramSink;
use crate::message::{Markup, Message};

/// Telegram's limit on a message's text.
const MAX_CHARS: usize = 4096;

/// When each chat (API URL and chat id) may get its next message: shared by every sink of
/// the process, so two sinks to one chat share its limit.
static NEXT: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// Waits for the chat's turn under `gap`, and books the turn after it.
pub async fn take_turn(chat: &str, gap: Duration) {
    let at = {
        let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
        let map = next.get_or_insert_with(HashMap::new);
        let now = Instant::now();
        let at = map.get(chat).copied().filter(|t| *t > now).unwrap_or(now);
        map.insert(chat.to_string(), at + gap);
        at
    };
    tokio::time::sleep_until(at).await;
}

/// Books nothing before `wait` from now: the chat's limit as Telegram reported it (429).
fn hold(chat: &str, wait: Duration) {
    let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
    let map = next.get_or_insert_with(HashMap::new);
    let until = Instant::now() + wait;
    let slot = map.entry(chat.to_string()).or_insert(until);
    *slot = (*slot).max(until);
}

pub(super) async fn send(
    client: &reqwest::Client,
    t: &TelegramSink,
    msg: &Message<'_>,
) -> Result<String, Failure> {
    let chat_id: serde_json::Value = match t.chat_id.parse::<i64>() {
        Ok(n) => n.into(),
        Err(_) => t.chat_id.clone().into(),
    };
    let body = serde_json::json!({
        "chat_id": chat_id,
        "text": msg.render(Markup::TelegramHtml, MAX_CHARS)?,
        "parse_mode": "HTML",
        "link_preview_options": { "is_disabled": true },
    });
    let base = t.api_url.as_str().trim_end_matches('/');
    let url = format!("{base}/bot{}/sendMessage", t.token);
    let shown = format!(
        "POST {}/bot***/sendMessage (chat {})",
        crate::redact::redact_url(base),
        t.chat_id
    );
    let chat = format!("{base} {}", t.chat_id);
    take_turn(&chat, t.rate.gap()).await;
    let result = http::answer(&shown, http::json(client.post(url), &body).send().await).await;
    if let Err(Failure {
        retry_after: Some(wait),
        ..
    }) = &result
    {
        hold(&chat, *wait);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five turns under a 100 ms gap take at least 400 ms, and other chats do not wait.
    #[tokio::test]
    async fn turns_are_spaced_per_chat() {
        let started = Instant::now();
        for _ in 0..5 {
            take_turn("test-chat-a", Duration::from_millis(100)).await;
        }
        assert!(started.elapsed() >= Duration::from_millis(400));
        let other = Instant::now();
        take_turn("test-chat-b", Duration::from_secs(60)).await;
        assert!(other.elapsed() < Duration::from_millis(50));
    }
}
