//! Every counter the relay keeps, in one place, and the HTTP endpoint that
//! serves them ([`http`]: `/metrics`, `/healthz`, `/readyz`).
//!
//! Each stage gets an `Arc` of its own counter set and only ever adds to it
//! (relaxed atomics: a scrape may see one counter a little ahead of
//! another, never a torn value); a scrape reads them all and never waits
//! for a stage.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};

pub(super) mod http;
pub(super) use http::*;

/// Counters of a running relay.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub reader: Arc<ReaderStats>,
    pub output: Arc<OutputStats>,
    pub checkpoint: Arc<CheckpointStats>,
}

/// Counters the reader keeps (read by metrics and the tests).
#[derive(Debug, Default)]
pub(super) struct ReaderStats {
    pub lines_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub lines_truncated: AtomicU64,
    pub files_watched: AtomicU64,
    /// Log file descriptors open now (tailers and the batches that hold them).
    pub files_open: AtomicU64,
    /// The open-file budget (`max_open_files`, fitted to RLIMIT_NOFILE).
    pub max_open_files: AtomicU64,
    /// Files found but not opened yet: the budget is spent.
    pub files_waiting: AtomicU64,
    /// Directories under the sources' roots.
    pub directories: AtomicU64,
    /// Idle files closed to stay under the budget, and reopened on a change.
    pub file_closes: AtomicU64,
    pub file_reopens: AtomicU64,
    /// Changed closed files that had to wait a round for a descriptor.
    pub fd_waits: AtomicU64,
    /// Closed files rotated out of their directory or deleted before they
    /// could be reopened.
    pub files_gone_closed: AtomicU64,
    /// Messages handed to the output queue.
    pub messages_shipped: AtomicU64,
    /// Shared `state_dir`: units (pod directories) this relay ships now,
    /// units it waits for (another live relay has them), units taken over
    /// from another relay, and claims found held by another.
    pub units_owned: AtomicU64,
    pub units_waiting: AtomicU64,
    pub unit_handovers: AtomicU64,
    pub unit_lock_waits: AtomicU64,
    /// Lines shipped with something replaced by `[REDACTED]` (`[redact]`).
    pub lines_redacted: AtomicU64,
    /// Lines each `[[drop]]` rule took, in configuration order; set once at
    /// start (the rules do not change on a reload).
    drop_rules: OnceLock<Vec<DropRuleStats>>,
    /// Per-source counters, in configuration order.
    sources: Mutex<Vec<Arc<SourceStats>>>,
    /// (path, read offset) of every open file, refreshed about once a second.
    offsets: Mutex<Vec<(Arc<Path>, u64)>>,
}

/// Lines and bytes read from one `[[source]]`.
#[derive(Debug, Default)]
pub(super) struct SourceStats {
    /// `root` or the glob patterns, for the metric's label.
    pub label: String,
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
}

/// Lines one `[[drop]]` rule took.
#[derive(Debug, Default)]
pub(super) struct DropRuleStats {
    /// The rule's `name`, or its position: the metric's `rule` label.
    pub label: String,
    pub lines: AtomicU64,
}

impl ReaderStats {
    /// Registers the drop rules' labels; only the first call counts.
    pub(super) fn set_drop_rules(&self, labels: Vec<String>) {
        let rules = labels
            .into_iter()
            .map(|label| DropRuleStats {
                label,
                lines: AtomicU64::new(0),
            })
            .collect();
        let _first_only = self.drop_rules.set(rules);
    }

