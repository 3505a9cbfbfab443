//! One file's reader: offset, line splitting, truncation, rotation end.
//!
//! A [`Tailer`] owns an open descriptor, so it keeps reading a file that was
//! renamed away or deleted. It never decides by path what a file is: the
//! caller (discovery) compares the path's current `(dev, ino)` with
//! [`Tailer::key`] and calls [`Tailer::detach`] when they differ.
//!
//! Rules, each tested below and in `tests/it/tail_model.rs`:
//!
//! * Lines end at `\n`; a trailing `\r` is dropped. A line split across
//!   writes waits for its newline.
//! * An unterminated last line is handed out as `partial` once the file has
//!   been idle for `partial_after`, at once when detached, and before
//!   restarting after a truncation. Bytes after it start a new line.
//! * A line longer than `max_line` is handed out once, as its first
//!   `max_line` bytes with `cut`; the rest is skipped, never buffered. Memory
//!   is `read_chunk + max_line + 1` bytes whatever the lines look like.
//! * Truncation (copytruncate, CNG truncate-in-place) is seen when the size
//!   drops below the read position, or when the first bytes no longer match
//!   the fingerprint. Reading restarts at 0. Lines written between our last
//!   read and the truncation only exist in logrotate's copy:
//!   [`Tailer::take_truncation`] tells the caller where the old content
//!   ended, so it can finish the copy (the reader does).
//!   A truncated file rewritten past our position with the same first
//!   `FINGERPRINT_MAX` bytes is indistinguishable from growth.
//!   So is a rewrite to exactly the size we had read (the size is what
//!   triggers the fingerprint check).
//! * After a truncation, `end_offset`s start again near 0: the checkpoint
//!   must store the end offset of the last confirmed line, never a maximum.
//! * Detached at EOF, the last partial line goes out at once. A writer that
//!   still appends to the renamed file (logrotate `create` before the
//!   application reopens) is followed until the file has been idle for
//!   `partial_after` ([`Tailer::is_finished`]), so set it above the
//!   application's reopen delay.
//! * Reads use `pread` at our own position, never the descriptor's cursor.
//! * [`Tailer::replay`] reads a range handed out before, from the same
//!   descriptor, and splits it into the same lines (the resend window).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::budget::{OpenFile, OpenFiles};
use super::fingerprint::{FileKey, Fingerprint, FINGERPRINT_MAX};

/// An unterminated line's buffer is given back once its line is done when
/// it grew beyond this.
const PENDING_KEPT: usize = 4096;

/// How a [`Tailer`] reads.
#[derive(Clone, Debug)]
pub struct TailOptions {
    /// Bytes kept of an overlong line; the rest of it is skipped.
    pub max_line: usize,
    /// Idle time after which an unterminated last line is handed out.
    pub partial_after: Duration,
    /// Size of each read (and of the reusable read buffer).
    pub read_chunk: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            max_line: 256 * 1024,
            partial_after: Duration::from_secs(5),
            read_chunk: 64 * 1024,
        }
    }
}

/// A line handed to the sink. Borrows the tailer's buffers: copy what you keep.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Content without `\n` (and without a trailing `\r`).
    pub bytes: &'a [u8],
    /// File offset of the line's first byte (the previous line's `end_offset`,
    /// or 0 after a truncation).
    pub start_offset: u64,
    /// The file's fingerprint when the line was read (the old content's for
    /// the partial line handed out at a truncation).
    pub fingerprint: Fingerprint,
    /// File offset just past this line's terminator (or its last byte when
    /// `partial`): what the checkpoint stores once the line is confirmed.
    pub end_offset: u64,
    /// Longer than `max_line`: `bytes` is its first `max_line` bytes; the
    /// rest (up to its newline) was skipped.
    pub cut: bool,
    /// Handed out without a newline (idle, detached at EOF, or truncation).
    pub partial: bool,
}

/// The sink's answer. The offered line is consumed either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep handing out lines.
    More,
    /// Hand out no more lines in this call.
    Stop,
}

/// Why [`Tailer::read_lines`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Caught up with the end of the file.
    Eof,
    /// The byte budget is spent; more may be there.
    Budget,
    /// The sink said [`Flow::Stop`].
    Stopped,
}

