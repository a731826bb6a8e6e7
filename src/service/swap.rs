//! Swapping the running service's store: the in-run compaction ([`compact`]), reopening a
//! store that refuses writes ([`reopen`], with backoff), taking the store out of its
//! [`StoreSlot`] and waiting for its last handle ([`Service::release_store`]), and the API
//! and the control socket that stay up across the swaps ([`start_api`], [`start_control`]);
//! [`Service::stretches`] runs the service's stretches (`run.rs`) with the swaps between
//! them.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use super::ctl_server::{Ask, Ctl, STORE_WAIT};
use super::run::{Background, Ended, SharedConfig};
use super::{Control, Service};
use crate::config::Config;
use crate::deliver::Wakes;
use crate::metrics::Metrics;
use crate::notify;
use crate::store::Store;
use crate::store::slot::{SlotState, StoreSlot};

/// Starts the API (when `[api] listen` is set), for the whole of `run`. An address that
/// cannot be bound is an error (exit 1, which systemd retries): running on without the API
/// while READY=1 goes out would leave the CLI nothing to ask.
pub(super) async fn start_api(
    config: &Config,
    metrics: &Arc<Metrics>,
    slot: &Arc<StoreSlot>,
    shared: &SharedConfig,
) -> anyhow::Result<Background> {
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    if let Some(addr) = config.api.listen {
        let api = crate::api::Api {
            store: slot.clone(),
            metrics: metrics.clone(),
            config: shared.clone(),
        };
        if let Err(e) = crate::api::start(addr, api, stop.clone(), &tasks).await {
            anyhow::bail!(
                "the api cannot listen on {addr} ([api] listen in {}): {e}; free the address, choose another, or set listen = \"\" to run without the api",
                config.source
            );
        }
    }
    Ok(Background {
        stop: stop.drop_guard(),
        tasks,
        wakes: Arc::new(Wakes::default()),
    })
}

/// The control socket of a `run`, up for the whole of it: the commands' side ([`Ctl`]),
/// what they ask of the supervisor, the socket's path and its tasks.
pub(super) struct Channel {
    pub(super) ctl: Ctl,
    pub(super) asked: mpsc::Receiver<Ask>,
    pub(super) socket: PathBuf,
    pub(super) tasks: Background,
}

/// Binds the control socket, for the whole of `run`: each stretch on an open store hands
/// its handles in (`Ctl::hold`); meanwhile commands wait for the store, and `status`
/// answers with what there is.
pub(super) async fn start_control(
    config: &Config,
    slot: &Arc<StoreSlot>,
    shared: &SharedConfig,
) -> anyhow::Result<Channel> {
    let (asks, asked) = mpsc::channel(8);
    let ctl = Ctl {
        slot: slot.clone(),
        config: shared.clone(),
        held: Arc::new(RwLock::new(None)),
        asks,
        wait: STORE_WAIT,
    };
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let socket = crate::ctl::bind_path(config);
    super::ctl_server::start(
        socket.clone(),
        config.control.group.as_deref(),
        ctl.clone(),
        stop.clone(),
        &tasks,
    )
    .await?;
    Ok(Channel {
        ctl,
        asked,
        socket,
        tasks: Background {
            stop: stop.drop_guard(),
            tasks,
            wakes: Arc::new(Wakes::default()),
        },
    })
}

/// Compacts `store` (taken out of `slot`, which says "compacting" meanwhile) and opens the
/// service on the result; on failure the config back, to reopen the store with.
pub(super) async fn compact(
    config: Config,
    store: Store,
    metrics: Arc<Metrics>,
    slot: &StoreSlot,
) -> Result<Service, (Config, anyhow::Error)> {
    info!(
        "compacting the store: polls pause until it is done; the api answers \"compacting\" meanwhile"
    );
    notify::send("STATUS=compacting the store");
    let patience = super::keep_systemd_patient("compacting the store");
    let cache = config.storage.cache;
    let done = tokio::task::spawn_blocking(move || store.compact_now(cache)).await;
    patience.abort();
    let (store, compacted) = match done {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err((config, e.into())),
        Err(e) => return Err((config, e.into())),
    };
    super::log_compacted(&config, &compacted);
    let store = Arc::new(store);
    match Service::on_store(config.clone(), store.clone(), metrics).await {
        Ok(service) => {
            slot.put(store);
            Ok(service)
        }
        Err(e) => Err((config, e)),
    }
}

/// The first and the longest pause between attempts to open a failed store again.
const REOPEN_FIRST: Duration = Duration::from_millis(500);
const REOPEN_MAX: Duration = Duration::from_secs(30);

