//! How the main child's end becomes init's exit code: a pure mapping.

/// How a child ended, decoded from a wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChildStatus {
    /// `exit(code)`, 0..=255.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ChildStatus {
    /// Decodes a `waitpid` status; `None` for stop/continue reports.
    pub(super) fn from_wait_status(status: libc::c_int) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(ChildStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ChildStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }
}

/// Exit code when CMD does not exist (as shells do).
pub(super) const NOT_FOUND: i32 = 127;
/// Exit code when CMD exists but cannot be executed (as shells do).
pub(super) const NOT_EXECUTABLE: i32 = 126;
/// Exit code for a usage error or a failure before the child is started.
pub(super) const USAGE: i32 = 2;

/// The child's exit code, or 128+N when signal N killed it (what a shell
/// reports). Then, as tini does, a code listed with `-e` becomes 0 — so
/// `-e 143` makes "stopped by SIGTERM" a success.
pub(super) fn exit_code(status: ChildStatus, expected: &[bool; 256]) -> i32 {
    let code = match status {
        ChildStatus::Exited(code) => code & 0xff,
        ChildStatus::Signaled(sig) => (128 + sig) & 0xff,
    };
    if expected[code as usize] {
        0
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [bool; 256] = [false; 256];

    #[test]
    fn every_exit_code_passes_through() {
        for code in 0..=255 {
            assert_eq!(exit_code(ChildStatus::Exited(code), &NONE), code);
        }
    }

    #[test]
    fn every_signal_maps_to_128_plus_n() {
        for sig in 1..=64 {
            assert_eq!(exit_code(ChildStatus::Signaled(sig), &NONE), 128 + sig);
        }
    }

    #[test]
    fn expected_codes_become_zero_and_only_those() {
        let mut expected = NONE;
        expected[3] = true;
        expected[143] = true;
        for code in 0..=255 {
            let want = if code == 3 || code == 143 { 0 } else { code };
            assert_eq!(exit_code(ChildStatus::Exited(code), &expected), want);
        }
        let term = ChildStatus::Signaled(libc::SIGTERM);
        assert_eq!(exit_code(term, &expected), 0);
    }

    #[test]
    fn decodes_real_wait_statuses() {
        // Encoded as the kernel does: exit code in bits 8..16, signal in 0..7.
        for code in 0..=255 {
            let status = code << 8;
            let got = ChildStatus::from_wait_status(status);
            assert_eq!(got, Some(ChildStatus::Exited(code)));
        }
        for sig in 1..=64 {
            let got = ChildStatus::from_wait_status(sig);
            assert_eq!(got, Some(ChildStatus::Signaled(sig)));
        }
        // 0x7f in the low bits is a stop report: not an end.
        assert_eq!(ChildStatus::from_wait_status(0x137f), None);
    }
}
