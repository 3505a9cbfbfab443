//! Where each file starts: the resume policy of the reader.
//!
//! A checkpoint entry whose key and first bytes match the file wins. A file
//! with no entry that was already there at the first scan starts where
//! `start_at` says (its end, or its beginning); a file that appears later
//! was written while we ran and starts at its beginning. Entries no live
//! file resumed from are left for the rotation recovery of the first scan.

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use crate::relay::config::StartAt;
use crate::relay::input::fingerprint::{FileKey, Fingerprint};
use crate::relay::state::checkpoint::{Checkpoints, Entry};

/// The checkpoint the reader started from, and which of its entries a
/// live file has taken up.
#[derive(Debug)]
pub(super) struct Resume {
    checkpoints: Checkpoints,
    /// Entries a live file resumed from (first scan only).
    resumed: HashSet<FileKey>,
    /// When the loaded checkpoint was stored (`None`: there was none).
    stored_at: Option<SystemTime>,
    first_scan: bool,
}

impl Resume {
    /// Resumes from `checkpoints`, stored at `stored_at`.
    pub(super) fn new(checkpoints: Checkpoints, stored_at: Option<SystemTime>) -> Resume {
        Resume {
            checkpoints,
            resumed: HashSet::new(),
            stored_at,
            first_scan: true,
        }
    }

    /// Where to start reading the file at `path`, whose key is `key`.
    pub(super) fn start_offset(
        &mut self,
        key: FileKey,
        path: &Path,
        start_at: StartAt,
    ) -> std::io::Result<u64> {
        let file = std::fs::File::open(path)?;
        if let Some(offset) = self.checkpoints.resume_offset(key, &file)? {
            self.resumed.insert(key);
            return Ok(offset);
        }
        match (self.first_scan, start_at) {
            (true, StartAt::End) => Ok(file.metadata()?.len()),
            _ => Ok(0),
        }
    }

    /// Whether the first scan is still under way.
    pub(super) fn first_scan(&self) -> bool {
        self.first_scan
    }

    /// The first scan is over: later files are new ones.
    pub(super) fn end_first_scan(&mut self) {
        self.first_scan = false;
    }

    /// Entries no live file resumed from: their files were rotated or
    /// deleted while the relay was down.
    pub(super) fn pending(&self) -> Vec<Entry> {
        self.checkpoints
            .iter()
            .filter(|e| !self.resumed.contains(&e.key))
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
        assert_eq!(r.start_offset(key, &path, StartAt::End).unwrap(), 4);
        assert!(r.pending().is_empty(), "the entry was taken up");
    }

    #[test]
    fn an_entry_with_other_first_bytes_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = with_entry(key, Fingerprint::of_bytes(b"recycled inode\n"), 4, &path);
        assert_eq!(r.start_offset(key, &path, StartAt::Beginning).unwrap(), 0);
        assert_eq!(r.pending().len(), 1, "left to the rotation recovery");
    }

    #[test]
    fn start_at_applies_to_the_first_scan_only() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, _) = file(dir.path(), "a.log", b"one\ntwo\n");
        let mut r = Resume::new(Checkpoints::default(), None);
        assert!(r.first_scan());
        assert_eq!(r.start_offset(key, &path, StartAt::End).unwrap(), 8);
        assert_eq!(r.start_offset(key, &path, StartAt::Beginning).unwrap(), 0);
        r.end_first_scan();
        assert_eq!(
            r.start_offset(key, &path, StartAt::End).unwrap(),
            0,
            "a file that appears while we run was written while we ran"
        );
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
