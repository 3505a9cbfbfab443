//! Property test: the tailer against a model of a log file that is appended,
//! left idle mid-line, rotated (rename-and-create, as logrotate `create` and
//! svlogd do), copytruncated, truncated in place, deleted and recreated.
//!
//! The harness does what discovery does: when the path names another inode
//! (or nothing), the old tailer is detached; a new inode at the path gets a
//! new tailer at offset 0. Every file's delivered lines must equal the
//! model's lines for that file exactly: same bytes, end offsets, `cut` and
//! `partial` flags, in order, none lost, none repeated.
//!
//! With [`Op::Budget`] on, every tailer that may be closed is closed after
//! each pass, as the relay does over its open-file budget, and the harness
//! reopens it the way the reader does: by its path when that still names
//! it and changed, else by its inode beside its old name (rotated while
//! closed), detached.
//!
//! The one inherent loss of copytruncate (lines written between our last
//! read and the truncation exist only in the copy) is kept out of the model
//! by reading everything before each truncation, as the relay's prompt
//! reading approximates. See `src/relay/input/tail/mod.rs`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use reaplog::relay::testing::walk_rotated;
use reaplog::relay::testing::FileKey;
use reaplog::relay::testing::Seen as Stat;
use reaplog::relay::testing::{Checkpoints, Entry, CHECKPOINT_FILE};
use reaplog::relay::testing::{Flow, Line, ReadOutcome, Reopen, TailOptions, Tailer};

const MAX_LINE: usize = 24;
const PARTIAL_AFTER: Duration = Duration::from_secs(5);
/// Large enough to reach EOF in one call with the model's small files.
const BIG_BUDGET: usize = 1 << 20;

#[derive(Clone, Debug)]
enum Op {
    /// The writer appends these bytes (creating the file if it was deleted).
    Append(Vec<u8>),
    /// One discovery pass, then one `read_lines` per tailer with this budget.
    Tick { budget: usize },
    /// Read everything, stay idle for `partial_after`, read again.
    Idle,
    /// Rename the file away and create a new one (svlogd: `@….s`, else `.1`).
    RenameCreate { svlogd: bool },
    /// logrotate copytruncate: copy to `.1`, truncate to 0.
    CopyTruncate,
    /// CNG: truncate to 0 in place.
    TruncateInPlace,
    /// Unlink the file; the writer closes it.
    Delete,
    /// The relay crashes and restarts: checkpoint what was handed out, drop
    /// every tailer, load the checkpoint, resume the live file and rotated
    /// copies whose key and fingerprint match.
    Restart,
    /// Create the file again if it is missing.
    Recreate,
    /// From now on (`true`) close every closable tailer after each pass,
    /// as over a spent open-file budget; `false` keeps them open again.
    Budget(bool),
}

/// A line as delivered or expected.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    bytes: Vec<u8>,
    end: u64,
    cut: bool,
    partial: bool,
}

/// What one file (one inode) should yield.
#[derive(Default)]
struct ModelFile {
    /// Every byte ever written, across truncations.
    stream: Vec<u8>,
    /// Where in `stream` the file's current content starts (last truncation).
    epoch: usize,
    /// Where in `stream` the current unterminated line starts.
    line_start: usize,
    /// Unlinked: after a crash nothing can reopen it.
    deleted: bool,
    expected: Vec<Seen>,
}

impl ModelFile {
    fn append(&mut self, bytes: &[u8]) {
        self.stream.extend_from_slice(bytes);
        while let Some(i) = self.stream[self.line_start..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let end = self.line_start + i;
            self.push(end, end + 1, false);
        }
    }

    /// The unterminated line, if any, is handed out as partial now.
    fn break_partial(&mut self) {
        let end = self.stream.len();
        if self.line_start < end {
            self.push(end, end, true);
        }
    }

    fn truncate(&mut self) {
        self.break_partial();
        self.epoch = self.stream.len();
    }

    /// The line `stream[line_start..content_end]`, terminated at `next`.
    fn push(&mut self, content_end: usize, next: usize, partial: bool) {
        let raw = &self.stream[self.line_start..content_end];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        self.expected.push(Seen {
            bytes: raw[..raw.len().min(MAX_LINE)].to_vec(),
            end: (next - self.epoch) as u64,
            cut: raw.len() > MAX_LINE,
            partial,
        });
        self.line_start = next;
    }
}

