//! The signal mask: init blocks every signal before it spawns anything and
//! takes them off the queue synchronously with `sigtimedwait` (no handlers,
//! so no work ever happens in one). The child gets an empty mask and default
//! dispositions back in `pre_exec` ([`sys::prepare_child_before_exec`]).
//!
//! Blocking is also what makes PID 1 receive signals at all: the kernel drops
//! a signal sent to a namespace's init when its disposition is SIG_DFL, but
//! never a blocked one, which stays queued for `sigtimedwait`.

use std::io;
use std::time::Duration;

use libc::c_int;

use super::sys;

pub(super) use super::sys::MAX_SIGNAL;

/// A signal taken off the queue, with what the kernel says about its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Received {
    /// Signal number.
    pub signo: c_int,
    /// `si_code`: <= 0 when a process sent it (SI_USER, SI_QUEUE, SI_TKILL),
    /// > 0 when the kernel generated it (a fault, a terminal, SIGCHLD).
    pub code: c_int,
    /// `si_pid`: the sender, when a process sent it.
    pub pid: libc::pid_t,
}

/// Every signal, blocked for the life of init; owns the set `wait` uses.
pub(super) struct Blocked {
    set: sys::SigSet,
}

impl Blocked {
    /// Blocks all signals (the kernel silently keeps SIGKILL and SIGSTOP
    /// out of the mask) and makes sure SIGCHLD is not ignored.
    pub(super) fn all() -> io::Result<Self> {
        // An ignored SIGCHLD (inherited from whoever started us) makes the
        // kernel reap our children itself: we would lose the child's status.
        sys::set_default(libc::SIGCHLD)?;
        let set = sys::SigSet::full();
        sys::block(&set)?;
        Ok(Blocked { set })
    }

    /// Waits for the next signal, at most `timeout` (forever when `None`).
    /// `Ok(None)` means the time ran out or the wait was interrupted.
    pub(super) fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Received>> {
        match sys::sigtimedwait(&self.set, timeout) {
            Ok((signo, code, pid)) => Ok(Some(Received { signo, code, pid })),
            Err(err) => match err.raw_os_error() {
                // EAGAIN: the timeout expired, which is how timers tick here.
                Some(libc::EAGAIN) => Ok(None),
                // EINTR: a stop/continue (or a ptrace attach) interrupted the
                // wait; nothing was dequeued, the caller just waits again.
                Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            },
        }
    }
}

const NAMES: [(&str, c_int); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses `15`, `TERM`, `SIGTERM`, `term`, `RTMIN+2`; `None` when unknown.
/// `0` is accepted only when `allow_zero` (a rewrite target meaning "drop").
pub(super) fn parse(text: &str, allow_zero: bool) -> Option<c_int> {
    if let Ok(n) = text.parse::<c_int>() {
        let ok = (1..=MAX_SIGNAL).contains(&n) || (allow_zero && n == 0);
        return ok.then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    match bare {
        "IOT" => return Some(libc::SIGABRT),
        "POLL" => return Some(libc::SIGIO),
        "CLD" => return Some(libc::SIGCHLD),
        _ => {}
    }
    if let Some(&(_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Some(n);
    }
    parse_realtime(bare)
}

fn parse_realtime(bare: &str) -> Option<c_int> {
    let (base, rest) = if let Some(rest) = bare.strip_prefix("RTMIN") {
        (libc::SIGRTMIN(), rest)
    } else {
        (libc::SIGRTMAX(), bare.strip_prefix("RTMAX")?)
    };
    let offset = match rest {
        "" => 0,
        _ => rest.parse::<c_int>().ok()?,
    };
    let n = base + offset;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&n)
        .then_some(n)
}

/// The short name of a signal for messages (`TERM`), or `RT` for real-time.
pub(super) fn name(sig: c_int) -> &'static str {
    NAMES
        .iter()
        .find(|(_, n)| *n == sig)
        .map_or("RT", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_names_and_sig_prefixed_names() {
        assert_eq!(parse("15", false), Some(libc::SIGTERM));
        assert_eq!(parse("TERM", false), Some(libc::SIGTERM));
        assert_eq!(parse("SIGTERM", false), Some(libc::SIGTERM));
        assert_eq!(parse("sigusr1", false), Some(libc::SIGUSR1));
        assert_eq!(parse("IOT", false), Some(libc::SIGABRT));
        assert_eq!(parse("RTMIN+1", false), Some(libc::SIGRTMIN() + 1));
        assert_eq!(parse("RTMAX", false), Some(libc::SIGRTMAX()));
    }

    #[test]
    fn rejects_unknown_names_out_of_range_numbers_and_zero_unless_allowed() {
        assert_eq!(parse("NOPE", false), None);
        assert_eq!(parse("65", false), None);
        assert_eq!(parse("-1", false), None);
        assert_eq!(parse("0", false), None);
        assert_eq!(parse("0", true), Some(0));
        assert_eq!(parse("RTMAX+1", false), None);
    }

    #[test]
    fn every_named_signal_round_trips() {
        for (n, sig) in NAMES {
            assert_eq!(parse(n, false), Some(sig));
            assert_eq!(name(sig), n);
        }
    }
}
