//! Matching speed: 1,000 terms (Latin and Cyrillic, acronyms, words, stems and phrases, in
//! 100 watches, some with `all` and `not`) over 100 MB of already normalised generated news
//! text, on one thread; and, beside it, the speed of normalisation itself (`html_to_text`
//! over the same kind of text as HTML). Everything is generated from a fixed seed, so runs
//! compare.
//!
//!     cargo run --release --example match_bench [MB]
//!
//! Not a test: it prints figures and asserts nothing about time.

mod common;
use common::cpu_time;

use std::time::Instant;

use feedwatch::config::{TermConfig, WatchConfig};
// deterministic, so every run times the same text
use feedwatch::schedule::XorShift as Rng;
use feedwatch::text::{html_to_text, normalize};
use feedwatch::watch::{Field, Matcher};

const LATIN: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'k', 'l', 'm', 'n', 'o', 'p', 'r', 's', 't', 'u',
    'v', 'w', 'y', 'z',
];
const CYRILLIC: &[char] = &[
    'а', 'б', 'в', 'г', 'д', 'е', 'ж', 'з', 'и', 'к', 'л', 'м', 'н', 'о', 'п', 'р', 'с', 'т', 'у',
    'ф', 'х', 'ц', 'ч', 'ш', 'ы', 'я',
];

fn word(rng: &mut Rng, alphabet: &[char], min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    (0..n)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn acronym(rng: &mut Rng, alphabet: &[char]) -> String {
    word(rng, alphabet, 3, 5).to_uppercase()
}

/// 1,000 terms in 100 watches of 10: per watch, Latin and Cyrillic acronyms, words, a stem
/// and two- or three-word phrases; every tenth watch puts its last two terms in `not`, every
/// tenth (another) splits its terms into two `all` groups.
fn watches(rng: &mut Rng) -> (Vec<WatchConfig>, Vec<String>) {
    let mut all_terms = Vec::new();
    let mut watches = Vec::new();
    for w in 0..100 {
        let mut terms = Vec::new();
        for t in 0..10 {
            let alphabet = if t % 2 == 0 { LATIN } else { CYRILLIC };
            let (text, stem) = match t / 2 {
                0 => (acronym(rng, alphabet), false),
                1 => (capitalised(&word(rng, alphabet, 5, 10)), false),
                2 => (word(rng, alphabet, 6, 9), true),
                3 => (
                    format!(
                        "{} {}",
                        capitalised(&word(rng, alphabet, 4, 9)),
                        word(rng, alphabet, 4, 9)
                    ),
                    false,
                ),
                _ => (
                    format!(
                        "{} {} {}",
                        capitalised(&word(rng, alphabet, 4, 9)),
                        word(rng, alphabet, 2, 3),
                        capitalised(&word(rng, alphabet, 5, 10))
                    ),
                    false,
                ),
            };
            all_terms.push(text.clone());
            terms.push(TermConfig {
                stem,
                ..TermConfig::words(&text)
            });
        }
        let mut watch = WatchConfig::any(&format!("watch-{w}"), terms);
        if w % 10 == 3 {
            watch.not = watch.terms.split_off(8);
        } else if w % 10 == 7 {
            let second = watch.terms.split_off(5);
            watch.all = vec![std::mem::take(&mut watch.terms), second];
        }
        watches.push(watch);
    }
    (watches, all_terms)
}

/// A news-like text of about `bytes` bytes: sentences of common words from a Latin and a
/// Cyrillic vocabulary, with a watched term about every 400 words. Already normalised:
/// single spaces, no invisible characters, no ё.
fn text(rng: &mut Rng, terms: &[String], bytes: usize) -> String {
    let mut vocab: Vec<String> = Vec::new();
    for i in 0..4000 {
        let alphabet = if i % 2 == 0 { LATIN } else { CYRILLIC };
        vocab.push(word(rng, alphabet, 2, 11));
    }
    for w in [
        "the",
        "of",
        "and",
        "in",
        "to",
        "a",
        "said",
        "on",
        "for",
        "decision",
        "Francisco",
        "и",
        "в",
        "не",
        "на",
        "что",
        "с",
        "по",
    ] {
        for _ in 0..20 {
            vocab.push(w.to_string());
        }
    }
    let mut s = String::with_capacity(bytes + 256);
    let mut sentence = 0;
    while s.len() < bytes {
        let w: &str = if rng.below(400) == 0 {
            &terms[rng.below(terms.len())]
        } else {
            &vocab[rng.below(vocab.len())]
        };
        if sentence == 0 {
            s.push_str(&capitalised(w));
        } else {
            s.push_str(w);
        }
        sentence += 1;
        if sentence > 8 && rng.below(12) == 0 {
            s.push_str(". ");
            sentence = 0;
        } else if rng.below(10) == 0 {
            s.push_str(", ");
        } else {
            s.push(' ');
        }
    }
    s.truncate(s.trim_end().len());
    s
}

/// Cuts `text` into items of 2-6 KB (title + content), at spaces.
fn items(rng: &mut Rng, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let take = |rest: &str, n: usize| -> usize {
            if rest.len() <= n {
                return rest.len();
            }
            // a space is one byte, so the cut is always at a character boundary
            let bytes = &rest.as_bytes()[n..];
            bytes
                .iter()
                .position(|&b| b == b' ')
                .map_or(rest.len(), |i| n + i)
        };
        let t = take(rest, 60 + rng.below(60));
        let title = rest[..t].trim().to_string();
        rest = rest[t..].trim_start();
        let c = take(rest, 2000 + rng.below(4000));
        let content = rest[..c].trim().to_string();
        rest = rest[c..].trim_start();
        out.push((title, content));
    }
    out
}

