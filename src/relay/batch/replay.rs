//! Lines read again from their files: what the resend window keeps instead
//! of the frames it wrote.
//!
//! The reader turns lines into frames by a [`Recipe`] and records, per
//! batch, which byte ranges of which files the frames came from
//! ([`Segment`]s, sharing the tailer's open descriptor through an
//! [`Origin`]). A `tls`/`tcp` output writes a batch, drops its frames and
//! keeps the segments; after a reconnect it encodes them again with
//! [`replay`]. The window then costs a few hundred bytes per batch instead of
//! `resend_window_bytes` of frames (issue 5: peak RSS), and the frames come
//! out the same bytes: same line split ([`Tailer::replay`]), same rule and
//! header fields, same read time for lines that carry no time of their own.
//!
//! The descriptor keeps a renamed or deleted file readable. A file truncated
//! since (copytruncate, truncate in place) no longer holds the range: the
//! lines are looked for in logrotate's copy beside it (same first bytes, a
//! name that extends the file's), as the reader does for its own position.
//! If neither holds them, [`replay`] says so, naming the file, and the
//! caller counts and logs the loss.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::relay::encode::time::Timestamp;
use crate::relay::encode::{Encoded, FileStamp, LineCodec, Stamp};
use crate::relay::input::budget::OpenFile;
use crate::relay::input::fingerprint::{FileKey, Fingerprint};
use crate::relay::input::rotation::{copy_beside, Position};
use crate::relay::input::tail::{Flow, Line, ReadOutcome, TailOptions, Tailer};

/// How a file's bytes became frames: how they were split into lines and
/// how lines were encoded. One per relay, shared by the reader and every
/// replay, so that a replay splits and encodes exactly as the first read.
#[derive(Debug)]
pub(crate) struct Recipe {
    /// Lines to frames.
    pub codec: LineCodec,
    /// How files are split into lines.
    pub tail: TailOptions,
}

impl Recipe {
    /// Appends the frame of `line` of `origin`'s file, read at `read_time`,
    /// to `out`, unless a drop rule takes the line.
    pub(crate) fn encode_line(
        &self,
        origin: &Origin,
        read_time: &Timestamp,
        line: &Line<'_>,
        out: &mut Vec<u8>,
    ) -> Encoded {
        self.codec
            .encode_line(&origin.stamp, read_time, line.bytes, line.cut, out)
    }
}

/// A file being read and how its lines are stamped; a [`Segment`] holds it
/// while its lines may have to be read again.
pub(crate) struct Origin {
    /// The open descriptor: keeps a renamed or deleted file readable.
    pub file: Arc<OpenFile>,
    /// The file's (device, inode).
    pub key: FileKey,
    /// Where the file was when its lines were read.
    pub path: Arc<Path>,
    /// The rule, header fields and drop rules its lines were stamped with.
    pub stamp: FileStamp,
    /// How its lines were split and encoded.
    pub recipe: Arc<Recipe>,
}

impl Origin {
    /// The origin of lines read now from `file` (at `path`, stamped with
    /// `stamp`), encoded by `recipe`.
    pub(crate) fn new(
        file: Arc<OpenFile>,
        key: FileKey,
        path: Arc<Path>,
        stamp: &Stamp,
        recipe: &Arc<Recipe>,
    ) -> Origin {
        Origin {
            stamp: recipe.codec.file_stamp(stamp, &path),
            file,
            key,
            path,
            recipe: Arc::clone(recipe),
        }
    }
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("path", &self.path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Consecutive lines of one file in a batch: `range` of the file as it was
/// when they were read (`fingerprint`), stamped at `read_time`.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    /// The file and how its lines were stamped.
    pub origin: Arc<Origin>,
    /// The file's first bytes when the lines were read.
    pub fingerprint: Fingerprint,
    /// The bytes of the file the lines span.
    pub range: Range<u64>,
    /// When they were read: the time of lines that carry none.
    pub read_time: Timestamp,
    /// How many messages they made (lines a drop rule took make none).
    pub messages: u64,
}

impl Segment {
    /// Whether the line that starts at `start` can extend this segment.
    pub(crate) fn continues(
        &self,
        origin: &Arc<Origin>,
        fingerprint: Fingerprint,
        start: u64,
        read_time: &Timestamp,
    ) -> bool {
        Arc::ptr_eq(&self.origin, origin)
            && self.range.end == start
            && self.fingerprint == fingerprint
            && self.read_time == *read_time
    }
}

/// A segment's lines can no longer be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: bytes {}..{} are gone (truncated or rewritten, and no copy beside it holds them)", path.display(), range.start, range.end)]
pub(crate) struct Gone {
    pub path: PathBuf,
    pub range: Range<u64>,
}

/// Appends the frames of `seg`'s lines to `out`, as they were first encoded;
/// returns how many messages that was.
pub(crate) fn replay(seg: &Segment, out: &mut Vec<u8>) -> Result<u64, Gone> {
    let origin = &seg.origin;
    let (file, path, key) = match still_holds(&origin.file, seg) {
        true => (
            Arc::clone(&origin.file),
            origin.path.to_path_buf(),
            origin.key,
        ),
        false => copy_holding(seg).ok_or_else(|| Gone {
            path: origin.path.to_path_buf(),
            range: seg.range.clone(),
        })?,
    };
    let recipe = &origin.recipe;
    let mut tailer = Tailer::replay(
        file,
        &path,
        key,
        seg.fingerprint,
        seg.range.clone(),
        recipe.tail.clone(),
    );
    let mut messages = 0;
    let now = Instant::now();
    loop {
        let outcome = tailer.read_lines(now, usize::MAX, &mut |line| {
            // The same codec drops the same lines again.
            if let Encoded::Frame { .. } = recipe.encode_line(origin, &seg.read_time, &line, out) {
                messages += 1;
            }
            Flow::More
        });
        match outcome {
            Ok(ReadOutcome::Eof) => break,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading lines again for the resend window");
                return Err(Gone {
                    path,
                    range: seg.range.clone(),
                });
            }
        }
    }
    Ok(messages)
}