/// A tailer with the index of the model file it must match.
struct Tracked {
    id: usize,
    tailer: Tailer,
}

/// How the harness drives the tailers.
#[derive(Clone, Copy, Debug)]
struct Drive {
    read_chunk: usize,
    /// The sink says Stop after every `stop_every`-th line (0: never).
    stop_every: usize,
    /// Byte budget of the scan after every operation.
    tick_budget: usize,
    /// Broken sink for the self-test: lose the n-th line delivered.
    drop_nth: Option<usize>,
}

impl Drive {
    fn new(read_chunk: usize, stop_every: usize) -> Drive {
        Drive {
            read_chunk,
            stop_every,
            tick_budget: BIG_BUDGET,
            drop_nth: None,
        }
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    /// The state directory, outside the watched tree.
    state: tempfile::TempDir,
    path: PathBuf,
    opts: TailOptions,
    now: Instant,
    /// The application's append-mode descriptor of the current file.
    writer: Option<File>,
    files: Vec<ModelFile>,
    tailers: Vec<Tracked>,
    /// Tailers opened so far; the n-th one must be model file n.
    opened: usize,
    delivered: Vec<Vec<Seen>>,
    drive: Drive,
    lines_seen: usize,
    rotations: usize,
    /// [`Op::Budget`]: close what may be closed after each pass.
    closing: bool,
}

impl Harness {
    fn new(drive: Drive) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("app.log");
        let opts = TailOptions {
            max_line: MAX_LINE,
            partial_after: PARTIAL_AFTER,
            read_chunk: drive.read_chunk,
        };
        let mut h = Harness {
            _dir: dir,
            state: tempfile::tempdir().expect("tempdir"),
            path,
            opts,
            now: Instant::now(),
            writer: None,
            files: Vec::new(),
            tailers: Vec::new(),
            opened: 0,
            delivered: Vec::new(),
            drive,
            lines_seen: 0,
            rotations: 0,
            closing: false,
        };
        h.create();
        h
    }

