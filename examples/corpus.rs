//! Runs the decode and parse stages over a directory tree of real feed test files and says
//! whether every one of them came out as items or a clear error: no panic, no hang. Parsing
//! is the service's: strict first, then a repaired copy of an ill-formed document
//! ([`feedwatch::parse::parse_or_recover`]).
//!
//! Coverage: a feedparser file whose `Expect:` line looks into `entries[...]` (or says
//! `len(entries) == N`, N > 0) is one from which feedparser extracts items; feedwatch must
//! extract items from it too. The share that it does is printed, with the files it misses,
//! and a share below [`MIN_COVERAGE`] fails the run: this is the CI check that the figure in
//! the README does not drop.
//!
//! ```text
//! cargo run --release --example corpus -- ../shared/corpus/feedparser ../shared/corpus/feed-rs
//! ```
//!
//! The plain-RSS fast path ([`feedwatch::fastrss`]) is checked against feed-rs on every file
//! (and on its repaired copy) that it accepts: the items and ttl of
//! [`feedwatch::parse::parse`] must equal those of
//! [`feedwatch::parse::parse_with_feed_rs`]. The count is printed; a difference fails the run.
//!
//! Skipped: `LICENSE*`, `*.md`, feedparser's `*.jsonl` and feed-rs's `*.serde.json` (expected
//! results, not feeds). JSON Feed documents (`*.json`) are run. A feedparser file whose
//! leading comment has a `Header: Content-type: ...` line is parsed with that content type,
//! as a server would send it. Exits 1 if a panic escaped, a file hung, or a file took more
//! than 2 s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use encoding_rs::Encoding;
use feedwatch::decode::to_utf8;
use feedwatch::parse::{Item, ParseError, parse, parse_or_recover, parse_with_feed_rs};
use feedwatch::text::html_to_text;
use url::Url;

/// A file slower than this fails the run.
const SLOW: Duration = Duration::from_secs(2);
/// A file still running after this is reported as hung and left behind.
const HANG: Duration = Duration::from_secs(20);
/// Per cent of the files feedparser extracts items from that feedwatch must extract items
/// from too: 1,156 of 1,167 (99.06%) when the repair pass came in (see the README), so one
/// file fewer fails the run.
const MIN_COVERAGE: f64 = 99.05;

enum Outcome {
    /// Item count, whether some item has a title, and whether they came from a repaired copy.
    Items(usize, bool, bool),
    Empty,
    Error(String),
    CaughtPanic(String),
    EscapedPanic(String),
    Hung,
}

struct Run {
    path: PathBuf,
    outcome: Outcome,
    took: Duration,
    /// The decoded text matches decoding with the encoding feedparser expects (when it names one).
    encoding_check: Option<Result<(), String>>,
    /// The first item agrees with feedparser's `entries[0]` title/description expectations.
    entry_check: Option<Result<(), String>>,
    /// feedparser extracts items from this file.
    expects_items: bool,
    /// How many of the file's texts (as decoded, repaired) the fast path accepted, and the
    /// first difference from feed-rs on one of them.
    differential: (usize, Option<String>),
}

/// What feedparser's `EXPECTATIONS.jsonl` says about one file, as far as we can check it.
#[derive(Clone, Default)]
struct Expect {
    /// `encoding == '...'`
    encoding: Option<String>,
    /// `entries[0]['title' | 'description' | 'summary'] == '...'`, as (field, value).
    entry: Vec<(String, String)>,
    /// feedparser extracts at least one item (its expectation looks into `entries`).
    has_items: bool,
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn main() {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: corpus DIR [DIR...]");
        std::process::exit(2);
    }
    let mut files = Vec::new();
    let mut expectation_files = Vec::new();
    for dir in &dirs {
        walk(dir, &mut files, &mut expectation_files);
    }
    files.sort();
    let expectations = load_expectations(&expectation_files);

