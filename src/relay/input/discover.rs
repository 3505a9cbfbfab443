//! Which files a source covers: a recursive walk of a root (with GitLab's
//! skip list) or an explicit glob, plus inotify hints.
//!
//! The periodic rescan (the caller calling [`walk_root`]/[`expand_glob`]
//! again) is the truth; [`Watcher`] only wakes the caller early. inotify
//! misses writes made by other clients of a network file system, so polling
//! always stays on.
//!
//! Problems with one directory or entry are collected as warnings: one
//! unreadable directory must not hide the rest of the tree.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::Watcher as _;

/// A problem with one directory, entry, pattern or watch.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot list directory {}: {source}", path.display())]
    ReadDir { path: PathBuf, source: io::Error },
    #[error("cannot stat {}: {source}", path.display())]
    Stat { path: PathBuf, source: io::Error },
    #[error("bad glob pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("cannot watch {} for changes: {source}", path.display())]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Files under `root`, recursively: regular files only, symlinked
/// directories not followed, hidden directories not entered, GitLab's
/// non-log files skipped (see [`name_kind`]). Unreadable directories become
/// warnings. Output is sorted within each directory.
pub(crate) fn walk_root(root: &Path, out: &mut Vec<PathBuf>, warnings: &mut Vec<DiscoverError>) {
    walk(root, NameKind::Live, out, warnings);
}

/// Rotated files under `root` (svlogd `@….s`, logrotate `x.1`), walked like
/// [`walk_root`]. Never tailed as new files; at startup they are where
/// a checkpointed file that was rotated while the relay was down is found,
/// so its unread end can still be shipped (match by key and fingerprint).
pub fn walk_rotated(root: &Path, out: &mut Vec<PathBuf>, warnings: &mut Vec<DiscoverError>) {
    walk(root, NameKind::Rotated, out, warnings);
}

fn walk(root: &Path, want: NameKind, out: &mut Vec<PathBuf>, warnings: &mut Vec<DiscoverError>) {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut names = match list_dir(&dir) {
            Ok(names) => names,
            Err(source) => {
                warnings.push(DiscoverError::ReadDir { path: dir, source });
                continue;
            }
        };
        names.sort();
        let mut subdirs = Vec::new();
        for path in names {
            classify_entry(path, want, out, &mut subdirs, warnings);
        }
        // Depth first, in name order.
        dirs.extend(subdirs.into_iter().rev());
    }
}

/// One directory's live log files and sub-directories (not recursive),
/// sorted by name: what [`walk_root`] finds in `dir` itself. The reader
/// lists again only the directories whose modification time changed.
pub(crate) fn list_live(dir: &Path, warnings: &mut Vec<DiscoverError>) -> io::Result<Listing> {
    let mut names = list_dir(dir)?;
    names.sort();
    let mut listing = Listing::default();
    for path in names {
        classify_entry(
            path,
            NameKind::Live,
            &mut listing.files,
            &mut listing.dirs,
            warnings,
        );
    }
    Ok(listing)
}

/// What [`list_live`] found in one directory.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Live log files (and symlinks to files).
    pub files: Vec<PathBuf>,
    /// Sub-directories to list too.
    pub dirs: Vec<PathBuf>,
}

fn list_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect()
}

/// Sorts one directory entry into a wanted file, a directory to walk, or nothing.
fn classify_entry(
    path: PathBuf,
    want: NameKind,
    files: &mut Vec<PathBuf>,
    subdirs: &mut Vec<PathBuf>,
    warnings: &mut Vec<DiscoverError>,
) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return;
    };
    let kind = name_kind(&name);
    if kind == NameKind::Ignored && name.starts_with('.') {
        return; // hidden: neither a file nor a directory to enter
    }
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return, // gone since listing
        Err(source) => return warnings.push(DiscoverError::Stat { path, source }),
    };
    if meta.is_dir() {
        subdirs.push(path);
    } else if kind != want {
        // not the kind of file this walk lists
    } else if meta.is_file() {
        files.push(path);
    } else if meta.file_type().is_symlink() {
        // A symlink to a file is tailed (Kubernetes links container logs);
        // a symlink to a directory is not followed, so the walk cannot
        // leave the tree or loop.
        if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
}

