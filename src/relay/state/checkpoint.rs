//! Durable checkpoints: for each file (by identity, never by path), the
//! offset just past the last line the output has confirmed.
//!
//! # Format (`checkpoints.v1`)
//!
//! A small text file, readable with `cat`:
//!
//! ```text
//! reaplog-checkpoints v1
//! entry <dev> <ino> <fp_len> <fp_hash, 16 hex> <offset> <path, %-escaped>
//! …
//! end <entry count> <crc32 of every byte before this line, 8 hex>
//! ```
//!
//! Entries are sorted by `(dev, ino)`, so equal contents give equal bytes
//! (golden tests pin them). A path keeps the bytes `!`..=`~` except `%`; any
//! other byte (space, newline, `%`, non-UTF-8) is written `%XX`.
//! The `end` line makes a torn write visible; the CRC catches the rest.
//! Nothing that fails these checks is ever read as "no checkpoints": loading
//! returns an error naming the file, and the operator decides.
//!
//! # Durability
//!
//! [`Checkpoints::store`] writes a hidden temp file in the same directory,
//! fsyncs it, renames it over the checkpoint and fsyncs the directory, so
//! after a crash the file is either the old or the new version. A temp file
//! left by a crash is never read and is overwritten by the next store.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::relay::input::fingerprint::{FileKey, Fingerprint, FINGERPRINT_MAX};
use crate::relay::input::rotation::Position;

/// Name of the checkpoint file inside the state directory.
pub const CHECKPOINT_FILE: &str = "checkpoints.v1";

/// First line of every version-1 checkpoint file.
const HEADER: &str = "reaplog-checkpoints v1";
/// What every checkpoint header starts with, whatever its version.
const MAGIC: &str = "reaplog-checkpoints ";

/// Why checkpoints could not be loaded or stored. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file exists but cannot be read.
    #[error("cannot read checkpoint file {}: {source}", path.display())]
    Read {
        /// The checkpoint file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A step of the durable store failed.
    #[error("cannot write checkpoint file {} ({step}): {source}", path.display())]
    Write {
        /// The checkpoint file.
        path: PathBuf,
        /// Which step failed: "create temp file", "write", "fsync", "rename", "fsync directory".
        step: &'static str,
        /// What the system said.
        source: io::Error,
    },
    /// The first line names a format this build does not read.
    #[error("checkpoint file {} has format {found:?}; this build reads {HEADER:?}", path.display())]
    UnknownVersion {
        /// The checkpoint file.
        path: PathBuf,
        /// The header found.
        found: String,
    },
    /// The file ends before its trailer.
    #[error("checkpoint file {} is torn (incomplete write?): {reason}", path.display())]
    Torn {
        /// The checkpoint file.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The CRC-32 of the body does not match the trailer.
    #[error("checkpoint file {} fails its checksum: stored {stored:08x}, computed {computed:08x}", path.display())]
    Checksum {
        /// The checkpoint file.
        path: PathBuf,
        /// The CRC in the trailer.
        stored: u32,
        /// The CRC of the body read.
        computed: u32,
    },
    /// A line of the body does not parse.
    #[error("checkpoint file {}, line {line}: {reason}", path.display())]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One file's checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file's identity.
    pub key: FileKey,
    /// Its first bytes when the offset was confirmed: guards against a
    /// recycled inode.
    pub fingerprint: Fingerprint,
    /// Offset just past the last confirmed line.
    pub offset: u64,
    /// Where the file was last seen (informational: identity is the key).
    pub path: PathBuf,
}

impl Entry {
    /// How far the file was confirmed, as the rotation recovery asks.
    pub(crate) fn position(&self) -> Position<'_> {
        Position {
            key: self.key,
            fingerprint: self.fingerprint,
            offset: self.offset,
            path: &self.path,
        }
    }
}

/// All checkpoints, keyed by [`FileKey`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoints {
    /// Sorted, so that the stored bytes are deterministic.
    entries: BTreeMap<FileKey, Entry>,
}

