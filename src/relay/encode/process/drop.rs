//! `[[drop]]`: lines that are read, confirmed and not shipped.
//!
//! A rule matches a line when every key it gives matches: `app_name`,
//! `msgid` and `hostname` (glob patterns of the `glob` crate, over the
//! file's values before they are sanitized for the header), `below` (the
//! line is less severe than it) and `regex` (over MSG, before redaction).
//! The file's keys are decided once per file ([`DropRule::matches_file`]);
//! per line only `below` and `regex` are looked at.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use glob::Pattern;
use regex::bytes::Regex;

use crate::relay::encode::syslog::Severity;

/// One `[[drop]]` rule, compiled.
#[derive(Clone, Debug)]
pub struct DropRule {
    /// Its label in `reaplog_lines_dropped_total{rule=…}`: `name`, or its
    /// position in the configuration.
    pub label: String,
    /// Glob over the file's APP-NAME.
    pub app_name: Option<Pattern>,
    /// Glob over the file's MSGID.
    pub msgid: Option<Pattern>,
    /// Glob over the file's HOSTNAME (the pod).
    pub hostname: Option<Pattern>,
    /// Lines less severe than this (a higher code) match.
    pub below: Option<Severity>,
    /// Over MSG, before redaction.
    pub regex: Option<Regex>,
}

impl DropRule {
    /// Whether the rule gives any key at all (a rule that gives none
    /// would drop everything: the configuration rejects it).
    pub fn has_keys(&self) -> bool {
        self.app_name.is_some()
            || self.msgid.is_some()
            || self.hostname.is_some()
            || self.below.is_some()
            || self.regex.is_some()
    }

    /// Whether the file-level keys the rule gives match a file with these
    /// header values.
    pub fn matches_file(&self, app_name: &str, msgid: &str, hostname: &str) -> bool {
        let ok = |p: &Option<Pattern>, v: &str| p.as_ref().is_none_or(|p| p.matches(v));
        ok(&self.app_name, app_name) && ok(&self.msgid, msgid) && ok(&self.hostname, hostname)
    }

    /// Whether the line-level keys the rule gives match a line of this
    /// severity and MSG.
    pub fn matches_line(&self, severity: Severity, msg: &[u8]) -> bool {
        self.below.is_none_or(|b| severity.code() > b.code())
            && self.regex.as_ref().is_none_or(|re| re.is_match(msg))
    }
}