/// A file could not be opened or read. Expected conditions (EOF, a partial
/// line, truncation) are not errors.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// `open` failed.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// `fstat` failed.
    #[error("cannot stat {}: {source}", path.display())]
    Stat {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A directory, FIFO, socket or device: never tailed.
    #[error("{} is not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The tailer is closed ([`Tailer::close`]): reopen it first.
    #[error("{} is closed (open-file budget)", path.display())]
    Closed {
        /// The file.
        path: PathBuf,
    },
    /// `pread` failed.
    #[error("cannot read {} at offset {offset}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// What the system said.
        source: io::Error,
    },
}

/// Reads one file from an offset, line by line.
pub struct Tailer {
    /// Where the file was last known to be (informational once detached).
    path: PathBuf,
    /// Our descriptor: keeps a renamed or deleted file readable (shared with
    /// the batches that may have to read their lines again). `None` while
    /// closed ([`Tailer::close`]) to stay under the open-file budget.
    file: Option<Arc<OpenFile>>,
    /// The open-file budget the descriptor counts in (reopens too).
    count: Option<Arc<OpenFiles>>,
    /// Identity of `file`, fixed at open.
    key: FileKey,
    /// First bytes of `file`; re-taken while shorter than `FINGERPRINT_MAX`.
    fingerprint: Fingerprint,
    opts: TailOptions,
    /// Read buffer, `max(read_chunk, 1)` bytes long while reading; empty
    /// between calls of [`Tailer::read_lines_with`] (the caller lends one
    /// buffer to every tailer), allocated on first use by
    /// [`Tailer::read_lines`].
    /// Invariant: `cons <= filled <= chunk.len()`; `chunk[cons..filled]` was
    /// read from the file but not yet split into lines.
    chunk: Vec<u8>,
    cons: usize,
    filled: usize,
    /// The start of the current unterminated line; grown on demand and
    /// given back once a long one is done, so an idle file holds no buffer.
    /// Invariant: `pending.len() == min(pending_raw, max_line + 1)` (one byte
    /// beyond `max_line` tells a cut line from a line ending in `\r`).
    pending: Vec<u8>,
    /// Bytes of the current unterminated line taken out of `chunk`, kept or skipped.
    pending_raw: u64,
    /// End of the last line handed out, which is where `pending` starts.
    offset: u64,
    /// File offset of the next read.
    /// Invariant: `read_pos == offset + pending_raw + (filled - cons)`.
    read_pos: u64,
    /// File size at the last truncation check: the fingerprint is re-checked
    /// only when it changes.
    checked_size: u64,
    /// Since when no bytes arrived (`None`: not yet read).
    idle_since: Option<Instant>,
    /// The last read returned 0 bytes.
    at_eof: bool,
    /// The path no longer names this file.
    detached: bool,
    /// The last truncation not yet taken by the caller: the old content's
    /// fingerprint and how far it had been handed out, so that a
    /// copytruncate copy can be finished from there.
    truncated_from: Option<(Fingerprint, u64)>,
    /// Reads stop here (`u64::MAX`, or a replayed range's end).
    limit: u64,
    /// File size and modification time at the last read or check: a closed
    /// file is reopened when its path's `stat` says otherwise.
    seen: Seen,
}

/// What `stat` said of a file at the last look: enough to tell that it
/// changed without reading it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// `st_size`.
    pub size: u64,
    /// `st_mtime` in nanoseconds since the epoch (0 if unknown).
    pub mtime_ns: i128,
}

impl Seen {
    /// The size and modification time of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Seen {
        use std::os::unix::fs::MetadataExt;
        Seen {
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// What [`Tailer::reopen`] found at the tailer's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reopen {
    /// Our file again (same key): reading goes on where it stopped. A
    /// rewrite while it was closed is found by the next read like any
    /// truncation (the first bytes are compared again).
    Same,
    /// The path names another file now (ours was rotated away or deleted
    /// while closed): the tailer stays closed.
    Replaced(FileKey),
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the buffers: they are up to read_chunk + max_line bytes.
        f.debug_struct("Tailer")
            .field("path", &self.path)
            .field("key", &self.key)
            .field("offset", &self.offset)
            .field("read_pos", &self.read_pos)
            .field("pending_raw", &self.pending_raw)
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}

impl Tailer {
    /// Opens `path` and starts at `offset` (from a checkpoint whose
    /// fingerprint matched, 0 for a new file, or the size for start-at-end).
    /// An offset beyond the file's size (truncated while we were down)
    /// restarts at 0.
    pub fn open(path: &Path, offset: u64, opts: TailOptions) -> Result<Tailer, TailError> {
        Tailer::open_counted(path, offset, opts, None)
    }

