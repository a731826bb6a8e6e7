//! Full text for truncated feeds (`full_text = true`): for each new item of such a feed, the
//! page its link names is fetched (with the feeds' [`Fetcher`]: same timeouts, body cap and
//! redirect rules, under the same per-host limits), its main text extracted by
//! [`dom_smoothie`] (a port of Mozilla's Readability: navigation, header, footer, asides
//! and link-dense blocks such as "related stories" are dropped) and matched as field
//! `article`.
//!
//! Timing: the poll waits for its new items' articles up to `fetch.full_text_wait`, then
//! commits; an article that arrived is matched with the feed's text in that commit. One
//! that arrives later is attached to the stored item by [`Store::attach_article`], which
//! raises only the alerts of watches that the item had not matched (the alert ids are the
//! same as the poll's, so no alert is raised twice). A page that fails is retried (up to
//! [`ATTEMPTS`] in all, for transient failures) and then counted in the feed's article
//! health ([`Store::record_article`]); it is never the feed's failure.
//!
//! Storage: the extracted text, cleaned of control characters and capped at
//! [`MAX_ARTICLE`] bytes, is kept with the item ([`crate::store::StoredItem::article`]),
//! deflated and base64-encoded when that is shorter ([`pack`]), so that `rematch` matches it
//! too.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};
use url::Url;

use crate::config::FeedConfig;
use crate::deliver::Wakes;
use crate::fetch::{Fetched, Fetcher, Validators, redact_url};
use crate::hosts::Hosts;
use crate::metrics::Metrics;
use crate::parse::Item;
use crate::store::{Incoming, Store};
use crate::watch::{Fired, ItemText, Matcher};

/// Longest article text kept and matched, in bytes of UTF-8 (cut at a character boundary).
pub const MAX_ARTICLE: usize = 32 * 1024;

/// Requests for one article at most: the first and two retries, for transient failures
/// (timeouts, connection errors, 5xx, 408, 429).
pub const ATTEMPTS: usize = 3;

/// The pause before each retry (a server's Retry-After, if longer, up to a minute).
const RETRY_AFTER: [Duration; ATTEMPTS - 1] = [Duration::from_secs(2), Duration::from_secs(10)];

/// Prefix of a packed article that is deflated and base64-encoded.
const DEFLATED: &str = "deflate:";
/// Prefix of a packed article kept as it is (compression did not pay).
const PLAIN: &str = "text:";

/// What fetching articles needs, shared by all polls.
pub struct Articles {
    fetcher: Fetcher,
    hosts: Arc<Hosts>,
    store: Arc<Store>,
    matcher: Arc<Matcher>,
    metrics: Arc<Metrics>,
    /// Article requests in flight at once, over all feeds (`fetch.concurrency`).
    in_flight: Arc<Semaphore>,
    /// `fetch.full_text_wait`.
    wait: Duration,
    /// The running service's deliverer, woken when a late article raises alerts.
    wakes: Arc<Mutex<Option<Arc<Wakes>>>>,
}

/// The articles of one poll's new items: those that arrived within the wait (already
/// matched into their items' `fired`), and those still on their way.
#[derive(Default)]
pub struct Fetching {
    arrived: Vec<(usize, String)>,
    pending: Vec<(usize, JoinHandle<Result<String, String>>)>,
}

impl Articles {
    pub fn new(
        fetcher: Fetcher,
        hosts: Arc<Hosts>,
        store: Arc<Store>,
        matcher: Arc<Matcher>,
        metrics: Arc<Metrics>,
        config: &crate::config::FetchConfig,
    ) -> Articles {
        Articles {
            fetcher,
            hosts,
            store,
            matcher,
            metrics,
            in_flight: Arc::new(Semaphore::new(config.concurrency)),
            wait: config.full_text_wait,
            wakes: Arc::default(),
        }
    }

    /// Has the alerts that late articles raise delivered by the running service's
    /// deliverer (without it, the next poll's delivery takes them).
    pub fn wake_deliverer(&self, wakes: Arc<Wakes>) {
        *self.wakes.lock().unwrap_or_else(|p| p.into_inner()) = Some(wakes);
    }

