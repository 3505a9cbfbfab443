//! Replicas over one volume: relays with `shard = "i/n"` sharing one
//! `state_dir`, rescaled while numbered lines are written to many pod
//! directories and rotated, with a kill -9 in between. Nothing may be
//! lost; duplicates are counted against the issue's 5 % target.
//!
//! ```text
//! cargo test --test it relay_replicas -- --nocapture --test-threads 1
//! ```
//!
//! The output is RELP (plain, to a real imrelp): a line is confirmed only
//! once rsyslog answered it, so a kill -9 costs at most what was answered
//! since the dead replica's last checkpoint store (about a second of its
//! share). Over `tls` the resend window comes on top (docs/delivery.md).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::process::poll_every;
use crate::support::relay::{
    gitlab_source, relay_config, relp_output, Fixture, NumberedFile, ReceivedIds, Relay, Rotation,
    Tally,
};
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::wait_until;

/// The relays of one test: shared root and state, one config per relay.
struct Fleet {
    fx: Fixture,
    port: u16,
    started: u64,
}

impl Fleet {
    fn new(rsyslog: &Rsyslog, fx: Fixture) -> Fleet {
        fs::create_dir_all(&fx.state).unwrap();
        Fleet {
            fx,
            port: rsyslog.port(),
            started: 0,
        }
    }

    /// Starts a relay as replica `index` of `count`.
    fn start(&mut self, index: u64, count: u64) -> Replica {
        self.started += 1;
        let name = format!("r{}-{index}of{count}", self.started);
        let config = self.fx.path(&format!("{name}.toml"));
        let top = format!(
            "shard = \"{index}/{count}\"\nhostname = \"{name}\"\npartial_line_timeout = \"1s\"\nshutdown_timeout = \"10s\"\n"
        );
        let text = relay_config(
            &self.fx.state,
            &top,
            &gitlab_source(&self.fx.root),
            &relp_output(self.port, None, None),
        );
        fs::write(&config, text).unwrap();
        let relay = Relay::start(&config, &self.fx.path(&format!("{name}.stderr")));
        Replica { relay, name, index }
    }

    /// The instance id in each unit's claim file.
    fn claims(&self) -> BTreeMap<String, String> {
        fs::read_dir(self.fx.state.join("owners"))
            .unwrap()
            .flatten()
            .map(|e| {
                let id = fs::read_to_string(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    id.trim().to_owned(),
                )
            })
            .collect()
    }

    /// Which replica index holds each unit now, by the claims on disk and
    /// the instance id each relay logged.
    fn owners(&self, replicas: &[&Replica]) -> BTreeMap<String, u64> {
        let ids: Vec<(String, u64)> = replicas
            .iter()
            .filter_map(|r| Some((r.instance()?, r.index)))
            .collect();
        self.claims()
            .into_iter()
            .filter_map(|(unit, id)| {
                let (_, index) = ids.iter().find(|(i, _)| *i == id)?;
                Some((unit, *index))
            })
            .collect()
    }
}

struct Replica {
    relay: Relay,
    name: String,
    index: u64,
}

impl Replica {
    /// The instance id from the relay's start-up line.
    fn instance(&self) -> Option<String> {
        let log = self.relay.log();
        let line = log.lines().find(|l| l.contains("shared state"))?;
        let at = line.find("instance=")? + "instance=".len();
        let id: String = line[at..]
            .trim_start_matches('"')
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"')
            .collect();
        Some(id)
    }

    fn wait_started(&self) {
        assert!(
            wait_until(Duration::from_secs(20), || self.instance().is_some()),
            "{} did not start\n{}",
            self.name,
            self.relay.log()
        );
    }

    fn stop(mut self) -> String {
        let status = self.relay.stop(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not stop cleanly: {status:?}\n{}",
            self.name,
            self.relay.log()
        );
        self.relay.log()
    }

    fn kill(mut self) -> String {
        self.relay.kill();
        self.relay.log()
    }
}

