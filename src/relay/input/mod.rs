//! Input: which files to read and how to read them.
pub mod discover;
pub mod fingerprint;
pub mod rotation;
pub mod shard;
pub mod sources;
pub mod tail;
