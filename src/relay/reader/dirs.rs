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
use std::time::{Duration, Instant};

use crate::relay::input::discover::{self, DiscoverError};
use crate::relay::input::fingerprint::FileKey;
use crate::relay::input::sources::{Found, SourceSet};

/// How long a changed directory is listed at every look.
pub(super) const SETTLE: Duration = Duration::from_secs(2);
/// The longest a directory unchanged for [`SETTLE`] waits between looks
/// (unless the poll interval is longer): new files and pod directories
/// arrive within it.
pub(super) const QUIET_DIR_INTERVAL: Duration = Duration::from_secs(1);

/// One directory's state.
#[derive(Debug)]
struct Dir {
    source: usize,
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
    subdirs: Vec<PathBuf>,
}

/// What one round of looking found.
#[derive(Default)]
pub(super) struct Changes {
    /// Every file of every directory listed this round.
    pub found: Vec<Found>,
    /// Files a listing no longer found, with the directory that lost them.
    pub vanished: Vec<(FileKey, PathBuf)>,
    pub warnings: Vec<DiscoverError>,
    /// Directories listed.
    pub listed: usize,
}

/// Every directory under the sources' roots.
#[derive(Debug, Default)]
pub(super) struct Dirs {
    dirs: HashMap<PathBuf, Dir>,
    /// Roots that could not be looked at, warned about once.
    missing_roots: HashSet<PathBuf>,
}

impl Dirs {
    /// Forgets everything (after a reload: the sources changed).
    pub(super) fn clear(&mut self) {
        self.dirs.clear();
        self.missing_roots.clear();
    }

    /// How many directories are known.
    pub(super) fn len(&self) -> usize {
        self.dirs.len()
    }

    /// Lists `dir` at its next look (a hint, a failed open).
    pub(super) fn force(&mut self, dir: &Path) {
        if let Some(d) = self.dirs.get_mut(dir) {
            d.force = true;
            d.next_look = Instant::now();
        }
    }

    /// Lists every directory at the next look (a full rescan).
    pub(super) fn force_all(&mut self) {
        let now = Instant::now();
        for d in self.dirs.values_mut() {
            d.force = true;
            d.next_look = now;
        }
    }

    /// Looks at every directory due (all of them with `all`), lists those
    /// that changed, and reports their files and the files they lost.
    pub(super) fn look(&mut self, sources: &mut SourceSet, hinted: bool, now: Instant) -> Changes {
        let mut changes = Changes::default();
        for i in 0..sources.len() {
            let Some(root) = sources.root(i).map(Path::to_path_buf) else {
                continue;
            };
            if !self.dirs.contains_key(&root) {
                self.dirs.insert(root.clone(), Dir::new(i, now));
            }
        }
        let mut due: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.force || d.next_look <= now)
            .map(|(p, _)| p.clone())
            .collect();
        // Parents before children (popped from the end): a removed parent
        // takes its subtree along.
        due.sort_by(|a, b| b.cmp(a));
        while let Some(path) = due.pop() {
            self.look_at(&path, sources, hinted, now, &mut changes, &mut due);
        }
        changes
    }

    fn look_at(
        &mut self,
        path: &Path,
        sources: &mut SourceSet,
        hinted: bool,
        now: Instant,
        changes: &mut Changes,
        due: &mut Vec<PathBuf>,
    ) {
        let Some(dir) = self.dirs.get(path) else {
            return; // removed with its parent this round
        };
        let source = dir.source;
        let is_root = sources.root(source) == Some(path);
        let meta = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => m,
            _ if is_root => {
                if self.missing_roots.insert(path.to_path_buf()) {
                    tracing::warn!(path = %path.display(), "source root is missing or not a directory; will look again");
                }
                self.schedule(path, sources, hinted, now);
                return;
            }
            // Gone (its parent's listing will say so) or replaced by a file.
            _ => return self.remove(path, changes),
        };
        self.missing_roots.remove(path);
        let stamp = (
            i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            meta.ino(),
        );
        let Some(dir) = self.dirs.get_mut(path) else {
            return;
        };
        if dir.seen != Some(stamp) {
            dir.changed_at = now;
        }
        let settling = now.saturating_duration_since(dir.changed_at) < SETTLE;
        if dir.seen == Some(stamp) && !dir.force && !settling {
            self.schedule(path, sources, hinted, now);
            return;
        }
        dir.force = false;
        dir.seen = Some(stamp);
        let listing = match discover::list_live(path, &mut changes.warnings) {
            Ok(l) => l,
            Err(source) => {
                changes.warnings.push(DiscoverError::ReadDir {
                    path: path.to_path_buf(),
                    source,
                });
                // Keep what it had; list it again at the next round.
                self.schedule(path, sources, hinted, now);
                if let Some(d) = self.dirs.get_mut(path) {
                    d.seen = None;
                    d.force = true;
                }
                return;
            }
        };
        changes.listed += 1;
        let mut keys = Vec::with_capacity(listing.files.len());
        for file in listing.files {
            if let Some(found) = sources.found(source, file) {
                keys.push(found.key);
                changes.found.push(found);
            }
        }
        let subdirs = listing.dirs;
        for sub in &subdirs {
            if !self.dirs.contains_key(sub) {
                self.dirs.insert(sub.clone(), Dir::new(source, now));
                due.push(sub.clone());
            }
        }
        let Some(dir) = self.dirs.get_mut(path) else {
            return;
        };
        let old_files = std::mem::replace(&mut dir.files, keys);
        let old_subdirs = std::mem::replace(&mut dir.subdirs, subdirs);
        let kept: HashSet<FileKey> = dir.files.iter().copied().collect();
        changes.vanished.extend(
            old_files
                .into_iter()
                .filter(|k| !kept.contains(k))
                .map(|k| (k, path.to_path_buf())),
        );
        let now_subdirs: HashSet<&PathBuf> = dir.subdirs.iter().collect();
        let gone: Vec<PathBuf> = old_subdirs
            .into_iter()
            .filter(|s| !now_subdirs.contains(s))
            .collect();
        for sub in gone {
            self.remove(&sub, changes);
        }
        self.schedule(path, sources, hinted, now);
    }

    /// Forgets `path` and every directory under it; their files vanish.
    fn remove(&mut self, path: &Path, changes: &mut Changes) {
        let Some(dir) = self.dirs.remove(path) else {
            return;
        };
        changes
            .vanished
            .extend(dir.files.into_iter().map(|k| (k, path.to_path_buf())));
        for sub in dir.subdirs {
            self.remove(&sub, changes);
        }
    }

    fn schedule(&mut self, path: &Path, sources: &SourceSet, hinted: bool, now: Instant) {
        let Some(dir) = self.dirs.get_mut(path) else {
            return;
        };
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
}

impl Dir {
    fn new(source: usize, now: Instant) -> Dir {
        Dir {
            source,
            seen: None,
            changed_at: now,
            next_look: now,
            force: true,
            files: Vec::new(),
            subdirs: Vec::new(),
        }
    }
}
