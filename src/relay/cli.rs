//! Command line of `reaplog relay`.

/// Runs `reaplog relay` with the arguments after the sub-command name.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("reaplog relay: not built yet");
    2
}