impl Checkpoints {
    /// Loads `path`. A missing file gives empty checkpoints (first start);
    /// anything unreadable, torn, corrupt or of another version is an error.
    pub fn load(path: &Path) -> Result<Checkpoints, CheckpointError> {
        match fs::read(path) {
            Ok(bytes) => Checkpoints::decode(path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoints::default()),
            Err(source) => Err(CheckpointError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Atomically replaces `path` with these checkpoints: temp file in the
    /// same directory → write → fsync → rename → fsync the directory.
    pub fn store(&self, path: &Path) -> Result<(), CheckpointError> {
        self.store_unsynced(path)?;
        // The rename is durable only once the directory entry is on disk.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        sync_dir(dir).map_err(|e| match e {
            CheckpointError::Write { source, step, .. } => CheckpointError::Write {
                path: path.to_path_buf(),
                step,
                source,
            },
            other => other,
        })
    }

    /// [`store`](Self::store) without the directory fsync: the caller
    /// syncs the directory once after storing many files ([`sync_dir`]).
    pub fn store_unsynced(&self, path: &Path) -> Result<(), CheckpointError> {
        let tmp = temp_path(path);
        let result = write_file(&tmp, path, &self.encode());
        if result.is_err() {
            // The temp file may be left half-written: it is never read, and
            // the next store overwrites it, so failing to remove it is harmless.
            if let Err(e) = fs::remove_file(&tmp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(path = %tmp.display(), error = %e, "leaving temp checkpoint behind");
                }
            }
        }
        result
    }

    /// The entry for `key`, if any.
    pub fn get(&self, key: FileKey) -> Option<&Entry> {
        self.entries.get(&key)
    }

    /// The offset to resume `file` at: `Some` when an entry for `key` exists
    /// and its fingerprint matches the file's first bytes.
    pub fn resume_offset(&self, key: FileKey, file: &File) -> io::Result<Option<u64>> {
        match self.entries.get(&key) {
            Some(e) if e.fingerprint.matches(file)? => Ok(Some(e.offset)),
            _ => Ok(None),
        }
    }

    /// Inserts or replaces the entry for `entry.key`.
    pub fn set(&mut self, entry: Entry) {
        self.entries.insert(entry.key, entry);
    }

    /// Forgets `key` (its file is gone).
    pub fn remove(&mut self, key: FileKey) {
        self.entries.remove(&key);
    }

    /// All entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// How many files have an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No file has an entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The exact bytes [`store`](Self::store) writes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 96);
        out.extend_from_slice(HEADER.as_bytes());
        out.push(b'\n');
        for e in self.entries.values() {
            encode_entry(e, &mut out);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(format!("end {} {crc:08x}\n", self.entries.len()).as_bytes());
        out
    }

    /// Parses the bytes of a checkpoint file; `path` is only for errors.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Checkpoints, CheckpointError> {
        check_header(path, bytes)?;
        let (body, count) = check_trailer(path, bytes)?;
        let mut cp = Checkpoints::default();
        // Line 1 is the header; entries start on line 2.
        for (i, line) in body.split(|&b| b == b'\n').enumerate().skip(1) {
            if line.is_empty() {
                continue; // after the body's final '\n'
            }
            let entry = decode_entry(line).map_err(|reason| corrupt(path, i + 1, reason))?;
            if cp.entries.insert(entry.key, entry).is_some() {
                return Err(corrupt(path, i + 1, "duplicate file key".into()));
            }
        }
        if cp.entries.len() != count {
            let reason = format!(
                "end line counts {count} entries, found {}",
                cp.entries.len()
            );
            return Err(corrupt(path, 0, reason));
        }
        Ok(cp)
    }
}

/// The hidden temp file `store` writes before renaming.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// temp file → write → fsync → rename over `path`.
fn write_file(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let step = |step: &'static str| {
        move |source| CheckpointError::Write {
            path: path.to_path_buf(),
            step,
            source,
        }
    };
    let mut f = File::create(tmp).map_err(step("create temp file"))?;
    f.write_all(bytes).map_err(step("write"))?;
    f.sync_all().map_err(step("fsync"))?;
    drop(f);
    fs::rename(tmp, path).map_err(step("rename"))
}

/// fsyncs directory `dir`, so that the renames into it are on disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| CheckpointError::Write {
            path: dir.to_path_buf(),
            step: "fsync directory",
            source,
        })
}

fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    let fields = format!(
        "entry {} {} {} {:016x} {} ",
        e.key.dev, e.key.ino, e.fingerprint.len, e.fingerprint.hash, e.offset
    );
    out.extend_from_slice(fields.as_bytes());
    escape_path(e.path.as_os_str().as_encoded_bytes(), out);
    out.push(b'\n');
}

