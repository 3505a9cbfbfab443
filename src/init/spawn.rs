//! Starting CMD: its own process group (so `-g` and the terminal can address
//! it and its pipeline), the terminal's foreground when init had it, a clean
//! signal mask and default dispositions. Everything else is inherited
//! unchanged: fds, cwd, environment.
//!
//! std's `Command` does the fork/exec and reports an exec failure (as an
//! errno through a close-on-exec pipe) before `spawn` returns, so that by
//! then the child has exec'd and its group exists. The `Child` handle is
//! dropped without waiting: the reaper owns `wait`.

use std::ffi::OsString;
use std::io;
use std::process::Command;

use super::exit_code;
use super::sys;

/// Starts `command` (PATH is searched as by execvp); returns its pid.
pub(super) fn spawn(command: &[OsString], take_terminal: bool) -> io::Result<libc::pid_t> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    sys::prepare_child_before_exec(&mut cmd, take_terminal);
    let child = cmd.spawn()?;
    Ok(child.id() as libc::pid_t)
}

/// The exit code for a command that could not be started: 127 when it does
/// not exist, 126 when it exists but cannot be executed (as a shell does).
pub(super) fn exit_code_for(err: &io::Error) -> i32 {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => exit_code::NOT_FOUND,
        _ => exit_code::NOT_EXECUTABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_commands_are_127_and_unrunnable_ones_126() {
        let code = |e| exit_code_for(&io::Error::from_raw_os_error(e));
        assert_eq!(code(libc::ENOENT), 127);
        assert_eq!(code(libc::ENOTDIR), 127);
        assert_eq!(code(libc::EACCES), 126);
        assert_eq!(code(libc::ENOEXEC), 126);
    }
}