    // Panics are counted and listed, not printed one by one.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC
            .with(|p| *p.borrow_mut() = Some(format!("{}{at}", payload_text(info.payload()))));
    }));

    let base = Url::parse("http://127.0.0.1/").unwrap();
    let started = Instant::now();
    let mut runs = Vec::with_capacity(files.len());
    for path in files {
        let body = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        let content_type = header_content_type(&body);
        let expect = expectations.get(&path).cloned().unwrap_or_default();
        let expect_in_worker = expect.clone();
        let (tx, rx) = mpsc::channel();
        let base = base.clone();
        let worker_body = body.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let result = std::panic::catch_unwind(|| {
                let decoded = to_utf8(&worker_body, content_type.as_deref());
                let parsed = parse_or_recover(&decoded.text, &base, content_type.as_deref());
                let differential = differential(&decoded.text, &base, content_type.as_deref());
                (decoded, parsed, differential)
            });
            let took = t.elapsed();
            let outcome = match result {
                Ok((decoded, parsed, differential)) => {
                    let expect = expect_in_worker;
                    let check = expect
                        .encoding
                        .as_deref()
                        .map(|label| check_encoding(&worker_body, &decoded.text, label));
                    let entry_check = (!expect.entry.is_empty()).then(|| match &parsed {
                        Ok(f) => check_entry(f.items.first(), &expect.entry),
                        Err(e) => Err(format!("no items: {e}")),
                    });
                    let outcome = match parsed {
                        Ok(f) if f.items.is_empty() => Outcome::Empty,
                        Ok(f) => Outcome::Items(
                            f.items.len(),
                            f.items.iter().any(|i| !i.title.trim().is_empty()),
                            f.recovered.is_some(),
                        ),
                        Err(ParseError::Panic(m)) => {
                            let at = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or(m);
                            Outcome::CaughtPanic(at)
                        }
                        Err(e) => Outcome::Error(e.to_string()),
                    };
                    (outcome, check, entry_check, differential)
                }
                Err(payload) => {
                    let at = LAST_PANIC
                        .with(|p| p.borrow_mut().take())
                        .unwrap_or_else(|| payload_text(&*payload));
                    (Outcome::EscapedPanic(at), None, None, (0, None))
                }
            };
            let _ = tx.send((outcome, took));
        });
        let (outcome, took, encoding_check, entry_check, differential) = match rx.recv_timeout(HANG)
        {
            Ok(((outcome, check, entry, diff), took)) => (outcome, took, check, entry, diff),
            Err(_) => (Outcome::Hung, HANG, None, None, (0, None)),
        };
        runs.push(Run {
            expects_items: expect.has_items,
            path,
            outcome,
            took,
            encoding_check,
            entry_check,
            differential,
        });
    }
    let total = started.elapsed();
    std::process::exit(report(&runs, total));
}

