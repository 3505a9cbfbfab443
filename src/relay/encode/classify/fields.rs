//! The handful of fields a structured line (JSON or logfmt) can carry that
//! decide its severity and time, and how they are read.

use crate::relay::encode::syslog::Severity;
use crate::relay::encode::time::{parse_rfc3339, Timestamp};

/// Raw values of the keys the classifier looks at; the first occurrence of a
/// key wins. Strings are their content between the quotes, escapes left in;
/// other values the literal token.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Fields<'a> {
    pub severity: Option<&'a [u8]>,
    pub level: Option<&'a [u8]>,
    /// `log_level` or `lvl`, whichever comes first.
    pub log_level: Option<&'a [u8]>,
    pub status: Option<&'a [u8]>,
    pub time: Option<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// Keeps `value` if `key` is one of ours and not yet seen.
    pub(super) fn record(&mut self, key: &[u8], value: &'a [u8]) {
        let slot = match key {
            b"severity" => &mut self.severity,
            b"level" => &mut self.level,
            b"log_level" | b"lvl" => &mut self.log_level,
            b"status" => &mut self.status,
            b"time" => &mut self.time,
            b"timestamp" => &mut self.timestamp,
            _ => return,
        };
        slot.get_or_insert(value);
    }

    /// True once nothing later in the line can change the outcome: the
    /// highest-priority severity key and the time are both known.
    pub(super) fn complete(&self) -> bool {
        self.severity.is_some() && self.time.is_some()
    }

    /// `severity`, then `level`, then `log_level`/`lvl` (a value that is not a
    /// known level name counts as absent); else HTTP `status` 5xx → err,
    /// 4xx → notice.
    pub(super) fn severity(&self) -> Option<Severity> {
        [self.severity, self.level, self.log_level]
            .into_iter()
            .flatten()
            .find_map(severity_from_name)
            .or_else(|| self.status.and_then(severity_from_status))
    }

    /// `time`, else `timestamp` (puma), when it is RFC 3339.
    pub(super) fn timestamp(&self) -> Option<Timestamp> {
        [self.time, self.timestamp]
            .into_iter()
            .flatten()
            .find_map(parse_rfc3339)
    }
}

/// Level names of Ruby's Logger, logrus, zap, Python and syslog, any case.
pub(super) fn severity_from_name(name: &[u8]) -> Option<Severity> {
    // Lower-cased into a stack buffer, then one `match` (a length switch and
    // a compare), not a case-insensitive walk over every name per line.
    let mut buf = [0u8; LONGEST_NAME];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"info" | b"informational" => Severity::Informational,
        b"debug" | b"trace" => Severity::Debug,
        b"warn" | b"warning" => Severity::Warning,
        b"error" | b"err" => Severity::Error,
        b"notice" | b"unknown" | b"any" => Severity::Notice,
        b"fatal" | b"crit" | b"critical" | b"dpanic" => Severity::Critical,
        b"panic" | b"alert" => Severity::Alert,
        b"emerg" | b"emergency" => Severity::Emergency,
        _ => return None,
    })
}

/// `informational`: no level name is longer.
const LONGEST_NAME: usize = 13;

/// An HTTP status (three digits, as a number or a string): 5xx → err,
/// 4xx → notice, anything else → no opinion.
pub(super) fn severity_from_status(status: &[u8]) -> Option<Severity> {
    match status {
        [b'5', b'0'..=b'9', b'0'..=b'9'] => Some(Severity::Error),
        [b'4', b'0'..=b'9', b'0'..=b'9'] => Some(Severity::Notice),
        _ => None,
    }
}
