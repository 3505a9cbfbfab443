//! The reader: owns every tailer, turns lines into encoded frames, and hands
//! batches to the output.
//!
//! It runs on its own thread with blocking file I/O. Sending a batch blocks
//! while the output's queue is full: a slow or dead receiver stops reading,
//! and the files are the buffer (memory stays bounded whatever the backlog).
//!
//! Each round: take inotify's hints; list the directories that changed
//! ([`dirs`]: new files, rotations, deletions); open queued files while the
//! open-file budget has room; look at every file due (one `fstat`, or one
//! `stat` of a closed file's path) and read those that changed up to a
//! per-file budget (fairness); ship what was encoded; then wait for a hint
//! or the poll interval, unless a file had more to read. Cost follows what
//! changes, not how many files there are (docs/relay.md, "How the reader
//! scales").

pub(super) mod claims;
mod dirs;
mod resume;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::relay::batch::replay::{Origin, Recipe};
use crate::relay::batch::Batch;
use crate::relay::encode::process::Processing;
use crate::relay::encode::time::Timestamp;
use crate::relay::encode::{Encoded, LineCodec, Stamp};
use crate::relay::input::budget::OpenFiles;
use crate::relay::input::discover::{DiscoverError, HintSet, Hints};
use crate::relay::input::fingerprint::FileKey;
use crate::relay::input::rotation;
use crate::relay::input::sources::{Found, SourceSet};
use crate::relay::input::tail::{Flow, ReadOutcome, Reopen, Seen, TailError, TailOptions, Tailer};
use crate::relay::metrics::{ReaderStats, SourceStats};
use crate::relay::state::checkpoint::{Checkpoints, Entry};
use dirs::Dirs;
use resume::Resume;

/// Bytes read from one file per round before the next file gets its turn.
const READ_BUDGET: usize = 256 * 1024;

/// Glob rescans triggered by inotify hints are at least this far apart.
const MIN_HINTED_RESCAN: Duration = Duration::from_millis(100);

/// Under inotify (`watch = "auto"` on a local file system), files and
/// directories are looked at on a hint, and at least this often whatever
/// the hints say.
pub(super) const SWEEP: Duration = Duration::from_secs(10);

/// A file unchanged this long is looked at every [`QUIET_FILE_INTERVAL`]
/// (or the poll interval, if longer)...
const QUIET_AFTER: Duration = Duration::from_secs(2);
const QUIET_FILE_INTERVAL: Duration = Duration::from_secs(1);
/// ...and, unchanged this long, every [`LONG_QUIET_FILE_INTERVAL`]: the
/// documented worst case for the first line written to a long-idle file
/// under polling.
const LONG_QUIET_AFTER: Duration = Duration::from_secs(60);
const LONG_QUIET_FILE_INTERVAL: Duration = Duration::from_secs(5);

/// Every directory is listed again this often, changed or not (a safety
/// net for file systems whose directory times lag, and for symlinked
/// files whose target was replaced).
const FULL_RESCAN: Duration = Duration::from_secs(60);

/// What the reader needs besides the files.
pub(super) struct ReaderSettings {
    pub max_message_size: usize,
    pub batch_bytes: usize,
    pub poll_interval: Duration,
    pub partial_after: Duration,
    /// Put a newline after each frame (stdout, for people).
    pub newline_after_frame: bool,
    /// Stop once every file is read to its end (the demo, `--once`).
    pub once: bool,
    /// When the loaded checkpoint was stored (`None`: there was none). A
    /// rotated file written since then may hold lines no entry covers.
    pub resume_stored_at: Option<std::time::SystemTime>,
    /// Log files held open at most (already fitted to RLIMIT_NOFILE).
    pub max_open_files: usize,
    /// Redaction, drop rules and static SD (`[redact]`, `[[drop]]`,
    /// `[structured_data]`).
    pub processing: Processing,
}

/// A file being read (or closed, to stay under the open-file budget) and
/// what its lines are stamped with.
struct Tracked {
    tailer: Tailer,
    source: Arc<SourceStats>,
    /// Index of its source in the configuration.
    source_index: usize,
    path: Arc<Path>,
    stamp: Stamp,
    /// The descriptor, path, rule and header fields the batches share;
    /// `None` while closed or after a change of path or rule, built again
    /// at the next read, so that batches keep what their lines were read with.
    origin: Option<Arc<Origin>>,
    /// When a look last found it changed.
    changed_at: Instant,
    next_look: Instant,
    /// Closed, and found renamed to `path` (rotated): detached once reopened.
    rotated: bool,
}

impl Tracked {
    fn path(&self) -> &Arc<Path> {
        &self.path
    }

    /// The same file, now at `path` and/or stamped with `stamp`.
    fn restamp(&mut self, path: Arc<Path>, stamp: Stamp) {
        self.path = path;
        self.stamp = stamp;
        self.origin = None;
    }

