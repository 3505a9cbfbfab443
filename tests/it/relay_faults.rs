//! Fault tests (issue 4), with the real binary against a real rsyslog: every
//! line written carries a unique id (`id=<file>-<seq>`), the receiver's
//! output is counted by id, and each test reports sent / lost / duplicates
//! (`cargo test --test it relay_faults:: -- --nocapture` shows the figures) and
//! asserts that nothing was lost.
//!
//! The short versions run in CI; `benches/fault-soak.sh` runs the same tests
//! with the full counts through `REAPLOG_FAULT_*` variables (see
//! docs/delivery.md). Every random schedule prints its seed;
//! `REAPLOG_FAULT_SEED` replays it.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::process::poll_every;
use crate::support::proxy::Proxy;
use crate::support::relay::{
    append, count_lines, env_or, gitlab_source, relay_config, relp_output, tls_output, Fixture,
    NumberedFile, ReceivedIds, Relay, Rng, Rotation, Tally,
};
use crate::support::rsyslog::{Input, Options, Received, Rsyslog};
use crate::support::{wait_until, wait_until_every};

/// The uid/gid the permission tests run the relay as (root reads anything).
const NOBODY: u32 = 65534;

/// The fixture with its state dir created (the permission tests chown it,
/// the full-disk test mounts a tmpfs on it).
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fs::create_dir_all(&fx.state).unwrap();
    fx
}

/// The relay's config with this `[output]` table body.
fn write_config(fx: &Fixture, output: &str) {
    let top = "partial_line_timeout = \"1s\"\nshutdown_timeout = \"5s\"\n";
    fx.write_config(&relay_config(
        &fx.state,
        top,
        &gitlab_source(&fx.root),
        output,
    ));
}

/// RFC 5425 to 127.0.0.1:`port` (rsyslog or the proxy in front of it),
/// verifying the server as `localhost` (a SAN of the test certificate).
fn tls_to(fx: &Fixture, port: u16) -> String {
    tls_output(port, &fx.pki.ca, &fx.pki, Some("localhost"))
}

/// [`tls_to`] whose resend window confirms batches after 1 s instead of
/// 10: for tests that watch the checkpoint being written.
fn tls_confirming_fast(fx: &Fixture, port: u16) -> String {
    format!("{}resend_window_time = \"1s\"\n", tls_to(fx, port))
}

/// RELP over TLS to 127.0.0.1:`port`.
fn relp_to(fx: &Fixture, port: u16) -> String {
    relp_output(port, Some(&fx.pki), Some("localhost"))
}

/// Lets `nobody` read the tree, the PKI and the config, and own the
/// state dir: for tests whose permissions must bite.
fn open_to_nobody(fx: &Fixture) {
    for dir in [fx.dir(), &fx.root, &fx.pki.dir] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for f in [
        &fx.pki.ca,
        &fx.pki.client_cert,
        &fx.pki.client_key,
        &fx.config,
    ] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
    }
    chown(&fx.state, NOBODY);
}

fn start_relay_as_nobody(fx: &Fixture) -> Relay {
    Relay::start_as(&fx.config, &fx.stderr, NOBODY, NOBODY)
}

