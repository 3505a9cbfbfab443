//! `reaplog relay`: tails log files and forwards every line as RFC 5424
//! syslog over TLS (RFC 5425) to a central rsyslog.
//!
//! Data flows one way:
//!
//! ```text
//! discover → tail → classify → rfc5424 (+ framing) → output → checkpoint
//! ```
//!
//! * [`discover`] lists the files a source covers (roots, globs); inotify
//!   events are hints, the periodic rescan is the truth.
//! * [`tail`] reads one file: identity ([`fingerprint`]), offset, rotation,
//!   line split. It knows nothing of encoding or outputs.
//! * [`classify`] is pure: a line and its file's rule in, syslog fields out.
//! * [`rfc5424`] encodes a message; [`framing`] adds RFC 5425 octet counting.
//!   Neither knows a socket.
//! * [`output`] writes batches to the receiver and reports the offsets it has
//!   confirmed; only [`checkpoint`] touches the state directory.
//! * [`reader`] drives tailers and the encoder on its own thread; [`run`]
//!   wires reader, output and [`checkpointer`] together and owns shutdown.

#[forbid(unsafe_code)]
pub mod batch;
#[forbid(unsafe_code)]
pub mod cli;
#[forbid(unsafe_code)]
pub mod config;
#[forbid(unsafe_code)]
pub mod encode;
#[forbid(unsafe_code)]
pub mod input;
#[forbid(unsafe_code)]
pub mod metrics;
#[forbid(unsafe_code)]
pub mod output;
#[forbid(unsafe_code)]
pub mod reader;
#[forbid(unsafe_code)]
pub mod run;
#[forbid(unsafe_code)]
pub mod state;
// The one module with `unsafe`: the ioctl std does not wrap.
mod sys;
