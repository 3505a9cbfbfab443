//! State.
pub mod checkpoint;
pub mod writer;
