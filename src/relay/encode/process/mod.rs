//! Process: what happens to a classified line before it is encoded
//! (issue 14). Pure, like the rest of `encode`.
//!
//! * [`drop`]: `[[drop]]` rules; a dropped line becomes no frame, and its
//!   offset is still confirmed (the reader marks every line it read).
//! * [`redact`]: `[redact]`, secrets in MSG replaced by `[REDACTED]`
//!   before the encoder truncates, so a cut never leaks half a token;
//!   the built-in GitLab finder is in `secrets`.
//! * [`sd`]: `[structured_data]`, one static SD-ELEMENT rendered into each
//!   file's header fields once.
//!
//! The order per line: classify → drop rules (on the line as written) →
//! redact → encode (truncation last).

pub(crate) mod drop;
pub(crate) mod redact;
pub(crate) mod sd;
mod secrets;

use drop::DropRule;
use redact::Redactor;
use sd::StaticSd;

use super::syslog::Severity;

/// Everything between classification and encoding, for one relay.
#[derive(Clone, Debug, Default)]
pub struct Processing {
    /// `[redact]`.
    pub redact: Redactor,
    /// `[[drop]]`, in configuration order: the first rule that matches a
    /// line counts it.
    pub drops: Vec<DropRule>,
    /// `[structured_data]`.
    pub sd: Option<StaticSd>,
}

impl Processing {
    /// Nothing at all: lines as they were written, no SD (tests, benches).
    pub fn none() -> Processing {
        Processing {
            redact: Redactor::off(),
            drops: Vec::new(),
            sd: None,
        }
    }

    /// The rules' labels, in order, for the metrics.
    pub fn drop_labels(&self) -> Vec<String> {
        self.drops.iter().map(|r| r.label.clone()).collect()
    }

    /// The rules whose file-level keys match a file with these values.
    pub(super) fn file_drops(&self, app_name: &str, msgid: &str, hostname: &str) -> Box<[usize]> {
        (0..self.drops.len())
            .filter(|&i| self.drops[i].matches_file(app_name, msgid, hostname))
            .collect()
    }

    /// The first of `candidates` (from [`Processing::file_drops`]) that
    /// drops a line of this severity and MSG.
    pub(super) fn dropped_by(
        &self,
        candidates: &[usize],
        severity: Severity,
        msg: &[u8],
    ) -> Option<usize> {
        candidates.iter().copied().find(|&i| {
            self.drops
                .get(i)
                .is_some_and(|r| r.matches_line(severity, msg))
        })
    }
}

#[cfg(test)]
mod tests;