/// `%XX` for every byte that is not printable ASCII, for space and for `%`.
fn escape_path(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

fn unescape_path(bytes: &[u8]) -> Result<PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or("path ends inside a %XX escape")?;
            let (Some(hi), Some(lo)) = (upper_hex_digit(hex[0]), upper_hex_digit(hex[1])) else {
                let hex = String::from_utf8_lossy(hex);
                return Err(format!("bad escape %{hex} in path"));
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else if b.is_ascii_graphic() {
            out.push(b);
            i += 1;
        } else {
            return Err(format!("unescaped byte 0x{b:02x} in path"));
        }
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// The value of an upper-case hex digit, as `escape_path` writes them:
/// one byte, one spelling.
fn upper_hex_digit(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    if bytes.is_empty() {
        return Err(torn(path, "the file is empty"));
    }
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    if first.len() == bytes.len() && HEADER.as_bytes().starts_with(first) {
        return Err(torn(path, "the header line is incomplete"));
    }
    let first = String::from_utf8_lossy(first);
    if first == HEADER {
        Ok(())
    } else if first.starts_with(MAGIC) {
        Err(CheckpointError::UnknownVersion {
            path: path.to_path_buf(),
            found: first.into_owned(),
        })
    } else {
        let reason = format!("not a reaplog checkpoint file (expected {HEADER:?})");
        Err(corrupt(path, 1, reason))
    }
}

/// Checks the `end <count> <crc>` line; returns the bytes it covers and the count.
fn check_trailer<'a>(path: &Path, bytes: &'a [u8]) -> Result<(&'a [u8], usize), CheckpointError> {
    let Some(without_nl) = bytes.strip_suffix(b"\n") else {
        return Err(torn(path, "the last line has no newline"));
    };
    let start = memchr::memrchr(b'\n', without_nl).map_or(0, |i| i + 1);
    let (body, last) = bytes.split_at(start);
    let last = std::str::from_utf8(&last[..last.len() - 1]).unwrap_or("");
    let mut parts = last.split(' ');
    let (Some("end"), Some(count), Some(crc), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(torn(path, "no `end <count> <crc32>` line"));
    };
    let bad_end = |what: &str| corrupt(path, 0, format!("bad {what} in end line {last:?}"));
    let count: usize = count.parse().map_err(|_| bad_end("count"))?;
    let stored = parse_hex(crc, 8).ok_or_else(|| bad_end("crc32"))? as u32;
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(CheckpointError::Checksum {
            path: path.to_path_buf(),
            stored,
            computed,
        });
    }
    Ok((body, count))
}

fn decode_entry(line: &[u8]) -> Result<Entry, String> {
    let mut f = line.splitn(7, |&b| b == b' ');
    if f.next() != Some(b"entry") {
        return Err("expected an `entry` line".into());
    }
    let mut num = |name: &str| -> Result<&[u8], String> {
        f.next().ok_or_else(|| format!("missing field {name}"))
    };
    let dev = parse_dec(num("dev")?).ok_or("bad dev")?;
    let ino = parse_dec(num("ino")?).ok_or("bad ino")?;
    let len = parse_dec(num("fingerprint length")?)
        .filter(|&l| l <= FINGERPRINT_MAX as u64)
        .ok_or("bad fingerprint length")?;
    let hash_field = std::str::from_utf8(num("fingerprint hash")?).unwrap_or("");
    let hash = parse_hex(hash_field, 16).ok_or("bad fingerprint hash")?;
    let offset = parse_dec(num("offset")?).ok_or("bad offset")?;
    let path = unescape_path(num("path")?)?;
    Ok(Entry {
        key: FileKey { dev, ino },
        fingerprint: Fingerprint {
            len: len as u16,
            hash,
        },
        offset,
        path,
    })
}

