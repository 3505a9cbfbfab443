//! The relay's pieces that reaplog's own integration tests and benchmarks
//! drive directly: the tailer (tested against a model of a file), the
//! checkpoint format, and the one line → frame entry point (benchmarked).
//! Not a stable API: it changes with the code it exposes.

pub use crate::relay::encode::classify::{gitlab_rule, plain_rule, FileRule, LineFormat};
pub use crate::relay::encode::process::Processing;
pub use crate::relay::encode::rfc5424::{Encoder, HeaderFields};
pub use crate::relay::encode::syslog::{Facility, Severity};
pub use crate::relay::encode::time::{parse_rfc3339, Timestamp};
pub use crate::relay::encode::{Encoded, FileStamp, LineCodec, Stamp};
pub use crate::relay::input::discover::walk_rotated;
pub use crate::relay::input::fingerprint::{FileKey, Fingerprint};
pub use crate::relay::input::tail::{
    Flow, Line, ReadOutcome, Reopen, Seen, TailError, TailOptions, Tailer,
};
pub use crate::relay::state::checkpoint::{CheckpointError, Checkpoints, Entry, CHECKPOINT_FILE};