    /// The origin of the lines read now, built on first need.
    fn origin(&mut self, recipe: &Arc<Recipe>) -> Result<Arc<Origin>, TailError> {
        if let Some(o) = &self.origin {
            return Ok(Arc::clone(o));
        }
        let origin = Arc::new(Origin::new(
            Arc::clone(self.tailer.file()?),
            self.tailer.key(),
            Arc::clone(&self.path),
            &self.stamp,
            recipe,
        ));
        self.origin = Some(Arc::clone(&origin));
        Ok(origin)
    }

    fn close(&mut self) -> bool {
        if self.tailer.close() {
            self.origin = None;
            true
        } else {
            false
        }
    }
}

/// What a look at a file found.
enum Look {
    /// Nothing new.
    Same,
    /// Something to read.
    Read,
    /// Closed, and changed on disk: reopen, then read.
    Reopen,
    /// Its path names another file or nothing: its directory must be
    /// listed again.
    Moved,
}

/// The reader's state; [`Reader::run`] is its loop.
pub(super) struct Reader {
    sources: SourceSet,
    settings: ReaderSettings,
    recipe: Arc<Recipe>,
    resume: Resume,
    files: HashMap<FileKey, Tracked>,
    /// Which file each live path names, for inotify hints.
    by_path: HashMap<Arc<Path>, FileKey>,
    dirs: Dirs,
    /// Files found while the open-file budget was spent, oldest first.
    waiting: VecDeque<Found>,
    waiting_keys: HashSet<FileKey>,
    /// Rotated copies to finish, waiting for a descriptor.
    waiting_rotated: VecDeque<(Entry, PathBuf, FileKey)>,
    budget: Arc<OpenFiles>,
    hints: Arc<Hints>,
    /// The read buffer every tailer borrows.
    buf: Vec<u8>,
    /// The sources were replaced: the next listing is complete, and files
    /// it does not find are no source's any more.
    reloaded: bool,
    stats: Arc<ReaderStats>,
    /// Per-source counters, indexed like the sources.
    source_stats: Vec<Arc<SourceStats>>,
    /// When `stats.offsets` was last refreshed.
    offsets_published: Option<Instant>,
    /// Claims and unit checkpoints, with a `state_dir` shared by replicas.
    shared: Option<claims::Shared>,
}

impl Reader {
    pub(super) fn new(
        sources: SourceSet,
        settings: ReaderSettings,
        resume: Checkpoints,
        stats: Arc<ReaderStats>,
        hints: Arc<Hints>,
        shared: Option<claims::Shared>,
    ) -> Reader {
        let codec = LineCodec::with_processing(
            settings.max_message_size,
            settings.newline_after_frame,
            settings.processing.clone(),
        );
        stats.set_drop_rules(codec.drop_labels());
        let recipe = Arc::new(Recipe {
            codec,
            tail: tail_options(&settings),
        });
        let budget = OpenFiles::new(settings.max_open_files);
        stats
            .max_open_files
            .store(budget.max() as u64, Ordering::Relaxed);
        Reader {
            recipe,
            resume: Resume::new(resume, settings.resume_stored_at),
            sources,
            settings,
            files: HashMap::new(),
            by_path: HashMap::new(),
            dirs: Dirs::default(),
            waiting: VecDeque::new(),
            waiting_keys: HashSet::new(),
            waiting_rotated: VecDeque::new(),
            budget,
            hints,
            buf: Vec::new(),
            reloaded: false,
            source_stats: Vec::new(),
            offsets_published: None,
            stats,
            shared,
        }
        .with_source_stats()
    }

    /// Registers one counter set per source with the shared stats.
    fn with_source_stats(mut self) -> Reader {
        self.source_stats = self
            .sources
            .labels()
            .into_iter()
            .map(|label| {
                Arc::new(SourceStats {
                    label,
                    ..SourceStats::default()
                })
            })
            .collect();
        self.stats.set_sources(self.source_stats.clone());
        self
    }

