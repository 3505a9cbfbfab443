//! Counting reaped orphans by command name, for `--report-orphans` and `-w`.
//!
//! The name is read from `/proc/PID/comm` while the orphan is still a zombie
//! (the reaper peeks with `waitid(WNOWAIT)` first): after the final reap the
//! pid, and its name, are gone. Memory is fixed: at most [`MAX_NAMES`]
//! distinct names are kept, later ones count under `other`.

use std::fmt::{self, Write};
use std::io::Read;
use std::time::{Duration, Instant};

use super::log;

/// Distinct command names remembered per period.
pub(super) const MAX_NAMES: usize = 16;

/// A command name as the kernel keeps it (`TASK_COMM_LEN` = 16, with NUL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) struct Comm {
    bytes: [u8; 16],
    len: u8,
}

impl Comm {
    /// Builds a name from raw `comm` bytes (trailing newline removed,
    /// truncated to 15 bytes as the kernel does).
    pub(super) fn new(raw: &[u8]) -> Self {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let len = raw.len().min(15);
        let mut bytes = [0; 16];
        bytes[..len].copy_from_slice(&raw[..len]);
        Comm {
            bytes,
            len: len as u8,
        }
    }

    /// Reads `/proc/PID/comm`; `None` when the process is already gone.
    pub(super) fn of(pid: libc::pid_t) -> Option<Self> {
        let mut path = PathBuf32::default();
        write!(path, "/proc/{pid}/comm").ok()?;
        let mut file = std::fs::File::open(path.as_str()).ok()?;
        let mut buf = [0u8; 64];
        let n = file.read(&mut buf).ok()?;
        Some(Comm::new(&buf[..n]))
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.bytes[..self.len as usize];
        f.write_str(&String::from_utf8_lossy(s))
    }
}

/// A path built on the stack (no allocation per reaped orphan).
#[derive(Default)]
struct PathBuf32 {
    buf: [u8; 32],
    len: usize,
}

impl PathBuf32 {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for PathBuf32 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Reaped orphans of the current period, by name.
pub(super) struct Tally {
    /// Report period; `None` when `--report-orphans` is off (names are then
    /// only needed for `-w`).
    period: Option<Duration>,
    /// Start of the current period.
    since: Instant,
    /// Orphans reaped in this period.
    total: u64,
    /// Counts by name, at most MAX_NAMES entries.
    names: Vec<(Comm, u64)>,
    /// Orphans whose name did not fit (or could not be read).
    other: u64,
}

impl Tally {
    /// A tally reporting every `period` (or never).
    pub(super) fn new(period: Option<Duration>) -> Self {
        Tally {
            period,
            since: Instant::now(),
            total: 0,
            names: Vec::with_capacity(if period.is_some() { MAX_NAMES } else { 0 }),
            other: 0,
        }
    }

    /// Whether names must be read before reaping.
    pub(super) fn wants_names(&self) -> bool {
        self.period.is_some()
    }

    /// Counts one reaped orphan.
    pub(super) fn record(&mut self, name: Option<Comm>) {
        if self.period.is_none() {
            return;
        }
        self.total += 1;
        let Some(name) = name else {
            self.other += 1;
            return;
        };
        if let Some(entry) = self.names.iter_mut().find(|(n, _)| *n == name) {
            entry.1 += 1;
        } else if self.names.len() < MAX_NAMES {
            self.names.push((name, 1));
        } else {
            self.other += 1;
        }
    }

    /// Time left until the next report is due (`None`: no reports).
    pub(super) fn next_due(&self, now: Instant) -> Option<Duration> {
        let period = self.period?;
        Some((self.since + period).saturating_duration_since(now))
    }

    /// Prints the report if the period is over, and starts a new period.
    pub(super) fn report_if_due(&mut self, now: Instant) {
        if self.next_due(now) == Some(Duration::ZERO) {
            self.report(now);
        }
    }

    /// Prints the line for the current period (if anything was reaped) and
    /// starts a new one.
    pub(super) fn report(&mut self, now: Instant) {
        if self.total > 0 {
            let secs = now.saturating_duration_since(self.since).as_secs();
            log::write_line(format_args!(
                "reaped {} orphans in {secs}s: {}",
                self.total,
                Summary(self)
            ));
        }
        self.since = now;
        self.total = 0;
        self.other = 0;
        self.names.clear();
    }
}

/// `gpg=771 git=2 other=1`, most frequent first.
struct Summary<'a>(&'a Tally);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: [(Comm, u64); MAX_NAMES] = [(Comm::default(), 0); MAX_NAMES];
        let n = self.0.names.len().min(MAX_NAMES);
        sorted[..n].copy_from_slice(&self.0.names[..n]);
        sorted[..n].sort_by_key(|entry| std::cmp::Reverse(entry.1));
        let mut sep = "";
        for (name, count) in &sorted[..n] {
            write!(f, "{sep}{name}={count}")?;
            sep = " ";
        }
        if self.0.other > 0 {
            write!(f, "{sep}other={}", self.0.other)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_names_by_count_then_other() {
        let mut t = Tally::new(Some(Duration::from_secs(60)));
        for _ in 0..3 {
            t.record(Some(Comm::new(b"gpg\n")));
        }
        t.record(Some(Comm::new(b"git\n")));
        t.record(None);
        assert_eq!(t.total, 5);
        assert_eq!(Summary(&t).to_string(), "gpg=3 git=1 other=1");
    }

    #[test]
    fn names_beyond_the_cap_count_as_other() {
        let mut t = Tally::new(Some(Duration::from_secs(1)));
        for i in 0..(MAX_NAMES + 3) {
            t.record(Some(Comm::new(format!("p{i}").as_bytes())));
        }
        assert_eq!(t.names.len(), MAX_NAMES);
        assert_eq!(t.other, 3);
    }

    #[test]
    fn disabled_tally_counts_nothing_and_never_is_due() {
        let mut t = Tally::new(None);
        t.record(Some(Comm::new(b"gpg")));
        assert_eq!(t.total, 0);
        assert_eq!(t.next_due(Instant::now()), None);
    }

    #[test]
    fn comm_is_truncated_like_the_kernel() {
        let c = Comm::new(b"a-very-long-command-name\n");
        assert_eq!(c.to_string(), "a-very-long-com");
    }

    #[test]
    fn reads_own_comm() {
        let me = std::process::id() as libc::pid_t;
        assert!(Comm::of(me).is_some());
    }
}
