//! Wiring: the reader thread, the output task, the checkpoint writer, and
//! shutdown.
//!
//! Drain order on SIGTERM or SIGINT: stop reading → the reader ships its last
//! batch and closes the queue → the output writes everything queued and
//! closes the connection (TLS close_notify) → the checkpoint writer stores
//! the final offsets → exit. If the receiver does not take the queued data
//! within `shutdown_timeout`, the output gives up: those lines were never
//! confirmed, so the next start reads them again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::relay::config::{Config, Output};
use crate::relay::input::discover::{Hints, Watcher};
use crate::relay::input::sources::{default_hostname, SourceSet};
use crate::relay::metrics;
use crate::relay::metrics::Stats;
use crate::relay::output::{self, Connector};
use crate::relay::reader::claims::Shared;
use crate::relay::reader::{Reader, ReaderSettings};
use crate::relay::state::checkpoint::{Checkpoints, CHECKPOINT_FILE};
use crate::relay::state::owners::{Instance, Owners};
use crate::relay::state::units::{SharedUnitMap, UnitMap, UnitStore};
use crate::relay::state::writer::{self, Sink};

/// Batches queued between the reader and the output. With the batch size
/// this bounds the memory a backlog can take (docs/delivery.md, "Memory bound").
pub(super) const QUEUE_BATCHES: usize = 4;
/// Target size of one batch: many frames per TLS write.
pub(super) const BATCH_BYTES: usize = 128 * 1024;
/// How often confirmed offsets are written to disk at most.
pub(super) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("state_dir {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Checkpoint(#[from] crate::relay::state::checkpoint::CheckpointError),
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error("metrics.listen {listen:?}: {source}")]
    Metrics {
        listen: String,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

/// Options that are not in the config file.
#[derive(Debug, Default, Clone)]
pub(super) struct RunOptions {
    /// Read every file to its end, ship it, and exit.
    pub once: bool,
    /// The file SIGHUP reloads (none for the demo).
    pub config_path: Option<PathBuf>,
}

/// Runs the relay until SIGTERM/SIGINT (or, with `once`, until all is shipped).
pub(super) fn run(config: Config, options: RunOptions) -> Result<(), StartError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|source| StartError::StateDir {
        path: config.state_dir.clone(),
        source,
    })?;
    let hostname = default_hostname(config.hostname.as_deref());
    let Loaded {
        state,
        stored_at,
        sink,
        shared,
        instance,
    } = if config.shard.is_some() {
        load_shared(&config, &hostname)?
    } else {
        load_own(&config)?
    };
    let connector = Connector::from_config(&config.output)?;
    let stats = Arc::new(Stats::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let metrics = match &config.metrics {
        Some(m) => Some(
            runtime
                .block_on(metrics::bind(&m.listen))
                .map_err(|source| StartError::Metrics {
                    listen: m.listen.clone(),
                    source,
                })?,
        ),
        None => None,
    };

    let (batch_tx, batch_rx) = mpsc::channel(QUEUE_BATCHES);
    let (ack_tx, ack_rx) = std_mpsc::channel();
    // One pending wake-up is enough: the reader takes every hint at once.
    let (wake_tx, wake_rx) = std_mpsc::sync_channel(1);
    let (reload_tx, reload_rx) = std_mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));

    let sources = source_set(&config);
    let hints = {
        let wake = wake_tx.clone();
        Hints::new(move || {
            // Full: a wake-up is pending already.
            let _pending = wake.try_send(());
        })
    };
    let watcher = start_watcher(&sources, &hints);
    let reader = Reader::new(
        sources,
        reader_settings(&config, &options, stored_at),
        state.clone(),
        Arc::clone(&stats.reader),
        Arc::clone(&hints),
        shared,
    );
    let reader_stop = Arc::clone(&stop);
    let reader_thread = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || reader.run(batch_tx, wake_rx, reload_rx, reader_stop))
        .map_err(|e| StartError::Thread("reader", e))?;
    let cp_stats = Arc::clone(&stats.checkpoint);
    let checkpoint_thread = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || writer::run(sink, state, ack_rx, CHECKPOINT_INTERVAL, cp_stats))
        .map_err(|e| StartError::Thread("checkpoint", e))?;

    let output = output::run(connector, batch_rx, ack_tx, Arc::clone(&stats.output));
    let control = Control {
        stop,
        wake: wake_tx,
        reload: reload_tx,
        watcher,
        hints,
        config_path: options.config_path.clone(),
        config,
    };
    runtime.block_on(async {
        let server =
            metrics.map(|listener| tokio::spawn(metrics::serve(listener, Arc::clone(&stats))));
        supervise(output, control).await;
        if let Some(server) = server {
            server.abort();
        }
    });
    drop(runtime);
    // The output (and its end of the ack channel) is gone: the checkpoint
    // writer may be parked until its next store is due; let it see that now.
    checkpoint_thread.thread().unpark();

    if reader_thread.join().is_err() {
        tracing::error!("the reader thread panicked");
    }
    if checkpoint_thread.join().is_err() {
        tracing::error!("the checkpoint thread panicked");
    }
    // The final checkpoints are stored: other replicas may take our units.
    drop(instance);
    tracing::info!(
        lines = stats.reader.lines_read.load(Ordering::Relaxed),
        messages_sent = stats.output.messages_sent.load(Ordering::Relaxed),
        "relay stopped"
    );
    Ok(())
}