fn report(runs: &[Run], total: Duration) -> i32 {
    let mut with_items = 0;
    let mut with_repair = 0;
    let mut item_count = 0;
    let mut zero_items = 0;
    let mut errors: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
    let mut caught = Vec::new();
    let mut escaped = Vec::new();
    let mut hung = Vec::new();
    for r in runs {
        match &r.outcome {
            Outcome::Items(n, _, recovered) => {
                with_items += 1;
                item_count += n;
                with_repair += usize::from(*recovered);
            }
            Outcome::Empty => zero_items += 1,
            Outcome::Error(e) => errors.entry(prefix(e)).or_default().push(&r.path),
            Outcome::CaughtPanic(m) => caught.push((&r.path, m)),
            Outcome::EscapedPanic(m) => escaped.push((&r.path, m)),
            Outcome::Hung => hung.push(&r.path),
        }
    }
    let clean: usize = errors.values().map(Vec::len).sum();
    println!("files:                  {}", runs.len());
    println!("parsed with items:      {with_items} ({item_count} items)");
    println!("  of which repaired:    {with_repair} (ill-formed, read from a repaired copy)");
    println!("parsed with zero items: {zero_items}");
    println!("clean errors:           {clean}");
    let mut groups: Vec<_> = errors.iter().collect();
    groups.sort_by_key(|(k, v)| (std::cmp::Reverse(v.len()), k.as_str()));
    for (msg, paths) in groups {
        let example = paths.first().map(|p| short(p)).unwrap_or_default();
        println!("  {:5}  {msg}  (e.g. {example})", paths.len());
    }
    println!("panics caught by parse: {}", caught.len());
    for (p, m) in &caught {
        println!("  {}: {m}", short(p));
    }
    println!("panics escaped:         {}", escaped.len());
    for (p, m) in &escaped {
        println!("  {}: {m}", short(p));
    }
    println!("hung (> {:?}):          {}", HANG, hung.len());
    for p in &hung {
        println!("  {}", short(p));
    }

    let mut by_time: Vec<&Run> = runs.iter().collect();
    by_time.sort_by_key(|r| std::cmp::Reverse(r.took));
    println!("slowest:");
    for r in by_time.iter().take(5) {
        println!("  {:>10.3?}  {}", r.took, short(&r.path));
    }
    let slow: Vec<&&Run> = by_time.iter().filter(|r| r.took > SLOW).collect();
    println!("over {SLOW:?}:              {}", slow.len());

    // feedparser's encoding cases: do the items come out with a title, and does the text
    // match feedparser's expected encoding?
    let encoding_cases: Vec<&Run> = runs.iter().filter(|r| is_encoding_case(&r.path)).collect();
    let titled = encoding_cases
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Items(_, true, _)))
        .count();
    println!(
        "encoding cases:         {} ({titled} with a non-empty item title)",
        encoding_cases.len()
    );
    let mut untitled: BTreeMap<String, usize> = BTreeMap::new();
    for r in &encoding_cases {
        let why = match &r.outcome {
            Outcome::Items(_, true, _) => continue,
            Outcome::Items(..) => "items, none with a title".to_string(),
            Outcome::Empty => "no items".to_string(),
            Outcome::Error(e) => prefix(e),
            Outcome::CaughtPanic(_) => "caught panic".to_string(),
            Outcome::EscapedPanic(_) => "escaped panic".to_string(),
            Outcome::Hung => "hung".to_string(),
        };
        *untitled.entry(why).or_default() += 1;
    }
    for (why, n) in &untitled {
        println!("  {n:5}  {why}");
    }
    let checked: Vec<&Run> = runs.iter().filter(|r| r.encoding_check.is_some()).collect();
    let wrong: Vec<(&Run, &String)> = checked
        .iter()
        .filter_map(|r| match &r.encoding_check {
            Some(Err(e)) => Some((*r, e)),
            _ => None,
        })
        .collect();
    println!(
        "expected encoding (feedparser `encoding ==`): {} checked, {} decoded differently",
        checked.len(),
        wrong.len()
    );
    for (r, e) in &wrong {
        println!("  {}: {e}", short(&r.path));
    }
    let entry_checked: Vec<&Run> = runs.iter().filter(|r| r.entry_check.is_some()).collect();
    let entry_wrong: Vec<(&Run, &String)> = entry_checked
        .iter()
        .filter_map(|r| match &r.entry_check {
            Some(Err(e)) => Some((*r, e)),
            _ => None,
        })
        .collect();
    println!(
        "expected entries[0] title/description (as plain text): {} checked, {} differ",
        entry_checked.len(),
        entry_wrong.len()
    );
    // Sanitising and markup cases differ by design (we keep plain text only); list the
    // ones about characters.
    for (r, e) in entry_wrong.iter().filter(|(r, _)| {
        let p = r.path.to_string_lossy();
        p.contains("/encoding/") || p.contains("/entities/") || p.contains("/illformed/")
    }) {
        println!("  {}: {e}", short(&r.path));
    }
    let coverage_ok = coverage(runs);
    let fast_ok = fast_path_report(runs);
    println!("total time:             {total:.2?}");

    if !escaped.is_empty() || !hung.is_empty() || !slow.is_empty() || !coverage_ok || !fast_ok {
        1
    } else {
        0
    }
}

/// The fast path against feed-rs on `text` and on its repaired copy: how many of them the
/// fast path accepted, and the first difference.
fn differential(text: &str, base: &Url, content_type: Option<&str>) -> (usize, Option<String>) {
    let repaired = feedwatch::recover::repair(text).map(|r| r.text);
    let mut accepted = 0;
    for (what, text) in [
        ("as decoded", Some(text)),
        ("repaired", repaired.as_deref()),
    ] {
        let Some(text) = text else { continue };
        if feedwatch::fastrss::parse(text, base).is_none() {
            continue;
        }
        accepted += 1;
        let fast = parse(text, base, content_type);
        let slow = parse_with_feed_rs(text, base, content_type);
        let same = match (&fast, &slow) {
            (Ok(f), Ok(s)) => f.items == s.items && f.ttl_minutes == s.ttl_minutes,
            _ => false,
        };
        if !same {
            return (
                accepted,
                Some(format!("{what}: fast {fast:?}\n    feed-rs {slow:?}")),
            );
        }
    }
    (accepted, None)
}

