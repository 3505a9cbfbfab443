//! State.
pub(super) mod checkpoint;
pub(super) mod writer;
