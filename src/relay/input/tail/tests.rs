//! Tests of the tailer: line splitting, partial lines, rotation, truncation
//! and identity, each on a real file in a temp dir.

use super::*;
use std::fs::OpenOptions;
use std::io::Write;

/// A line as the tests compare it.
#[derive(Debug, PartialEq)]
struct Got {
    text: String,
    end: u64,
    cut: bool,
    partial: bool,
}

fn got(text: &str, end: u64) -> Got {
    Got {
        text: text.into(),
        end,
        cut: false,
        partial: false,
    }
}

fn opts(max_line: usize, read_chunk: usize) -> TailOptions {
    TailOptions {
        max_line,
        partial_after: Duration::from_secs(5),
        read_chunk,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    t0: Instant,
}

impl Fixture {
    fn new(initial: &[u8]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, initial).unwrap();
        Fixture {
            _dir: dir,
            path,
            t0: Instant::now(),
        }
    }
    fn append(&self, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(&self.path).unwrap();
        f.write_all(bytes).unwrap();
    }
    fn open(&self, offset: u64, opts: TailOptions) -> Tailer {
        Tailer::open(&self.path, offset, opts).unwrap()
    }
    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }
}

/// Reads until EOF (any budget, no Stop) at time `now`.
fn read_all(t: &mut Tailer, now: Instant) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let r = t.read_lines(now, 1 << 20, &mut collect(&mut out)).unwrap();
        if r == ReadOutcome::Eof {
            return out;
        }
    }
}

fn collect(out: &mut Vec<Got>) -> impl FnMut(Line<'_>) -> Flow + '_ {
    move |l| {
        out.push(Got {
            text: String::from_utf8_lossy(l.bytes).into_owned(),
            end: l.end_offset,
            cut: l.cut,
            partial: l.partial,
        });
        Flow::More
    }
}

#[test]
fn hands_out_complete_lines_with_their_end_offsets() {
    let fx = Fixture::new(b"one\ntwo\n\nthree\n");
    let mut t = fx.open(0, opts(100, 4));
    let lines = read_all(&mut t, fx.at(0));
    assert_eq!(
        lines,
        vec![got("one", 4), got("two", 8), got("", 9), got("three", 15)]
    );
    assert_eq!(t.offset(), 15);
}

#[test]
fn drops_the_carriage_return_of_crlf_lines() {
    let fx = Fixture::new(b"dos\r\nunix\n\r\n");
    let mut t = fx.open(0, opts(100, 64));
    let lines = read_all(&mut t, fx.at(0));
    assert_eq!(lines, vec![got("dos", 5), got("unix", 10), got("", 12)]);
}

#[test]
fn a_line_split_across_writes_waits_for_its_newline() {
    let fx = Fixture::new(b"first\nsec");
    let mut t = fx.open(0, opts(100, 3));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("first", 6)]);
    assert_eq!((t.offset(), t.read_pos()), (6, 9));
    fx.append(b"ond half");
    assert_eq!(read_all(&mut t, fx.at(1)), vec![]);
    fx.append(b"\n");
    assert_eq!(read_all(&mut t, fx.at(2)), vec![got("second half", 18)]);
}

#[test]
fn multi_byte_utf8_passes_through_unchanged() {
    let text = "日本語 é ü 🚀";
    let fx = Fixture::new(format!("{text}\n").as_bytes());
    let mut t = fx.open(0, opts(100, 5));
    assert_eq!(read_all(&mut t, fx.at(0))[0].text, text);
}

#[test]
fn partial_line_is_handed_out_only_after_idle_time() {
    let fx = Fixture::new(b"no newline yet");
    let mut t = fx.open(0, opts(100, 64));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![]);
    assert_eq!(read_all(&mut t, fx.at(4)), vec![], "idle 4s < 5s");
    let lines = read_all(&mut t, fx.at(5));
    assert_eq!(
        lines,
        vec![Got {
            partial: true,
            ..got("no newline yet", 14)
        }]
    );
    assert_eq!(t.offset(), 14);
}

#[test]
fn bytes_after_a_partial_line_start_a_new_line() {
    let fx = Fixture::new(b"head");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    assert_eq!(read_all(&mut t, fx.at(5)).len(), 1);
    fx.append(b" tail\nnext\n");
    assert_eq!(
        read_all(&mut t, fx.at(6)),
        vec![got(" tail", 10), got("next", 15)]
    );
}