    fn create(&mut self) {
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&self.path)
            .expect("create log file");
        self.writer = Some(f);
        self.files.push(ModelFile::default());
    }

    fn current(&mut self) -> Option<&mut ModelFile> {
        match self.writer {
            Some(_) => self.files.last_mut(),
            None => None,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Append(bytes) => {
                if self.writer.is_none() {
                    self.create();
                }
                if let Some(w) = self.writer.as_mut() {
                    w.write_all(bytes).map_err(|e| format!("append: {e}"))?;
                }
                if let Some(m) = self.current() {
                    m.append(bytes);
                }
            }
            Op::Tick { budget } => return self.tick(*budget),
            Op::Idle => return self.idle(),
            Op::RenameCreate { svlogd } => self.rename_create(*svlogd)?,
            Op::CopyTruncate | Op::TruncateInPlace => {
                if self.writer.is_none() {
                    return Ok(());
                }
                // Read first: the copytruncate race is inherent (see module doc).
                self.drain()?;
                if matches!(op, Op::CopyTruncate) {
                    // A fresh name, as logrotate shifts older copies away first:
                    // copying onto a rotated file we still read would change it.
                    let to = self.rotated_name(false);
                    fs::copy(&self.path, to).map_err(|e| format!("copy: {e}"))?;
                }
                let f = OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| format!("open: {e}"))?;
                f.set_len(0).map_err(|e| format!("truncate: {e}"))?;
                if let Some(m) = self.current() {
                    m.truncate();
                }
                // Let the tailer see the truncation before the writer outgrows it.
                self.drain()?;
            }
            Op::Budget(on) => self.closing = *on,
            Op::Delete => {
                // A closed file's unread end goes with its last name: the
                // relay says so; read it first to keep the model exact.
                if self.tailers.iter().any(|t| !t.tailer.is_open()) {
                    self.drain()?;
                }
                if self.writer.take().is_some() {
                    fs::remove_file(&self.path).map_err(|e| format!("delete: {e}"))?;
                    if let Some(m) = self.files.last_mut() {
                        m.break_partial();
                        m.deleted = true;
                    }
                }
            }
            Op::Restart => self.restart()?,
            Op::Recreate => {
                if self.writer.is_none() {
                    self.create();
                }
            }
        }
        self.tick(self.drive.tick_budget)
    }

    fn rename_create(&mut self, svlogd: bool) -> Result<(), String> {
        if self.writer.take().is_some() {
            let to = self.rotated_name(svlogd);
            fs::rename(&self.path, &to).map_err(|e| format!("rename: {e}"))?;
            if let Some(m) = self.files.last_mut() {
                m.break_partial(); // detached at EOF: its last line goes out at once
            }
        }
        self.create();
        Ok(())
    }

    /// Crash and restart, resuming from a stored and reloaded checkpoint.
    fn restart(&mut self) -> Result<(), String> {
        // A deleted file's unread end dies with our descriptor: inherent,
        // so read it first to keep the model exact.
        for i in 0..self.tailers.len() {
            if self.files[self.tailers[i].id].deleted && self.tailers[i].tailer.is_open() {
                while self.read_once(i, BIG_BUDGET)? != ReadOutcome::Eof {}
            }
        }
        // Every line handed out counts as confirmed.
        let mut cp = Checkpoints::default();
        let mut ids = HashMap::new();
        for Tracked { id, tailer } in self.tailers.drain(..) {
            ids.insert(tailer.key(), id);
            cp.set(Entry {
                key: tailer.key(),
                fingerprint: tailer.fingerprint(),
                offset: tailer.offset(),
                path: tailer.path().to_path_buf(),
            });
        }
        let file = self.state.path().join(CHECKPOINT_FILE);
        cp.store(&file).map_err(|e| e.to_string())?;
        let cp = Checkpoints::load(&file).map_err(|e| e.to_string())?;
        self.resume(&cp, &ids)?;
        self.tick(self.drive.tick_budget)
    }

    /// Startup: reopen the live file and rotated copies we hold checkpoints for.
    fn resume(&mut self, cp: &Checkpoints, ids: &HashMap<FileKey, usize>) -> Result<(), String> {
        let mut rotated = Vec::new();
        let mut warnings = Vec::new();
        walk_rotated(self._dir.path(), &mut rotated, &mut warnings);
        if !warnings.is_empty() {
            return Err(format!("walk: {warnings:?}"));
        }
        let live = Some(self.path.clone()).filter(|p| p.exists());
        for (path, detached) in live
            .into_iter()
            .map(|p| (p, false))
            .chain(rotated.into_iter().map(|p| (p, true)))
        {
            let file = File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
            let key = FileKey::of(&file.metadata().map_err(|e| e.to_string())?);
            let offset = cp.resume_offset(key, &file).map_err(|e| e.to_string())?;
            let (Some(offset), Some(&id)) = (offset, ids.get(&key)) else {
                continue; // not ours, or a recycled inode: discovery decides
            };
            let mut tailer =
                Tailer::open(&path, offset, self.opts.clone()).map_err(|e| e.to_string())?;
            if detached {
                tailer.detach();
            }
            self.tailers.push(Tracked { id, tailer });
        }
        Ok(())
    }

    /// A name no file has had: svlogd's `@<tai64n>.s`, or logrotate's `.N`.
    fn rotated_name(&mut self, svlogd: bool) -> PathBuf {
        self.rotations += 1;
        if svlogd {
            self.path
                .with_file_name(format!("@40000000{:016x}.s", self.rotations))
        } else {
            self.path.with_extension(format!("log.{}", self.rotations))
        }
    }

    /// What discovery does on a scan: detach tailers whose path names
    /// another inode (or nothing); open a tailer for a new inode at 0.
    fn discover(&mut self) -> Result<(), String> {
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("stat: {e}")),
        };
        let key = meta.as_ref().map(FileKey::of);
        self.reopen_closed(key, meta.as_ref().map(Stat::of))?;
        for t in self.tailers.iter_mut() {
            if !t.tailer.is_detached() && Some(t.tailer.key()) != key {
                t.tailer.detach();
            }
        }
        if let Some(key) = key {
            if !self.tailers.iter().any(|t| t.tailer.key() == key) {
                let tailer =
                    Tailer::open(&self.path, 0, self.opts.clone()).map_err(|e| e.to_string())?;
                self.tailers.push(Tracked {
                    id: self.opened,
                    tailer,
                });
                self.opened += 1;
                self.delivered.push(Vec::new());
            }
        }
        Ok(())
    }

    /// Closed tailers, as the reader reopens them: at the live path when it
    /// still names the file and changed; else beside it by inode (rotated
    /// while closed), detached; gone (deleted, nothing unread): dropped.
    fn reopen_closed(&mut self, live: Option<FileKey>, seen: Option<Stat>) -> Result<(), String> {
        let dir = self._dir.path().to_path_buf();
        let mut gone = Vec::new();
        for (i, t) in self.tailers.iter_mut().enumerate() {
            if t.tailer.is_open() {
                continue;
            }
            if live == Some(t.tailer.key()) {
                if seen != Some(t.tailer.seen()) {
                    let path = self.path.clone();
                    match t.tailer.reopen(&path).map_err(|e| e.to_string())? {
                        Reopen::Same => {}
                        Reopen::Replaced(_) => return Err("replaced under a matching key".into()),
                    }
                }
                continue;
            }
            let moved = fs::read_dir(&dir)
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|e| e.path())
                .find(|p| fs::metadata(p).is_ok_and(|m| FileKey::of(&m) == t.tailer.key()));
            match moved {
                Some(path) => match t.tailer.reopen(&path).map_err(|e| e.to_string())? {
                    Reopen::Same => t.tailer.detach(),
                    Reopen::Replaced(_) => return Err("found by key, then not".into()),
                },
                None => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            self.tailers.remove(i);
        }
        Ok(())
    }

    /// With [`Op::Budget`] on: closes every tailer that may be closed.
    fn close_idle(&mut self) {
        if self.closing {
            for t in self.tailers.iter_mut() {
                t.tailer.close();
            }
        }
    }

    /// One scan, one `read_lines` per tailer, drop finished tailers.
    fn tick(&mut self, budget: usize) -> Result<(), String> {
        self.discover()?;
        for i in 0..self.tailers.len() {
            if self.tailers[i].tailer.is_open() {
                self.read_once(i, budget)?;
            }
        }
        let now = self.now;
        self.tailers.retain(|t| !t.tailer.is_finished(now));
        self.close_idle();
        Ok(())
    }

    /// Reads every tailer to EOF.
    fn drain(&mut self) -> Result<(), String> {
        self.discover()?;
        for i in 0..self.tailers.len() {
            if self.tailers[i].tailer.is_open() {
                while self.read_once(i, BIG_BUDGET)? != ReadOutcome::Eof {}
            }
        }
        let now = self.now;
        self.tailers.retain(|t| !t.tailer.is_finished(now));
        let caught_up = self.check_caught_up();
        self.close_idle();
        caught_up
    }

    /// Progress, not just eventual delivery: once every tailer is at EOF,
    /// each file has delivered all its lines so far, including the last
    /// partial line of a rotated or deleted file (handed out at once).
    fn check_caught_up(&self) -> Result<(), String> {
        for (id, got) in self.delivered.iter().enumerate() {
            let expected = &self.files[id].expected;
            if got != expected {
                let (got, expected) = (show(got), show(expected));
                return Err(format!("file {id} not caught up after reading to EOF: delivered\n{got}\nexpected\n{expected}"));
            }
        }
        Ok(())
    }

    fn idle(&mut self) -> Result<(), String> {
        self.drain()?;
        self.now += PARTIAL_AFTER;
        for m in self.files.iter_mut() {
            m.break_partial();
        }
        self.drain()
    }

    fn read_once(&mut self, i: usize, budget: usize) -> Result<ReadOutcome, String> {
        let Tracked { id, tailer } = &mut self.tailers[i];
        let out = &mut self.delivered[*id];
        let Drive {
            stop_every,
            drop_nth,
            ..
        } = self.drive;
        let seen = &mut self.lines_seen;
        let mut sink = |l: Line<'_>| {
            *seen += 1;
            if drop_nth != Some(*seen) {
                out.push(Seen {
                    bytes: l.bytes.to_vec(),
                    end: l.end_offset,
                    cut: l.cut,
                    partial: l.partial,
                });
            }
            if stop_every != 0 && *seen % stop_every == 0 {
                Flow::Stop
            } else {
                Flow::More
            }
        };
        tailer
            .read_lines(self.now, budget, &mut sink)
            .map_err(|e| e.to_string())
    }

    /// Flushes everything and compares delivered lines with the model.
    fn finish(mut self) -> Result<(), String> {
        self.idle()?;
        if self.opened != self.files.len() {
            return Err(format!(
                "opened {} tailers for {} files",
                self.opened,
                self.files.len()
            ));
        }
        for (id, (got, model)) in self.delivered.iter().zip(&self.files).enumerate() {
            if *got != model.expected {
                return Err(format!(
                    "file {id}: delivered\n{}\nexpected\n{}",
                    show(got),
                    show(&model.expected)
                ));
            }
        }
        Ok(())
    }
}

