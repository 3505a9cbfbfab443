//! Proves the shared test harness (`crate::support`) against the real
//! rsyslogd: every input variant receives exactly what a minimal client
//! sent, wrong peers are rejected, and restart/pause behave as their
//! fault-injection tests will need.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::certs::{TestPki, CLIENT_NAME, ELSEWHERE_NAME, SERVER_NAME};
use crate::support::process::signal;
use crate::support::relp;
use crate::support::rsyslog::{Input, Options, Received, Rsyslog, TlsAuth, TlsDriver};
use crate::support::tls::{self, BlockingTls};
use crate::support::tls_sink::{take_frames, SinkMode, SinkOptions, TlsSink};
use crate::support::wait_until;

const WAIT: Duration = Duration::from_secs(10);

/// One RFC 5424 message and the record rsyslog should make of it.
struct Sample {
    wire: String,
    expected: Received,
}

fn sample(fac: u8, sev: u8, host: &str, app: &str, msgid: &str, sd: &str, msg: &str) -> Sample {
    let ts = "2024-02-29T23:59:58.123456Z";
    Sample {
        wire: format!(
            "<{}>1 {ts} {host} {app} 4242 {msgid} {sd} {msg}",
            fac * 8 + sev
        ),
        expected: Received {
            facility: fac,
            severity: sev,
            timestamp: ts.into(),
            hostname: host.into(),
            app_name: app.into(),
            procid: "4242".into(),
            msgid: msgid.into(),
            structured_data: sd.into(),
            msg: msg.into(),
        },
    }
}

/// Plain ASCII, multi-byte UTF-8 with structured data, and ~7000 bytes
/// (under rsyslog's default 8096-byte limit).
fn samples() -> Vec<Sample> {
    let long: String = "0123456789abcdef".repeat(437); // 6992 bytes
    vec![
        sample(
            16,
            6,
            "web-1",
            "gitlab-rails",
            "api_json",
            "-",
            r#"{"severity":"INFO","path":"/api/v4"}"#,
        ),
        sample(
            19,
            3,
            "gitaly-0",
            "gitaly",
            "gitaly",
            r#"[meta@32473 pod="gitaly-0" q="a\"b"]"#,
            "Grüße, 世界 🦀 — done",
        ),
        sample(23, 7, "web-2", "puma", "current", "-", &long),
    ]
}

/// RFC 5425 octet counting: `MSG-LEN SP SYSLOG-MSG`.
fn octet_counted(samples: &[Sample]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|s| format!("{} {}", s.wire.len(), s.wire).into_bytes())
        .collect()
}

fn expected(samples: &[Sample]) -> Vec<Received> {
    samples.iter().map(|s| s.expected.clone()).collect()
}

fn mutual_client(pki: &TestPki, addr: SocketAddr) -> BlockingTls {
    let config = tls::client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    tls::connect(addr, config, SERVER_NAME).expect("TLS handshake with rsyslog")
}

/// Writes all frames in one go, then closes with close_notify and reads
/// to the end: unread bytes (TLS 1.3 session tickets) would make the kernel
/// answer our close with a reset that can overtake the close_notify.
fn send_tls(mut tls: BlockingTls, bytes: &[u8]) {
    tls.write_all(bytes).expect("write frames");
    tls.flush().expect("flush");
    tls.conn.send_close_notify();
    tls.conn
        .complete_io(&mut tls.sock)
        .expect("send close_notify");
    tls.sock.shutdown(Shutdown::Write).expect("shutdown");
    // The server may close without its own close_notify (rsyslog does):
    // an error here only ends the draining.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).ok();
}