#[test]
fn new_bytes_restart_the_idle_clock() {
    let fx = Fixture::new(b"a");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    fx.append(b"b");
    assert_eq!(read_all(&mut t, fx.at(4)), vec![]);
    assert_eq!(read_all(&mut t, fx.at(8)), vec![], "idle only 4s since 'b'");
    assert_eq!(read_all(&mut t, fx.at(9))[0].text, "ab");
}

#[test]
fn detached_file_hands_out_its_partial_line_at_once() {
    let fx = Fixture::new(b"done\nlast words");
    let mut t = fx.open(0, opts(100, 64));
    t.detach();
    let lines = read_all(&mut t, fx.at(0));
    assert_eq!(
        lines[1],
        Got {
            partial: true,
            ..got("last words", 15)
        }
    );
}

#[test]
fn overlong_line_is_cut_once_and_its_rest_skipped() {
    let long = "x".repeat(50);
    let fx = Fixture::new(format!("short\n{long}\nafter\n").as_bytes());
    let mut t = fx.open(0, opts(8, 4));
    let lines = read_all(&mut t, fx.at(0));
    let cut = Got {
        cut: true,
        ..got("xxxxxxxx", 57)
    };
    assert_eq!(lines, vec![got("short", 6), cut, got("after", 63)]);
    assert!(
        t.pending.capacity() <= 2 * (8 + 1),
        "the skipped bytes were never buffered: {}",
        t.pending.capacity()
    );
}

#[test]
fn an_endless_line_keeps_memory_bounded() {
    let fx = Fixture::new(b"");
    let mut t = fx.open(0, opts(1024, 64 * 1024));
    let block = vec![b'z'; 1 << 20];
    for _ in 0..8 {
        fx.append(&block);
        assert_eq!(read_all(&mut t, fx.at(0)), vec![]);
        assert!(t.chunk.len() <= 64 * 1024, "{}", t.chunk.len());
        assert!(t.pending.capacity() <= 2 * 1025, "{}", t.pending.capacity());
    }
    fx.append(b"\n");
    let lines = read_all(&mut t, fx.at(0));
    assert_eq!(
        (lines.len(), lines[0].cut, lines[0].end),
        (1, true, (8 << 20) + 1)
    );
    assert_eq!(lines[0].text.len(), 1024);
}

#[test]
fn set_path_follows_a_rename_without_changing_identity() {
    let fx = Fixture::new(b"a\n");
    let mut t = fx.open(0, opts(100, 64));
    let moved = fx.path.with_file_name("moved.log");
    std::fs::rename(&fx.path, &moved).unwrap();
    t.set_path(moved.clone());
    assert_eq!((t.path(), t.is_detached()), (moved.as_path(), false));
    assert_eq!(t.key(), FileKey::of(&std::fs::metadata(&moved).unwrap()));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("a", 2)]);
}

#[test]
fn stop_on_a_partial_line_reports_stopped() {
    let fx = Fixture::new(b"tail");
    let mut t = fx.open(0, opts(100, 64));
    t.detach();
    let r = t.read_lines(fx.at(0), 100, &mut |_| Flow::Stop).unwrap();
    assert_eq!((r, t.offset()), (ReadOutcome::Stopped, 4));
    let r = t.read_lines(fx.at(0), 100, &mut |_| Flow::Stop).unwrap();
    assert_eq!(r, ReadOutcome::Eof);
}

#[test]
fn overlong_line_in_one_chunk_is_cut_too() {
    let fx = Fixture::new(b"0123456789\n");
    let mut t = fx.open(0, opts(4, 64));
    assert_eq!(
        read_all(&mut t, fx.at(0)),
        vec![Got {
            cut: true,
            ..got("0123", 11)
        }]
    );
}

#[test]
fn line_of_exactly_max_line_bytes_plus_cr_is_not_cut() {
    let fx = Fixture::new(b"abcd\r\n");
    let mut t = fx.open(0, opts(4, 2));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("abcd", 6)]);
}

#[test]
fn overlong_partial_line_is_cut_and_partial() {
    let fx = Fixture::new(&[b'y'; 30]);
    let mut t = fx.open(0, opts(10, 7));
    read_all(&mut t, fx.at(0));
    let lines = read_all(&mut t, fx.at(5));
    assert_eq!(
        lines,
        vec![Got {
            cut: true,
            partial: true,
            ..got(&"y".repeat(10), 30)
        }]
    );
}

