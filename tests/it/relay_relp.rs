//! Delivery guarantees of the relay binary: RELP to rsyslog's imrelp (plain
//! and TLS) with per-message acknowledgements, receiver restarts over RELP and
//! over RFC 5425 TLS (the resend window), a `500` answer that must be resent,
//! and offsets that are not confirmed before the server answered.
//!
//! Every test ships numbered lines (`id=N`) and counts what arrived: the
//! lost ones (must be none) and the duplicates (reported).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::process::{cpu_seconds, loopback_listener};
use crate::support::relay::{
    append, relay_config, relp_output, tls_output, Fixture, ReceivedIds, Relay, Tally,
};
use crate::support::relp;
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::{wait_until, POLL};

const WAIT: Duration = Duration::from_secs(60);

/// Writes the config with `output` as the `[output]` table's body.
fn write_config(fx: &Fixture, output: &str) {
    write_config_with(fx, output, "20s");
}

fn write_config_with(fx: &Fixture, output: &str, shutdown_timeout: &str) {
    let top = format!("shutdown_timeout = \"{shutdown_timeout}\"\n");
    let source = format!(
        "[[source]]\npaths = [\"{}/*.log\"]\napp_name = \"relptest\"\nfacility = \"local0\"\nseverity = \"info\"\npoll_interval = \"100ms\"\n",
        fx.root.display()
    );
    fx.write_config(&relay_config(&fx.state, &top, &source, output));
}

fn relp_to(fx: &Fixture, port: u16, tls: bool) -> String {
    relp_output(port, tls.then_some(&fx.pki), None)
}

fn tls_to(fx: &Fixture, port: u16) -> String {
    tls_output(port, &fx.pki.ca, &fx.pki, None)
}

/// Appends lines `id=from` … `id=from+n-1` to `app.log`, in one write.
fn write_lines(fx: &Fixture, from: usize, n: usize) {
    let mut text = String::with_capacity(n * 120);
    for i in from..from + n {
        text.push_str(&format!(
            "id={i} GET /api/v4/projects/{i}/merge_requests status=200 duration_s=0.0{}\n",
            i % 97
        ));
    }
    append(&fx.root.join("app.log"), &text);
}

/// How many times each id `0..n` arrived among `msgs`.
fn tally(msgs: impl IntoIterator<Item = String>, n: usize) -> Tally {
    let mut got = ReceivedIds::default();
    for msg in msgs {
        assert!(
            got.add(msg.as_bytes()),
            "message without a numeric id: {msg}"
        );
    }
    Tally::of((0..n).map(|i| i.to_string()), &got)
}

fn rsyslog_tally(rsyslog: &Rsyslog, n: usize) -> Tally {
    tally(rsyslog.messages().into_iter().map(|r| r.msg), n)
}

/// Waits until every id below `n` arrived at rsyslog; panics with the logs if not.
fn wait_all_ids(rsyslog: &Rsyslog, relay: &Relay, n: usize) -> Tally {
    let ok = rsyslog.wait_count(n, WAIT)
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
        t.records,
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
    write_config(&fx, &relp_to(&fx, rsyslog.port(), tls));
    write_lines(&fx, 0, N);
    let started = Instant::now();
    let mut relay = fx.start_relay();
    let t = wait_all_ids(&rsyslog, &relay, N);
    let elapsed = started.elapsed();
    eprintln!(
        "RELP tls={tls}: {N} lines in {:.2}s = {:.0} msg/s, {} duplicates; CPU s: relay {:.2}, rsyslogd {:.2}",
        elapsed.as_secs_f64(),
        N as f64 / elapsed.as_secs_f64(),
        t.duplicates,
        cpu_seconds(relay.pid()).unwrap_or(0.0),
        rsyslog.pid().and_then(|p| cpu_seconds(p as i32)).unwrap_or(0.0),
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
        t.records, N as u64,
        "exactly {N} records, no duplicates without a fault"
    );
    assert!(
        !rsyslog.diagnostics().contains("error"),
        "{}",
        rsyslog.diagnostics()
    );
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
    write_config(&fx, &output(&fx, rsyslog.port()));
    let mut relay = fx.start_relay();
    thread::scope(|scope| {
        let fx = &fx;
        scope.spawn(move || {
            for from in (0..n).step_by(CHUNK) {
                write_lines(fx, from, CHUNK.min(n - from));
                thread::sleep(Duration::from_millis(20));
            }
        });
        for k in 1..=restarts {
            // Mid-stream: some lines arrived, most are still to come.
            let at = k * n / (restarts + 2);
            assert!(
                rsyslog.wait_count(at, WAIT),
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
        t.records
    );
    t
}

/// Over RELP, restarting rsyslog three times mid-stream loses no line.
#[test]
fn relp_loses_nothing_when_the_receiver_restarts() {
    let t = survives_receiver_restarts(
        Input::Relp { tls: false },
        |fx, port| relp_to(fx, port, false),
        60_000,
    );
    assert!(t.lost.is_empty());
}

/// Over RFC 5425 TLS, the resend window makes three receiver restarts
/// cost duplicates, not lines.
#[test]
fn tls_resend_window_loses_nothing_when_the_receiver_restarts() {
    let t = survives_receiver_restarts(Input::tls(), tls_to, 200_000);
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
        let listener = loopback_listener();
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
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(POLL),
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
    mut conn: TcpStream,
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
    // The client may be gone already (it hangs up after a 500): not our error.
    let rsp = |out: &mut TcpStream, txnr: u64, data: &str| {
        let _gone = out.write_all(&relp::encode(txnr, "rsp", data.as_bytes()));
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match conn.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
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
        while let Some(frame) = relp::take_frame(&mut buf).expect("a RELP frame from the relay") {
            let txnr = frame.txnr;
            let data = String::from_utf8(frame.data).unwrap();
            match frame.command.as_str() {
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
}
/// A `500` answer is not a drop: the refused message is sent again on a new
/// session, and the refusal is logged with the peer and the server's text.
#[test]
fn relp_500_answer_is_resent_not_dropped() {
    const N: usize = 20;
    let fx = Fixture::new();
    let server = FakeRelp::start(Answer::RefuseFirst);
    write_config(&fx, &relp_to(&fx, server.port, false));
    write_lines(&fx, 0, N);
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
    assert!(
        received.records > N as u64,
        "the refused message was sent again"
    );
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
    write_config_with(&fx, &relp_to(&fx, silent.port, false), "1s");
    write_lines(&fx, 0, N);
    let mut relay = fx.start_relay();
    assert!(
        wait_until(WAIT, || silent.received().len() >= N),
        "{}",
        relay.log()
    );
    let status = relay.stop(Duration::from_secs(20)).expect("relay status");
    assert!(status.success(), "{}", relay.log());
    let answering = FakeRelp::start(Answer::Ok);
    write_config(&fx, &relp_to(&fx, answering.port, false));
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
