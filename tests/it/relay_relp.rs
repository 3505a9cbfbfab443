//! Delivery guarantees of the relay binary: RELP to rsyslog's imrelp (plain
//! and TLS) with per-message acknowledgements, receiver restarts over RELP and
//! over RFC 5425 TLS (the resend window), a `500` answer that must be resent,
//! and offsets that are not confirmed before the server answered.
//!
//! Every test ships numbered lines (`id=N`) and counts what arrived: the
//! lost ones (must be none) and the duplicates (reported).

use crate::support;
use crate::support::relay as relay_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use relay_support::{append, id_of, Relay};
use support::certs::TestPki;
use support::rsyslog::{Input, Options, Rsyslog};
use support::wait_until;

const WAIT: Duration = Duration::from_secs(60);

/// A log directory, a state directory, a PKI and the relay's config.
struct Fixture {
    _tmp: tempfile::TempDir,
    logs: PathBuf,
    state: PathBuf,
    config: PathBuf,
    stderr: PathBuf,
    pki: TestPki,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let logs = tmp.path().join("logs");
        let pki_dir = tmp.path().join("pki");
        fs::create_dir_all(&logs).unwrap();
        fs::create_dir_all(&pki_dir).unwrap();
        Fixture {
            pki: TestPki::new(&pki_dir),
            state: tmp.path().join("state"),
            config: tmp.path().join("relay.toml"),
            stderr: tmp.path().join("relay.stderr"),
            logs,
            _tmp: tmp,
        }
    }

    /// Writes the config with `output` as the `[output]` table's body.
    fn write_config(&self, output: &str) {
        self.write_config_with(output, "20s");
    }

    fn write_config_with(&self, output: &str, shutdown_timeout: &str) {
        let text = format!(
            r#"
state_dir = "{state}"
shutdown_timeout = "{shutdown_timeout}"

[[source]]
paths = ["{logs}/*.log"]
app_name = "relptest"
facility = "local0"
severity = "info"
poll_interval = "100ms"

[output]
{output}
"#,
            state = self.state.display(),
            logs = self.logs.display(),
        );
        fs::write(&self.config, text).unwrap();
    }

    fn relp(&self, port: u16, tls: bool) -> String {
        let mut out = format!("type = \"relp\"\naddress = \"127.0.0.1:{port}\"\n");
        if tls {
            out += &format!(
                "tls = true\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                self.pki.ca.display(),
                self.pki.client_cert.display(),
                self.pki.client_key.display()
            );
        }
        out
    }

    fn tls(&self, port: u16) -> String {
        relay_support::tls_output(port, &self.pki.ca, &self.pki, None)
    }

    /// Appends lines `id=from` … `id=from+n-1` to `app.log`, in one write.
    fn write_lines(&self, from: usize, n: usize) {
        let mut text = String::with_capacity(n * 120);
        for i in from..from + n {
            text.push_str(&format!(
                "id={i} GET /api/v4/projects/{i}/merge_requests status=200 duration_s=0.0{}\n",
                i % 97
            ));
        }
        append(&self.logs.join("app.log"), &text);
    }

    fn start_relay(&self) -> Relay {
        Relay::start(support::reaplog_bin(), &self.config, &self.stderr)
    }
}

/// How many times each id arrived.
struct Tally {
    lost: Vec<usize>,
    duplicates: usize,
    total: usize,
}

fn tally(msgs: impl IntoIterator<Item = String>, n: usize) -> Tally {
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut total = 0;
    for msg in msgs {
        total += 1;
        let id = id_of(&msg)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("message without a numeric id: {msg}"));
        *seen.entry(id).or_default() += 1;
    }
    Tally {
        lost: (0..n).filter(|i| !seen.contains_key(i)).collect(),
        duplicates: seen.values().map(|c| c - 1).sum(),
        total,
    }
}

fn rsyslog_tally(rsyslog: &Rsyslog, n: usize) -> Tally {
    tally(rsyslog.messages().into_iter().map(|r| r.msg), n)
}