fn assert_tls_input_receives(input: Input) {
    let (_dir, pki) = TestPki::temp();
    let rsyslog = Rsyslog::start(Options::new(input).pki(&pki));
    let samples = samples();
    send_tls(
        mutual_client(&pki, rsyslog.addr()),
        &octet_counted(&samples),
    );
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

/// The production input (imtcp, gtls, `x509/name`) records exactly the
/// frames the permitted client sent.
#[test]
fn gtls_x509_name_input_receives_frames_from_the_permitted_client() {
    assert_tls_input_receives(Input::TlsX509Name {
        permitted_peer: CLIENT_NAME.into(),
    });
}

/// The same over rsyslog's OpenSSL driver (`ossl`, `x509/name`).
#[test]
fn ossl_x509_name_input_receives_frames_from_the_permitted_client() {
    assert_tls_input_receives(ossl_name());
}

/// gtls with `x509/certvalid` takes any client certificate from the CA.
#[test]
fn gtls_certvalid_input_receives_frames() {
    assert_tls_input_receives(Input::Tls {
        driver: TlsDriver::Gtls,
        auth: TlsAuth::CertValid,
    });
}

/// Plain imtcp parses octet-counted frames into the same records.
#[test]
fn plain_tcp_input_receives_octet_counted_frames() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let samples = samples();
    let mut sock = TcpStream::connect(rsyslog.addr()).expect("connect");
    sock.write_all(&octet_counted(&samples)).expect("write");
    sock.shutdown(Shutdown::Write).expect("shutdown");
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

/// Just enough of a RELP client (frames: [`relp`]) to open a session, send
/// `syslog` commands, and close.
struct RelpClient<S> {
    stream: S,
    buf: Vec<u8>,
    next_txnr: u64,
}

impl<S: Read + Write> RelpClient<S> {
    fn new(stream: S) -> Self {
        RelpClient {
            stream,
            buf: Vec::new(),
            next_txnr: 1,
        }
    }

    /// Sends one command frame; returns the txnr used.
    fn send(&mut self, command: &str, data: &[u8]) -> u64 {
        let txnr = self.next_txnr;
        self.next_txnr += 1;
        let frame = relp::encode(txnr, command, data);
        self.stream.write_all(&frame).expect("write RELP frame");
        self.stream.flush().expect("flush");
        txnr
    }

    /// Reads one frame: (txnr, command, data).
    fn recv(&mut self) -> (u64, String, Vec<u8>) {
        loop {
            match relp::take_frame(&mut self.buf) {
                Ok(Some(f)) => return (f.txnr, f.command, f.data),
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).expect("read RELP");
            assert_ne!(read, 0, "RELP server closed the connection");
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }

    /// Sends `command` and asserts the `rsp` that answers it starts with "200".
    fn call(&mut self, command: &str, data: &[u8]) -> String {
        let txnr = self.send(command, data);
        let (rsp_txnr, rsp, data) = self.recv();
        let text = String::from_utf8(data).expect("UTF-8 rsp");
        assert_eq!((rsp_txnr, rsp.as_str()), (txnr, "rsp"), "{text}");
        assert!(text.starts_with("200"), "{command} refused: {text}");
        text
    }

    fn session(&mut self, samples: &[Sample]) {
        let offers = self.call(
            "open",
            b"relp_version=1\nrelp_software=reaplog-test\ncommands=syslog",
        );
        assert!(
            offers.contains("commands=syslog"),
            "server offers: {offers}"
        );
        for s in samples {
            self.call("syslog", s.wire.as_bytes());
        }
        let txnr = self.send("close", b"");
        let (rsp_txnr, rsp, _) = self.recv();
        assert_eq!((rsp_txnr, rsp.as_str()), (txnr, "rsp"));
    }
}

/// imrelp answers `open`, each `syslog` and `close` with 200 and records the
/// messages.
#[test]
fn relp_input_acknowledges_and_receives_syslog_commands() {
    let rsyslog = Rsyslog::start(Options::new(Input::Relp { tls: false }));
    let samples = samples();
    let mut relp = RelpClient::new(TcpStream::connect(rsyslog.addr()).expect("connect"));
    relp.session(&samples);
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

fn assert_relp_tls_receives(opts: Options) {
    let (_dir, pki) = TestPki::temp();
    let rsyslog = Rsyslog::start(opts.pki(&pki));
    let samples = samples();
    let mut relp = RelpClient::new(mutual_client(&pki, rsyslog.addr()));
    relp.session(&samples);
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

/// The same RELP session inside mutual TLS (librelp over GnuTLS).
#[test]
fn relp_tls_input_acknowledges_and_receives_syslog_commands() {
    assert_relp_tls_receives(Options::new(Input::Relp { tls: true }));
}

/// The same RELP session inside mutual TLS with librelp over OpenSSL.
#[test]
fn relp_tls_over_openssl_acknowledges_and_receives_syslog_commands() {
    assert_relp_tls_receives(Options::new(Input::Relp { tls: true }).relp_tls_lib(TlsDriver::Ossl));
}

/// gtls with `anon` takes a client that presents no certificate.
#[test]
fn gtls_anon_input_receives_frames_from_a_client_without_certificate() {
    let (_dir, pki) = TestPki::temp();
    let input = Input::Tls {
        driver: TlsDriver::Gtls,
        auth: TlsAuth::Anon,
    };
    let rsyslog = Rsyslog::start(Options::new(input).pki(&pki));
    let samples = samples();
    let config = tls::client_config(&pki.ca, None);
    let client = tls::connect(rsyslog.addr(), config, SERVER_NAME).expect("handshake");
    send_tls(client, &octet_counted(&samples));
    assert_eq!(rsyslog.wait_for(samples.len(), WAIT), expected(&samples));
}

/// Connects with `client_cert`/`client_key`, sends the samples, closes its
/// side, and returns what the client saw (the server's verdict arrives
/// after the TLS 1.3 handshake completes on the client side). Closing
/// matters: rsyslog's ossl driver sometimes leaves a rejected peer's
/// handshake pending until the peer sends more or closes.
fn send_as(
    pki: &TestPki,
    rsyslog: &Rsyslog,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> String {
    let config = tls::client_config(&pki.ca, Some((cert, key)));
    let mut tls = match tls::connect(rsyslog.addr(), config, SERVER_NAME) {
        Ok(tls) => tls,
        Err(e) => return format!("handshake: {e}"),
    };
    if let Err(e) = tls
        .write_all(&octet_counted(&samples()))
        .and_then(|()| tls.flush())
    {
        return format!("write: {e}");
    }
    tls.conn.send_close_notify();
    if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
        return format!("close_notify: {e}");
    }
    if let Err(e) = tls.sock.shutdown(Shutdown::Write) {
        return format!("shutdown: {e}");
    }
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(n) => format!("eof after {n} bytes"),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            panic!("rsyslog neither accepted nor closed the session: {e}")
        }
        Err(e) => format!("read: {e}"),
    }
}

/// A rejected client leaves a diagnostic and no message: after the
/// rejection is logged, the permitted client's messages are the only ones.
fn assert_rejects(
    opts: Options,
    bad: fn(&TestPki) -> (&std::path::Path, &std::path::Path),
    needles: &[&str],
) {
    let (_dir, pki) = TestPki::temp();
    let input = opts.input.clone();
    let rsyslog = Rsyslog::start(opts.pki(&pki));
    let (cert, key) = bad(&pki);
    let outcome = send_as(&pki, &rsyslog, cert, key);
    // No needles: the session's end, seen by the client, is the only verdict.
    let logged = needles.is_empty()
        || wait_until(WAIT, || {
            let diagnostics = rsyslog.diagnostics();
            needles.iter().any(|n| diagnostics.contains(n))
        });
    assert!(
        logged,
        "{input:?}: none of {needles:?} after {outcome}\n{}",
        rsyslog.diagnostics()
    );
    let good = &samples()[..1];
    match input {
        Input::Relp { .. } => RelpClient::new(mutual_client(&pki, rsyslog.addr())).session(good),
        _ => send_tls(mutual_client(&pki, rsyslog.addr()), &octet_counted(good)),
    }
    // Quiet for a moment: a late message from the rejected peer would show.
    assert_eq!(
        rsyslog.wait_quiet(1, Duration::from_millis(200), WAIT),
        expected(good),
        "{}",
        rsyslog.diagnostics()
    );
}

fn other_ca_client(pki: &TestPki) -> (&std::path::Path, &std::path::Path) {
    (&pki.other_client_cert, &pki.other_client_key)
}

fn intruder_client(pki: &TestPki) -> (&std::path::Path, &std::path::Path) {
    (&pki.intruder_cert, &pki.intruder_key)
}

/// imtcp over `ossl` with `x509/name` permitting [`CLIENT_NAME`].
fn ossl_name() -> Input {
    Input::Tls {
        driver: TlsDriver::Ossl,
        auth: TlsAuth::Name {
            permitted_peer: CLIENT_NAME.into(),
        },
    }
}

/// gtls refuses a client certificate from another CA, says so, and records
/// none of its messages.
#[test]
fn gtls_rejects_a_client_cert_from_another_ca_and_logs_nothing() {
    assert_rejects(
        Options::new(Input::tls()),
        other_ca_client,
        &["certificate invalid: signer not found"],
    );
}

/// gtls refuses a client certificate from the right CA whose name is not the
/// permitted peer.
#[test]
fn gtls_rejects_a_client_whose_name_is_not_permitted() {
    assert_rejects(
        Options::new(Input::tls()),
        intruder_client,
        &["peer name not authorized"],
    );
}

/// ossl refuses a client certificate from another CA and records none of its
/// messages.
#[test]
fn ossl_rejects_a_client_cert_from_another_ca_and_logs_nothing() {
    assert_rejects(
        Options::new(ossl_name()),
        other_ca_client,
        &["certificate verify failed"],
    );
}

/// Known rsyslog 8.2302 bug, kept as evidence: with `ossl` and
/// `x509/name`, a peer whose certificate chains to the CA but carries a name
/// that is not permitted is rejected only when the handshake finishes while
/// the connection is being accepted. When it finishes later, on the
/// session's first read (about one run in three here), the name is never
/// checked: the session stays open with no diagnostic and its messages are
/// logged. gtls and librelp (both libraries) check the name every time.
/// Run it with `cargo test --test it rsyslog_harness:: -- --ignored`.
#[test]
#[ignore = "rsyslog 8.2302 ossl: PermittedPeer not enforced when the handshake ends after accept"]
fn ossl_rejects_a_client_whose_name_is_not_permitted() {
    assert_rejects(
        Options::new(ossl_name()),
        intruder_client,
        &["peer name not authorized"],
    );
}

/// RELP over TLS (GnuTLS) refuses a client certificate from another CA.
#[test]
fn relp_tls_rejects_a_client_cert_from_another_ca_and_logs_nothing() {
    assert_rejects(
        Options::new(Input::Relp { tls: true }),
        other_ca_client,
        &["certificate validation failed"],
    );
}

/// RELP over TLS (GnuTLS) refuses a client whose name is not the permitted
/// peer.
#[test]
fn relp_tls_rejects_a_client_whose_name_is_not_permitted() {
    assert_rejects(
        Options::new(Input::Relp { tls: true }),
        intruder_client,
        &["no permited name found"],
    );
}

/// A client trusting another CA fails the handshake (UnknownIssuer); with
/// the right CA every name in the server certificate passes.
#[test]
fn client_trusting_another_ca_fails_the_handshake_with_rsyslog() {
    let (_dir, pki) = TestPki::temp();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&pki));
    let identity = Some((pki.client_cert.as_path(), pki.client_key.as_path()));
    let wrong = tls::client_config(&pki.other_ca, identity);
    let Err(err) = tls::connect(rsyslog.addr(), wrong, SERVER_NAME) else {
        panic!("handshake must fail against a server from another CA");
    };
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // The same server passes with the right CA, under each name it carries.
    for name in ["localhost", "127.0.0.1", SERVER_NAME] {
        let right = tls::client_config(&pki.ca, identity);
        tls::connect(rsyslog.addr(), right, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn send_plain(rsyslog: &Rsyslog, samples: &[Sample]) {
    let mut sock = TcpStream::connect(rsyslog.addr()).expect("connect");
    sock.write_all(&octet_counted(samples)).expect("write");
    sock.shutdown(Shutdown::Write).expect("shutdown");
}

/// `restart` brings up a new rsyslogd on the same port, and it receives
/// again.
#[test]
fn restart_keeps_the_port_and_receives_again() {
    let mut rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let samples = samples();
    send_plain(&rsyslog, &samples[..1]);
    rsyslog.wait_for(1, WAIT);
    let (port, pid) = (rsyslog.port(), rsyslog.pid());
    rsyslog.restart();
    assert_eq!(rsyslog.port(), port);
    assert_ne!(rsyslog.pid(), pid, "a new process");
    send_plain(&rsyslog, &samples[1..2]);
    assert_eq!(rsyslog.wait_for(2, WAIT), expected(&samples[..2]));
}

/// A paused (SIGSTOPed) rsyslogd records nothing until it is resumed, then
/// what was sent.
#[test]
fn paused_rsyslog_delivers_nothing_until_resumed() {
    let mut rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    rsyslog.pause();
    // The kernel completes the connection and buffers the bytes for the stopped process.
    send_plain(&rsyslog, &samples()[..1]);
    let early = wait_until(Duration::from_millis(300), || {
        !rsyslog.messages().is_empty()
    });
    assert!(!early, "a stopped rsyslogd wrote {:?}", rsyslog.messages());
    rsyslog.resume();
    assert_eq!(rsyslog.wait_for(1, WAIT), expected(&samples()[..1]));
}

/// `stop` ends rsyslogd with exit 0 and nobody listens on its port any more.
#[test]
fn stop_ends_the_process_and_frees_the_port() {
    let mut rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let status = rsyslog.stop().expect("was running");
    assert!(status.success(), "rsyslogd exits 0 on SIGTERM: {status}");
    assert_eq!(rsyslog.pid(), None);
    assert!(
        TcpStream::connect(rsyslog.addr()).is_err(),
        "nobody listens any more"
    );
}

fn long_message(len: usize) -> Vec<Sample> {
    vec![sample(
        16,
        6,
        "web-1",
        "gitlab-rails",
        "api_json",
        "-",
        &"x".repeat(len),
    )]
}

/// rsyslog's default 8096-byte limit cuts a 9000-byte message.
#[test]
fn default_max_message_size_cuts_a_longer_message() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    send_plain(&rsyslog, &long_message(9000));
    let got = rsyslog.wait_for(1, WAIT);
    assert!(got[0].msg.len() < 9000, "cut at 8096 bytes of message");
}

/// A raised `maxMessageSize` keeps a 12000-byte message whole.
#[test]
fn raised_max_message_size_keeps_a_longer_message_whole() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp).max_message_size(16 * 1024));
    let long = long_message(12_000);
    send_plain(&rsyslog, &long);
    assert_eq!(rsyslog.wait_for(1, WAIT), expected(&long));
}

