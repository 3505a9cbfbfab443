//! Init's place in the process tree: PID 1 receives every orphan of its
//! namespace by definition; anywhere else init registers as a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so orphans of its descendants come
//! to it instead of to the host's init. Also the parent-death signal (`-p`).

use libc::c_int;

use super::log;
use super::signals;
use super::sys;

/// Where orphans go, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// PID 1 of a PID namespace.
    Pid1,
    /// A registered child subreaper.
    Subreaper,
    /// Neither: orphans escape to an ancestor; init only reaps its child.
    Neither,
}

/// Becomes a subreaper when not PID 1 (always: `-s` only makes the choice
/// explicit) and reports which role init has.
pub(super) fn configure(explicit: bool) -> Role {
    if sys::getpid() == 1 {
        if explicit {
            log::debug!("PID 1 already receives every orphan: -s not needed");
        }
        return Role::Pid1;
    }
    match sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) {
        Ok(()) => {
            log::debug!("registered as child subreaper");
            Role::Subreaper
        }
        Err(e) => {
            // EINVAL on kernels before 3.4: we can go on, but orphans of
            // the child will not be reaped by us.
            log::warning!(
                "not PID 1 and cannot become a subreaper ({e}): orphans will not be reaped here"
            );
            Role::Neither
        }
    }
}

/// Asks the kernel to send `sig` to init when its parent dies (`-p`); the
/// signal then goes through the normal forwarding path.
pub(super) fn set_parent_death_signal(sig: c_int) {
    if let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) {
        log::warning!(
            "cannot set parent-death signal SIG{}: {e}",
            signals::name(sig)
        );
    }
}