/// Waits until every id below `n` arrived at rsyslog; panics with the logs if not.
fn wait_all_ids(rsyslog: &Rsyslog, relay: &Relay, n: usize) -> Tally {
    let ok = wait_count(rsyslog, n)
        && wait_until(WAIT, || {
            thread::sleep(Duration::from_millis(200));
            rsyslog.count() >= n && rsyslog_tally(rsyslog, n).lost.is_empty()
        });
    let t = rsyslog_tally(rsyslog, n);
    assert!(
        ok,
        "lost {} of {n} lines (first {:?}); {} arrived\nrelay log:\n{}\n{}",
        t.lost.len(),
        &t.lost[..t.lost.len().min(10)],
        t.total,
        relay.log(),
        rsyslog.diagnostics()
    );
    t
}

/// Ships 100,000 lines over RELP to imrelp and reports the rate.
fn ships_100k_lines_over_relp(tls: bool) {
    const N: usize = 100_000;
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::Relp { tls }).pki(&fx.pki));
    fx.write_config(&fx.relp(rsyslog.port(), tls));
    fx.write_lines(0, N);
    let started = Instant::now();
    let mut relay = fx.start_relay();
    let t = wait_all_ids(&rsyslog, &relay, N);
    let elapsed = started.elapsed();
    eprintln!(
        "RELP tls={tls}: {N} lines in {:.2}s = {:.0} msg/s, {} duplicates; CPU s: relay {:.2}, rsyslogd {:.2}",
        elapsed.as_secs_f64(),
        N as f64 / elapsed.as_secs_f64(),
        t.duplicates,
        cpu_seconds(relay.pid()),
        rsyslog.pid().map_or(0.0, cpu_seconds),
    );
    let status = relay.stop(Duration::from_secs(20)).expect("relay status");
    assert!(status.success(), "{}", relay.log());
    // The drain ended with RELP close, not with the shutdown deadline.
    assert!(
        !relay.log().contains("did not take the queued lines") && !relay.log().contains("WARN"),
        "{}",
        relay.log()
    );
    let t = rsyslog_tally(&rsyslog, N);
    assert_eq!(
        t.total, N,
        "exactly {N} records, no duplicates without a fault"
    );
    assert!(
        !rsyslog.diagnostics().contains("error"),
        "{}",
        rsyslog.diagnostics()
    );
}

/// User + system CPU seconds of process `pid` so far (from /proc).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// 100,000 numbered lines over plain RELP all arrive, each exactly once.
#[test]
fn relp_delivers_100k_lines_exactly_once() {
    ships_100k_lines_over_relp(false);
}

/// 100,000 numbered lines over RELP inside mutual TLS all arrive, each exactly once.
#[test]
fn relp_over_tls_delivers_100k_lines_exactly_once() {
    ships_100k_lines_over_relp(true);
}

/// Lines appended per write while a test streams.
const CHUNK: usize = 1_000;