/// Prints how many files the fast path accepted and whether all were equal to feed-rs.
fn fast_path_report(runs: &[Run]) -> bool {
    let files = runs.iter().filter(|r| r.differential.0 > 0).count();
    let texts: usize = runs.iter().map(|r| r.differential.0).sum();
    let differ: Vec<&Run> = runs.iter().filter(|r| r.differential.1.is_some()).collect();
    println!(
        "fast path: accepted {files} of {} files ({texts} texts with repaired copies), {} equal to feed-rs, {} different",
        runs.len(),
        texts - differ.len(),
        differ.len()
    );
    for r in &differ {
        println!(
            "  differs {}: {}",
            short(&r.path),
            r.differential.1.as_deref().unwrap_or("")
        );
    }
    differ.is_empty()
}

/// Prints the share of files feedparser extracts items from that feedwatch extracts items
/// from too, and the files it misses; false when the share is below [`MIN_COVERAGE`].
fn coverage(runs: &[Run]) -> bool {
    let expected: Vec<&Run> = runs.iter().filter(|r| r.expects_items).collect();
    if expected.is_empty() {
        println!("coverage: no feedparser expectations found (EXPECTATIONS.jsonl)");
        return true;
    }
    let missed: Vec<&&Run> = expected
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Items(..)))
        .collect();
    let covered = expected.len() - missed.len();
    let share = 100.0 * covered as f64 / expected.len() as f64;
    let repaired = expected
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Items(_, _, true)))
        .count();
    println!(
        "coverage: items from {covered} of the {} files feedparser extracts items from ({share:.2}%; {repaired} of them repaired first), minimum {MIN_COVERAGE:.2}%",
        expected.len()
    );
    for r in &missed {
        let why = match &r.outcome {
            Outcome::Empty => "no items".to_string(),
            Outcome::Error(e) => e.clone(),
            Outcome::CaughtPanic(m) | Outcome::EscapedPanic(m) => format!("panic: {m}"),
            Outcome::Hung => "hung".to_string(),
            Outcome::Items(..) => continue,
        };
        println!("  missed {}: {why}", short(&r.path));
    }
    if share < MIN_COVERAGE {
        println!("coverage below the minimum {MIN_COVERAGE:.2}%: FAIL");
        return false;
    }
    true
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, expectations: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("cannot read {}", dir.display());
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out, expectations);
        } else if file_name(&path) == "EXPECTATIONS.jsonl" {
            expectations.push(path);
        } else if is_feed_file(&path) {
            out.push(path);
        }
    }
}

fn is_feed_file(path: &Path) -> bool {
    let name = file_name(path);
    !(name.starts_with("LICENSE")
        || name.ends_with(".md")
        || name.ends_with(".jsonl")
        || name.ends_with(".serde.json"))
}

