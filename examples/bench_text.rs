//! Text speed: what every item's text goes through before it is matched and stored,
//! [`normalize`] (plain text), [`html_to_text`] and [`html_to_shown`] (HTML), over N MB of
//! generated item text in English, in Russian, and mixed with typographic characters
//! (no-break spaces, «», —, …) that NFKC changes. A fixed seed, so runs compare.
//!
//!     cargo run --release --example bench_text [MB]        (default 20)
//!
//! Prints MB/s on one core's CPU time (the figure that counts on a busy machine), wall
//! clock beside it. Not a test: it asserts nothing about time. docs/performance.md has the
//! figures.

mod common;
use common::cpu_time;

use std::hint::black_box;
use std::time::Instant;

use feedwatch::schedule::XorShift as Rng;
use feedwatch::shown::html_to_shown;
use feedwatch::text::{html_to_text, normalize};

const EN: &[&str] = &[
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
    "decision",
    "Francisco",
    "CIS",
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
    "Kremlin",
    "said,",
    "the",
    "of",
    "and",
    "in",
    "to",
    "a",
    "on.",
];
const RU: &[&str] = &[
    "президент",
    "саммит",
    "экономика",
    "безопасность",
    "сотрудничество",
    "решение",
    "граница",
    "СНГ",
    "ОДКБ",
    "всё",
    "учения",
    "прошли",
    "в",
    "и",
    "на",
    "Ёлка",
    "заявил,",
    "министерство",
    "бюджет.",
];
/// Characters that NFKC rewrites or that news typography uses around words.
const TYPO: &[&str] = &["\u{A0}", "«", "»", " — ", "…", "\u{2009}", "№"];

fn paragraph(rng: &mut Rng, words: &[&str], typo: bool) -> String {
    let n = 60 + rng.below(80);
    let mut p = String::new();
    for i in 0..n {
        if i > 0 {
            p.push_str(if typo && rng.below(12) == 0 {
                rng.pick(TYPO)
            } else {
                " "
            });
        }
        p.push_str(rng.pick(words));
    }
    p
}

/// An item's description as outlets write it (the bench feeds' shape): paragraphs, an
/// inline tag, a link with attributes, entities.
fn html(rng: &mut Rng, text: &str) -> String {
    let mut h = String::with_capacity(text.len() + 120);
    h.push_str("<p>");
    for (i, w) in text.split(' ').enumerate() {
        if i > 0 {
            h.push_str(match rng.below(40) {
                0 => "</p>\n<p>",
                1 => "&nbsp;",
                _ => " ",
            });
        }
        match rng.below(30) {
            0 => h.push_str(&format!("<b>{w}</b>")),
            1 => h.push_str(&format!("<a href=\"https://outlet.example/{i}\">{w}</a>")),
            2 => h.push_str("&amp;"),
            _ => h.push_str(w),
        }
    }
    h.push_str("</p><p><u>related</u> <a href=\"https://outlet.example/more\">more</a></p>");
    h
}

fn corpus(rng: &mut Rng, words: &[&str], typo: bool, bytes: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0;
    while total < bytes {
        let p = paragraph(rng, words, typo);
        total += p.len();
        out.push(p);
    }
    out
}

fn bench(name: &str, texts: &[String], f: impl Fn(&str) -> String) {
    let bytes: usize = texts.iter().map(String::len).sum();
    let (wall, cpu) = (Instant::now(), cpu_time());
    for t in texts {
        black_box(f(black_box(t)));
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu
        .zip(cpu_time())
        .map_or(wall, |(a, b)| (b - a).as_secs_f64());
    let mb = bytes as f64 / 1e6;
    println!(
        "{name:<34} {:>7.1} MB/s  ({mb:.0} MB, {cpu:.2} s CPU, {wall:.2} s wall)",
        mb / cpu
    );
}

fn main() {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let bytes = megabytes * 1_000_000;
    let mut rng = Rng(0x7E57_7E57_7E57_7E57);
    let en = corpus(&mut rng, EN, false, bytes);
    let ru = corpus(&mut rng, RU, false, bytes);
    let typo: Vec<String> = corpus(&mut rng, EN, true, bytes / 2)
        .into_iter()
        .chain(corpus(&mut rng, RU, true, bytes / 2))
        .collect();
    let to_html = |rng: &mut Rng, texts: &[String]| -> Vec<String> {
        texts.iter().map(|t| html(rng, t)).collect()
    };
    let (en_html, ru_html, typo_html) = (
        to_html(&mut rng, &en),
        to_html(&mut rng, &ru),
        to_html(&mut rng, &typo),
    );
    println!("{megabytes} MB of item text per row, one thread");
    bench("normalize, English", &en, normalize);
    bench("normalize, Russian", &ru, normalize);
    bench("normalize, typographic (NFKC)", &typo, normalize);
    bench("html_to_text, English", &en_html, html_to_text);
    bench("html_to_text, Russian", &ru_html, html_to_text);
    bench("html_to_text, typographic (NFKC)", &typo_html, html_to_text);
    bench("html_to_shown, English", &en_html, html_to_shown);
    bench("html_to_shown, Russian", &ru_html, html_to_shown);
}
