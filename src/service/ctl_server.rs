//! The service's side of the control channel: the listener on the Unix socket, and each
//! command run against the running service's store, poller and alert log.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, warn};

use super::Cycle;
use crate::alert::AlertLog;
use crate::config::Config;
use crate::ctl::{MAX_REQUEST, MODE, PATH_FILE, Reply, Request};
use crate::poll::Poller;
use crate::store::Store;

/// When this process first served its control socket: the service's start, for `status`.
static STARTED: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();

/// The poller in force, shared with the control channel (replaced on reload).
pub type SharedPoller = Arc<RwLock<Arc<Poller>>>;

/// What the control channel asks of the service's supervisor.
pub enum Ask {
    /// Re-read the config; the answer is the outcome in words, `Err` when it was invalid
    /// and the running config stays in force.
    Reload(oneshot::Sender<Result<String, String>>),
    /// Restart the feed loops (a feed was enabled, paused or resumed); answered once they
    /// have restarted.
    Restart(oneshot::Sender<()>),
}

/// What the control channel works with: the same handles the API reads, plus the poller,
/// the alert log and a line to the supervisor.
#[derive(Clone)]
pub struct Ctl {
    pub store: Arc<Store>,
    pub config: Arc<RwLock<Arc<Config>>>,
    pub poller: SharedPoller,
    pub log: Arc<Mutex<AlertLog>>,
    pub asks: mpsc::Sender<Ask>,
}

