use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::*;

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits for a child to exit, killing it after `limit`.
fn wait(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("feedwatch did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `run` polls, writes alerts, tells systemd READY=1 with a status line, and on SIGTERM
/// sends STOPPING=1 and exits 0.
#[test]
fn run_notifies_systemd_writes_alerts_and_stops_on_sigterm() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let sock_path = setup.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let child = command(Some(&setup.config))
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        msg.contains("READY=1") && msg.contains("STATUS=polling 1 feeds"),
        "{msg}"
    );
    wait_for("two alerts", Duration::from_secs(20), || {
        setup.alerts().len() == 2
    });
    sigterm(&child);
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = wait(child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert_eq!(setup.alerts().len(), 2, "no alert repeated on shutdown");
}

/// While `run` holds the store, `once`, `items`, `export` and `import` exit 3 and name the
/// pid holding it.
#[test]
fn a_held_store_exits_3_naming_the_holder() {
    let s = Server::start();
    s.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &s.url("/rss/news"), "all")]);
    let mut child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the service logs "feedwatch running" once the store is open
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("feedwatch running"));
    assert!(started);
    let config = setup.config.to_str().unwrap();
    for args in [
        &["once"][..],
        &["items"][..],
        &["export"][..],
        &["import", config][..],
    ] {
        let out = setup.run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("held by a running feedwatch (pid {})", child.id())),
            "{err}"
        );
        assert!(err.contains("stop it first"), "{err}");
    }
    sigterm(&child);
    assert_eq!(wait(child, Duration::from_secs(20)).code(), Some(0));
    // once the service is gone, the store opens again
    assert!(setup.run(&["items"]).status.success());
}
