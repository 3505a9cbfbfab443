//! Shared harness for reaplog's integration tests: include it with
//! `mod support;`. Not every test uses every helper, hence the allow.
//!
//! * [`certs`]: a throw-away PKI ([`certs::TestPki`]);
//! * [`rsyslog`]: a real rsyslogd on a loopback port, and what it parsed;
//! * [`tls_sink`]: an in-process RFC 5425 TLS receiver for failure tests and
//!   benchmarks;
//! * [`tls`]: rustls configurations and a blocking test client.
//!
//! A typical end-to-end test:
//!
//! ```text
//! let dir = tempfile::tempdir()?;
//! let pki = TestPki::new(dir.path());
//! let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&pki));
//! // run support::reaplog_bin() against rsyslog.addr(), presenting
//! // pki.client_cert / pki.client_key and trusting pki.ca ...
//! let got = rsyslog.wait_for(3, Duration::from_secs(10));
//! assert_eq!(got[0].app_name, "gitlab-rails", "{}", rsyslog.diagnostics());
//! ```
//!
//! Known receiver quirks (rsyslog 8.2302, proven in `tests/rsyslog_harness.rs`):
//! * gtls listeners generate DH parameters at start: 0.2 s to several
//!   seconds of CPU, at random; ossl, plain TCP and RELP start in ~50 ms.
//! * ossl with `x509/name` does not reliably reject an unpermitted peer
//!   (use gtls or RELP for name-check tests).
//! * A TLS session ended without close_notify is logged as an error
//!   (GnuTLS -110): close cleanly, or expect that line in diagnostics.
#![allow(dead_code)]

pub mod certs;
pub mod init;
pub mod proxy;
pub mod relay;
pub mod rsyslog;
pub mod tls;
pub mod tls_sink;

use std::net::{Ipv4Addr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

/// Interval between two looks at a condition: short enough to keep tests
/// fast, long enough not to steal the two shared cores.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds (true) or `timeout` has passed (false).
/// `cond` is evaluated at least once, and once more after the deadline so a
/// slow final step is not reported as a timeout.
pub fn wait_until(timeout: Duration, cond: impl FnMut() -> bool) -> bool {
    wait_until_every(timeout, POLL, cond)
}

/// [`wait_until`], looking every `every`: for conditions too costly to
/// check every [`POLL`] (counting hundreds of thousands of received ids).
pub fn wait_until_every(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return cond();
        }
        thread::sleep(every);
    }
}

/// A loopback port that was free a moment ago (bound to port 0, then
/// released). Another process may take it before it is used: callers that
/// hand it to a server retry with a new one when the bind fails.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Path of the `reaplog` binary cargo built for this integration test.
pub fn reaplog_bin() -> &'static str {
    env!("CARGO_BIN_EXE_reaplog")
}