    /// Counts one line that drop rule `rule` took.
    pub(super) fn line_dropped(&self, rule: usize) {
        if let Some(r) = self.drop_rules.get().and_then(|r| r.get(rule)) {
            r.lines.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The drop rules' counters, in configuration order.
    pub(super) fn drop_rules(&self) -> &[DropRuleStats] {
        self.drop_rules.get().map_or(&[], Vec::as_slice)
    }

    pub(super) fn sources(&self) -> Vec<Arc<SourceStats>> {
        lock(&self.sources).clone()
    }

    pub(super) fn offsets(&self) -> Vec<(Arc<Path>, u64)> {
        lock(&self.offsets).clone()
    }

    /// Replaces the per-source counters (at start and after a reload).
    pub(super) fn set_sources(&self, sources: Vec<Arc<SourceStats>>) {
        *lock(&self.sources) = sources;
    }

    /// Replaces the snapshot of open files and their read offsets.
    pub(super) fn set_offsets(&self, offsets: Vec<(Arc<Path>, u64)>) {
        *lock(&self.offsets) = offsets;
    }
}

/// A poisoned lock only means a panic elsewhere; the data (counters) is fine.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counters the output keeps (read by metrics and the tests).
#[derive(Debug, Default)]
pub(super) struct OutputStats {
    /// Messages written for the first time.
    pub messages_sent: AtomicU64,
    /// Messages written again after a broken connection or a refusal.
    pub resent_messages: AtomicU64,
    /// Messages a resend could not read again from their file (truncated or
    /// rewritten with no copy beside it): possibly lost.
    pub resend_lost_messages: AtomicU64,
    /// Messages written and not yet confirmed (RELP: unanswered commands;
    /// tls/tcp: messages in the resend window).
    pub in_flight: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub batches_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub connected: AtomicBool,
    /// One entry per `[output] address` target, in configuration order
    /// (empty for stdout).
    targets: Mutex<Vec<Arc<TargetStats>>>,
}

impl OutputStats {
    pub(super) fn targets(&self) -> Vec<Arc<TargetStats>> {
        lock(&self.targets).clone()
    }

    pub(super) fn set_targets(&self, targets: Vec<Arc<TargetStats>>) {
        *lock(&self.targets) = targets;
    }
}

/// Why a connection to a target failed or was given up: the `reason`
/// label of `reaplog_target_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The name did not resolve (or resolved to no address).
    Resolve,
    /// TCP connect refused or unreachable.
    Connect,
    /// `connect_timeout` passed before the connection was usable.
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The RELP server refused or garbled `open`.
    RelpOpen,
    /// A write failed on an established connection.
    Write,
    /// The receiver closed or reset the connection.
    Closed,
    /// No byte acknowledged for `write_timeout` while data waited.
    Stalled,
    /// The RELP server answered a message with an error.
    Refused,
    /// The peer sent something the protocol does not allow.
    Protocol,
}

impl Failure {
    pub(super) const ALL: [Failure; 10] = [
        Failure::Resolve,
        Failure::Connect,
        Failure::Timeout,
        Failure::Tls,
        Failure::RelpOpen,
        Failure::Write,
        Failure::Closed,
        Failure::Stalled,
        Failure::Refused,
        Failure::Protocol,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Failure::Resolve => "resolve",
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Tls => "tls",
            Failure::RelpOpen => "relp_open",
            Failure::Write => "write",
            Failure::Closed => "closed",
            Failure::Stalled => "stalled",
            Failure::Refused => "refused",
            Failure::Protocol => "protocol",
        }
    }
}

/// Counters of one output target.
#[derive(Debug, Default)]
pub(super) struct TargetStats {
    /// `host:port` as configured.
    pub address: String,
    /// Its position in the `address` list.
    pub index: usize,
    /// The last connection to it was established and has not failed.
    pub up: AtomicBool,
    /// It is the target in use (or about to be used again).
    pub current: AtomicBool,
    pub connects: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Indexed like [`Failure::ALL`].
    pub failures: [AtomicU64; 10],
}

impl TargetStats {
    pub(super) fn new(address: &str, index: usize) -> TargetStats {
        TargetStats {
            address: address.to_owned(),
            index,
            ..TargetStats::default()
        }
    }

    pub(super) fn failed(&self, why: Failure) {
        self.up.store(false, std::sync::atomic::Ordering::Relaxed);
        let i = Failure::ALL.iter().position(|f| *f == why).unwrap_or(0);
        self.failures[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Counters the writer keeps (metrics, tests).
#[derive(Debug)]
pub(super) struct CheckpointStats {
    /// Seconds since the Unix epoch of the last successful store (0 = none yet).
    pub last_store_unix: AtomicU64,
    pub store_errors: AtomicU64,
    /// The last store worked (true before the first one).
    pub healthy: AtomicBool,
}

impl Default for CheckpointStats {
    fn default() -> Self {
        CheckpointStats {
            last_store_unix: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
        }
    }
}
