//! The RFC 5424 encoder: one log line in, one RFC 5425 frame appended to a
//! batch buffer out.
//!
//! ```text
//! MSG-LEN SP <PRI>1 SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP [BOM] MSG]
//! ```
//!
//! The per-file part of the header (HOSTNAME … STRUCTURED-DATA) is sanitized
//! and rendered once into [`HeaderFields`]; per line only PRI, TIMESTAMP and
//! the message are written, straight into the caller's buffer with no
//! allocation of their own.
//!
//! Rules (RFC 5424 §6, and what rsyslog accepts):
//! * HOSTNAME, APP-NAME, PROCID, MSGID hold printable US-ASCII (33–126) only:
//!   every other character (space, control, non-ASCII) becomes one `_`. They
//!   are cut to 255, 48, 128 and 32 octets; an empty field is written `-`.
//! * SD-IDs and PARAM-NAMEs: printable US-ASCII except `=`, SP, `]`, `"`
//!   (others become `_`), cut to 32 octets. An element whose SD-ID is empty
//!   or repeats an earlier one is left out (RFC 5424 §6.3.2: an SD-ID occurs
//!   at most once); a parameter with an empty name is left out.
//!   PARAM-VALUEs are UTF-8 with exactly `"`, `\` and `]` escaped by `\`.
//! * The whole SYSLOG-MSG is at most the encoder's maximum (default 8096,
//!   rsyslog's `maxMessageSize`). A longer one is cut at a UTF-8 character
//!   boundary (bytes that are not UTF-8 are cut anywhere) and ends with
//!   [`TRUNCATION_MARKER`]; so does a line the tailer already cut. If the
//!   STRUCTURED-DATA alone leaves no room for the marker, it is written `-`.
//! * MSG bytes are otherwise passed through as they are; a UTF-8 BOM precedes
//!   them only when the encoder is built with `bom` and the message is valid
//!   UTF-8 (RFC 5424 §6.4: MSG-UTF8 is BOM + UTF-8). An empty MSG is left
//!   out together with its SP.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use super::framing;
use super::syslog::{Facility, Severity};
use super::time::{Timestamp, RFC3339_MAX_LEN};

/// rsyslog's default `maxMessageSize`, the receive limit of an unconfigured
/// rsyslog.
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 8096;

/// The smallest maximum [`Encoder::new`] accepts; smaller values are raised to
/// it. It leaves room for the longest possible header without
/// STRUCTURED-DATA (40 + 468 octets), the BOM, the marker and some message.
pub(crate) const MIN_MAX_MESSAGE_SIZE: usize = 1024;

/// Ends the MSG of every truncated message. ASCII, so it is valid in any
/// encoding and never breaks the UTF-8 before it.
pub(crate) const TRUNCATION_MARKER: &[u8] = b"...[truncated]";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Octet limits of RFC 5424 §6 for the header fields.
const HOSTNAME_MAX: usize = 255;
const APP_NAME_MAX: usize = 48;
const PROCID_MAX: usize = 128;
const MSGID_MAX: usize = 32;
const SD_NAME_MAX: usize = 32;

/// `<PRI>1 TIMESTAMP ` is at most `<191>1 ` + 32 + SP.
const PREFIX_MAX: usize = 7 + RFC3339_MAX_LEN + 1;

/// One SD-ELEMENT: `[id name="value" …]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdElement {
    /// The SD-ID; private ones are `name@PEN`.
    pub id: String,
    /// PARAM-NAME, PARAM-VALUE pairs, in order.
    pub params: Vec<(String, String)>,
}

/// The per-file part of the header, sanitized and rendered once:
/// `HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    /// The rendered bytes, all valid RFC 5424 syntax, and the SP that
    /// separates them from MSG (so that a frame is written in fewer copies).
    bytes: Vec<u8>,
    /// Where STRUCTURED-DATA starts in `bytes` (after MSGID's SP): the
    /// encoder writes `bytes[..sd_start]` + `-` when the SD does not fit.
    sd_start: usize,
}

impl HeaderFields {
    /// Sanitizes and renders the fields (see the module docs for the rules).
    pub fn new(
        hostname: &str,
        app_name: &str,
        procid: &str,
        msgid: &str,
        sd: &[SdElement],
    ) -> HeaderFields {
        let mut bytes = Vec::with_capacity(64);
        for (value, max) in [
            (hostname, HOSTNAME_MAX),
            (app_name, APP_NAME_MAX),
            (procid, PROCID_MAX),
            (msgid, MSGID_MAX),
        ] {
            push_header_field(&mut bytes, value, max, |b| (33..=126).contains(&b));
            bytes.push(b' ');
        }
        let sd_start = bytes.len();
        push_structured_data(&mut bytes, sd);
        bytes.push(b' ');
        HeaderFields { bytes, sd_start }
    }

