//! Sinks: the destinations configured by `[[sinks]]`, beyond the alert log: `webhook` (a
//! JSON POST signed with HMAC-SHA256) and `exec` (a command that gets the alert JSON on
//! stdin). The alert log itself is not a sink: it is written first, by [`crate::deliver`].
//!
//! A sink never blocks polling. Lines reach it from the store's delivery journal, in the
//! order they were written to the alert log, after the log has them; each sink keeps its
//! own cursor in the store, so a sink that fails (receiver down, command failing) retries
//! with backoff from where it stopped, across restarts, and the others go on. Delivery is
//! at least once: a receiver can drop a repeated line by its `id`. With `every`, a sink
//! gets digests: one JSON array of everything since the last one.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{SinkConfig, SinkKind};
use crate::store::Store;

/// The header that carries the signature: `sha256=` and the hex HMAC of the body.
pub const SIGNATURE_HEADER: &str = "X-Feedwatch-Signature";

/// Longest wait between two attempts of a failing sink.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, as lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a sink takes this alert-log line: match lines of its watches (all when it names
/// none), and feed-health lines when it names no watch.
pub(crate) fn wanted(sink: &SinkConfig, line: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    match v["kind"].as_str() {
        Some("match") => {
            sink.watches.is_empty() || sink.watches.iter().any(|w| v["watch"] == w.as_str())
        }
        _ => sink.watches.is_empty(),
    }
}

/// Runs one sink until `stop`: waits for new journal lines (`wake`), sends them, advances
/// its cursor; on failure retries with doubling waits up to [`MAX_RETRY`].
///
/// `stop` ends it at once, also in the middle of a send (an `exec` command is killed): the
/// cursor has not moved past that send, so its lines go out again on the next start.
pub async fn run(sink: SinkConfig, store: Arc<Store>, wake: Arc<Notify>, stop: CancellationToken) {
    stop.run_until_cancelled(send_from_journal(sink, store, wake))
        .await;
}

/// [`run`]'s loop, which never ends on its own unless the sink cannot start.
async fn send_from_journal(sink: SinkConfig, store: Arc<Store>, wake: Arc<Notify>) {
    crate::fetch::install_crypto_provider();
    // A redirect is a failed delivery, never followed: 301/302/303 would turn the POST into
    // a bodiless GET that a 200 makes look delivered, 307/308 re-POST the signed body to
    // wherever the Location says, and a loop would POST ten times per attempt.
    let client = match reqwest::Client::builder()
        .timeout(sink.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(sink = %sink.name, error = %e, "sink cannot start");
            return;
        }
    };
    let mut retry = Duration::ZERO;
    loop {
        // digests wait for their period; single alerts for the next delivery
        let wait = if !retry.is_zero() {
            retry
        } else {
            sink.every.unwrap_or(Duration::from_secs(3600))
        };
        tokio::select! {
            _ = wake.notified(), if sink.every.is_none() && retry.is_zero() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let s = store.clone();
        let name = sink.name.clone();
        let batch = tokio::task::spawn_blocking(
            move || -> crate::store::Result<(u64, Vec<(u64, String)>)> {
                let cursor = s.sink_cursor(&name)?;
                Ok((cursor, s.journal_after(cursor, 500)?))
            },
        )
        .await;
        let (cursor, entries) = match batch {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                warn!(sink = %sink.name, error = %e, "sink cannot read the store");
                retry = next_retry(retry);
                continue;
            }
            Err(_) => return,
        };
        let Some(last) = entries.last().map(|(seq, _)| *seq) else {
            retry = Duration::ZERO;
            continue;
        };
        let lines: Vec<&String> = entries
            .iter()
            .map(|(_, l)| l)
            .filter(|l| wanted(&sink, l))
            .collect();
        // the cursor moves past what was sent; a failure resends from the first unsent line
        let mut done = cursor;
        let mut result = Ok(());
        if sink.every.is_some() {
            if !lines.is_empty() {
                let body = format!(
                    "[{}]",
                    lines
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
                result = send(&sink, &client, body).await;
            }
        } else {
            for (seq, line) in entries.iter().filter(|(_, l)| wanted(&sink, l)) {
                result = send(&sink, &client, line.clone()).await;
                if result.is_err() {
                    break;
                }
                done = *seq;
            }
        }
        if result.is_ok() {
            done = last;
        }
        if done != cursor {
            let _ = store.set_sink_cursor(&sink.name, done);
        }
        match result {
            Ok(()) => {
                if !lines.is_empty() {
                    info!(sink = %sink.name, lines = lines.len(), "sink delivered");
                }
                retry = Duration::ZERO;
                if entries.len() >= 500 {
                    wake.notify_one(); // more waiting
                }
            }
            Err(e) => {
                retry = next_retry(retry);
                let error = crate::text::sanitize(&e);
                warn!(sink = %sink.name, error = %error, retry_in = ?retry, "sink delivery failed; retrying");
            }
        }
    }
}