fn show(lines: &[Seen]) -> String {
    let row = |s: &Seen| {
        format!(
            "  {:?} end={} cut={} partial={}",
            String::from_utf8_lossy(&s.bytes),
            s.end,
            s.cut,
            s.partial
        )
    };
    lines.iter().map(row).collect::<Vec<_>>().join("\n")
}

fn run_model(ops: &[Op], drive: Drive) -> Result<(), String> {
    let mut h = Harness::new(drive);
    h.tick(BIG_BUDGET)?;
    for op in ops {
        h.apply(op).map_err(|e| format!("{op:?}: {e}"))?;
    }
    h.finish()
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z ]{0,8}".prop_map(String::into_bytes),
        3 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        2 => prop::sample::select(vec!["é", "日本語", "🚀", "ü\u{308}"]).prop_map(|s| s.as_bytes().to_vec()),
        1 => (MAX_LINE - 2..MAX_LINE * 4).prop_map(|n| b"0123456789".iter().cycle().take(n).copied().collect()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec(piece(), 1..6).prop_map(|p| Op::Append(p.concat())),
        4 => (1usize..64).prop_map(|budget| Op::Tick { budget }),
        2 => Just(Op::Idle),
        1 => any::<bool>().prop_map(|svlogd| Op::RenameCreate { svlogd }),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::TruncateInPlace),
        1 => Just(Op::Delete),
        1 => Just(Op::Recreate),
        2 => Just(Op::Restart),
        2 => any::<bool>().prop_map(Op::Budget),
    ]
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=20000 for a longer hunt.
    #[test]
    fn tailer_delivers_exactly_the_model_lines(
        ops in prop::collection::vec(op(), 1..40),
        read_chunk in 1usize..40,
        stop_every in prop_oneof![Just(0usize), 1usize..5],
        tick_budget in prop_oneof![Just(BIG_BUDGET), 1usize..64],
    ) {
        let drive = Drive { tick_budget, ..Drive::new(read_chunk, stop_every) };
        if let Err(e) = run_model(&ops, drive) {
            return Err(TestCaseError::fail(e));
        }
    }
}