fn is_encoding_case(path: &Path) -> bool {
    let p = path.to_string_lossy();
    p.contains("feedparser")
        && (p.contains("/encoding/")
            || p.contains("/chardet/")
            || file_name(path).contains("encoding"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The last three components of a path, enough to find it in the corpus.
fn short(path: &Path) -> String {
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    parts[parts.len().saturating_sub(3)..].join("/")
}

/// An error message without its variable tail, for grouping.
fn prefix(msg: &str) -> String {
    let cut = msg
        .find(['"', '\'', '(', '`'])
        .or_else(|| msg.find(|c: char| c.is_ascii_digit()))
        .unwrap_or(msg.len());
    let p = msg[..cut].trim_end().trim_end_matches([':', ',', ' ']);
    p.chars().take(90).collect()
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// `Content-type` from `Header:` lines in the leading comment (feedparser's test format).
/// NUL bytes are dropped first so that UTF-16/32 files are read too.
fn header_content_type(body: &[u8]) -> Option<String> {
    let head: Vec<u8> = body
        .iter()
        .take(16384)
        .copied()
        .filter(|b| *b != 0)
        .collect();
    let head = String::from_utf8_lossy(&head);
    let start = head.find("<!--")?;
    // Only a comment that comes first (after a BOM and an XML declaration) counts.
    let before = head[..start].trim_start_matches(|c: char| !c.is_ascii() || c.is_whitespace());
    let before = match before.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>")? + 2..],
        None => before,
    };
    if !before.trim().is_empty() {
        return None;
    }
    let end = head[start..].find("-->")? + start;
    head[start + 4..end].lines().find_map(|line| {
        let header = line.trim().strip_prefix("Header:")?.trim();
        let (name, value) = header.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_string())
    })
}

/// feedparser's `encoding == '...'` expectations, by file, from `EXPECTATIONS.jsonl`.
fn load_expectations(jsonl_files: &[PathBuf]) -> BTreeMap<PathBuf, Expect> {
    let mut out = BTreeMap::new();
    for jsonl in jsonl_files {
        let Some(dir) = jsonl.parent() else { continue };
        let Ok(text) = std::fs::read_to_string(jsonl) else {
            continue;
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(file), Some(expect)) = (v["file"].as_str(), v["expect"].as_str()) else {
                continue;
            };
            let mut e = Expect::default();
            if let Some(rest) = expect.split("encoding == ").nth(1) {
                let label: String = rest
                    .trim_start_matches(['\'', '"'])
                    .chars()
                    .take_while(|c| *c != '\'' && *c != '"')
                    .collect();
                e.encoding = Some(label);
            }
            for check in v["checks"].as_array().into_iter().flatten() {
                let path = check["path"].as_array().cloned().unwrap_or_default();
                let (Some(field), Some(value)) = (
                    path.get(2).and_then(|f| f.as_str()),
                    check["value"].as_str(),
                ) else {
                    continue;
                };
                if path.len() == 3
                    && path[0] == "entries"
                    && path[1] == 0
                    && check["op"] == "=="
                    && ["title", "description", "summary"].contains(&field)
                {
                    e.entry.push((field.to_string(), value.to_string()));
                }
            }
            e.has_items = extracts_items(expect);
            if e.encoding.is_some() || !e.entry.is_empty() || e.has_items {
                out.insert(dir.join(file), e);
            }
        }
    }
    out
}

/// Whether an `Expect:` expression says feedparser extracts items: it looks into
/// `entries[...]`, or says `len(entries) == N` with N > 0.
fn extracts_items(expect: &str) -> bool {
    if expect.contains("entries[") {
        return true;
    }
    expect.split("len(entries) == ").skip(1).any(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    })
}

/// Does `text` (what to_utf8 made of `body`) say what `body` decoded as `label` says?
/// Names differ (encoding_rs reads us-ascii and iso-8859-1 as windows-1252), so the texts
/// are compared, after the XML declaration, which to_utf8 rewrites.
fn check_encoding(body: &[u8], text: &str, label: &str) -> Result<(), String> {
    let lower = label.to_ascii_lowercase();
    let expected: String = if let Some(end) = lower
        .strip_prefix("utf-32")
        .or(lower.strip_prefix("utf_32"))
    {
        let be = end != "le";
        let skip = if body.starts_with(&[0, 0, 0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE, 0, 0])
        {
            4
        } else {
            0
        };
        body[skip..]
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                let n = if be {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                };
                char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect()
    } else {
        let Some(enc) = Encoding::for_label(label.as_bytes()) else {
            return Err(format!("encoding_rs does not know {label:?}"));
        };
        enc.decode_with_bom_removal(body).0.into_owned()
    };
    let after_decl = |s: &str| -> String {
        let t = s.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
        match t
            .strip_prefix("<?xml")
            .and_then(|r| r.find("?>").map(|i| &r[i + 2..]))
        {
            Some(rest) => rest.to_string(),
            None => t.to_string(),
        }
    };
    if after_decl(&expected) == after_decl(text) {
        Ok(())
    } else {
        let first = after_decl(&expected)
            .chars()
            .zip(after_decl(text).chars())
            .position(|(a, b)| a != b);
        Err(format!(
            "feedparser expects {label}; decoded text differs (first at char {first:?})"
        ))
    }
}

/// feedparser's expected `entries[0]` text, made plain text as feedwatch makes it, against
/// the first item. A description may land in feed-rs's summary or content.
fn check_entry(first: Option<&Item>, expected: &[(String, String)]) -> Result<(), String> {
    let Some(item) = first else {
        return Err("no items".into());
    };
    for (field, value) in expected {
        let want = html_to_text(value);
        let ok = match field.as_str() {
            "title" => item.title == want,
            _ => item.summary == want || item.content == want,
        };
        if !ok {
            let got = if field == "title" {
                &item.title
            } else if item.summary.is_empty() {
                &item.content
            } else {
                &item.summary
            };
            return Err(format!("{field}: expected {want:?}, got {got:?}"));
        }
    }
    Ok(())
}
