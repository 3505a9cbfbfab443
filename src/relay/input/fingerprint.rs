//! File identity: which file is this, whatever its current name?
//!
//! A file is its `(device, inode)` pair ([`FileKey`]) plus a [`Fingerprint`]
//! of its first bytes. The key alone is not enough: inodes are recycled once
//! the last descriptor of a deleted file is closed, and a copy of a file
//! (logrotate `copy`) has a new inode but the same content. Paths are never
//! identity: rotation renames files under our feet.
//!
//! The fingerprint hash is FNV-1a 64, implemented here. It is written into
//! checkpoints, so it must give the same value in every build and version:
//! never replace it with `std`'s randomly seeded hasher.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// How many leading bytes of a file the fingerprint covers at most.
pub(crate) const FINGERPRINT_MAX: usize = 256;

/// The `(st_dev, st_ino)` of a file: unique among files alive at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    /// `st_dev` of the file system holding the file.
    pub dev: u64,
    /// `st_ino` within that file system.
    pub ino: u64,
}

impl FileKey {
    /// The key of the file `meta` describes.
    pub fn of(meta: &Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Hash of the first `len` bytes of a file (`len = min(size, FINGERPRINT_MAX)`
/// when taken). Recognises a recycled inode or a renamed/copied file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many leading bytes the hash covers (at most [`FINGERPRINT_MAX`]).
    pub len: u16,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// Fingerprints the first `min(size, FINGERPRINT_MAX)` bytes of `file`.
    /// Uses `pread`: the file's cursor does not move.
    pub fn take(file: &File) -> io::Result<Fingerprint> {
        let mut buf = [0u8; FINGERPRINT_MAX];
        let n = read_prefix(file, &mut buf)?;
        Ok(Fingerprint::of_bytes(&buf[..n]))
    }

    /// The fingerprint of exactly `bytes` (at most [`FINGERPRINT_MAX`] of them
    /// are used).
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        let bytes = &bytes[..bytes.len().min(FINGERPRINT_MAX)];
        Fingerprint {
            // FINGERPRINT_MAX fits in u16, so this never saturates.
            len: u16::try_from(bytes.len()).unwrap_or(u16::MAX),
            hash: fnv1a64(bytes),
        }
    }

    /// True when the first `self.len` bytes of `file` hash to `self.hash`.
    /// A file shorter than `self.len` does not match.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        let mut buf = [0u8; FINGERPRINT_MAX];
        let want = usize::from(self.len).min(FINGERPRINT_MAX);
        let n = read_prefix(file, &mut buf[..want])?;
        Ok(n == want && fnv1a64(&buf[..n]) == self.hash)
    }
}

/// Reads from offset 0 until `buf` is full or the file ends; returns the count.
fn read_prefix(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// FNV-1a, 64-bit (offset basis and prime from the FNV specification,
/// draft-eastlake-fnv). Stable by construction: no seed, no platform input.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn fnv1a64_matches_published_test_vectors() {
        // Values from the FNV reference test suite.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn take_covers_at_most_fingerprint_max_bytes() {
        let long = vec![b'x'; FINGERPRINT_MAX + 100];
        let fp = Fingerprint::take(&file_with(&long)).unwrap();
        assert_eq!(usize::from(fp.len), FINGERPRINT_MAX);
        assert_eq!(fp, Fingerprint::of_bytes(&long[..FINGERPRINT_MAX]));
    }

    #[test]
    fn take_of_a_short_file_covers_the_whole_file() {
        let fp = Fingerprint::take(&file_with(b"hello\n")).unwrap();
        assert_eq!(fp.len, 6);
        assert_eq!(fp.hash, fnv1a64(b"hello\n"));
    }

    #[test]
    fn take_does_not_move_the_cursor() {
        let mut f = file_with(b"abcdef");
        f.seek(SeekFrom::Start(2)).unwrap();
        Fingerprint::take(&f).unwrap();
        assert_eq!(f.stream_position().unwrap(), 2);
    }

    #[test]
    fn matches_a_file_that_grew_after_the_fingerprint() {
        let mut f = file_with(b"first line\n");
        let fp = Fingerprint::take(&f).unwrap();
        f.write_all(b"second line\n").unwrap();
        assert!(fp.matches(&f).unwrap());
    }

    #[test]
    fn does_not_match_a_file_rewritten_with_other_bytes() {
        let fp = Fingerprint::take(&file_with(b"first line\n")).unwrap();
        assert!(!fp.matches(&file_with(b"other line\n")).unwrap());
    }

    #[test]
    fn does_not_match_a_file_shorter_than_the_fingerprint() {
        let fp = Fingerprint::take(&file_with(b"first line\n")).unwrap();
        assert!(!fp.matches(&file_with(b"first")).unwrap());
    }

    #[test]
    fn empty_fingerprint_matches_any_file() {
        let fp = Fingerprint::take(&file_with(b"")).unwrap();
        assert_eq!(fp.len, 0);
        assert!(fp.matches(&file_with(b"anything")).unwrap());
    }

    #[test]
    fn file_key_is_dev_and_ino_of_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        let key = FileKey::of(&meta);
        assert_eq!((key.dev, key.ino), (meta.dev(), meta.ino()));
        std::fs::rename(&p, dir.path().join("b")).unwrap();
        let renamed = std::fs::metadata(dir.path().join("b")).unwrap();
        assert_eq!(FileKey::of(&renamed), key, "a rename keeps the identity");
    }
}
