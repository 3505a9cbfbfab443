//! The checkpoint writer: the only code that touches the state directory.
//!
//! It applies confirmed marks in the order the output confirmed them and
//! stores the checkpoint at most once per interval when something changed,
//! and once more at the end. A failed store (full disk, read-only volume) is
//! logged with the path and retried; the relay goes on, and on a restart
//! the older checkpoint only means more duplicates, never a gap.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::batch::Mark;
use crate::relay::metrics::CheckpointStats;
use crate::relay::state::checkpoint::{CheckpointError, Checkpoints, Entry};
use crate::relay::state::units::{file_name, SharedUnitMap, UnitDir};

/// Where the checkpoints go.
pub(crate) enum Sink {
    /// One file (`checkpoints.v1`): a relay with a state directory of its own.
    File(PathBuf),
    /// One file per unit (`units/`), for relays that share the directory:
    /// only the units whose marks came here are written.
    Units {
        store: UnitDir,
        map: SharedUnitMap,
        dirty: HashSet<PathBuf>,
    },
}

impl Sink {
    /// Notes the units `marks` touch.
    fn touched(&mut self, marks: &[Mark]) {
        if let Sink::Units { map, dirty, .. } = self {
            let map = Arc::clone(&map.lock().unwrap_or_else(|p| p.into_inner()));
            for m in marks {
                dirty.insert(map.unit_of(&m.path));
            }
        }
    }

    /// Stores `state` (the touched units of it).
    fn store(&mut self, state: &Checkpoints) -> Result<(), CheckpointError> {
        match self {
            Sink::File(path) => state.store(path),
            Sink::Units { store, map, dirty } => {
                if dirty.is_empty() {
                    return Ok(());
                }
                let map = Arc::clone(&map.lock().unwrap_or_else(|p| p.into_inner()));
                let mut by_unit: HashMap<PathBuf, Checkpoints> = HashMap::new();
                for e in state.iter() {
                    let unit = map.unit_of(&e.path);
                    if dirty.contains(&unit) {
                        by_unit.entry(unit).or_default().set(e.clone());
                    }
                }
                let mut first_error = None;
                let mut done = Vec::new();
                for unit in dirty.iter() {
                    let name = file_name(unit);
                    let result = match by_unit.get(unit) {
                        Some(entries) => store.store(&name, entries),
                        // Nothing left: the file stays (an empty one) while
                        // the unit exists, and goes with it.
                        None if !unit.exists() => store.remove(&name),
                        None => store.store(&name, &Checkpoints::default()),
                    };
                    match result {
                        Ok(()) => done.push(unit.clone()),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                store.sync()?;
                for unit in done {
                    dirty.remove(&unit);
                }
                first_error.map_or(Ok(()), Err)
            }
        }
    }
}

/// Applies marks from `acks` until the channel closes, then stores a final time.
///
/// Whoever closes the channel must then [`std::thread::Thread::unpark`] this
/// thread: while a store is pending it parks until the store is due instead
/// of waking for every confirmed batch (thousands a second under load), and
/// only an unpark makes it look at the channel before then.
pub(crate) fn run(
    mut sink: Sink,
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
                    sink.touched(&marks);
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
        let open = drain(&acks, &mut state, &mut dirty, &mut sink);
        if !open {
            break;
        }
        if dirty && last_store.elapsed() >= interval {
            dirty = !store(&mut sink, &state, &stats);
            last_store = Instant::now();
        }
    }
    if dirty {
        store(&mut sink, &state, &stats);
    }
}

/// Applies every batch of marks queued now; false once the channel is closed.
fn drain(
    acks: &Receiver<Vec<Mark>>,
    state: &mut Checkpoints,
    dirty: &mut bool,
    sink: &mut Sink,
) -> bool {
    loop {
        match acks.try_recv() {
            Ok(marks) => {
                *dirty |= !marks.is_empty();
                sink.touched(&marks);
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
fn store(sink: &mut Sink, state: &Checkpoints, stats: &CheckpointStats) -> bool {
    match sink.store(state) {
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
        let writer =
            std::thread::spawn(move || run(Sink::File(p), Checkpoints::default(), rx, interval, s));
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
            run(
                Sink::File(p),
                Checkpoints::default(),
                rx,
                interval,
                Arc::default(),
            )
        });
        tx.send(mark(42)).unwrap();
        drop(tx);
        writer.join().unwrap();
        assert_eq!(stored_offset(&path), Some(42));
    }
}
