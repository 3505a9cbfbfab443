//! Proves the shared test harness (`tests/support`) against the real
//! rsyslogd: every input variant receives exactly what a minimal client
//! sent, wrong peers are rejected, and restart/pause behave as their
//! fault-injection tests will need.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use support::certs::{TestPki, CLIENT_NAME, SERVER_NAME};
use support::rsyslog::{Input, Options, Received, Rsyslog, TlsAuth, TlsDriver};
use support::tls::{self, BlockingTls};

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

/// Writes all frames in one go, then closes with close_notify.
fn send_tls(mut tls: BlockingTls, bytes: &[u8]) {
    tls.write_all(bytes).expect("write frames");
    tls.flush().expect("flush");
    tls.conn.send_close_notify();
    tls.conn
        .complete_io(&mut tls.sock)
        .expect("send close_notify");
}

fn assert_tls_input_receives(input: Input) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::new(dir.path());
    let rsyslog = Rsyslog::start(Options::new(input).pki(&pki));
    let samples = samples();
    send_tls(
        mutual_client(&pki, rsyslog.addr()),
        &octet_counted(&samples),
    );
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

#[test]
fn gtls_x509_name_input_receives_frames_from_the_permitted_client() {
    assert_tls_input_receives(Input::TlsX509Name {
        permitted_peer: CLIENT_NAME.into(),
    });
}

#[test]
fn ossl_x509_name_input_receives_frames_from_the_permitted_client() {
    assert_tls_input_receives(Input::Tls {
        driver: TlsDriver::Ossl,
        auth: TlsAuth::Name {
            permitted_peer: CLIENT_NAME.into(),
        },
    });
}

#[test]
fn gtls_certvalid_input_receives_frames() {
    assert_tls_input_receives(Input::Tls {
        driver: TlsDriver::Gtls,
        auth: TlsAuth::CertValid,
    });
}

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

/// Just enough RELP (librelp's wire format) to open a session, send
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

    /// `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; returns the txnr used.
    fn send(&mut self, command: &str, data: &[u8]) -> u64 {
        let txnr = self.next_txnr;
        self.next_txnr += 1;
        let mut frame = format!("{txnr} {command} {}", data.len()).into_bytes();
        if !data.is_empty() {
            frame.push(b' ');
            frame.extend_from_slice(data);
        }
        frame.push(b'\n');
        self.stream.write_all(&frame).expect("write RELP frame");
        self.stream.flush().expect("flush");
        txnr
    }

    /// Reads one frame: (txnr, command, data).
    fn recv(&mut self) -> (u64, String, Vec<u8>) {
        let txnr = self.token().parse().expect("numeric txnr");
        let command = self.token();
        let (len_text, ended) = self.token_or_lf();
        let len: usize = len_text.parse().expect("numeric datalen");
        let data = if ended { Vec::new() } else { self.take(len) };
        if !ended {
            assert_eq!(self.take(1), b"\n", "RELP trailer");
        }
        (txnr, command, data)
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

    fn token(&mut self) -> String {
        let (token, ended) = self.token_or_lf();
        assert!(!ended, "RELP header ended early at {token:?}");
        token
    }

    fn token_or_lf(&mut self) -> (String, bool) {
        let mut token = Vec::new();
        loop {
            match self.take(1)[0] {
                b' ' => return (String::from_utf8(token).expect("ASCII"), false),
                b'\n' => return (String::from_utf8(token).expect("ASCII"), true),
                b => token.push(b),
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).expect("read RELP");
            assert_ne!(read, 0, "RELP server closed the connection");
            self.buf.extend_from_slice(&chunk[..read]);
        }
        self.buf.drain(..n).collect()
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

#[test]
fn relp_input_acknowledges_and_receives_syslog_commands() {
    let rsyslog = Rsyslog::start(Options::new(Input::Relp { tls: false }));
    let samples = samples();
    let mut relp = RelpClient::new(TcpStream::connect(rsyslog.addr()).expect("connect"));
    relp.session(&samples);
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}

#[test]
fn relp_tls_input_acknowledges_and_receives_syslog_commands() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::new(dir.path());
    let rsyslog = Rsyslog::start(Options::new(Input::Relp { tls: true }).pki(&pki));
    let samples = samples();
    let mut relp = RelpClient::new(mutual_client(&pki, rsyslog.addr()));
    relp.session(&samples);
    let got = rsyslog.wait_for(samples.len(), WAIT);
    assert_eq!(got, expected(&samples), "{}", rsyslog.diagnostics());
}
