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

pub(super) use super::sys::stdin_is_foreground_terminal;