fn chown(path: &Path, id: u32) {
    std::os::unix::fs::chown(path, Some(id), Some(id))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Waits until every id of `files` has arrived, or until nothing new arrived
/// for `stall` (lost lines never come), or `timeout`. Returns the tally.
fn settle(out: &Path, files: &[&NumberedFile], timeout: Duration, stall: Duration) -> Tally {
    let mut got = ReceivedIds::default();
    let ids: Vec<String> = files.iter().flat_map(|f| f.ids()).collect();
    let (mut last, mut since) = (u64::MAX, Instant::now());
    poll_every(timeout, Duration::from_millis(200), || {
        got.refresh(out);
        if got.has_all(ids.iter().map(String::as_str)) {
            return Some(());
        }
        if got.records != last {
            (last, since) = (got.records, Instant::now());
        }
        (since.elapsed() >= stall).then_some(())
    });
    // Late copies (a resent batch) land right behind the originals.
    wait_until_every(Duration::from_secs(30), Duration::from_millis(300), || {
        let before = got.records;
        thread::sleep(Duration::from_millis(700));
        got.refresh(out).records == before
    });
    Tally::of(ids, &got)
}

/// Fails with the first lost ids, the generation (rotation) they were
/// written in, and the relay's log.
fn assert_nothing_lost(tally: &Tally, files: &[&NumberedFile], relay_log: &str, what: &str) {
    assert!(
        tally.unexpected.is_empty(),
        "{what}: ids nobody wrote arrived: {:?}",
        &tally.unexpected[..tally.unexpected.len().min(10)]
    );
    if tally.lost.is_empty() {
        return;
    }
    let mut where_lost = String::new();
    for f in files {
        let seqs: Vec<u64> = tally
            .lost
            .iter()
            .filter_map(|id| id.strip_prefix(&format!("{}-", f.tag)))
            .filter_map(|s| s.parse().ok())
            .collect();
        if seqs.is_empty() {
            continue;
        }
        let gens: std::collections::BTreeSet<usize> = seqs
            .iter()
            .map(|s| f.generations.partition_point(|g| g <= s) - 1)
            .collect();
        where_lost.push_str(&format!(
            "\n  {} ({}): {} lost, seq {}..={}, in generations {gens:?} of {} (0 = first file; generation g ended with rotation g+1)",
            f.tag,
            f.path.display(),
            seqs.len(),
            seqs.iter().min().unwrap_or(&0),
            seqs.iter().max().unwrap_or(&0),
            f.generations.len()
        ));
    }
    let tail: String = {
        let lines: Vec<&str> = relay_log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    // The rig's temp dir goes with the test: keep the whole log for the post-mortem.
    let kept =
        std::env::temp_dir().join(format!("reaplog-fault-{what}-{}.log", std::process::id()));
    let kept = match fs::write(&kept, relay_log) {
        Ok(()) => kept.display().to_string(),
        Err(e) => format!("(not kept: {e})"),
    };
    panic!(
        "{what}: {} of {} lines lost:{where_lost}\nwhole relay log: {kept}\n--- relay log (last 60 lines) ---\n{tail}",
        tally.lost.len(),
        tally.sent
    );
}

/// What happened when (writes, rotations, kills), for explaining a loss.
#[derive(Clone)]
struct Timeline {
    t0: Instant,
    events: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            t0: Instant::now(),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn note(&self, what: String) {
        self.events.lock().unwrap().push((self.t0.elapsed(), what));
    }

    /// The events from `before` the write of `id` to `after` it, writes of
    /// other lines left out.
    fn around(&self, tag: &str, seq: u64, before: Duration, after: Duration) -> String {
        let events = self.events.lock().unwrap();
        let write_of = |e: &str| {
            e.strip_prefix(&format!("write {tag} "))
                .and_then(|r| r.split_once(".."))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .is_some_and(|(a, b)| a <= seq && seq < b)
        };
        let Some(at) = events.iter().find(|(_, e)| write_of(e)).map(|(t, _)| *t) else {
            return format!("(no write of {tag}-{seq} recorded)\n");
        };
        events
            .iter()
            .filter(|(t, e)| {
                *t + before >= at && *t <= at + after && (!e.starts_with("write ") || write_of(e))
            })
            .map(|(t, e)| format!("  {:>8.3}s {e}\n", t.as_secs_f64()))
            .collect()
    }
}

/// Appends numbered lines to a set of files from a thread of its own, at a
/// paced rate, rotating them now and then, until told to stop.
struct Writer {
    files: Arc<Mutex<Vec<NumberedFile>>>,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<Vec<String>>>,
}

/// What the writer thread does between writes.
#[derive(Clone)]
struct WriterPlan {
    /// Rotation of each file (by index); `None`: never rotated.
    rotations: Vec<Option<Rotation>>,
    /// One rotation per this many writes, on average (0: never).
    rotate_every: u64,
    /// A file is rotated only once its current generation is this old: a
    /// generation that lives less than a rescan may never be seen under its
    /// live name (discovery is by path), which no relay can help.
    min_generation: Duration,
    /// Most lines per write.
    burst: u64,
    /// Pause between writes (rate control, not synchronisation).
    pace: Duration,
    /// rsyslog's output file: copytruncate waits until the receiver has
    /// every line of the file, so the copy holds nothing unshipped.
    receiver_out: PathBuf,
    /// Where writes and rotations are noted.
    timeline: Timeline,
}

impl WriterPlan {
    /// Bursts of up to 20 lines every 5 ms to `files` files, never rotated.
    fn steady(files: usize, receiver_out: PathBuf) -> WriterPlan {
        WriterPlan {
            rotations: vec![None; files],
            rotate_every: 0,
            min_generation: Duration::ZERO,
            burst: 20,
            pace: Duration::from_millis(5),
            receiver_out,
            timeline: Timeline::new(),
        }
    }
}

impl Writer {
    fn start(files: Vec<NumberedFile>, plan: WriterPlan, mut rng: Rng) -> Writer {
        let files = Arc::new(Mutex::new(files));
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let (f, s, w) = (Arc::clone(&files), Arc::clone(&stop), Arc::clone(&written));
        let thread = thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                let mut notes = Vec::new();
                let mut got = ReceivedIds::default();
                let mut born = vec![Instant::now(); plan.rotations.len()];
                while !s.load(Ordering::Relaxed) {
                    let mut files = f.lock().unwrap();
                    let i = rng.range(0, files.len() as u64 - 1) as usize;
                    let file = &mut files[i];
                    if let (Some(how), true) = (
                        plan.rotations[i],
                        plan.rotate_every > 0
                            && rng.range(1, plan.rotate_every) == 1
                            && born[i].elapsed() >= plan.min_generation,
                    ) {
                        born[i] = Instant::now();
                        if how == Rotation::CopyTruncate {
                            let ids: Vec<String> = file.ids().collect();
                            let shipped = wait_until_every(Duration::from_secs(60), Duration::from_millis(50), || {
                                got.refresh(&plan.receiver_out)
                                    .has_all(ids.iter().map(String::as_str))
                            });
                            if !shipped {
                                notes.push(format!(
                                    "copytruncate of {} after 60 s without all its lines at the receiver: the copy holds unshipped lines",
                                    file.path.display()
                                ));
                            }
                        }
                        file.rotate(how);
                        plan.timeline.note(format!(
                            "rotate {} ({how:?}): generation {} starts at seq {}",
                            file.tag,
                            file.rotations,
                            file.next
                        ));
                    }
                    let n = rng.range(1, plan.burst);
                    plan.timeline
                        .note(format!("write {} {}..{}", file.tag, file.next, file.next + n));
                    file.write(n);
                    w.fetch_add(n, Ordering::Relaxed);
                    drop(files);
                    thread::sleep(plan.pace);
                }
                notes
            })
            .expect("spawn writer");
        Writer {
            files,
            stop,
            written,
            thread: Some(thread),
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Stops writing; returns the files (with their counts) and the notes.
    fn finish(mut self) -> (Vec<NumberedFile>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let notes = self
            .thread
            .take()
            .map(|t| t.join().expect("writer thread panicked"))
            .unwrap_or_default();
        let files = std::mem::take(&mut *self.files.lock().unwrap());
        (files, notes)
    }
}

// ---------------------------------------------------------------------------
// 1. kill -9 the relay at random moments while files rotate.

/// SIGKILLs the relay at random moments (seeded) while a writer appends
/// numbered lines to three files and rotates them (logrotate rename-and-create,
/// svlogd `current` → `@….s`, and copytruncate once the receiver holds the
/// file's lines), restarting the relay after each kill. Nothing may be lost;
/// duplicates are counted (the lines shipped since the last checkpoint store).
#[test]
fn relay_killed_at_random_moments_during_rotations_loses_no_line() {
    let test = "kill9";
    let kills = env_or("REAPLOG_FAULT_ROUNDS", 5);
    let min_lines = env_or("REAPLOG_FAULT_LINES", 4_000);
    let mut rng = Rng::from_env(test);
    let rig = fixture();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_to(&rig, rsyslog.port()));
    let files = vec![
        rig.file("web-0/api_json.log", "a", 220),
        rig.file("sidekiq-0/sidekiq/current", "s", 300),
        rig.file("web-0/production_json.log", "p", 180),
    ];
    let plan = WriterPlan {
        rotations: vec![
            Some(Rotation::Rename),
            Some(Rotation::Svlogd),
            Some(Rotation::CopyTruncate),
        ],
        rotate_every: 60,
        min_generation: Duration::from_secs(1),
        burst: 20,
        pace: Duration::from_millis(5),
        receiver_out: rsyslog.output_path(),
        timeline: Timeline::new(),
    };
    let timeline = plan.timeline.clone();
    let mut relay = rig.start_relay();
    let writer = Writer::start(files, plan, Rng::new(rng.next_u64()));
    let started = Instant::now();
    let mut at_kill = Vec::new();
    for k in 0..kills {
        thread::sleep(rng.millis(300, 2_000)); // the fault schedule
        at_kill.push((rsyslog.count(), writer.written()));
        relay.kill();
        timeline.note(format!("relay killed ({})", k + 1));
        thread::sleep(rng.millis(0, 400)); // down for a moment; rotations go on
        relay = rig.start_relay();
        timeline.note(format!("relay started again ({})", k + 1));
        eprintln!(
            "{test}: kill {}/{kills} at {:.1}s: {} received, {} written",
            k + 1,
            started.elapsed().as_secs_f64(),
            at_kill[k as usize].0,
            at_kill[k as usize].1
        );
    }
    wait_until_every(Duration::from_secs(120), Duration::from_millis(100), || {
        writer.written() >= min_lines
    });
    let elapsed = started.elapsed();
    let (files, notes) = writer.finish();
    let refs: Vec<&NumberedFile> = files.iter().collect();
    let tally = settle(
        &rsyslog.output_path(),
        &refs,
        Duration::from_secs(120),
        Duration::from_secs(15),
    );
    relay.stop(Duration::from_secs(10));
    eprintln!("{}", tally.summary(test));
    let rate = tally.sent as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{test}: {kills} kills, {} rotations, {:.0} lines/s written; duplicates per kill {:.0}; \
         design bound per kill ≈ lines since the last checkpoint store (≤ 1 s ≈ {:.0} lines) + the queue \
         (4 + 2 batches × 128 KiB ≈ {:.0} lines of ~230 B)",
        files.iter().map(|f| f.rotations).sum::<u64>(),
        rate,
        tally.duplicates as f64 / kills.max(1) as f64,
        rate,
        6.0 * 128.0 * 1024.0 / 300.0,
    );
    for n in &notes {
        eprintln!("{test}: note: {n}");
    }
    assert!(
        !relay.log().contains("panicked"),
        "relay panicked:\n{}",
        relay.log()
    );
    if !tally.lost.is_empty() {
        for f in &files {
            let prefix = format!("{}-", f.tag);
            let first = tally
                .lost
                .iter()
                .filter_map(|id| id.strip_prefix(&prefix)?.parse::<u64>().ok())
                .min();
            if let Some(seq) = first {
                eprintln!(
                    "{test}: around the write of the first lost line {}{seq}:\n{}",
                    prefix,
                    timeline.around(&f.tag, seq, Duration::from_secs(2), Duration::from_secs(3))
                );
            }
        }
    }
    assert_nothing_lost(&tally, &refs, &relay.log(), test);
}