/// The file still has the segment's bytes: as long, and the same first bytes.
fn still_holds(file: &File, seg: &Segment) -> bool {
    let long_enough = file.metadata().is_ok_and(|m| m.len() >= seg.range.end);
    long_enough && seg.fingerprint.matches(file).unwrap_or(false)
}

/// logrotate's copytruncate copy of the segment's file, if one holds the range.
fn copy_holding(seg: &Segment) -> Option<(Arc<OpenFile>, PathBuf, FileKey)> {
    let origin = &seg.origin;
    let at = Position {
        key: origin.key,
        fingerprint: seg.fingerprint,
        // copy_beside wants a copy longer than this offset.
        offset: seg.range.end.saturating_sub(1),
        path: &origin.path,
    };
    // copy_beside checked the copy's length and first bytes.
    let copy = copy_beside(&at, |_| false)?;
    let file = File::open(&copy.path).ok()?;
    Some((Arc::new(OpenFile::new(file, None)), copy.path, copy.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::batch::Batch;
    use crate::relay::encode::classify::{plain_rule, LineFormat};
    use crate::relay::encode::syslog::{Facility, Severity};
    use proptest::prelude::*;
    use std::io::Write;
    use std::time::Duration;

    fn tail_opts(max_line: usize, read_chunk: usize) -> TailOptions {
        TailOptions {
            max_line,
            partial_after: Duration::from_secs(5),
            read_chunk,
        }
    }

    /// A log file, a tailer on it, and the batches its lines went into.
    struct Rig {
        dir: tempfile::TempDir,
        path: PathBuf,
        tailer: Tailer,
        origin: Arc<Origin>,
        t0: Instant,
        /// Read time of the next read: a different one per read, as in the reader.
        reads: i64,
    }

    impl Rig {
        fn new(max_line: usize, read_chunk: usize) -> Rig {
            Rig::with_codec(read_chunk, LineCodec::new(max_line + 40, false), max_line)
        }

        fn with_codec(read_chunk: usize, codec: LineCodec, max_line: usize) -> Rig {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("app.log");
            std::fs::write(&path, b"").unwrap();
            let opts = tail_opts(max_line, read_chunk);
            let tailer = Tailer::open(&path, 0, opts.clone()).unwrap();
            let recipe = Arc::new(Recipe { codec, tail: opts });
            let stamp = Stamp::new(
                Arc::new(plain_rule(
                    "app",
                    "app",
                    Facility::Local0,
                    Severity::Informational,
                    LineFormat::Auto,
                )),
                "host",
            );
            let origin = Arc::new(Origin::new(
                Arc::clone(tailer.file().unwrap()),
                tailer.key(),
                Arc::from(path.as_path()),
                &stamp,
                &recipe,
            ));
            Rig {
                dir,
                path,
                tailer,
                origin,
                t0: Instant::now(),
                reads: 0,
            }
        }

        fn append(&self, bytes: &[u8]) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .unwrap();
            f.write_all(bytes).unwrap();
        }

        /// One read call of at most `budget` bytes at `secs` after the start.
        fn read(&mut self, batch: &mut Batch, budget: usize, secs: u64) -> ReadOutcome {
            self.reads += 1;
            let read_time = Timestamp {
                unix_secs: 1_700_000_000 + self.reads,
                micros: 0,
                offset_minutes: 0,
            };
            let now = self.t0 + Duration::from_secs(secs);
            let origin = Arc::clone(&self.origin);
            self.tailer
                .read_lines(now, budget, &mut |line| {
                    batch.push_line(&origin, &read_time, &line);
                    Flow::More
                })
                .unwrap()
        }

        fn read_to_eof(&mut self, batch: &mut Batch, secs: u64) {
            while self.read(batch, 1 << 20, secs) != ReadOutcome::Eof {}
        }

        /// A rig whose file holds `content`, read into one batch.
        fn read_once(content: &[u8]) -> (Rig, Batch) {
            let mut rig = Rig::new(100, 64);
            rig.append(content);
            let mut batch = Batch::default();
            rig.read_to_eof(&mut batch, 0);
            (rig, batch)
        }
    }

    fn replayed(batch: &Batch) -> Result<Vec<u8>, Gone> {
        assert!(batch.replayable(), "{batch:?}");
        let mut out = Vec::new();
        for seg in &batch.segments {
            assert_eq!(replay(seg, &mut out)?, seg.messages);
        }
        Ok(out)
    }

    #[test]
    fn a_renamed_then_deleted_file_is_read_again_through_its_descriptor() {
        let (rig, batch) =
            Rig::read_once(b"one\n{\"severity\":\"ERROR\",\"msg\":\"two\"}\r\nthree\n");
        assert_eq!(batch.messages, 3);
        let moved = rig.dir.path().join("app.log.1");
        std::fs::rename(&rig.path, &moved).unwrap();
        std::fs::remove_file(&moved).unwrap();
        assert_eq!(replayed(&batch).unwrap(), batch.bytes);
    }

    #[test]
    fn a_copytruncated_file_is_read_again_from_logrotates_copy() {
        let (rig, batch) = Rig::read_once(b"first line of the old content\nsecond\n");
        // logrotate copytruncate: copy, truncate, then the app writes on.
        std::fs::copy(&rig.path, rig.dir.path().join("app.log.1")).unwrap();
        std::fs::File::create(&rig.path).unwrap();
        rig.append(b"new content that is longer than the old one was, by far\n");
        assert_eq!(replayed(&batch).unwrap(), batch.bytes);
    }

    #[test]
    fn dropped_lines_make_no_message_and_a_replay_drops_them_again() {
        use crate::relay::encode::process::{drop::DropRule, Processing};
        let drop = DropRule {
            label: "probes".into(),
            app_name: None,
            msgid: None,
            hostname: None,
            below: None,
            regex: Some(regex::bytes::Regex::new("kube-probe").unwrap()),
        };
        let codec = LineCodec::with_processing(
            140,
            false,
            Processing {
                drops: vec![drop],
                ..Processing::none()
            },
        );
        let mut rig = Rig::with_codec(64, codec, 100);
        rig.append(b"kube-probe first\nkept one\nkube-probe\nkube-probe again\nkept two\nkube-probe last\n");
        let mut batch = Batch::default();
        rig.read_to_eof(&mut batch, 0);
        assert_eq!(batch.messages, 2);
        assert_eq!(batch.segments.len(), 1, "one run of lines, one segment");
        // It starts at the first kept line and spans the dropped tail.
        assert_eq!(batch.segments[0].range, 17..79);
        let text = String::from_utf8_lossy(&batch.bytes);
        assert!(
            text.contains("kept one") && !text.contains("kube-probe"),
            "{text}"
        );
        assert_eq!(replayed(&batch).unwrap(), batch.bytes);
    }

    #[test]
    fn a_truncated_file_with_no_copy_is_reported_gone_by_name() {
        let (rig, batch) = Rig::read_once(b"a line\nanother line\n");
        std::fs::File::create(&rig.path).unwrap();
        let err = replayed(&batch).unwrap_err();
        assert_eq!(
            (err.path.as_path(), err.range.clone()),
            (rig.path.as_path(), 0..20)
        );
        assert!(err.to_string().contains("app.log"), "{err}");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Append(Vec<u8>),
        /// A read call with this budget, `idle` seconds after the last write.
        Read {
            budget: usize,
            idle: u64,
        },
        /// The batch is shipped; the next lines go into a new one.
        Ship,
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just("é€😀".as_bytes().to_vec()),
            Just(br#"{"severity":"WARN","time":"2026-11-25T10:00:00.123Z","m":"x"}"#.to_vec()),
            "[a-z ]{0,30}".prop_map(String::into_bytes),
            (1usize..120).prop_map(|n| vec![b'x'; n]),
        ];
        prop::collection::vec(piece, 1..6).prop_map(|v| v.concat())
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => arb_bytes().prop_map(Op::Append),
            3 => ((1usize..200), prop_oneof![Just(0u64), Just(10)])
                .prop_map(|(budget, idle)| Op::Read { budget, idle }),
            1 => Just(Op::Ship),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever the writes, reads, budgets, partial lines and overlong
        /// lines, a batch's segments encode again to its exact bytes.
        #[test]
        fn segments_encode_again_to_the_bytes_first_written(
            ops in prop::collection::vec(arb_op(), 1..40),
            max_line in 8usize..64,
            read_chunk in 1usize..32,
        ) {
            let mut rig = Rig::new(max_line, read_chunk);
            let mut batches = vec![Batch::default()];
            let mut clock = 0;
            for op in ops {
                let batch = batches.last_mut().unwrap();
                match op {
                    Op::Append(bytes) => rig.append(&bytes),
                    Op::Read { budget, idle } => {
                        clock += idle;
                        rig.read(batch, budget, clock);
                    }
                    Op::Ship => batches.push(Batch::default()),
                }
            }
            rig.tailer.detach();
            rig.read_to_eof(batches.last_mut().unwrap(), clock);
            for b in &batches {
                prop_assert_eq!(replayed(b).unwrap(), b.bytes.clone());
            }
        }
    }
}
