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

use crate::relay::checkpoint::{Checkpoints, CHECKPOINT_FILE};
use crate::relay::checkpointer::{self, CheckpointStats};
use crate::relay::config::{Config, Output};
use crate::relay::discover::Watcher;
use crate::relay::output::{self, Connector, OutputStats};
use crate::relay::reader::{Reader, ReaderSettings, ReaderStats};
use crate::relay::sources::{default_hostname, SourceSet};

/// Batches queued between the reader and the output. With the batch size
/// this bounds the memory a backlog can take (README, "Memory").
pub const QUEUE_BATCHES: usize = 4;
/// Target size of one batch: many frames per TLS write.
pub const BATCH_BYTES: usize = 128 * 1024;
/// How often confirmed offsets are written to disk at most.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("state_dir {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Checkpoint(#[from] crate::relay::checkpoint::CheckpointError),
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

/// Options that are not in the config file.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunOptions {
    /// Read every file to its end, ship it, and exit.
    pub once: bool,
}

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct Stats {
    pub reader: Arc<ReaderStats>,
    pub output: Arc<OutputStats>,
    pub checkpoint: Arc<CheckpointStats>,
}

/// Runs the relay until SIGTERM/SIGINT (or, with `once`, until all is shipped).
pub fn run(config: Config, options: RunOptions) -> Result<(), StartError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|source| StartError::StateDir {
        path: config.state_dir.clone(),
        source,
    })?;
    let checkpoint_path = config.state_dir.join(CHECKPOINT_FILE);
    let state = Checkpoints::load(&checkpoint_path)?;
    tracing::info!(path = %checkpoint_path.display(), files = state.len(), "loaded checkpoint");
    let connector = Connector::from_config(&config.output)?;
    let stats = Stats::default();

    let (batch_tx, batch_rx) = mpsc::channel(QUEUE_BATCHES);
    let (ack_tx, ack_rx) = std_mpsc::channel();
    let (wake_tx, wake_rx) = std_mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));

    let sources = SourceSet::new(
        config.sources.clone(),
        default_hostname(config.hostname.as_deref()),
        config.shard,
    );
    let _watcher = start_watcher(&sources, wake_tx.clone());
    let reader = Reader::new(
        sources,
        reader_settings(&config, options),
        state.clone(),
        Arc::clone(&stats.reader),
    );
    let reader_stop = Arc::clone(&stop);
    let reader_thread = std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || reader.run(batch_tx, wake_rx, reader_stop))
        .map_err(|e| StartError::Thread("reader", e))?;
    let cp_stats = Arc::clone(&stats.checkpoint);
    let checkpoint_thread = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || {
            checkpointer::run(
                checkpoint_path,
                state,
                ack_rx,
                CHECKPOINT_INTERVAL,
                cp_stats,
            )
        })
        .map_err(|e| StartError::Thread("checkpoint", e))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let output = output::run(connector, batch_rx, ack_tx, Arc::clone(&stats.output));
    runtime.block_on(supervise(output, stop, wake_tx, config.shutdown_timeout));
    drop(runtime);

    if reader_thread.join().is_err() {
        tracing::error!("the reader thread panicked");
    }
    if checkpoint_thread.join().is_err() {
        tracing::error!("the checkpoint thread panicked");
    }
    tracing::info!(
        lines = stats.reader.lines_read.load(Ordering::Relaxed),
        messages_sent = stats.output.messages_sent.load(Ordering::Relaxed),
        "relay stopped"
    );
    Ok(())
}

fn reader_settings(config: &Config, options: RunOptions) -> ReaderSettings {
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
    }
}

/// inotify is a hint: if it cannot start, polling carries on alone.
fn start_watcher(sources: &SourceSet, wake: std_mpsc::Sender<()>) -> Option<Watcher> {
    let dirs = sources.watch_dirs();
    if dirs.is_empty() {
        return None;
    }
    match Watcher::start(&dirs, move || {
        // The reader drains hints in bulk; a closed channel means it has stopped.
        let _stopped = wake.send(());
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "inotify unavailable; polling only");
            None
        }
    }
}

/// Runs the output until it finishes, and turns SIGTERM/SIGINT into a drain
/// with a deadline.
async fn supervise(
    output: impl std::future::Future<Output = ()>,
    stop: Arc<AtomicBool>,
    wake: std_mpsc::Sender<()>,
    shutdown_timeout: Duration,
) {
    tokio::pin!(output);
    tokio::select! {
        () = &mut output => return,
        signal = shutdown_signal() => {
            tracing::info!(signal, "stopping: draining the output, then writing the final checkpoint");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _reader_gone = wake.send(());
    tokio::select! {
        () = &mut output => {}
        () = tokio::time::sleep(shutdown_timeout) => {
            tracing::warn!(timeout_ms = shutdown_timeout.as_millis() as u64, "receiver did not take the queued lines in time; they will be sent again after a restart");
        }
        signal = shutdown_signal() => {
            tracing::warn!(signal, "second signal: stopping without draining");
        }
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
