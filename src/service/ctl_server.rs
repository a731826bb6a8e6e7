//! The service's side of the control channel: the listener on the Unix socket, and each
//! command run against the running service's store, poller and alert log.
//!
//! The socket lives as long as `run` (like the API), across the in-run compactions and
//! reopenings of the store: each stretch on an open store hands its handles in
//! ([`Ctl::hold`]) and takes them back when it ends ([`Ctl::release`]). Meanwhile a command
//! that needs the store waits for it, up to [`STORE_WAIT`], then answers exit 3 with why
//! the store is out ("compacting the store ...; try again shortly"); `status` answers at
//! once with what it has (the store's state instead of its figures). A command in flight
//! when its stretch ends may finish within [`FINISH_WAIT`] (a poll, a pause); one that
//! takes longer (an export, a rematch of a big store) is cut off with the same exit 3, so
//! that the compaction does not wait for it.

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
use crate::ctl::lines::Lines;
use crate::ctl::{MAX_REQUEST, MODE, PATH_FILE, Reply, Request};
use crate::exit::Busy;
use crate::poll::Poller;
use crate::store::Store;
use crate::store::slot::StoreSlot;

/// How long a command that needs the store waits for it while it is out (compacting, or
/// being reopened) before it answers exit 3 "try again".
pub const STORE_WAIT: Duration = Duration::from_secs(20);

/// How long the end of a stretch waits for the commands in flight on its store.
pub const FINISH_WAIT: Duration = Duration::from_secs(10);

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

/// The handles of one stretch on an open store, for the control channel.
#[derive(Clone)]
pub struct Held {
    pub store: Arc<Store>,
    pub poller: SharedPoller,
    pub log: Arc<Mutex<AlertLog>>,
    /// Cancelled when the stretch begins to end: no supervisor answers asks any more.
    pub ending: CancellationToken,
    /// Cancelled when the stretch has ended ([`FINISH_WAIT`] after `ending` at the
    /// latest): commands still in flight on this store stop.
    pub gone: CancellationToken,
    /// One for each clone: the commands in flight, and the control channel's own.
    users: Arc<()>,
}

impl Held {
    /// The handles of a stretch beginning on `store`.
    pub fn new(store: Arc<Store>, poller: SharedPoller, log: Arc<Mutex<AlertLog>>) -> Held {
        Held {
            store,
            poller,
            log,
            ending: CancellationToken::new(),
            gone: CancellationToken::new(),
            users: Arc::new(()),
        }
    }
}

