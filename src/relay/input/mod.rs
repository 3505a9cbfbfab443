//! Input: which files to read and how to read them.
pub(super) mod discover;
pub(super) mod fingerprint;
pub(super) mod rotation;
pub(super) mod shard;
pub(super) mod sources;
pub(super) mod tail;
