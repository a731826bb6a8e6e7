//! Each hostile behaviour gets its own server (its own host:port, as on the real web) next to
//! a good feed on another server. The hostile feed must fail with a message that says what
//! happened, within the configured timeouts, while the good feed is polled and alerts.

use std::time::{Duration, Instant};

use super::*;

/// Short timeouts so that the tests are quick: a poll can never take more than `timeout`.
const FETCH: &str = "timeout = \"4s\"\nconnect_timeout = \"1s\"\nread_timeout = \"2s\"\n";

fn config(hostile: &str, good: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n[fetch]\n{FETCH}\n\
         [[feeds]]\nname = \"hostile\"\nurl = \"{hostile}\"\nbacklog = \"all\"\n\n\
         [[feeds]]\nname = \"good\"\nurl = \"{good}\"\nbacklog = \"all\"\n\n{}",
        example_watches()
    );
    let path = dir.path().join("feedwatch.toml");
    std::fs::write(&path, toml).unwrap();
    Setup { dir, config: path }
}

/// Serves `route` as the hostile feed, polls once, and returns the hostile feed's state.
fn poll_hostile(route: Route) -> serde_json::Value {
    let bad = Server::start();
    bad.set("/feed", route);
    let good = Server::start();
    good.set("/feed", Route::feed(SAMPLE));
    let setup = config(&bad.url("/feed"), &good.url("/feed"));
    let started = Instant::now();
    let out = setup.run(&["once"]);
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // the slowest case is bounded by the 4 s timeout; the rest is a busy shared machine
    assert!(elapsed < Duration::from_secs(30), "once took {elapsed:?}");
    assert_eq!(
        setup.alerts().len(),
        2,
        "the good feed alerted: {}",
        stdout(&out)
    );
    hostile_state(&setup)
}

fn hostile_state(setup: &Setup) -> serde_json::Value {
    let feeds = stdout(&setup.run(&["feeds", "--json"]));
    let line = feeds
        .lines()
        .find(|l| l.contains("\"feed\":\"hostile\""))
        .unwrap();
    serde_json::from_str(line).unwrap()
}

