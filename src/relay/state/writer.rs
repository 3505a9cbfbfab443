//! The checkpoint writer: the only code that touches the state directory.
//!
//! It applies confirmed marks in the order the output confirmed them and
//! stores the checkpoint at most once per interval when something changed,
//! and once more at the end. A failed store (full disk, read-only volume) is
//! logged with the path and retried; the relay goes on, and on a restart
//! the older checkpoint only means more duplicates, never a gap.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::batch::Mark;
use crate::relay::metrics::CheckpointStats;
use crate::relay::state::checkpoint::{Checkpoints, Entry};

/// Applies marks from `acks` until the channel closes, then stores a final time.
///
/// Whoever closes the channel must then [`std::thread::Thread::unpark`] this
/// thread: while a store is pending it parks until the store is due instead
/// of waking for every confirmed batch (thousands a second under load), and
/// only an unpark makes it look at the channel before then.
pub(crate) fn run(
    path: PathBuf,
    mut state: Checkpoints,
    acks: Receiver<Vec<Mark>>,
    interval: Duration,
    stats: Arc<CheckpointStats>,
) {
    let mut dirty = false;
    let mut last_store = Instant::now();
    loop {
        if !dirty {
            // Nothing to store: block until marks come (never a timed wait
            // in a loop: a timeout of zero would spin a core while idle).
            match acks.recv() {
                Ok(marks) => {
                    dirty = !marks.is_empty();
                    apply(&mut state, marks);
                }
                Err(_) => break,
            }
        } else {
            let due = last_store + interval;
            let now = Instant::now();
            if now < due {
                std::thread::park_timeout(due - now);
            }
        }
        let open = drain(&acks, &mut state, &mut dirty);
        if !open {
            break;
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

/// Applies every batch of marks queued now; false once the channel is closed.
fn drain(acks: &Receiver<Vec<Mark>>, state: &mut Checkpoints, dirty: &mut bool) -> bool {
    loop {
        match acks.try_recv() {
            Ok(marks) => {
                *dirty |= !marks.is_empty();
                apply(state, marks);
            }
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

/// Applies confirmed marks: a finished file's entry goes, others move on.
pub(crate) fn apply(state: &mut Checkpoints, marks: Vec<Mark>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::input::fingerprint::{FileKey, Fingerprint};
    use std::path::Path;
    use std::sync::mpsc;

    fn mark(offset: u64) -> Vec<Mark> {
        vec![Mark {
            key: FileKey { dev: 1, ino: 7 },
            fingerprint: Fingerprint::of_bytes(b"x"),
            offset,
            path: Arc::from(Path::new("/logs/app.log")),
            finished: false,
        }]
    }

    fn stored_offset(path: &Path) -> Option<u64> {
        let state = Checkpoints::load(path).ok()?;
        Some(state.get(FileKey { dev: 1, ino: 7 })?.offset)
    }

    #[test]
    fn stores_at_most_once_per_interval_and_the_last_marks_at_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.v1");
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(CheckpointStats::default());
        let (p, s) = (path.clone(), Arc::clone(&stats));
        let interval = Duration::from_millis(300);
        let writer = std::thread::spawn(move || run(p, Checkpoints::default(), rx, interval, s));
        let start = Instant::now();
        for offset in 1..=2_000 {
            tx.send(mark(offset)).unwrap();
        }
        // The first marks come after a store-less start: stored once the
        // interval since the writer started is up, with what was queued.
        while stored_offset(&path).is_none() {
            assert!(start.elapsed() < Duration::from_secs(5), "never stored");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            start.elapsed() >= interval / 2,
            "stored before the interval"
        );
        tx.send(mark(5_000)).unwrap();
        let closed = Instant::now();
        drop(tx);
        writer.thread().unpark();
        writer.join().unwrap();
        assert!(
            closed.elapsed() < interval,
            "the close waited for the interval"
        );
        assert_eq!(stored_offset(&path), Some(5_000));
    }

    #[test]
    fn a_closed_channel_is_seen_by_the_due_time_even_without_an_unpark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.v1");
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let interval = Duration::from_millis(200);
        let writer = std::thread::spawn(move || {
            run(p, Checkpoints::default(), rx, interval, Arc::default())
        });
        tx.send(mark(42)).unwrap();
        drop(tx);
        writer.join().unwrap();
        assert_eq!(stored_offset(&path), Some(42));
    }
}
