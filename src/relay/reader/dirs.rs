//! The directories under each source's root, and when to list them again.
//!
//! A directory's entries change only when its modification time does
//! (create, delete, rename), so a directory is listed again only then: one
//! `stat` per directory per look instead of a walk of the whole tree. A
//! listing taken in the same clock tick as a later change would hide that
//! change behind an unchanged time, so a directory that changed is listed
//! at every look for [`SETTLE`] after. Directories unchanged for a while
//! are looked at every [`QUIET_DIR_INTERVAL`] (or the poll interval, if
//! longer); under inotify, on a hint and at each sweep.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::relay::input::discover::{self, DiscoverError};
use crate::relay::input::fingerprint::FileKey;
use crate::relay::input::sources::{Found, SourceSet};
use crate::relay::input::tail::Seen;

/// How long a changed directory is listed at every look.
pub(super) const SETTLE: Duration = Duration::from_secs(2);
/// The longest a directory unchanged for [`SETTLE`] waits between looks
/// (unless the poll interval is longer): new files and pod directories
/// arrive within it.
pub(super) const QUIET_DIR_INTERVAL: Duration = Duration::from_secs(1);

/// One directory's state.
#[derive(Debug)]
struct Dir {
    path: Arc<Path>,
    source: usize,
    is_root: bool,
    /// `(mtime in ns, inode)` at the last listing; `None`: never listed.
    seen: Option<(i128, u64)>,
    /// When we last saw it change (our clock).
    changed_at: Instant,
    next_look: Instant,
    /// List it at the next look whatever its time says.
    force: bool,
    /// Keys of the files the last listing found in it.
    files: Vec<FileKey>,
    /// Sub-directories the last listing found.
    subdirs: Vec<Arc<Path>>,
}

/// What one round of looking found.
#[derive(Default)]
pub(super) struct Changes {
    /// Every file of every directory listed this round.
    pub found: Vec<Found>,
    /// Files a listing no longer found, with the directory that lost them.
    pub vanished: Vec<(FileKey, Arc<Path>)>,
    pub warnings: Vec<DiscoverError>,
}

/// Every directory under the sources' roots: a slab, so that a round
/// walks it without hashing paths (a `Path`'s hash parses its components).
#[derive(Debug, Default)]
pub(super) struct Dirs {
    slots: Vec<Option<Dir>>,
    free: Vec<usize>,
    index: HashMap<Arc<Path>, usize>,
    /// Roots that could not be looked at, warned about once.
    missing_roots: HashSet<PathBuf>,
}

impl Dirs {
    /// Forgets everything (after a reload: the sources changed).
    pub(super) fn clear(&mut self) {
        *self = Dirs::default();
    }

    /// How many directories are known.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Lists `dir` at its next look (a hint, a failed open).
    pub(super) fn force(&mut self, dir: &Path) {
        if let Some(&i) = self.index.get(dir) {
            if let Some(d) = self.slots[i].as_mut() {
                d.force = true;
                d.next_look = Instant::now();
            }
        }
    }

    /// Lists every directory at the next look (a full rescan).
    pub(super) fn force_all(&mut self) {
        let now = Instant::now();
        for d in self.slots.iter_mut().flatten() {
            d.force = true;
            d.next_look = now;
        }
    }

