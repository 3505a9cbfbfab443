//! What happens to a signal init received (other than SIGCHLD, which means
//! "reap"): forwarded to the child or its process group, rewritten on the
//! way (`-r SRC:DST`), or dropped, with the reason.
//!
//! The decision ([`route`]) is a pure function; [`Forwarder`] only sends.

use libc::c_int;

use super::log;
use super::signals::{self, Received};
use super::sys;

/// What to do with one received signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// Send this signal (possibly rewritten) to the child.
    Forward(c_int),
    /// Do not forward.
    Drop(DropReason),
}

/// Why a signal is not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DropReason {
    /// The kernel raised a fault signal (si_code > 0): it concerns init's own
    /// execution, not something the child should be told about.
    KernelFault,
    /// Init raised it against itself (SIGPIPE from a write to a closed
    /// stderr: blocked signals are queued even when "ignored").
    SelfRaised,
    /// A rewrite rule maps it to 0.
    Rewritten,
}

/// Signals that a fault in the receiving process makes the kernel send.
const FAULTS: [c_int; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGSYS,
    libc::SIGTRAP,
];

/// Decides where `sig` goes. `own_pid` is init's pid (to spot self-raised
/// signals); `rewrites` are `(src, dst)` pairs, first match wins.
pub(super) fn route(sig: Received, own_pid: libc::pid_t, rewrites: &[(c_int, c_int)]) -> Route {
    if FAULTS.contains(&sig.signo) && sig.code > 0 {
        return Route::Drop(DropReason::KernelFault);
    }
    if sig.code == libc::SI_USER && sig.pid == own_pid {
        return Route::Drop(DropReason::SelfRaised);
    }
    let dst = rewrites
        .iter()
        .find(|(src, _)| *src == sig.signo)
        .map_or(sig.signo, |&(_, dst)| dst);
    if dst == 0 {
        return Route::Drop(DropReason::Rewritten);
    }
    Route::Forward(dst)
}

/// Sends forwarded signals to the main child, or its process group (`-g`).
pub(super) struct Forwarder {
    /// Pid of the main child; with `group`, also its process group id (the
    /// child is always started in its own group).
    child: libc::pid_t,
    /// `-g`: signal the whole process group.
    group: bool,
    /// `-r` rules, `(src, dst)`.
    rewrites: Vec<(c_int, c_int)>,
    /// Init's own pid.
    own_pid: libc::pid_t,
}

impl Forwarder {
    /// A forwarder for the child `child`.
    pub(super) fn new(child: libc::pid_t, group: bool, rewrites: Vec<(c_int, c_int)>) -> Self {
        let own_pid = sys::getpid();
        Forwarder {
            child,
            group,
            rewrites,
            own_pid,
        }
    }

    /// Routes and sends one signal; errors are logged, never fatal.
    pub(super) fn handle(&self, sig: Received) {
        match route(sig, self.own_pid, &self.rewrites) {
            Route::Forward(dst) => self.send(dst),
            Route::Drop(reason) => log::info!(
                "not forwarding SIG{} (si_code {}, from pid {}): {reason:?}",
                signals::name(sig.signo),
                sig.code,
                sig.pid
            ),
        }
    }

    fn send(&self, sig: c_int) {
        let target = if self.group { -self.child } else { self.child };
        log::debug!("forwarding SIG{} to {target}", signals::name(sig));
        let Err(err) = sys::kill(target, sig) else {
            return;
        };
        match err.raw_os_error() {
            // ESRCH: the child (or its whole group) has just exited; its
            // SIGCHLD is queued and the reaper will see it.
            Some(libc::ESRCH) => log::debug!("SIG{}: target {target} gone", signals::name(sig)),
            _ => log::warning!(
                "cannot forward SIG{} to {target}: {err}",
                signals::name(sig)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(signo: c_int) -> Received {
        Received {
            signo,
            code: libc::SI_USER,
            pid: 4242,
        }
    }

    #[test]
    fn forwards_user_sent_signals_unchanged() {
        for sig in 1..=signals::MAX_SIGNAL {
            assert_eq!(route(user(sig), 1, &[]), Route::Forward(sig));
        }
    }

    #[test]
    fn drops_fault_signals_raised_by_the_kernel() {
        for sig in FAULTS {
            let from_kernel = Received {
                signo: sig,
                code: 1,
                pid: 0,
            };
            assert_eq!(
                route(from_kernel, 1, &[]),
                Route::Drop(DropReason::KernelFault)
            );
        }
    }

    #[test]
    fn forwards_terminal_generated_signals_that_carry_si_kernel() {
        let from_tty = Received {
            signo: libc::SIGINT,
            code: libc::SI_KERNEL,
            pid: 0,
        };
        assert_eq!(route(from_tty, 1, &[]), Route::Forward(libc::SIGINT));
    }

    #[test]
    fn drops_signals_init_raised_against_itself() {
        let own = Received {
            signo: libc::SIGPIPE,
            code: libc::SI_USER,
            pid: 77,
        };
        assert_eq!(route(own, 77, &[]), Route::Drop(DropReason::SelfRaised));
    }

    #[test]
    fn rewrites_and_drops_by_rule() {
        let rules = [(libc::SIGTERM, libc::SIGQUIT), (libc::SIGHUP, 0)];
        assert_eq!(
            route(user(libc::SIGTERM), 1, &rules),
            Route::Forward(libc::SIGQUIT)
        );
        assert_eq!(
            route(user(libc::SIGHUP), 1, &rules),
            Route::Drop(DropReason::Rewritten)
        );
        assert_eq!(
            route(user(libc::SIGINT), 1, &rules),
            Route::Forward(libc::SIGINT)
        );
    }
}