// ---------------------------------------------------------------------------
// 2. The receiver restarted mid-stream.

/// Restarts rsyslog (SIGTERM, start on the same port) several times while
/// lines flow; the relay reconnects and every line arrives.
fn receiver_restarts_lose_nothing(
    test: &str,
    input: Input,
    output: impl Fn(&Fixture, u16) -> String,
) {
    let restarts = env_or("REAPLOG_FAULT_RESTARTS", 3);
    let mut rng = Rng::from_env(test);
    let rig = fixture();
    let mut rsyslog = Rsyslog::start(Options::new(input).pki(&rig.pki));
    write_config(&rig, &output(&rig, rsyslog.port()));
    let files = vec![
        rig.file("web-0/api_json.log", "a", 250),
        rig.file("gitaly-0/gitaly/current", "g", 400),
    ];
    let plan = WriterPlan::steady(files.len(), rsyslog.output_path());
    let mut relay = rig.start_relay();
    let writer = Writer::start(files, plan, Rng::new(rng.next_u64()));
    for r in 0..restarts {
        let from = rsyslog.count();
        let more = rng.range(200, 2_000) as usize;
        assert!(
            rsyslog.wait_count(from + more, Duration::from_secs(30)),
            "{test}: no progress before restart {r}\n{}\n{}",
            relay.log(),
            rsyslog.diagnostics()
        );
        rsyslog.restart();
        eprintln!(
            "{test}: restart {}/{restarts} after {} records",
            r + 1,
            rsyslog.count()
        );
    }
    let from = rsyslog.count();
    assert!(
        rsyslog.wait_count(from + 500, Duration::from_secs(30)),
        "{test}: no progress after the last restart\n{}",
        relay.log()
    );
    let (files, _) = writer.finish();
    let refs: Vec<&NumberedFile> = files.iter().collect();
    let tally = settle(
        &rsyslog.output_path(),
        &refs,
        Duration::from_secs(60),
        Duration::from_secs(10),
    );
    relay.stop(Duration::from_secs(10));
    eprintln!("{}", tally.summary(test));
    assert_nothing_lost(&tally, &refs, &relay.log(), test);
}