#[test]
fn budget_bounds_the_bytes_read_per_call() {
    let fx = Fixture::new(b"aaaa\nbbbb\ncccc\n");
    let mut t = fx.open(0, opts(100, 64));
    let mut out = Vec::new();
    let r = t.read_lines(fx.at(0), 7, &mut collect(&mut out)).unwrap();
    assert_eq!((r, t.read_pos(), out.len()), (ReadOutcome::Budget, 7, 1));
    let r = t.read_lines(fx.at(0), 7, &mut collect(&mut out)).unwrap();
    assert_eq!((r, t.read_pos(), out.len()), (ReadOutcome::Budget, 14, 2));
    let r = t.read_lines(fx.at(0), 7, &mut collect(&mut out)).unwrap();
    assert_eq!((r, t.read_pos(), out.len()), (ReadOutcome::Eof, 15, 3));
}

#[test]
fn stop_hands_out_no_more_lines_and_the_next_call_resumes() {
    let fx = Fixture::new(b"1\n2\n3\n");
    let mut t = fx.open(0, opts(100, 64));
    let mut out = Vec::new();
    let mut stop_each = |l: Line<'_>| {
        out.push(String::from_utf8_lossy(l.bytes).into_owned());
        Flow::Stop
    };
    for _ in 0..3 {
        assert_eq!(
            t.read_lines(fx.at(0), 100, &mut stop_each).unwrap(),
            ReadOutcome::Stopped
        );
    }
    assert_eq!(
        t.read_lines(fx.at(0), 100, &mut stop_each).unwrap(),
        ReadOutcome::Eof
    );
    assert_eq!(out, ["1", "2", "3"]);
    assert_eq!(t.offset(), 6);
}

#[test]
fn opens_at_a_checkpoint_offset() {
    let fx = Fixture::new(b"old\nnew\n");
    let mut t = fx.open(4, opts(100, 64));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("new", 8)]);
}

#[test]
fn offset_beyond_the_size_restarts_at_zero() {
    let fx = Fixture::new(b"short\n");
    let mut t = fx.open(1000, opts(100, 64));
    assert_eq!(t.offset(), 0);
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("short", 6)]);
}

#[test]
fn copytruncate_restarts_at_zero() {
    let fx = Fixture::new(b"before rotation\n");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    std::fs::copy(&fx.path, fx.path.with_extension("log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&fx.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    fx.append(b"after\n");
    assert_eq!(read_all(&mut t, fx.at(1)), vec![got("after", 6)]);
}

#[test]
fn truncate_and_rewrite_past_our_position_is_seen_by_fingerprint() {
    let fx = Fixture::new(b"old 1\n");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    std::fs::write(&fx.path, b"new content, longer than before\n").unwrap();
    assert_eq!(
        read_all(&mut t, fx.at(1)),
        vec![got("new content, longer than before", 32)]
    );
}

#[test]
fn truncation_hands_out_the_pending_line_of_the_old_content_first() {
    let fx = Fixture::new(b"unterminated");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    std::fs::write(&fx.path, b"x\n").unwrap();
    let lines = read_all(&mut t, fx.at(1));
    let old = Got {
        partial: true,
        ..got("unterminated", 12)
    };
    assert_eq!(lines, vec![old, got("x", 2)]);
}

#[test]
fn fingerprint_is_retaken_while_the_file_grows() {
    let fx = Fixture::new(b"ab\n");
    let mut t = fx.open(0, opts(100, 64));
    assert_eq!(t.fingerprint().len, 3);
    fx.append(b"cd\n");
    read_all(&mut t, fx.at(0));
    read_all(&mut t, fx.at(0));
    assert_eq!(t.fingerprint(), Fingerprint::of_bytes(b"ab\ncd\n"));
}

#[test]
fn deleted_file_is_read_to_eof_through_the_descriptor() {
    let fx = Fixture::new(b"kept\n");
    let mut t = fx.open(0, opts(100, 64));
    let mut writer = OpenOptions::new().append(true).open(&fx.path).unwrap();
    std::fs::remove_file(&fx.path).unwrap();
    writer.write_all(b"written after unlink\n").unwrap();
    t.detach();
    let lines = read_all(&mut t, fx.at(0));
    assert_eq!(lines, vec![got("kept", 5), got("written after unlink", 26)]);
}

#[test]
fn is_finished_only_when_detached_drained_and_idle() {
    let fx = Fixture::new(b"line\n");
    let mut t = fx.open(0, opts(100, 64));
    read_all(&mut t, fx.at(0));
    assert!(!t.is_finished(fx.at(10)), "not detached");
    t.detach();
    assert!(!t.is_finished(fx.at(4)));
    assert!(t.is_finished(fx.at(5)));
    fx.append(b"more\n");
    read_all(&mut t, fx.at(6));
    assert!(
        !t.is_finished(fx.at(7)),
        "fresh bytes restart the idle time"
    );
}

#[test]
fn a_directory_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Tailer::open(dir.path(), 0, TailOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, TailError::NotRegular { .. }), "{err}");
}