fn error_of(state: &serde_json::Value) -> String {
    state["last_error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_server_that_never_answers_times_out() {
    let state = poll_hostile(Route::feed(SAMPLE).with_mode(Mode::Hang));
    assert_eq!(state["state"], "failing");
    assert!(error_of(&state).contains("timed out"), "{state}");
}

#[test]
fn a_server_that_dribbles_a_byte_a_second_times_out() {
    let state = poll_hostile(Route::feed(SAMPLE).with_mode(Mode::Dribble));
    assert!(error_of(&state).contains("timed out"), "{state}");
}

#[test]
fn a_2_gb_body_is_refused_by_its_length() {
    let state = poll_hostile(Route::feed(vec![b'x'; 65536]).with_mode(Mode::Claims(2 << 30)));
    assert!(
        error_of(&state).contains("body larger than the 16777216-byte limit"),
        "{state}"
    );
}

#[test]
fn an_endless_body_without_length_stops_at_the_cap() {
    let state = poll_hostile(Route::feed(vec![b'x'; 65536]).with_mode(Mode::Endless));
    assert!(
        error_of(&state).contains("body larger than the 16777216-byte limit"),
        "{state}"
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_cap_counted_after_decompression() {
    let bomb = include_bytes!("../fixtures/bomb-64mib.gz");
    let state = poll_hostile(Route::feed(&bomb[..]).with_header("Content-Encoding", "gzip"));
    assert!(
        error_of(&state).contains("body larger than the 16777216-byte limit"),
        "{state}"
    );
}

#[test]
fn a_redirect_loop_is_cut_after_five_redirects() {
    let state = poll_hostile(Route::status(302, "").with_header("Location", "/feed"));
    assert!(
        error_of(&state).contains("more than 5 redirects"),
        "{state}"
    );
}

#[test]
fn a_redirect_to_another_scheme_is_refused() {
    let state = poll_hostile(
        Route::status(301, "").with_header("Location", "ftp://files.example/feed.xml"),
    );
    assert!(
        error_of(&state).contains("redirect to a ftp: URL"),
        "{state}"
    );
}

#[test]
fn a_truncated_document_is_a_parse_error_or_partial_items_never_a_crash() {
    let cut = &SAMPLE[..SAMPLE.len() / 2];
    let state = poll_hostile(Route::feed(cut));
    // feed-rs may recover the complete items before the cut; either way it is recorded
    let err = error_of(&state);
    assert!(err.contains("parsing") || state["state"] == "ok", "{state}");
}

#[test]
fn an_empty_200_is_an_error_that_says_so() {
    let state = poll_hostile(Route::feed(""));
    assert!(error_of(&state).contains("the body is empty"), "{state}");
}

#[test]
fn a_404_is_recorded_with_its_status() {
    let state = poll_hostile(Route::status(404, "no such feed"));
    assert!(error_of(&state).contains("HTTP 404"), "{state}");
}

fn items_feed(n: usize, guid: impl Fn(usize) -> String) -> Vec<u8> {
    let mut doc =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>big</title>");
    for i in 0..n {
        doc.push_str(&format!(
            "<item><title>Item {i}</title><link>https://big.example/{i}</link><guid>{}</guid></item>",
            guid(i)
        ));
    }
    doc.push_str("</channel></rss>");
    doc.into_bytes()
}

/// 100,000 items (about 9 MB): the first `fetch.max_items` (5,000) are read, the rest is
/// ignored with a warning, so time and memory stay bounded.
#[test]
fn a_feed_with_100000_items_is_cut_at_max_items() {
    let state = poll_hostile(Route::feed(items_feed(100_000, |i| format!("g{i}"))));
    assert_eq!(state["state"], "ok", "{state}");
    assert_eq!(state["items"], 5000);
}

/// Every item has the same guid: the feed's guids are not trusted, items are told apart by
/// their links, and each is stored once.
#[test]
fn a_feed_whose_items_share_one_guid_falls_back_to_links() {
    let state = poll_hostile(Route::feed(items_feed(50, |_| "same".into())));
    assert_eq!(state["state"], "ok", "{state}");
    assert_eq!(state["items"], 50);
}

/// All of it at once under `run`: the hostile feeds never stall the good one, which keeps
/// its 1-second schedule, and memory stays bounded.
#[test]
fn hostile_feeds_do_not_stall_the_service_or_grow_its_memory() {
    let mut servers = Vec::new();
    let bomb = include_bytes!("../fixtures/bomb-64mib.gz");
    let routes = [
        Route::feed(SAMPLE).with_mode(Mode::Hang),
        Route::feed(SAMPLE).with_mode(Mode::Dribble),
        Route::feed(vec![b'x'; 65536]).with_mode(Mode::Claims(2 << 30)),
        Route::feed(vec![b'x'; 65536]).with_mode(Mode::Endless),
        Route::feed(&bomb[..]).with_header("Content-Encoding", "gzip"),
        Route::status(302, "").with_header("Location", "/feed"),
    ];
    let mut toml = format!(
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[api]\nlisten = \"127.0.0.1:0\"\n[fetch]\n{FETCH}\n[defaults]\ninterval = \"1s\"\nbacklog = \"all\"\n"
    );
    for (i, route) in routes.into_iter().enumerate() {
        let s = Server::start();
        s.set("/feed", route);
        toml.push_str(&format!(
            "[[feeds]]\nname = \"hostile-{i}\"\nurl = \"{}\"\n",
            s.url("/feed")
        ));
        servers.push(s);
    }
    let good = Server::start();
    good.set("/feed", Route::feed(SAMPLE).with_etag("\"e\""));
    toml.push_str(&format!(
        "[[feeds]]\nname = \"good\"\nurl = \"{}\"\n{}",
        good.url("/feed"),
        example_watches()
    ));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feedwatch.toml");
    std::fs::write(&config, toml).unwrap();

    let child = command(Some(&config))
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    let polls = good.seen("/feed").len();
    let elapsed = started.elapsed().as_secs_f64();
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    // interval 1 s (±5%), spread start: at least 7 polls in 10 s despite the hostile feeds
    assert!(
        polls >= 7,
        "the good feed was polled {polls} times in {elapsed:.1} s"
    );
    assert_eq!(read_alerts(&dir.path().join("alerts.jsonl")).len(), 2);
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} KiB");
}