impl Held {
    fn poller(&self) -> Arc<Poller> {
        self.poller
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What the control channel works with: the same slot and config the API reads, the
/// handles of the stretch on the open store (none while it is out), and a line to the
/// supervisor.
#[derive(Clone)]
pub struct Ctl {
    pub slot: Arc<StoreSlot>,
    pub config: Arc<RwLock<Arc<Config>>>,
    pub held: Arc<RwLock<Option<Held>>>,
    pub asks: mpsc::Sender<Ask>,
    /// How long a command waits for the store ([`STORE_WAIT`]).
    pub wait: Duration,
}

impl Ctl {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A stretch on an open store begins: commands run on these handles. Names the socket
    /// beside the store again (a compaction rewrites the store directory).
    pub fn hold(&self, held: Held, socket: &std::path::Path) {
        let named = held.store.path().join(PATH_FILE);
        if !named.exists() {
            let _ = std::fs::write(named, socket.as_os_str().as_encoded_bytes());
        }
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = Some(held);
    }

    /// The stretch ends: new commands wait for the next one; those in flight on its store
    /// may finish within [`FINISH_WAIT`], then they stop. Every command holds a clone of
    /// the [`Held`] (its store among them), so the wait ends when only this one is left.
    pub async fn release(&self) {
        let held = self.held.write().unwrap_or_else(|p| p.into_inner()).take();
        let Some(held) = held else { return };
        held.ending.cancel();
        let deadline = tokio::time::Instant::now() + FINISH_WAIT;
        while Arc::strong_count(&held.users) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        held.gone.cancel();
    }

    fn now_held(&self) -> Option<Held> {
        self.held.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The handles of the open store, waiting up to `wait` while it is out; else exit 3
    /// with why it is out.
    async fn held(&self) -> anyhow::Result<Held> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            if let Some(held) = self.now_held() {
                return Ok(held);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.busy());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Exit 3: why the store is out, and to try again.
    fn busy(&self) -> anyhow::Error {
        let why = match self.slot.get() {
            Err(out) => out.to_string(),
            // in the slot, but its stretch has not begun (or has just ended)
            Ok(_) => {
                "the store is between two stretches (compacting or reopening it); try again shortly"
                    .into()
            }
        };
        Busy(format!(
            "the running feedwatch cannot reach its store: {why} (waited {} s)",
            self.wait.as_secs()
        ))
        .into()
    }
}

/// Binds the control socket (replacing a stale one; refusing one a live process answers
/// on), gives it to `group` (`[control] group`; `None`: the service's own group) with mode
/// 0660, names it beside the store, and serves it until `stop`.
pub async fn start(
    path: PathBuf,
    group: Option<&str>,
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
    let gid = match group {
        Some(name) => crate::ctl::group_id(name).ok_or_else(|| {
            anyhow::anyhow!(
                "[control] group: there is no group {name:?} on this system; create it (groupadd {name}) or leave group unset for the service's own group"
            )
        })?,
        // SAFETY: getegid cannot fail and touches no memory
        None => unsafe { libc::getegid() },
    };
    std::os::unix::fs::chown(&path, None, Some(gid)).map_err(|e| {
        anyhow::anyhow!(
            "giving the control socket {} to group {} (gid {gid}): {e}; the service's user must be a member of it (under systemd: SupplementaryGroups= and PrivateUsers=no, see docs/operations.md)",
            path.display(),
            group.unwrap_or("of the service")
        )
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(MODE)).map_err(|e| {
        anyhow::anyhow!(
            "setting the mode of the control socket {}: {e}",
            path.display()
        )
    })?;
    let _ = std::fs::write(
        ctl.slot.path().join(PATH_FILE),
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

/// Runs one command, its output sent on `tx`: `status` at once with what there is; the
/// others on the open store (waiting for it while it is out), cut off when their stretch
/// ends.
async fn run(request: Request, ctl: &Ctl, tx: &mpsc::Sender<Reply>) -> anyhow::Result<()> {
    match request {
        Request::Status => return status(ctl, tx).await,
        Request::Reload => {
            ctl.held().await?; // the supervisor answers while a stretch runs
            let said = reload(ctl).await?;
            tx.send(Reply::Out(format!("{said}\n"))).await?;
            return Ok(());
        }
        _ => {}
    }
    let held = ctl.held().await?;
    let gone = held.gone.clone();
    tokio::select! {
        _ = gone.cancelled() => Err(Busy(
            "the running feedwatch took its store out (to compact it, or to reopen it) while the command ran; what it did so far stays done: try again in a moment".into(),
        ).into()),
        done = on_store(request, ctl, &held, tx) => done,
    }
}

/// `status`: from the store when it is in; else what the service knows without it.
async fn status(ctl: &Ctl, tx: &mpsc::Sender<Reply>) -> anyhow::Result<()> {
    let config = ctl.config();
    let started = *STARTED.get_or_init(chrono::Utc::now);
    let now = chrono::Utc::now();
    let status = match ctl.now_held() {
        Some(held) => {
            let gone = held.gone.clone();
            let work = blocking(&held, move |s| {
                crate::status::status(&config, s, Some(started), now)
            });
            tokio::select! {
                _ = gone.cancelled() => None,
                status = work => Some(status?),
            }
        }
        None => None,
    };
    let status = match status {
        Some(status) => status,
        None => {
            let why = match ctl.slot.get() {
                Err(out) => out.to_string(),
                Ok(_) => "between two stretches (compacting or reopening it)".into(),
            };
            let config = ctl.config();
            crate::status::without_store(&config, ctl.slot.path(), &why, started, now)
        }
    };
    tx.send(Reply::Out(format!("{status}\n"))).await?;
    Ok(())
}

/// Asks the supervisor to re-read the config: what it said, or exit 2 with the problems.
async fn reload(ctl: &Ctl) -> anyhow::Result<String> {
    let (reply, answer) = oneshot::channel();
    ctl.asks.send(Ask::Reload(reply)).await?;
    match answer.await? {
        Ok(said) => Ok(said),
        Err(problems) => Err(crate::exit::usage_error(format!(
            "the new config is invalid and was kept out; the running config stays in force:\n{problems}"
        ))),
    }
}

/// A command that needs the store, on `held`.
async fn on_store(
    request: Request,
    ctl: &Ctl,
    held: &Held,
    tx: &mpsc::Sender<Reply>,
) -> anyhow::Result<()> {
    let config = ctl.config();
    let out = |s: String| Reply::Out(s);
    match request {
        Request::Status | Request::Reload => unreachable!("answered by `run`"),
        Request::Poll { feed } => {
            let cycle = poll(held, &config, feed.as_deref()).await?;
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
            let was = blocking(held, move |store| {
                Ok(store.enable(&feed).map(|w| (feed, w))?)
            })
            .await?;
            restart(ctl, held).await?;
            tx.send(out(crate::ctl::enable_message(&was.0, was.1)))
                .await?;
        }
        Request::Pause { feed } => {
            known_feed(&config, &feed)?;
            let now = chrono::Utc::now();
            // cluster mode: paused on every node, recorded in NATS first
            crate::cluster::share_pause(&feed, Some(now)).await?;
            let (feed, changed) = blocking(held, move |s| {
                Ok(s.set_paused(&feed, Some(now)).map(|c| (feed, c))?)
            })
            .await?;
            restart(ctl, held).await?;
            // a poll in flight until the restart may have written the feed's state meanwhile
            let name = feed.clone();
            blocking(held, move |s| Ok(s.set_paused(&name, Some(now))?)).await?;
            let note = crate::cluster::unpolled(&feed).await.unwrap_or_default();
            tx.send(out(crate::ctl::pause_message(&feed, changed) + &note))
                .await?;
        }
        Request::Resume { feed } => {
            let off = !known_feed(&config, &feed)?.enabled;
            crate::cluster::share_pause(&feed, None).await?;
            let (feed, changed) = blocking(held, move |s| {
                Ok(s.set_paused(&feed, None).map(|c| (feed, c))?)
            })
            .await?;
            restart(ctl, held).await?;
            tx.send(out(crate::ctl::resume_message(&feed, changed, off)))
                .await?;
        }
        Request::Rematch {
            since,
            watch,
            dry_run,
            json,
        } => {
            // the watches of the config file as it is now, the same the CLI read: the
            // service reloads first (an invalid file: exit 2, nothing rematched)
            let said = tokio::select! {
                _ = held.ending.cancelled() => return Err(Busy(
                    "the running feedwatch began to take its store out (to compact it, or to reopen it) before it reloaded its config for the rematch; nothing was rematched: try again in a moment".into(),
                ).into()),
                said = reload(ctl) => said?,
            };
            tx.send(Reply::Err(format!(
                "rematch: the running feedwatch reloaded its config first ({said})\n"
            )))
            .await?;
            let config = ctl.config();
            let since = since.and_then(|s| Duration::try_from_secs_f64(s).ok());
            let (store, log, tx) = (held.store.clone(), held.log.clone(), tx.clone());
            let gone = held.gone.clone();
            tokio::task::spawn_blocking(move || {
                let mut out = Lines::new(&tx, Reply::Out, &gone);
                let mut err = Lines::new(&tx, Reply::Err, &gone);
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
        Request::Explain { item } => {
            let v = blocking(held, move |s| crate::explain::explain(&config, s, &item)).await?;
            tx.send(out(format!("{v}\n"))).await?;
        }
        Request::Export => {
            let (store, chunks, gone) = (held.store.clone(), tx.clone(), held.gone.clone());
            let counts = tokio::task::spawn_blocking(move || {
                let mut out = Lines::new(&chunks, Reply::Out, &gone);
                let counts = store.export(&mut out)?;
                Ok::<String, anyhow::Error>(counts.to_string())
            })
            .await??;
            tx.send(Reply::Summary(counts)).await?;
        }
    }
    Ok(())
}

/// Restarts the feed loops and waits until they have; or not, when the stretch is ending
/// (the next one starts them afresh).
async fn restart(ctl: &Ctl, held: &Held) -> anyhow::Result<()> {
    let (done, restarted) = oneshot::channel();
    ctl.asks.send(Ask::Restart(done)).await?;
    tokio::select! {
        _ = held.ending.cancelled() => Ok(()),
        done = restarted => Ok(done?),
    }
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
    held: &Held,
    f: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let store = held.store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await?
}

/// `poll NAME`, or every feed neither off in config nor paused, with the running poller;
/// then the alerts delivered to the alert log.
async fn poll(held: &Held, config: &Config, name: Option<&str>) -> anyhow::Result<Cycle> {
    let poller = held.poller();
    let feeds = match name {
        Some(name) => {
            let feed = known_feed(config, name)?;
            super::refuse_paused(&held.store, name)?;
            vec![feed.clone()]
        }
        None => super::active_feeds(config, &held.store)?,
    };
    let mut cycle = super::poll_each(&poller, feeds).await?;
    cycle.delivered = crate::deliver::deliver(held.store.clone(), held.log.clone()).await?;
    Ok(cycle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::slot::SlotState;

    fn ctl(slot: Arc<StoreSlot>) -> (Ctl, mpsc::Receiver<Ask>) {
        let text = "[[feeds]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n";
        let config = crate::config::parse(text, "test", None, &Default::default()).unwrap();
        let (asks, asked) = mpsc::channel(8);
        let ctl = Ctl {
            slot,
            config: Arc::new(RwLock::new(Arc::new(config))),
            held: Arc::new(RwLock::new(None)),
            asks,
            wait: Duration::from_millis(200),
        };
        (ctl, asked)
    }

    /// What the CLI would get: the output lines and the exit code.
    async fn ask(ctl: &Ctl, request: Request) -> (String, u8, String) {
        let (tx, mut rx) = mpsc::channel(64);
        let outcome = run(request, ctl, &tx).await;
        drop(tx);
        let mut out = String::new();
        while let Some(r) = rx.recv().await {
            if let Reply::Out(s) = r {
                out.push_str(&s);
            }
        }
        match outcome {
            Ok(()) => (out, 0, String::new()),
            Err(e) => (out, crate::exit::code_for(&e), format!("{e:#}")),
        }
    }

    /// While the store is out, a command that needs it waits (a bounded while) and then
    /// answers exit 3 with why; `status` answers at once with what the service knows.
    #[tokio::test]
    async fn while_the_store_is_out_commands_wait_then_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let slot = StoreSlot::empty(dir.path().join("store"), SlotState::Compacting);
        let (ctl, _asked) = ctl(slot);
        let started = tokio::time::Instant::now();
        let (_, code, error) = ask(&ctl, Request::Poll { feed: None }).await;
        assert_eq!(code, crate::exit::code::HELD, "{error}");
        assert!(error.contains("compacting the store"), "{error}");
        assert!(started.elapsed() >= ctl.wait, "it waited for the store");
        let started = tokio::time::Instant::now();
        let (out, code, error) = ask(&ctl, Request::Status).await;
        assert_eq!(code, 0, "{error}");
        assert!(started.elapsed() < ctl.wait, "status does not wait");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["running"], true, "{v}");
        assert!(
            v["store"]["state"].as_str().unwrap().contains("compacting"),
            "{v}"
        );
        assert!(crate::status::render(&v).contains("out of reach: compacting"));
    }

    /// A command waiting for the store runs as soon as a stretch hands it in; the end of
    /// the stretch waits for it to finish.
    #[tokio::test]
    async fn a_waiting_command_runs_once_the_store_is_back() {
        let _d = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&_d.path().join("store"), 1 << 20).unwrap());
        let slot = StoreSlot::empty(store.path().to_path_buf(), SlotState::Compacting);
        let (mut ctl, _asked) = ctl(slot.clone());
        ctl.wait = Duration::from_secs(20);
        let waiting = {
            let ctl = ctl.clone();
            tokio::spawn(async move {
                ask(
                    &ctl,
                    Request::Explain {
                        item: "nothing-like-it".into(),
                    },
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "it waits while the store is out");
        let config = ctl.config();
        let poller = Arc::new(Poller::new(
            crate::fetch::Fetcher::new(&config.fetch).unwrap(),
            store.clone(),
            Arc::new(crate::watch::Matcher::new(&config.watches).unwrap()),
            &config,
            Arc::new(crate::metrics::Metrics::default()),
        ));
        let log = AlertLog::open(&_d.path().join("alerts.jsonl")).unwrap();
        slot.put(store.clone());
        let socket = _d.path().join("ctl.sock");
        ctl.hold(
            Held::new(
                store.clone(),
                Arc::new(RwLock::new(poller)),
                Arc::new(Mutex::new(log)),
            ),
            &socket,
        );
        let (_, code, error) = waiting.await.unwrap();
        // the command ran on the store: an unknown item is exit 2, not "try again"
        assert_eq!(code, crate::exit::code::CONFIG, "{error}");
        assert!(store.path().join(PATH_FILE).exists(), "the socket is named");
        // the end of the stretch waits for a command in flight, then tells it to stop
        let in_flight = ctl.held().await.unwrap();
        let release = {
            let ctl = ctl.clone();
            tokio::spawn(async move { ctl.release().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            in_flight.ending.is_cancelled(),
            "told that the stretch ends"
        );
        assert!(!release.is_finished(), "waits for the command in flight");
        assert!(!in_flight.gone.is_cancelled());
        let gone = in_flight.gone.clone();
        drop(in_flight);
        release.await.unwrap();
        assert!(gone.is_cancelled());
        assert!(ctl.now_held().is_none());
    }
}
