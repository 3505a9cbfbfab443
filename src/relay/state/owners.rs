//! One owner at a time per unit (a pod directory, or the directory of a
//! file of a source without per-pod directories) among relays that share
//! one `state_dir`.
//!
//! # Mechanism
//!
//! * Every relay process is an *instance* with an id of its own
//!   (`HOST-PID-NANOS`) and holds an exclusive lock (flock) on
//!   `instances/ID.lock` for as long as it lives. The kernel frees it
//!   when the process dies, however it dies; on CephFS and NFSv4 the lock
//!   is the file system's (it lasts until the client's session or lease
//!   ends, after a crash of the whole node too).
//! * A unit's *claim* is `owners/NAME`, holding the id of the instance that
//!   ships it. Taking a unit is a short critical section under an exclusive
//!   flock of the claim file: read the id; if it is empty, ours, or an
//!   instance whose lock is free (dead, or gone), write ours. Otherwise the
//!   unit is busy and is tried again [`RETRY_BUSY`] later. No descriptor
//!   stays open per unit: ten thousand units cost ten thousand small files,
//!   not ten thousand descriptors.
//! * An instance that stops cleanly stores its final checkpoints first and
//!   then exits: its instance lock goes, and with it every claim. One that
//!   dies loses its claims as soon as the file system frees its lock.
//!
//! The unit's checkpoint entries live beside it (`units/NAME.v1`, see
//! `units.rs`), written only by the instance that holds the claim.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::relay::sys::try_flock;

/// A busy unit is not asked about again for this long (each ask is a few
/// metadata operations on a network file system).
pub(crate) const RETRY_BUSY: Duration = Duration::from_secs(2);
/// How long an answer about another instance's liveness is reused.
const LIVENESS_TTL: Duration = Duration::from_secs(1);

/// The answer to [`Owners::claim`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Ours already.
    Held,
    /// Ours from now on; `from` is the instance that had it, if any.
    Taken { from: Option<String> },
    /// Another live instance ships it.
    Busy { owner: String },
}

/// This instance's lock: other instances see it alive (and its claims
/// held) while it exists. The relay keeps it until its final checkpoint
/// store is done, longer than the reader that claims units.
pub(crate) struct Instance {
    _lock: File,
}

/// This instance's claims.
pub(crate) struct Owners {
    owners_dir: PathBuf,
    instances_dir: PathBuf,
    id: String,
    held: HashSet<PathBuf>,
    /// Units found busy, and when to ask again.
    busy: HashMap<PathBuf, Instant>,
    liveness: HashMap<String, (bool, Instant)>,
}

