//! What an HTTP sink makes of its receiver's answer: one place decides delivered, failed,
//! or "wait this long first" (429 with `Retry-After`, Telegram's `retry_after`, Matrix's
//! `retry_after_ms`, Discord's fractional `retry_after`).

use std::time::Duration;

use super::{Failure, MAX_RETRY};

/// Most of a receiver's answer kept for messages and `sinks test`, in characters.
const SHOWN_BODY: usize = 300;

/// The outcome of a request shown as `shown` (`POST https://host/...`, secrets left out):
/// `Ok` with the status and the start of the body when it is a success; a redirect is a
/// failure (sinks never follow one); a 429 or 503 carries how long the receiver asked to
/// wait.
pub(super) async fn answer(
    shown: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<String, Failure> {
    // without_url: a chat webhook's or Telegram's secret travels in the URL
    let resp = sent.map_err(|e| Failure::from(format!("{shown}: {}", e.without_url())))?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
        return Err(Failure::from(format!(
            "{shown}: HTTP {status}, a redirect to {}; sinks do not follow redirects: set url to where the receiver is",
            location.map_or("no Location".to_string(), |l| format!("{l:?}"))
        )));
    }
    let header_wait = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.bytes().await.unwrap_or_default();
    let text = crate::text::sanitize(&crate::text::cap(
        String::from_utf8_lossy(&body).trim(),
        SHOWN_BODY,
    ));
    if status.is_success() {
        return Ok(if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        });
    }
    let retry_after = if status.as_u16() == 429 || status.as_u16() == 503 {
        body_wait(&body).or(header_wait)
    } else {
        None
    }
    .map(|d| d.min(MAX_RETRY));
    Err(Failure {
        message: format!("{shown}: HTTP {status}: {text}"),
        retry_after,
    })
}

/// `req` with `body` as its JSON body.
pub(super) fn json(
    req: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    req.header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

/// The wait a JSON error body asks for: `parameters.retry_after` (Telegram, seconds),
/// `retry_after_ms` (Matrix), `retry_after` (Discord, seconds with a fraction).
pub(super) fn body_wait(body: &[u8]) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let secs = |x: &serde_json::Value| {
        x.as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY.as_secs_f64())))
    };
    if let Some(d) = secs(&v["parameters"]["retry_after"]) {
        return Some(d);
    }
    if let Some(ms) = v["retry_after_ms"].as_u64() {
        return Some(Duration::from_millis(ms).min(MAX_RETRY));
    }
    secs(&v["retry_after"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_read_from_each_services_error_body() {
        let tg = br#"{"ok":false,"error_code":429,"parameters":{"retry_after":7}}"#;
        assert_eq!(body_wait(tg), Some(Duration::from_secs(7)));
        let mx = br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#;
        assert_eq!(body_wait(mx), Some(Duration::from_millis(1500)));
        let dc = br#"{"message":"You are being rate limited.","retry_after":0.25}"#;
        assert_eq!(body_wait(dc), Some(Duration::from_millis(250)));
        assert_eq!(body_wait(br#"{"retry_after":1e9}"#), Some(MAX_RETRY));
        assert_eq!(body_wait(b"not json"), None);
    }
}