    /// Reads until `stop` is set (or, with `once`, until everything is read),
    /// then ships the last batch and returns. Dropping `out` afterwards tells
    /// the output to drain and close.
    pub(super) fn run(
        mut self,
        out: mpsc::Sender<Batch>,
        wake: std_mpsc::Receiver<()>,
        reload: std_mpsc::Receiver<SourceSet>,
        stop: Arc<AtomicBool>,
    ) {
        let mut batch = self.new_batch();
        let mut last_full: Option<Instant> = None;
        let mut last_globs: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Ok(sources) = reload.try_recv() {
                // SIGHUP: new sources; open files keep their positions.
                if let Some(sh) = &self.shared {
                    let map = Arc::new(crate::relay::state::units::UnitMap::new(sources.configs()));
                    *sh.map.lock().unwrap_or_else(|p| p.into_inner()) = map;
                }
                self.sources = sources;
                self = self.with_source_stats();
                self.dirs.clear();
                self.reloaded = true;
                last_full = None;
            }
            let hints = self.hints.take();
            let now = Instant::now();
            let full = hints.rescan || last_full.is_none_or(|t| now - t >= FULL_RESCAN);
            if full {
                last_full = Some(now);
                self.dirs.force_all();
                self.files.values_mut().for_each(|t| t.next_look = now);
            }
            // Globs are expanded whole; at the poll interval, or on a hint
            // at most 10 times a second.
            let since = last_globs.map(|t| now.saturating_duration_since(t));
            let globs_due = full
                || since.is_none_or(|s| s >= self.settings.poll_interval)
                || (!hints.files.is_empty() && since.is_some_and(|s| s >= MIN_HINTED_RESCAN));
            if globs_due {
                last_globs = Some(now);
            }
            self.take_hints(hints, now);
            self.discover(&mut batch, now, globs_due);
            self.sweep_units(now);
            let opened_some = self.open_waiting(&mut batch);
            let more = match self.read_round(&mut batch, &out, &stop) {
                Ok(more) => more,
                Err(Closed) => return,
            };
            // Files still wait for a descriptor but some were opened: the
            // next round comes at once (closing what was read frees more).
            let more = more
                || (opened_some && !(self.waiting.is_empty() && self.waiting_rotated.is_empty()));
            if !batch.is_empty() && self.ship(&mut batch, &out).is_err() {
                return;
            }
            if self.settings.once && !more {
                if !self.waiting.is_empty() || !self.waiting_rotated.is_empty() {
                    continue;
                }
                // Everything is at its end: detach all so that partial last
                // lines go out in one more round, then stop. Nothing is
                // marked finished, so a later run resumes, not restarts.
                if self
                    .files
                    .values()
                    .all(|t| !t.tailer.is_open() || t.tailer.is_finished(far_future()))
                {
                    break;
                }
                self.files.values_mut().for_each(|t| {
                    if t.tailer.is_open() {
                        t.tailer.detach();
                        t.next_look = Instant::now();
                    }
                });
                continue;
            }
            if !more {
                // An inotify hint or the poll interval, whichever comes first;
                // a disconnected hint channel (polling only) is just a timeout.
                match wake.recv_timeout(self.settings.poll_interval) {
                    Ok(()) => while wake.try_recv().is_ok() {},
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(self.settings.poll_interval)
                    }
                }
            }
        }
        if !batch.is_empty() {
            let _closed = self.ship(&mut batch, &out);
        }
    }

    fn new_batch(&self) -> Batch {
        Batch::with_capacity(self.settings.batch_bytes + self.settings.max_message_size + 64)
    }

    fn ship(&self, batch: &mut Batch, out: &mpsc::Sender<Batch>) -> Result<(), Closed> {
        ship(&self.stats, batch, out)
    }

    /// Files and directories inotify named are looked at now.
    fn take_hints(&mut self, hints: HintSet, now: Instant) {
        for dir in &hints.dirs {
            self.dirs.force(dir);
        }
        for path in &hints.files {
            if let Some(t) = self
                .by_path
                .get(path.as_path())
                .and_then(|k| self.files.get_mut(k))
            {
                t.next_look = now;
            }
        }
        if hints.rescan {
            self.dirs.force_all();
        }
    }

    /// Reads every file due once. Returns whether some file has more to
    /// read now.
    fn read_round(
        &mut self,
        batch: &mut Batch,
        out: &mpsc::Sender<Batch>,
        stop: &AtomicBool,
    ) -> Result<bool, Closed> {
        let now = Instant::now();
        let due: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, t)| t.next_look <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut to_read = Vec::with_capacity(due.len());
        let mut to_reopen = Vec::new();
        let mut looks = Vec::with_capacity(due.len());
        for &key in &due {
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            let look = if t.tailer.is_open() {
                look_open(t)
            } else {
                look_closed(t)
            };
            looks.push((key, look));
        }
        for (key, look) in looks {
            match look {
                Look::Read => to_read.push(key),
                Look::Reopen => to_reopen.push(key),
                Look::Same => {}
                Look::Moved => {
                    if let Some(dir) = self.files.get(&key).and_then(|t| t.path.parent()) {
                        self.dirs.force(dir);
                    }
                }
            }
        }
        if !to_reopen.is_empty() {
            // A file that waits for a descriptor is due again at once, but
            // the loop still sleeps: the descriptors come back as the
            // output confirms batches, not by spinning.
            self.reopen_all(to_reopen, &mut to_read, now);
        }
        let mut more = false;
        let mut again = HashSet::new();
        let mut finished = Vec::new();
        let mut truncated = Vec::new();
        for key in to_read {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let recipe = Arc::clone(&self.recipe);
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            t.changed_at = now;
            // The budget spans the batches this file fills in one round, so
            // a busy file cannot starve the others.
            let start = t.tailer.read_pos();
            loop {
                let used = t.tailer.read_pos().saturating_sub(start) as usize;
                let budget = READ_BUDGET.saturating_sub(used);
                if budget == 0 {
                    again.insert(key);
                    break;
                }
                let outcome = read_file(
                    t,
                    &recipe,
                    &mut self.buf,
                    &self.settings,
                    batch,
                    &self.stats,
                    now,
                    budget,
                );
                match outcome {
                    Ok(ReadOutcome::Eof) => break,
                    Ok(ReadOutcome::Budget) => {
                        again.insert(key);
                        break;
                    }
                    // The batch is full: ship it (this blocks while the
                    // output is behind) and go on with the same file.
                    Ok(ReadOutcome::Stopped) => ship(&self.stats, batch, out)?,
                    Err(e) => {
                        tracing::warn!(path = %t.path().display(), error = %e, "cannot read file; will retry");
                        break;
                    }
                }
            }
            if let Some((fingerprint, offset)) = t.tailer.take_truncation() {
                truncated.push(Entry {
                    key,
                    fingerprint,
                    offset,
                    path: t.path().to_path_buf(),
                });
            }
            if !self.settings.once && t.tailer.is_finished(now) {
                finished.push(key);
            }
        }
        more |= !again.is_empty();
        let now_after = Instant::now();
        let hinted = self.hints.active();
        for key in due {
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            if again.contains(&key) {
                t.next_look = now_after;
            } else if t.next_look <= now {
                schedule(&self.sources, hinted, t, now_after);
            }
        }
        for old in truncated {
            self.finish_copy(&old);
        }
        for key in finished {
            if let Some(t) = self.untrack(key) {
                tracing::info!(path = %t.path().display(), offset = t.tailer.offset(), "finished rotated or deleted file");
                batch.finish(key, t.tailer.fingerprint(), t.tailer.offset(), t.path());
            }
        }
        self.publish_offsets(now);
        Ok(more)
    }

    /// Reopens closed files that changed, closing idle ones first when the
    /// budget is spent; those that get no descriptor are looked at again at
    /// the next round. Returns whether some had to wait.
    fn reopen_all(&mut self, keys: Vec<FileKey>, to_read: &mut Vec<FileKey>, now: Instant) -> bool {
        let short = keys.len().saturating_sub(self.room());
        if short > 0 {
            self.make_room(short);
        }
        let mut waited = false;
        for key in keys {
            if !self.budget.has_room() {
                waited = true;
                self.stats.fd_waits.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = self.files.get_mut(&key) {
                    t.next_look = now;
                }
                continue;
            }
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            let path = Arc::clone(&t.path);
            match t.tailer.reopen(&path) {
                Ok(Reopen::Same) => {
                    self.stats.file_reopens.fetch_add(1, Ordering::Relaxed);
                    if t.rotated {
                        t.rotated = false;
                        t.tailer.detach();
                    }
                    to_read.push(key);
                }
                Ok(Reopen::Replaced(_)) => {
                    if let Some(dir) = path.parent() {
                        self.dirs.force(dir);
                    }
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot reopen file; its directory will be listed again");
                    if let Some(dir) = path.parent() {
                        self.dirs.force(dir);
                    }
                }
            }
        }
        waited
    }

    /// Descriptors that may be opened now.
    fn room(&self) -> usize {
        self.budget.max().saturating_sub(self.budget.open())
    }

    /// Closes the least recently changed idle files: at least `need`, and a
    /// sixteenth of the budget at a time so that closing is not done file
    /// by file. Batches that still hold a closed file's descriptor keep it
    /// open until they are confirmed.
    fn make_room(&mut self, need: usize) -> bool {
        let mut idle: Vec<(Instant, FileKey)> = self
            .files
            .iter()
            .filter(|(_, t)| t.tailer.can_close())
            .map(|(k, t)| (t.changed_at, *k))
            .collect();
        idle.sort();
        let count = need.max(self.budget.max() / 16).min(idle.len());
        for (_, key) in idle.into_iter().take(count) {
            if let Some(t) = self.files.get_mut(&key) {
                if t.close() {
                    self.stats.file_closes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.budget.has_room()
    }

    /// Refreshes the offsets snapshot for metrics, at most once a second.
    fn publish_offsets(&mut self, now: Instant) {
        if self
            .offsets_published
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.offsets_published = Some(now);
        let snapshot = self
            .files
            .values()
            .filter(|t| t.tailer.is_open())
            .map(|t| (Arc::clone(t.path()), t.tailer.read_pos()))
            .collect();
        self.stats.set_offsets(snapshot);
        self.stats
            .files_watched
            .store(self.files.len() as u64, Ordering::Relaxed);
        self.stats
            .files_open
            .store(self.budget.open() as u64, Ordering::Relaxed);
        self.stats
            .files_waiting
            .store(self.waiting.len() as u64, Ordering::Relaxed);
        self.stats
            .directories
            .store(self.dirs.len() as u64, Ordering::Relaxed);
    }

    /// Looks at the directories due: opens new files, follows renames,
    /// detaches files whose path now names another file or nothing.
    fn discover(&mut self, batch: &mut Batch, now: Instant, globs: bool) {
        let mut changes = self.dirs.look(&mut self.sources, self.hints.active(), now);
        let mut glob_keys = None;
        if globs {
            let scan = self.sources.scan_globs();
            changes.warnings.extend(scan.warnings);
            glob_keys = Some(scan.files.iter().map(|f| f.key).collect::<HashSet<_>>());
            changes.found.extend(scan.files);
        }
        report_scan_warnings(&changes.warnings);
        let first = self.resume.first_scan();
        if first {
            let mut devices: HashSet<u64> = changes.found.iter().map(|f| f.key.dev).collect();
            for i in 0..self.sources.len() {
                if let Some(root) = self.sources.root(i) {
                    if let Ok(m) = std::fs::metadata(root) {
                        devices.insert(std::os::unix::fs::MetadataExt::dev(&m));
                    }
                }
            }
            self.resume.set_live_devices(devices);
        }
        if let Some(sh) = self.shared.as_mut() {
            let listed: HashSet<FileKey> = changes.found.iter().map(|f| f.key).collect();
            changes.found.extend(
                sh.unpark(now)
                    .into_iter()
                    .filter(|f| !listed.contains(&f.key)),
            );
        }
        let found_keys: HashSet<FileKey> = changes.found.iter().map(|f| f.key).collect();
        let mut taken = HashSet::with_capacity(changes.found.len());
        for found in changes.found {
            // A file two sources cover is the first one's.
            if !taken.insert(found.key) {
                continue;
            }
            self.found(found, batch);
        }
        for (key, dir) in changes.vanished {
            if found_keys.contains(&key) {
                continue; // renamed within what was listed
            }
            let lost = self
                .files
                .get(&key)
                .is_some_and(|t| !t.tailer.is_detached() && t.path.parent() == Some(&*dir));
            if lost {
                self.vanish(key, batch);
            }
        }
        if std::mem::take(&mut self.reloaded) {
            // After a reload every directory was listed and every glob
            // expanded: a file none of them found is read to its end.
            let lost: Vec<FileKey> = self
                .files
                .iter()
                .filter(|(k, t)| !t.tailer.is_detached() && !found_keys.contains(k))
                .map(|(k, _)| *k)
                .collect();
            for key in lost {
                self.vanish(key, batch);
            }
        }
        if let Some(glob_keys) = glob_keys {
            let lost: Vec<FileKey> = self
                .files
                .iter()
                .filter(|(k, t)| {
                    self.sources.root(t.source_index).is_none()
                        && !t.tailer.is_detached()
                        && !glob_keys.contains(k)
                })
                .map(|(k, _)| *k)
                .collect();
            for key in lost {
                self.vanish(key, batch);
            }
        }
        if first || self.resume.has_fresh() {
            self.recover_rotated(batch, first);
        }
        if first {
            self.resume.end_first_scan();
        }
    }

    /// A listing found `found`: follow it if it is ours, else open it.
    fn found(&mut self, found: Found, batch: &mut Batch) {
        let Some(t) = self.files.get_mut(&found.key) else {
            if self.waiting_keys.contains(&found.key) {
                return;
            }
            if self.may_read(&found.path, batch) {
                self.open_or_wait(found, batch);
            } else if let Some(sh) = self.shared.as_mut() {
                // Its directory may not change again for a long time: the
                // file itself is asked about again when the claim may be free.
                sh.park(found);
            }
            return;
        };
        if *t.path != *found.path || t.tailer.is_detached() {
            let path: Arc<Path> = Arc::from(found.path.as_path());
            if t.tailer.is_detached() {
                tracing::info!(path = %path.display(), "a rotated file is live again under this name; following it");
                t.tailer.attach(found.path.clone());
            } else {
                t.tailer.set_path(found.path.clone());
            }
            let stamp = t.stamp.clone();
            t.restamp(Arc::clone(&path), stamp);
            self.by_path.insert(path, found.key);
        }
        let Some(t) = self.files.get_mut(&found.key) else {
            return;
        };
        if !Arc::ptr_eq(&t.stamp.rule, &found.rule) {
            // A reload changed the sources: stamp lines the new way.
            let stamp = Stamp::new(Arc::clone(&found.rule), &found.hostname);
            let path = Arc::clone(&t.path);
            t.restamp(path, stamp);
            t.source_index = found.source;
            t.source = self
                .source_stats
                .get(found.source)
                .cloned()
                .unwrap_or_default();
        }
    }

    /// The path no longer names this file: it was rotated or deleted. An
    /// open file is read to its end through its descriptor; a closed one is
    /// looked for beside its old name (a rename keeps the inode) and read
    /// to its end there.
    fn vanish(&mut self, key: FileKey, batch: &mut Batch) {
        let Some(t) = self.files.get_mut(&key) else {
            return;
        };
        if t.tailer.is_open() {
            tracing::info!(path = %t.path().display(), "file was rotated or deleted; reading it to its end");
            t.tailer.detach();
            t.next_look = Instant::now();
            return;
        }
        let old = Arc::clone(&t.path);
        let moved = old.parent().and_then(|dir| find_key_in(dir, key));
        if let Some(path) = moved {
            let unread = std::fs::metadata(&path).map_or(true, |m| m.len() != t.tailer.offset());
            if unread {
                // Reopened under its new name when the budget has room,
                // like any closed file that changed, then read to its end.
                tracing::info!(path = %path.display(), was = %old.display(), offset = t.tailer.offset(),
                    "closed file was rotated; it will be read to its end under its new name");
                t.tailer.set_path(path.clone());
                let stamp = t.stamp.clone();
                t.restamp(Arc::from(path.as_path()), stamp);
                t.rotated = true;
                t.next_look = Instant::now();
                return;
            }
            if let Some(t) = self.untrack(key) {
                tracing::info!(path = %path.display(), was = %old.display(), offset = t.tailer.offset(),
                    "closed file was rotated with nothing unread; finished");
                batch.finish(key, t.tailer.fingerprint(), t.tailer.offset(), t.path());
            }
            return;
        }
        if let Some(t) = self.untrack(key) {
            tracing::warn!(path = %old.display(), offset = t.tailer.offset(),
                "closed file was deleted or moved out of its directory: lines written to it after this offset since it was closed are not shipped");
            self.stats.files_gone_closed.fetch_add(1, Ordering::Relaxed);
            batch.finish(key, t.tailer.fingerprint(), t.tailer.offset(), t.path());
        }
    }

    /// Removes a file from the tables.
    fn untrack(&mut self, key: FileKey) -> Option<Tracked> {
        let t = self.files.remove(&key)?;
        if self.by_path.get(&t.path) == Some(&key) {
            self.by_path.remove(&t.path);
        }
        Some(t)
    }

    /// Opens a file found by a listing, or queues it when the budget is
    /// spent (closing idle files first).
    fn open_or_wait(&mut self, found: Found, batch: &mut Batch) {
        if !self.budget.has_room() && !self.make_room(1) {
            self.waiting_keys.insert(found.key);
            self.waiting.push_back(found);
            return;
        }
        self.open(&found, batch);
    }

    /// Opens queued files while the budget has room; returns whether it
    /// opened any.
    fn open_waiting(&mut self, batch: &mut Batch) -> bool {
        if self.waiting.is_empty() && self.waiting_rotated.is_empty() {
            return false;
        }
        let before = self.waiting.len() + self.waiting_rotated.len();
        // Rotated copies first: their lines are the oldest.
        let rotated = std::mem::take(&mut self.waiting_rotated);
        for (entry, path, key) in rotated {
            self.open_rotated(&entry, &path, key);
        }
        if !self.budget.has_room() {
            self.make_room(self.waiting.len());
        }
        while self.budget.has_room() {
            let Some(found) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_keys.remove(&found.key);
            if !self.files.contains_key(&found.key) {
                self.open(&found, batch);
            }
        }
        self.waiting.len() + self.waiting_rotated.len() < before
    }

    /// At the first scan, a checkpointed file that no live path names any
    /// more was rotated while the relay was down: its unread end is finished
    /// from the rotated copy (svlogd `@….s`, logrotate `x.1`), found by its
    /// key, or, for a copytruncate copy, by its fingerprint under a name
    /// that starts with the file's. Entries that match nothing are dropped.
    /// After a remount the rotated copy has the entry's inode on a new
    /// device: it is taken when its first bytes match.
    ///
    /// With a shared `state_dir` the same happens for each unit taken over
    /// later, with its own entries and store time.
    fn recover_rotated(&mut self, batch: &mut Batch, first: bool) {
        let pending = self.resume.take_pending();
        let units = self.resume.take_fresh_units();
        let candidates = self.sources.rotated_files();
        if self.shared.is_none() {
            if first {
                self.recover_unknown_rotated(&candidates, self.resume.stored_at(), None);
            }
        } else {
            for (unit, stored_at) in units {
                self.recover_unknown_rotated(&candidates, stored_at, Some(&unit));
            }
        }
        let mut candidate_keys: Option<HashMap<u64, FileKey>> = None;
        for entry in pending {
            let live = self.files.contains_key(&entry.key);
            let mut at = entry.clone();
            if !live {
                let keys = candidate_keys.get_or_insert_with(|| inode_map(&candidates));
                if let Some(k) = keys.get(&entry.key.ino) {
                    if self.resume.remounted(&entry, *k) {
                        at.key = *k;
                    }
                }
            }
            let origin_path: Arc<Path> = Arc::from(entry.path.as_path());
            match rotation::find_rotated(&at.position(), &candidates, live) {
                Some(found) => {
                    self.open_rotated(&at, &found.path, found.key);
                    if at.key != entry.key {
                        // The entry moves to the new device's key.
                        batch.finish(entry.key, entry.fingerprint, entry.offset, &origin_path);
                    }
                }
                // A live file with this key writes the entry again itself.
                None if live => {}
                None => {
                    tracing::info!(path = %entry.path.display(), "checkpointed file is gone; dropping its entry");
                    batch.finish(entry.key, entry.fingerprint, entry.offset, &origin_path);
                }
            }
        }
    }

    /// A file was truncated: if logrotate's copytruncate left a copy beside it
    /// (same first bytes, a name that extends the file's), the lines written
    /// between our last read and the truncation are in the copy: finish it
    /// from where the old content was read to.
    fn finish_copy(&mut self, old: &Entry) {
        let found = rotation::copy_beside(&old.position(), |p| {
            self.files.values().any(|t| **t.path() == *p)
        });
        if let Some(found) = found {
            self.open_rotated(old, &found.path, found.key);
        }
    }

    /// A rotated file no entry knows but written since the last store was
    /// created and rotated between two stores (e.g. by relays that each
    /// lived less than the checkpoint interval): its lines may be unshipped,
    /// so it is read from its start (duplicates, not a gap). Files older than
    /// the store were finished or predate us.
    fn recover_unknown_rotated(
        &mut self,
        candidates: &[PathBuf],
        stored_at: Option<std::time::SystemTime>,
        unit: Option<&Path>,
    ) {
        let Some(stored) = stored_at else {
            return; // first start: history is not ours to ship
        };
        let in_unit: Vec<PathBuf>;
        let candidates = match unit {
            Some(u) => {
                in_unit = candidates
                    .iter()
                    .filter(|c| c.starts_with(u))
                    .cloned()
                    .collect();
                &in_unit
            }
            None => candidates,
        };
        let unknown = rotation::written_since(
            candidates,
            stored,
            |key| self.files.contains_key(&key) || self.resume.knows_key(key),
            |fp| self.resume.knows_fingerprint(fp),
        );
        for u in unknown {
            let entry = Entry {
                key: u.key,
                fingerprint: u.fingerprint,
                offset: 0,
                path: rotation::live_name(&u.path),
            };
            self.open_rotated(&entry, &u.path, u.key);
        }
    }

    /// Opens the rotated copy of `entry` at the checkpointed offset, detached
    /// (read to its end, then dropped); queued while the budget is spent.
    fn open_rotated(&mut self, entry: &Entry, path: &Path, key: FileKey) {
        if self.files.contains_key(&key) || !self.holds(&entry.path) {
            return;
        }
        let Some((source, (rule, hostname))) = self.sources.resolve_any(&entry.path) else {
            return;
        };
        if !self.budget.has_room() && !self.make_room(1) {
            // Read when a descriptor is free: a rotated copy stays put.
            self.waiting_rotated
                .push_back((entry.clone(), path.to_path_buf(), key));
            return;
        }
        match Tailer::open_counted(path, entry.offset, self.tail_options(), Some(&self.budget)) {
            Ok(mut tailer) if tailer.key() == key => {
                tracing::info!(path = %path.display(), was = %entry.path.display(), offset = entry.offset, "finishing a rotated copy of a file");
                tailer.detach();
                let tracked = self.track(tailer, source, path, Stamp::new(rule, &hostname));
                self.files.insert(key, tracked);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open rotated file")
            }
        }
    }

    fn open(&mut self, found: &Found, batch: &mut Batch) {
        let (key, path, rule, hostname) = (
            found.key,
            found.path.as_path(),
            Arc::clone(&found.rule),
            &found.hostname,
        );
        let opts = self.tail_options();
        let start = match self.resume.start_offset(key, path, found.start_at) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open file; will retry at the next scan");
                self.retry_dir(path);
                return;
            }
        };
        let offset = start.offset;
        match Tailer::open_counted(path, offset, opts, Some(&self.budget)) {
            Ok(tailer) if tailer.key() == key => {
                tracing::info!(path = %path.display(), offset, app_name = %rule.app_name, msgid = %rule.msgid, "tailing");
                let tracked = self.track(tailer, found.source, path, Stamp::new(rule, hostname));
                if let Some(old) = start.replaces {
                    // Stored before a remount: the entry moves to the new key,
                    // in one checkpoint store.
                    tracing::info!(path = %path.display(), old_device = old.key.dev, device = key.dev, offset,
                        "file system was mounted again: resuming the file by inode and first bytes");
                    batch.mark(key, tracked.tailer.fingerprint(), offset, tracked.path());
                    batch.finish(
                        old.key,
                        old.fingerprint,
                        old.offset,
                        &Arc::from(old.path.as_path()),
                    );
                }
                self.by_path.insert(Arc::clone(tracked.path()), key);
                self.files.insert(key, tracked);
            }
            // Replaced between the scan and the open: the next listing sees the new one.
            Ok(_) => self.retry_dir(path),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open file; will retry at the next scan");
                self.retry_dir(path);
            }
        }
    }

    /// Lists `path`'s directory again at its next look.
    fn retry_dir(&mut self, path: &Path) {
        if let Some(dir) = path.parent() {
            self.dirs.force(dir);
        }
    }

    fn stats_of(&self, source: usize) -> Arc<SourceStats> {
        self.source_stats.get(source).cloned().unwrap_or_default()
    }

    fn track(&self, tailer: Tailer, source: usize, path: &Path, stamp: Stamp) -> Tracked {
        let now = Instant::now();
        Tracked {
            tailer,
            source: self.stats_of(source),
            source_index: source,
            path: Arc::from(path),
            stamp,
            origin: None,
            changed_at: now,
            next_look: now,
            rotated: false,
        }
    }

    fn tail_options(&self) -> TailOptions {
        self.recipe.tail.clone()
    }
}