fn next_retry(current: Duration) -> Duration {
    if current.is_zero() {
        Duration::from_secs(1)
    } else {
        (current * 2).min(MAX_RETRY)
    }
}

/// Sends one body (a line, or a digest array) to the sink.
pub(crate) async fn send(
    sink: &SinkConfig,
    client: &reqwest::Client,
    body: String,
) -> Result<(), String> {
    match &sink.kind {
        SinkKind::Webhook { url, secret } => {
            let mut req = client
                .post(url.clone())
                .header("Content-Type", "application/json");
            if let Some(secret) = secret {
                req = req.header(
                    SIGNATURE_HEADER,
                    format!(
                        "sha256={}",
                        hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
                    ),
                );
            }
            let shown = crate::redact::redact_url(url.as_str());
            let resp = req
                .body(body)
                .send()
                .await
                .map_err(|e| format!("POST {shown}: {e}"))?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
                return Err(format!(
                    "POST {shown}: HTTP {status}, a redirect to {}; sinks do not follow redirects: set url to where the receiver is",
                    location.map_or("no Location".to_string(), |l| format!("{l:?}"))
                ));
            }
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("POST {shown}: HTTP {status}"))
            }
        }
        SinkKind::Exec { command } => exec(command, sink.timeout, body).await,
    }
}

/// Runs an exec sink's command with `body` and a newline on its stdin, in a process group
/// of its own. Its exit status decides: a command that exits 0 without reading all of its
/// stdin (EPIPE on our side) has taken the delivery. On timeout the whole group is killed,
/// so that what the command started (`sleep` in a shell script) goes with it.
async fn exec(command: &[String], timeout: Duration, body: String) -> Result<(), String> {
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running {:?}: {e}", command[0]))?;
    let group = child.id().and_then(|p| i32::try_from(p).ok());
    // a send cancelled mid-way (the service stopping) takes the whole group with it too
    let mut cancelled = KillGroup(group);
    let mut stdin = child.stdin.take().expect("piped");
    let write = async move {
        stdin.write_all(body.as_bytes()).await?;
        stdin.write_all(b"\n").await
        // stdin closes here: the command reads its end of file
    };
    let run = async {
        tokio::pin!(write);
        let mut written: Option<std::io::Result<()>> = None;
        loop {
            tokio::select! {
                // the write may never end (a command that neither reads nor exits, or
                // leaves a child holding stdin): the exit is what counts
                status = child.wait() => break status.map(|s| (s, written)),
                w = &mut write, if written.is_none() => written = Some(w),
            }
        }
    };
    let ran = tokio::time::timeout(timeout, run).await;
    cancelled.0 = None; // not cancelled: what follows kills the group itself if it must
    match ran {
        Ok(Ok((status, _))) if status.success() => Ok(()),
        Ok(Ok((status, written))) => Err(match written {
            Some(Err(e)) => format!(
                "{:?} exited with {status} (writing its stdin: {e})",
                command[0]
            ),
            _ => format!("{:?} exited with {status}", command[0]),
        }),
        Ok(Err(e)) => Err(format!("running {:?}: {e}", command[0])),
        Err(_) => {
            drop(KillGroup(group));
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            Err(format!(
                "{:?} did not finish within {timeout:?}; killed it and its process group",
                command[0]
            ))
        }
    }
}

/// Kills the process group an exec sink's command leads, when dropped (unless emptied).
struct KillGroup(Option<i32>);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) with a negative pid signals the process group this child
            // leads (process_group(0) in `exec`); it touches no memory of ours
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // test case 6: a key longer than the block
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
