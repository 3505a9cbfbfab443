//! The signal mask: init blocks every signal before it spawns anything and
//! takes them off the queue synchronously with `sigtimedwait` (no handlers,
//! so no work ever happens in one). The child gets an empty mask and default
//! dispositions back in `pre_exec` ([`reset_for_exec`]).
//!
//! Blocking is also what makes PID 1 receive signals at all: the kernel drops
//! a signal sent to a namespace's init when its disposition is SIG_DFL, but
//! never a blocked one, which stays queued for `sigtimedwait`.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use libc::c_int;

/// The highest signal number on Linux (`_NSIG - 1`).
pub const MAX_SIGNAL: c_int = 64;

/// A signal taken off the queue, with what the kernel says about its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Signal number.
    pub signo: c_int,
    /// `si_code`: <= 0 when a process sent it (SI_USER, SI_QUEUE, SI_TKILL),
    /// > 0 when the kernel generated it (a fault, a terminal, SIGCHLD).
    pub code: c_int,
    /// `si_pid`: the sender, when a process sent it.
    pub pid: libc::pid_t,
}

/// Every signal, blocked for the life of init; owns the set `wait` uses.
pub struct Blocked {
    set: libc::sigset_t,
}

impl Blocked {
    /// Blocks all signals (the kernel silently keeps SIGKILL and SIGSTOP
    /// out of the mask) and makes sure SIGCHLD is not ignored.
    pub fn all() -> io::Result<Self> {
        // An ignored SIGCHLD (inherited from whoever started us) makes the
        // kernel reap our children itself: we would lose the child's status.
        set_default(libc::SIGCHLD)?;
        let set = full_set();
        // SAFETY: `set` is initialised; the old mask is not wanted.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Blocked { set })
    }

    /// Waits for the next signal, at most `timeout` (forever when `None`).
    /// `Ok(None)` means the time ran out or the wait was interrupted.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Received>> {
        let ts = timeout.map(timespec);
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: valid set, writable siginfo, timespec or null (wait forever).
        let signo = unsafe { libc::sigtimedwait(&self.set, info.as_mut_ptr(), ts_ptr) };
        if signo > 0 {
            // SAFETY: sigtimedwait filled `info` for the returned signal.
            let info = unsafe { info.assume_init() };
            let pid = unsafe { info.si_pid() };
            return Ok(Some(Received {
                signo,
                code: info.si_code,
                pid,
            }));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // EAGAIN: the timeout expired, which is how timers tick here.
            Some(libc::EAGAIN) => Ok(None),
            // EINTR: a stop/continue (or a ptrace attach) interrupted the
            // wait; nothing was dequeued, the caller just waits again.
            Some(libc::EINTR) => Ok(None),
            _ => Err(err),
        }
    }
}

fn full_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set (libc leaves out its own
    // reserved real-time signals, which it needs unblocked).
    unsafe {
        libc::sigfillset(set.as_mut_ptr());
        set.assume_init()
    }
}

fn set_default(sig: c_int) -> io::Result<()> {
    // SAFETY: SIG_DFL is always a valid disposition for a catchable signal.
    if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A relative timeout; capped at i32::MAX seconds (68 years) so that it
/// fits `time_t` on every libc (musl's is being widened).
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// In the forked child, before exec: every disposition back to SIG_DFL (a
/// handler would be reset by exec anyway, but SIG_IGN inherited from our own
/// parent, or std's SIG_IGN for SIGPIPE, would survive it), then an empty
/// mask. Async-signal-safe: only `rt_sigaction` and `pthread_sigmask`.
pub fn reset_for_exec() -> io::Result<()> {
    for sig in 1..=MAX_SIGNAL {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_default_raw(sig);
        }
    }
    let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set.
    let rc = unsafe {
        libc::sigemptyset(empty.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// The kernel's `struct sigaction` (handler, flags, restorer, mask).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// SIG_DFL through the raw system call: libc's `signal`/`sigaction` refuse
/// the real-time signals libc reserves for itself (32, 33, and 34 on musl)
/// with EINVAL, yet a parent may have left them ignored and the child must
/// not inherit that. The result is not checked: for a catchable signal
/// number with SIG_DFL the call cannot fail.
fn set_default_raw(sig: c_int) {
    let action = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let mask_size = std::mem::size_of::<u64>();
    // SAFETY: valid pointer to a kernel sigaction; no old action wanted.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            mask_size,
        )
    };
}

/// Blocks everything in the forked child, so that the terminal hand-over
/// (`tcsetpgrp` from a background group) cannot stop it with SIGTTOU.
pub fn block_all_in_child() {
    let set = full_set();
    // SAFETY: valid set; async-signal-safe.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
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
pub fn parse(text: &str, allow_zero: bool) -> Option<c_int> {
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
pub fn name(sig: c_int) -> &'static str {
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
