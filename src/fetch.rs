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
    Document(Document),
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
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("HTTP {0}")]
    Status(StatusCode),
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
            FetchError::Status(s) => {
                s.is_server_error()
                    || *s == StatusCode::REQUEST_TIMEOUT
                    || *s == StatusCode::TOO_MANY_REQUESTS
            }
            FetchError::TooLarge(_) | FetchError::Redirect(_) => false,
        }
    }
}

/// A shared HTTP client configured from `[fetch]`.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> anyhow::Result<Fetcher> {
        install_crypto_provider();
        let max_redirects = config.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            if !matches!(attempt.url().scheme(), "http" | "https") {
                let scheme = attempt.url().scheme().to_string();
                attempt.error(format!("redirect to a {scheme}: URL"))
            } else if attempt.previous().len() > max_redirects {
                attempt.error(format!(
                    "more than {max_redirects} redirects (fetch.max_redirects)"
                ))
            } else {
                attempt.follow()
            }
        });
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
            .redirect(policy)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Fetcher {
            client,
            max_body: config.max_body,
            timeout: config.timeout,
        })
    }

    /// GETs `url`, conditionally on `validators`.
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut req = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| self.classify(e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status(status));
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
        let final_url = resp.url().clone();
        // The length on the wire is a lower bound of the decompressed length.
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Document(Document {
            body,
            content_type,
            url: final_url,
            validators,
        }))
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
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}
