//! Rotated files: where the unread end of a file went when it was renamed
//! (logrotate's default, svlogd's `current` → `@….s`) or copied and
//! truncated (logrotate's `copytruncate`).
//!
//! The reader asks this module in three cases: at its first scan, for a
//! checkpointed file that no live path names any more ([`find_rotated`]);
//! when a file it reads was truncated under it ([`copy_beside`]); and at the
//! first scan again, for rotated files written since the last checkpoint
//! that no entry knows ([`written_since`]). The resend path asks
//! [`copy_beside`] when a file no longer holds lines it must read again.
//!
//! A candidate is only taken when it holds the file's first bytes (its
//! [`Fingerprint`]) and is longer than the offset read to: a recycled inode
//! or an unrelated file beside it is never mistaken for the rest of ours.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::relay::input::fingerprint::{FileKey, Fingerprint};

/// How far a file was read: what a checkpoint entry or a resend remembers
/// of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position<'a> {
    /// The file's (device, inode).
    pub key: FileKey,
    /// Its first bytes when it was read.
    pub fingerprint: Fingerprint,
    /// Every byte before this was read.
    pub offset: u64,
    /// Where it was then.
    pub path: &'a Path,
}

/// A rotated file that holds the rest of a [`Position`]'s file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rotated {
    /// Where it is now.
    pub path: PathBuf,
    /// Its (device, inode): the same as the position's for a rename, another
    /// for a copy.
    pub key: FileKey,
}

/// Whether `path` holds the rest of `at`: the same file renamed (same key),
/// or a copy (copytruncate) whose name extends the file's and whose first
/// bytes match. `live`: a live file still has the position's key, so only a
/// copy can hold its old content.
pub(crate) fn rotated_copy_of(at: &Position<'_>, path: &Path, live: bool) -> Option<Rotated> {
    let meta = std::fs::metadata(path).ok()?;
    let key = FileKey::of(&meta);
    if meta.len() <= at.offset {
        return None;
    }
    let same_file = key == at.key && !live;
    let copy = key != at.key && path.parent() == at.path.parent() && name_extends(path, at.path);
    if !(same_file || copy) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    at.fingerprint.matches(&file).ok()?.then(|| Rotated {
        path: path.to_owned(),
        key,
    })
}

/// The first of `candidates` (rotated files of the sources) that holds the
/// rest of `at`.
pub(crate) fn find_rotated(
    at: &Position<'_>,
    candidates: &[PathBuf],
    live: bool,
) -> Option<Rotated> {
    candidates
        .iter()
        .find_map(|path| rotated_copy_of(at, path, live))
}

/// logrotate's copytruncate copy of `at`'s file: a file beside it (not
/// `at.path`, not one `skip` names) that [`rotated_copy_of`] accepts, so at
/// least `at.offset + 1` bytes long with the file's first bytes.
pub(crate) fn copy_beside(at: &Position<'_>, skip: impl Fn(&Path) -> bool) -> Option<Rotated> {
    std::fs::read_dir(at.path.parent()?)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != at.path && !skip(p))
        .find_map(|p| rotated_copy_of(at, &p, true))
}

/// A rotated file no checkpoint entry knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unknown {
    /// Where it is.
    pub path: PathBuf,
    /// Its (device, inode).
    pub key: FileKey,
    /// Its first bytes.
    pub fingerprint: Fingerprint,
}

/// The `candidates` modified at or after `stored` (when the last checkpoint
/// was stored) whose key `known_key` does not know and whose first bytes
/// `known_fingerprint` does not know. Such a file was created and rotated
/// between two stores, so its lines may be unshipped; a copytruncate copy
/// starts like a checkpointed file and is left to [`find_rotated`].
pub(crate) fn written_since(
    candidates: &[PathBuf],
    stored: SystemTime,
    known_key: impl Fn(FileKey) -> bool,
    known_fingerprint: impl Fn(&Fingerprint) -> bool,
) -> Vec<Unknown> {
    let mut found = Vec::new();
    for path in candidates {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        let key = FileKey::of(&meta);
        let since = meta.modified().is_ok_and(|m| m >= stored);
        if !since || known_key(key) {
            continue;
        }
        let Ok(fingerprint) = Fingerprint::take(&file) else {
            continue;
        };
        if !known_fingerprint(&fingerprint) {
            found.push(Unknown {
                path: path.clone(),
                key,
                fingerprint,
            });
        }
    }
    found
}

/// The live name of a rotated copy (`x.log.3` → `x.log`, svlogd `@….s` →
/// `current`): what its rule and HOSTNAME come from.
pub(crate) fn live_name(rotated: &Path) -> PathBuf {
    let name = rotated
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let live = if name.starts_with('@') {
        "current".to_owned()
    } else {
        name.rsplit_once('.')
            .map_or(name.clone(), |(stem, _)| stem.to_owned())
    };
    rotated.with_file_name(live)
}

