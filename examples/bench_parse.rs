//! Per-item CPU outside the store: a fetched body of 50 items (the shape of the bench feeds,
//! bench/run.sh: title, link, guid, date, category, an HTML description of 60-140 words)
//! decoded, cut, parsed by feed-rs into normalised and shown text ([`parse::read`]), its
//! item keys and edit digests made ([`dedup`]) and the two bench watches matched
//! ([`article::fire`]), each step timed on its own. A fixed seed, so runs compare.
//!
//!     cargo run --release --example bench_parse [DOCUMENTS]        (default 400)
//!
//! Prints microseconds per item on one core's CPU time. Not a test: it asserts nothing
//! about time. docs/performance.md has the figures.

mod common;
use common::cpu_time;

use std::hint::black_box;
use std::time::Duration;

use feedwatch::config::{TermConfig, WatchConfig};
use feedwatch::schedule::XorShift as Rng;
use feedwatch::watch::Matcher;
use feedwatch::{article, dedup, parse};

const ITEMS: usize = 50;
const WORDS: &[&str] = &[
    "president",
    "summit",
    "leaders",
    "economy",
    "security",
    "cooperation",
    "ruble",
    "sanctions",
    "ministry",
    "parliament",
    "oil",
    "gas",
    "export",
    "region",
    "governor",
    "court",
    "ruling",
    "protest",
    "election",
    "border",
    "decision",
    "precise",
    "Francisco",
    "cisgender",
    "concise",
    "agreement",
    "talks",
    "pipeline",
    "wheat",
    "harvest",
    "inflation",
    "bank",
    "rate",
    "budget",
    "energy",
    "treaty",
    "alliance",
    "military",
    "exercise",
];
const RU: &[&str] = &[
    "президент",
    "саммит",
    "экономика",
    "безопасность",
    "решение",
];
const HITS: &[&str] = &[
    "Commonwealth of Independent States (CIS) leaders meet in St. Petersburg",
    "CSTO allies hold drills amid tensions",
    "Лидеры СНГ обсудили сотрудничество",
    "Учения ОДКБ прошли в Таджикистане",
];

fn words(rng: &mut Rng, from: &[&str], n: usize) -> String {
    (0..n).map(|_| rng.pick(from)).collect::<Vec<_>>().join(" ")
}

/// One RSS document of [`ITEMS`] items, as ../shared/bench/gen_feeds.py writes them.
fn document(rng: &mut Rng, f: usize) -> Vec<u8> {
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet {f}</title>\
         <link>https://outlet{f}.example/</link><description>Synthetic news feed {f}</description>\n"
    );
    for i in 0..ITEMS {
        let gid = format!("https://outlet{f}.example/news/{f}-{i}");
        let title = if rng.below(33) == 0 {
            rng.pick(HITS).to_string()
        } else {
            let n = 6 + rng.below(7);
            let mut t = words(rng, WORDS, n);
            if rng.below(20) == 0 {
                t = format!("{t} {}", words(rng, RU, 4));
            }
            t
        };
        let n = 60 + rng.below(81);
        let body = words(rng, WORDS, n);
        let desc = format!(
            "&lt;p&gt;{body}&lt;/p&gt;&lt;p&gt;&lt;u&gt;related&lt;/u&gt; &lt;a href=&quot;{gid}/more&quot;&gt;more&lt;/a&gt;&lt;/p&gt;"
        );
        doc.push_str(&format!(
            "<item><title>{title}</title><link>{gid}</link>\n<guid isPermaLink=\"true\">{gid}</guid>\
             <pubDate>Sun, 01 Nov 2026 {:02}:{:02}:00 +0000</pubDate>\n<category>News</category>\n\
             <description>{desc}</description></item>",
            rng.below(24),
            rng.below(60)
        ));
    }
    doc.push_str("\n</channel></rss>\n");
    doc.into_bytes()
}

fn watch(name: &str, terms: &[&str]) -> WatchConfig {
    WatchConfig::any(name, terms.iter().map(|t| TermConfig::words(t)).collect())
}

