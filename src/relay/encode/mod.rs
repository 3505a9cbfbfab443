//! Encode: one line of a file and its file's rule in, one RFC 5425 frame out.
//!
//! * [`classify`] reads a line's severity and time (pure; the GitLab preset
//!   lives there);
//! * [`process`] drops, redacts and adds the static STRUCTURED-DATA
//!   (`[[drop]]`, `[redact]`, `[structured_data]`);
//! * [`rfc5424`] renders the SYSLOG-MSG, [`framing`] the octet count around
//!   it, [`time`] the RFC 3339 timestamps, [`syslog`] facility and severity.
//!
//! [`LineCodec::encode_line`] is the one way a line becomes a frame: the
//! reader's batches, the resend path (lines read again from their files) and
//! the benchmarks all call it, so they all produce the same bytes. Nothing
//! here knows a file or a socket.

pub(super) mod classify;
pub(super) mod framing;
pub(super) mod process;
pub(super) mod rfc5424;
pub(super) mod syslog;
pub(super) mod time;

use std::path::Path;
use std::sync::Arc;

use classify::FileRule;
use process::Processing;
use rfc5424::{Encoder, HeaderFields};
use time::Timestamp;

/// What every line of one file is stamped with: its rule (APP-NAME, MSGID,
/// facility, how severity and time are read) and the header fields
/// rendered from it once.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// The file's rule.
    pub rule: Arc<FileRule>,
    /// The HOSTNAME as given (the pod), before it is sanitized: what drop
    /// rules' `hostname` globs look at.
    pub hostname: Arc<str>,
    /// `HOSTNAME APP-NAME PROCID MSGID SD`, rendered from the rule.
    pub fields: HeaderFields,
}

impl Stamp {
    /// The stamp of a file of `hostname` (the pod) read by `rule`.
    pub fn new(rule: Arc<FileRule>, hostname: &str) -> Stamp {
        let fields = HeaderFields::new(hostname, &rule.app_name, "-", &rule.msgid, &[]);
        Stamp {
            rule,
            hostname: Arc::from(hostname),
            fields,
        }
    }
}

/// A [`Stamp`] made ready for one file's lines by a [`LineCodec`]
/// ([`LineCodec::file_stamp`]): the header fields with the static
/// STRUCTURED-DATA, and the drop rules that can match the file.
#[derive(Clone, Debug)]
pub struct FileStamp {
    /// The file's rule.
    pub rule: Arc<FileRule>,
    /// `HOSTNAME APP-NAME PROCID MSGID SD`, SD included.
    pub fields: HeaderFields,
    /// Indexes of the drop rules whose `app_name`, `msgid` and `hostname`
    /// match the file; only their line-level keys are left to check.
    drops: Box<[usize]>,
}

/// What [`LineCodec::encode_line`] did with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    /// A frame was appended.
    Frame {
        /// Its MSG was cut and marked.
        truncated: bool,
        /// Something in it was replaced by `[REDACTED]`.
        redacted: bool,
    },
    /// A drop rule matched: nothing was appended.
    Dropped {
        /// The rule's index in the configuration.
        rule: usize,
    },
}

/// How lines become frames: one per relay, shared by the reader and every
/// resend.
#[derive(Debug)]
pub struct LineCodec {
    encoder: Encoder,
    /// Put a newline after each frame (stdout, for people).
    newline: bool,
    /// Redaction, drop rules, static SD.
    processing: Processing,
}

impl LineCodec {
    /// Frames of at most `max_message_size` octets of SYSLOG-MSG, each
    /// followed by a newline when `newline` (stdout), with the default
    /// processing (GitLab's tokens redacted, no drop rule, no SD).
    pub fn new(max_message_size: usize, newline: bool) -> LineCodec {
        LineCodec::with_processing(max_message_size, newline, Processing::default())
    }

    /// [`LineCodec::new`] with `processing` between classify and encode.
    pub fn with_processing(
        max_message_size: usize,
        newline: bool,
        processing: Processing,
    ) -> LineCodec {
        LineCodec {
            encoder: Encoder::new(max_message_size, false),
            newline,
            processing,
        }
    }

    /// `stamp` made ready for the lines of the file at `path`.
    pub fn file_stamp(&self, stamp: &Stamp, path: &Path) -> FileStamp {
        let p = &self.processing;
        let rule = &stamp.rule;
        let fields = match &p.sd {
            Some(sd) => HeaderFields::new(
                &stamp.hostname,
                &rule.app_name,
                "-",
                &rule.msgid,
                &[sd.element(path)],
            ),
            None => stamp.fields.clone(),
        };
        FileStamp {
            rule: Arc::clone(rule),
            fields,
            drops: p.file_drops(&rule.app_name, &rule.msgid, &stamp.hostname),
        }
    }

    /// Appends the frame of `line` to `out` unless a drop rule takes it:
    /// severity and time as the stamp's rule reads them, `read_time` when
    /// the line carries no time of its own, secrets redacted; `cut` says
    /// the tailer already cut an overlong line.
    pub fn encode_line(
        &self,
        stamp: &FileStamp,
        read_time: &Timestamp,
        line: &[u8],
        cut: bool,
        out: &mut Vec<u8>,
    ) -> Encoded {
        let rule = &stamp.rule;
        let c = rule.classify(line);
        if !stamp.drops.is_empty() {
            if let Some(rule) = self
                .processing
                .dropped_by(&stamp.drops, c.severity, c.message)
            {
                return Encoded::Dropped { rule };
            }
        }
        // Before the encoder truncates: a cut falls after the redaction.
        let message = self.processing.redact.redact(c.message, cut);
        let redacted = matches!(message, std::borrow::Cow::Owned(_));
        let ts = c.timestamp.as_ref().unwrap_or(read_time);
        let truncated = self.encoder.encode_frame(
            out,
            rule.facility,
            c.severity,
            ts,
            &stamp.fields,
            &message,
            cut,
        );
        if self.newline {
            out.push(b'\n');
        }
        Encoded::Frame {
            truncated,
            redacted,
        }
    }

    /// The drop rules' labels, in order (for the metrics).
    pub fn drop_labels(&self) -> Vec<String> {
        self.processing.drop_labels()
    }
}