/// When to look at `t` next; `hinted`: an inotify watcher is running.
fn schedule(sources: &SourceSet, hinted: bool, t: &mut Tracked, now: Instant) {
    let base = sources.poll_interval(t.source_index);
    let quiet = now.saturating_duration_since(t.changed_at);
    let interval = if t.tailer.has_work() {
        base
    } else if hinted && sources.notified(t.source_index) {
        SWEEP.max(base)
    } else if quiet < QUIET_AFTER {
        base
    } else if quiet < LONG_QUIET_AFTER {
        base.max(QUIET_FILE_INTERVAL)
    } else {
        base.max(LONG_QUIET_FILE_INTERVAL)
    };
    t.next_look = aligned(now, interval);
}

/// `now + interval`, rounded up to a multiple of `interval` since the
/// reader started: quiet files fall due together, in few rounds, instead
/// of a few in every round.
fn aligned(now: Instant, interval: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now);
    let step = interval.as_nanos().max(1);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let next = (since / step + 1) * step;
    epoch + Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// What a look at an open file finds: one `fstat`, no read.
fn look_open(t: &mut Tracked) -> Look {
    match t.tailer.has_work() || t.tailer.changed().unwrap_or(true) {
        true => Look::Read,
        false => Look::Same,
    }
}

/// What a look at a closed file finds: one `stat` of its path.
fn look_closed(t: &Tracked) -> Look {
    match std::fs::metadata(&*t.path) {
        Ok(meta) if FileKey::of(&meta) == t.tailer.key() => {
            if Seen::of(&meta) != t.tailer.seen() {
                Look::Reopen
            } else {
                Look::Same
            }
        }
        _ => Look::Moved,
    }
}

