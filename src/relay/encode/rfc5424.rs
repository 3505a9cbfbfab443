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

use std::fmt;
use std::str::FromStr;

use super::framing;
use super::time::{Timestamp, RFC3339_MAX_LEN};

/// rsyslog's default `maxMessageSize`, the receive limit of an unconfigured
/// rsyslog.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8096;

/// The smallest maximum [`Encoder::new`] accepts; smaller values are raised to
/// it. It leaves room for the longest possible header without
/// STRUCTURED-DATA (40 + 468 octets), the BOM, the marker and some message.
pub const MIN_MAX_MESSAGE_SIZE: usize = 1024;

/// Ends the MSG of every truncated message. ASCII, so it is valid in any
/// encoding and never breaks the UTF-8 before it.
pub const TRUNCATION_MARKER: &[u8] = b"...[truncated]";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Octet limits of RFC 5424 §6 for the header fields.
const HOSTNAME_MAX: usize = 255;
const APP_NAME_MAX: usize = 48;
const PROCID_MAX: usize = 128;
const MSGID_MAX: usize = 32;
const SD_NAME_MAX: usize = 32;

/// `<PRI>1 TIMESTAMP ` is at most `<191>1 ` + 32 + SP.
const PREFIX_MAX: usize = 7 + RFC3339_MAX_LEN + 1;

/// Syslog facilities, RFC 5424 Table 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// Syslog severities, RFC 5424 Table 2. `Emergency` is the smallest (most
/// severe) in the ordering, as in the numeric codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Severity {
    Emergency = 0,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

/// Facility names in code order, the spelling rsyslog uses.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

const FACILITIES: [Facility; 24] = [
    Facility::Kern,
    Facility::User,
    Facility::Mail,
    Facility::Daemon,
    Facility::Auth,
    Facility::Syslog,
    Facility::Lpr,
    Facility::News,
    Facility::Uucp,
    Facility::Cron,
    Facility::Authpriv,
    Facility::Ftp,
    Facility::Ntp,
    Facility::Audit,
    Facility::Alert,
    Facility::Clock,
    Facility::Local0,
    Facility::Local1,
    Facility::Local2,
    Facility::Local3,
    Facility::Local4,
    Facility::Local5,
    Facility::Local6,
    Facility::Local7,
];

const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const SEVERITIES: [Severity; 8] = [
    Severity::Emergency,
    Severity::Alert,
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Notice,
    Severity::Informational,
    Severity::Debug,
];

impl Facility {
    /// The numeric code, 0–23.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The facility with numeric code `code`, if any.
    pub fn from_code(code: u8) -> Option<Facility> {
        FACILITIES.get(usize::from(code)).copied()
    }

    /// The conventional name (`local0`, `authpriv`, …).
    pub fn name(self) -> &'static str {
        FACILITY_NAMES[usize::from(self.code())]
    }
}

impl Severity {
    /// The numeric code, 0–7.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The severity with numeric code `code`, if any.
    pub fn from_code(code: u8) -> Option<Severity> {
        SEVERITIES.get(usize::from(code)).copied()
    }

    /// The conventional short name (`err`, `info`, …).
    pub fn name(self) -> &'static str {
        SEVERITY_NAMES[usize::from(self.code())]
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts the names `kern`, `user`, `mail`, `daemon`, `auth`, `syslog`,
/// `lpr`, `news`, `uucp`, `cron`, `authpriv`, `ftp`, `ntp`, `audit`, `alert`,
/// `clock`, `local0`–`local7` (any case), `security` (an old alias of
/// `auth`) and the codes 0–23.
impl FromStr for Facility {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let by_name = match lower.as_str() {
            "security" => Some(Facility::Auth),
            name => FACILITY_NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| FACILITIES.get(i).copied()),
        };
        by_name
            .or_else(|| lower.parse::<u8>().ok().and_then(Facility::from_code))
            .ok_or_else(|| {
                format!(
                    "unknown facility {s:?}: expected one of {} or a number 0-23",
                    FACILITY_NAMES.join(", ")
                )
            })
    }
}

