//! RFC 5425 §4.3 octet-counted framing: `MSG-LEN SP SYSLOG-MSG`, where
//! MSG-LEN is the SYSLOG-MSG's length in octets, decimal, no leading zero, and
//! nothing (no LF) follows the message.
//!
//! Writing is what the relay does; [`parse_frame`] is the reading side, for
//! test receivers and tools: it is strict about the length prefix so that a
//! test built on it notices a malformed frame.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// The number of decimal digits of `n` (1 for 0).
pub(crate) fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Appends `len` in decimal followed by the SP that ends MSG-LEN.
pub(crate) fn write_len_prefix(out: &mut Vec<u8>, len: usize) {
    // usize::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.push(b' ');
}

/// Appends one whole frame for an already encoded SYSLOG-MSG. A SYSLOG-MSG
/// is never empty (its header alone is at least 15 octets); an empty `msg`
/// would give `0 `, which RFC 5425 does not allow. (The encoder writes
/// MSG-LEN itself, in the same buffer as the header; tests build frames
/// with this.)
#[cfg(test)]
pub(crate) fn write_octet_counted(out: &mut Vec<u8>, msg: &[u8]) {
    out.reserve(decimal_len(msg.len()) + 1 + msg.len());
    write_len_prefix(out, msg.len());
    out.extend_from_slice(msg);
}

/// Why bytes received are not an octet-counted frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The frame does not start with a digit 1–9 (LF-framed traffic, or junk
    /// after a mis-framed message).
    #[error("frame does not start with a non-zero digit (byte {found:#04x})")]
    NotOctetCounted {
        /// The first byte seen.
        found: u8,
    },
    /// MSG-LEN is not followed by a single SP.
    #[error("MSG-LEN is not followed by a space (byte {found:#04x})")]
    MissingSpace {
        /// The byte seen where the SP belongs.
        found: u8,
    },
    /// MSG-LEN exceeds the limit the reader accepts.
    #[error("MSG-LEN {len} exceeds the limit of {max} octets")]
    TooLong {
        /// The announced length (saturated).
        len: usize,
        /// The reader's limit.
        max: usize,
    },
}

/// Reads one frame from the start of `buf`.
///
/// `Ok(Some((msg, consumed)))` when a whole frame is there, `Ok(None)` when
/// more bytes are needed, `Err` when the bytes cannot be a frame whose
/// SYSLOG-MSG is at most `max_len` octets.
pub(crate) fn parse_frame(
    buf: &[u8],
    max_len: usize,
) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if !(b'1'..=b'9').contains(&first) {
        return Err(FrameError::NotOctetCounted { found: first });
    }
    let mut len = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        if b.is_ascii_digit() {
            len = len.saturating_mul(10).saturating_add(usize::from(b - b'0'));
            if len > max_len {
                return Err(FrameError::TooLong { len, max: max_len });
            }
            continue;
        }
        if b != b' ' {
            return Err(FrameError::MissingSpace { found: b });
        }
        let start = i + 1;
        return Ok(buf.get(start..start + len).map(|msg| (msg, start + len)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_prefix_is_decimal_without_leading_zeros() {
        let mut out = Vec::new();
        write_octet_counted(&mut out, b"<34>1 - - - - - -");
        write_octet_counted(&mut out, b"x");
        assert_eq!(out, b"17 <34>1 - - - - - -1 x");
    }

    #[test]
    fn decimal_len_counts_digits() {
        for (n, want) in [(0, 1), (9, 1), (10, 2), (8096, 4), (usize::MAX, 20)] {
            assert_eq!(decimal_len(n), want);
            let mut out = Vec::new();
            write_len_prefix(&mut out, n);
            assert_eq!(out.len(), want + 1);
        }
    }

    #[test]
    fn reads_frames_back_to_back_and_waits_for_partial_ones() {
        let buf = b"3 abc5 hello2 h";
        let (m, n) = parse_frame(buf, 100).unwrap().unwrap();
        assert_eq!((m, n), (&b"abc"[..], 5));
        let (m, n2) = parse_frame(&buf[n..], 100).unwrap().unwrap();
        assert_eq!(m, b"hello");
        assert_eq!(parse_frame(&buf[n + n2..], 100), Ok(None));
        assert_eq!(parse_frame(b"12", 100), Ok(None));
        assert_eq!(parse_frame(b"", 100), Ok(None));
    }

    #[test]
    fn rejects_what_is_not_an_octet_counted_frame() {
        assert_eq!(
            parse_frame(b"<34>1 x\n", 100),
            Err(FrameError::NotOctetCounted { found: b'<' })
        );
        assert_eq!(
            parse_frame(b"03 abc", 100),
            Err(FrameError::NotOctetCounted { found: b'0' })
        );
        assert_eq!(
            parse_frame(b"3\tabc", 100),
            Err(FrameError::MissingSpace { found: b'\t' })
        );
        assert_eq!(
            parse_frame(b"99999999999999999999999 x", 8096),
            Err(FrameError::TooLong {
                len: 9999,
                max: 8096
            })
        );
    }

    proptest! {
        #[test]
        fn written_frames_parse_back(msgs in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..300), 1..8)) {
            let mut out = Vec::new();
            for m in &msgs {
                write_octet_counted(&mut out, m);
            }
            let mut rest = &out[..];
            for m in &msgs {
                let (got, n) = parse_frame(rest, 1000).unwrap().unwrap();
                prop_assert_eq!(got, &m[..]);
                rest = &rest[n..];
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_frame(&buf, 8096);
        }
    }
}
