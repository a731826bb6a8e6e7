//! What full text (`full_text = true`) costs per item: for each saved article page given,
//! the page's size, the main text extracted ([`feedwatch::article::extract`], capped at
//! 32 KiB), the text as stored ([`feedwatch::article::pack`]: deflated and base64-encoded
//! when shorter) and the extraction time; then the mean stored bytes per item, which is
//! what an item of a `full_text` feed adds to its record in the store (before sled's own
//! overhead).
//!
//! cargo run --release --example article_cost -- PAGE.html...

use std::time::Instant;

fn main() {
    let pages: Vec<String> = std::env::args().skip(1).collect();
    if pages.is_empty() {
        eprintln!("usage: article_cost PAGE.html...");
        std::process::exit(2);
    }
    let url = url::Url::parse("https://example.org/news/story").unwrap();
    let (mut n, mut text_total, mut stored_total, mut failed) = (0usize, 0usize, 0usize, 0usize);
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>8}",
        "page", "html B", "text B", "stored B", "ms"
    );
    for path in &pages {
        let body = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let html = feedwatch::article::decode_html(&body, None);
        let started = Instant::now();
        let text = feedwatch::article::extract(&html, &url);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        match text {
            Ok(text) => {
                let stored = feedwatch::article::pack(&text).len();
                println!(
                    "{name:<28} {:>9} {:>9} {stored:>9} {ms:>8.1}",
                    body.len(),
                    text.len()
                );
                n += 1;
                text_total += text.len();
                stored_total += stored;
            }
            Err(e) => {
                println!("{name:<28} {:>9} {e}", body.len());
                failed += 1;
            }
        }
    }
    if let (Some(text), Some(stored)) = (text_total.checked_div(n), stored_total.checked_div(n)) {
        println!(
            "{n} articles ({failed} without main text): mean text {text} B, mean stored {stored} B per item ({:.0}% of the text)",
            stored_total as f64 * 100.0 / text_total as f64
        );
    }
}