/// Opens the store again (its old handle closed), with backoff, until it opens and takes a
/// write; meanwhile `slot` says why not (`/healthz`: 503 and the reason). None when told
/// to stop first.
pub(super) async fn reopen(
    config: Config,
    metrics: Arc<Metrics>,
    slot: &StoreSlot,
    control: &mut Control,
    why: String,
) -> Option<Service> {
    slot.set_out(SlotState::Failed(why));
    notify::send("STATUS=the store refuses writes; opening it again with backoff");
    let patience = super::keep_systemd_patient("the store refuses writes; opening it again");
    let mut pause = REOPEN_FIRST;
    let opened = loop {
        tokio::select! {
            _ = control.stop.cancelled() => break None,
            _ = tokio::time::sleep(pause) => {}
        }
        let path = config.storage.path.clone();
        let cache = config.storage.cache;
        let store = tokio::task::spawn_blocking(move || -> anyhow::Result<Store> {
            let store = Store::open(&path, cache)?;
            store.check_writable()?;
            store.flush()?;
            Ok(store)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        let service = match store {
            Ok(store) => {
                let store = Arc::new(store);
                Service::on_store(config.clone(), store.clone(), metrics.clone())
                    .await
                    .map(|s| (s, store))
            }
            Err(e) => Err(e),
        };
        match service {
            Ok((service, store)) => {
                info!("the store takes writes again: polls resume");
                slot.put(store);
                break Some(service);
            }
            Err(e) => {
                let why = format!("{e:#}");
                warn!(error = %why, retry_in = ?pause, "opening the store again failed");
                slot.set_out(SlotState::Failed(why));
            }
        }
        pause = (pause * 2).min(REOPEN_MAX);
    };
    patience.abort();
    opened
}

impl Service {
    /// The stretches of [`Service::run`], each on one open store, with the store
    /// compacted or reopened between them.
    pub(super) async fn stretches(
        first: Service,
        (slot, shared_config): (&Arc<StoreSlot>, &SharedConfig),
        control: &mut Control,
        channel: &mut Channel,
        reload: &impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<()> {
        let mut service = first;
        loop {
            let ended = service
                .serve((slot, shared_config), control, channel, reload)
                .await?;
            let next = match ended {
                Ended::Stopped => return Ok(()),
                Ended::Compact(config, store, metrics) => {
                    match compact(*config, store, metrics.clone(), slot).await {
                        Ok(service) => Some(service),
                        Err((config, e)) => {
                            let why = format!("{e:#}");
                            error!(error = %why, "compacting the store failed; opening it again");
                            reopen(config, metrics, slot, control, why).await
                        }
                    }
                }
                Ended::StoreFailed(config, store, metrics, why) => {
                    error!(error = %why, "the store refuses writes: polls pause while it is closed and opened again until it takes writes (nothing is lost: what was not recorded is polled again)");
                    drop(store);
                    reopen(*config, metrics, slot, control, why).await
                }
            };
            match next {
                Some(next) => service = next,
                None => return Ok(()), // told to stop meanwhile
            }
        }
    }

    /// [`Service::run`] when the store could not be opened at start-up for a full disk
    /// (`why`): the API starts and says so, and the store is opened with backoff until it
    /// takes writes, then the service runs as usual. Exiting instead would be retried by
    /// systemd at once, and its start limit would leave the service down after space
    /// returns.
    pub async fn run_on_a_full_disk(
        config: Config,
        why: String,
        mut control: Control,
        reload: impl Fn() -> anyhow::Result<Config>,
    ) -> anyhow::Result<()> {
        error!(error = %why, "the store's disk is full: running without it, opening it again with backoff until it takes writes");
        notify::send("READY=1\nSTATUS=the store's disk is full; opening it again with backoff");
        let slot = StoreSlot::empty(config.storage.path.clone(), SlotState::Failed(why.clone()));
        let shared_config: SharedConfig = Arc::new(RwLock::new(Arc::new(config.clone())));
        let metrics = Arc::new(Metrics::starting());
        let api = start_api(&config, &metrics, &slot, &shared_config).await?;
        let mut channel = start_control(&config, &slot, &shared_config).await?;
        let result = match reopen(config, metrics, &slot, &mut control, why).await {
            Some(service) => {
                Service::stretches(
                    service,
                    (&slot, &shared_config),
                    &mut control,
                    &mut channel,
                    &reload,
                )
                .await
            }
            None => Ok(()),
        };
        channel.tasks.stop().await;
        api.stop().await;
        result
    }

    /// After the tasks of a stretch have stopped: takes the store out of `slot` (readers
    /// are told `state` meanwhile) and waits until the last other handle on it is gone (a
    /// request or delivery may still be finishing); the store, and what to carry on with.
    pub(super) async fn release_store(
        self,
        slot: &StoreSlot,
        state: SlotState,
    ) -> anyhow::Result<(Box<Config>, Store, Arc<Metrics>)> {
        let mut store = slot
            .take(state)
            .unwrap_or_else(|| self.poller.store.clone());
        let config = Box::new(self.config.clone());
        let metrics = self.metrics.clone();
        drop(self);
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        loop {
            match Arc::try_unwrap(store) {
                Ok(store) => return Ok((config, store, metrics)),
                Err(again) => store = again,
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "closing the store: it was still in use {} s after polls stopped; exiting, so that the restart opens it afresh",
                    RELEASE_WAIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How long a compaction in `run` waits for the store's last handle to be let go of.
const RELEASE_WAIT: Duration = Duration::from_secs(60);
