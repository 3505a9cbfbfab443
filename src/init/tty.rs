//! The terminal: when init's stdin is the controlling terminal and init is
//! in its foreground process group (`podman run -it`, an interactive shell),
//! the child's own process group becomes the foreground group, so Ctrl-C,
//! Ctrl-\ and Ctrl-Z reach the child (and its pipeline) directly, as they
//! would without init.
//!
//! Job control: init never stops itself. SIGTSTP/SIGTTIN/SIGTTOU sent to init
//! with kill(2) are forwarded like any other signal; the terminal's own
//! Ctrl-Z goes straight to the child's group. Init stays in a background
//! group, but never gets SIGTTOU for writing its messages or for the
//! hand-over, because it keeps those signals blocked (the kernel then lets
//! the write or `tcsetpgrp` through).

/// Whether stdin is our controlling terminal and we are its foreground group.
pub fn stdin_is_foreground_terminal() -> bool {
    // SAFETY: isatty, tcgetpgrp and getpgrp only read process state.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// In the forked child, already leader of its own group: make that group the
/// terminal's foreground group. Async-signal-safe. A failure is reported and
/// tolerated: the child then runs in the background group, as under tini
/// when its hand-over fails (ENOTTY/ENXIO: the terminal went away).
pub fn take_foreground_in_child() {
    // SAFETY: plain syscalls on fd 0.
    if unsafe { libc::tcsetpgrp(0, libc::getpid()) } == 0 {
        return;
    }
    const MSG: &[u8] = b"reaplog init: cannot make the child the terminal's foreground group\n";
    // SAFETY: static buffer; the result does not matter (see log.rs).
    unsafe { libc::write(2, MSG.as_ptr().cast(), MSG.len()) };
}