    /// The rendered bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - 1]
    }

    /// The rendered bytes and the SP before MSG.
    fn with_sp(&self) -> &[u8] {
        &self.bytes
    }

    /// The rendered bytes with STRUCTURED-DATA replaced by `-`: the part
    /// before and the `-`.
    fn without_sd(&self) -> (&[u8], &[u8]) {
        (&self.bytes[..self.sd_start], b"-")
    }
}

/// Printable US-ASCII allowed in an SD-NAME (SD-ID, PARAM-NAME).
fn is_sd_name_byte(b: u8) -> bool {
    (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"')
}

/// Writes `value` with every char not `allowed` replaced by one `_`, cut to
/// `max` octets, or `-` when that leaves nothing.
fn push_header_field(out: &mut Vec<u8>, value: &str, max: usize, allowed: fn(u8) -> bool) {
    let start = out.len();
    out.extend(value.chars().take(max).map(|c| match u8::try_from(c) {
        Ok(b) if allowed(b) => b,
        _ => b'_',
    }));
    if out.len() == start {
        out.push(b'-');
    }
}

fn push_structured_data(out: &mut Vec<u8>, sd: &[SdElement]) {
    let start = out.len();
    let mut ids: Vec<Vec<u8>> = Vec::with_capacity(sd.len());
    for element in sd {
        let mut id = Vec::new();
        push_header_field(&mut id, &element.id, SD_NAME_MAX, is_sd_name_byte);
        if element.id.is_empty() || ids.contains(&id) {
            continue;
        }
        out.push(b'[');
        out.extend_from_slice(&id);
        for (name, value) in &element.params {
            if name.is_empty() {
                continue;
            }
            out.push(b' ');
            push_header_field(out, name, SD_NAME_MAX, is_sd_name_byte);
            out.extend_from_slice(b"=\"");
            push_param_value(out, value);
            out.push(b'"');
        }
        out.push(b']');
        ids.push(id);
    }
    if out.len() == start {
        out.push(b'-');
    }
}

/// RFC 5424 §6.3.3: in PARAM-VALUE, `"`, `\` and `]` are escaped with `\`.
fn push_param_value(out: &mut Vec<u8>, value: &str) {
    for &b in value.as_bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Encodes messages into RFC 5425 frames. Cheap to copy around; holds no
/// buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    /// The most octets a SYSLOG-MSG may have, `>= MIN_MAX_MESSAGE_SIZE`.
    max_message_size: usize,
    /// Whether MSG is preceded by the UTF-8 BOM.
    bom: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(DEFAULT_MAX_MESSAGE_SIZE, false)
    }
}

impl Encoder {
    /// An encoder whose SYSLOG-MSGs are at most `max_message_size` octets
    /// (raised to [`MIN_MAX_MESSAGE_SIZE`] when smaller), with a BOM before
    /// MSG when `bom`.
    pub fn new(max_message_size: usize, bom: bool) -> Encoder {
        Encoder {
            max_message_size: max_message_size.max(MIN_MAX_MESSAGE_SIZE),
            bom,
        }
    }

    /// The effective maximum SYSLOG-MSG size.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The most octets one [`Encoder::encode_frame`] call appends (the
    /// maximum message plus its length prefix): what a batch buffer must
    /// have room for before it takes one more line.
    pub fn max_frame_len(&self) -> usize {
        framing::decimal_len(self.max_message_size) + 1 + self.max_message_size
    }