fn lines(s: &str) -> Op {
    Op::Append(s.as_bytes().to_vec())
}

/// The check can fail: a sink that loses one line is caught.
#[test]
fn model_check_catches_a_sink_that_drops_a_line() {
    let ops = [lines("a\nb\nc\n"), Op::Tick { budget: 64 }];
    assert!(run_model(&ops, Drive::new(8, 0)).is_ok());
    let broken = Drive {
        drop_nth: Some(2),
        ..Drive::new(8, 0)
    };
    let err = run_model(&ops, broken).expect_err("a lost line must fail the check");
    assert!(err.contains("expected"), "{err}");
}

/// One fixed scenario through every rotation kind, idle partial lines and
/// two restarts, at several read chunk sizes and sink stop rates.
#[test]
fn every_rotation_kind_in_one_scenario() {
    let ops = [
        lines("one\ntw"),
        Op::RenameCreate { svlogd: true },
        lines("three\nfour"),
        Op::Idle,
        lines(" five\n"),
        Op::CopyTruncate,
        lines("six\n"),
        Op::TruncateInPlace,
        lines("seven"),
        Op::Delete,
        lines("eight\n"),
        Op::RenameCreate { svlogd: false },
        lines(&"x".repeat(100)),
        lines("\nnine\n"),
        Op::Restart,
        lines("ten\nunterminated"),
        Op::RenameCreate { svlogd: true },
        Op::Restart,
        lines("eleven\n"),
    ];
    for read_chunk in [1, 3, 64] {
        for stop_every in [0, 1, 2] {
            run_model(&ops, Drive::new(read_chunk, stop_every))
                .unwrap_or_else(|e| panic!("chunk {read_chunk}, stop {stop_every}: {e}"));
            let closing: Vec<Op> = std::iter::once(Op::Budget(true))
                .chain(ops.clone())
                .collect();
            run_model(&closing, Drive::new(read_chunk, stop_every)).unwrap_or_else(|e| {
                panic!("closed between passes, chunk {read_chunk}, stop {stop_every}: {e}")
            });
        }
    }
}
