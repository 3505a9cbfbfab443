//! Checkpoints split by unit, for relays that share one `state_dir`
//! (`shard` set): a unit is a pod directory of a `per_pod_dirs` source, or
//! the directory of a file of any other source, and its entries live in `units/NAME.v1`
//! (the format of `checkpoints.v1`, one file per unit). Only the instance
//! that holds the unit's claim (`owners.rs`) writes that file, so replicas
//! never overwrite each other's entries, and whichever replica takes a
//! unit over starts from where its last owner confirmed.
//!
//! A `checkpoints.v1` left by a relay that ran before `shard` was set is
//! read, never written: a unit without a file of its own starts from that
//! file's entries under it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::relay::config::Source;
use crate::relay::input::fingerprint::fnv1a64;
use crate::relay::state::checkpoint::{
    sync_dir, CheckpointError, Checkpoints, Entry, CHECKPOINT_FILE,
};

/// Which unit a file belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnitMap {
    /// Roots of the `per_pod_dirs` sources.
    pod_roots: Vec<PathBuf>,
}

impl UnitMap {
    pub(crate) fn new(sources: &[Source]) -> UnitMap {
        UnitMap {
            pod_roots: sources
                .iter()
                .filter(|s| s.per_pod_dirs)
                .filter_map(|s| s.root.clone())
                .collect(),
        }
    }

    /// The pod directory `path` lies in, or else its directory (sources
    /// without pod directories are sharded by directory, so that rotated
    /// copies stay with the replica that ships the live file).
    pub(crate) fn unit_of(&self, path: &Path) -> PathBuf {
        for root in &self.pod_roots {
            if let Ok(rel) = path.strip_prefix(root) {
                let mut parts = rel.components();
                if let (Some(pod), Some(_)) = (parts.next(), parts.next()) {
                    return root.join(pod);
                }
            }
        }
        path.parent().unwrap_or(path).to_path_buf()
    }
}

/// The reader and the checkpoint writer see the same map, replaced on a
/// reload.
pub(crate) type SharedUnitMap = Arc<Mutex<Arc<UnitMap>>>;

/// The on-disk name of `unit` (claim and checkpoint file): its path with
/// `/` written `!` and every byte outside `[A-Za-z0-9._-]` as `%XX`, or,
/// past 200 bytes, a hash of it.
pub(crate) fn file_name(unit: &Path) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = unit.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'/' => out.push('!'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(b as char),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    if out.len() > 200 {
        return format!("%{:016x}", fnv1a64(bytes));
    }
    out
}

/// The unit checkpoint files under `state_dir/units`: what the checkpoint
/// writer needs of them.
#[derive(Debug, Clone)]
pub(crate) struct UnitDir {
    dir: PathBuf,
}

/// The unit checkpoint files and what a claimer reads besides them.
#[derive(Debug)]
pub(crate) struct UnitStore {
    files: UnitDir,
    /// `checkpoints.v1` of a relay that ran before `shard`, and when it was stored.
    legacy: Option<(Checkpoints, Option<SystemTime>)>,
    /// No relay used this directory before this one.
    first_start: bool,
}

/// Left in `units/` by the first relay that used it: a relay that dies
/// before its first store must not make the next one a first start (which
/// would begin files at `start_at`, skipping what was written in between).
const STARTED: &str = ".started";

impl UnitStore {
    pub(crate) fn open(state_dir: &Path) -> Result<UnitStore, CheckpointError> {
        let dir = state_dir.join("units");
        fs::create_dir_all(&dir).map_err(|source| CheckpointError::Write {
            path: dir.clone(),
            step: "create directory",
            source,
        })?;
        let legacy_path = state_dir.join(CHECKPOINT_FILE);
        let legacy = if legacy_path.exists() {
            let stored = fs::metadata(&legacy_path).and_then(|m| m.modified()).ok();
            Some((Checkpoints::load(&legacy_path)?, stored))
        } else {
            None
        };
        let marker = dir.join(STARTED);
        let first_start = legacy.is_none() && !marker.exists();
        if first_start {
            fs::write(&marker, b"")
                .map_err(|source| CheckpointError::Write {
                    path: marker.clone(),
                    step: "create",
                    source,
                })
                .and_then(|()| sync_dir(&dir))?;
        }
        Ok(UnitStore {
            files: UnitDir { dir },
            legacy,
            first_start,
        })
    }