fn parse_dec(field: &[u8]) -> Option<u64> {
    // Canonical decimal only: no sign, no leading zeros.
    let leading_zero = field.len() > 1 && field[0] == b'0';
    if field.is_empty() || leading_zero || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_hex(field: &str, digits: usize) -> Option<u64> {
    // Lower case only: one value, one spelling.
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if field.len() != digits || !field.bytes().all(lower_hex) {
        return None;
    }
    u64::from_str_radix(field, 16).ok()
}

fn torn(path: &Path, reason: &'static str) -> CheckpointError {
    CheckpointError::Torn {
        path: path.to_path_buf(),
        reason,
    }
}

fn corrupt(path: &Path, line: usize, reason: String) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    fn golden(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/checkpoint")
            .join(name)
    }

    /// Writes the golden file when `REAPLOG_BLESS=1`, else compares with it.
    fn assert_golden(name: &str, bytes: &[u8]) {
        let path = golden(name);
        if std::env::var_os("REAPLOG_BLESS").is_some() {
            fs::write(&path, bytes).unwrap();
        }
        let want = fs::read(&path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(bytes, &want[..]);
    }

    fn sample() -> Checkpoints {
        let mut cp = Checkpoints::default();
        cp.set(Entry {
            key: FileKey { dev: 66, ino: 1234 },
            fingerprint: Fingerprint {
                len: 256,
                hash: 0x0123_4567_89ab_cdef,
            },
            offset: 98_765,
            path: "/var/log/gitlab/gitlab-rails/production_json.log".into(),
        });
        cp.set(Entry {
            key: FileKey { dev: 66, ino: 7 },
            fingerprint: Fingerprint {
                len: 0,
                hash: 0xcbf2_9ce4_8422_2325,
            },
            offset: 0,
            path: "/var/log/gitlab/sidekiq/current".into(),
        });
        cp.set(Entry {
            key: FileKey {
                dev: u64::MAX,
                ino: u64::MAX,
            },
            fingerprint: Fingerprint {
                len: 12,
                hash: u64::MAX,
            },
            offset: u64::MAX,
            // Space, percent, newline, non-UTF-8 and multi-byte UTF-8 in one name.
            path: PathBuf::from(OsStr::from_bytes(b"/logs/a b%c\nd\xff\xfe\xc3\xa9.log")),
        });
        cp
    }

    fn stored(cp: &Checkpoints) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        cp.store(&path).unwrap();
        (dir, path)
    }

    #[test]
    fn store_writes_the_golden_bytes() {
        let (_dir, path) = stored(&sample());
        assert_golden("v1_three_entries", &fs::read(path).unwrap());
    }

    #[test]
    fn store_of_empty_checkpoints_writes_the_golden_bytes() {
        let (_dir, path) = stored(&Checkpoints::default());
        assert_golden("v1_empty", &fs::read(path).unwrap());
    }

    #[test]
    fn loads_a_golden_v1_file_written_by_an_earlier_build() {
        let cp = Checkpoints::load(&golden("v1_three_entries")).unwrap();
        assert_eq!(cp, sample());
    }

    #[test]
    fn round_trip_keeps_every_field_and_any_path_bytes() {
        let (_dir, path) = stored(&sample());
        assert_eq!(Checkpoints::load(&path).unwrap(), sample());
    }

    #[test]
    fn missing_file_loads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoints::load(&dir.path().join(CHECKPOINT_FILE)).unwrap();
        assert!(cp.is_empty());
    }

    #[test]
    fn leftover_temp_file_from_a_crash_is_ignored_and_overwritten() {
        let (_dir, path) = stored(&sample());
        let tmp = temp_path(&path);
        fs::write(&tmp, b"reaplog-checkpoints v1\nentry 1 2 half-writ").unwrap();
        assert_eq!(
            Checkpoints::load(&path).unwrap(),
            sample(),
            "old checkpoint still loads"
        );
        let mut newer = sample();
        newer.remove(FileKey { dev: 66, ino: 7 });
        newer.store(&path).unwrap();
        assert!(!tmp.exists(), "the store renamed its temp file away");
        assert_eq!(Checkpoints::load(&path).unwrap(), newer);
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum_with_the_path() {
        let (_dir, path) = stored(&sample());
        let mut bytes = fs::read(&path).unwrap();
        bytes[40] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = Checkpoints::load(&path).unwrap_err();
        assert!(matches!(err, CheckpointError::Checksum { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_torn_file_is_an_error_not_an_empty_checkpoint() {
        let (_dir, path) = stored(&sample());
        let bytes = fs::read(&path).unwrap();
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            fs::write(&path, &bytes[..cut]).unwrap();
            let err = Checkpoints::load(&path).unwrap_err();
            assert!(
                matches!(err, CheckpointError::Torn { .. }),
                "cut {cut}: {err}"
            );
            assert!(err.to_string().contains(&path.display().to_string()));
        }
    }

    #[test]
    fn an_unknown_version_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        fs::write(&path, b"reaplog-checkpoints v2\nend 0 00000000\n").unwrap();
        let err = Checkpoints::load(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::UnknownVersion { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("v2"), "{err}");
    }

    #[test]
    fn a_foreign_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        fs::write(&path, b"{\"version\": 1}\n").unwrap();
        let err = Checkpoints::load(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Corrupt { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_bad_entry_with_a_valid_checksum_is_corrupt_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let body = b"reaplog-checkpoints v1\nentry 1 2 3 zz 5 /x\n";
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(format!("end 1 {:08x}\n", crc32fast::hash(body)).as_bytes());
        fs::write(&path, &bytes).unwrap();
        let err = Checkpoints::load(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("fingerprint hash"), "{err}");
    }

    #[test]
    fn store_into_a_missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join(CHECKPOINT_FILE);
        let err = sample().store(&path).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::Write {
                    step: "create temp file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn store_under_a_regular_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("state");
        fs::write(&not_a_dir, b"").unwrap();
        let err = sample()
            .store(&not_a_dir.join(CHECKPOINT_FILE))
            .unwrap_err();
        assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
        assert!(err.to_string().contains("state/checkpoints.v1"), "{err}");
    }

    #[test]
    fn store_into_a_read_only_directory_is_a_clear_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let result = sample().store(&path);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            return; // root ignores directory permissions
        }
        let err = result.unwrap_err();
        assert!(matches!(err, CheckpointError::Write { .. }), "{err}");
        assert!(err.to_string().contains(CHECKPOINT_FILE), "{err}");
    }

    fn is_root() -> bool {
        crate::relay::sys::is_root()
    }

    #[test]
    fn resume_offset_needs_a_matching_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.log");
        fs::write(&p, b"line one\nline two\n").unwrap();
        let file = File::open(&p).unwrap();
        let key = FileKey::of(&file.metadata().unwrap());
        let mut cp = Checkpoints::default();
        let entry = |fingerprint| Entry {
            key,
            fingerprint,
            offset: 9,
            path: p.clone(),
        };
        cp.set(entry(Fingerprint::take(&file).unwrap()));
        assert_eq!(cp.resume_offset(key, &file).unwrap(), Some(9));
        cp.set(entry(Fingerprint::of_bytes(
            b"recycled inode, other content",
        )));
        assert_eq!(cp.resume_offset(key, &file).unwrap(), None);
        cp.remove(key);
        assert_eq!(cp.resume_offset(key, &file).unwrap(), None);
    }

    #[test]
    fn set_replaces_the_entry_of_the_same_key() {
        let mut cp = sample();
        let key = FileKey { dev: 66, ino: 7 };
        let mut e = cp.get(key).unwrap().clone();
        e.offset = 42;
        cp.set(e);
        assert_eq!(cp.len(), 3);
        assert_eq!(cp.get(key).map(|e| e.offset), Some(42));
        assert_eq!(cp.iter().count(), 3);
    }

    fn arb_entry() -> impl proptest::strategy::Strategy<Value = Entry> {
        use proptest::prelude::*;
        let path = prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| PathBuf::from(std::ffi::OsString::from(OsStr::from_bytes(&b))));
        (
            any::<u64>(),
            any::<u64>(),
            0u16..=256,
            any::<u64>(),
            any::<u64>(),
            path,
        )
            .prop_map(|(dev, ino, len, hash, offset, path)| Entry {
                key: FileKey { dev, ino },
                fingerprint: Fingerprint { len, hash },
                offset,
                path,
            })
    }

    fn arb_checkpoints() -> impl proptest::strategy::Strategy<Value = Checkpoints> {
        use proptest::prelude::*;
        prop::collection::vec(arb_entry(), 0..6).prop_map(|entries| {
            let mut cp = Checkpoints::default();
            entries.into_iter().for_each(|e| cp.set(e));
            cp
        })
    }

    proptest::proptest! {
        #[test]
        fn decode_of_encode_is_identity_for_any_entries_and_path_bytes(cp in arb_checkpoints()) {
            let bytes = cp.encode();
            proptest::prop_assert_eq!(Checkpoints::decode(Path::new("x"), &bytes).unwrap(), cp);
        }

        #[test]
        fn any_changed_byte_is_an_error_never_a_different_checkpoint(
            cp in arb_checkpoints(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let mut bytes = cp.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let decoded = Checkpoints::decode(Path::new("x"), &bytes);
            proptest::prop_assert!(decoded.is_err(), "byte {} changed, decoded {:?}", i, decoded);
        }
    }
}