/// The same kind of text as HTML: paragraphs, inline tags, links, entities.
fn html(rng: &mut Rng, items: &[(String, String)]) -> Vec<String> {
    items
        .iter()
        .map(|(_, content)| {
            let mut h = String::with_capacity(content.len() * 5 / 4);
            h.push_str("<p>");
            for (i, w) in content.split(' ').enumerate() {
                if i > 0 {
                    h.push_str(match rng.below(40) {
                        0 => "</p>\n<p>",
                        1 => "&nbsp;",
                        _ => " ",
                    });
                }
                match rng.below(30) {
                    0 => h.push_str(&format!("<b>{w}</b>")),
                    1 => h.push_str(&format!(
                        "<a href=\"https://outlet.example/{w}\" class=\"tag\">{w}</a>"
                    )),
                    2 => {
                        h.push_str(w);
                        h.push_str(" &amp;");
                    }
                    _ => h.push_str(w),
                }
            }
            h.push_str("</p>");
            h
        })
        .collect()
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Runs `f`, returning its result and (wall, on-CPU) seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f();
    let cpu = cpu.zip(cpu_time()).map(|(a, b)| (b - a).as_secs_f64());
    (out, wall.elapsed().as_secs_f64(), cpu)
}

/// "123.4 MB/s" on CPU time (the figure that counts), with wall-clock time beside it.
fn rate(bytes: usize, wall: f64, cpu: Option<f64>) -> String {
    match cpu {
        Some(cpu) => format!(
            "{:>7.1} MB/s  ({:.2} s on one core; wall clock {:.2} s, {:.1} MB/s)",
            mb(bytes) / cpu,
            cpu,
            wall,
            mb(bytes) / wall
        ),
        None => format!("{:>7.1} MB/s  ({wall:.2} s wall clock)", mb(bytes) / wall),
    }
}

fn main() {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let mut rng = Rng(0x5EED_F00D_CAFE_BABE);
    let (watches, terms) = watches(&mut rng);
    let started = Instant::now();
    let matcher = Matcher::new(&watches).expect("generated terms compile");
    let compile = started.elapsed();
    let corpus = text(&mut rng, &terms, megabytes * 1_000_000);
    let items = items(&mut rng, &corpus);
    drop(corpus);
    let bytes: usize = items.iter().map(|(t, c)| t.len() + c.len()).sum();
    // spot-check that the generator's text is what normalisation would give, and measure
    // its mix of scripts
    let (mut words, mut cyrillic) = (0usize, 0usize);
    for (t, c) in items.iter().step_by(97) {
        assert_eq!(&normalize(t), t, "generated titles are normalised");
        assert_eq!(&normalize(c), c, "generated contents are normalised");
        for w in c.split(' ') {
            words += 1;
            cyrillic += usize::from(w.chars().next().is_some_and(|ch| ch > '\u{3ff}'));
        }
    }
    println!(
        "{} terms in {} watches, compiled in {:.1?}; {} items, {:.1} MB of normalised text ({}% of words Cyrillic)",
        terms.len(),
        watches.len(),
        compile,
        items.len(),
        mb(bytes),
        cyrillic * 100 / words.max(1)
    );

    let feeds = ["bench".to_string()];
    let ((fired, matches), wall, cpu) = timed(|| {
        let (mut fired, mut matches) = (0usize, 0usize);
        for (title, content) in &items {
            let f = matcher.check(
                Some(&feeds),
                &[
                    (Field::Title, title.as_str()),
                    (Field::Content, content.as_str()),
                ],
            );
            fired += f.len();
            matches += f.iter().map(|f| f.matches.len()).sum::<usize>();
        }
        (fired, matches)
    });
    println!("matching:      {}", rate(bytes, wall, cpu));
    println!("               {fired} watches fired, {matches} matches");

    // normalisation over a fifth of the items as HTML (it is the slower stage per byte)
    let sample = &items[..items.len().div_ceil(5)];
    let pages = html(&mut rng, sample);
    let html_bytes: usize = pages.iter().map(String::len).sum();
    let (out_bytes, wall, cpu) =
        timed(|| pages.iter().map(|p| html_to_text(p).len()).sum::<usize>());
    println!("normalisation: {}", rate(html_bytes, wall, cpu));
    println!(
        "               html_to_text over {:.1} MB of HTML, {:.1} MB of text out",
        mb(html_bytes),
        mb(out_bytes)
    );
    // what parsing an item does now: the shown text and the normalised one, from one decoding
    let (out_bytes, wall, cpu) = timed(|| {
        pages
            .iter()
            .map(|p| {
                let decoded = feedwatch::text::html_decode(p);
                feedwatch::shown::tidy(&decoded).len() + normalize(&decoded).len()
            })
            .sum::<usize>()
    });
    println!("shown + normalised: {}", rate(html_bytes, wall, cpu));
    println!(
        "               html_decode, tidy and normalize over the same HTML, {:.1} MB out",
        mb(out_bytes)
    );
}