    /// The files, for the checkpoint writer.
    pub(crate) fn files(&self) -> UnitDir {
        self.files.clone()
    }

    /// Whether any relay of the fleet stored anything here before: then a
    /// file no unit knows was written while relays ran (read from its
    /// start), not history that predates them (`start_at`).
    pub(crate) fn stored_before(&self) -> Option<SystemTime> {
        if self.first_start {
            return None;
        }
        let newest = fs::read_dir(&self.files.dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
            .max();
        newest
            .or_else(|| self.legacy.as_ref().and_then(|(_, t)| *t))
            .or(Some(SystemTime::UNIX_EPOCH))
    }

    /// The entries of `unit` and when they were stored: its own file, else
    /// the legacy file's entries under it, else none.
    pub(crate) fn load(
        &self,
        unit: &Path,
        name: &str,
        map: &UnitMap,
    ) -> Result<(Vec<Entry>, Option<SystemTime>), CheckpointError> {
        let path = self.files.path(name);
        match fs::metadata(&path) {
            Ok(meta) => {
                let cp = Checkpoints::load(&path)?;
                let entries = cp.iter().cloned().collect();
                Ok((entries, meta.modified().ok()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(match &self.legacy {
                Some((cp, stored)) => (
                    cp.iter()
                        .filter(|e| map.unit_of(&e.path) == unit)
                        .cloned()
                        .collect(),
                    *stored,
                ),
                None => (Vec::new(), None),
            }),
            Err(source) => Err(CheckpointError::Read { path, source }),
        }
    }
}

impl UnitDir {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.v1"))
    }

    /// Writes `unit`'s entries (temp → fsync → rename); [`UnitDir::sync`]
    /// makes the renames durable, once for a whole store.
    pub(crate) fn store(&self, name: &str, entries: &Checkpoints) -> Result<(), CheckpointError> {
        entries.store_unsynced(&self.path(name))
    }

    /// Removes `unit`'s file (the unit is gone: no entry, no directory).
    pub(crate) fn remove(&self, name: &str) -> Result<(), CheckpointError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CheckpointError::Write {
                path,
                step: "remove",
                source,
            }),
        }
    }

    /// fsyncs the directory: every rename of this store is on disk.
    pub(crate) fn sync(&self) -> Result<(), CheckpointError> {
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_a_pod_directory_are_one_unit_and_other_files_their_own() {
        let map = UnitMap {
            pod_roots: vec![PathBuf::from("/var/log/gitlab")],
        };
        assert_eq!(
            map.unit_of(Path::new(
                "/var/log/gitlab/web-0/gitlab-rails/production.log.1"
            )),
            Path::new("/var/log/gitlab/web-0")
        );
        assert_eq!(
            map.unit_of(Path::new("/var/log/gitlab/stray.log")),
            Path::new("/var/log/gitlab"),
            "a file directly under the root is no pod's"
        );
        assert_eq!(
            map.unit_of(Path::new("/var/log/app/a.log.1")),
            Path::new("/var/log/app")
        );
    }

    #[test]
    fn names_are_readable_flat_and_bounded() {
        assert_eq!(
            file_name(Path::new(
                "/var/log/gitlab/gitlab-webservice-default-7d9f-x2lp"
            )),
            "!var!log!gitlab!gitlab-webservice-default-7d9f-x2lp"
        );
        assert_eq!(file_name(Path::new("/a b/%")), "!a%20b!%25");
        let long = format!("/{}", "x".repeat(300));
        let name = file_name(Path::new(&long));
        assert!(name.len() == 17 && name.starts_with('%'), "{name}");
    }
}
