//! Where each file starts: the resume policy of the reader.
//!
//! A checkpoint entry whose key and first bytes match the file wins. After
//! a remount (a network file system mounted again, on another node or
//! through another device), every file has a new device number and the
//! same inode: an entry then matches a file with its inode and its first
//! bytes, if the entry's device is one no file of the sources is on any
//! more; when two such entries match, the one with the file's path wins,
//! and if none has it, neither does (shipping again beats skipping). A
//! different file with the same inode number on another file system has
//! other first bytes: it is new, read from its start. A file
//! with no entry that was already there at the first scan starts where
//! `start_at` says (its end, or its beginning); a file that appears later
//! was written while we ran and starts at its beginning. Entries no live
//! file resumed from are left for the rotation recovery of the first scan.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::relay::config::StartAt;
use crate::relay::input::fingerprint::{FileKey, Fingerprint};
use crate::relay::state::checkpoint::{Checkpoints, Entry};

/// Where a file starts, and the entry it was resumed from when that entry
/// had another key (a remount): the caller moves the entry to the new key.
#[derive(Debug)]
pub(super) struct Start {
    pub offset: u64,
    pub replaces: Option<Entry>,
}

/// The checkpoint the reader started from, and which of its entries a
/// live file has taken up.
#[derive(Debug)]
pub(super) struct Resume {
    checkpoints: Checkpoints,
    /// Entries a live file resumed from (first scan only).
    resumed: HashSet<FileKey>,
    /// Devices files of the sources are on now: an entry on any other was
    /// stored before a remount.
    live_devices: HashSet<u64>,
    /// Entries on devices not live, by inode (built on first need).
    by_inode: Option<HashMap<u64, Vec<FileKey>>>,
    /// When the loaded checkpoint was stored (`None`: there was none).
    stored_at: Option<SystemTime>,
    first_scan: bool,
    /// Entries not yet looked at by a rotation recovery: all of them at
    /// start, then those of each unit taken over (shared `state_dir`).
    fresh: HashSet<FileKey>,
    /// Units taken over since the last recovery, with when their entries
    /// were stored.
    fresh_units: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Resume {
    /// Resumes from `checkpoints`, stored at `stored_at`.
    pub(super) fn new(checkpoints: Checkpoints, stored_at: Option<SystemTime>) -> Resume {
        Resume {
            fresh: checkpoints.iter().map(|e| e.key).collect(),
            checkpoints,
            resumed: HashSet::new(),
            live_devices: HashSet::new(),
            by_inode: None,
            stored_at,
            first_scan: true,
            fresh_units: Vec::new(),
        }
    }

    /// Adds the entries of a unit this relay just took over: its files
    /// resume from them, and the next recovery finishes those rotated away.
    pub(super) fn adopt(
        &mut self,
        unit: &Path,
        entries: Vec<Entry>,
        stored_at: Option<SystemTime>,
    ) {
        for e in entries {
            self.fresh.insert(e.key);
            self.resumed.remove(&e.key);
            self.checkpoints.set(e);
        }
        self.by_inode = None;
        self.fresh_units.push((unit.to_path_buf(), stored_at));
    }

    /// Whether entries or units wait for a rotation recovery.
    pub(super) fn has_fresh(&self) -> bool {
        !self.fresh.is_empty() || !self.fresh_units.is_empty()
    }

    /// The units taken over since the last call.
    pub(super) fn take_fresh_units(&mut self) -> Vec<(PathBuf, Option<SystemTime>)> {
        std::mem::take(&mut self.fresh_units)
    }

    /// The devices the sources' files are on now (from the first scan).
    pub(super) fn set_live_devices(&mut self, devices: HashSet<u64>) {
        self.live_devices = devices;
        self.by_inode = None;
    }

    /// Where to start reading the file at `path`, whose key is `key`.
    pub(super) fn start_offset(
        &mut self,
        key: FileKey,
        path: &Path,
        start_at: StartAt,
    ) -> std::io::Result<Start> {
        let file = std::fs::File::open(path)?;
        if let Some(offset) = self.checkpoints.resume_offset(key, &file)? {
            self.resumed.insert(key);
            return Ok(Start {
                offset,
                replaces: None,
            });
        }
        if self.checkpoints.get(key).is_none() {
            if let Some(entry) = self.remounted_entry(key, path, &file)? {
                self.resumed.insert(entry.key);
                return Ok(Start {
                    offset: entry.offset,
                    replaces: Some(entry),
                });
            }
        }
        // start_at = "end" is for history that predates the relay: a file no
        // checkpoint knows when there is one was written while we were down.
        let offset = match (self.first_scan && self.stored_at.is_none(), start_at) {
            (true, StartAt::End) => file.metadata()?.len(),
            _ => 0,
        };
        Ok(Start {
            offset,
            replaces: None,
        })
    }

    /// The entry stored for this file before a remount, if exactly one
    /// matches (or one of several has its path).
    fn remounted_entry(
        &mut self,
        key: FileKey,
        path: &Path,
        file: &std::fs::File,
    ) -> std::io::Result<Option<Entry>> {
        let Some(keys) = self.inode_index().get(&key.ino).cloned() else {
            return Ok(None);
        };
        let mut matching = Vec::new();
        for old in keys {
            if self.resumed.contains(&old) {
                continue;
            }
            if let Some(e) = self.checkpoints.get(old) {
                if e.fingerprint.matches(file)? {
                    matching.push(e.clone());
                }
            }
        }
        Ok(match matching.len() {
            0 => None,
            1 => matching.pop(),
            _ => matching.into_iter().find(|e| e.path == path),
        })
    }

    /// Whether the file with `key` may be `entry`'s file after a remount:
    /// the same inode, and the entry's device is no longer live (the first
    /// bytes are compared by the caller).
    pub(super) fn remounted(&self, entry: &Entry, key: FileKey) -> bool {
        entry.key.ino == key.ino
            && entry.key.dev != key.dev
            && !self.live_devices.contains(&entry.key.dev)
    }

    fn inode_index(&mut self) -> &HashMap<u64, Vec<FileKey>> {
        let (checkpoints, live) = (&self.checkpoints, &self.live_devices);
        self.by_inode.get_or_insert_with(|| {
            let mut index: HashMap<u64, Vec<FileKey>> = HashMap::new();
            for e in checkpoints.iter().filter(|e| !live.contains(&e.key.dev)) {
                index.entry(e.key.ino).or_default().push(e.key);
            }
            index
        })
    }

    /// Whether the first scan is still under way.
    pub(super) fn first_scan(&self) -> bool {
        self.first_scan
    }

    /// The first scan is over: later files are new ones.
    pub(super) fn end_first_scan(&mut self) {
        self.first_scan = false;
    }

    /// Fresh entries no live file resumed from: their files were rotated
    /// or deleted while the relay was down (or while no relay owned their
    /// unit). Each entry is handed out once.
    pub(super) fn take_pending(&mut self) -> Vec<Entry> {
        let fresh = std::mem::take(&mut self.fresh);
        self.checkpoints
            .iter()
            .filter(|e| fresh.contains(&e.key) && !self.resumed.contains(&e.key))
            .cloned()
            .collect()
    }

    /// When the loaded checkpoint was stored; `None` on a first start.
    pub(super) fn stored_at(&self) -> Option<SystemTime> {
        self.stored_at
    }

    /// Whether an entry has this key.
    pub(super) fn knows_key(&self, key: FileKey) -> bool {
        self.checkpoints.get(key).is_some()
    }

    /// Whether an entry has these first bytes.
    pub(super) fn knows_fingerprint(&self, fingerprint: &Fingerprint) -> bool {
        self.checkpoints
            .iter()
            .any(|e| e.fingerprint == *fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(dir: &Path, name: &str, content: &[u8]) -> (PathBuf, FileKey, Fingerprint) {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let key = FileKey::of(&f.metadata().unwrap());
        (path, key, Fingerprint::take(&f).unwrap())
    }

    fn with_entry(key: FileKey, fingerprint: Fingerprint, offset: u64, path: &Path) -> Resume {
        let mut c = Checkpoints::default();
        c.set(Entry {
            key,
            fingerprint,
            offset,
            path: path.to_owned(),
        });
        Resume::new(c, Some(SystemTime::now()))
    }

    #[test]
    fn a_matching_entry_wins_over_start_at() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, fp) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = with_entry(key, fp, 4, &path);
        assert_eq!(r.start_offset(key, &path, StartAt::End).unwrap().offset, 4);
        assert!(r.take_pending().is_empty(), "the entry was taken up");
    }

    #[test]
    fn an_entry_with_other_first_bytes_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = with_entry(key, Fingerprint::of_bytes(b"recycled inode\n"), 4, &path);
        assert_eq!(
            r.start_offset(key, &path, StartAt::Beginning)
                .unwrap()
                .offset,
            0
        );
        assert_eq!(r.take_pending().len(), 1, "left to the rotation recovery");
    }