/// rsyslog over TLS (imtcp, gtls) restarted mid-stream. TLS has no
/// acknowledgement: lines in the socket buffers when rsyslog stops are
/// recovered only because the output writes its resend window again after
/// reconnecting (duplicates, not a gap). Without the window this lost
/// 3–15 lines per run.
#[test]
fn tls_receiver_restarted_mid_stream_loses_no_line() {
    receiver_restarts_lose_nothing("restart-tls", Input::tls(), tls_to);
}

/// The resend window keeps where its lines are, not their frames: lines
/// written before the receiver went away are sent again from their file
/// after it was rotated away and deleted (the relay's descriptor keeps it
/// readable), and each copy is what was first sent, read time included
/// (these lines carry no time of their own).
#[test]
fn window_resends_lines_of_a_rotated_and_deleted_file_as_first_sent() {
    const LINES: usize = 300;
    let rig = fixture();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_to(&rig, rsyslog.port()));
    let path = rig.root.join("web-0/production.log");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "").unwrap();
    let mut relay = rig.start_relay();
    assert!(
        wait_until(Duration::from_secs(10), || relay.log().contains("tailing")),
        "the relay never tailed {}:\n{}",
        path.display(),
        relay.log()
    );
    let text: String = (0..LINES)
        .map(|i| format!("plain line {i:04} with no time of its own\n"))
        .collect();
    append(&path, &text);
    let first = rsyslog.wait_for(LINES, Duration::from_secs(30));
    assert_eq!(first.len(), LINES, "first delivery\n{}", relay.log());
    // Well inside the window's 10 s: nothing is confirmed yet.
    rsyslog.stop();
    let rotated = path.with_extension("log.1");
    fs::rename(&path, &rotated).unwrap();
    fs::remove_file(&rotated).unwrap();
    rsyslog.restart();
    // The relay finds the connection closed when the oldest batch's 10 s
    // are up, reconnects, and writes the window again.
    let all = rsyslog.wait_for(2 * LINES, Duration::from_secs(40));
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    assert_eq!(all.len(), 2 * LINES, "the window was not sent again\n{log}");
    let mut copies: std::collections::BTreeMap<&str, Vec<&Received>> = Default::default();
    for m in &all {
        copies.entry(m.msg.as_str()).or_default().push(m);
    }
    assert_eq!(copies.len(), LINES, "{log}");
    for (msg, got) in &copies {
        assert_eq!(got.len(), 2, "{msg}: {got:?}");
        assert_eq!(got[0], got[1], "the resent copy differs from the first");
    }
    assert_eq!(
        count_lines(&log, &["cannot send these lines again"]),
        0,
        "{log}"
    );
}