    /// [`Tailer::open`], the descriptor counted in `count` (and so are the
    /// descriptors of later reopens).
    pub fn open_counted(
        path: &Path,
        offset: u64,
        opts: TailOptions,
        count: Option<&Arc<OpenFiles>>,
    ) -> Result<Tailer, TailError> {
        let file = File::open(path).map_err(|source| TailError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = stat_regular(&file, path)?;
        let size = meta.len();
        let offset = if offset > size {
            tracing::warn!(path = %path.display(), offset, size,
                "file is shorter than its checkpoint (truncated while we were down): reading from the start");
            0
        } else {
            offset
        };
        let fingerprint = take_fingerprint(&file, path)?;
        let file = Arc::new(OpenFile::new(file, count.cloned()));
        let mut t = Tailer::new(
            file,
            path,
            FileKey::of(&meta),
            fingerprint,
            offset,
            size,
            opts,
        );
        t.count = count.cloned();
        t.seen = Seen::of(&meta);
        Ok(t)
    }

    /// Opens the file that is at `path` now, for the same key, and keeps
    /// reading where this (closed) tailer stopped. See [`Reopen`].
    pub fn reopen(&mut self, path: &Path) -> Result<Reopen, TailError> {
        if self.file.is_some() {
            return Ok(Reopen::Same);
        }
        let file = File::open(path).map_err(|source| TailError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| stat_err(path, source))?;
        let key = FileKey::of(&meta);
        if key != self.key {
            return Ok(Reopen::Replaced(key));
        }
        self.path = path.to_path_buf();
        self.file = Some(Arc::new(OpenFile::new(file, self.count.clone())));
        // Identity again: the first bytes. A file rewritten while closed
        // (copytruncate, truncate in place, a recycled inode) is a truncation
        // to the next read, whatever its size now.
        if !self.fingerprint_matches()? {
            self.checked_size = u64::MAX;
        }
        Ok(Reopen::Same)
    }

    /// Gives the descriptor back (batches that still hold it keep it open
    /// until they are confirmed). Only an attached file at its end with no
    /// unterminated line is closed: `false` otherwise. Reading goes on after
    /// [`Tailer::reopen`].
    pub fn close(&mut self) -> bool {
        if !self.can_close() {
            return false;
        }
        self.file = None;
        self.chunk = Vec::new();
        self.pending = Vec::new();
        true
    }

    /// Whether [`Tailer::close`] would close it.
    pub fn can_close(&self) -> bool {
        self.file.is_some()
            && !self.detached
            && self.at_eof
            && self.pending_raw == 0
            && self.cons == self.filled
            && self.truncated_from.is_none()
    }

    /// Whether the descriptor is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Size and modification time at the last read or check.
    pub fn seen(&self) -> Seen {
        self.seen
    }

    /// Whether something may be there to do without a change on disk: an
    /// unterminated line waiting for `partial_after`, a detached file to
    /// finish, or bytes not yet handed out.
    pub fn has_work(&self) -> bool {
        self.detached || self.pending_raw > 0 || !self.at_eof || self.cons < self.filled
    }

    /// [`Tailer::read_lines`] with the caller's read buffer: bytes read but
    /// not handed out when the sink stops are read again by the next call,
    /// so the tailer keeps no buffer between calls.
    pub fn read_lines_with(
        &mut self,
        buf: &mut Vec<u8>,
        now: Instant,
        budget: usize,
        sink: &mut dyn FnMut(Line<'_>) -> Flow,
    ) -> Result<ReadOutcome, TailError> {
        if buf.len() < self.opts.read_chunk.max(1) {
            buf.resize(self.opts.read_chunk.max(1), 0);
        }
        std::mem::swap(&mut self.chunk, buf);
        let result = self.read_lines(now, budget, sink);
        // Unread what was not split: `read_pos` moves back to it.
        self.read_pos -= (self.filled - self.cons) as u64;
        self.cons = 0;
        self.filled = 0;
        std::mem::swap(&mut self.chunk, buf);
        result
    }

    /// Reads `start..end` of `file` again, as a detached tailer that stops at
    /// `end`: with the same options it hands out exactly the lines that
    /// ended in that range the first time (the last one `partial` if it was).
    /// The caller checks that the content is still there (size and
    /// fingerprint); a truncation is not looked for.
    pub fn replay(
        file: Arc<OpenFile>,
        path: &Path,
        key: FileKey,
        fingerprint: Fingerprint,
        range: std::ops::Range<u64>,
        opts: TailOptions,
    ) -> Tailer {
        let mut t = Tailer::new(file, path, key, fingerprint, range.start, range.end, opts);
        t.limit = range.end;
        t.detached = true;
        t
    }

    fn new(
        file: Arc<OpenFile>,
        path: &Path,
        key: FileKey,
        fingerprint: Fingerprint,
        offset: u64,
        size: u64,
        opts: TailOptions,
    ) -> Tailer {
        Tailer {
            path: path.to_path_buf(),
            key,
            file: Some(file),
            count: None,
            fingerprint,
            chunk: Vec::new(),
            pending: Vec::new(),
            opts,
            cons: 0,
            filled: 0,
            pending_raw: 0,
            offset,
            read_pos: offset,
            checked_size: size,
            idle_since: None,
            at_eof: false,
            detached: false,
            truncated_from: None,
            limit: u64::MAX,
            seen: Seen::default(),
        }
    }

    /// The open descriptor, for reading a handed-out range again.
    pub fn file(&self) -> Result<&Arc<OpenFile>, TailError> {
        self.file.as_ref().ok_or_else(|| self.closed())
    }

    fn closed(&self) -> TailError {
        TailError::Closed {
            path: self.path.clone(),
        }
    }

    /// Where the file is, as far as the last scan knows.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file was renamed but the path still names it (or it moved and we
    /// follow it).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// The file's (device, inode).
    pub fn key(&self) -> FileKey {
        self.key
    }

    /// Taken at open; re-taken while shorter than `FINGERPRINT_MAX` and the
    /// file grew.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// End of the last line handed out (bytes buffered after it not counted).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// File offset up to which bytes have been read (handed out or buffered).
    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// The path no longer names this file: read to EOF, then finish.
    pub fn detach(&mut self) {
        self.detached = true;
    }

    /// A live path names this detached file again (renamed into another
    /// watched directory): it is followed there instead of finished.
    pub fn attach(&mut self, path: PathBuf) {
        self.detached = false;
        self.path = path;
    }

    /// Whether [`Tailer::detach`] was called.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// Detached, at EOF, nothing buffered, and idle for `partial_after`:
    /// the caller may drop it.
    pub fn is_finished(&self, now: Instant) -> bool {
        self.detached
            && self.at_eof
            && self.pending_raw == 0
            && self.cons == self.filled
            && self.idle_for(now) >= self.opts.partial_after
    }

    /// Reads what is new and hands complete lines to `sink`, reading at most
    /// `budget` bytes in this call.
    pub fn read_lines(
        &mut self,
        now: Instant,
        budget: usize,
        sink: &mut dyn FnMut(Line<'_>) -> Flow,
    ) -> Result<ReadOutcome, TailError> {
        if self.file.is_none() {
            return Err(self.closed());
        }
        if self.chunk.is_empty() {
            self.chunk = vec![0; self.opts.read_chunk.max(1)];
        }
        self.check_invariants();
        if self.split(sink) == Flow::Stop {
            return Ok(ReadOutcome::Stopped);
        }
        if self.restart_if_truncated(sink)? == Flow::Stop {
            return Ok(ReadOutcome::Stopped);
        }
        let mut read = 0;
        while read < budget {
            let n = self.fill(budget - read)?;
            if n == 0 {
                return Ok(self.reached_eof(now, sink));
            }
            read += n;
            self.idle_since = Some(now);
            self.at_eof = false;
            if self.split(sink) == Flow::Stop {
                return Ok(ReadOutcome::Stopped);
            }
        }
        Ok(ReadOutcome::Budget)
    }

    /// Hands out every complete line in `chunk[cons..filled]`; keeps the
    /// unterminated rest in `pending`.
    fn split(&mut self, sink: &mut dyn FnMut(Line<'_>) -> Flow) -> Flow {
        while self.cons < self.filled {
            match memchr::memchr(b'\n', &self.chunk[self.cons..self.filled]) {
                Some(len) => {
                    if self.finish_line(len, sink) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                None => self.keep_pending(self.filled - self.cons),
            }
        }
        self.cons = 0;
        self.filled = 0;
        Flow::More
    }

    /// The line ending `len` bytes into `chunk[cons..]` is complete: hand it out.
    fn finish_line(&mut self, len: usize, sink: &mut dyn FnMut(Line<'_>) -> Flow) -> Flow {
        let start = self.cons;
        self.cons += len + 1;
        let raw = self.pending_raw + len as u64;
        let start_offset = self.offset;
        self.offset += raw + 1;
        let kept = if self.pending_raw == 0 {
            &self.chunk[start..start + len]
        } else {
            let take = len.min(self.pending_room());
            self.pending
                .extend_from_slice(&self.chunk[start..start + take]);
            &self.pending[..]
        };
        let (bytes, cut) = shape(kept, raw, self.opts.max_line);
        let flow = sink(Line {
            bytes,
            start_offset,
            fingerprint: self.fingerprint,
            end_offset: self.offset,
            cut,
            partial: false,
        });
        self.clear_pending();
        flow
    }

    /// Forgets the finished line's bytes; a long line's buffer goes back to
    /// the allocator.
    fn clear_pending(&mut self) {
        if self.pending.capacity() > PENDING_KEPT {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        self.pending_raw = 0;
    }

    /// Moves `len` bytes of an unterminated line from `chunk` to `pending`,
    /// keeping at most `max_line + 1` of them.
    fn keep_pending(&mut self, len: usize) {
        let take = len.min(self.pending_room());
        self.pending
            .extend_from_slice(&self.chunk[self.cons..self.cons + take]);
        self.pending_raw += len as u64;
        self.cons += len;
    }

    fn pending_room(&self) -> usize {
        self.opts
            .max_line
            .saturating_add(1)
            .saturating_sub(self.pending.len())
    }

    /// Hands out the unterminated line, if any, as `partial`.
    fn emit_partial(&mut self, sink: &mut dyn FnMut(Line<'_>) -> Flow) -> Flow {
        if self.pending_raw == 0 {
            return Flow::More;
        }
        let start_offset = self.offset;
        self.offset += self.pending_raw;
        let (bytes, cut) = shape(&self.pending, self.pending_raw, self.opts.max_line);
        let flow = sink(Line {
            bytes,
            start_offset,
            fingerprint: self.fingerprint,
            end_offset: self.offset,
            cut,
            partial: true,
        });
        self.clear_pending();
        flow
    }

    /// At EOF: hands out a trailing partial line when detached or idle long enough.
    fn reached_eof(&mut self, now: Instant, sink: &mut dyn FnMut(Line<'_>) -> Flow) -> ReadOutcome {
        self.at_eof = true;
        let idle_since = *self.idle_since.get_or_insert(now);
        let idle = now.saturating_duration_since(idle_since);
        let due = self.detached || idle >= self.opts.partial_after;
        if due && self.emit_partial(sink) == Flow::Stop {
            return ReadOutcome::Stopped;
        }
        ReadOutcome::Eof
    }

    /// Reads up to `max` bytes at `read_pos` into the (drained) chunk buffer.
    fn fill(&mut self, max: usize) -> Result<usize, TailError> {
        debug_assert_eq!((self.cons, self.filled), (0, 0), "fill with unsplit bytes");
        let left = self.limit.saturating_sub(self.read_pos);
        let want = max
            .min(self.chunk.len())
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let Some(file) = self.file.as_ref() else {
            return Err(self.closed());
        };
        loop {
            match file.read_at(&mut self.chunk[..want], self.read_pos) {
                Ok(n) => {
                    self.filled = n;
                    self.read_pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(TailError::Read {
                        path: self.path.clone(),
                        offset: self.read_pos,
                        source,
                    })
                }
            }
        }
    }

    /// The last truncation seen since the previous call, if any: the old
    /// content's fingerprint and the offset reached in it.
    pub fn take_truncation(&mut self) -> Option<(Fingerprint, u64)> {
        self.truncated_from.take()
    }

    /// Detects copytruncate / truncate-in-place and restarts at 0, handing
    /// out the pending line of the old content first.
    fn restart_if_truncated(
        &mut self,
        sink: &mut dyn FnMut(Line<'_>) -> Flow,
    ) -> Result<Flow, TailError> {
        if self.limit != u64::MAX {
            return Ok(Flow::More); // a replay: the caller checked the content
        }
        let meta = self.stat()?;
        self.seen = Seen::of(&meta);
        let size = meta.len();
        if size == self.checked_size && size >= self.read_pos {
            return Ok(Flow::More);
        }
        self.checked_size = size;
        let rewritten = size < self.read_pos || !self.fingerprint_matches()?;
        if !rewritten {
            if usize::from(self.fingerprint.len) < FINGERPRINT_MAX
                && size > u64::from(self.fingerprint.len)
            {
                self.fingerprint = take_fingerprint(self.file()?, &self.path)?;
            }
            return Ok(Flow::More);
        }
        tracing::warn!(path = %self.path.display(), position = self.read_pos, size,
            "file was truncated (copytruncate or truncate in place): reading again from the start");
        let flow = self.emit_partial(sink);
        self.truncated_from = Some((self.fingerprint, self.offset));
        self.offset = 0;
        self.read_pos = 0;
        self.fingerprint = take_fingerprint(self.file()?, &self.path)?;
        Ok(flow)
    }

    /// `fstat` of the open descriptor; a regular file only.
    fn stat(&self) -> Result<std::fs::Metadata, TailError> {
        stat_regular(self.file()?, &self.path)
    }

    /// Whether the open file's size or modification time differs from what
    /// the last read saw (one `fstat`, no read).
    pub fn changed(&self) -> Result<bool, TailError> {
        Ok(Seen::of(&self.stat()?) != self.seen || self.seen.size != self.read_pos)
    }

    fn fingerprint_matches(&self) -> Result<bool, TailError> {
        self.fingerprint
            .matches(self.file()?)
            .map_err(|source| TailError::Read {
                path: self.path.clone(),
                offset: 0,
                source,
            })
    }

    fn idle_for(&self, now: Instant) -> Duration {
        self.idle_since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    fn check_invariants(&self) {
        debug_assert!(self.cons <= self.filled && self.filled <= self.chunk.len());
        debug_assert_eq!(
            self.pending.len() as u64,
            self.pending_raw
                .min((self.opts.max_line as u64).saturating_add(1))
        );
        debug_assert_eq!(
            self.offset + self.pending_raw + (self.filled - self.cons) as u64,
            self.read_pos
        );
    }
}

/// The bytes and `cut` flag of a line whose first bytes are `kept` out of
/// `raw` bytes in total.
fn shape(kept: &[u8], raw: u64, max_line: usize) -> (&[u8], bool) {
    let complete = raw == kept.len() as u64;
    let bytes = match kept.strip_suffix(b"\r") {
        Some(stripped) if complete => stripped,
        _ => kept,
    };
    if bytes.len() > max_line {
        (&bytes[..max_line], true)
    } else {
        (bytes, !complete)
    }
}

fn stat_err(path: &Path, source: io::Error) -> TailError {
    TailError::Stat {
        path: path.to_path_buf(),
        source,
    }
}

/// `fstat` of `file`, which must be a regular file.
fn stat_regular(file: &File, path: &Path) -> Result<std::fs::Metadata, TailError> {
    let meta = file.metadata().map_err(|source| stat_err(path, source))?;
    if !meta.is_file() {
        return Err(TailError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(meta)
}

fn take_fingerprint(file: &File, path: &Path) -> Result<Fingerprint, TailError> {
    Fingerprint::take(file).map_err(|source| TailError::Read {
        path: path.to_path_buf(),
        offset: 0,
        source,
    })
}

#[cfg(test)]
mod tests;
