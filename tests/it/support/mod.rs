//! The one support tree of the integration tests (`crate::support`).
//!
//! * [`process`]: the binary under test, polling with a deadline, signals
//!   and stopping by PID, `/proc`, loopback ports;
//! * [`certs`]: a throw-away PKI ([`certs::TestPki`]);
//! * [`rsyslog`]: a real rsyslogd on a loopback port, and what it parsed;
//! * [`tls_sink`]: an in-process RFC 5425 TLS receiver (octet-counted frames);
//! * [`tls`]: rustls configurations and a blocking test client;
//! * [`relp`]: RELP's frame format, for the tests' own client and server;
//! * [`proxy`]: a fault-injecting TCP proxy (resets, blackhole, refusals);
//! * [`relay`]: the relay's temp-dir fixture, config writers, the started
//!   relay, numbered log lines and the tally of what arrived;
//! * [`init`]: `reaplog init` started as PID 1 or as a subreaper, its output
//!   as lines, and the small Python child programs ([`init::scripts`]).
//!
//! A typical end-to-end test:
//!
//! ```text
//! let fx = Fixture::new();
//! let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
//! fx.write_config(&relay_config(&fx.state, "", &gitlab_source(&fx.root),
//!     &tls_output(rsyslog.port(), &fx.pki.ca, &fx.pki, None)));
//! let relay = fx.start_relay();
//! let got = rsyslog.wait_for(3, Duration::from_secs(10));
//! assert_eq!(got[0].app_name, "gitlab-rails", "{}", rsyslog.diagnostics());
//! ```
//!
//! Known receiver quirks (rsyslog 8.2302, proven in `rsyslog_harness`):
//! * gtls listeners generate DH parameters at start: 0.2 s to several
//!   seconds of CPU, at random; ossl, plain TCP and RELP start in ~50 ms.
//! * ossl with `x509/name` does not reliably reject an unpermitted peer
//!   (use gtls or RELP for name-check tests).
//! * A TLS session ended without close_notify is logged as an error
//!   (GnuTLS -110): close cleanly, or expect that line in diagnostics.

pub mod certs;
pub mod init;
pub mod process;
pub mod proxy;
pub mod relay;
pub mod relp;
pub mod rsyslog;
pub mod tls;
pub mod tls_sink;

pub use process::{free_port, reaplog_bin, wait_until, wait_until_every, POLL};
