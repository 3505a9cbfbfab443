//! `reaplog init`: PID 1 for containers.
#![deny(clippy::unwrap_used, clippy::expect_used)]

/// Runs `reaplog init` with the arguments after the sub-command name and
/// returns the process exit code.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("reaplog init: not built yet");
    2
}
