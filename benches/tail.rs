//! Micro-benchmarks of the reader side: the tailer splitting a file into
//! lines (pread + memchr), and the reader thread's whole per-line path
//! (tail → classify → encode into a batch buffer) without any socket.
//! Files are written once per benchmark into a temp dir, in the shape of
//! the side-by-side corpus (benches/gen-corpus.py): ~200-byte JSON lines
//! with a severity, and a GitLab mix of 250 B to 3 KB lines.
//! Run with `cargo bench --bench tail`; `cargo test --all-targets` runs each
//! once on a small file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use divan::counter::{BytesCount, ItemsCount};
use divan::{black_box, Bencher};
use reaplog::relay::testing::{
    plain_rule, Facility, Flow, LineCodec, LineFormat, ReadOutcome, Severity, Stamp, TailOptions,
    Tailer, Timestamp,
};

fn main() {
    divan::main();
}

/// Bytes per benchmark file: big enough to leave the page cache warm and
/// the per-call overhead small, small enough for test mode.
const FILE_BYTES: usize = 8 << 20;

const SEVERITIES: [&str; 5] = ["INFO", "INFO", "INFO", "WARN", "ERROR"];

/// ~200-byte Rails-style JSON lines, `time` and `severity` first.
fn small_json(n: usize) -> Vec<u8> {
    format!(
        r#"{{"time":"2025-11-25T14:00:{:02}.{:03}Z","severity":"{}","correlation_id":"01K3NCHWP5TGA2E8RSSG25P8VJ","meta.caller_id":"token#{}","duration_s":0.{:04},"message":"label release job résumé package cache {} group epic artifact"}}"#,
        n % 60,
        n % 1000,
        SEVERITIES[n % SEVERITIES.len()],
        n % 1000,
        n % 10_000,
        if n % 20 == 0 { "日本語のコミット" } else { "tree" }
    )
    .into_bytes()
}

/// A GitLab-like mix: nginx ~250 B, workhorse ~600 B, production ~2 KB, api ~3 KB.
fn gitlab_mix(n: usize) -> Vec<u8> {
    let size = [250, 600, 2000, 3000][n % 4];
    let mut line = small_json(n);
    line.truncate(line.len() - 2);
    while line.len() + 2 < size {
        line.extend_from_slice(" params issue ü € 😀".as_bytes());
    }
    line.extend_from_slice(b"\"}");
    line
}

struct BenchFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: usize,
    lines: usize,
}

fn write_file(make: fn(usize) -> Vec<u8>) -> BenchFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app_json.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let (mut bytes, mut lines) = (0, 0);
    while bytes < FILE_BYTES {
        let mut line = make(lines);
        line.push(b'\n');
        out.write_all(&line).expect("write");
        bytes += line.len();
        lines += 1;
    }
    out.flush().expect("flush");
    BenchFile {
        _dir: dir,
        path,
        bytes,
        lines,
    }
}

/// Reads the whole file through a fresh tailer, handing each line to `sink`.
fn read_all(path: &Path, sink: &mut dyn FnMut(&[u8], bool) -> Flow) -> usize {
    let opts = TailOptions {
        max_line: 8096,
        read_chunk: 64 * 1024,
        ..TailOptions::default()
    };
    let mut tailer = Tailer::open(path, 0, opts).expect("open");
    let now = Instant::now();
    let mut lines = 0;
    loop {
        let outcome = tailer
            .read_lines(now, 256 * 1024, &mut |line| {
                lines += 1;
                sink(line.bytes, line.cut)
            })
            .expect("read");
        if outcome == ReadOutcome::Eof {
            return lines;
        }
    }
}

const SHAPES: [&str; 2] = ["json_200B", "gitlab_mix"];

fn file_for(shape: &str) -> BenchFile {
    write_file(if shape == "json_200B" {
        small_json
    } else {
        gitlab_mix
    })
}

/// Line splitting alone: pread into the tailer's buffer, memchr for `\n`.
#[divan::bench(args = SHAPES)]
fn split_lines(bencher: Bencher, shape: &str) {
    let f = file_for(shape);
    bencher
        .counter(BytesCount::new(f.bytes))
        .counter(ItemsCount::new(f.lines))
        .bench_local(|| {
            let n = read_all(&f.path, &mut |line, _| {
                black_box(line);
                Flow::More
            });
            assert_eq!(n, f.lines);
        });
}

/// The reader thread's per-line work: tail, then the relay's one line →
/// frame entry point (classify JSON severity and time, encode an RFC 5425
/// frame) into a 128 KiB batch that is reused.
#[divan::bench(args = SHAPES)]
fn tail_classify_encode(bencher: Bencher, shape: &str) {
    let f = file_for(shape);
    let rule = plain_rule(
        "gitlab-rails",
        "app_json",
        Facility::Local0,
        Severity::Informational,
        LineFormat::Json,
    );
    let codec = LineCodec::new(8096, false);
    let stamp = codec.file_stamp(
        &Stamp::new(std::sync::Arc::new(rule), "bench-host"),
        &f.path,
    );
    let read_time = Timestamp::now();
    let mut batch = Vec::with_capacity(128 * 1024 + 8 * 1024);
    bencher
        .counter(BytesCount::new(f.bytes))
        .counter(ItemsCount::new(f.lines))
        .bench_local(|| {
            read_all(&f.path, &mut |line, cut| {
                codec.encode_line(&stamp, &read_time, line, cut, &mut batch);
                if batch.len() >= 128 * 1024 {
                    black_box(&batch);
                    batch.clear();
                }
                Flow::More
            });
        });
}