    fn insert(&mut self, dir: Dir) -> usize {
        let path = Arc::clone(&dir.path);
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(dir);
                i
            }
            None => {
                self.slots.push(Some(dir));
                self.slots.len() - 1
            }
        };
        self.index.insert(path, i);
        i
    }

    /// Looks at every directory due, lists those that changed, and reports
    /// their files and the files they lost.
    pub(super) fn look(&mut self, sources: &mut SourceSet, hinted: bool, now: Instant) -> Changes {
        let mut changes = Changes::default();
        for i in 0..sources.len() {
            let Some(root) = sources.root(i) else {
                continue;
            };
            if !self.index.contains_key(root) {
                let dir = Dir::new(Arc::from(root), i, true, now);
                self.insert(dir);
            }
        }
        // In no particular order: a directory removed with its parent is
        // skipped, and one gone by the time it is looked at is removed.
        let mut due: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.as_ref()
                    .filter(|d| d.force || d.next_look <= now)
                    .map(|_| i)
            })
            .collect();
        while let Some(i) = due.pop() {
            self.look_at(i, sources, hinted, now, &mut changes, &mut due);
        }
        changes
    }

    fn look_at(
        &mut self,
        i: usize,
        sources: &mut SourceSet,
        hinted: bool,
        now: Instant,
        changes: &mut Changes,
        due: &mut Vec<usize>,
    ) {
        let Some(dir) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return; // removed with its parent this round
        };
        let (path, source) = (Arc::clone(&dir.path), dir.source);
        let meta = match std::fs::metadata(&*path) {
            Ok(m) if m.is_dir() => m,
            _ if dir.is_root => {
                if self.missing_roots.insert(path.to_path_buf()) {
                    tracing::warn!(path = %path.display(), "source root is missing or not a directory; will look again");
                }
                schedule(dir, sources, hinted, now);
                return;
            }
            // Gone (its parent's listing will say so) or replaced by a file.
            _ => return self.remove(i, changes),
        };
        if dir.is_root {
            self.missing_roots.remove(&*path);
        }
        let stamp = (Seen::of(&meta).mtime_ns, meta.ino());
        if dir.seen != Some(stamp) {
            dir.changed_at = now;
        }
        let settling = now.saturating_duration_since(dir.changed_at) < SETTLE;
        if dir.seen == Some(stamp) && !dir.force && !settling {
            schedule(dir, sources, hinted, now);
            return;
        }
        dir.force = false;
        dir.seen = Some(stamp);
        let listing = match discover::list_live(&path, &mut changes.warnings) {
            Ok(l) => l,
            Err(source) => {
                changes.warnings.push(DiscoverError::ReadDir {
                    path: path.to_path_buf(),
                    source,
                });
                // Keep what it had; list it again at the next round.
                schedule(dir, sources, hinted, now);
                dir.seen = None;
                dir.force = true;
                return;
            }
        };
        let mut keys = Vec::with_capacity(listing.files.len());
        for file in listing.files {
            if let Some(found) = sources.found(source, file) {
                keys.push(found.key);
                changes.found.push(found);
            }
        }
        let subdirs: Vec<Arc<Path>> = listing
            .dirs
            .into_iter()
            .map(|d| Arc::from(d.as_path()))
            .collect();
        for sub in &subdirs {
            if !self.index.contains_key(sub) {
                let j = self.insert(Dir::new(Arc::clone(sub), source, false, now));
                due.push(j);
            }
        }
        let Some(dir) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let old_files = std::mem::replace(&mut dir.files, keys);
        let old_subdirs = std::mem::replace(&mut dir.subdirs, subdirs);
        let kept: HashSet<FileKey> = dir.files.iter().copied().collect();
        changes.vanished.extend(
            old_files
                .into_iter()
                .filter(|k| !kept.contains(k))
                .map(|k| (k, Arc::clone(&path))),
        );
        let now_subdirs: HashSet<&Arc<Path>> = dir.subdirs.iter().collect();
        let gone: Vec<Arc<Path>> = old_subdirs
            .into_iter()
            .filter(|s| !now_subdirs.contains(s))
            .collect();
        schedule(dir, sources, hinted, now);
        for sub in gone {
            if let Some(&j) = self.index.get(&sub) {
                self.remove(j, changes);
            }
        }
    }

    /// Forgets slot `i` and every directory under it; their files vanish.
    fn remove(&mut self, i: usize, changes: &mut Changes) {
        let Some(dir) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        self.free.push(i);
        self.index.remove(&dir.path);
        changes
            .vanished
            .extend(dir.files.into_iter().map(|k| (k, Arc::clone(&dir.path))));
        for sub in dir.subdirs {
            if let Some(&j) = self.index.get(&sub) {
                self.remove(j, changes);
            }
        }
    }
}

/// When to look at `dir` next.
fn schedule(dir: &mut Dir, sources: &SourceSet, hinted: bool, now: Instant) {
    let base = sources.poll_interval(dir.source);
    let quiet = now.saturating_duration_since(dir.changed_at) >= SETTLE;
    let interval = if hinted && sources.notified(dir.source) {
        super::SWEEP.max(base)
    } else if quiet {
        base.max(QUIET_DIR_INTERVAL)
    } else {
        base
    };
    dir.next_look = now + interval;
}

impl Dir {
    fn new(path: Arc<Path>, source: usize, is_root: bool, now: Instant) -> Dir {
        Dir {
            path,
            source,
            is_root,
            seen: None,
            changed_at: now,
            next_look: now,
            force: true,
            files: Vec::new(),
            subdirs: Vec::new(),
        }
    }
}