/// Polls the receiver's record count every 100 ms (reading a large output
/// file every 10 ms would steal the CPU the relay and rsyslog need).
fn wait_count(rsyslog: &Rsyslog, at_least: usize) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if rsyslog.count() >= at_least {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Streams `n` lines (1,000 every 20 ms: 50,000 lines/s, faster than RELP
/// ships, a steady flow for TLS)
/// and restarts the receiver three times mid-stream; returns the tally
/// once every line arrived.
fn survives_receiver_restarts(
    input: Input,
    output: impl Fn(&Fixture, u16) -> String,
    n: usize,
) -> Tally {
    let restarts = 3;
    let fx = Fixture::new();
    let mut rsyslog = Rsyslog::start(Options::new(input).pki(&fx.pki));
    fx.write_config(&output(&fx, rsyslog.port()));
    let mut relay = fx.start_relay();
    thread::scope(|scope| {
        let fx = &fx;
        scope.spawn(move || {
            for from in (0..n).step_by(CHUNK) {
                fx.write_lines(from, CHUNK.min(n - from));
                thread::sleep(Duration::from_millis(20));
            }
        });
        for k in 1..=restarts {
            // Mid-stream: some lines arrived, most are still to come.
            let at = k * n / (restarts + 2);
            assert!(
                wait_count(&rsyslog, at),
                "stuck before restart {k}: {} arrived\n{}",
                rsyslog.count(),
                relay.log()
            );
            let before = (rsyslog.pid(), rsyslog.count());
            rsyslog.restart();
            if std::env::var_os("REAPLOG_TEST_SHOW_LOG").is_some() {
                eprintln!("restart {k} at {before:?} -> pid {:?}", rsyslog.pid());
            }
        }
    });
    let t = wait_all_ids(&rsyslog, &relay, n);
    if std::env::var_os("REAPLOG_TEST_SHOW_LOG").is_some() {
        eprintln!("{}", relay.log());
    }
    let status = relay.stop(Duration::from_secs(20)).expect("relay status");
    assert!(status.success(), "{}", relay.log());
    eprintln!(
        "{restarts} receiver restarts: {n} lines, {} lost, {} duplicates ({} records)",
        t.lost.len(),
        t.duplicates,
        t.total
    );
    t
}

/// Over RELP, restarting rsyslog three times mid-stream loses no line.
#[test]
fn relp_loses_nothing_when_the_receiver_restarts() {
    let t = survives_receiver_restarts(
        Input::Relp { tls: false },
        |fx, port| fx.relp(port, false),
        60_000,
    );
    assert!(t.lost.is_empty());
}

/// Over RFC 5425 TLS, the resend window makes three receiver restarts
/// cost duplicates, not lines.
#[test]
fn tls_resend_window_loses_nothing_when_the_receiver_restarts() {
    let t = survives_receiver_restarts(Input::tls(), |fx, port| fx.tls(port), 200_000);
    assert!(t.lost.is_empty());
}

/// Plain `tcp` keeps the same resend window: receiver restarts cost
/// duplicates, not lines.
#[test]
fn tcp_resend_window_loses_nothing_when_the_receiver_restarts() {
    let t = survives_receiver_restarts(
        Input::PlainTcp,
        |_, port| format!("type = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n"),
        200_000,
    );
    assert!(t.lost.is_empty());
}

/// What a fake RELP server does with `syslog` commands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `200 OK` to all.
    Ok,
    /// `500` to the first `syslog` command it ever gets, then `200 OK`.
    RefuseFirst,
    /// Nothing: the commands stay unanswered.
    Never,
}

/// An in-test RELP server on a loopback port: enough of imrelp to test the
/// client's handling of answers it cannot provoke from rsyslog.
struct FakeRelp {
    port: u16,
    /// Every `syslog` DATA received, in order (resends included).
    received: Arc<Mutex<Vec<String>>>,
    /// DATA of the commands answered `200 OK`.
    accepted: Arc<Mutex<Vec<String>>>,
    refusals: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FakeRelp {
    fn start(answer: Answer) -> FakeRelp {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refusals = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, a, f, s) = (
            Arc::clone(&received),
            Arc::clone(&accepted),
            Arc::clone(&refusals),
            Arc::clone(&stop),
        );
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => serve_relp(conn, answer, &r, &a, &f, &s),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(support::POLL)
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        FakeRelp {
            port,
            received,
            accepted,
            refusals,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Drop for FakeRelp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one connection until the client closes it (or `stop`).
fn serve_relp(
    conn: TcpStream,
    answer: Answer,
    received: &Mutex<Vec<String>>,
    accepted: &Mutex<Vec<String>>,
    refusals: &Mutex<usize>,
    stop: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut rd = BufReader::new(conn);
    // The client may be gone already (it hangs up after a 500): not our error.
    let rsp = |out: &mut TcpStream, txnr: &str, data: &str| {
        let frame = format!("{txnr} rsp {} {data}\n", data.len());
        let _gone = out.write_all(frame.as_bytes());
    };
    let mut header = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // "TXNR SP COMMAND SP DATALEN", then SP DATA (if DATALEN > 0), then LF.
        match rd.read_until(b' ', &mut header) {
            Ok(0) => return,
            Ok(_) if header.iter().filter(|&&b| b == b' ').count() < 2 => continue,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let mut len = Vec::new();
        read_until_blocking(&mut rd, &mut len, stop);
        let head = String::from_utf8(std::mem::take(&mut header)).unwrap();
        let mut parts = head.split(' ');
        let (txnr, command) = (parts.next().unwrap(), parts.next().unwrap());
        let len: usize = String::from_utf8_lossy(&len).trim().parse().unwrap();
        let mut data = vec![0; len];
        if len > 0 {
            read_exact_blocking(&mut rd, &mut data, stop);
            let mut lf = [0u8];
            read_exact_blocking(&mut rd, &mut lf, stop);
        }
        let data = String::from_utf8(data).unwrap();
        match command {
            "open" => rsp(
                &mut out,
                txnr,
                "200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog",
            ),
            "close" => {
                rsp(&mut out, txnr, "200 OK");
                return;
            }
            "syslog" => {
                received.lock().unwrap().push(data.clone());
                let mut refused = refusals.lock().unwrap();
                match answer {
                    Answer::RefuseFirst if *refused == 0 => {
                        *refused += 1;
                        rsp(&mut out, txnr, "500 fake refusal for the test");
                    }
                    Answer::Never => {}
                    _ => {
                        accepted.lock().unwrap().push(data);
                        rsp(&mut out, txnr, "200 OK");
                    }
                }
            }
            other => panic!("unexpected RELP command {other}"),
        }
    }
}

/// Reads DATALEN up to its SP or LF (the LF of a DATALEN 0 frame ends it).
fn read_until_blocking(rd: &mut BufReader<TcpStream>, out: &mut Vec<u8>, stop: &AtomicBool) {
    let mut b = [0u8];
    while !stop.load(Ordering::Relaxed) {
        match rd.read(&mut b) {
            Ok(1) if b[0] == b' ' || b[0] == b'\n' => return,
            Ok(1) => out.push(b[0]),
            Ok(_) => return,
            Err(_) => continue,
        }
    }
}

fn read_exact_blocking(rd: &mut BufReader<TcpStream>, buf: &mut [u8], stop: &AtomicBool) {
    let mut got = 0;
    while got < buf.len() && !stop.load(Ordering::Relaxed) {
        match rd.read(&mut buf[got..]) {
            Ok(0) => return,
            Ok(n) => got += n,
            Err(_) => continue,
        }
    }
}

/// A `500` answer is not a drop: the refused message is sent again on a new
/// session, and the refusal is logged with the peer and the server's text.
#[test]
fn relp_500_answer_is_resent_not_dropped() {
    const N: usize = 20;
    let fx = Fixture::new();
    let server = FakeRelp::start(Answer::RefuseFirst);
    fx.write_config(&fx.relp(server.port, false));
    fx.write_lines(0, N);
    let mut relay = fx.start_relay();
    let ok = wait_until(WAIT, || tally(server.accepted(), N).lost.is_empty());
    assert!(
        ok,
        "accepted {:?}\nrelay log:\n{}",
        server.accepted(),
        relay.log()
    );
    assert_eq!(*server.refusals.lock().unwrap(), 1);
    let received = tally(server.received(), N);
    assert!(received.total > N, "the refused message was sent again");
    let log = relay.log();
    assert!(
        log.contains("fake refusal for the test")
            && log.contains(&format!("127.0.0.1:{}", server.port)),
        "{log}"
    );
    relay.stop(Duration::from_secs(20));
}

/// Shows that confirmation waits for the server: messages a server never
/// answers are not checkpointed. The relay is stopped with a short drain
/// deadline (the final checkpoint holds only what was answered), and a new
/// relay sends every line again to a server that answers.
#[test]
fn relp_unanswered_messages_are_not_confirmed() {
    const N: usize = 50;
    let fx = Fixture::new();
    let silent = FakeRelp::start(Answer::Never);
    fx.write_config_with(&fx.relp(silent.port, false), "1s");
    fx.write_lines(0, N);
    let mut relay = fx.start_relay();
    assert!(
        wait_until(WAIT, || silent.received().len() >= N),
        "{}",
        relay.log()
    );
    let status = relay.stop(Duration::from_secs(20)).expect("relay status");
    assert!(status.success(), "{}", relay.log());
    let answering = FakeRelp::start(Answer::Ok);
    fx.write_config(&fx.relp(answering.port, false));
    let mut relay = fx.start_relay();
    let ok = wait_until(WAIT, || tally(answering.accepted(), N).lost.is_empty());
    assert!(
        ok,
        "after the stop, only {} of {N} were sent again\n{}",
        answering.accepted().len(),
        relay.log()
    );
    relay.stop(Duration::from_secs(20));
}