/// The same over RELP (TLS inside), where the server acknowledges each
/// message.
#[test]
fn relp_receiver_restarted_mid_stream_loses_no_line() {
    receiver_restarts_lose_nothing("restart-relp", Input::Relp { tls: true }, relp_to);
}

// ---------------------------------------------------------------------------
// 3. The receiver stalled under a large backlog.

/// SIGSTOPs rsyslog, writes a large backlog (20 MB in CI) and samples the
/// relay's VmRSS while the receiver stays stalled: memory stays bounded (the
/// files are the buffer: a queue of 4 batches of 128 KiB, one batch being
/// filled, one being written, a 64 KiB read buffer and a line per file).
/// After SIGCONT every line arrives.
#[test]
fn stalled_receiver_under_a_large_backlog_keeps_relay_memory_bounded() {
    let test = "stall";
    let stall = Duration::from_secs(env_or("REAPLOG_FAULT_STALL_SECS", 10));
    let backlog_mb = env_or("REAPLOG_FAULT_BACKLOG_MB", 20);
    let rig = fixture();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_to(&rig, rsyslog.port()));
    let mut files = vec![
        rig.file("web-0/api_json.log", "a", 1_000),
        rig.file("web-0/production_json.log", "p", 1_000),
        rig.file("web-1/api_json.log", "b", 1_000),
        rig.file("sidekiq-0/sidekiq/current", "s", 1_000),
    ];
    for f in &mut files {
        f.write(100);
    }
    let relay = rig.start_relay();
    rsyslog.wait_for(400, Duration::from_secs(30));
    let baseline = (0..5)
        .filter_map(|_| {
            thread::sleep(Duration::from_millis(50));
            relay.vm_rss_kib()
        })
        .max()
        .expect("relay VmRSS");
    rsyslog.pause();
    let stalled_at = Instant::now();
    let per_file = backlog_mb * 1_000_000 / 1_001 / files.len() as u64;
    for _ in 0..10 {
        for f in &mut files {
            f.write(per_file / 10);
        }
    }
    let mut peak = baseline;
    let mut samples = 0;
    while stalled_at.elapsed() < stall {
        if let Some(rss) = relay.vm_rss_kib() {
            peak = peak.max(rss);
            samples += 1;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let received_while_stalled = rsyslog.count();
    rsyslog.resume();
    let refs: Vec<&NumberedFile> = files.iter().collect();
    let tally = settle(
        &rsyslog.output_path(),
        &refs,
        Duration::from_secs(180),
        Duration::from_secs(20),
    );
    // The memory bound of docs/delivery.md: the queue (4 batches) plus one batch being
    // filled and one being written, each 128 KiB + one message (≈ 0.8 MiB),
    // a 64 KiB read buffer and one line per file (4 × 72 KiB), TLS buffers
    // (≈ 1.2 MiB, given 4 MiB for the allocator), plus one batch re-encoded
    // by a resend. The resend window holds file ranges, not frames, so
    // `resend_window_bytes` (8 MiB) is not in the bound: a window that kept
    // its frames grew by 4.8–5.5 MiB here. A relay that buffered the
    // backlog would grow by its size (20 MB in CI, 100 in the soak).
    let bound_kib = 4 * 1024 + 136;
    eprintln!(
        "{test}: backlog {backlog_mb} MB in {} files, stalled {stall:?}: VmRSS baseline {baseline} KiB, \
         peak {peak} KiB ({samples} samples), growth {} KiB (bound {bound_kib} KiB); \
         {received_while_stalled} records at the receiver before SIGCONT",
        files.len(),
        peak - baseline
    );
    eprintln!("{}", tally.summary(test));
    assert!(
        peak - baseline <= bound_kib,
        "{test}: the relay grew by {} KiB while the receiver was stalled (bound {bound_kib} KiB)",
        peak - baseline
    );
    assert_nothing_lost(&tally, &refs, &relay.log(), test);
}

// ---------------------------------------------------------------------------
// 4. Network faults between relay and receiver.

/// Relay → fault proxy → rsyslog (TLS, verified through the proxy as
/// `localhost`): connections reset (RST) twice, a blackhole of a few seconds
/// (sockets open, no bytes move), new connections refused for a moment,
/// all while lines flow. Every line arrives: a reset drops what the buffers
/// and the proxy hold, which the TLS resend window writes again (without
/// the window this lost ~600 of 8 000 lines).
#[test]
fn resets_blackhole_and_refusals_between_relay_and_receiver_lose_no_line() {
    network_faults_lose_nothing("network-tls", Input::tls(), tls_to);
}

/// The same network faults over RELP (TLS inside): unacknowledged messages
/// are sent again.
#[test]
fn network_faults_under_relp_lose_no_line() {
    network_faults_lose_nothing("network-relp", Input::Relp { tls: true }, relp_to);
}

fn network_faults_lose_nothing(test: &str, input: Input, output: impl Fn(&Fixture, u16) -> String) {
    let blackhole = Duration::from_secs(env_or("REAPLOG_FAULT_BLACKHOLE_SECS", 3));
    let rounds = env_or("REAPLOG_FAULT_NET_ROUNDS", 1);
    let mut rng = Rng::from_env(test);
    let rig = fixture();
    let rsyslog = Rsyslog::start(Options::new(input).pki(&rig.pki));
    let proxy = Proxy::start(rsyslog.addr());
    write_config(&rig, &output(&rig, proxy.port()));
    let files = vec![
        rig.file("web-0/api_json.log", "a", 250),
        rig.file("nginx-0/nginx/gitlab_access.log", "n", 200),
    ];
    let plan = WriterPlan::steady(files.len(), rsyslog.output_path());
    let relay = rig.start_relay();
    let writer = Writer::start(files, plan, Rng::new(rng.next_u64()));
    let progress = |what: &str| {
        let from = rsyslog.count();
        assert!(
            rsyslog.wait_count(from + 300, Duration::from_secs(30)),
            "{test}: no progress {what}\n{}",
            relay.log()
        );
    };
    progress("at the start");
    for round in 0..rounds {
        for i in 0..2 {
            let n = proxy.reset_all();
            eprintln!("{test}: round {round}: reset {n} connection(s) ({})", i + 1);
            progress("after a reset");
        }
        proxy.blackhole();
        thread::sleep(Duration::from_millis(200)); // bytes already past the proxy land
        let during = rsyslog.count();
        thread::sleep(blackhole); // the fault lasts this long
        let after = rsyslog.count();
        proxy.forward();
        eprintln!(
            "{test}: round {round}: blackhole {blackhole:?}: {} records arrived during it",
            after - during
        );
        assert_eq!(during, after, "{test}: the blackhole let records through");
        progress("after the blackhole");
        let refused_before = proxy.stats().refused.load(Ordering::Relaxed);
        proxy.refuse();
        proxy.reset_all();
        let refused = wait_until(Duration::from_secs(10), || {
            proxy.stats().refused.load(Ordering::Relaxed) >= refused_before + 2
        });
        assert!(
            refused,
            "{test}: the relay did not retry a refused connection"
        );
        proxy.forward();
        progress("after refusals");
    }
    let (files, _) = writer.finish();
    let refs: Vec<&NumberedFile> = files.iter().collect();
    let tally = settle(
        &rsyslog.output_path(),
        &refs,
        Duration::from_secs(60),
        Duration::from_secs(10),
    );
    eprintln!(
        "{test}: proxy: {} connections, {} reset, {} refused",
        proxy.stats().connections.load(Ordering::Relaxed),
        proxy.stats().resets.load(Ordering::Relaxed),
        proxy.stats().refused.load(Ordering::Relaxed)
    );
    eprintln!("{}", tally.summary(test));
    assert_nothing_lost(&tally, &refs, &relay.log(), test);
}

// ---------------------------------------------------------------------------
// 5. Local faults: the state dir, the source files.

/// The state dir becomes unwritable mid-run (the relay runs as `nobody`, the
/// dir goes to mode 0555): the relay logs an error naming the checkpoint
/// file, lines keep flowing, and the checkpoint catches up once the dir is
/// writable again.
#[test]
fn unwritable_state_dir_is_reported_with_its_path_and_lines_keep_flowing() {
    let test = "state-unwritable";
    let rig = fixture();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_confirming_fast(&rig, rsyslog.port()));
    open_to_nobody(&rig);
    let mut a = rig.file("web-0/api_json.log", "a", 200);
    a.write(100);
    let relay = start_relay_as_nobody(&rig);
    let checkpoint = rig.state.join("checkpoints.v1");
    rsyslog.wait_for(100, Duration::from_secs(30));
    assert!(
        wait_until(Duration::from_secs(10), || checkpoint.exists()),
        "no checkpoint written\n{}",
        relay.log()
    );
    fs::set_permissions(&rig.state, fs::Permissions::from_mode(0o555)).unwrap();
    a.write(100);
    rsyslog.wait_for(200, Duration::from_secs(30));
    let path = checkpoint.display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || {
            count_lines(&relay.log(), &["cannot write the checkpoint", &path]) >= 1
        }),
        "{test}: no error naming {path}\n{}",
        relay.log()
    );
    a.write(100);
    rsyslog.wait_for(300, Duration::from_secs(30));
    let errors_before = count_lines(&relay.log(), &["cannot write the checkpoint"]);
    fs::set_permissions(&rig.state, fs::Permissions::from_mode(0o755)).unwrap();
    let size = fs::metadata(&a.path).unwrap().len();
    let caught_up = wait_until(Duration::from_secs(10), || {
        reaplog::relay::testing::Checkpoints::load(&checkpoint)
            .is_ok_and(|c| c.iter().any(|e| e.offset == size))
    });
    assert!(
        caught_up,
        "{test}: checkpoint did not catch up\n{}",
        relay.log()
    );
    let tally = settle(
        &rsyslog.output_path(),
        &[&a],
        Duration::from_secs(30),
        Duration::from_secs(5),
    );
    eprintln!("{test}: {errors_before} checkpoint errors logged while the dir was read-only");
    eprintln!("{}", tally.summary(test));
    assert_nothing_lost(&tally, &[&a], &relay.log(), test);
}