/// What the relay resumes from, and where it stores.
struct Loaded {
    state: Checkpoints,
    /// When the state was stored (`None`: a first start).
    stored_at: Option<std::time::SystemTime>,
    sink: Sink,
    shared: Option<Shared>,
    /// Keeps this relay's claims until the end of `run`, after the final
    /// checkpoint store.
    instance: Option<Instance>,
}

/// A state directory of its own: `checkpoints.v1`.
fn load_own(config: &Config) -> Result<Loaded, StartError> {
    let checkpoint_path = config.state_dir.join(CHECKPOINT_FILE);
    let stored_at = std::fs::metadata(&checkpoint_path)
        .and_then(|m| m.modified())
        .ok();
    let state = Checkpoints::load(&checkpoint_path)?;
    tracing::info!(path = %checkpoint_path.display(), files = state.len(), "loaded checkpoint");
    // The first start stores an empty checkpoint at once: a relay that dies
    // before its first confirmation (the resend window confirms late) must
    // not look like a first start to the next one, which would leave files
    // rotated in between unread (see `Reader::recover_unknown_rotated`).
    // This start is still a first one: `start_at` applies to what is there.
    if stored_at.is_none() {
        if let Err(e) = state.store(&checkpoint_path) {
            tracing::warn!(error = %e, "cannot store the first checkpoint; will retry");
        }
    }
    Ok(Loaded {
        state,
        stored_at,
        sink: Sink::File(checkpoint_path),
        shared: None,
        instance: None,
    })
}

/// A state directory shared by replicas (`shard` set): claims per unit
/// and a checkpoint file per unit; nothing is loaded until a unit is
/// claimed.
fn load_shared(config: &Config, hostname: &str) -> Result<Loaded, StartError> {
    let dir_error = |source| StartError::StateDir {
        path: config.state_dir.clone(),
        source,
    };
    let (owners, instance) = Owners::new(&config.state_dir, hostname).map_err(dir_error)?;
    let store = UnitStore::open(&config.state_dir)?;
    let stored_at = store.stored_before();
    let map: SharedUnitMap = Arc::new(std::sync::Mutex::new(Arc::new(UnitMap::new(
        &config.sources,
    ))));
    tracing::info!(state_dir = %config.state_dir.display(), instance = owners.id(),
        first_start = stored_at.is_none(), "shared state: claiming pod directories as they are found");
    let sink = Sink::Units {
        store: store.files(),
        map: Arc::clone(&map),
        dirty: Default::default(),
    };
    Ok(Loaded {
        state: Checkpoints::default(),
        stored_at,
        sink,
        shared: Some(Shared::new(owners, store, map)),
        instance: Some(instance),
    })
}

fn source_set(config: &Config) -> SourceSet {
    SourceSet::new(
        config.sources.clone(),
        default_hostname(config.hostname.as_deref()),
        config.shard,
    )
}

fn reader_settings(
    config: &Config,
    options: &RunOptions,
    resume_stored_at: Option<std::time::SystemTime>,
) -> ReaderSettings {
    let poll_interval = config
        .sources
        .iter()
        .map(|s| s.poll_interval)
        .min()
        .unwrap_or(Duration::from_secs(1));
    ReaderSettings {
        max_message_size: config.output.max_message_size(),
        batch_bytes: BATCH_BYTES,
        poll_interval,
        partial_after: config.partial_line_timeout,
        newline_after_frame: matches!(config.output, Output::Stdout { .. }),
        once: options.once,
        resume_stored_at,
        max_open_files: fit_open_files(config.max_open_files),
        processing: config.processing.clone(),
    }
}

/// Descriptors kept for everything but log files: sockets, the checkpoint
/// store, inotify, the metrics server's connections, a rotation search.
const RESERVED_FDS: u64 = 64;