    /// Fetches the articles of the new items of `incoming` that may alert (a first poll's
    /// backlog never alerts: its pages are not fetched) and waits for them up to
    /// `fetch.full_text_wait`. Each article that arrives in time is matched with its item's
    /// text: the item's `fired` then includes the watches its article fires.
    pub async fn fetch(&self, feed: &FeedConfig, incoming: &mut [Incoming]) -> Fetching {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut started = Vec::new();
        for (i, inc) in incoming.iter().enumerate() {
            let Some(url) = article_url(&inc.item) else {
                continue;
            };
            // an item seen before (in any feed) has had its chance
            if !inc.may_alert || !self.store.is_new(&inc.keys).unwrap_or(false) {
                continue;
            }
            let task = self.fetch_one(feed.name.clone(), url);
            let span = tracing::warn_span!("article", feed = %feed.name);
            started.push((i, tokio::spawn(task.instrument(span))));
        }
        let mut out = Fetching::default();
        for (i, mut handle) in started {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(Ok(text))) => {
                    let inc = &mut incoming[i];
                    inc.fired = fire(
                        &self.matcher,
                        std::slice::from_ref(&feed.name),
                        &inc.item,
                        Some(&text),
                    );
                    out.arrived.push((i, text));
                }
                Ok(Ok(Err(_))) => {} // recorded in the feed's article health
                Ok(Err(join)) => warn!("article task failed: {join}"),
                Err(_) => out.pending.push((i, handle)),
            }
        }
        out
    }

    /// After the poll's commit: stores the articles that arrived in time with their items,
    /// and leaves a task to attach each late one when it arrives (raising the alerts of
    /// watches that only its article fires).
    pub fn store(&self, feed: &FeedConfig, incoming: &[Incoming], fetching: Fetching) {
        for (i, text) in fetching.arrived {
            let inc = &incoming[i];
            if let Err(e) = self
                .store
                .attach_article(&inc.keys, &pack(&text), &[], false)
            {
                warn!(feed = %feed.name, "storing an article: {e}");
            }
        }
        for (i, handle) in fetching.pending {
            let inc = &incoming[i];
            let (keys, item, may_alert) = (inc.keys.clone(), inc.item.clone(), inc.may_alert);
            let (store, matcher, metrics, wakes) = (
                Arc::downgrade(&self.store),
                self.matcher.clone(),
                self.metrics.clone(),
                self.wakes.clone(),
            );
            let name = feed.name.clone();
            let late = async move {
                let feed = name;
                let Ok(Ok(text)) = handle.await else {
                    return; // a failure is recorded in the feed's article health
                };
                // the store may be closing (a compaction waits for every handle to go)
                let Some(store) = store.upgrade() else { return };
                let fired = fire(&matcher, std::slice::from_ref(&feed), &item, Some(&text));
                match store.attach_article(&keys, &pack(&text), &fired, may_alert) {
                    Ok(raised) => {
                        for a in &raised {
                            info!(watch = %a.watch, alert = %a.id, title = %a.title, "alert (article)");
                            metrics.alert(&a.watch);
                        }
                        let wakes = wakes.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        if let (false, Some(w)) = (raised.is_empty(), wakes) {
                            w.deliver.notify_one();
                        }
                    }
                    Err(e) => warn!("storing a late article: {e}"),
                }
            };
            let span = tracing::warn_span!("article", feed = %feed.name);
            tokio::spawn(late.instrument(span));
        }
    }

    /// Fetches and extracts one article, retrying transient failures, and records the
    /// outcome in the feed's article health. It holds no handle on the store while it
    /// waits, so that a compaction is not held up by a slow page.
    fn fetch_one(
        &self,
        feed: String,
        url: Url,
    ) -> impl Future<Output = Result<String, String>> + Send + 'static {
        let (fetcher, hosts, store) = (
            self.fetcher.clone(),
            self.hosts.clone(),
            Arc::downgrade(&self.store),
        );
        let in_flight = self.in_flight.clone();
        async move {
            let result = fetch_article(&fetcher, &hosts, &in_flight, &url).await;
            let shown = redact_url(url.as_str());
            let outcome = result.as_ref().map(|_| ()).map_err(|e| {
                let message = crate::text::sanitize(&format!("article {shown}: {e}"));
                warn!("{message}; the item alerts on what the feed had");
                message
            });
            let recorded = store
                .upgrade()
                .map(|s| s.record_article(&feed, outcome.clone(), chrono::Utc::now()));
            if let Some(Err(e)) = recorded {
                warn!("recording an article's outcome: {e}");
            }
            result.map_err(|_| outcome.unwrap_err())
        }
    }
}