/// A TAB arrives as `#011` by default, and verbatim with escaping turned
/// off.
#[test]
fn control_characters_are_escaped_unless_turned_off() {
    let tab = vec![sample(16, 6, "h", "a", "m", "-", "a\tb")];
    let escaped = Rsyslog::start(Options::new(Input::PlainTcp));
    send_plain(&escaped, &tab);
    assert_eq!(escaped.wait_for(1, WAIT)[0].msg, "a#011b");
    let verbatim = Rsyslog::start(Options::new(Input::PlainTcp).escape_control_chars(false));
    send_plain(&verbatim, &tab);
    assert_eq!(verbatim.wait_for(1, WAIT)[0].msg, "a\tb");
}

/// A fixed port that is taken makes `start` panic with the bind error from
/// rsyslog's diagnostics.
#[test]
fn start_fails_loudly_when_its_fixed_port_is_taken() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let started =
        std::panic::catch_unwind(|| Rsyslog::start(Options::new(Input::PlainTcp).port(port)));
    let panic = started
        .err()
        .expect("start must fail while the port is held");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("could not bind port"), "{text}");
    assert!(
        text.contains("Could not create tcp listener"),
        "diagnostics included: {text}"
    );
}

fn wires(samples: &[Sample]) -> Vec<Vec<u8>> {
    samples
        .iter()
        .map(|s| s.wire.clone().into_bytes())
        .collect()
}