/// Accepts `emerg`/`emergency`/`panic`, `alert`, `crit`/`critical`,
/// `err`/`error`, `warning`/`warn`, `notice`, `info`/`informational`,
/// `debug` (any case) and the codes 0–7.
impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let sev = match lower.as_str() {
            "emerg" | "emergency" | "panic" => Some(Severity::Emergency),
            "alert" => Some(Severity::Alert),
            "crit" | "critical" => Some(Severity::Critical),
            "err" | "error" => Some(Severity::Error),
            "warning" | "warn" => Some(Severity::Warning),
            "notice" => Some(Severity::Notice),
            "info" | "informational" => Some(Severity::Informational),
            "debug" => Some(Severity::Debug),
            n => n.parse::<u8>().ok().and_then(Severity::from_code),
        };
        sev.ok_or_else(|| {
            format!(
                "unknown severity {s:?}: expected one of emerg, alert, crit, err (error), \
                 warning (warn), notice, info, debug or a number 0-7"
            )
        })
    }
}

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
mod tests {
    use super::*;
    use crate::relay::encode::time::parse_rfc3339;
    use proptest::prelude::*;

    /// SD-IDs with their params, values unescaped.
    type ParsedSd = Vec<(String, Vec<(String, String)>)>;

    /// A SYSLOG-MSG as read back by [`parse_strict`].
    #[derive(Debug, PartialEq)]
    struct Parsed<'a> {
        pri: u8,
        timestamp: &'a [u8],
        hostname: &'a [u8],
        app_name: &'a [u8],
        procid: &'a [u8],
        msgid: &'a [u8],
        /// SD-ID and params with values unescaped; empty for `-`.
        sd: ParsedSd,
        msg: Option<&'a [u8]>,
    }

    /// A strict RFC 5424 §6 reader: rejects anything the ABNF does not allow
    /// (and the `\` escapes it only tolerates), so tests fail on bad output.
    fn parse_strict(m: &[u8]) -> Result<Parsed<'_>, String> {
        let mut p = Reader { s: m, pos: 0 };
        p.byte(b'<')?;
        let pri_digits = p.take_while(|b| b.is_ascii_digit());
        if pri_digits.is_empty()
            || pri_digits.len() > 3
            || (pri_digits[0] == b'0' && pri_digits.len() > 1)
        {
            return Err(format!("bad PRI {pri_digits:?}"));
        }
        let pri: u16 = std::str::from_utf8(pri_digits).unwrap().parse().unwrap();
        if pri > 191 {
            return Err("PRI > 191".into());
        }
        p.byte(b'>')?;
        p.byte(b'1')?;
        p.byte(b' ')?;
        let timestamp = p.field(RFC3339_MAX_LEN)?;
        check_timestamp(timestamp)?;
        p.byte(b' ')?;
        let hostname = p.field(255)?;
        p.byte(b' ')?;
        let app_name = p.field(48)?;
        p.byte(b' ')?;
        let procid = p.field(128)?;
        p.byte(b' ')?;
        let msgid = p.field(32)?;
        p.byte(b' ')?;
        let sd = p.structured_data()?;
        let msg = if p.pos == m.len() {
            None
        } else {
            p.byte(b' ')?;
            let msg = &m[p.pos..];
            if let Some(rest) = msg.strip_prefix(BOM) {
                std::str::from_utf8(rest).map_err(|e| format!("BOM then non-UTF-8: {e}"))?;
            }
            Some(msg)
        };
        Ok(Parsed {
            pri: pri as u8,
            timestamp,
            hostname,
            app_name,
            procid,
            msgid,
            sd,
            msg,
        })
    }

    fn check_timestamp(t: &[u8]) -> Result<(), String> {
        if t == b"-" {
            return Ok(());
        }
        let ok = parse_rfc3339(t).is_some()
            && t[10] == b'T'
            && !t.contains(&b'z')
            && !t.contains(&b't')
            && &t[17..19] != b"60"
            && (t.ends_with(b"Z") || t[t.len() - 3] == b':')
            && t.iter().skip(20).take_while(|b| b.is_ascii_digit()).count() <= 6;
        ok.then_some(())
            .ok_or_else(|| format!("bad TIMESTAMP {:?}", String::from_utf8_lossy(t)))
    }

    struct Reader<'a> {
        s: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn byte(&mut self, want: u8) -> Result<(), String> {
            match self.s.get(self.pos) {
                Some(&b) if b == want => {
                    self.pos += 1;
                    Ok(())
                }
                other => Err(format!(
                    "expected {:?} at {}, got {other:?}",
                    want as char, self.pos
                )),
            }
        }

        fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
            let start = self.pos;
            while self.s.get(self.pos).is_some_and(|&b| f(b)) {
                self.pos += 1;
            }
            &self.s[start..self.pos]
        }

        /// A header field: 1..=max PRINTUSASCII.
        fn field(&mut self, max: usize) -> Result<&'a [u8], String> {
            let f = self.take_while(|b| (33..=126).contains(&b));
            if f.is_empty() || f.len() > max {
                return Err(format!("field of {} octets at {}", f.len(), self.pos));
            }
            Ok(f)
        }

        fn sd_name(&mut self) -> Result<String, String> {
            let n = self.take_while(is_sd_name_byte);
            if n.is_empty() || n.len() > 32 {
                return Err(format!("SD-NAME of {} octets at {}", n.len(), self.pos));
            }
            Ok(String::from_utf8(n.to_vec()).unwrap())
        }

        fn structured_data(&mut self) -> Result<ParsedSd, String> {
            if self.s.get(self.pos) == Some(&b'-') {
                self.pos += 1;
                return Ok(Vec::new());
            }
            let mut elements: ParsedSd = Vec::new();
            while self.s.get(self.pos) == Some(&b'[') {
                self.pos += 1;
                let id = self.sd_name()?;
                if elements.iter().any(|(e, _)| *e == id) {
                    return Err(format!("SD-ID {id} twice"));
                }
                let mut params = Vec::new();
                while self.s.get(self.pos) == Some(&b' ') {
                    self.pos += 1;
                    let name = self.sd_name()?;
                    self.byte(b'=')?;
                    self.byte(b'"')?;
                    params.push((name, self.param_value()?));
                }
                self.byte(b']')?;
                elements.push((id, params));
            }
            if elements.is_empty() {
                return Err(format!("no STRUCTURED-DATA at {}", self.pos));
            }
            Ok(elements)
        }

        /// PARAM-VALUE after its opening quote, through the closing one.
        fn param_value(&mut self) -> Result<String, String> {
            let mut v = Vec::new();
            loop {
                match self.s.get(self.pos).copied() {
                    None => return Err("unterminated PARAM-VALUE".into()),
                    Some(b'"') => break,
                    Some(b']') => return Err("unescaped ] in PARAM-VALUE".into()),
                    Some(b'\\') => {
                        self.pos += 1;
                        match self.s.get(self.pos).copied() {
                            Some(c @ (b'"' | b'\\' | b']')) => v.push(c),
                            other => return Err(format!("stray backslash before {other:?}")),
                        }
                    }
                    Some(b) => v.push(b),
                }
                self.pos += 1;
            }
            self.pos += 1;
            String::from_utf8(v).map_err(|e| format!("PARAM-VALUE not UTF-8: {e}"))
        }
    }

    /// Splits one frame, checking the length prefix, and parses the message.
    fn parse_frame_strict(frame: &[u8]) -> Result<Parsed<'_>, String> {
        let (msg, used) = framing::parse_frame(frame, usize::MAX)
            .map_err(|e| e.to_string())?
            .ok_or("incomplete frame")?;
        if used != frame.len() {
            return Err(format!("{} bytes after the frame", frame.len() - used));
        }
        parse_strict(msg)
    }

    fn ts_2003() -> Timestamp {
        parse_rfc3339(b"2003-10-11T22:14:15.003Z").unwrap()
    }

    fn encode(
        enc: &Encoder,
        f: Facility,
        s: Severity,
        ts: &Timestamp,
        h: &HeaderFields,
        msg: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        enc.encode_frame(&mut out, f, s, ts, h, msg, false);
        out
    }

    fn frame(msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        framing::write_octet_counted(&mut out, msg);
        out
    }

    fn example_sd() -> Vec<SdElement> {
        vec![
            SdElement {
                id: "exampleSDID@32473".into(),
                params: vec![
                    ("iut".into(), "3".into()),
                    ("eventSource".into(), "Application".into()),
                    ("eventID".into(), "1011".into()),
                ],
            },
            SdElement {
                id: "examplePriority@32473".into(),
                params: vec![("class".into(), "high".into())],
            },
        ]
    }

    #[test]
    fn renders_rfc5424_example_1_with_bom() {
        let h = HeaderFields::new("mymachine.example.com", "su", "", "ID47", &[]);
        let out = encode(
            &Encoder::new(8096, true),
            Facility::Auth,
            Severity::Critical,
            &ts_2003(),
            &h,
            b"'su root' failed for lonvick on /dev/pts/8",
        );
        assert_eq!(out, frame(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8"));
    }

    #[test]
    fn renders_rfc5424_example_2_with_offset_and_no_bom() {
        let ts = parse_rfc3339(b"2003-08-24T05:14:15.000003-07:00").unwrap();
        let h = HeaderFields::new("192.0.2.1", "myproc", "8710", "", &[]);
        let out = encode(
            &Encoder::default(),
            Facility::Local4,
            Severity::Notice,
            &ts,
            &h,
            b"%% It's time to make the do-nuts.",
        );
        assert_eq!(out, frame(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."));
    }

    #[test]
    fn renders_rfc5424_example_3_with_structured_data_and_message() {
        let h = HeaderFields::new(
            "mymachine.example.com",
            "evntslog",
            "-",
            "ID47",
            &example_sd()[..1],
        );
        let out = encode(
            &Encoder::new(8096, true),
            Facility::Local4,
            Severity::Notice,
            &ts_2003(),
            &h,
            b"An application event log entry...",
        );
        assert_eq!(out, frame(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry..."));
    }

    #[test]
    fn renders_rfc5424_example_4_structured_data_only() {
        let h = HeaderFields::new(
            "mymachine.example.com",
            "evntslog",
            "-",
            "ID47",
            &example_sd(),
        );
        let out = encode(
            &Encoder::new(8096, true),
            Facility::Local4,
            Severity::Notice,
            &ts_2003(),
            &h,
            b"",
        );
        assert_eq!(out, frame(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]"));
    }

    #[test]
    fn golden_gitlab_rails_json_line() {
        let ts = parse_rfc3339(b"2020-01-14T13:35:15.466Z").unwrap();
        let h = HeaderFields::new(
            "gitlab-webservice-default-5d8f7b7c9d-x2x4q",
            "gitlab-rails",
            "",
            "api_json",
            &[],
        );
        let line = br#"{"time":"2020-01-14T13:35:15.466Z","severity":"INFO","duration_s":0.01,"status":200,"method":"GET","path":"/api/v4/projects/1"}"#;
        let out = encode(
            &Encoder::default(),
            Facility::Local0,
            Severity::Informational,
            &ts,
            &h,
            line,
        );
        let mut want = b"<134>1 2020-01-14T13:35:15.466Z gitlab-webservice-default-5d8f7b7c9d-x2x4q gitlab-rails - api_json - ".to_vec();
        want.extend_from_slice(line);
        assert_eq!(out, frame(&want));
        assert_eq!(&out[..4], b"228 ");
    }

    #[test]
    fn golden_pri_extremes() {
        let h = HeaderFields::new("", "", "", "", &[]);
        let t = Timestamp {
            unix_secs: 0,
            micros: 0,
            offset_minutes: 0,
        };
        let out = encode(
            &Encoder::default(),
            Facility::Kern,
            Severity::Emergency,
            &t,
            &h,
            b"x",
        );
        assert_eq!(out, b"37 <0>1 1970-01-01T00:00:00Z - - - - - x");
        let out = encode(
            &Encoder::default(),
            Facility::Local7,
            Severity::Debug,
            &t,
            &h,
            b"x",
        );
        assert_eq!(out, b"39 <191>1 1970-01-01T00:00:00Z - - - - - x");
        let out = encode(
            &Encoder::default(),
            Facility::Cron,
            Severity::Error,
            &t,
            &h,
            b"x",
        );
        assert_eq!(out, b"38 <75>1 1970-01-01T00:00:00Z - - - - - x");
    }

    #[test]
    fn header_fields_are_sanitized_and_cut() {
        let long = "h".repeat(300);
        let h = HeaderFields::new(&long, "gitlab rails\tä", "12\n", &"m".repeat(40), &[]);
        let want = format!(
            "{} gitlab_rails__ 12_ {} -",
            "h".repeat(255),
            "m".repeat(32)
        );
        assert_eq!(h.as_bytes(), want.as_bytes());
        let app = "a".repeat(60);
        let h = HeaderFields::new("-", &app, &"p".repeat(200), "", &[]);
        assert_eq!(
            h.as_bytes(),
            format!("- {} {} - -", "a".repeat(48), "p".repeat(128)).as_bytes()
        );
    }

    #[test]
    fn sd_values_escape_exactly_quote_backslash_bracket() {
        let sd = [SdElement {
            id: "meta@32473".into(),
            params: vec![("path".into(), r#"a"b\c]d[e=f ü"#.into())],
        }];
        let h = HeaderFields::new("h", "a", "p", "m", &sd);
        assert_eq!(
            h.as_bytes(),
            r#"h a p m [meta@32473 path="a\"b\\c\]d[e=f ü"]"#.as_bytes()
        );
    }

    #[test]
    fn sd_names_are_sanitized_and_bad_elements_dropped() {
        let sd = [
            SdElement {
                id: "".into(),
                params: vec![("a".into(), "1".into())],
            },
            SdElement {
                id: "x y]=\"z".into(),
                params: vec![("".into(), "v".into()), ("k=1 ]".into(), "v".into())],
            },
            SdElement {
                id: "x y]=\"z".into(),
                params: vec![],
            },
            SdElement {
                id: "i".repeat(40),
                params: vec![],
            },
        ];
        let h = HeaderFields::new("h", "a", "p", "m", &sd);
        let want = format!("h a p m [x_y___z k_1__=\"v\"][{}]", "i".repeat(32));
        assert_eq!(h.as_bytes(), want.as_bytes());
        let only_bad = [SdElement {
            id: "".into(),
            params: vec![],
        }];
        assert_eq!(
            HeaderFields::new("h", "a", "p", "m", &only_bad).as_bytes(),
            b"h a p m -"
        );
    }

    #[test]
    fn overlong_message_is_cut_to_the_maximum_and_marked() {
        let enc = Encoder::new(1024, false);
        let h = HeaderFields::new("host", "app", "-", "id", &[]);
        let t = ts_2003();
        let mut out = Vec::new();
        assert!(enc.encode_frame(
            &mut out,
            Facility::Local0,
            Severity::Error,
            &t,
            &h,
            &[b'x'; 5000],
            false
        ));
        let p = parse_frame_strict(&out).unwrap();
        let msg = p.msg.unwrap();
        assert!(msg.ends_with(TRUNCATION_MARKER));
        assert_eq!(out.len(), "1024 ".len() + 1024, "fills the maximum exactly");
        assert_eq!(out.len(), enc.max_frame_len());
    }

    #[test]
    fn truncation_backs_off_to_a_character_boundary() {
        let enc = Encoder::new(1024, false);
        let h = HeaderFields::new("host", "app", "-", "id", &[]);
        let t = ts_2003();
        // Try every alignment of 4-byte characters against the cut point.
        for pad in 0..4 {
            let msg = format!("{}{}", "a".repeat(pad), "😀".repeat(400));
            let mut out = Vec::new();
            assert!(enc.encode_frame(
                &mut out,
                Facility::Local0,
                Severity::Error,
                &t,
                &h,
                msg.as_bytes(),
                false
            ));
            let body = parse_frame_strict(&out).unwrap().msg.unwrap();
            let kept = body.strip_suffix(TRUNCATION_MARKER).unwrap();
            assert!(std::str::from_utf8(kept).is_ok(), "pad {pad}");
            assert!(msg.as_bytes().starts_with(kept));
            assert!(
                out.len() > "1024 ".len() + 1024 - 4,
                "loses at most 3 bytes to the boundary"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_cut_at_the_byte() {
        let enc = Encoder::new(1024, false);
        let h = HeaderFields::new("host", "app", "-", "id", &[]);
        let mut out = Vec::new();
        enc.encode_frame(
            &mut out,
            Facility::Local0,
            Severity::Error,
            &ts_2003(),
            &h,
            &[0x80; 3000],
            false,
        );
        assert_eq!(out.len(), "1024 ".len() + 1024);
    }

    #[test]
    fn a_line_cut_by_the_tailer_is_marked_even_when_it_fits() {
        let h = HeaderFields::new("host", "app", "-", "id", &[]);
        let mut out = Vec::new();
        let cut = Encoder::default().encode_frame(
            &mut out,
            Facility::Local0,
            Severity::Error,
            &ts_2003(),
            &h,
            b"{\"a\":",
            true,
        );
        assert!(cut);
        assert_eq!(
            parse_frame_strict(&out).unwrap().msg,
            Some(&b"{\"a\":...[truncated]"[..])
        );
    }

    #[test]
    fn oversized_structured_data_is_dropped_rather_than_the_marker() {
        let sd = [SdElement {
            id: "big@32473".into(),
            params: vec![("v".into(), "x".repeat(2000))],
        }];
        let h = HeaderFields::new("host", "app", "-", "id", &sd);
        let mut out = Vec::new();
        assert!(Encoder::new(1024, false).encode_frame(
            &mut out,
            Facility::Local0,
            Severity::Error,
            &ts_2003(),
            &h,
            b"hello",
            false
        ));
        let p = parse_frame_strict(&out).unwrap();
        assert!(p.sd.is_empty());
        assert_eq!(p.msg, Some(&b"hello...[truncated]"[..]));
    }

    #[test]
    fn no_bom_before_a_message_that_is_not_utf8() {
        let h = HeaderFields::new("h", "a", "-", "m", &[]);
        let out = encode(
            &Encoder::new(8096, true),
            Facility::User,
            Severity::Notice,
            &ts_2003(),
            &h,
            b"\xFFx",
        );
        assert_eq!(
            out,
            frame(b"<13>1 2003-10-11T22:14:15.003Z h a - m - \xFFx")
        );
    }

    #[test]
    fn maximum_below_the_floor_is_raised() {
        assert_eq!(
            Encoder::new(10, false).max_message_size(),
            MIN_MAX_MESSAGE_SIZE
        );
        assert_eq!(Encoder::default().max_message_size(), 8096);
    }

    #[test]
    fn strict_parser_rejects_known_bad_messages() {
        for bad in [
            &b"<34>1 2003-10-11T22:14:15.003Z host su - ID47  msg"[..], // empty SD
            b"<034>1 2003-10-11T22:14:15.003Z h a - m -",               // leading zero
            b"<192>1 2003-10-11T22:14:15.003Z h a - m -",               // PRI range
            b"<34>1 2003-10-11t22:14:15.003Z h a - m -",                // lower-case t
            b"<34>1 2003-10-11T22:14:15.0031234Z h a - m -",            // 7 digits
            b"<34>1 2003-10-11T22:14:15+0200 h a - m -",                // no colon
            b"<34>1 2003-10-11T22:14:60Z h a - m -",                    // leap second
            b"<34>1 - h a - mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm -",       // MSGID 33
            b"<34>1 - h a - m [id k=\"v]\"]",                           // unescaped ]
            b"<34>1 - h a - m [id k=\"v\\n\"]",                         // stray backslash
            b"<34>1 - h a - m [id][id]",                                // duplicate SD-ID
            b"<34>1 - h a - m - \xEF\xBB\xBF\xFF",                      // BOM then not UTF-8
            b"<34>1 - h a - m -x",                                      // no SP before MSG
        ] {
            assert!(
                parse_strict(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_strict(b"<34>1 - h a - m [id k=\"a\\]b\"] msg").is_ok());
        assert!(
            parse_frame_strict(b"60 <34>1 - h a - m - msg").is_err(),
            "length prefix wrong"
        );
    }

    fn arb_facility() -> impl Strategy<Value = Facility> {
        (0u8..24).prop_map(|c| Facility::from_code(c).unwrap())
    }

    fn arb_severity() -> impl Strategy<Value = Severity> {
        (0u8..8).prop_map(|c| Severity::from_code(c).unwrap())
    }

    fn arb_sd() -> impl Strategy<Value = Vec<SdElement>> {
        proptest::collection::vec(
            (
                ".{0,40}",
                proptest::collection::vec((".{0,40}", ".{0,60}"), 0..4),
            )
                .prop_map(|(id, params)| SdElement { id, params }),
            0..4,
        )
    }

    fn arb_msg() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            ".{0,2500}".prop_map(String::into_bytes),
            "[a-z😀é]{0,3000}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_frame_is_well_formed_and_within_the_maximum(
            host in ".{0,300}", app in ".{0,60}", procid in ".{0,140}", msgid in ".{0,40}",
            sd in arb_sd(), msg in arb_msg(), f in arb_facility(), s in arb_severity(),
            secs in any::<i64>(), micros in 0u32..1_000_000, offset in -1439i16..=1439,
            max in 1024usize..4000, bom in any::<bool>(), was_cut in any::<bool>(),
        ) {
            let h = HeaderFields::new(&host, &app, &procid, &msgid, &sd);
            let ts = Timestamp { unix_secs: secs, micros, offset_minutes: offset };
            let enc = Encoder::new(max, bom);
            let mut out = b"previous frames ".to_vec();
            let truncated = enc.encode_frame(&mut out, f, s, &ts, &h, &msg, was_cut);
            let frame = &out[16..];
            let p = parse_frame_strict(frame).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(frame))))?;
            let syslog_msg_len = frame.len() - frame.iter().position(|&b| b == b' ').unwrap() - 1;
            prop_assert!(syslog_msg_len <= max);
            prop_assert_eq!(p.pri, f.code() * 8 + s.code());
            // Within four-digit years the TIMESTAMP carries the exact time.
            if (-62_000_000_000..253_000_000_000).contains(&secs) {
                let t = parse_rfc3339(p.timestamp).unwrap();
                prop_assert_eq!((t.unix_secs, t.micros), (secs, micros));
            }
            for field in [p.hostname, p.app_name, p.procid, p.msgid] {
                prop_assert!(field.iter().all(|b| (33..=126).contains(b)));
            }
            let body = p.msg.unwrap_or(b"");
            let utf8 = std::str::from_utf8(&msg).is_ok();
            let body = if bom && utf8 && !body.is_empty() { body.strip_prefix(BOM).unwrap() } else { body };
            if truncated {
                let kept = body.strip_suffix(TRUNCATION_MARKER).unwrap();
                prop_assert!(msg.starts_with(kept));
                if utf8 {
                    prop_assert!(std::str::from_utf8(kept).is_ok());
                }
            } else {
                prop_assert!(!was_cut);
                prop_assert_eq!(body, &msg[..]);
            }
        }

        #[test]
        fn sd_values_round_trip_through_escaping(values in proptest::collection::vec(".{0,80}", 1..6)) {
            let params: Vec<(String, String)> = values.iter().enumerate().map(|(i, v)| (format!("k{i}"), v.clone())).collect();
            let h = HeaderFields::new("h", "a", "p", "m", &[SdElement { id: "x@32473".into(), params: params.clone() }]);
            let mut out = Vec::new();
            Encoder::new(1 << 20, false).encode_frame(&mut out, Facility::User, Severity::Notice, &ts_2003(), &h, b"m", false);
            let p = parse_frame_strict(&out).map_err(TestCaseError::fail)?;
            prop_assert_eq!(p.sd, vec![("x@32473".to_string(), params)]);
        }

        #[test]
        fn facility_and_severity_names_round_trip(f in arb_facility(), s in arb_severity()) {
            prop_assert_eq!(f.name().parse::<Facility>(), Ok(f));
            prop_assert_eq!(f.code().to_string().parse::<Facility>(), Ok(f));
            prop_assert_eq!(s.name().to_uppercase().parse::<Severity>(), Ok(s));
            prop_assert_eq!(s.code().to_string().parse::<Severity>(), Ok(s));
        }
    }

    #[test]
    fn facility_and_severity_parse_errors_name_the_valid_choices() {
        let e = "local8".parse::<Facility>().unwrap_err();
        assert!(e.contains("local7") && e.contains("0-23"), "{e}");
        assert!("24".parse::<Facility>().is_err());
        let e = "verbose".parse::<Severity>().unwrap_err();
        assert!(e.contains("warning") && e.contains("0-7"), "{e}");
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert_eq!("ERROR".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!(" authpriv ".parse::<Facility>(), Ok(Facility::Authpriv));
    }
}