/// Whether `path`'s file name starts with `live`'s (`app.log.1`, `app.log-2026…`).
fn name_extends(path: &Path, live: &Path) -> bool {
    path.file_name()
        .zip(live.file_name())
        .is_some_and(|(p, l)| p.as_encoded_bytes().starts_with(l.as_encoded_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A directory with `app.log` holding `content`, read to `offset`.
    struct Dir {
        dir: tempfile::TempDir,
        live: PathBuf,
        key: FileKey,
        fingerprint: Fingerprint,
    }

    impl Dir {
        fn new(content: &[u8]) -> Dir {
            let dir = tempfile::tempdir().unwrap();
            let live = dir.path().join("app.log");
            std::fs::write(&live, content).unwrap();
            let file = std::fs::File::open(&live).unwrap();
            let key = FileKey::of(&file.metadata().unwrap());
            let fingerprint = Fingerprint::take(&file).unwrap();
            Dir {
                dir,
                live,
                key,
                fingerprint,
            }
        }

        fn at(&self, offset: u64) -> Position<'_> {
            Position {
                key: self.key,
                fingerprint: self.fingerprint,
                offset,
                path: &self.live,
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
    }

    #[test]
    fn a_renamed_file_is_found_by_its_key_when_no_live_file_has_it() {
        let d = Dir::new(b"first line\nsecond line\n");
        let moved = d.path("app.log.1");
        std::fs::rename(&d.live, &moved).unwrap();
        let found = find_rotated(&d.at(11), std::slice::from_ref(&moved), false);
        assert_eq!(
            found,
            Some(Rotated {
                path: moved.clone(),
                key: d.key
            })
        );
        // The same key on a live file: the rename is not a copy of itself.
        assert_eq!(find_rotated(&d.at(11), &[moved], true), None);
    }

    #[test]
    fn a_copytruncate_copy_is_found_by_name_and_first_bytes() {
        let d = Dir::new(b"first line\nsecond line\n");
        let copy = d.path("app.log.1");
        std::fs::copy(&d.live, &copy).unwrap();
        std::fs::File::create(&d.live).unwrap();
        let found = copy_beside(&d.at(11), |_| false).unwrap();
        assert_eq!(found.path, copy);
        assert_ne!(found.key, d.key);
        // skip() names it: not taken.
        assert_eq!(copy_beside(&d.at(11), |p| p == copy), None);
    }

    #[test]
    fn a_copy_no_longer_than_the_offset_holds_nothing_unread() {
        let d = Dir::new(b"first line\n");
        let copy = d.path("app.log.1");
        std::fs::copy(&d.live, &copy).unwrap();
        assert_eq!(rotated_copy_of(&d.at(11), &copy, true), None);
        assert!(rotated_copy_of(&d.at(10), &copy, true).is_some());
    }

    #[test]
    fn a_file_beside_with_other_first_bytes_or_another_name_is_not_a_copy() {
        let d = Dir::new(b"first line\nsecond line\n");
        let other = d.path("app.log.1");
        std::fs::write(&other, b"other content, long enough to pass\n").unwrap();
        assert_eq!(rotated_copy_of(&d.at(3), &other, true), None);
        let unrelated = d.path("sidekiq.log");
        std::fs::copy(&d.live, &unrelated).unwrap();
        assert_eq!(rotated_copy_of(&d.at(3), &unrelated, true), None);
    }

    #[test]
    fn files_written_since_the_store_and_unknown_are_listed() {
        let d = Dir::new(b"checkpointed\n");
        let new = d.path("app.log.1");
        std::fs::write(&new, b"created and rotated between two stores\n").unwrap();
        let candidates = vec![d.live.clone(), new.clone()];
        let past = SystemTime::now() - Duration::from_secs(3600);
        let key = d.key;
        let fp = d.fingerprint;
        let found = written_since(&candidates, past, |k| k == key, |_| false);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, new);
        // A file whose first bytes an entry has (a copytruncate copy) is not unknown.
        let copy = d.path("app.log.2");
        std::fs::copy(&d.live, &copy).unwrap();
        let found = written_since(&[copy], past, |_| false, |f| *f == fp);
        assert!(found.is_empty(), "{found:?}");
        // Nothing was written after a store in the future.
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert!(written_since(&candidates, future, |_| false, |_| false).is_empty());
    }

    #[test]
    fn live_names_of_rotated_files() {
        let cases = [
            ("/l/pod/app.log.3", "/l/pod/app.log"),
            (
                "/l/pod/gitaly/@4000000065a1b2c3d4e5f607.s",
                "/l/pod/gitaly/current",
            ),
            (
                "/l/pod/gitaly/@4000000065a1b2c3d4e5f607.u",
                "/l/pod/gitaly/current",
            ),
            ("/l/pod/noext", "/l/pod/noext"),
        ];
        for (rotated, live) in cases {
            assert_eq!(live_name(Path::new(rotated)), Path::new(live), "{rotated}");
        }
    }
}