/// The state dir on a full file system (a 1 MiB tmpfs filled up; skipped
/// where mounting is not permitted): the relay logs ENOSPC naming the
/// checkpoint file, keeps shipping, and stores again once space is freed.
#[test]
fn full_state_disk_is_reported_with_its_path_and_lines_keep_flowing() {
    let test = "state-full";
    let rig = fixture();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "reaplog-fault-test"])
        .arg(&rig.state)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("{test}: skipped: cannot mount a tmpfs here");
        return;
    }
    let _unmount = Unmount(rig.state.clone());
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_confirming_fast(&rig, rsyslog.port()));
    let mut a = rig.file("web-0/api_json.log", "a", 200);
    a.write(100);
    let mut relay = rig.start_relay();
    let checkpoint = rig.state.join("checkpoints.v1");
    rsyslog.wait_for(100, Duration::from_secs(30));
    assert!(wait_until(Duration::from_secs(10), || checkpoint.exists()));
    // Fill the file system, then let the checkpoint grow by a new file.
    let filler = rig.state.join("filler");
    fill(&filler);
    let mut b = rig.file("web-1/api_json.log", "b", 200);
    a.write(100);
    b.write(100);
    rsyslog.wait_for(300, Duration::from_secs(30));
    let path = checkpoint.display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || {
            count_lines(
                &relay.log(),
                &["cannot write the checkpoint", &path, "No space left"],
            ) >= 1
        }),
        "{test}: no ENOSPC error naming {path}\n{}",
        relay.log()
    );
    a.write(100);
    rsyslog.wait_for(400, Duration::from_secs(30));
    fs::remove_file(&filler).unwrap();
    let size = fs::metadata(&b.path).unwrap().len();
    let caught_up = wait_until(Duration::from_secs(10), || {
        reaplog::relay::testing::Checkpoints::load(&checkpoint)
            .is_ok_and(|c| c.iter().any(|e| e.offset == size))
    });
    assert!(
        caught_up,
        "{test}: checkpoint did not catch up\n{}",
        relay.log()
    );
    relay.stop(Duration::from_secs(10));
    let tally = settle(
        &rsyslog.output_path(),
        &[&a, &b],
        Duration::from_secs(30),
        Duration::from_secs(5),
    );
    eprintln!("{}", tally.summary(test));
    assert_nothing_lost(&tally, &[&a, &b], &relay.log(), test);
}

