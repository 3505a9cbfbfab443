//! `reaplog relay`: tails log files and forwards every line as RFC 5424
//! syslog over TLS (RFC 5425) or RELP to a central rsyslog.
//!
//! The modules follow the data, one folder per stage; each imports only
//! from the stages before it:
//!
//! ```text
//! input (discover, tail, rotation) ─► encode (classify, rfc5424, framing)
//!     ─► batch ─► output (tls | tcp | relp | stdout) ─► acks ─► state (checkpoint)
//! ```
//!
//! * `encode`: a line and its file's rule in, a frame out
//!   (`encode::LineCodec::encode_line`, the only way a line becomes a frame).
//!   Pure; knows no file and no socket.
//! * `config`: the TOML configuration; every error names the key.
//! * `metrics`: every counter the relay keeps, and `/metrics`, `/healthz`,
//!   `/readyz`.
//! * `input`: which files (discover, sources, shard), how to read one
//!   (tail, fingerprint) and where a rotated file's rest went (rotation).
//!   Knows nothing of encoding or outputs.
//! * `batch`: encoded frames and the offsets they complete (the unit of
//!   confirmation), and the lines' origins so a resend can encode them again.
//! * `state`: the checkpoint format and its writer, the only code that
//!   touches the state directory.
//! * `reader`: the reader thread, which drives input → encode → batch. It
//!   sits beside the stages, not inside `input`, so that input and batch do
//!   not import each other.
//! * `output`: writes batches to the receiver and reports what it confirmed.
//! * `run` wires reader, output and checkpoint writer together and owns
//!   shutdown; `cli` is the command line.
//!
//! `docs/architecture.md` draws the threads and says where each guarantee is
//! kept. [`testing`] is the entry point for reaplog's own tests and
//! benchmarks; everything else is private.

#[forbid(unsafe_code)]
mod batch;
#[forbid(unsafe_code)]
mod cli;
#[forbid(unsafe_code)]
mod config;
#[forbid(unsafe_code)]
mod encode;
#[forbid(unsafe_code)]
mod input;
#[forbid(unsafe_code)]
mod metrics;
#[forbid(unsafe_code)]
mod output;
#[forbid(unsafe_code)]
mod reader;
#[forbid(unsafe_code)]
mod run;
#[forbid(unsafe_code)]
mod state;
// The one module with `unsafe`: the ioctl std does not wrap.
mod sys;
#[forbid(unsafe_code)]
pub mod testing;

pub use cli::main;
