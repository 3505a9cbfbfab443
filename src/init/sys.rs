//! Every call init makes into libc, behind safe functions: the one module of
//! `init` allowed `unsafe` (the others forbid it). Each function is a thin
//! wrapper that turns a C return value into `io::Result` or a plain value;
//! the policy (which errno is tolerated, and why) stays with the caller.
//!
//! [`prepare_child`] runs between `fork` and `exec`, where only
//! async-signal-safe calls are allowed: it is here because it is nothing but
//! such calls.

use std::ffi::c_void;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use libc::{c_int, pid_t};

/// The highest signal number on Linux (`_NSIG - 1`).
pub(super) const MAX_SIGNAL: c_int = 64;

/// Our own pid.
pub(super) fn getpid() -> pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// `kill(pid, sig)`.
pub(super) fn kill(pid: pid_t, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Writes `bytes` to fd 2 with one `write`. The result is ignored on
/// purpose: if stderr is gone there is nowhere left to report it, and init
/// must go on reaping. Async-signal-safe.
pub(super) fn write_stderr(bytes: &[u8]) {
    // SAFETY: the pointer and length describe a live, initialised slice.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// `prctl(option, arg, 0, 0, 0)` for the options that take one integer.
pub(super) fn prctl(option: c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the callers' options (PR_SET_CHILD_SUBREAPER,
    // PR_SET_PDEATHSIG) take one integer argument.
    if unsafe { libc::prctl(option, arg, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether stdin is our controlling terminal and we are its foreground group.
pub(super) fn stdin_is_foreground_terminal() -> bool {
    // SAFETY: isatty, tcgetpgrp and getpgrp only read process state.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// A signal set.
#[derive(Clone, Copy)]
pub(super) struct SigSet(libc::sigset_t);

impl SigSet {
    /// Every signal libc lets a program use (it leaves out its own reserved
    /// real-time signals, which it needs unblocked).
    pub(super) fn full() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the set.
        unsafe {
            libc::sigfillset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// No signal.
    pub(super) fn empty() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }
}

/// `pthread_sigmask(how, set)`; async-signal-safe.
fn sigmask(how: c_int, set: &SigSet) -> io::Result<()> {
    // SAFETY: `set` is initialised; the old mask is not wanted.
    match unsafe { libc::pthread_sigmask(how, &set.0, std::ptr::null_mut()) } {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

/// Adds `set` to the blocked signals.
pub(super) fn block(set: &SigSet) -> io::Result<()> {
    sigmask(libc::SIG_BLOCK, set)
}

/// `signal(sig, SIG_DFL)`.
pub(super) fn set_default(sig: c_int) -> io::Result<()> {
    // SAFETY: SIG_DFL is always a valid disposition for a catchable signal.
    if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What `sigtimedwait` says of a signal it dequeued: number, `si_code`,
/// `si_pid`.
pub(super) type SigInfo = (c_int, c_int, pid_t);

/// `sigtimedwait(set, timeout)`: a signal of `set` taken off the queue, at
/// most `timeout` later (forever when `None`). The error carries the errno
/// (EAGAIN when the time ran out, EINTR when interrupted).
pub(super) fn sigtimedwait(set: &SigSet, timeout: Option<Duration>) -> io::Result<SigInfo> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: valid set, writable siginfo, timespec or null (wait forever).
    let signo = unsafe { libc::sigtimedwait(&set.0, info.as_mut_ptr(), ts_ptr) };
    if signo <= 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sigtimedwait filled `info` for the returned signal.
    let info = unsafe { info.assume_init() };
    // SAFETY: si_pid is valid to read for any dequeued signal (0 when the
    // kernel sent it).
    let pid = unsafe { info.si_pid() };
    Ok((signo, info.si_code, pid))
}

/// A relative timeout; capped at i32::MAX seconds (68 years) so that it
/// fits `time_t` on every libc (musl's is being widened).
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// `waitpid(pid, WNOHANG | __WALL | flags)`: `(pid, status)` of a reaped
/// child, `None` when none has exited.
pub(super) fn waitpid_nohang(pid: pid_t) -> io::Result<Option<(pid_t, c_int)>> {
    let mut status = 0;
    // __WALL: also children created by clone() with another exit signal.
    let flags = libc::WNOHANG | libc::__WALL;
    // SAFETY: `status` is a valid out-pointer.
    match unsafe { libc::waitpid(pid, &mut status, flags) } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some((pid, status))),
    }
}

/// The pid of an exited child, left in place for `waitpid` (0 when none
/// has exited): `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT | __WALL)`.
pub(super) fn peek_exited() -> io::Result<pid_t> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL;
    // SAFETY: `info` is zeroed and writable; with WNOHANG and no exited
    // child, si_pid stays 0 (what POSIX and Linux specify).
    let rc = unsafe { libc::waitid(libc::P_ALL, 0, info.as_mut_ptr(), flags) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised or filled in by waitid.
    Ok(unsafe { info.assume_init().si_pid() })
}

/// Makes `cmd` run [`prepare_child`] between fork and exec.
pub(super) fn prepare_child_before_exec(cmd: &mut Command, take_terminal: bool) {
    // SAFETY: prepare_child calls only async-signal-safe functions
    // (pthread_sigmask, setpgid, tcsetpgrp, rt_sigaction, write); it
    // allocates nothing and takes no lock.
    unsafe { cmd.pre_exec(move || prepare_child(take_terminal)) };
}

/// Runs in the child before exec. Order matters: signals stay blocked
/// through the terminal hand-over (a background `tcsetpgrp` would otherwise
/// stop us with SIGTTOU) and are unblocked last.
fn prepare_child(take_terminal: bool) -> io::Result<()> {
    // Errors cannot be reported from here but by failing the spawn; a
    // blocked mask only delays the hand-over's SIGTTOU check.
    let _blocked = block(&SigSet::full());
    // SAFETY: setpgid on ourselves.
    if unsafe { libc::setpgid(0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if take_terminal {
        take_foreground();
    }
    reset_signals()
}

/// In the forked child, already leader of its own group: make that group the
/// terminal's foreground group. A failure is reported and tolerated: the
/// child then runs in the background group, as under tini when its
/// hand-over fails (ENOTTY/ENXIO: the terminal went away).
fn take_foreground() {
    // SAFETY: plain syscalls on fd 0.
    if unsafe { libc::tcsetpgrp(0, libc::getpid()) } == 0 {
        return;
    }
    write_stderr(b"reaplog init: cannot make the child the terminal's foreground group\n");
}

/// Every disposition back to SIG_DFL (a handler would be reset by exec
/// anyway, but SIG_IGN inherited from our own parent, or std's SIG_IGN for
/// SIGPIPE, would survive it), then an empty mask.
fn reset_signals() -> io::Result<()> {
    for sig in 1..=MAX_SIGNAL {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_default_raw(sig);
        }
    }
    sigmask(libc::SIG_SETMASK, &SigSet::empty())
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

/// At most this many read-only segments are found (linkers emit 2 or 3).
pub(super) const MAX_SEGMENTS: usize = 8;

/// Read-only segments of the main program, as (address, length).
#[derive(Default)]
pub(super) struct Segments {
    /// The first `count` entries are set.
    pub ranges: [(usize, usize); MAX_SEGMENTS],
    /// How many were found.
    pub count: usize,
}

/// The main program's read-only PT_LOAD segments.
pub(super) fn read_only_segments() -> Segments {
    let mut segments = Segments::default();
    let data = (&mut segments as *mut Segments).cast::<c_void>();
    // SAFETY: the callback only reads the program headers it is handed and
    // writes into `segments`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(collect_main_program), data) };
    segments
}

/// Called for the main program first; returns 1 to stop after it (shared
/// libraries, when dynamically linked, are shared anyway and left alone).
unsafe extern "C" fn collect_main_program(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid info whose phdr array has phnum
    // entries; `data` is the `Segments` passed by read_only_segments.
    let (bias, phdrs, segments) = unsafe {
        let info = &*info;
        let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
        (
            info.dlpi_addr as usize,
            phdrs,
            &mut *data.cast::<Segments>(),
        )
    };
    let read_only = phdrs
        .iter()
        .filter(|ph| ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W == 0);
    for ph in read_only.take(MAX_SEGMENTS) {
        segments.ranges[segments.count] = (bias + ph.p_vaddr as usize, ph.p_memsz as usize);
        segments.count += 1;
    }
    1
}

/// The size of a memory page.
pub(super) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// `madvise(start, len, MADV_DONTNEED)` over whole pages of our own
/// executable's read-only segments (the only caller's use): their contents
/// come back from the file on the next access.
pub(super) fn drop_read_only_pages(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: the range lies inside a read-only, file-backed mapping of our
    // own executable (from read_only_segments), which is never written.
    match unsafe { libc::madvise(start as *mut c_void, len, libc::MADV_DONTNEED) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
