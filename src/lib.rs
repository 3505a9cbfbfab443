//! reaplog: one static binary with two jobs for GitLab-style pods.
//!
//! * [`init`] is PID 1 of a container: it starts a command, forwards signals to
//!   it, reaps every zombie and exits with the command's status.
//! * [`relay`] tails log files and ships every line as RFC 5424 syslog over
//!   TLS (RFC 5425) to a central rsyslog.
//!
//! Layout: `src/init/` (never imports the relay, tokio or rustls: the PID-1
//! path stays small), `src/relay/` (one folder per pipeline stage),
//! `src/duration.rs` (the one duration grammar both halves accept). The
//! public surface is the two entry points, [`init::main`] and
//! [`relay::main`], plus [`relay::testing`] for reaplog's own tests and
//! benchmarks.
#![warn(missing_docs, unreachable_pub)]

mod duration;
pub mod init;
pub mod relay;
