//! Metrics.
pub mod http;
pub use http::*;
