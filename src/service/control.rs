//! What tells a running service to stop or to reload: a [`Control`], from the process's
//! signals ([`signals`]) or made by a test or an embedding program.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// What tells a running service ([`super::Service::run`]) to stop or to reload its config.
pub struct Control {
    /// Cancelled to stop: polls in flight are cancelled, pending alerts delivered and the
    /// store flushed. [`signals`] cancels it on SIGTERM and SIGINT.
    pub stop: CancellationToken,
    /// One message per reload (SIGHUP). Once closed, no more reloads are asked for.
    pub reload: mpsc::Receiver<()>,
}

/// A [`Control`] driven by signals: SIGTERM and SIGINT cancel [`Control::stop`], SIGHUP
/// sends a [`Control::reload`].
pub fn signals() -> Control {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = CancellationToken::new();
    let (tx, reload) = mpsc::channel(4);
    let trigger = stop.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            warn!("cannot install signal handlers; stop feedwatch with SIGKILL");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => if tx.send(()).await.is_err() {
                    return;
                },
            }
        }
        trigger.cancel();
    });
    Control { stop, reload }
}