/// The TLS sink keeps each frame of a mutual-TLS client and counts its clean
/// close.
#[test]
fn tls_sink_collects_frames_from_a_mutual_tls_client() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::mutual(&pki));
    let samples = samples();
    send_tls(mutual_client(&pki, sink.addr()), &octet_counted(&samples));
    assert_eq!(sink.wait_for_frames(samples.len(), WAIT), wires(&samples));
    assert!(
        wait_until(WAIT, || sink.stats().clean_closes == 1),
        "{:?}",
        sink.stats()
    );
    assert!(sink.errors().is_empty(), "{:?}", sink.errors());
}

/// The TLS sink aborts the handshake of a client certificate from another CA
/// and keeps nothing.
#[test]
fn tls_sink_rejects_a_client_cert_from_another_ca() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::mutual(&pki));
    let config = tls::client_config(
        &pki.ca,
        Some((&pki.other_client_cert, &pki.other_client_key)),
    );
    if let Ok(mut tls) = tls::connect(sink.addr(), config, SERVER_NAME) {
        // TLS 1.3: the client learns of the rejection only when it reads.
        tls.write_all(&octet_counted(&samples())).ok();
        let mut rest = Vec::new();
        assert!(
            tls.read_to_end(&mut rest).is_err(),
            "the sink must abort the session"
        );
    }
    let errors = sink.wait_for_errors(1, WAIT);
    assert!(errors[0].contains("handshake"), "{errors:?}");
    assert!(sink.frames().is_empty());
}