/// Appends numbered lines to `pods` pod directories, about `rate` lines a
/// second in all, rotating (rename and create) one file every
/// `rotate_every` writes, once its current generation is 5 s old: a
/// generation that lives less than a rescan may never be seen under its
/// live name (discovery is by path), which no relay can help; a new pod
/// directory on a busy machine was seen 2.4 s after its first file.
struct Writer {
    files: Arc<Mutex<Vec<NumberedFile>>>,
    stop: Arc<AtomicBool>,
    rotations: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    fn start(fx: &Fixture, pods: usize, rate: u64, rotate_every: u64) -> Writer {
        let files: Vec<NumberedFile> = (0..pods)
            .map(|i| {
                fx.file(
                    &format!("gitlab-pod-{i:02}/api_json.log"),
                    &format!("p{i}"),
                    200,
                )
            })
            .collect();
        let files = Arc::new(Mutex::new(files));
        let stop = Arc::new(AtomicBool::new(false));
        let rotations = Arc::new(AtomicU64::new(0));
        let (f, s, r) = (
            Arc::clone(&files),
            Arc::clone(&stop),
            Arc::clone(&rotations),
        );
        let thread = thread::spawn(move || {
            // Three lines per write, one write per file in turn.
            let pace = Duration::from_micros(3_000_000 / rate);
            let start = Instant::now();
            let mut born = vec![start; pods];
            let mut writes = 0u64;
            while !s.load(Ordering::Relaxed) {
                let mut files = f.lock().unwrap();
                let n = files.len();
                let file = &mut files[(writes as usize) % n];
                file.write(3);
                writes += 1;
                if rotate_every > 0 && writes % rotate_every == 0 {
                    let i = (writes / rotate_every) as usize % n;
                    if born[i].elapsed() >= Duration::from_secs(5) {
                        files[i].rotate(Rotation::Rename);
                        born[i] = Instant::now();
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(files);
                let next = start + pace * writes as u32;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Writer {
            files,
            stop,
            rotations,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("writer panicked");
        }
        let files = self.files.lock().unwrap();
        let ids = files.iter().flat_map(|f| f.ids()).collect();
        (ids, self.rotations.load(Ordering::Relaxed))
    }
}

/// Waits until every id arrived (or nothing new came for 10 s), then lets
/// late copies land, and tallies.
fn settle(out: &Path, ids: Vec<String>) -> Tally {
    let mut got = ReceivedIds::default();
    let (mut last, mut since) = (u64::MAX, Instant::now());
    poll_every(Duration::from_secs(90), Duration::from_millis(200), || {
        got.refresh(out);
        if got.has_all(ids.iter().map(String::as_str)) {
            return Some(());
        }
        if got.records != last {
            (last, since) = (got.records, Instant::now());
        }
        (since.elapsed() >= Duration::from_secs(10)).then_some(())
    });
    loop {
        let before = got.records;
        thread::sleep(Duration::from_millis(1_500));
        if got.refresh(out).records == before {
            break;
        }
    }
    Tally::of(ids, &got)
}

fn report(test: &str, t: &Tally, logs: &str) -> f64 {
    let share = t.duplicates as f64 / t.sent.max(1) as f64;
    eprintln!("{}; duplicated {:.2} %", t.summary(test), share * 100.0);
    assert!(
        t.lost.is_empty(),
        "{test}: {} lost, first {:?}\n{logs}",
        t.lost.len(),
        &t.lost[..t.lost.len().min(10)]
    );
    assert!(t.unexpected.is_empty(), "{test}: {:?}", t.unexpected);
    share
}

fn receiver() -> Rsyslog {
    Rsyslog::start(Options::new(Input::Relp { tls: false }).direct_queue())
}

/// 2 → 3 → 1 replicas while 1500 lines/s go to 48 pod directories, each
/// rotated, with one replica killed -9 and restarted at 3 (about 45,000
/// lines in all); then a last run over the shared state that must ship
/// nothing again.
#[test]
fn rescale_two_three_one_with_a_kill_loses_nothing_and_duplicates_little() {
    let test = "rescale";
    let rsyslog = receiver();
    let mut fleet = Fleet::new(&rsyslog, Fixture::new());
    let r0 = fleet.start(0, 2);
    let r1 = fleet.start(1, 2);
    r0.wait_started();
    r1.wait_started();
    let writer = Writer::start(&fleet.fx, 48, 1_500, 150);
    thread::sleep(Duration::from_secs(6));
    let before = fleet.owners(&[&r0, &r1]);
    let mut logs = String::new();

    // Rollout to 3: the new ordinal first, then each old one restarted
    // with the new count (the others run with a stale n meanwhile).
    let r2 = fleet.start(2, 3);
    thread::sleep(Duration::from_secs(2));
    logs += &r0.stop();
    let r0 = fleet.start(0, 3);
    thread::sleep(Duration::from_secs(2));
    logs += &r1.stop();
    let r1 = fleet.start(1, 3);
    thread::sleep(Duration::from_secs(4));
    let after = fleet.owners(&[&r0, &r1, &r2]);
    let common: Vec<&String> = before.keys().filter(|k| after.contains_key(*k)).collect();
    let moved = common.iter().filter(|k| before[**k] != after[**k]).count();

    // A kill -9 at 3, and a restart.
    let mut seen = ReceivedIds::default();
    seen.refresh(&rsyslog.output_path());
    let dups_before_kill: u64 = seen.counts.values().map(|n| u64::from(n - 1)).sum();
    logs += &r1.kill();
    thread::sleep(Duration::from_secs(1));
    let r1 = fleet.start(1, 3);
    thread::sleep(Duration::from_secs(8));

    // Down to 1: the highest ordinals go first, then 0 restarts as 0/1.
    logs += &r2.stop();
    logs += &r1.stop();
    logs += &r0.stop();
    let r0 = fleet.start(0, 1);
    thread::sleep(Duration::from_secs(6));
    let (ids, rotations) = writer.finish();
    let tally = settle(&rsyslog.output_path(), ids);
    logs += &r0.stop();

    // The last run over the shared state ships nothing old.
    let records = rsyslog.count();
    let last = fleet.start(0, 1);
    last.wait_started();
    thread::sleep(Duration::from_secs(4));
    let again = rsyslog.count() - records;
    logs += &last.stop();

    eprintln!(
        "{test}: 48 pod directories, {rotations} rotations; {moved} of {} directories ({:.1} %) changed replica going 2 → 3",
        common.len(),
        100.0 * moved as f64 / common.len().max(1) as f64
    );
    eprintln!(
        "{test}: {dups_before_kill} duplicates before the kill -9, {} after it",
        tally.duplicates.saturating_sub(dups_before_kill)
    );
    let share = report(test, &tally, &logs);
    assert!(
        share <= 0.05,
        "{test}: {:.2} % duplicated\n{logs}",
        share * 100.0
    );
    assert_eq!(again, 0, "the last run shipped {again} lines again\n{logs}");
    assert!(common.len() >= 40, "claims seen: {before:?} {after:?}");
    assert!(
        moved * 100 <= common.len() * 50,
        "{moved} of {} moved: not a rendezvous hash",
        common.len()
    );
    assert!(logs.contains("took the unit over"), "{logs}");
}

/// Two relays started with the same shard: each directory is shipped by
/// one of them at a time (nothing arrives twice while both run); when the
/// one holding more dies (kill -9), the other takes its directories over
/// and loses nothing (duplicates: what the dead one had confirmed since
/// its last checkpoint store).
#[test]
fn two_replicas_with_the_same_shard_ship_each_line_once() {
    let test = "same-shard";
    let rsyslog = receiver();
    let mut fleet = Fleet::new(&rsyslog, Fixture::new());
    let a = fleet.start(0, 1);
    let b = fleet.start(0, 1);
    a.wait_started();
    b.wait_started();
    let writer = Writer::start(&fleet.fx, 12, 600, 0);
    thread::sleep(Duration::from_secs(4));
    let claims = fleet.claims();
    let (ida, idb) = (a.instance().unwrap(), b.instance().unwrap());
    let held = |id: &str| claims.values().filter(|v| *v == id).count();
    eprintln!(
        "{test}: claims after 4 s: {} and {} of 12",
        held(&ida),
        held(&idb)
    );
    assert_eq!(
        held(&ida) + held(&idb),
        12,
        "one owner per directory: {claims:?}"
    );
    // While both live, nothing arrived twice.
    let mut seen = ReceivedIds::default();
    seen.refresh(&rsyslog.output_path());
    let twice = seen.counts.values().filter(|n| **n > 1).count();
    assert_eq!(
        twice, 0,
        "{twice} lines arrived twice while both relays ran"
    );
    // The one holding more directories dies; the other takes them over.
    let (dead, alive) = if held(&ida) >= held(&idb) {
        (a, b)
    } else {
        (b, a)
    };
    let mut logs = dead.kill();
    thread::sleep(Duration::from_secs(5));
    let (ids, _) = writer.finish();
    let tally = settle(&rsyslog.output_path(), ids);
    let alive_log = alive.stop();
    report(test, &tally, &(logs.clone() + &alive_log));
    logs += &alive_log;
    assert!(alive_log.contains("took the unit over"), "{logs}");
}

/// Replicas of a new count start while the old ones still run with the
/// old count (a rollout): no directory is shipped by two at once, and the
/// clean handovers after the old ones stop cost no duplicate.
#[test]
fn replicas_with_a_stale_count_during_a_rollout_never_ship_a_directory_twice() {
    let test = "stale-count";
    let rsyslog = receiver();
    let mut fleet = Fleet::new(&rsyslog, Fixture::new());
    let old0 = fleet.start(0, 2);
    let old1 = fleet.start(1, 2);
    old0.wait_started();
    old1.wait_started();
    let writer = Writer::start(&fleet.fx, 24, 900, 200);
    thread::sleep(Duration::from_secs(3));
    let new: Vec<Replica> = (0..3).map(|i| fleet.start(i, 3)).collect();
    for r in &new {
        r.wait_started();
    }
    thread::sleep(Duration::from_secs(4));
    let mut logs = old0.stop();
    logs += &old1.stop();
    thread::sleep(Duration::from_secs(5));
    let (ids, _) = writer.finish();
    let tally = settle(&rsyslog.output_path(), ids);
    for r in new {
        logs += &r.stop();
    }
    let share = report(test, &tally, &logs);
    assert!(
        tally.duplicates * 200 <= tally.sent,
        "{test}: {:.2} % duplicated with clean handovers only\n{logs}",
        share * 100.0
    );
    assert!(logs.contains("took the unit over"), "{logs}");
}
