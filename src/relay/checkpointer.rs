//! The checkpoint writer: the only code that touches the state directory.
//!
//! It applies confirmed marks in the order the output confirmed them and
//! stores the checkpoint at most once per interval when something changed,
//! and once more at the end. A failed store (full disk, read-only volume) is
//! logged with the path and retried; the relay goes on, and on a restart
//! the older checkpoint only means more duplicates, never a gap.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::batch::Mark;
use crate::relay::checkpoint::{Checkpoints, Entry};

/// Counters the writer keeps (metrics, tests).
#[derive(Debug)]
pub struct CheckpointStats {
    /// Seconds since the Unix epoch of the last successful store (0 = none yet).
    pub last_store_unix: AtomicU64,
    pub store_errors: AtomicU64,
    /// The last store worked (true before the first one).
    pub healthy: AtomicBool,
}

impl Default for CheckpointStats {
    fn default() -> Self {
        CheckpointStats {
            last_store_unix: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
        }
    }
}

/// Applies marks from `acks` until the channel closes, then stores a final time.
pub fn run(
    path: PathBuf,
    mut state: Checkpoints,
    acks: Receiver<Vec<Mark>>,
    interval: Duration,
    stats: Arc<CheckpointStats>,
) {
    let mut dirty = false;
    let mut last_store = Instant::now();
    loop {
        // Nothing to store: block until marks come. A timeout computed from
        // `last_store` would be zero once an interval has passed without a
        // store, and recv_timeout(0) in a loop spins a whole core while idle.
        let next = if dirty {
            acks.recv_timeout(interval.saturating_sub(last_store.elapsed()))
        } else {
            acks.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(marks) => {
                dirty |= !marks.is_empty();
                apply(&mut state, marks);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty && last_store.elapsed() >= interval {
            dirty = !store(&path, &state, &stats);
            last_store = Instant::now();
        }
    }
    if dirty {
        store(&path, &state, &stats);
    }
}

/// Applies confirmed marks: a finished file's entry goes, others move on.
pub fn apply(state: &mut Checkpoints, marks: Vec<Mark>) {
    for m in marks {
        if m.finished {
            state.remove(m.key);
        } else {
            state.set(Entry {
                key: m.key,
                fingerprint: m.fingerprint,
                offset: m.offset,
                path: m.path.to_path_buf(),
            });
        }
    }
}

/// Stores the checkpoint; returns whether it worked.
fn store(path: &std::path::Path, state: &Checkpoints, stats: &CheckpointStats) -> bool {
    match state.store(path) {
        Ok(()) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            stats.last_store_unix.store(now, Ordering::Relaxed);
            stats.healthy.store(true, Ordering::Relaxed);
            true
        }
        Err(e) => {
            stats.store_errors.fetch_add(1, Ordering::Relaxed);
            stats.healthy.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "cannot write the checkpoint; will retry (lines are re-sent after a restart, not lost)");
            false
        }
    }
}