/// The watches that fire on an item of `feed` (the one-name list the watches' `feeds`
/// filter is checked against), with its article text when there is one (as extracted: the
/// shown text its matches point into). The poll matches a new item through this too.
pub fn fire(matcher: &Matcher, feed: &[String], item: &Item, article: Option<&str>) -> Vec<Fired> {
    let norm = article.map(crate::text::normalize);
    let (content, shown_content) = (item.matched_content(), item.shown_content());
    matcher.check_item_with(
        Some(feed),
        &ItemText {
            title: &item.title,
            summary: &item.summary,
            content: &content,
            categories: &item.categories,
            link: item.link.as_deref(),
            shown: [item.shown_title(), item.shown_summary(), &shown_content],
            shown_categories: item.shown_categories(),
        },
        norm.as_deref().zip(article),
    )
}

/// The item's link if it is an http(s) URL.
fn article_url(item: &Item) -> Option<Url> {
    let url = Url::parse(item.link.as_deref()?.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// One article: fetched (up to [`ATTEMPTS`] times) and extracted. The error names the step.
async fn fetch_article(
    fetcher: &Fetcher,
    hosts: &Hosts,
    in_flight: &Semaphore,
    url: &Url,
) -> Result<String, String> {
    let mut attempt = 0;
    let doc = loop {
        let fetched = {
            let _global = in_flight.acquire().await.expect("never closed");
            let _host = hosts.acquire(url).await;
            fetcher.fetch(url, &Validators::default()).await
        };
        attempt += 1;
        match fetched {
            Ok(Fetched::Document(doc)) => break doc,
            Ok(Fetched::NotModified) => {
                return Err("fetching: 304 Not Modified to a plain GET".into());
            }
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                let pause = RETRY_AFTER[attempt - 1]
                    .max(e.retry_after().unwrap_or_default())
                    .min(Duration::from_secs(60));
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                return Err(format!(
                    "fetching: {e} (attempt {attempt} of at most {ATTEMPTS})"
                ));
            }
        }
    };
    let content_type = doc.content_type.as_deref().unwrap_or("text/html");
    if !is_html(content_type) {
        return Err(format!(
            "extracting: not an HTML page ({})",
            crate::text::sanitize(content_type)
        ));
    }
    // extraction is CPU-bound: off the async threads, a permit per core
    let _parsing = crate::parse::parsing_permit().await;
    let base = doc.url.clone();
    tokio::task::spawn_blocking(move || {
        let html = decode_html(&doc.body, doc.content_type.as_deref());
        extract(&html, &base)
    })
    .await
    .map_err(|e| format!("extracting: the task failed: {e}"))?
}

/// Whether a Content-Type may be an HTML page (servers label pages loosely: any text or
/// XML type is tried).
fn is_html(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    let t = t.split(';').next().unwrap_or("").trim();
    t.is_empty() || t.starts_with("text/") || t.contains("html") || t.ends_with("xml")
}

/// The main text of an HTML page: Readability's article, control characters cleaned,
/// paragraphs kept apart by spaces, capped at [`MAX_ARTICLE`] bytes.
pub fn extract(html: &str, url: &Url) -> Result<String, String> {
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Formatted,
        ..Default::default()
    };
    let mut reader = dom_smoothie::Readability::new(html, Some(url.as_str()), Some(config))
        .map_err(|e| format!("extracting: {e}"))?;
    let article = reader.parse().map_err(|e| format!("extracting: {e}"))?;
    let text = crate::text::clean(&article.text_content);
    if text.is_empty() {
        return Err("extracting: the page has no main text".into());
    }
    Ok(cap_bytes(text, MAX_ARTICLE))
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cap_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// An HTML body as text: the charset of its Content-Type, else of a `<meta>` in its first
/// KiB, else UTF-8 when it is valid UTF-8, else what [`chardetng`] guesses.
pub fn decode_html(body: &[u8], content_type: Option<&str>) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let label = |s: &str| {
        let at = s.find("charset=")? + "charset=".len();
        let rest = s[at..].trim_start_matches(['"', '\'']);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        encoding_rs::Encoding::for_label(&rest.as_bytes()[..end])
    };
    let encoding = content_type
        .map(str::to_ascii_lowercase)
        .and_then(|c| label(&c))
        .or_else(|| label(&head))
        .unwrap_or_else(|| match std::str::from_utf8(body) {
            Ok(_) => encoding_rs::UTF_8,
            Err(_) => {
                let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                d.feed(body, true);
                d.guess(None, chardetng::Utf8Detection::Allow)
            }
        });
    encoding.decode(body).0.into_owned()
}

