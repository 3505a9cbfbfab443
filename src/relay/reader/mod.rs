//! The reader: owns every tailer, turns lines into encoded frames, and hands
//! batches to the output.
//!
//! It runs on its own thread with blocking file I/O. Sending a batch blocks
//! while the output's queue is full: a slow or dead receiver stops reading,
//! and the files are the buffer (memory stays bounded whatever the backlog).
//!
//! Each round: rescan when due (new files, rotations, deletions), read every
//! file up to a per-file budget (fairness), ship what was encoded, then wait
//! for an inotify hint or the poll interval, unless a file had more to read.

mod resume;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::relay::batch::replay::{Origin, Recipe};
use crate::relay::batch::Batch;
use crate::relay::encode::time::Timestamp;
use crate::relay::encode::{LineCodec, Stamp};
use crate::relay::input::fingerprint::FileKey;
use crate::relay::input::rotation;
use crate::relay::input::sources::{Found, Scan, SourceSet};
use crate::relay::input::tail::{Flow, ReadOutcome, TailOptions, Tailer};
use crate::relay::metrics::{ReaderStats, SourceStats};
use crate::relay::state::checkpoint::{Checkpoints, Entry};
use resume::Resume;

/// Bytes read from one file per round before the next file gets its turn.
const READ_BUDGET: usize = 256 * 1024;

/// Rescans triggered by inotify hints are at least this far apart.
const MIN_HINTED_RESCAN: Duration = Duration::from_millis(100);

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
}

/// A file being read and what its lines are stamped with.
struct Tracked {
    tailer: Tailer,
    source: Arc<SourceStats>,
    /// The descriptor, path, rule and header fields; replaced (not changed)
    /// when the path or the rule changes, so that batches keep what their
    /// lines were read with.
    origin: Arc<Origin>,
}

impl Tracked {
    fn path(&self) -> &Arc<Path> {
        &self.origin.path
    }

    /// The same file, now at `path` and/or stamped with `stamp`.
    fn restamp(&mut self, path: Arc<Path>, stamp: Stamp) {
        self.origin = Arc::new(Origin {
            file: Arc::clone(&self.origin.file),
            key: self.origin.key,
            path,
            stamp,
            recipe: Arc::clone(&self.origin.recipe),
        });
    }
}

/// The reader's state; [`Reader::run`] is its loop.
pub(super) struct Reader {
    sources: SourceSet,
    settings: ReaderSettings,
    recipe: Arc<Recipe>,
    resume: Resume,
    files: HashMap<FileKey, Tracked>,
    stats: Arc<ReaderStats>,
    /// Per-source counters, indexed like the sources.
    source_stats: Vec<Arc<SourceStats>>,
    /// When `stats.offsets` was last refreshed.
    offsets_published: Option<Instant>,
}

