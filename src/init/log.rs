//! Init's own messages: one line each on stderr, prefixed `reaplog init: `,
//! filtered by verbosity (tini's levels: 0 errors only, 1 warnings, the
//! default, 2 info, 3 debug).
//!
//! A line is formatted into a stack buffer and written with one `write(2)`:
//! no allocation, no interleaving with the child's output (a pipe write up to
//! PIPE_BUF is atomic), and no panic when stderr is closed (`eprintln!` would
//! panic, and PID 1 must not die of its own logging).

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// How much is printed; messages above the current level are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Sets the verbosity (0..=3; larger values mean debug).
pub(super) fn set_verbosity(v: u8) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

/// Whether a message at `level` would be printed.
pub(super) fn enabled(level: Level) -> bool {
    level as u8 <= VERBOSITY.load(Ordering::Relaxed)
}

/// Prints one message line if `level` is enabled.
pub(super) fn emit(level: Level, args: fmt::Arguments<'_>) {
    if enabled(level) {
        write_line(args);
    }
}

/// Prints one line unconditionally (reports the operator asked for).
pub(super) fn write_line(args: fmt::Arguments<'_>) {
    let mut line = Line::default();
    // Formatting into a fixed buffer cannot fail; overflow is truncated.
    let _ = write!(line, "reaplog init: {args}");
    line.finish();
    super::sys::write_stderr(&line.buf[..line.len]);
}

/// A fixed-size line buffer; text past its end is dropped, a newline always
/// fits.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }
}

impl Line {
    fn finish(&mut self) {
        let end = self.len.min(self.buf.len() - 1);
        self.buf[end] = b'\n';
        self.len = end + 1;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = (self.buf.len() - 1).saturating_sub(self.len);
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

macro_rules! error {
    ($($arg:tt)*) => { $crate::init::log::emit($crate::init::log::Level::Error, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::init::log::emit($crate::init::log::Level::Warn, format_args!($($arg)*)) };
}
macro_rules! info {
    ($($arg:tt)*) => { $crate::init::log::emit($crate::init::log::Level::Info, format_args!($($arg)*)) };
}
macro_rules! debug {
    ($($arg:tt)*) => { $crate::init::log::emit($crate::init::log::Level::Debug, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, info, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_truncated_and_still_end_with_a_newline() {
        let mut line = Line::default();
        let long = "x".repeat(2000);
        let _ = write!(line, "{long}");
        line.finish();
        assert_eq!(line.len, 512);
        assert_eq!(line.buf[511], b'\n');
    }
}
