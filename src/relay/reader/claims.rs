//! The reader's side of a shared `state_dir` (`shard` set): a file is read
//! only while this relay holds its unit's claim (`state/owners.rs`), and a
//! unit taken over brings its checkpoint entries (`state/units.rs`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::batch::Batch;
use crate::relay::input::sources::Found;
use crate::relay::state::owners::{Claim, Owners, RETRY_BUSY};
use crate::relay::state::units::{file_name, SharedUnitMap, UnitMap, UnitStore};

use super::Reader;

/// Held units whose directory is gone are let go at most this often.
const SWEEP_UNITS: Duration = Duration::from_secs(10);

/// Claims, the unit checkpoint files, and the unit map.
pub(crate) struct Shared {
    pub owners: Owners,
    pub store: UnitStore,
    pub map: SharedUnitMap,
    swept: Instant,
    /// Files found in units another relay holds, and when to ask again.
    parked: Vec<(Found, Instant)>,
}

impl Shared {
    pub(crate) fn new(owners: Owners, store: UnitStore, map: SharedUnitMap) -> Shared {
        Shared {
            owners,
            store,
            map,
            swept: Instant::now(),
            parked: Vec::new(),
        }
    }

    /// Keeps a file of a busy unit to be looked at again after
    /// [`RETRY_BUSY`] (its directory may never be listed again otherwise).
    pub(super) fn park(&mut self, found: Found) {
        if self.parked.iter().any(|(f, _)| f.key == found.key) {
            return;
        }
        self.parked.push((found, Instant::now() + RETRY_BUSY));
    }

    /// The parked files whose time has come (still there).
    pub(super) fn unpark(&mut self, now: Instant) -> Vec<Found> {
        if self.parked.iter().all(|(_, at)| *at > now) {
            return Vec::new();
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.parked = later;
        due.into_iter()
            .map(|(f, _)| f)
            .filter(|f| f.path.exists())
            .collect()
    }

    pub(super) fn map(&self) -> Arc<UnitMap> {
        Arc::clone(&self.map.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Reader {
    /// Whether this relay may read the file at `path` now: always without
    /// a shared state directory; else when its unit is ours, claimed now if
    /// nobody live has it. A unit taken now brings its entries: they are
    /// marked in `batch` (so the checkpoint writer stores them with the
    /// unit) and given to the resume policy before any of its files opens.
    pub(super) fn may_read(&mut self, path: &Path, batch: &mut Batch) -> bool {
        let Some(sh) = self.shared.as_mut() else {
            return true;
        };
        let map = sh.map();
        let unit = map.unit_of(path);
        let name = file_name(&unit);
        let claim = match sh.owners.claim(&unit, &name) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(unit = %unit.display(), error = %e, "cannot claim the unit; will retry");
                return false;
            }
        };
        match claim {
            Claim::Held => true,
            Claim::Busy { owner } => {
                if !owner.is_empty() {
                    self.stats.unit_lock_waits.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(unit = %unit.display(), owner, "another relay ships this unit; waiting");
                }
                self.publish_units();
                false
            }
            Claim::Taken { from } => {
                let (entries, stored_at) = match sh.store.load(&unit, &name, &map) {
                    Ok(loaded) => loaded,
                    Err(e) => {
                        tracing::error!(unit = %unit.display(), error = %e, "cannot read the unit's checkpoint; leaving the unit alone");
                        sh.owners.release(&unit, &name);
                        return false;
                    }
                };
                match &from {
                    Some(from) => {
                        self.stats.unit_handovers.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(unit = %unit.display(), from, entries = entries.len(), "took the unit over");
                    }
                    None => {
                        tracing::debug!(unit = %unit.display(), entries = entries.len(), "claimed the unit")
                    }
                }
                for e in &entries {
                    batch.mark(e.key, e.fingerprint, e.offset, &Arc::from(e.path.as_path()));
                }
                // A unit nobody stored yet, in a fleet that has stored
                // before: its rotated files written since then are unshipped.
                let stored_at = stored_at.or(self.resume.stored_at());
                self.resume.adopt(&unit, entries, stored_at);
                self.publish_units();
                true
            }
        }
    }

    /// Whether `path`'s unit is held (no claim is attempted).
    pub(super) fn holds(&self, path: &Path) -> bool {
        let Some(sh) = &self.shared else {
            return true;
        };
        sh.owners.holds(&sh.map().unit_of(path))
    }

    /// Lets go of held units whose directory is gone and whose files are
    /// all read (at most every [`SWEEP_UNITS`]).
    pub(super) fn sweep_units(&mut self, now: Instant) {
        let Some(sh) = self.shared.as_mut() else {
            return;
        };
        if now.duration_since(sh.swept) < SWEEP_UNITS {
            return;
        }
        sh.swept = now;
        let map = sh.map();
        let lost: HashSet<PathBuf> = sh.owners.lost(file_name).into_iter().collect();
        for unit in &lost {
            tracing::error!(unit = %unit.display(), "the unit's claim names another relay now (our lock was lost?); stopped reading it");
        }
        let mut busy = HashSet::new();
        let mut drop = Vec::new();
        for (key, t) in &self.files {
            let unit = map.unit_of(&t.path);
            if lost.contains(&unit) {
                drop.push(*key);
            } else {
                busy.insert(unit);
            }
        }
        for key in drop {
            self.untrack(key);
        }
        let Some(sh) = self.shared.as_mut() else {
            return;
        };
        for unit in sh.owners.held_units() {
            if !busy.contains(&unit) && !unit.exists() {
                sh.owners.release(&unit, &file_name(&unit));
            }
        }
        sh.owners.forget_gone();
        self.publish_units();
    }

    pub(super) fn publish_units(&self) {
        if let Some(sh) = &self.shared {
            let s = &self.stats;
            s.units_owned
                .store(sh.owners.held() as u64, Ordering::Relaxed);
            s.units_waiting
                .store(sh.owners.waiting() as u64, Ordering::Relaxed);
        }
    }
}