impl Reader {
    pub(super) fn new(
        sources: SourceSet,
        settings: ReaderSettings,
        resume: Checkpoints,
        stats: Arc<ReaderStats>,
    ) -> Reader {
        let recipe = Arc::new(Recipe {
            codec: LineCodec::new(settings.max_message_size, settings.newline_after_frame),
            tail: tail_options(&settings),
        });
        Reader {
            recipe,
            resume: Resume::new(resume, settings.resume_stored_at),
            sources,
            settings,
            files: HashMap::new(),
            source_stats: Vec::new(),
            offsets_published: None,
            stats,
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
        let mut last_scan: Option<Instant> = None;
        let mut hinted = true;
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Ok(sources) = reload.try_recv() {
                // SIGHUP: new sources; open files keep their positions.
                self.sources = sources;
                self = self.with_source_stats();
                last_scan = None;
            }
            // A busy backlog loops without waiting, and inotify hints come
            // with every write: rescan when due, or on a hint at most 10 times
            // a second.
            let since = last_scan.map(|t| t.elapsed());
            let due = since.is_none_or(|s| s >= self.settings.poll_interval);
            if due || (hinted && since.is_some_and(|s| s >= MIN_HINTED_RESCAN)) {
                self.rescan(&mut batch);
                last_scan = Some(Instant::now());
                hinted = false;
            }
            let more = match self.read_round(&mut batch, &out, &stop) {
                Ok(more) => more,
                Err(Closed) => return,
            };
            if !batch.is_empty() && self.ship(&mut batch, &out).is_err() {
                return;
            }
            if self.settings.once && !more {
                // Everything is at its end: detach all so that partial last
                // lines go out in one more round, then stop. Nothing is
                // marked finished, so a later run resumes, not restarts.
                if self
                    .files
                    .values()
                    .all(|t| t.tailer.is_finished(far_future()))
                {
                    break;
                }
                self.files.values_mut().for_each(|t| t.tailer.detach());
                continue;
            }
            if !more {
                // An inotify hint or the poll interval, whichever comes first;
                // a disconnected hint channel (polling only) is just a timeout.
                match wake.recv_timeout(self.settings.poll_interval) {
                    Ok(()) => {
                        while wake.try_recv().is_ok() {}
                        hinted = true;
                    }
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

    /// Reads every file once. Returns whether some file has more to read now.
    fn read_round(
        &mut self,
        batch: &mut Batch,
        out: &mpsc::Sender<Batch>,
        stop: &AtomicBool,
    ) -> Result<bool, Closed> {
        let mut more = false;
        let mut finished = Vec::new();
        let mut truncated = Vec::new();
        let now = Instant::now();
        let keys: Vec<FileKey> = self.files.keys().copied().collect();
        for key in keys {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            // The budget spans the batches this file fills in one round, so
            // a busy file cannot starve the others.
            let start = t.tailer.read_pos();
            loop {
                let used = t.tailer.read_pos().saturating_sub(start) as usize;
                let budget = READ_BUDGET.saturating_sub(used);
                if budget == 0 {
                    more = true;
                    break;
                }
                let outcome = read_file(t, &self.settings, batch, &self.stats, now, budget);
                match outcome {
                    Ok(ReadOutcome::Eof) => break,
                    Ok(ReadOutcome::Budget) => {
                        more = true;
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
        for old in truncated {
            self.finish_copy(&old);
        }
        for key in finished {
            if let Some(t) = self.files.remove(&key) {
                tracing::info!(path = %t.path().display(), offset = t.tailer.offset(), "finished rotated or deleted file");
                batch.finish(key, t.tailer.fingerprint(), t.tailer.offset(), t.path());
            }
        }
        self.publish_offsets(now);
        Ok(more)
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
            .map(|t| (Arc::clone(t.path()), t.tailer.read_pos()))
            .collect();
        self.stats.set_offsets(snapshot);
        self.stats
            .files_watched
            .store(self.files.len() as u64, Ordering::Relaxed);
    }

    /// Discovers files: opens new ones, follows renames, detaches files whose
    /// path now names another file or nothing.
    fn rescan(&mut self, batch: &mut Batch) {
        let scan = self.sources.scan();
        report_scan_warnings(&scan);
        let mut seen: HashMap<FileKey, ()> = HashMap::with_capacity(scan.files.len());
        for found in scan.files {
            seen.insert(found.key, ());
            if let Some(t) = self.files.get_mut(&found.key) {
                if **t.path() != *found.path && !t.tailer.is_detached() {
                    t.tailer.set_path(found.path.clone());
                    let stamp = t.origin.stamp.clone();
                    t.restamp(Arc::from(found.path.as_path()), stamp);
                }
                if !Arc::ptr_eq(&t.origin.stamp.rule, &found.rule) {
                    // A reload changed the sources: stamp lines the new way.
                    let stamp = Stamp::new(Arc::clone(&found.rule), &found.hostname);
                    t.restamp(Arc::clone(t.path()), stamp);
                    t.source = self
                        .source_stats
                        .get(found.source)
                        .cloned()
                        .unwrap_or_default();
                }
                continue;
            }
            self.open(&found);
        }
        for t in self.files.values_mut() {
            if !t.tailer.is_detached() && !seen.contains_key(&t.tailer.key()) {
                tracing::info!(path = %t.path().display(), "file was rotated or deleted; reading it to its end");
                t.tailer.detach();
            }
        }
        if self.resume.first_scan() {
            self.recover_rotated(batch);
            self.resume.end_first_scan();
        }
    }

    /// At the first scan, a checkpointed file that no live path names any
    /// more was rotated while the relay was down: its unread end is finished
    /// from the rotated copy (svlogd `@….s`, logrotate `x.1`), found by its
    /// key, or, for a copytruncate copy, by its fingerprint under a name
    /// that starts with the file's. Entries that match nothing are dropped.
    fn recover_rotated(&mut self, batch: &mut Batch) {
        let pending = self.resume.pending();
        let candidates = self.sources.rotated_files();
        self.recover_unknown_rotated(&candidates);
        for entry in pending {
            let live = self.files.contains_key(&entry.key);
            match rotation::find_rotated(&entry.position(), &candidates, live) {
                Some(found) => self.open_rotated(&entry, &found.path, found.key),
                // A live file with this key writes the entry again itself.
                None if live => {}
                None => {
                    tracing::info!(path = %entry.path.display(), "checkpointed file is gone; dropping its entry");
                    batch.finish(
                        entry.key,
                        entry.fingerprint,
                        entry.offset,
                        &Arc::from(entry.path.as_path()),
                    );
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
    fn recover_unknown_rotated(&mut self, candidates: &[PathBuf]) {
        let Some(stored) = self.resume.stored_at() else {
            return; // first start: history is not ours to ship
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
    /// (read to its end, then dropped).
    fn open_rotated(&mut self, entry: &Entry, path: &Path, key: FileKey) {
        if self.files.contains_key(&key) {
            return;
        }
        let Some((source, (rule, hostname))) = self.sources.resolve_any(&entry.path) else {
            return;
        };
        match Tailer::open(path, entry.offset, self.tail_options()) {
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

    fn open(&mut self, found: &Found) {
        let (key, path, rule, hostname) = (
            found.key,
            found.path.as_path(),
            Arc::clone(&found.rule),
            &found.hostname,
        );
        let opts = self.tail_options();
        let offset = match self.resume.start_offset(key, path, found.start_at) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open file; will retry at the next scan");
                return;
            }
        };
        match Tailer::open(path, offset, opts) {
            Ok(tailer) if tailer.key() == key => {
                tracing::info!(path = %path.display(), offset, app_name = %rule.app_name, msgid = %rule.msgid, "tailing");
                let tracked = self.track(tailer, found.source, path, Stamp::new(rule, hostname));
                self.files.insert(key, tracked);
            }
            // Replaced between the scan and the open: the next scan sees the new one.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open file; will retry at the next scan")
            }
        }
    }

    fn stats_of(&self, source: usize) -> Arc<SourceStats> {
        self.source_stats.get(source).cloned().unwrap_or_default()
    }

    fn track(&self, tailer: Tailer, source: usize, path: &Path, stamp: Stamp) -> Tracked {
        let origin = Arc::new(Origin {
            file: Arc::clone(tailer.file()),
            key: tailer.key(),
            path: Arc::from(path),
            stamp,
            recipe: Arc::clone(&self.recipe),
        });
        Tracked {
            tailer,
            source: self.stats_of(source),
            origin,
        }
    }

    fn tail_options(&self) -> TailOptions {
        self.recipe.tail.clone()
    }
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
fn read_file(
    t: &mut Tracked,
    settings: &ReaderSettings,
    batch: &mut Batch,
    stats: &ReaderStats,
    now: Instant,
    budget: usize,
) -> Result<ReadOutcome, crate::relay::input::tail::TailError> {
    let read_time = Timestamp::now();
    let origin = &t.origin;
    let batch_bytes = settings.batch_bytes;
    let (mut lines, mut bytes, mut truncated, mut last_offset) = (0u64, 0u64, 0u64, None);
    let outcome = t.tailer.read_lines(now, budget, &mut |line| {
        if batch.push_line(origin, &read_time, &line) {
            truncated += 1;
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

fn report_scan_warnings(scan: &Scan) {
    for w in &scan.warnings {
        tracing::warn!("{w}");
    }
}
