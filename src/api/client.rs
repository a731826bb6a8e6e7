//! The CLI's side of the API: rows page by page, waiting while the store is out
//! (compacting, reopening), and where to find the API of the process holding a store.

use super::*;

/// Hands each row of `view` to `each`, asking the API at `base` page by page (the CLI,
/// while the service holds the store).
pub async fn each_row(
    base: &str,
    view: &str,
    params: &[(&str, String)],
    each: &mut dyn FnMut(serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    crate::fetch::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut url = reqwest::Url::parse_with_params(&format!("{base}/api/{view}"), params)?;
    let deadline = Instant::now() + CLI_WAIT;
    loop {
        let resp = client.get(url.clone()).send().await.with_context(|| {
            format!(
                "the store is held by a running feedwatch, and its API at {base} does not answer"
            )
        })?;
        // compacting or reopening the store: ask again when it says, for a while
        if let Some(wait) = retry_after(&resp).filter(|_| Instant::now() < deadline) {
            tokio::time::sleep(wait.min(deadline - Instant::now())).await;
            continue;
        }
        if resp.status() == hyper::StatusCode::BAD_REQUEST.as_u16() {
            let said = resp.text().await.unwrap_or_default();
            return Err(crate::exit::usage_error(format!(
                "{view}: {}",
                said.trim_end()
            )));
        }
        if !resp.status().is_success() {
            anyhow::bail!(
                "{url}: HTTP {}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        let next = resp
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(next_link)
            .map(str::to_string);
        let body = resp.text().await?;
        for line in body.lines() {
            each(serde_json::from_str(line)?)?;
        }
        match next {
            Some(next) => url = url.join(&next)?,
            None => return Ok(()),
        }
    }
}

/// How long the CLI waits for a running service whose store is out (compacting it, or
/// opening it again) before it gives up with the service's reason.
pub const CLI_WAIT: Duration = Duration::from_secs(60);

/// The pause a 503 asks for with `Retry-After` (at most 5 s between two asks).
pub(super) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    if resp.status() != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let secs: u64 = resp
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.clamp(1, 5)))
}

/// The target of a `Link: <...>; rel="next"` header.
pub(super) fn next_link(link: &str) -> Option<&str> {
    let (target, rel) = link.split_once(';')?;
    (rel.trim() == "rel=\"next\"")
        .then(|| target.trim().strip_prefix('<')?.strip_suffix('>'))
        .flatten()
}

/// The address of the API of the process holding the store at `store_path`, if it said.
pub fn address_of(store_path: &std::path::Path) -> Option<SocketAddr> {
    std::fs::read_to_string(store_path.join(ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}
