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

/// Bytes of data the peer's TCP has acknowledged on socket `fd` since the
/// connection began (TCP_INFO `tcpi_bytes_acked`, Linux 4.1+); `None` when
/// the kernel will not say.
pub(super) fn acknowledged_bytes(fd: RawFd) -> Option<u64> {
    // SAFETY: an all-zero tcp_info is a valid value of the plain C struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes to `info`, a live,
    // writable tcp_info of that size, and stores the length it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // An older kernel fills a shorter struct that ends before the field.
    let end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
    (rc == 0 && len as usize >= end).then_some(info.tcpi_bytes_acked)
}

/// flock(2) without waiting: `Ok(true)` once `file` is locked (exclusive
/// or shared), `Ok(false)` when another open file holds a conflicting lock.
/// The lock belongs to the open file and goes when it is closed.
pub(super) fn try_flock(file: &std::fs::File, exclusive: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    } | libc::LOCK_NB;
    // SAFETY: flock takes a descriptor and flags only; the descriptor is
    // live for the call (borrowed from `file`).
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Whether we run as root (tests skip permission checks root passes).
#[cfg(test)]
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The `f_type` of the file system holding `path` (statfs(2)); `None` when
/// it cannot be asked.
pub(super) fn fs_type(path: &std::path::Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statfs is a valid value of the plain C struct.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path that outlives the call; `buf` is
    // a live, writable statfs that the kernel fills on success.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, not everywhere
    (rc == 0).then_some(buf.f_type as i64)
}

/// Raises the soft limit on open descriptors (RLIMIT_NOFILE) to `want`,
/// or as far as the hard limit allows; returns the soft limit then in
/// force (`None`: unlimited or unknown).
pub(super) fn raise_open_files_limit(want: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit to a live, writable struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one live rlimit; raising the soft limit
        // up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    Some(lim.rlim_cur)
}