/// Unmounts a test tmpfs (lazily, so a failed test still cleans up).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(path).expect("create filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // The last partial block may still fit in pieces.
    while f.write(&block[..512]).is_ok_and(|n| n > 0) {}
    let _ = f.sync_all();
}

/// Source files misbehave while the relay runs as `nobody`: a new file it
/// may not read (mode 000), a pod directory it may not list, and a large
/// file deleted while being read. Each unreadable path is named in the log;
/// the deleted file is read to its end through the open descriptor; lines
/// of the other files keep flowing; the unreadable file is shipped once it
/// is readable again.
#[test]
fn unreadable_and_deleted_sources_are_reported_and_other_files_keep_flowing() {
    let test = "sources";
    let rig = fixture();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&rig.pki));
    write_config(&rig, &tls_to(&rig, rsyslog.port()));
    let mut a = rig.file("web-0/api_json.log", "a", 200);
    a.write(100);
    for d in ["web-0", "web-1", "web-2"] {
        fs::create_dir_all(rig.root.join(d)).unwrap();
    }
    open_to_nobody(&rig);
    let relay = start_relay_as_nobody(&rig);
    rsyslog.wait_for(100, Duration::from_secs(30));

    // A file nobody may read: unreadable before its first line (root still
    // writes it), so that the relay cannot race the chmod and ship it.
    let mut b = rig.file("web-1/api_json.log", "b", 200);
    // Created without any permission (not chmodded after: the relay,
    // woken by inotify, could open it in between).
    fs::create_dir_all(b.path.parent().unwrap()).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&b.path)
        .unwrap();
    b.write(50);
    // A directory nobody may list, likewise closed before the file appears.
    let mut c = rig.file("web-2/api_json.log", "c", 200);
    fs::set_permissions(rig.root.join("web-2"), fs::Permissions::from_mode(0o000)).unwrap();
    c.write(50);
    let (b_path, c_dir) = (b.path.display().to_string(), rig.root.join("web-2"));
    let c_dir = c_dir.display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let log = relay.log();
            count_lines(&log, &["cannot open file", &b_path]) >= 1
                && count_lines(&log, &["cannot list directory", &c_dir]) >= 1
        }),
        "{test}: no errors naming {b_path} and {c_dir}\n{}",
        relay.log()
    );
    a.write(100);
    // A large file deleted once the relay has started on it.
    let mut d = rig.file("web-0/production_json.log", "d", 1_000);
    d.write(5_000);
    let first_d = format!("{}-0", d.tag);
    let mut got = ReceivedIds::default();
    assert!(
        wait_until_every(Duration::from_secs(30), Duration::from_millis(20), || {
            got.refresh(&rsyslog.output_path())
                .counts
                .contains_key(&first_d)
        }),
        "{test}: the relay never started on {}",
        d.path.display()
    );
    fs::remove_file(&d.path).unwrap();
    a.write(100);
    let flowing = settle(
        &rsyslog.output_path(),
        &[&a, &d],
        Duration::from_secs(60),
        Duration::from_secs(10),
    );
    assert_nothing_lost(&flowing, &[&a, &d], &relay.log(), test);
    let log = relay.log();
    let b_errors = count_lines(&log, &["cannot open file", &b_path]);
    let c_errors = count_lines(&log, &["cannot list directory", &c_dir]);
    // Readable again: shipped.
    fs::set_permissions(&b.path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(rig.root.join("web-2"), fs::Permissions::from_mode(0o755)).unwrap();
    let files = [&a, &b, &c, &d];
    let tally = settle(
        &rsyslog.output_path(),
        &files,
        Duration::from_secs(30),
        Duration::from_secs(5),
    );
    eprintln!(
        "{test}: {b_errors} 'cannot open file' lines for the mode-000 file and {c_errors} \
         'cannot list directory' lines while they were unreadable (one per rescan)"
    );
    eprintln!("{}", tally.summary(test));
    assert_nothing_lost(&tally, &files, &relay.log(), test);
}
