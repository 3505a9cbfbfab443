//! Input: which files to read, and how to read one.
//!
//! * [`sources`] turns the `[[source]]` tables into the files they cover
//!   now ([`discover`] walks roots and globs and watches directories with
//!   inotify; [`shard`] says which pod directories this replica ships);
//! * [`tail`] reads one file: identity ([`fingerprint`]), offset, line
//!   split, partial lines, truncation;
//! * [`budget`] counts open descriptors against `max_open_files`;
//! * [`rotation`] finds where the unread end of a rotated file went.
//!
//! Nothing here knows encoding, batches or outputs.
pub(super) mod budget;
pub(super) mod discover;
pub(super) mod fingerprint;
pub(super) mod rotation;
pub(super) mod shard;
pub(super) mod sources;
pub(super) mod tail;