/// How discovery treats a file by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A live log file: tailed.
    Live,
    /// A rotated copy (svlogd `@….s`/`@….u`, logrotate `x.1`, `x.log.3`):
    /// only finished when a checkpoint says it is ours (see [`walk_rotated`]).
    Rotated,
    /// Never read: hidden files, svlogd's `lock`, `state`, `newstate`,
    /// `config`, compressed files.
    Ignored,
}

/// The [`NameKind`] of a file name.
pub(crate) fn name_kind(name: &str) -> NameKind {
    const SVLOGD: [&str; 4] = ["lock", "state", "newstate", "config"];
    const COMPRESSED: [&str; 4] = [".gz", ".zst", ".bz2", ".xz"];
    if name.starts_with('.')
        || SVLOGD.contains(&name)
        || COMPRESSED.iter().any(|s| name.ends_with(s))
    {
        NameKind::Ignored
    } else if name.starts_with('@') || has_rotation_number(name) {
        NameKind::Rotated
    } else {
        NameKind::Live
    }
}

/// Names [`walk_root`] skips: every name that is not [`NameKind::Live`].
#[cfg(test)]
fn is_skipped_name(name: &str) -> bool {
    name_kind(name) != NameKind::Live
}

/// `name` ends in `.<digits>` after a non-empty stem: `api.log.1`, `current.12`.
fn has_rotation_number(name: &str) -> bool {
    match name.rsplit_once('.') {
        Some((stem, n)) => {
            !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Regular files (or symlinks to them) matching `pattern`. Explicit
/// patterns get no skip list.
pub(crate) fn expand_glob(
    pattern: &str,
    out: &mut Vec<PathBuf>,
    warnings: &mut Vec<DiscoverError>,
) {
    let paths = match glob::glob(pattern) {
        Ok(paths) => paths,
        Err(e) => {
            return warnings.push(DiscoverError::Pattern {
                pattern: pattern.to_string(),
                reason: e.to_string(),
            })
        }
    };
    for entry in paths {
        match entry {
            Ok(path) => {
                if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    out.push(path);
                }
            }
            Err(e) => warnings.push(DiscoverError::ReadDir {
                path: e.path().to_path_buf(),
                source: e.into(),
            }),
        }
    }
}

/// The directory to watch for a glob: its longest leading run of components
/// without `*`, `?` or `[`. `/var/log/gitlab/*/current` → `/var/log/gitlab`.
pub(crate) fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for comp in Path::new(pattern).components() {
        let s = comp.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) {
            return base;
        }
        base.push(comp);
    }
    // No wildcard: the pattern names one file; watch its directory.
    base.parent().map(Path::to_path_buf).unwrap_or(base)
}

/// A directory inotify watches, and whether the directories below it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WatchDir {
    pub path: PathBuf,
    pub recursive: bool,
}

/// Where inotify looks for changes `pattern` can match: [`glob_base`],
/// recursively only when a directory component has a wildcard. A file
/// pattern (`/var/log/app.log`, `/var/log/gitlab/*.log`) watches its one
/// directory: a recursive watch would walk, and spend an inotify watch on,
/// every directory below it (all of `/var/log`).
pub(crate) fn glob_watch(pattern: &str) -> WatchDir {
    let dir_has_wildcard = Path::new(pattern)
        .parent()
        .is_some_and(|d| d.to_string_lossy().contains(['*', '?', '[']));
    WatchDir {
        path: glob_base(pattern),
        recursive: dir_has_wildcard,
    }
}

/// Most paths [`Hints`] remembers between two takes; beyond that it asks
/// for a full rescan instead (memory stays bounded whatever the write rate).
const MAX_HINTS: usize = 65_536;

/// What inotify said since the last [`Hints::take`]: which files changed,
/// which directories gained or lost entries, and whether events were lost.
#[derive(Debug, Default)]
pub(crate) struct HintSet {
    /// Files written to (or whose attributes changed).
    pub files: HashSet<PathBuf>,
    /// Directories whose entries changed (or that appeared).
    pub dirs: HashSet<PathBuf>,
    /// The kernel's queue overflowed or an event could not be read: every
    /// watched file and directory must be looked at.
    pub rescan: bool,
}

/// inotify's hints, gathered by the watcher's thread for the reader.
pub(crate) struct Hints {
    set: Mutex<HintSet>,
    wake: Box<dyn Fn() + Send + Sync>,
    /// A watcher is running: the sources it covers need no polling.
    active: std::sync::atomic::AtomicBool,
}

