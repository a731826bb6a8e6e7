use std::process::Stdio;
use std::time::Duration;

use super::*;

/// A webhook sink against a receiver that fails the first two attempts: the alert arrives
/// once retried, signed with HMAC-SHA256 of its body; an exec sink gets every alert as JSON
/// on stdin; `check` names the sinks without their secret.
#[test]
fn webhook_retries_until_accepted_and_signs_its_body_and_exec_gets_json() {
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let receiver = Server::start();
    receiver.set("/hook", Route::status(200, "ok").failing_first(2));
    let setup = Setup::new(&[("moscow-times", &feeds.url("/rss/news"), "all")]);
    let out_file = setup.dir.path().join("exec.jsonl");
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "\n[[sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"s3cret-value\"\nwatches = [\"cis\"]\ntimeout = \"5s\"\n\n\
         [[sinks]]\nname = \"script\"\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >> '{}'\"]\n",
        receiver.url("/hook"),
        out_file.display()
    ));
    std::fs::write(&setup.config, config).unwrap();

    let check = stdout(&setup.run(&["check"]));
    assert!(
        check.contains("hook: webhook") && check.contains("(signed)"),
        "{check}"
    );
    assert!(
        !check.contains("s3cret-value"),
        "the secret leaked into check: {check}"
    );

    let mut child = command(Some(&setup.config))
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    wait_for("the webhook to accept", Duration::from_secs(30), || {
        receiver.seen("/hook").iter().any(|s| s.status == 200)
    });
    wait_for(
        "the exec sink to get both alerts",
        Duration::from_secs(30),
        || std::fs::read_to_string(&out_file).is_ok_and(|s| s.lines().count() >= 2),
    );
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success());
    assert!(
        !log.contains("s3cret-value"),
        "the secret leaked into the log"
    );

    let hook = receiver.seen("/hook");
    let statuses: Vec<u16> = hook.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 200],
        "two failures, then one delivery, nothing more"
    );
    for attempt in &hook {
        let body = &attempt.body;
        let alert: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["watch"], "cis", "only the watches the sink asked for");
        let expected = format!(
            "sha256={}",
            feedwatch::sink::hmac_sha256_hex(b"s3cret-value", body)
        );
        assert_eq!(attempt.headers["x-feedwatch-signature"], expected);
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(watch_titles(&lines), watch_titles(&setup.alerts()));
}

/// A sink config with mistakes is rejected with every problem and its line.
#[test]
fn invalid_sinks_are_reported() {
    let setup = Setup::new(&[("a", "http://127.0.0.1:9/", "all")]);
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str("\n[[sinks]]\nname = \"x\"\nkind = \"pigeon\"\n\n[[sinks]]\nname = \"y\"\nkind = \"webhook\"\nsecret_file = \"/nonexistent/secret\"\nwatches = [\"nosuch\"]\n");
    std::fs::write(&setup.config, config).unwrap();
    let out = setup.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "sinks[0].kind: \"pigeon\" is not a sink kind",
        "sinks[1].url: missing",
        "sinks[1].secret_file: cannot read /nonexistent/secret",
        "sinks[1].watches: no watch called \"nosuch\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}
