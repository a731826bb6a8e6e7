//! Issue "Faults that lose, corrupt or stall", the store's faults: 8 (compaction takes the
//! service away) and 17 (compaction above the memory limit). Fault 7 (the store's disk
//! full) needs root for its tmpfs: `tests/root.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use super::*;

fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<rss version=\"2.0\"><channel><title>t</title>");
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>https://outlet.example/{guid}</link></item>"
        ));
    }
    s + "</channel></rss>"
}

/// GET `path`: (status, head, body); None when nothing answers.
fn get(addr: &str, path: &str) -> Option<(u16, String, String)> {
    let mut conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// Fault 8: while `run` compacts its store (each copy here held for 1.5 s before its swap,
/// as a year's store takes minutes), the API stays up at the same address, `/healthz` and
/// queries answer 503 "compacting" with a `Retry-After`, and the CLI asked meanwhile waits
/// for the compaction and answers.
#[test]
fn fault8_compaction_takes_the_service_away() {
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let setup = Setup::with_extra(
        &[("f", &s.url("/f"), "all")],
        "[defaults]\ninterval = \"1s\"\n",
    );
    let diag = setup.dir.path().join("stderr.log");
    let child = command(Some(&setup.config))
        .arg("run")
        .env("FEEDWATCH_COMPACT_ALWAYS", "1")
        .env("FEEDWATCH_MAINTENANCE_SECS", "1")
        .env("FEEDWATCH_COMPACT_DELAY_MS", "1500")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&diag).unwrap())
        .spawn()
        .map(Daemon)
        .unwrap();
    let log = || std::fs::read_to_string(&diag).unwrap_or_default();
    let file = setup
        .dir
        .path()
        .join("store")
        .join(feedwatch::api::ADDR_FILE);
    let mut addr = String::new();
    wait_for("the api", Duration::from_secs(30), || {
        addr = std::fs::read_to_string(&file).unwrap_or_default();
        !addr.trim().is_empty()
    });
    let addr = addr.trim().to_string();
    wait_for("the first alert", Duration::from_secs(30), || {
        setup.alerts().len() == 1
    });
    let mut said = (String::new(), String::new());
    wait_for(
        "/healthz to say compacting",
        Duration::from_secs(30),
        || match get(&addr, "/healthz") {
            Some((503, head, body)) if body.contains("compacting") => {
                said = (head, body);
                true
            }
            Some(_) => false,
            None => panic!("the api did not answer while the service ran: {}", log()),
        },
    );
    assert!(
        said.0.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        said.0
    );
    // a query during the compaction waits for it, then answers from the reopened store
    let items = setup.run(&["items", "--json"]);
    assert!(items.status.success(), "{}\n{}", stderr(&items), log());
    assert_eq!(stdout(&items).lines().count(), 1, "{}", stdout(&items));
    // through compactions the api stays where it was, and answers every time
    let done = || log().matches("compacted the store").count();
    let before = done();
    wait_for("two more compactions", Duration::from_secs(60), || {
        assert!(
            get(&addr, "/healthz").is_some(),
            "the api went away: {}",
            log()
        );
        done() >= before + 2
    });
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default().trim(),
        addr,
        "the same address throughout"
    );
    let ok = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let mut child = child;
    wait_for("the service to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    assert_eq!(
        child.try_wait().unwrap().unwrap().code(),
        Some(0),
        "{}",
        log()
    );
    assert_eq!(
        setup.alerts().len(),
        1,
        "no alert repeated by the compactions"
    );
}

/// Fault 17, the cron half: `once` never compacts at start-up (only `run` does), so a cron
/// job never pays for a compaction it did not need, nor for its memory.
#[test]
fn fault17_once_does_not_compact() {
    let s = Server::start();
    s.set("/f", Route::feed(rss(&[("1", "CIS summit opens")])));
    let setup = Setup::new(&[("f", &s.url("/f"), "all")]);
    for _ in 0..2 {
        let out = command(Some(&setup.config))
            .arg("once")
            .env("FEEDWATCH_COMPACT_ALWAYS", "1")
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            !stderr(&out).contains("compacted the store"),
            "once compacted: {}",
            stderr(&out)
        );
    }
    assert_eq!(setup.alerts().len(), 1);
}
