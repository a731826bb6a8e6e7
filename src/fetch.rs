//! HTTP: one conditional GET of one feed, as a polite and defensive client.
//!
//! Conditional requests (ETag / Last-Modified), compressed transfer, connect/read/total
//! timeouts, a small redirect limit that refuses non-HTTP targets, and a cap on the body
//! counted after decompression, so a gzip bomb stops at the cap instead of in the allocator.
//! [`FetchError::is_transient`] is the one place that decides whether a failure is worth
//! retrying soon.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, redirect};
use url::Url;

use crate::config::FetchConfig;

/// The validators a server gave for a feed, sent back on the next poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a successful request returned.
#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing changed since the validators were issued.
    NotModified,
    Document(Box<Document>),
}

/// A 200 response, its body read in full (decompressed, within the cap).
#[derive(Debug)]
pub struct Document {
    pub body: Vec<u8>,
    /// The `Content-Type` header, for the charset and for telling HTML pages from feeds.
    pub content_type: Option<String>,
    /// Where the body came from after redirects; relative links resolve against it.
    pub url: Url,
    pub validators: Validators,
    /// Set when every redirect on the way was permanent (301/308): the feed has moved.
    pub moved_to: Option<Url>,
    /// How long the server says the document stays fresh (`Cache-Control: max-age`,
    /// else `Expires`): polling sooner only fetches the same copy.
    pub fresh_for: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (Retry-After: {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: StatusCode,
        /// The server's `Retry-After`, on 429 and 503.
        retry_after: Option<Duration>,
    },
    #[error("body larger than the {0}-byte limit (fetch.max_body)")]
    TooLarge(u64),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// Timeouts, connection failures, 5xx, 408 and 429 are worth retrying soon; the rest
    /// need the outlet or the operator to change something.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Connect(_) | FetchError::Other(_) => true,
            FetchError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            FetchError::TooLarge(_) | FetchError::Redirect(_) => false,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// 410 Gone: the outlet removed the feed; polling it again is pointless.
    pub fn is_gone(&self) -> bool {
        matches!(self, FetchError::Status { status, .. } if *status == StatusCode::GONE)
    }
}

/// A shared HTTP client configured from `[fetch]`.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
    max_redirects: usize,
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> anyhow::Result<Fetcher> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
            ),
        );
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(headers)
            // redirects are followed by hand, to tell permanent moves from temporary ones
            .redirect(redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Fetcher {
            client,
            max_body: config.max_body,
            timeout: config.timeout,
            max_redirects: config.max_redirects,
        })
    }

    /// GETs `url`, conditionally on `validators`, following up to `max_redirects`
    /// redirects; the whole exchange, redirects and body included, is bounded by `timeout`.
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch_inner(url, validators)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn fetch_inner(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut url = url.clone();
        let mut permanent = true;
        let mut hops = 0;
        let mut resp = loop {
            let mut req = self.client.get(url.clone());
            if let Some(etag) = &validators.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
            let resp = req.send().await.map_err(|e| self.classify(e))?;
            let status = resp.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                break resp;
            }
            let Some(location) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Err(FetchError::Redirect(format!(
                    "HTTP {status} without a Location header"
                )));
            };
            let next = url.join(location).map_err(|e| {
                FetchError::Redirect(format!(
                    "HTTP {status} to an invalid Location {location:?}: {e}"
                ))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::Redirect(format!(
                    "redirect to a {}: URL ({next})",
                    next.scheme()
                )));
            }
            hops += 1;
            if hops > self.max_redirects {
                return Err(FetchError::Redirect(format!(
                    "more than {} redirects (fetch.max_redirects), last to {next}",
                    self.max_redirects
                )));
            }
            permanent &=
                status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::PERMANENT_REDIRECT;
            url = next;
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err(FetchError::Status {
                status,
                retry_after,
            });
        }
        let headers = resp.headers();
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = text(header::CONTENT_TYPE);
        let validators = Validators {
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
        };
        let fresh_for = freshness(
            text(header::CACHE_CONTROL).as_deref(),
            text(header::EXPIRES).as_deref(),
            text(header::DATE).as_deref(),
        );
        // The length on the wire is a lower bound of the decompressed length.
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge(self.max_body));
        }
        // sized once when the length is known: no copies while growing
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Document(Box::new(Document {
            body,
            content_type,
            moved_to: (hops > 0 && permanent).then(|| url.clone()),
            url,
            validators,
            fresh_for,
        })))
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_redirect() {
            FetchError::Redirect(chain(&e))
        } else if e.is_connect() {
            FetchError::Connect(chain(&e))
        } else if e.is_decode() {
            FetchError::Other(format!("cannot decompress the body: {}", chain(&e)))
        } else {
            FetchError::Other(chain(&e))
        }
    }
}

pub use crate::redact::{redact_url, redact_urls_in};

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = when.signed_duration_since(chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// Freshness from `Cache-Control: max-age` (or `s-maxage`), else `Expires` minus `Date`.
pub fn freshness(
    cache_control: Option<&str>,
    expires: Option<&str>,
    date: Option<&str>,
) -> Option<Duration> {
    if let Some(cc) = cache_control {
        let lower = cc.to_ascii_lowercase();
        if lower
            .split(',')
            .any(|d| matches!(d.trim(), "no-cache" | "no-store"))
        {
            return None;
        }
        let age = lower.split(',').find_map(|d| {
            let (k, v) = d.trim().split_once('=')?;
            matches!(k.trim(), "max-age" | "s-maxage")
                .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        });
        if let Some(age) = age {
            return Some(Duration::from_secs(age));
        }
    }
    let expires = chrono::DateTime::parse_from_rfc2822(expires?.trim()).ok()?;
    let now = date
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let secs = expires.signed_duration_since(now).num_seconds();
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}

/// The error and its causes, without reqwest's repetition of the URL.
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.without_url_ref().to_string()
    } else {
        parts.join(": ")
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let s = self.to_string();
        match self.url() {
            Some(u) => s.replace(&format!(" for url ({u})"), ""),
            None => s,
        }
    }
}

/// reqwest is built without a bundled crypto provider (ring is lighter to build than
/// aws-lc); install ring's once per process.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(300)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(
            d > Duration::from_secs(290) && d <= Duration::from_secs(300),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn freshness_from_cache_headers() {
        assert_eq!(
            freshness(Some("public, max-age=900"), None, None),
            Some(Duration::from_secs(900))
        );
        assert_eq!(freshness(Some("no-cache, max-age=900"), None, None), None);
        assert_eq!(
            freshness(
                None,
                Some("Fri, 27 Nov 2026 12:30:00 GMT"),
                Some("Fri, 27 Nov 2026 12:00:00 GMT")
            ),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(freshness(None, Some("0"), None), None);
    }

    #[test]
    fn transient_errors() {
        let status = |s: u16| FetchError::Status {
            status: StatusCode::from_u16(s).unwrap(),
            retry_after: None,
        };
        for s in [500, 502, 503, 408, 429] {
            assert!(status(s).is_transient(), "{s}");
        }
        for s in [404, 403, 410] {
            assert!(!status(s).is_transient(), "{s}");
        }
        assert!(status(410).is_gone());
        assert!(FetchError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!FetchError::TooLarge(1).is_transient());
    }
}