impl Owners {
    /// Registers this instance under `state_dir` (creating `owners/` and
    /// `instances/`) and removes the lock files of dead instances. Its
    /// claims stand while the returned [`Instance`] lives.
    pub(crate) fn new(state_dir: &Path, host: &str) -> io::Result<(Owners, Instance)> {
        let owners_dir = state_dir.join("owners");
        let instances_dir = state_dir.join("instances");
        fs::create_dir_all(&owners_dir)?;
        fs::create_dir_all(&instances_dir)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let id = format!("{host}-{}-{nanos:x}", std::process::id());
        let path = instances_dir.join(format!("{id}.lock"));
        let alive = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match try_flock(&alive, true) {
            Ok(true) => {}
            Ok(false) => {
                return Err(io::Error::other(format!(
                    "{}: locked by another process",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(io::Error::other(format!(
                    "{}: cannot lock: {e}",
                    path.display()
                )))
            }
        }
        let owners = Owners {
            owners_dir,
            instances_dir,
            id,
            held: HashSet::new(),
            busy: HashMap::new(),
            liveness: HashMap::new(),
        };
        owners.remove_dead_instances();
        Ok((owners, Instance { _lock: alive }))
    }

    /// This instance's id, as claims name it.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Units held now.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// Units waiting for another instance to let them go.
    pub(crate) fn waiting(&self) -> usize {
        self.busy.len()
    }

    /// Whether `unit` is ours.
    pub(crate) fn holds(&self, unit: &Path) -> bool {
        self.held.contains(unit)
    }

    /// The units held now.
    pub(crate) fn held_units(&self) -> Vec<PathBuf> {
        self.held.iter().cloned().collect()
    }

    /// Held units whose claim file names another instance now: on a
    /// network file system that lost our lock (a CephFS client evicted, an
    /// NFS lease that ran out during a partition), another replica may
    /// have taken them. They are let go at once (the caller stops reading
    /// them); reading on would ship them twice.
    pub(crate) fn lost(&mut self, name_of: impl Fn(&Path) -> String) -> Vec<PathBuf> {
        let mut lost = Vec::new();
        for unit in &self.held {
            let path = self.owners_dir.join(name_of(unit));
            let owner = File::open(&path).and_then(|mut f| read_id(&mut f));
            // Unreadable (a network hiccup): keep it, ask again next time.
            if owner.is_ok_and(|o| o != self.id) {
                lost.push(unit.clone());
            }
        }
        for unit in &lost {
            self.held.remove(unit);
        }
        lost
    }

    /// Forgets waiting for units whose path is gone.
    pub(crate) fn forget_gone(&mut self) {
        self.busy.retain(|unit, _| unit.exists());
    }

    /// Takes `unit` (named `name` on disk) if nobody live has it.
    pub(crate) fn claim(&mut self, unit: &Path, name: &str) -> io::Result<Claim> {
        if self.held.contains(unit) {
            return Ok(Claim::Held);
        }
        let now = Instant::now();
        if let Some(until) = self.busy.get(unit) {
            if now < *until {
                return Ok(Claim::Busy {
                    owner: String::new(),
                });
            }
        }
        let path = self.owners_dir.join(name);
        let answer = self.claim_file(&path)?;
        match &answer {
            Claim::Busy { .. } => {
                self.busy.insert(unit.to_path_buf(), now + RETRY_BUSY);
            }
            Claim::Taken { .. } | Claim::Held => {
                self.busy.remove(unit);
                self.held.insert(unit.to_path_buf());
            }
        }
        Ok(answer)
    }

    /// Lets `unit` go (its directory is gone): its claim file is removed
    /// if it still names us.
    pub(crate) fn release(&mut self, unit: &Path, name: &str) {
        if !self.held.remove(unit) {
            return;
        }
        let path = self.owners_dir.join(name);
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return;
        };
        if !try_flock(&file, true).unwrap_or(false) {
            return;
        }
        if read_id(&mut file).is_ok_and(|owner| owner == self.id) {
            // Under the lock: a waiting instance opens the path again and
            // finds no file (or a new one), never this inode.
            let _ = fs::remove_file(&path);
        }
    }

    /// The critical section: under the claim file's lock, read the owner
    /// and take the unit when it is free.
    fn claim_file(&mut self, path: &Path) -> io::Result<Claim> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        if !try_flock(&file, true)? {
            return Ok(Claim::Busy {
                owner: "(another instance is claiming it)".into(),
            });
        }
        // Removed (by its releasing owner) between our open and our lock:
        // this inode is nobody's claim any more; ask again later.
        if !same_file(&file, path) {
            return Ok(Claim::Busy {
                owner: "(released while we asked)".into(),
            });
        }
        let owner = read_id(&mut file)?;
        if owner == self.id {
            return Ok(Claim::Held);
        }
        if !owner.is_empty() && self.alive(&owner) {
            return Ok(Claim::Busy { owner });
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(self.id.as_bytes())?;
        // Written before the lock goes (close): the next reader of the claim
        // sees our id (close-to-open on NFS).
        Ok(Claim::Taken {
            from: (!owner.is_empty()).then_some(owner),
        })
    }

    /// Whether instance `id` still holds its lock.
    fn alive(&mut self, id: &str) -> bool {
        let now = Instant::now();
        if let Some((alive, at)) = self.liveness.get(id) {
            if now.duration_since(*at) < LIVENESS_TTL {
                return *alive;
            }
        }
        let alive = instance_alive(&self.instances_dir, id);
        self.liveness.insert(id.to_owned(), (alive, now));
        alive
    }

    /// Lock files of instances that are gone; their claims count as free
    /// whether or not the file is there, so removing it is housekeeping.
    fn remove_dead_instances(&self) {
        let Ok(list) = fs::read_dir(&self.instances_dir) else {
            return;
        };
        for entry in list.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
                continue;
            };
            if id != self.id && !instance_alive(&self.instances_dir, id) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// An instance is alive while its lock file exists and is locked.
fn instance_alive(dir: &Path, id: &str) -> bool {
    if id.contains('/') || id.starts_with('.') {
        return false;
    }
    let Ok(file) = File::open(dir.join(format!("{id}.lock"))) else {
        return false;
    };
    // A file system without locks gives no answer: assume alive, so that
    // no unit is ever shipped twice at the same time.
    !try_flock(&file, false).unwrap_or(false)
}

fn read_id(file: &mut File) -> io::Result<String> {
    let mut text = String::new();
    file.rewind()?;
    file.take(512).read_to_string(&mut text)?;
    Ok(text.trim().to_owned())
}

/// Whether `file` is still what `path` names.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_live_instance_holds_a_unit_and_a_dead_ones_claims_are_free() {
        let dir = tempfile::tempdir().unwrap();
        let unit = Path::new("/logs/web-0");
        let (mut a, a_alive) = Owners::new(dir.path(), "relay-0").unwrap();
        let (mut b, _b_alive) = Owners::new(dir.path(), "relay-1").unwrap();
        assert_eq!(a.claim(unit, "web-0").unwrap(), Claim::Taken { from: None });
        assert_eq!(a.claim(unit, "web-0").unwrap(), Claim::Held);
        assert_eq!(
            b.claim(unit, "web-0").unwrap(),
            Claim::Busy {
                owner: a.id().to_owned()
            }
        );
        assert_eq!(b.waiting(), 1);
        // Asked again before RETRY_BUSY: answered from memory.
        assert!(matches!(
            b.claim(unit, "web-0").unwrap(),
            Claim::Busy { .. }
        ));
        let a_id = a.id().to_owned();
        drop((a, a_alive)); // the instance lock goes, as when the process dies
        b.busy.clear();
        b.liveness.clear();
        assert_eq!(
            b.claim(unit, "web-0").unwrap(),
            Claim::Taken { from: Some(a_id) }
        );
        assert_eq!((b.held(), b.waiting()), (1, 0));
        // A third instance cleans the dead one's lock file.
        let c = Owners::new(dir.path(), "relay-2").unwrap();
        let left = fs::read_dir(dir.path().join("instances")).unwrap().count();
        assert_eq!(left, 2, "b and c");
        drop(c);
    }

    #[test]
    fn a_claim_that_names_another_instance_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let unit = Path::new("/logs/web-2");
        let (mut a, _alive) = Owners::new(dir.path(), "a").unwrap();
        assert!(matches!(
            a.claim(unit, "web-2").unwrap(),
            Claim::Taken { .. }
        ));
        assert!(a.lost(|_| "web-2".into()).is_empty());
        // What another replica writes after our lock was lost.
        fs::write(dir.path().join("owners/web-2"), "b-1-2").unwrap();
        assert_eq!(a.lost(|_| "web-2".into()), [unit.to_path_buf()]);
        assert!(!a.holds(unit));
    }

    #[test]
    fn a_released_unit_can_be_taken_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let unit = Path::new("/logs/web-1");
        let (mut a, _a_alive) = Owners::new(dir.path(), "a").unwrap();
        let (mut b, _b_alive) = Owners::new(dir.path(), "b").unwrap();
        assert!(matches!(
            a.claim(unit, "web-1").unwrap(),
            Claim::Taken { .. }
        ));
        a.release(unit, "web-1");
        assert!(!dir.path().join("owners/web-1").exists());
        assert_eq!(b.claim(unit, "web-1").unwrap(), Claim::Taken { from: None });
    }
}
