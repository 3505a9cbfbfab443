//! What travels from the reader to the output: encoded frames and the file
//! offsets they complete.
//!
//! A batch is the unit of confirmation: once the output has written and
//! flushed all of `bytes`, every [`Mark`] in it is safe to checkpoint.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::relay::batch::replay::{Origin, Segment};
use crate::relay::encode::framing::parse_frame;
use crate::relay::encode::time::Timestamp;
use crate::relay::encode::Encoded;
use crate::relay::input::fingerprint::{FileKey, Fingerprint};
use crate::relay::input::tail::Line;

/// A run of encoded RFC 5425 frames and the offsets they complete.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Octet-counted frames, back to back (or newline-separated for stdout).
    pub bytes: Vec<u8>,
    /// The highest offset reached per file, in the order files were read.
    /// Invariant: at most one mark per file key.
    pub marks: Vec<Mark>,
    /// Messages in `bytes`.
    pub messages: u64,
    /// Where the messages came from, in order: enough to encode them again
    /// ([`crate::relay::batch::replay`]) once `bytes` is gone.
    pub segments: Vec<Segment>,
}

/// "Every line of this file before `offset` is in this batch or an earlier one."
#[derive(Debug, Clone)]
pub(super) struct Mark {
    pub key: FileKey,
    pub fingerprint: Fingerprint,
    pub offset: u64,
    pub path: Arc<Path>,
    /// The file is done (rotated or deleted and read to its end): drop its
    /// checkpoint entry once this batch is confirmed.
    pub finished: bool,
}

impl Batch {
    /// An empty batch with room for `capacity` bytes.
    pub(super) fn with_capacity(capacity: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(capacity),
            marks: Vec::new(),
            messages: 0,
            segments: Vec::new(),
        }
    }

    /// Encodes `line` of `origin`'s file (read at `read_time`) as one more
    /// message, unless a drop rule takes it, and records where it came from.
    /// The caller marks the file's offset either way: a dropped line is
    /// confirmed with the batch like any other.
    pub(super) fn push_line(
        &mut self,
        origin: &Arc<Origin>,
        read_time: &Timestamp,
        line: &Line<'_>,
    ) -> Encoded {
        let encoded = origin
            .recipe
            .encode_line(origin, read_time, line, &mut self.bytes);
        let range = line.start_offset..line.end_offset;
        match encoded {
            Encoded::Frame { .. } => self.note_line(origin, line.fingerprint, range, read_time),
            Encoded::Dropped { .. } => {
                self.note_dropped(origin, line.fingerprint, range, read_time)
            }
        }
        encoded
    }

    /// Records that one more message came from the line at `range` of
    /// `origin`'s file, read at `read_time` from content with `fingerprint`.
    fn note_line(
        &mut self,
        origin: &Arc<Origin>,
        fingerprint: Fingerprint,
        range: Range<u64>,
        read_time: &Timestamp,
    ) {
        self.messages += 1;
        if let Some(s) = self.segments.last_mut() {
            if s.continues(origin, fingerprint, range.start, read_time) {
                s.range.end = range.end;
                s.messages += 1;
                return;
            }
        }
        self.segments.push(Segment {
            origin: Arc::clone(origin),
            fingerprint,
            range,
            read_time: *read_time,
            messages: 1,
        });
    }

    /// A dropped line made no message. It extends the last segment when it
    /// follows it (a replay drops it again), so that one segment still
    /// spans a run of lines; otherwise it needs none.
    fn note_dropped(
        &mut self,
        origin: &Arc<Origin>,
        fingerprint: Fingerprint,
        range: Range<u64>,
        read_time: &Timestamp,
    ) {
        if let Some(s) = self.segments.last_mut() {
            if s.continues(origin, fingerprint, range.start, read_time) {
                s.range.end = range.end;
            }
        }
    }

    /// Whether the segments account for every message (they can be encoded
    /// again instead of keeping `bytes`).
    pub(super) fn replayable(&self) -> bool {
        self.segments.iter().map(|s| s.messages).sum::<u64>() == self.messages
    }

    /// Records that `file` has been handed out up to `offset`.
    pub(super) fn mark(
        &mut self,
        key: FileKey,
        fingerprint: Fingerprint,
        offset: u64,
        path: &Arc<Path>,
    ) {
        // Lines of one file arrive together, so the last mark is usually ours.
        if let Some(m) = self.marks.iter_mut().rev().find(|m| m.key == key) {
            m.offset = offset;
            m.fingerprint = fingerprint;
            return;
        }
        self.marks.push(Mark {
            key,
            fingerprint,
            offset,
            path: Arc::clone(path),
            finished: false,
        });
    }

    /// Records that `key` is finished at `offset`.
    pub(super) fn finish(
        &mut self,
        key: FileKey,
        fingerprint: Fingerprint,
        offset: u64,
        path: &Arc<Path>,
    ) {
        self.mark(key, fingerprint, offset, path);
        if let Some(m) = self.marks.iter_mut().find(|m| m.key == key) {
            m.finished = true;
        }
    }

    /// Nothing to write and nothing to confirm.
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.marks.is_empty()
    }

    /// The SYSLOG-MSGs of `bytes` (octet-counted frames, as the reader
    /// writes them), as byte ranges without the MSG-LEN prefix. Stops at the
    /// first byte that does not start a frame; `bytes` never holds one.
    pub(super) fn message_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges = Vec::with_capacity(self.messages as usize);
        let mut pos = 0;
        while let Ok(Some((msg, used))) = parse_frame(&self.bytes[pos..], usize::MAX) {
            let start = pos + used - msg.len();
            ranges.push(start..pos + used);
            pos += used;
        }
        debug_assert_eq!(pos, self.bytes.len(), "batch bytes are whole frames");
        ranges
    }

    /// Gives back unused capacity when the batch is mostly empty: a batch
    /// the output holds for confirmation then costs what it carries, not
    /// the reader's full batch size.
    pub(super) fn shrink_if_sparse(&mut self) {
        if self.bytes.len() < self.bytes.capacity() / 4 {
            self.bytes.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::encode::framing::write_octet_counted;

    #[test]
    fn message_ranges_strip_the_octet_count() {
        let mut b = Batch::default();
        write_octet_counted(&mut b.bytes, b"<13>1 - - - - - - a");
        write_octet_counted(&mut b.bytes, b"<13>1 - - - - - - bc");
        b.messages = 2;
        let got: Vec<&[u8]> = b
            .message_ranges()
            .into_iter()
            .map(|r| &b.bytes[r])
            .collect();
        assert_eq!(got, [&b"<13>1 - - - - - - a"[..], b"<13>1 - - - - - - bc"]);
    }
}
pub(super) mod replay;