/// `max_open_files`, lowered (with a warning) when RLIMIT_NOFILE leaves
/// less room. The soft limit is raised towards the hard one first, as far
/// as the budget needs.
fn fit_open_files(wanted: usize) -> usize {
    let need = wanted as u64 + RESERVED_FDS;
    let Some(limit) = crate::relay::sys::raise_open_files_limit(need) else {
        return wanted;
    };
    if limit >= need {
        return wanted;
    }
    let fitted = limit.saturating_sub(RESERVED_FDS).max(1) as usize;
    tracing::warn!(max_open_files = wanted, rlimit_nofile = limit, fitted,
        "RLIMIT_NOFILE is too low for max_open_files; holding fewer files open (idle ones are closed and reopened on a change)");
    fitted
}

/// inotify is a hint: if it cannot start, polling carries on alone.
fn start_watcher(sources: &SourceSet, hints: &Arc<Hints>) -> Option<Watcher> {
    let dirs = sources.watch_dirs();
    if dirs.is_empty() {
        hints.set_active(false);
        return None;
    }
    match Watcher::start(&dirs, Arc::clone(hints)) {
        Ok(w) => {
            hints.set_active(true);
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "inotify unavailable; polling only");
            hints.set_active(false);
            None
        }
    }
}

/// What the supervisor steers: the reader's stop flag and wake-up, the
/// reload channel, and the inotify watcher (replaced on reload).
struct Control {
    stop: Arc<AtomicBool>,
    wake: std_mpsc::SyncSender<()>,
    reload: std_mpsc::Sender<SourceSet>,
    watcher: Option<Watcher>,
    hints: Arc<Hints>,
    config_path: Option<PathBuf>,
    config: Config,
}

/// Runs the output until it finishes; SIGHUP reloads the sources, and
/// SIGTERM/SIGINT turn into a drain with a deadline.
async fn supervise(output: impl std::future::Future<Output = ()>, mut control: Control) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::pin!(output);
    let mut hup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            () = &mut output => return,
            Some(()) = recv_or_pending(&mut hup) => reload(&mut control),
            signal = shutdown_signal() => {
                tracing::info!(signal, "stopping: draining the output, then writing the final checkpoint");
                break;
            }
        }
    }
    control.stop.store(true, Ordering::Relaxed);
    let _pending = control.wake.try_send(());
    let timeout = control.config.shutdown_timeout;
    tokio::select! {
        () = &mut output => {}
        () = tokio::time::sleep(timeout) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "receiver did not take the queued lines in time; they will be sent again after a restart");
        }
        signal = shutdown_signal() => {
            tracing::warn!(signal, "second signal: stopping without draining");
        }
    }
}

/// SIGHUP: reads the config file again. A valid one replaces the sources
/// (open files keep their positions; files no source matches any more are
/// read to their end and dropped); an invalid one is rejected and the
/// running config stays. Changes to `[output]`, `state_dir`, `[metrics]`,
/// `[redact]`, `[[drop]]` or `[structured_data]` need a restart.
fn reload(control: &mut Control) {
    let Some(path) = control.config_path.clone() else {
        tracing::warn!("SIGHUP: no config file to reload (demo)");
        return;
    };
    let new = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: new config rejected; the running one stays");
            return;
        }
    };
    for (what, changed) in [
        (
            "[output]",
            format!("{:?}", new.output) != format!("{:?}", control.config.output),
        ),
        ("state_dir", new.state_dir != control.config.state_dir),
        (
            "[metrics]",
            format!("{:?}", new.metrics) != format!("{:?}", control.config.metrics),
        ),
        ("[redact]", new.redact != control.config.redact),
        ("[[drop]]", new.drops != control.config.drops),
        (
            "[structured_data]",
            new.structured_data != control.config.structured_data,
        ),
    ] {
        if changed {
            tracing::warn!(path = %path.display(), "SIGHUP: {what} changed; it takes effect at the next restart");
        }
    }
    let sources = source_set(&new);
    control.watcher = None;
    control.watcher = start_watcher(&sources, &control.hints);
    if control.reload.send(sources).is_err() {
        return;
    }
    let _pending = control.wake.try_send(());
    tracing::info!(path = %path.display(), sources = new.sources.len(), "SIGHUP: configuration reloaded");
    control.config = new;
}

/// The next delivery of a watched signal; never, if it could not be watched.
async fn recv_or_pending(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGTERM or SIGINT; never resolves if they cannot be watched.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot watch SIGTERM/SIGINT; stop the relay with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
