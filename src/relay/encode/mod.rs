//! Encode: one line of a file and its file's rule in, one RFC 5425 frame out.
//!
//! * [`classify`] reads a line's severity and time (pure; the GitLab preset
//!   lives there);
//! * [`rfc5424`] renders the SYSLOG-MSG, [`framing`] the octet count around
//!   it, [`time`] the RFC 3339 timestamps, [`syslog`] facility and severity.
//!
//! [`LineCodec::encode_line`] is the one way a line becomes a frame: the
//! reader's batches, the resend path (lines read again from their files) and
//! the benchmarks all call it, so they all produce the same bytes. Nothing
//! here knows a file or a socket.

pub(super) mod classify;
pub(super) mod framing;
pub(super) mod rfc5424;
pub(super) mod syslog;
pub(super) mod time;

use std::sync::Arc;

use classify::FileRule;
use rfc5424::{Encoder, HeaderFields};
use time::Timestamp;

/// What every line of one file is stamped with: its rule (APP-NAME, MSGID,
/// facility, how severity and time are read) and the header fields
/// rendered from it once.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// The file's rule.
    pub rule: Arc<FileRule>,
    /// `HOSTNAME APP-NAME PROCID MSGID SD`, rendered from the rule.
    pub fields: HeaderFields,
}

impl Stamp {
    /// The stamp of a file of `hostname` (the pod) read by `rule`.
    pub fn new(rule: Arc<FileRule>, hostname: &str) -> Stamp {
        let fields = HeaderFields::new(hostname, &rule.app_name, "-", &rule.msgid, &[]);
        Stamp { rule, fields }
    }
}

/// How lines become frames: one per relay, shared by the reader and every
/// resend.
#[derive(Debug)]
pub struct LineCodec {
    encoder: Encoder,
    /// Put a newline after each frame (stdout, for people).
    newline: bool,
}

impl LineCodec {
    /// Frames of at most `max_message_size` octets of SYSLOG-MSG, each
    /// followed by a newline when `newline` (stdout).
    pub fn new(max_message_size: usize, newline: bool) -> LineCodec {
        LineCodec {
            encoder: Encoder::new(max_message_size, false),
            newline,
        }
    }

    /// Appends the frame of `line` to `out`: severity and time as the
    /// stamp's rule reads them, `read_time` when the line carries no time of
    /// its own; `cut` says the tailer already cut an overlong line. Returns
    /// true when the message was truncated.
    pub fn encode_line(
        &self,
        stamp: &Stamp,
        read_time: &Timestamp,
        line: &[u8],
        cut: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        let rule = &stamp.rule;
        let c = rule.classify(line);
        let ts = c.timestamp.as_ref().unwrap_or(read_time);
        let truncated = self.encoder.encode_frame(
            out,
            rule.facility,
            c.severity,
            ts,
            &stamp.fields,
            c.message,
            cut,
        );
        if self.newline {
            out.push(b'\n');
        }
        truncated
    }
}
