//! Several receiver targets (`[output] address` as a list): failover,
//! failback, `connect_timeout` and `write_timeout`, against real rsyslogs,
//! a half-open peer (accepts TCP, never answers) and the fault proxy.
//!
//! Every case writes numbered lines at a steady 1000 lines/s while the
//! fault happens, then checks the union of what the receivers stored: no
//! line lost, duplicates counted. Each prints, for the closing notes and
//! benches/RESULTS.md, how long lines took to flow again:
//!
//! ```text
//! cargo test --test it relay_failover -- --nocapture --test-threads 1
//! ```
//!
//! Timeouts are short so the suite stays fast: connect 1 s, write 2 s,
//! failback after 3 s. Time bounds asserted are loose (several times the
//! configured timeouts): they tell "moved on" from "stuck", not speed.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::process::poll_every;
use crate::support::proxy::Proxy;
use crate::support::relay::{
    count_lines, gitlab_source, http_get, relay_config, relp_output, sample, tls_output, Fixture,
    NumberedFile, ReceivedIds, Relay, Tally,
};
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::{free_port, wait_until};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const FAILBACK_AFTER: Duration = Duration::from_secs(3);
/// Lines flow again within this long of a fault, or the relay is stuck.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// The output protocol under test.
#[derive(Clone, Copy, Debug)]
enum Proto {
    /// RFC 5425 with mutual TLS.
    Tls,
    /// RELP inside mutual TLS.
    Relp,
    /// RELP over plain TCP (the RELP `open` is what a half-open peer blocks).
    RelpPlain,
}

impl Proto {
    fn input(self) -> Input {
        match self {
            Proto::Tls => Input::tls(),
            Proto::Relp => Input::Relp { tls: true },
            Proto::RelpPlain => Input::Relp { tls: false },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Proto::Tls => "tls",
            Proto::Relp => "relp",
            Proto::RelpPlain => "relp-plain",
        }
    }

    /// The `[output]` body for these target ports, in order, with the
    /// test's short timeouts.
    fn output(self, fx: &Fixture, ports: &[u16]) -> String {
        let base = match self {
            Proto::Tls => tls_output(ports[0], &fx.pki.ca, &fx.pki, Some("localhost")),
            Proto::Relp => relp_output(ports[0], Some(&fx.pki), Some("localhost")),
            Proto::RelpPlain => relp_output(ports[0], None, None),
        };
        let list: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        let one = format!("address = \"127.0.0.1:{}\"", ports[0]);
        assert!(base.contains(&one), "{base}");
        format!(
            "{}connect_timeout = \"{}ms\"\nwrite_timeout = \"{}ms\"\nfailback_after = \"{}ms\"\n",
            base.replacen(&one, &format!("address = [{}]", list.join(", ")), 1),
            CONNECT_TIMEOUT.as_millis(),
            WRITE_TIMEOUT.as_millis(),
            FAILBACK_AFTER.as_millis(),
        )
    }
}

/// A receiver for `proto`, writing each message before taking the next
/// (a SIGKILL then loses only what the kernel buffered).
fn receiver(fx: &Fixture, proto: Proto) -> Rsyslog {
    Rsyslog::start(Options::new(proto.input()).pki(&fx.pki).direct_queue())
}

fn receiver_on(fx: &Fixture, proto: Proto, port: u16) -> Rsyslog {
    Rsyslog::start(
        Options::new(proto.input())
            .pki(&fx.pki)
            .direct_queue()
            .port(port),
    )
}

/// Writes the relay's config (with `/metrics` on `metrics_port`).
fn write_config(fx: &Fixture, output: &str, metrics_port: u16) {
    let top = format!(
        "partial_line_timeout = \"1s\"\nshutdown_timeout = \"5s\"\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"
    );
    std::fs::create_dir_all(&fx.state).unwrap();
    fx.write_config(&relay_config(
        &fx.state,
        &top,
        &gitlab_source(&fx.root),
        output,
    ));
}

