//! `kind = "exec"`: a command run with the alert JSON (a digest: a JSON array) and a
//! newline on its stdin; its exit status decides whether it took the delivery.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Runs an exec sink's command with `body` and a newline on its stdin, in a process group
/// of its own. Its exit status decides: a command that exits 0 without reading all of its
/// stdin (EPIPE on our side) has taken the delivery. On timeout the whole group is killed,
/// so that what the command started (`sleep` in a shell script) goes with it.
pub(super) async fn exec(
    command: &[String],
    timeout: Duration,
    body: String,
) -> Result<(), String> {
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