/// An article as stored: deflated and base64-encoded when that is shorter than the text.
pub fn pack(text: &str) -> String {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let deflated = z
        .write_all(text.as_bytes())
        .and_then(|()| z.finish())
        .map(|b| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b));
    match deflated {
        Ok(b) if b.len() + DEFLATED.len() < text.len() => format!("{DEFLATED}{b}"),
        _ => format!("{PLAIN}{text}"),
    }
}

/// The text of a [`pack`]ed article; `None` if it is damaged.
pub fn unpack(packed: &str) -> Option<String> {
    if let Some(text) = packed.strip_prefix(PLAIN) {
        return Some(text.to_string());
    }
    let b = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(packed.strip_prefix(DEFLATED)?)
        .ok()?;
    let mut text = String::new();
    // never more than the cap (and a little): a damaged record cannot inflate without bound
    flate2::read::DeflateDecoder::new(&b[..])
        .take(4 * MAX_ARTICLE as u64)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head><title>Drills</title></head><body>
<header><nav><a href="/">Home</a> <a href="/w">World</a> <a href="/t">Navigationterm</a></nav></header>
<article><h1>Drills in the north</h1>
<p>The alliance held exercises on Tuesday near the border, officials said in a statement.</p>
<p>Observers from several countries attended; the drills involved infantry and air units.</p>
<p>In the fourth paragraph the Bodyterm appears, as outlets often put the detail late.</p>
<p>Further exercises are planned for next spring, according to the defence ministry.</p>
</article>
<aside class="related"><h3>Related stories</h3><ul><li><a href="/a">Relatedterm one</a></li><li><a href="/b">Another story</a></li></ul></aside>
<footer><p>© Outlet. Footerterm. All rights reserved.</p></footer>
</body></html>"#;

    /// The article body is kept; navigation, related stories and the footer are not.
    #[test]
    fn extracts_the_main_text_only() {
        let url = Url::parse("http://127.0.0.1/a").unwrap();
        let text = extract(PAGE, &url).unwrap();
        assert!(text.contains("Bodyterm appears"), "{text}");
        for not in ["Navigationterm", "Relatedterm", "Footerterm"] {
            assert!(!text.contains(not), "{not} in {text}");
        }
        assert!(!text.contains('\n'), "{text:?}");
    }

    #[test]
    fn only_pages_are_extracted() {
        assert!(is_html("text/html; charset=utf-8"));
        assert!(is_html("application/xhtml+xml"));
        assert!(is_html("text/plain"));
        assert!(!is_html("application/pdf"));
        assert!(!is_html("image/jpeg"));
    }

    #[test]
    fn long_text_is_capped_at_a_char_boundary() {
        let s = cap_bytes("ё".repeat(MAX_ARTICLE), MAX_ARTICLE + 1);
        assert_eq!(s.len(), MAX_ARTICLE);
        assert!(cap_bytes("abc".into(), 10) == "abc");
    }

    /// Packing round-trips; a real article is stored compressed, and smaller.
    #[test]
    fn pack_round_trips_and_compresses() {
        let article = "Учения ОДКБ пройдут в Армении; всё готово, сообщили в штабе. ".repeat(60);
        let packed = pack(&article);
        assert!(packed.starts_with(DEFLATED));
        assert!(
            packed.len() < article.len() / 2,
            "{} of {}",
            packed.len(),
            article.len()
        );
        assert_eq!(unpack(&packed).as_deref(), Some(article.as_str()));
        assert_eq!(pack("short"), "text:short");
        assert_eq!(unpack("text:short").as_deref(), Some("short"));
        assert_eq!(unpack("deflate:!!"), None);
    }

    #[test]
    fn charset_from_header_meta_or_bytes() {
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Учения");
        assert_eq!(
            decode_html(&cp1251, Some("text/html; charset=windows-1251")),
            "Учения"
        );
        let mut page = b"<meta charset=\"windows-1251\">".to_vec();
        page.extend_from_slice(&cp1251);
        assert!(decode_html(&page, Some("text/html")).ends_with("Учения"));
        assert_eq!(decode_html("ё".as_bytes(), None), "ё");
    }
}
