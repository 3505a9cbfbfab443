//! Encode.
pub mod classify;
pub mod framing;
pub mod rfc5424;
pub mod syslog;
pub mod time;