#[test]
fn unreadable_file_is_an_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new(b"secret\n");
    std::fs::set_permissions(&fx.path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let missing = fx.path.with_file_name("missing.log");
    let err = Tailer::open(&missing, 0, TailOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing.log"), "{err}");
    if crate::relay::sys::is_root() {
        return; // root reads a mode-000 file
    }
    let err = Tailer::open(&fx.path, 0, TailOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, TailError::Open { .. }), "{err}");
    assert!(err.to_string().contains("app.log"), "{err}");
}

#[test]
fn a_borrowed_buffer_leaves_no_buffer_behind_and_unreads_what_was_not_split() {
    let fx = Fixture::new(b"one\ntwo\nthree\n");
    let mut t = fx.open(0, opts(64, 64));
    let mut buf = Vec::new();
    let mut first = Vec::new();
    let outcome = t
        .read_lines_with(&mut buf, fx.at(0), 1 << 20, &mut |line| {
            first.push(String::from_utf8_lossy(line.bytes).into_owned());
            Flow::Stop
        })
        .unwrap();
    assert_eq!(
        (outcome, first),
        (ReadOutcome::Stopped, vec!["one".to_owned()])
    );
    assert!(t.chunk.is_empty(), "the buffer went back to the caller");
    assert_eq!(t.read_pos(), 4, "the rest is read again next time");
    let mut rest = Vec::new();
    t.read_lines_with(&mut buf, fx.at(0), 1 << 20, &mut |line| {
        rest.push(String::from_utf8_lossy(line.bytes).into_owned());
        Flow::More
    })
    .unwrap();
    assert_eq!(rest, ["two", "three"]);
}

#[test]
fn a_closed_tailer_reopens_where_it_stopped_and_sees_what_changed_meanwhile() {
    let fx = Fixture::new(b"one\n");
    let mut t = fx.open(0, opts(64, 64));
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("one", 4)]);
    assert!(t.close(), "idle at its end: closable");
    assert!(!t.is_open());
    assert!(t
        .read_lines(fx.at(0), 1 << 20, &mut |_| Flow::More)
        .is_err());
    fx.append(b"two\n");
    assert_eq!(t.reopen(&fx.path).unwrap(), Reopen::Same);
    assert_eq!(read_all(&mut t, fx.at(0)), vec![got("two", 8)]);
}

#[test]
fn a_file_rewritten_while_closed_is_a_truncation_at_reopen() {
    let fx = Fixture::new(b"first content\n");
    let mut t = fx.open(0, opts(64, 64));
    read_all(&mut t, fx.at(0));
    assert!(t.close());
    // Same inode, other bytes, longer than before: only the first bytes tell.
    std::fs::write(&fx.path, b"other content, longer\n").unwrap();
    assert_eq!(t.reopen(&fx.path).unwrap(), Reopen::Same);
    assert_eq!(
        read_all(&mut t, fx.at(0)),
        vec![got("other content, longer", 22)]
    );
    assert_eq!(t.take_truncation().map(|(_, at)| at), Some(14));
}

#[test]
fn a_path_that_names_another_file_is_not_reopened() {
    let fx = Fixture::new(b"one\n");
    let mut t = fx.open(0, opts(64, 64));
    read_all(&mut t, fx.at(0));
    assert!(t.close());
    let moved = fx.path.with_extension("1");
    std::fs::rename(&fx.path, &moved).unwrap();
    std::fs::write(&fx.path, b"new\n").unwrap();
    assert!(matches!(t.reopen(&fx.path).unwrap(), Reopen::Replaced(_)));
    assert!(!t.is_open());
    assert_eq!(
        t.reopen(&moved).unwrap(),
        Reopen::Same,
        "found under its new name"
    );
}

#[test]
fn only_an_idle_attached_file_with_nothing_pending_is_closed() {
    let fx = Fixture::new(b"half a li");
    let mut t = fx.open(0, opts(64, 64));
    read_all(&mut t, fx.at(0));
    assert!(
        !t.can_close(),
        "an unterminated line waits for partial_after"
    );
    fx.append(b"ne\n");
    read_all(&mut t, fx.at(0));
    assert!(t.can_close());
    t.detach();
    assert!(!t.close(), "a detached file has no path to be reopened by");
}