impl Hints {
    /// Hints that call `wake` after each event noted.
    pub(crate) fn new(wake: impl Fn() + Send + Sync + 'static) -> Arc<Hints> {
        Arc::new(Hints {
            set: Mutex::new(HintSet::default()),
            wake: Box::new(wake),
            active: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether a watcher feeds these hints now.
    pub(crate) fn active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Says whether a watcher feeds these hints (false: it could not start,
    /// and every source is polled).
    pub(crate) fn set_active(&self, active: bool) {
        self.active
            .store(active, std::sync::atomic::Ordering::Relaxed);
        self.lock().rescan = true;
    }

    /// Everything noted since the last take.
    pub(crate) fn take(&self) -> HintSet {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HintSet> {
        // A panic while holding the lock cannot leave a HintSet half-updated
        // in a way that matters: at worst a hint is missed, and the sweep
        // finds the change.
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, event: notify::Result<notify::Event>) {
        use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
        {
            let mut set = self.lock();
            match event {
                Ok(event) => {
                    if event.need_rescan() {
                        set.rescan = true;
                    }
                    // Our own reads and listings open and close files:
                    // only a close after writing says anything changed.
                    if matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write))
                    {
                        return;
                    }
                    let entries = matches!(
                        event.kind,
                        EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Modify(ModifyKind::Name(_))
                            | EventKind::Any
                            | EventKind::Other
                    );
                    for path in event.paths {
                        if entries {
                            if let Some(parent) = path.parent() {
                                set.dirs.insert(parent.to_path_buf());
                            }
                        }
                        // A directory's own events (a new one, new
                        // permissions) have it listed again.
                        set.dirs.insert(path.clone());
                        set.files.insert(path);
                    }
                }
                Err(_) => set.rescan = true,
            }
            if set.files.len() + set.dirs.len() > MAX_HINTS {
                set.files = HashSet::new();
                set.dirs = HashSet::new();
                set.rescan = true;
            }
        }
        (self.wake)();
    }
}

/// inotify hints: notes every event under the watched directories in a
/// [`Hints`]. Dropping it stops watching.
pub(crate) struct Watcher {
    /// Kept alive for its watches; dropped with us.
    _inner: notify::RecommendedWatcher,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    /// Watches each directory in `dirs` (pass [`glob_watch`] of each glob,
    /// roots recursively). Any failure (missing directory, inotify watch
    /// limit) is an error: the caller then relies on polling alone.
    pub(crate) fn start(dirs: &[WatchDir], hints: Arc<Hints>) -> Result<Watcher, DiscoverError> {
        let handler = move |event: notify::Result<notify::Event>| hints.note(event);
        let mut inner =
            notify::recommended_watcher(handler).map_err(|source| DiscoverError::Watch {
                path: dirs.first().map(|d| d.path.clone()).unwrap_or_default(),
                source,
            })?;
        for dir in dirs {
            let mode = if dir.recursive {
                notify::RecursiveMode::Recursive
            } else {
                notify::RecursiveMode::NonRecursive
            };
            inner
                .watch(&dir.path, mode)
                .map_err(|source| DiscoverError::Watch {
                    path: dir.path.clone(),
                    source,
                })?;
        }
        Ok(Watcher { _inner: inner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn touch(root: &Path, rel: &str) -> PathBuf {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"x\n").unwrap();
        p
    }

    fn walked(root: &Path) -> (Vec<String>, Vec<DiscoverError>) {
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        walk_root(root, &mut out, &mut warnings);
        let rel = out
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        (rel, warnings)
    }

    #[test]
    fn walk_finds_log_files_recursively_and_skips_rotated_and_svlogd_files() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for rel in [
            "gitlab-rails/production_json.log",
            "gitlab-rails/production_json.log.1",
            "gitlab-rails/api_json.log.3.gz",
            "gitlab-rails/.hidden.log",
            "sidekiq/current",
            "sidekiq/@400000006543a1b2.s",
            "sidekiq/lock",
            "sidekiq/state",
            "sidekiq/newstate",
            "sidekiq/config",
            "nginx/gitlab_access.log",
            "nginx/gitlab_error.log.xz",
            "nginx/old.zst",
            "nginx/old.bz2",
            ".snapshot/production_json.log",
        ] {
            touch(r, rel);
        }
        let (files, warnings) = walked(r);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            files,
            [
                "gitlab-rails/production_json.log",
                "nginx/gitlab_access.log",
                "sidekiq/current"
            ]
        );
    }

    #[test]
    fn walk_rotated_lists_only_rotated_copies() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for rel in [
            "rails/api_json.log",
            "rails/api_json.log.1",
            "rails/api_json.log.2.gz",
            "sidekiq/current",
            "sidekiq/@400000006543a1b2.s",
            "sidekiq/state",
            "sidekiq/.@hidden.s",
        ] {
            touch(r, rel);
        }
        let mut out = Vec::new();
        walk_rotated(r, &mut out, &mut Vec::new());
        let rel: Vec<_> = out.iter().map(|p| p.strip_prefix(r).unwrap()).collect();
        assert_eq!(
            rel,
            [
                Path::new("rails/api_json.log.1"),
                Path::new("sidekiq/@400000006543a1b2.s")
            ]
        );
    }

    #[test]
    fn directories_are_entered_whatever_their_name_unless_hidden() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "web-7d9f.1/app.log");
        touch(dir.path(), "@odd/app.log");
        touch(dir.path(), ".snapshot/app.log");
        assert_eq!(walked(dir.path()).0, ["@odd/app.log", "web-7d9f.1/app.log"]);
    }

