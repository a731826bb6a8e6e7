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
    let client = match reqwest::Client::builder().timeout(sink.timeout).build() {
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
                warn!(sink = %sink.name, error = %e, retry_in = ?retry, "sink delivery failed; retrying");
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
            let resp = req
                .body(body)
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("POST {url}: HTTP {}", resp.status()))
            }
        }
        SinkKind::Exec { command } => {
            let mut child = tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("running {:?}: {e}", command[0]))?;
            let mut stdin = child.stdin.take().expect("piped");
            let run = async {
                stdin.write_all(body.as_bytes()).await?;
                stdin.write_all(b"\n").await?;
                drop(stdin);
                child.wait().await
            };
            match tokio::time::timeout(sink.timeout, run).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(format!("{:?} exited with {status}", command[0])),
                Ok(Err(e)) => Err(format!("running {:?}: {e}", command[0])),
                Err(_) => Err(format!(
                    "{:?} did not finish within {:?}; killed",
                    command[0], sink.timeout
                )),
            }
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