/// Without client authentication the TLS sink takes a client with no
/// certificate.
#[test]
fn tls_sink_without_client_auth_accepts_an_anonymous_client() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::server_only(&pki));
    let config = tls::client_config(&pki.ca, None);
    let samples = samples();
    send_tls(
        tls::connect(sink.addr(), config, "127.0.0.1").expect("handshake"),
        &octet_counted(&samples),
    );
    assert_eq!(sink.wait_for_frames(samples.len(), WAIT), wires(&samples));
}

/// In discard mode the TLS sink counts every byte and keeps no frame.
#[test]
fn tls_sink_in_discard_mode_counts_bytes_only() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::mutual(&pki).mode(SinkMode::Discard));
    let bytes = octet_counted(&samples());
    send_tls(mutual_client(&pki, sink.addr()), &bytes);
    let total = bytes.len() as u64;
    assert!(
        wait_until(WAIT, || sink.bytes() == total),
        "{:?}",
        sink.stats()
    );
    assert!(sink.frames().is_empty());
}

/// `take_frames` takes whole frames, leaves a partial one for later, and
/// rejects bad MSG-LENs.
#[test]
fn take_frames_keeps_partial_frames_for_later_and_rejects_bad_lengths() {
    let mut out = Vec::new();
    assert_eq!(take_frames(b"3 abc5 hel", &mut out), Ok(5));
    assert_eq!(out, vec![b"abc".to_vec()]);
    assert_eq!(
        take_frames(b"12", &mut out),
        Ok(0),
        "a length still arriving"
    );
    assert_eq!(take_frames(b"", &mut out), Ok(0));
    for bad in [
        &b"03 abc"[..],
        b"x abc",
        b" abc",
        b"123456789 a",
        b"<34>1 -",
    ] {
        assert!(
            take_frames(bad, &mut out).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// RELP over TLS (OpenSSL) refuses a client certificate from another CA.
#[test]
fn relp_tls_over_openssl_rejects_a_client_cert_from_another_ca() {
    let opts = Options::new(Input::Relp { tls: true }).relp_tls_lib(TlsDriver::Ossl);
    assert_rejects(
        opts,
        other_ca_client,
        &["unable to get local issuer certificate"],
    );
}

/// RELP over TLS (OpenSSL) refuses a client whose name is not the permitted
/// peer.
#[test]
fn relp_tls_over_openssl_rejects_a_client_whose_name_is_not_permitted() {
    let opts = Options::new(Input::Relp { tls: true }).relp_tls_lib(TlsDriver::Ossl);
    assert_rejects(opts, intruder_client, &["no permited name found"]);
}

/// Dropping an `Rsyslog` ends and reaps its rsyslogd.
#[test]
fn dropping_the_harness_ends_rsyslogd() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let pid = rsyslog.pid().expect("running");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(rsyslog);
    // Reaped, not merely killed: no zombie is left behind either.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// An rsyslogd killed behind the harness's back is reaped and reported, not
/// signalled again.
#[test]
fn a_crashed_rsyslogd_is_reported_not_signalled() {
    let mut rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let pid = rsyslog.pid().expect("running");
    signal(pid as i32, libc::SIGKILL).expect("kill");
    assert!(!rsyslog.wait_ready(WAIT), "a killed rsyslogd is not ready");
    assert_eq!(rsyslog.pid(), None);
    let status = rsyslog.stop().expect("the crash's exit status");
    assert!(!status.success());
}

/// A TLS sink presenting a certificate from another CA is refused by a
/// client trusting ours.
#[test]
fn tls_sink_from_another_ca_is_refused_by_a_client_trusting_ours() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::untrusted(&pki));
    let config = tls::client_config(&pki.ca, None);
    let Err(err) = tls::connect(sink.addr(), config, SERVER_NAME) else {
        panic!("a server from another CA must be refused");
    };
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    sink.wait_for_errors(1, WAIT);
}

/// A TLS sink whose certificate carries only another name is refused under
/// our names, accepted under its own.
#[test]
fn tls_sink_with_the_wrong_name_is_refused_by_a_client_checking_names() {
    let (_dir, pki) = TestPki::temp();
    let sink = TlsSink::start(SinkOptions::wrong_name(&pki));
    for name in ["localhost", "127.0.0.1", SERVER_NAME] {
        let config = tls::client_config(&pki.ca, None);
        let Err(err) = tls::connect(sink.addr(), config, name) else {
            panic!("{name}: a certificate for another name must be refused");
        };
        assert!(
            err.to_string().contains("not valid for name"),
            "{name}: {err}"
        );
    }
    let config = tls::client_config(&pki.ca, None);
    tls::connect(sink.addr(), config, ELSEWHERE_NAME).expect("its own name passes");
}

/// `wait_quiet` returns the messages once nothing more arrived for the quiet
/// period.
#[test]
fn wait_quiet_returns_once_nothing_more_arrives() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let samples = samples();
    send_plain(&rsyslog, &samples);
    let quiet = Duration::from_millis(100);
    assert_eq!(rsyslog.wait_quiet(3, quiet, WAIT), expected(&samples));
}

/// TIMESTAMPs come back as sent: fraction digits and UTC offset kept.
#[test]
fn timestamps_come_back_as_sent_with_their_precision_and_offset() {
    let rsyslog = Rsyslog::start(Options::new(Input::PlainTcp));
    let stamps = [
        "2024-02-29T23:59:58Z",
        "2024-02-29T23:59:58.1Z",
        "2024-02-29T23:59:58.123+02:00",
        "2024-02-29T23:59:58.999999-05:30",
    ];
    let samples: Vec<Sample> = stamps
        .iter()
        .map(|ts| {
            let mut s = sample(16, 6, "h", "a", "m", "-", ts);
            s.wire = s.wire.replace("2024-02-29T23:59:58.123456Z", ts);
            s.expected.timestamp = (*ts).to_owned();
            s
        })
        .collect();
    send_plain(&rsyslog, &samples);
    assert_eq!(rsyslog.wait_for(stamps.len(), WAIT), expected(&samples));
}