/// The entry of `dir` whose (device, inode) is `key`, if any.
fn find_key_in(dir: &Path, key: FileKey) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| FileKey::of(&m) == key))
}

/// The keys of `paths` by inode.
fn inode_map(paths: &[PathBuf]) -> HashMap<u64, FileKey> {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| {
            let k = FileKey::of(&m);
            (k.ino, k)
        })
        .collect()
}

/// Hands the batch to the output, leaving an empty one of the same capacity;
/// blocks while the output's queue is full.
fn ship(stats: &ReaderStats, batch: &mut Batch, out: &mpsc::Sender<Batch>) -> Result<(), Closed> {
    let full = std::mem::replace(batch, Batch::with_capacity(batch.bytes.capacity()));
    let messages = full.messages;
    out.blocking_send(full).map_err(|_| Closed)?;
    stats
        .messages_shipped
        .fetch_add(messages, Ordering::Relaxed);
    Ok(())
}

/// The output has gone away: the relay is stopping.
struct Closed;

fn tail_options(settings: &ReaderSettings) -> TailOptions {
    TailOptions {
        max_line: settings.max_message_size,
        partial_after: settings.partial_after,
        read_chunk: 64 * 1024,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600 * 24 * 365)
}

/// Reads one file's new lines into `batch` until its budget, its end, or a full batch.
#[allow(clippy::too_many_arguments)] // the reader's parts, borrowed one by one
fn read_file(
    t: &mut Tracked,
    recipe: &Arc<Recipe>,
    buf: &mut Vec<u8>,
    settings: &ReaderSettings,
    batch: &mut Batch,
    stats: &ReaderStats,
    now: Instant,
    budget: usize,
) -> Result<ReadOutcome, TailError> {
    let read_time = Timestamp::now();
    let origin = t.origin(recipe)?;
    let batch_bytes = settings.batch_bytes;
    let (mut lines, mut bytes, mut truncated, mut last_offset) = (0u64, 0u64, 0u64, None);
    let outcome = t.tailer.read_lines_with(buf, now, budget, &mut |line| {
        match batch.push_line(&origin, &read_time, &line) {
            Encoded::Frame {
                truncated: cut,
                redacted,
            } => {
                truncated += u64::from(cut);
                if redacted {
                    stats.lines_redacted.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Still marked below: a dropped line is confirmed, not re-read.
            Encoded::Dropped { rule } => stats.line_dropped(rule),
        }
        last_offset = Some(line.end_offset);
        lines += 1;
        bytes += line.bytes.len() as u64 + 1;
        if batch.bytes.len() >= batch_bytes {
            Flow::Stop
        } else {
            Flow::More
        }
    });
    // Marked after the read: a copytruncate seen during it changes the
    // fingerprint, and the checkpoint must carry the new one.
    if let Some(offset) = last_offset {
        batch.mark(t.tailer.key(), t.tailer.fingerprint(), offset, t.path());
    }
    stats.lines_read.fetch_add(lines, Ordering::Relaxed);
    stats.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    t.source.lines.fetch_add(lines, Ordering::Relaxed);
    t.source.bytes.fetch_add(bytes, Ordering::Relaxed);
    stats
        .lines_truncated
        .fetch_add(truncated, Ordering::Relaxed);
    outcome
}

fn report_scan_warnings(warnings: &[DiscoverError]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}