impl Ctl {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn poller(&self) -> Arc<Poller> {
        self.poller
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Binds the control socket (replacing a stale one; refusing one a live process answers
/// on), makes it mode 0660, names it beside the store, and serves it until `stop`.
pub async fn start(
    path: PathBuf,
    ctl: Ctl,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            anyhow::bail!(
                "the control socket {} is in use by another process; set [control] socket to another path",
                path.display()
            );
        }
        let _ = std::fs::remove_file(&path);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "creating the control socket's directory {}: {e}",
                dir.display()
            )
        })?;
    }
    STARTED.get_or_init(chrono::Utc::now);
    let listener = UnixListener::bind(&path)
        .map_err(|e| anyhow::anyhow!("binding the control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(MODE)).map_err(|e| {
        anyhow::anyhow!(
            "setting the mode of the control socket {}: {e}",
            path.display()
        )
    })?;
    let _ = std::fs::write(
        ctl.store.path().join(PATH_FILE),
        path.as_os_str().as_encoded_bytes(),
    );
    info!(socket = %path.display(), "control socket listening");
    let conns = tasks.clone();
    let listen = async move {
        loop {
            let conn = tokio::select! {
                _ = stop.cancelled() => break,
                conn = listener.accept() => conn,
            };
            match conn {
                Ok((stream, _)) => {
                    let ctl = ctl.clone();
                    let stop = stop.clone();
                    conns.spawn(async move {
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = serve(stream, ctl) => {}
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "control socket: accepting failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    };
    tasks.spawn(listen.instrument(tracing::info_span!("control")));
    Ok(())
}

/// One connection: one request, its replies, the end.
async fn serve(stream: UnixStream, ctl: Ctl) {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_until(b'\n', &mut line));
    let request = match read.await {
        Ok(Ok(_)) => serde_json::from_slice::<Request>(&line).map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no request within 10 s".into()),
    };
    let (tx, mut rx) = mpsc::channel::<Reply>(64);
    let run = async move {
        let outcome = match request {
            Ok(r) => {
                info!(request = ?r, "control: command");
                run(r, &ctl, &tx).await
            }
            Err(e) => Err(anyhow::anyhow!("unreadable control request: {e}")),
        };
        let (code, error) = match outcome {
            Ok(()) => (0, None),
            Err(e) => (crate::exit::code_for(&e), Some(format!("{e:#}"))),
        };
        let _ = tx.send(Reply::Exit { code, error }).await;
    };
    let forward = async move {
        while let Some(reply) = rx.recv().await {
            let mut text = serde_json::to_vec(&reply).expect("replies serialise");
            text.push(b'\n');
            if write.write_all(&text).await.is_err() {
                return; // the client left; dropping rx stops the command's output
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::join!(run, forward);
}

/// Runs one command, its output sent on `tx`.
async fn run(request: Request, ctl: &Ctl, tx: &mpsc::Sender<Reply>) -> anyhow::Result<()> {
    let config = ctl.config();
    let out = |s: String| Reply::Out(s);
    match request {
        Request::Poll { feed } => {
            let cycle = poll(ctl, &config, feed.as_deref()).await?;
            tx.send(out(cycle.summary(&config.alerts.log))).await?;
            // as `once` without a service: no feed polled is exit 4 (the sinks are the
            // running service's own, delivered by its deliverer)
            let undone = cycle.undone();
            if !undone.is_empty() {
                return Err(crate::exit::Undone(undone).into());
            }
        }
        Request::Enable { feed } => {
            known_feed(&config, &feed)?;
            let was = blocking(ctl, move |store| {
                Ok(store.enable(&feed).map(|w| (feed, w))?)
            })
            .await?;
            restart(ctl).await?;
            tx.send(out(crate::ctl::enable_message(&was.0, was.1)))
                .await?;
        }
        Request::Pause { feed } => {
            known_feed(&config, &feed)?;
            let now = chrono::Utc::now();
            let (feed, changed) = blocking(ctl, move |s| {
                Ok(s.set_paused(&feed, Some(now)).map(|c| (feed, c))?)
            })
            .await?;
            restart(ctl).await?;
            // a poll in flight until the restart may have written the feed's state meanwhile
            let name = feed.clone();
            blocking(ctl, move |s| Ok(s.set_paused(&name, Some(now))?)).await?;
            tx.send(out(crate::ctl::pause_message(&feed, changed)))
                .await?;
        }
        Request::Resume { feed } => {
            let off = !known_feed(&config, &feed)?.enabled;
            let (feed, changed) = blocking(ctl, move |s| {
                Ok(s.set_paused(&feed, None).map(|c| (feed, c))?)
            })
            .await?;
            restart(ctl).await?;
            tx.send(out(crate::ctl::resume_message(&feed, changed, off)))
                .await?;
        }
        Request::Reload => {
            let (reply, answer) = oneshot::channel();
            ctl.asks.send(Ask::Reload(reply)).await?;
            match answer.await? {
                Ok(said) => tx.send(out(format!("{said}\n"))).await?,
                Err(problems) => {
                    return Err(crate::exit::usage_error(format!(
                        "the new config is invalid and was kept out; the running config stays in force:\n{problems}"
                    )));
                }
            }
        }
        Request::Rematch {
            since,
            watch,
            dry_run,
            json,
        } => {
            let since = since.and_then(|s| Duration::try_from_secs_f64(s).ok());
            let (store, log, tx) = (ctl.store.clone(), ctl.log.clone(), tx.clone());
            tokio::task::spawn_blocking(move || {
                let mut out = Lines::new(&tx, Reply::Out);
                let mut err = Lines::new(&tx, Reply::Err);
                let mut progress = |done, total| {
                    if done % 256 == 0 || done == total {
                        let _ = tx.blocking_send(Reply::Progress(done, total));
                    }
                };
                let mut deliver = |store: &Store| {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    crate::deliver::deliver_pending(store, &mut log)
                };
                crate::rematch::rematch_with(
                    &config,
                    &store,
                    since,
                    watch.as_deref(),
                    dry_run,
                    json,
                    crate::rematch::Streams {
                        out: &mut out,
                        err: &mut err,
                        progress: &mut progress,
                        deliver: &mut deliver,
                    },
                )?;
                out.flush()?;
                err.flush()?;
                Ok::<(), anyhow::Error>(())
            })
            .await??;
        }
        Request::Status => {
            let started = *STARTED.get_or_init(chrono::Utc::now);
            let status = blocking(ctl, move |s| {
                crate::status::status(&config, s, Some(started), chrono::Utc::now())
            })
            .await?;
            tx.send(out(format!("{status}\n"))).await?;
        }
        Request::Explain { item } => {
            let v = blocking(ctl, move |s| crate::explain::explain(&config, s, &item)).await?;
            tx.send(out(format!("{v}\n"))).await?;
        }
        Request::Export => {
            let (store, chunks) = (ctl.store.clone(), tx.clone());
            let counts = tokio::task::spawn_blocking(move || {
                let mut out = Lines::new(&chunks, Reply::Out);
                let counts = store.export(&mut out)?;
                Ok::<String, anyhow::Error>(counts.to_string())
            })
            .await??;
            tx.send(Reply::Summary(counts)).await?;
        }
    }
    Ok(())
}

/// Restarts the feed loops and waits until they have.
async fn restart(ctl: &Ctl) -> anyhow::Result<()> {
    let (done, restarted) = oneshot::channel();
    ctl.asks.send(Ask::Restart(done)).await?;
    Ok(restarted.await?)
}

/// The configured feed called `name`, or a usage error listing the feeds.
fn known_feed<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a crate::config::FeedConfig> {
    config
        .feeds
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| super::unknown_feed(config, name))
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    ctl: &Ctl,
    f: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let store = ctl.store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await?
}

/// `poll NAME`, or every feed neither off in config nor paused, with the running poller;
/// then the alerts delivered to the alert log.
async fn poll(ctl: &Ctl, config: &Config, name: Option<&str>) -> anyhow::Result<Cycle> {
    let poller = ctl.poller();
    let feeds = match name {
        Some(name) => {
            let feed = known_feed(config, name)?;
            super::refuse_paused(&ctl.store, name)?;
            vec![feed.clone()]
        }
        None => super::active_feeds(config, &ctl.store)?,
    };
    let mut cycle = super::poll_each(&poller, feeds).await?;
    cycle.delivered = crate::deliver::deliver(ctl.store.clone(), ctl.log.clone()).await?;
    Ok(cycle)
}

/// A blocking writer that sends what is written as replies, a line (or 64 KiB) at a time.
struct Lines<'a> {
    tx: &'a mpsc::Sender<Reply>,
    make: fn(String) -> Reply,
    buf: Vec<u8>,
}

impl<'a> Lines<'a> {
    fn new(tx: &'a mpsc::Sender<Reply>, make: fn(String) -> Reply) -> Lines<'a> {
        Lines {
            tx,
            make,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, upto: usize) -> std::io::Result<()> {
        let rest = self.buf.split_off(upto);
        let chunk = std::mem::replace(&mut self.buf, rest);
        let text = String::from_utf8_lossy(&chunk).into_owned();
        self.tx
            .blocking_send((self.make)(text))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl Write for Lines<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            let upto = self
                .buf
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(self.buf.len(), |i| i + 1);
            self.send(upto)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.send(self.buf.len())?;
        }
        Ok(())
    }
}
