//! reaplog: one static binary with two jobs for GitLab-style pods.
//!
//! * [`init`] is PID 1 of a container: it starts a command, forwards signals to
//!   it, reaps every zombie and exits with the command's status.
//! * [`relay`] tails log files and ships every line as RFC 5424 syslog over
//!   TLS (RFC 5425) to a central rsyslog.
//!
//! `init` never depends on `relay` (nor on tokio or rustls): the PID-1 path
//! stays small.

pub mod init;
pub mod relay;
