//! The relay's calls into libc that std does not wrap: the one module of the
//! relay allowed `unsafe` (every other module forbids it).

use std::os::fd::RawFd;

/// Bytes written to the TCP socket `fd` that the peer has not acknowledged
/// yet (SIOCOUTQ); `None` when the kernel will not say.
pub(super) fn unacknowledged_bytes(fd: RawFd) -> Option<usize> {
    let mut pending: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (== TIOCOUTQ) on a socket writes one int to the
    // pointer, which points to a live c_int; on any other fd it fails with
    // an errno and writes nothing.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut pending as *mut libc::c_int) };
    (rc == 0).then(|| usize::try_from(pending).unwrap_or(0))
}

/// Whether we run as root (tests skip permission checks root passes).
#[cfg(test)]
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