    #[test]
    fn start_at_applies_to_the_first_scan_only() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = Resume::new(Checkpoints::default(), None);
        assert!(r.first_scan());
        assert_eq!(r.start_offset(key, &path, StartAt::End).unwrap().offset, 8);
        assert_eq!(
            r.start_offset(key, &path, StartAt::Beginning)
                .unwrap()
                .offset,
            0
        );
        r.end_first_scan();
        assert_eq!(
            r.start_offset(key, &path, StartAt::End).unwrap().offset,
            0,
            "a file that appears while we run was written while we ran"
        );
    }

    #[test]
    fn start_at_end_skips_history_only_on_the_very_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "new.log", b"written while we were down\n");
        let (other, okey, ofp) = file(dir.path(), "old.log", b"one\n");
        let mut r = with_entry(okey, ofp, 4, &other);
        assert_eq!(
            r.start_offset(key, &path, StartAt::End).unwrap().offset,
            0,
            "a checkpoint exists: a file it does not know is new since"
        );
    }

    fn moved(key: FileKey) -> FileKey {
        FileKey {
            dev: key.dev ^ 0xff,
            ino: key.ino,
        }
    }

    #[test]
    fn after_a_remount_the_inode_and_first_bytes_match_on_a_new_device() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, fp) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = with_entry(moved(key), fp, 4, &path);
        r.set_live_devices(HashSet::from([key.dev]));
        let start = r.start_offset(key, &path, StartAt::Beginning).unwrap();
        assert_eq!(start.offset, 4);
        assert_eq!(start.replaces.map(|e| e.key), Some(moved(key)));
        assert!(r.take_pending().is_empty(), "the old entry was taken up");
    }

    #[test]
    fn the_same_inode_with_other_first_bytes_is_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "a.log", b"other content\n");
        let old = Fingerprint::of_bytes(b"one\ntwo\n");
        let mut r = with_entry(moved(key), old, 4, &path);
        r.set_live_devices(HashSet::from([key.dev]));
        let start = r.start_offset(key, &path, StartAt::End).unwrap();
        assert_eq!((start.offset, start.replaces.is_some()), (0, false));
    }

    #[test]
    fn an_entry_on_a_device_still_mounted_is_never_taken_by_inode() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, fp) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = with_entry(moved(key), fp, 4, &path);
        r.set_live_devices(HashSet::from([key.dev, moved(key).dev]));
        let start = r.start_offset(key, &path, StartAt::Beginning).unwrap();
        assert_eq!((start.offset, start.replaces.is_some()), (0, false));
    }

    #[test]
    fn two_remounted_candidates_are_told_apart_by_path_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, fp) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut c = Checkpoints::default();
        for (dev, offset, p) in [(1, 2, dir.path().join("b.log")), (2, 4, path.clone())] {
            c.set(Entry {
                key: FileKey { dev, ino: key.ino },
                fingerprint: fp,
                offset,
                path: p,
            });
        }
        let mut r = Resume::new(c.clone(), Some(SystemTime::now()));
        r.set_live_devices(HashSet::from([key.dev]));
        assert_eq!(
            r.start_offset(key, &path, StartAt::Beginning)
                .unwrap()
                .offset,
            4
        );
        let elsewhere = dir.path().join("c.log");
        std::fs::copy(&path, &elsewhere).unwrap();
        let mut r = Resume::new(c, Some(SystemTime::now()));
        r.set_live_devices(HashSet::from([key.dev]));
        let start = r.start_offset(key, &elsewhere, StartAt::Beginning).unwrap();
        assert!(start.replaces.is_none(), "ambiguous: ship again");
    }

    #[test]
    fn knows_entries_by_key_and_by_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, fp) = file(dir.path(), "a.log", b"one\n");
        let r = with_entry(key, fp, 4, &path);
        assert!(r.knows_key(key));
        assert!(r.knows_fingerprint(&fp));
        assert!(!r.knows_fingerprint(&Fingerprint::of_bytes(b"other\n")));
        assert!(r.stored_at().is_some());
    }
}