fn main() {
    let documents: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    let mut rng = Rng(0xFEED_0BAD_5EED_0001);
    let docs: Vec<Vec<u8>> = (0..documents).map(|f| document(&mut rng, f)).collect();
    let texts: Vec<String> = docs
        .iter()
        .map(|d| String::from_utf8(d.clone()).expect("the bench documents are UTF-8"))
        .collect();
    let mb = docs.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let matcher = Matcher::new(&[
        watch("cis", &["CIS", "Commonwealth of Independent States", "СНГ"]),
        watch("csto", &["CSTO", "ОДКБ"]),
    ])
    .expect("the bench watches compile");
    let base = url::Url::parse("https://outlet.example/rss").unwrap();
    let feed = vec!["f".to_string()];
    let (mut parse_t, mut keys_t, mut match_t) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut fired = 0;
    // an unreadable clock counts as 0: the figures then say so
    let cpu = || cpu_time().unwrap_or_default();
    for doc in docs {
        let t0 = cpu();
        let parsed = parse::read(doc, &base, Some("application/rss+xml"), 1000).expect("parses");
        let t1 = cpu();
        let policy = dedup::policy(&parsed.items);
        let keys = dedup::keys("f", &parsed.items, policy);
        let digests: Vec<String> = parsed.items.iter().map(dedup::text_digest).collect();
        black_box((keys, digests));
        let t2 = cpu();
        for item in &parsed.items {
            fired += article::fire(&matcher, &feed, item, None).len();
        }
        let t3 = cpu();
        parse_t += t1 - t0;
        keys_t += t2 - t1;
        match_t += t3 - t2;
    }
    let items = (documents * ITEMS) as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / items;
    println!("{documents} documents x {ITEMS} items ({mb:.1} MB), one thread, CPU time per item:");
    println!(
        "  decode + cut + parse (feed-rs, text) {:>6.1} us",
        us(parse_t)
    );
    println!(
        "  keys + edit digest                    {:>6.1} us",
        us(keys_t)
    );
    println!(
        "  match (2 watches)                     {:>6.1} us",
        us(match_t)
    );
    println!(
        "  total                                 {:>6.1} us   ({fired} watches fired)",
        us(parse_t + keys_t + match_t)
    );
    // the parse step's parts, on the decoded documents: the best of 5 rounds each, as
    // other work on a shared machine only adds
    let mut best = [Duration::MAX; 5];
    let mut accepted = 0;
    for _ in 0..5 {
        let mut round = [Duration::ZERO; 5];
        accepted = 0;
        for text in &texts {
            let body = text.clone().into_bytes();
            let t0 = cpu();
            let read = parse::read(body, &base, None, 1000).expect("parses");
            let t1 = cpu();
            let doc = feedwatch::fastrss::parse(text, &base);
            let t2 = cpu();
            accepted += usize::from(doc.is_some());
            black_box((read, doc));
            let fast = parse::parse(text, &base, None).expect("parses");
            let t3 = cpu();
            let slow = parse::parse_with_feed_rs(text, &base, None).expect("parses");
            let t4 = cpu();
            assert!(
                fast.items == slow.items,
                "the fast path differs from feed-rs"
            );
            // parse::read as it was before the fast path: decode, cut, feed-rs
            let body = text.clone().into_bytes();
            let t5 = cpu();
            let decoded = feedwatch::decode::into_utf8(body, None);
            let cut = feedwatch::cut::first_items(&decoded.text, 1000);
            black_box(parse::parse_with_feed_rs(&cut.text, &base, None).expect("parses"));
            let t6 = cpu();
            for (r, d) in round
                .iter_mut()
                .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5])
            {
                *r += d;
            }
        }
        for (b, r) in best.iter_mut().zip(round) {
            *b = (*b).min(r);
        }
    }
    println!(
        "the parse step, best of 5 rounds ({accepted} of {documents} documents took the fast path):"
    );
    println!(
        "  decode + cut + parse                  {:>6.1} us",
        us(best[0])
    );
    println!(
        "  fast path, entries only               {:>6.1} us",
        us(best[1])
    );
    println!(
        "  fast path, to items                   {:>6.1} us",
        us(best[2])
    );
    println!(
        "  feed-rs forced, to items              {:>6.1} us",
        us(best[3])
    );
    println!(
        "  decode + cut + parse, feed-rs forced  {:>6.1} us",
        us(best[4])
    );
}
