//! Peak memory of `feedwatch once` on huge documents of tiny items (issue "Faults that lose,
//! corrupt or stall", 4): the release binary's peak RSS for the whole process, from wait4.
//!
//! usage: cargo run --release --example memory -- [ITEMS] [BYTES] [BINARY]
//!        (defaults: 444,425 items in 16 MiB, the document of the issue; target/release/
//!        feedwatch, built first; another binary, e.g. an older build, to compare)
//!
//! It serves the document on loopback (one server per feed, so that the per-host limit does
//! not serialise them), runs `once` on 1 feed, then on 4 such feeds at once, each in a fresh
//! store with the default `[fetch]` limits (max_body 16 MiB, max_items 5000), and prints the
//! peak RSS of each run. The targets: under 100 MB for one, under 300 MB for four.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// An RSS document of `items` tiny items, padded with newlines to exactly `bytes` bytes.
fn document(items: usize, bytes: usize) -> Vec<u8> {
    let head = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>tiny</title>\n";
    let tail = "</channel></rss>\n";
    let mut doc = String::with_capacity(bytes);
    doc.push_str(head);
    let room = bytes - head.len() - tail.len();
    for i in 0..items {
        doc.push_str(&format!("<item><title>{i}</title></item>"));
        // spread the padding evenly: item i ends where its share of the room ends
        let until = head.len() + room * (i + 1) / items;
        while doc.len() < until {
            doc.push('\n');
        }
    }
    doc.push_str(tail);
    assert_eq!(
        doc.len(),
        bytes,
        "{items} items do not fit in {bytes} bytes"
    );
    doc.into_bytes()
}

/// Serves `body` to every GET, on a port of its own; returns the feed's URL.
fn serve(body: Arc<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&conn);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut conn = &conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(&body);
            });
        }
    });
    url
}

/// The release binary, built first when run through cargo (as examples/torture.rs does).
fn binary() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = Command::new(cargo);
        // `cargo run` set the package's variables; ring's build script watches them
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let ok = build
            .args(["build", "--release", "--quiet", "--bin", "feedwatch"])
            .current_dir(manifest)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "building target/release/feedwatch failed");
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"))
        .join("release/feedwatch")
}

/// Runs `once` on `feeds` feeds serving `body`: (peak RSS in KiB, seconds, once's summary).
fn run(bin: &Path, body: &Arc<Vec<u8>>, feeds: usize) -> (u64, f64, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::from(
        "[storage]\npath = \"store\"\n[alerts]\nlog = \"alerts.jsonl\"\n[fetch]\ntimeout = \"300s\"\n",
    );
    for i in 0..feeds {
        toml.push_str(&format!(
            "[[feeds]]\nname = \"tiny-{i}\"\nurl = \"{}\"\nbacklog = \"24h\"\n",
            serve(body.clone())
        ));
    }
    toml.push_str("[[watch]]\nname = \"cis\"\nterms = [\"CIS\"]\n");
    let config = dir.path().join("feedwatch.toml");
    std::fs::write(&config, toml).unwrap();
    let out = dir.path().join("stdout");
    let started = std::time::Instant::now();
    // reaped by wait4 below, which also gives its peak RSS
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("once")
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("running feedwatch");
    let (status, peak_kib) = wait4(child.id());
    let took = started.elapsed().as_secs_f64();
    let summary = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status == 0,
        "feedwatch once exited with {status}: {summary}"
    );
    (
        peak_kib,
        took,
        summary.lines().last().unwrap_or("").to_string(),
    )
}

/// Waits for the child `pid`: (its exit code, its peak RSS in KiB).
fn wait4(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(got, pid as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().map_or(444_425, |a| a.parse().expect("ITEMS"));
    let bytes: usize = args.next().map_or(16 << 20, |a| a.parse().expect("BYTES"));
    let bin = args.next().map_or_else(binary, PathBuf::from);
    let body = Arc::new(document(items, bytes));
    println!(
        "document: {items} items in {bytes} bytes ({:.1} MiB); binary: {}",
        bytes as f64 / (1 << 20) as f64,
        bin.display()
    );
    for (feeds, target_mb) in [(1, 100), (4, 300)] {
        let (peak_kib, took, summary) = run(&bin, &body, feeds);
        let mb = peak_kib as f64 * 1024.0 / 1e6;
        println!(
            "{feeds} feed(s) at once: peak RSS {mb:.1} MB ({:.1} MiB), target < {target_mb} MB: {}; {took:.1} s; {summary}",
            peak_kib as f64 / 1024.0,
            if mb < target_mb as f64 { "ok" } else { "OVER" }
        );
    }
}