    #[test]
    fn rotation_numbers_are_recognised_but_not_version_like_names() {
        assert!(is_skipped_name("api_json.log.1"));
        assert!(is_skipped_name("current.12"));
        assert!(!is_skipped_name("gitlab-shell.log"));
        assert!(!is_skipped_name("v1.log"));
        assert!(!is_skipped_name("2024"));
    }

    #[test]
    fn walk_does_not_follow_symlinked_directories_but_tails_symlinked_files() {
        let outside = tempfile::tempdir().unwrap();
        let target = touch(outside.path(), "elsewhere/secret.log");
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "pod/app.log");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("pod/loop")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("pod/linked.log")).unwrap();
        let (files, warnings) = walked(dir.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(files, ["pod/app.log", "pod/linked.log"]);
    }

    #[test]
    fn walk_skips_fifos_and_other_special_files() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "app.log");
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("pipe.log"))
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo: {made}");
        assert_eq!(walked(dir.path()).0, ["app.log"]);
    }

    #[test]
    fn missing_root_is_a_warning_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (files, warnings) = walked(&dir.path().join("missing"));
        assert!(files.is_empty());
        assert!(
            matches!(&warnings[..], [DiscoverError::ReadDir { .. }]),
            "{warnings:?}"
        );
        assert!(warnings[0].to_string().contains("missing"));
    }

    #[test]
    fn unreadable_subdirectory_is_a_warning_and_the_rest_is_still_found() {
        use std::os::unix::fs::PermissionsExt;
        if crate::relay::sys::is_root() {
            return; // root lists a mode-000 directory
        }
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "a/app.log");
        touch(dir.path(), "b/locked.log");
        let locked = dir.path().join("b");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let (files, warnings) = walked(dir.path());
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(files, ["a/app.log"]);
        assert!(matches!(&warnings[..], [DiscoverError::ReadDir { path, .. }] if *path == locked));
    }

    #[test]
    fn glob_matches_regular_files_without_the_skip_list() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "pod-a/current");
        touch(dir.path(), "pod-b/current");
        touch(dir.path(), "pod-b/current.1");
        fs::create_dir_all(dir.path().join("pod-c/current")).unwrap();
        let pattern = format!("{}/*/current*", dir.path().display());
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        expand_glob(&pattern, &mut out, &mut warnings);
        let names: Vec<_> = out
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                Path::new("pod-a/current"),
                Path::new("pod-b/current"),
                Path::new("pod-b/current.1")
            ]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn bad_glob_pattern_is_a_warning_naming_it() {
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        expand_glob("/var/log/[", &mut out, &mut warnings);
        assert!(out.is_empty());
        assert!(
            warnings[0].to_string().contains("/var/log/["),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn glob_base_is_the_static_prefix_directory() {
        assert_eq!(
            glob_base("/var/log/gitlab/*/current"),
            Path::new("/var/log/gitlab")
        );
        assert_eq!(
            glob_base("/var/log/gitlab/gitlab-rails/*.log"),
            Path::new("/var/log/gitlab/gitlab-rails")
        );
        assert_eq!(
            glob_base("/var/log/gitaly/gitaly.log"),
            Path::new("/var/log/gitaly")
        );
        assert_eq!(glob_base("/logs/pod-[ab]/x"), Path::new("/logs"));
    }

    fn recursive(path: &Path) -> WatchDir {
        WatchDir {
            path: path.to_path_buf(),
            recursive: true,
        }
    }

    #[test]
    fn only_a_wildcard_in_a_directory_makes_the_watch_recursive() {
        for (pattern, dir, recursive) in [
            ("/var/log/gitlab/*/current", "/var/log/gitlab", true),
            ("/logs/pod-[ab]/x.log", "/logs", true),
            ("/var/log/gitlab/**/*.log", "/var/log/gitlab", true),
            (
                "/var/log/gitlab/gitlab-rails/*.log",
                "/var/log/gitlab/gitlab-rails",
                false,
            ),
            ("/var/log/app.log", "/var/log", false),
        ] {
            let want = WatchDir {
                path: PathBuf::from(dir),
                recursive,
            };
            assert_eq!(glob_watch(pattern), want, "{pattern}");
        }
    }

    /// A file pattern watches its directory only: an event in a
    /// subdirectory does not wake the reader (and the subdirectories cost
    /// no inotify watches), one beside the file does.
    #[test]
    fn a_file_patterns_watch_is_not_recursive() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("deep/er")).unwrap();
        let pattern = dir.path().join("*.log");
        let (tx, rx) = std::sync::mpsc::channel();
        let hints = Hints::new(move || {
            tx.send(()).unwrap_or_default();
        });
        let _w = Watcher::start(&[glob_watch(&pattern.to_string_lossy())], hints).unwrap();
        touch(dir.path(), "deep/er/other.log");
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "woken by a file in a subdirectory"
        );
        touch(dir.path(), "app.log");
        rx.recv_timeout(Duration::from_secs(10))
            .expect("an inotify event within 10s");
    }

    #[test]
    fn watcher_wakes_on_a_new_file_in_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("pod")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let hints = Hints::new(move || {
            // The receiver outlives the watcher in this test.
            tx.send(()).unwrap_or_default();
        });
        let _w = Watcher::start(&[recursive(dir.path())], Arc::clone(&hints)).unwrap();
        let file = touch(dir.path(), "pod/app.log");
        rx.recv_timeout(Duration::from_secs(10))
            .expect("an inotify event within 10s");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = HintSet::default();
        while !seen.dirs.contains(&dir.path().join("pod")) {
            assert!(std::time::Instant::now() < deadline, "{seen:?}");
            let more = hints.take();
            seen.dirs.extend(more.dirs);
            seen.files.extend(more.files);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            seen.files.contains(&file),
            "the file itself is named: {seen:?}"
        );
    }

    #[test]
    fn too_many_hints_turn_into_one_rescan() {
        let hints = Hints::new(|| {});
        for i in 0..=MAX_HINTS {
            let event = notify::Event::new(notify::EventKind::Modify(
                notify::event::ModifyKind::Data(notify::event::DataChange::Any),
            ))
            .add_path(PathBuf::from(format!("/x/{i}.log")));
            hints.note(Ok(event));
        }
        let set = hints.take();
        assert!(set.rescan && set.files.len() < MAX_HINTS, "bounded");
        assert!(!hints.take().rescan, "taken once");
    }

    #[test]
    fn dropping_the_watcher_stops_the_wake_ups() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let hints = Hints::new(move || {
            tx.send(()).unwrap_or_default();
        });
        let w = Watcher::start(&[recursive(dir.path())], hints).unwrap();
        drop(w);
        touch(dir.path(), "late.log");
        // Shutdown is asynchronous (the event loop thread may still pass on
        // an event), but the handler and its sender must go away.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(()) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("watcher still alive after drop: {e}"),
            }
        }
    }

    #[test]
    fn watching_a_missing_directory_is_an_error_for_the_caller_to_poll() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = Watcher::start(&[recursive(&missing)], Hints::new(|| {}))
            .err()
            .unwrap();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
