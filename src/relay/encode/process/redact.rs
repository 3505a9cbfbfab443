//! `[redact]`: secrets in MSG replaced by [`REDACTED`], every other byte
//! kept.
//!
//! Two finders add byte ranges: the built-in one for GitLab's tokens and
//! credentials (`gitlab_tokens`, [`super::secrets`]) and the user's regular
//! expressions (`patterns`). The ranges are merged, and each merged range
//! becomes one `[REDACTED]`. A line in which nothing is found is returned
//! as it is, borrowed: no copy, no allocation.
//!
//! A user pattern replaces its whole match, or only its first capture group
//! when it has one (`private_key=(\S+)` keeps `private_key=`). Patterns are
//! tried together first (one [`RegexSet`] pass); only those that matched
//! run again for their ranges.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::borrow::Cow;
use std::ops::Range;

use regex::bytes::{Regex, RegexSet};

use super::secrets::GitlabSecrets;

/// What a secret is replaced by.
pub(crate) const REDACTED: &[u8] = b"[REDACTED]";

/// Finds and replaces secrets; one per relay.
#[derive(Clone, Debug)]
pub struct Redactor {
    /// `gitlab_tokens = true`.
    gitlab: Option<GitlabSecrets>,
    /// `patterns`, if any.
    patterns: Option<Patterns>,
}

/// The user's patterns, compiled.
#[derive(Clone, Debug)]
struct Patterns {
    /// All of them, for the one pass that says which match.
    set: RegexSet,
    /// Each, for its ranges.
    each: Vec<Regex>,
}

impl Default for Redactor {
    /// The default: GitLab's tokens on, no patterns.
    fn default() -> Self {
        // The built-in automaton is made of constants: it builds.
        Redactor::new(true, &[]).unwrap_or(Redactor {
            gitlab: None,
            patterns: None,
        })
    }
}

impl Redactor {
    /// A redactor for GitLab's tokens when `gitlab_tokens`, and for each of
    /// `patterns` (regular expressions of the `regex` crate, on bytes). The
    /// error names the pattern that does not compile or that matches the
    /// empty string (it would redact nothing, everywhere).
    pub fn new(gitlab_tokens: bool, patterns: &[String]) -> Result<Redactor, String> {
        let gitlab = gitlab_tokens.then(GitlabSecrets::new).transpose()?;
        let patterns = if patterns.is_empty() {
            None
        } else {
            Some(Patterns::new(patterns)?)
        };
        Ok(Redactor { gitlab, patterns })
    }

    /// Redaction off: every line as it is.
    pub fn off() -> Redactor {
        Redactor {
            gitlab: None,
            patterns: None,
        }
    }

    /// `msg` with every secret replaced by `[REDACTED]`; borrowed (the
    /// same bytes) when there is none. `cut`: the tailer cut the line, so a
    /// token at its very end may be the start of a longer one.
    pub fn redact<'a>(&self, msg: &'a [u8], cut: bool) -> Cow<'a, [u8]> {
        let mut spans = Vec::new();
        if let Some(g) = &self.gitlab {
            g.find(msg, cut, &mut spans);
        }
        if let Some(p) = &self.patterns {
            p.find(msg, &mut spans);
        }
        if spans.is_empty() {
            Cow::Borrowed(msg)
        } else {
            Cow::Owned(replace(msg, spans))
        }
    }
}

impl Patterns {
    fn new(patterns: &[String]) -> Result<Patterns, String> {
        let mut each = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            let re = Regex::new(p).map_err(|e| format!("redact.patterns[{i}] {p:?}: {e}"))?;
            if re.is_match(b"") {
                return Err(format!(
                    "redact.patterns[{i}] {p:?}: matches the empty string; a pattern must match the secret itself"
                ));
            }
            each.push(re);
        }
        let set = RegexSet::new(patterns).map_err(|e| format!("redact.patterns: {e}"))?;
        Ok(Patterns { set, each })
    }

    /// Appends the ranges to redact: group 1 of each match when the
    /// pattern has groups (and group 1 took part), else the whole match.
    fn find(&self, msg: &[u8], spans: &mut Vec<Range<usize>>) {
        for i in self.set.matches(msg).iter() {
            let Some(re) = self.each.get(i) else { continue };
            if re.captures_len() > 1 {
                for caps in re.captures_iter(msg) {
                    spans.extend(caps.get(1).map(|m| m.range()));
                }
            } else {
                spans.extend(re.find_iter(msg).map(|m| m.range()));
            }
        }
    }
}

/// `msg` with each of `spans` (merged where they overlap or touch) replaced
/// by [`REDACTED`].
fn replace(msg: &[u8], mut spans: Vec<Range<usize>>) -> Vec<u8> {
    spans.retain(|s| s.start < s.end && s.end <= msg.len());
    spans.sort_unstable_by_key(|s| s.start);
    let mut out = Vec::with_capacity(msg.len() + spans.len() * REDACTED.len());
    let mut pos = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some(mut span) = spans.next() {
        while let Some(next) = spans.next_if(|n| n.start <= span.end) {
            span.end = span.end.max(next.end);
        }
        // An earlier span may already cover this one's start.
        let start = span.start.max(pos);
        if span.end <= pos {
            continue;
        }
        out.extend_from_slice(&msg[pos..start]);
        out.extend_from_slice(REDACTED);
        pos = span.end;
    }
    out.extend_from_slice(&msg[pos..]);
    out
}

#[cfg(test)]
mod tests;
