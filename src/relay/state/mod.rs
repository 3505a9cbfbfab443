//! State: what has been confirmed, kept across restarts.
//!
//! * [`checkpoint`]: the versioned file format (one entry per file: key,
//!   first bytes, offset, path) with its checksum and golden tests;
//! * [`writer`]: the checkpoint thread, the only code that writes the state
//!   directory (temp → fsync → rename → fsync the directory).
pub(super) mod checkpoint;
pub(super) mod writer;
