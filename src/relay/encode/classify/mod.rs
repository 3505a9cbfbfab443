//! Classification: a line and its file's rule in, syslog fields out.
//!
//! A [`FileRule`] says what a file is (APP-NAME, MSGID, facility, default
//! severity, line format, whether lines carry svlogd's timestamp prefix);
//! [`FileRule::classify`] reads one line's severity and time from it. Pure:
//! no I/O, no allocation, no panic on any input.
//!
//! * [`gitlab_rule`] is the built-in GitLab preset (docs/gitlab-preset.md has the
//!   table); [`plain_rule`] makes a rule for a source from the configuration.
//! * The scanners live in private submodules: `json` (top-level keys of a JSON
//!   object), `logfmt`, `text` (anchored patterns for nginx, PostgreSQL,
//!   Redis, Ruby's Logger).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod fields;
mod gitlab;
mod json;
mod logfmt;
mod text;

use std::fmt;
use std::str::FromStr;

pub use gitlab::gitlab_rule;

use super::syslog::{Facility, Severity};
use super::time::{parse_svlogd, Timestamp};

/// How a file's lines are read for severity and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineFormat {
    /// Per line: a JSON object if it starts with `{`, logfmt if it starts
    /// with `time=`/`level=`, an nginx error line if it starts like one,
    /// Ruby's Logger format if it starts `X, [`; otherwise plain text.
    Auto,
    /// One JSON object per line: `severity`, `level`, `log_level`/`lvl`,
    /// `status`; time from `time` or `timestamp`. Other lines: no opinion.
    Json,
    /// logfmt `key=value` pairs, the same keys as [`LineFormat::Json`].
    Logfmt,
    /// Plain text: every line gets the file's default severity.
    Text,
    /// nginx access log: severity from the HTTP status, time from
    /// `[$time_local]`.
    NginxAccess,
    /// nginx error log: severity from `[level]`, time from the line start.
    NginxError,
    /// PostgreSQL: `LOG:`, `ERROR:`, `FATAL:`, `PANIC:`, … after the prefix.
    Postgres,
    /// Redis: the `.` `-` `*` `#` level marker.
    Redis,
}

impl LineFormat {
    /// The configuration names, in declaration order.
    pub const NAMES: [&'static str; 8] = [
        "auto",
        "json",
        "logfmt",
        "text",
        "nginx_access",
        "nginx_error",
        "postgres",
        "redis",
    ];
    const ALL: [LineFormat; 8] = [
        LineFormat::Auto,
        LineFormat::Json,
        LineFormat::Logfmt,
        LineFormat::Text,
        LineFormat::NginxAccess,
        LineFormat::NginxError,
        LineFormat::Postgres,
        LineFormat::Redis,
    ];

    /// The name used in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            LineFormat::Auto => "auto",
            LineFormat::Json => "json",
            LineFormat::Logfmt => "logfmt",
            LineFormat::Text => "text",
            LineFormat::NginxAccess => "nginx_access",
            LineFormat::NginxError => "nginx_error",
            LineFormat::Postgres => "postgres",
            LineFormat::Redis => "redis",
        }
    }

    /// Severity and time of one line (svlogd prefix already removed).
    fn read(self, line: &[u8]) -> (Option<Severity>, Option<Timestamp>) {
        let from_fields = |f: fields::Fields<'_>| (f.severity(), f.timestamp());
        match self {
            LineFormat::Json => json::scan(line).map_or((None, None), from_fields),
            LineFormat::Logfmt => from_fields(logfmt::scan(line)),
            LineFormat::Text => (None, None),
            LineFormat::NginxAccess => text::nginx_access(line),
            LineFormat::NginxError => text::nginx_error(line),
            LineFormat::Postgres => (text::postgres(line), None),
            LineFormat::Redis => (text::redis(line), None),
            LineFormat::Auto => auto(line),
        }
    }
}

/// [`LineFormat::Auto`]: picks the reader by how the line starts.
fn auto(line: &[u8]) -> (Option<Severity>, Option<Timestamp>) {
    if let Some(f) = json::scan(line) {
        (f.severity(), f.timestamp())
    } else if logfmt::looks_like(line) {
        let f = logfmt::scan(line);
        (f.severity(), f.timestamp())
    } else if text::looks_like_nginx_error(line) {
        text::nginx_error(line)
    } else {
        (text::ruby_logger(line), None)
    }
}

impl fmt::Display for LineFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts [`LineFormat::NAMES`] (any case), plus `plain` for `text` and
/// `postgresql` for `postgres`.
impl FromStr for LineFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let name = match lower.as_str() {
            "plain" => "text",
            "postgresql" => "postgres",
            other => other,
        };
        LineFormat::NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| LineFormat::ALL.get(i).copied())
            .ok_or_else(|| {
                format!(
                    "unknown line format {s:?}: expected one of {}",
                    LineFormat::NAMES.join(", ")
                )
            })
    }
}

/// What a file is, for the syslog header, and how to read its lines.
#[derive(Clone, Debug)]
pub struct FileRule {
    /// APP-NAME (the syslog tag), at most 32 characters by convention.
    pub app_name: String,
    /// MSGID: the file stem, or a runit service's directory name.
    pub msgid: String,
    /// Facility of every line of the file.
    pub facility: Facility,
    /// Severity of a line that says nothing about its own.
    pub default_severity: Severity,
    /// How lines are read for severity and time.
    pub format: LineFormat,
    /// Lines start with svlogd's `-tt` timestamp (runit `current` files).
    pub svlogd_prefix: bool,
}

/// One classified line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified<'a> {
    /// From the line if it says, else the file's default.
    pub severity: Severity,
    /// From the payload (JSON `time`, nginx's time, …), else the svlogd
    /// prefix, else `None` (the caller uses the time it read the line).
    pub timestamp: Option<Timestamp>,
    /// The line with the svlogd prefix (if any) removed; otherwise untouched.
    pub message: &'a [u8],
}

impl FileRule {
    /// Reads one line's severity and time. Pure, allocation-free, total.
    pub fn classify<'a>(&self, line: &'a [u8]) -> Classified<'a> {
        let (prefix_ts, message) = match self.svlogd_prefix.then(|| parse_svlogd(line)).flatten() {
            Some((ts, n)) => (Some(ts), &line[n..]),
            None => (None, line),
        };
        let (severity, ts) = self.format.read(message);
        Classified {
            severity: severity.unwrap_or(self.default_severity),
            timestamp: ts.or(prefix_ts),
            message,
        }
    }
}

/// A rule for a plain source from the configuration (no svlogd prefix; set
/// [`FileRule::svlogd_prefix`] for runit `current` files).
pub fn plain_rule(
    app_name: &str,
    msgid: &str,
    facility: Facility,
    severity: Severity,
    format: LineFormat,
) -> FileRule {
    FileRule {
        app_name: app_name.to_owned(),
        msgid: msgid.to_owned(),
        facility,
        default_severity: severity,
        format,
        svlogd_prefix: false,
    }
}

#[cfg(test)]
mod tests;