/// A peer that completes the TCP handshake and then never reads or
/// answers: an overloaded receiver, a broken load balancer, a stale NAT
/// entry. Dropping it closes the listener and every connection.
struct HalfOpen {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HalfOpen {
    fn start() -> HalfOpen {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (s, a) = (Arc::clone(&stop), Arc::clone(&accepted));
        let thread = thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        held.push(c);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HalfOpen {
            port,
            stop,
            accepted,
            thread: Some(thread),
        }
    }
}

impl Drop for HalfOpen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Appends numbered lines at 1000 lines/s (10 every 10 ms) until finished.
struct Pacer {
    file: Arc<Mutex<NumberedFile>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Pacer {
    fn start(file: NumberedFile) -> Pacer {
        let file = Arc::new(Mutex::new(file));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (Arc::clone(&file), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut ticks = 0u32;
            while !s.load(Ordering::Relaxed) {
                f.lock().unwrap().write(10);
                ticks += 1;
                let next = start + Duration::from_millis(10) * ticks;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Pacer {
            file,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> NumberedFile {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("pacer thread panicked");
        }
        let file = std::mem::replace(
            &mut self.file,
            Arc::new(Mutex::new(NumberedFile::new(PathBuf::new(), "x", 0))),
        );
        Arc::try_unwrap(file)
            .expect("the pacer thread is done")
            .into_inner()
            .unwrap()
    }
}

/// What several receivers stored, counted together.
struct Union {
    outs: Vec<(PathBuf, ReceivedIds)>,
}

impl Union {
    fn of(receivers: &[&Rsyslog]) -> Union {
        Union {
            outs: receivers
                .iter()
                .map(|r| (r.output_path(), ReceivedIds::default()))
                .collect(),
        }
    }

    fn refresh(&mut self) -> ReceivedIds {
        let mut all = ReceivedIds::default();
        for (path, ids) in &mut self.outs {
            ids.refresh(path);
            all.records += ids.records;
            for (id, n) in &ids.counts {
                *all.counts.entry(id.clone()).or_default() += n;
            }
        }
        all
    }
}

/// Waits until every line of `file` reached one of `receivers` (or nothing
/// new arrived for 10 s), lets late copies land, and tallies.
fn settle(file: &NumberedFile, receivers: &[&Rsyslog]) -> Tally {
    let mut union = Union::of(receivers);
    let ids: Vec<String> = file.ids().collect();
    let (mut last, mut since) = (u64::MAX, Instant::now());
    poll_every(Duration::from_secs(60), Duration::from_millis(200), || {
        let got = union.refresh();
        if got.has_all(ids.iter().map(String::as_str)) {
            return Some(());
        }
        if got.records != last {
            (last, since) = (got.records, Instant::now());
        }
        (since.elapsed() >= Duration::from_secs(10)).then_some(())
    });
    let mut before = union.refresh().records;
    loop {
        thread::sleep(Duration::from_millis(700));
        let now = union.refresh().records;
        if now == before {
            break;
        }
        before = now;
    }
    Tally::of(ids, &union.refresh())
}

/// Waits until `r` stored more than `from` records: the time it took.
fn flows_again(r: &Rsyslog, from: usize, what: &str, relay: &Relay) -> Duration {
    let t0 = Instant::now();
    assert!(
        wait_until(RECOVERY_BOUND, || r.count() > from),
        "{what}: no line arrived within {RECOVERY_BOUND:?}\n{}",
        relay.log()
    );
    t0.elapsed()
}

fn assert_none_lost(t: &Tally, test: &str, log: &str) {
    eprintln!("{}", t.summary(test));
    assert!(
        t.lost.is_empty(),
        "{test}: {} lines lost, first {:?}\n{log}",
        t.lost.len(),
        &t.lost[..t.lost.len().min(10)]
    );
    assert!(t.unexpected.is_empty(), "{test}: {:?}", t.unexpected);
}

/// The labels of target `index` at 127.0.0.1:`port` in `/metrics`.
fn target(port: u16, index: usize) -> String {
    format!("target=\"127.0.0.1:{port}\",target_index=\"{index}\"")
}

fn metric(metrics_port: u16, name: &str, labels: &str) -> Option<f64> {
    let (_, body) = http_get(metrics_port, "/metrics")?;
    let series = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}")
    };
    sample(&body, &series, "")
}

// ---------------------------------------------------------------------------
// A half-open peer first in the list, a real rsyslog second.

fn half_open_first(proto: Proto) {
    let test = format!("half-open-first-{}", proto.name());
    let fx = Fixture::new();
    let half_open = HalfOpen::start();
    let second = receiver(&fx, proto);
    let metrics_port = free_port();
    write_config(
        &fx,
        &proto.output(&fx, &[half_open.port, second.port()]),
        metrics_port,
    );
    let mut relay = fx.start_relay();
    let pacer = Pacer::start(fx.file("web-0/production_json.log", "h", 200));
    let took = flows_again(&second, 0, &test, &relay);
    thread::sleep(Duration::from_secs(2));
    let file = pacer.finish();
    let tally = settle(&file, &[&second]);
    // Metrics while still running: the half-open target timed out, the
    // second is current and up, the relay is ready.
    let timeouts = metric(
        metrics_port,
        "reaplog_target_failures_total",
        &format!("{},reason=\"timeout\"", target(half_open.port, 0)),
    );
    let current = metric(
        metrics_port,
        "reaplog_target_current",
        &target(second.port(), 1),
    );
    let up = metric(metrics_port, "reaplog_target_up", &target(second.port(), 1));
    let ready = metric(metrics_port, "reaplog_ready", "");
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    eprintln!(
        "{test}: first line at the second target {:.2} s after the first write",
        took.as_secs_f64()
    );
    assert_none_lost(&tally, &test, &log);
    assert!(half_open.accepted.load(Ordering::Relaxed) >= 1, "{log}");
    assert!(timeouts >= Some(1.0), "timeouts {timeouts:?}\n{log}");
    assert_eq!(
        (current, up, ready),
        (Some(1.0), Some(1.0), Some(1.0)),
        "{log}"
    );
    assert!(
        count_lines(&log, &["did not complete within connect_timeout"]) >= 1,
        "{log}"
    );
}

#[test]
fn tls_half_open_first_target_costs_one_connect_timeout() {
    half_open_first(Proto::Tls);
}

#[test]
fn relp_half_open_first_target_costs_one_connect_timeout() {
    half_open_first(Proto::Relp);
}

// ---------------------------------------------------------------------------
// The first target killed -9 mid-stream, restarted, failed back to.

fn killed_then_failback(proto: Proto) {
    let test = format!("kill-failback-{}", proto.name());
    let fx = Fixture::new();
    let mut first = receiver(&fx, proto);
    let second = receiver(&fx, proto);
    let metrics_port = free_port();
    write_config(
        &fx,
        &proto.output(&fx, &[first.port(), second.port()]),
        metrics_port,
    );
    let mut relay = fx.start_relay();
    let pacer = Pacer::start(fx.file("web-0/production_json.log", "k", 200));
    assert!(
        wait_until(RECOVERY_BOUND, || first.count() >= 2_000),
        "{test}: the first target got too little\n{}",
        relay.log()
    );
    first.kill();
    let failover = flows_again(&second, second.count(), &test, &relay);
    thread::sleep(Duration::from_secs(1));
    first.restart();
    let back = flows_again(&first, first.count(), &test, &relay);
    thread::sleep(Duration::from_secs(1));
    let file = pacer.finish();
    let tally = settle(&file, &[&first, &second]);
    let current = metric(
        metrics_port,
        "reaplog_target_current",
        &target(first.port(), 0),
    );
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    eprintln!(
        "{test}: lines at the second target {:.2} s after the kill; back at the restarted first {:.2} s after its restart",
        failover.as_secs_f64(),
        back.as_secs_f64()
    );
    assert_none_lost(&tally, &test, &log);
    assert_eq!(current, Some(1.0), "{log}");
    let (a, b) = (
        format!("127.0.0.1:{}", first.port()),
        format!("127.0.0.1:{}", second.port()),
    );
    assert_eq!(
        count_lines(&log, &["switched target", &a, &b]),
        2,
        "one line per switch, naming both targets\n{log}"
    );
    assert_eq!(
        count_lines(&log, &["switched target", "failback"]),
        1,
        "{log}"
    );
}

#[test]
fn tls_first_target_killed_fails_over_and_back() {
    killed_then_failback(Proto::Tls);
}

#[test]
fn relp_first_target_killed_fails_over_and_back() {
    killed_then_failback(Proto::Relp);
}

// ---------------------------------------------------------------------------
// One target whose handshake never completes; then a real receiver on the
// same port.

fn handshake_never_then_receiver(proto: Proto) {
    let test = format!("handshake-never-{}", proto.name());
    let fx = Fixture::new();
    let half_open = HalfOpen::start();
    let port = half_open.port;
    write_config(&fx, &proto.output(&fx, &[port]), free_port());
    let mut relay = fx.start_relay();
    let pacer = Pacer::start(fx.file("web-0/production_json.log", "n", 200));
    // Several connect_timeouts: the relay must keep trying, not hang.
    assert!(
        wait_until(RECOVERY_BOUND, || half_open
            .accepted
            .load(Ordering::Relaxed)
            >= 3),
        "{test}: the relay stopped trying\n{}",
        relay.log()
    );
    drop(half_open);
    let receiver = receiver_on(&fx, proto, port);
    let took = flows_again(&receiver, 0, &test, &relay);
    thread::sleep(Duration::from_secs(2));
    let file = pacer.finish();
    let tally = settle(&file, &[&receiver]);
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    eprintln!(
        "{test}: lines flowed {:.2} s after the receiver started on the port",
        took.as_secs_f64()
    );
    assert_none_lost(&tally, &test, &log);
    assert!(
        count_lines(&log, &["did not complete within connect_timeout"]) >= 2,
        "{log}"
    );
}

#[test]
fn tls_handshake_that_never_completes_is_timed_out_until_a_receiver_answers() {
    handshake_never_then_receiver(Proto::Tls);
}

#[test]
fn relp_handshake_that_never_completes_is_timed_out_until_a_receiver_answers() {
    handshake_never_then_receiver(Proto::Relp);
}

#[test]
fn plain_relp_open_that_never_completes_is_timed_out_until_a_receiver_answers() {
    handshake_never_then_receiver(Proto::RelpPlain);
}

// ---------------------------------------------------------------------------
// A blackhole between the relay and its first target.

fn blackhole_first(proto: Proto) {
    let test = format!("blackhole-{}", proto.name());
    let fx = Fixture::new();
    let first = receiver(&fx, proto);
    let second = receiver(&fx, proto);
    let proxy = Proxy::start(first.addr());
    write_config(
        &fx,
        &proto.output(&fx, &[proxy.port(), second.port()]),
        free_port(),
    );
    let mut relay = fx.start_relay();
    let pacer = Pacer::start(fx.file("web-0/production_json.log", "b", 200));
    assert!(
        wait_until(RECOVERY_BOUND, || first.count() >= 2_000),
        "{test}: the first target got too little\n{}",
        relay.log()
    );
    proxy.blackhole();
    let failover = flows_again(&second, second.count(), &test, &relay);
    // A failback probe meets the blackhole (handshake never completes)
    // and the relay stays on the second target.
    assert!(
        wait_until(RECOVERY_BOUND, || relay
            .log()
            .contains("first target still unavailable")),
        "{test}: no failback probe during the blackhole\n{}",
        relay.log()
    );
    proxy.forward();
    let healed = Instant::now();
    let before = first.count();
    assert!(
        wait_until(RECOVERY_BOUND, || {
            relay.log().matches("switched target").count() >= 2 && first.count() > before
        }),
        "{test}: no failback after the link healed\n{}",
        relay.log()
    );
    let back = healed.elapsed();
    thread::sleep(Duration::from_secs(1));
    let file = pacer.finish();
    let tally = settle(&file, &[&first, &second]);
    relay.stop(Duration::from_secs(10));
    let log = relay.log();
    eprintln!(
        "{test}: lines at the second target {:.2} s after the blackhole; failback {:.2} s after the link healed",
        failover.as_secs_f64(),
        back.as_secs_f64()
    );
    assert_none_lost(&tally, &test, &log);
    assert!(
        count_lines(&log, &["switched target", "(write_timeout)"]) == 1,
        "the switch names the stall\n{log}"
    );
    assert!(
        count_lines(&log, &["first target still unavailable"]) >= 1,
        "{log}"
    );
}

#[test]
fn tls_blackholed_first_target_is_given_up_after_write_timeout() {
    blackhole_first(Proto::Tls);
}

#[test]
fn relp_blackholed_first_target_is_given_up_after_write_timeout() {
    blackhole_first(Proto::Relp);
}