    /// Appends one RFC 5425 frame (`MSG-LEN SP SYSLOG-MSG`) for this message
    /// to `out`.
    ///
    /// `msg_was_cut`: the tailer already cut an overlong line, so the message
    /// is marked truncated even if it now fits. Returns true when the message
    /// was truncated (and marked).
    // The argument list is the contract the pipeline codes against.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_frame(
        &self,
        out: &mut Vec<u8>,
        facility: Facility,
        severity: Severity,
        ts: &Timestamp,
        fields: &HeaderFields,
        msg: &[u8],
        msg_was_cut: bool,
    ) -> bool {
        let mut head = Head::new(facility, severity, ts);
        // RFC 5424 §6.4: a BOM promises UTF-8, so a message that is not gets
        // none (checked only when BOMs are on).
        let bom: &[u8] = if self.bom && std::str::from_utf8(msg).is_ok() {
            BOM
        } else {
            b""
        };
        let fields_sp = fields.with_sp();
        let head_len = head.prefix_len() + fields_sp.len() - 1;
        let msg_part = if msg.is_empty() {
            0
        } else {
            1 + bom.len() + msg.len()
        };
        if !msg_was_cut && head_len + msg_part <= self.max_message_size {
            // The common case in three copies: MSG-LEN and the prefix, the
            // fields and their SP, MSG.
            let (fields_part, bom) = if msg.is_empty() {
                (fields.as_bytes(), &b""[..])
            } else {
                (fields_sp, bom)
            };
            let head = head.with_len(head_len + msg_part);
            out.reserve(head.len() + fields_part.len() + bom.len() + msg.len());
            out.extend_from_slice(head);
            out.extend_from_slice(fields_part);
            out.extend_from_slice(bom);
            out.extend_from_slice(msg);
            return false;
        }
        let prefix = head.prefix();
        let prefix_len = prefix.len();
        // Truncated: the header, SP, BOM and marker must fit with some of MSG;
        // if even the STRUCTURED-DATA does not, it goes (MIN_MAX_MESSAGE_SIZE
        // guarantees that the header without it fits).
        let fixed = 1 + bom.len() + TRUNCATION_MARKER.len();
        let (fields_a, fields_b) = if head_len + fixed <= self.max_message_size {
            (fields.as_bytes(), &b""[..])
        } else {
            fields.without_sd()
        };
        let room = self
            .max_message_size
            .saturating_sub(prefix_len + fields_a.len() + fields_b.len() + fixed);
        let cut = utf8_floor(msg, room.min(msg.len()));
        write_frame(
            out,
            &[
                prefix,
                fields_a,
                fields_b,
                b" ",
                bom,
                &msg[..cut],
                TRUNCATION_MARKER,
            ],
        );
        true
    }
}

/// `MSG-LEN SP` and `<PRI>1 TIMESTAMP SP` in one stack buffer: the prefix
/// is written first, after room for the longest MSG-LEN, and MSG-LEN goes
/// in front of it once the frame's length is known, so both are one copy.
struct Head {
    buf: [u8; LEN_MAX + PREFIX_MAX],
    /// Where the prefix ends.
    end: usize,
}

/// `usize::MAX` has 20 digits; MSG-LEN's SP makes 21.
const LEN_MAX: usize = 21;

impl Head {
    fn new(facility: Facility, severity: Severity, ts: &Timestamp) -> Head {
        let mut buf = [0u8; LEN_MAX + PREFIX_MAX];
        let pri = u16::from(facility.code()) * 8 + u16::from(severity.code());
        let mut n = LEN_MAX;
        buf[n] = b'<';
        n += 1;
        if pri >= 100 {
            buf[n] = b'0' + (pri / 100) as u8;
            n += 1;
        }
        if pri >= 10 {
            buf[n] = b'0' + (pri / 10 % 10) as u8;
            n += 1;
        }
        buf[n] = b'0' + (pri % 10) as u8;
        buf[n + 1..n + 4].copy_from_slice(b">1 ");
        n += 4;
        let mut ts_buf = [0u8; RFC3339_MAX_LEN];
        let ts_len = ts.format_rfc3339(&mut ts_buf);
        buf[n..n + ts_len].copy_from_slice(&ts_buf[..ts_len]);
        buf[n + ts_len] = b' ';
        Head {
            buf,
            end: n + ts_len + 1,
        }
    }

    fn prefix(&self) -> &[u8] {
        &self.buf[LEN_MAX..self.end]
    }

    fn prefix_len(&self) -> usize {
        self.end - LEN_MAX
    }

    /// `MSG-LEN SP` for a SYSLOG-MSG of `msg_len` octets and the prefix.
    fn with_len(&mut self, msg_len: usize) -> &[u8] {
        let mut i = LEN_MAX - 1;
        self.buf[i] = b' ';
        let mut n = msg_len;
        loop {
            i -= 1;
            self.buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &self.buf[i..self.end]
    }
}

/// Appends the length prefix and then every slice in order.
fn write_frame(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.reserve(framing::decimal_len(len) + 1 + len);
    framing::write_len_prefix(out, len);
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// The largest `n <= cut` such that `msg[..n]` does not end inside a UTF-8
/// multi-byte character. When `msg[cut]` is a continuation byte, steps back
/// (at most 3 bytes) to the lead byte of its character; if there is none,
/// the bytes are not UTF-8 there and `cut` stands.
fn utf8_floor(msg: &[u8], cut: usize) -> usize {
    let is_continuation = |i: usize| msg.get(i).is_some_and(|&b| b & 0xC0 == 0x80);
    if !is_continuation(cut) {
        return cut;
    }
    (cut.saturating_sub(3)..cut)
        .rev()
        .find(|&i| !is_continuation(i))
        .filter(|&i| msg.get(i).is_some_and(|&b| b >= 0xC0))
        .unwrap_or(cut)
}

#[cfg(test)]
mod tests;
