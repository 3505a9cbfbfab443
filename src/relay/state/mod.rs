//! State: what has been confirmed, kept across restarts.
//!
//! * [`checkpoint`]: the versioned file format (one entry per file: key,
//!   first bytes, offset, path) with its checksum and golden tests;
//! * [`writer`]: the checkpoint thread, the only code that writes
//!   checkpoints (temp → fsync → rename → fsync the directory);
//! * with `shard` set, relays share the state directory: [`owners`] gives
//!   each unit (pod directory) one owner at a time, and [`units`] keeps
//!   one checkpoint file per unit, written only by its owner.
pub(super) mod checkpoint;
pub(super) mod owners;
pub(super) mod units;
pub(super) mod writer;
