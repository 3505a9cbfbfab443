//! RELP frames, pure: encoding commands and incrementally parsing what the
//! server sends. No socket, no state beyond the bytes given.
//!
//! The wire format (RELP, rsyslog's "Reliable Event Logging Protocol",
//! librelp's `doc/relp.html`):
//!
//! ```text
//! RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//! TXNR       = NUMBER        ; 1..=999999999, wraps to 1; 0 for server hints
//! COMMAND    = 1*32ALPHA
//! DATALEN    = NUMBER        ; octets of DATA; 0 means no SP and no DATA
//! NUMBER     = 1*9DIGIT
//! rsp DATA   = CODE [SP HUMANMSG] [LF CMDDATA]   ; "200 OK", "500 ..."
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// The largest transaction number; the next one is 1 again.
pub(crate) const MAX_TXNR: u32 = 999_999_999;
/// The longest COMMAND the protocol allows.
const MAX_COMMAND: usize = 32;
/// NUMBER has at most 9 digits.
const MAX_DIGITS: usize = 9;

/// The transaction number after `txnr` (999,999,999 wraps to 1: 0 is the
/// server's hint number).
pub(crate) fn next_txnr(txnr: u32) -> u32 {
    if txnr >= MAX_TXNR {
        1
    } else {
        txnr + 1
    }
}

/// Appends one frame: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
pub(crate) fn write_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    debug_assert!(txnr <= MAX_TXNR && !command.is_empty() && command.len() <= MAX_COMMAND);
    out.reserve(data.len() + command.len() + 22);
    push_decimal(out, txnr as usize);
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    push_decimal(out, data.len());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    crate::relay::encode::framing::write_len_prefix(out, n);
    // write_len_prefix ends MSG-LEN with its SP; the caller places its own.
    out.pop();
}

/// The offers of our `open` command: protocol version 0 (the only one
/// defined), who we are, and the one command we use.
pub(crate) fn open_offers() -> Vec<u8> {
    format!(
        "relp_version=0\nrelp_software=reaplog,{},https://gitlab.com/reaplog\ncommands=syslog",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// One frame received from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub txnr: u32,
    pub command: &'a [u8],
    pub data: &'a [u8],
}

/// Why the bytes received cannot be a RELP frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("bad {field} in RELP frame header (byte {found:#04x})")]
    BadHeader { field: &'static str, found: u8 },
    #[error("RELP frame DATALEN {len} exceeds the limit of {max} octets")]
    TooLong { len: usize, max: usize },
    #[error("RELP frame not ended by LF (byte {found:#04x})")]
    MissingTrailer { found: u8 },
}

/// Reads one frame from the start of `buf`.
///
/// `Ok(Some((frame, consumed)))` for a whole frame, `Ok(None)` when more
/// bytes are needed, `Err` when `buf` cannot start a frame whose DATA is at
/// most `max_data` octets. Never panics, whatever the bytes.
pub(crate) fn parse_frame(
    buf: &[u8],
    max_data: usize,
) -> Result<Option<(Frame<'_>, usize)>, CodecError> {
    let mut pos = 0;
    let Some(txnr) = number(buf, &mut pos, "TXNR")? else {
        return Ok(None);
    };
    let Some(command) = word(buf, &mut pos)? else {
        return Ok(None);
    };
    let Some(len) = number_end(buf, &mut pos)? else {
        return Ok(None);
    };
    if len > max_data {
        return Err(CodecError::TooLong { len, max: max_data });
    }
    let data = if len == 0 {
        &buf[pos..pos]
    } else {
        // number_end stopped on the SP before DATA.
        let start = pos + 1;
        let Some(data) = buf.get(start..start + len) else {
            return Ok(None);
        };
        pos = start + len;
        data
    };
    match buf.get(pos) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((
            Frame {
                txnr: txnr as u32,
                command,
                data,
            },
            pos + 1,
        ))),
        Some(&found) => Err(CodecError::MissingTrailer { found }),
    }
}

/// A NUMBER followed by SP; `pos` ends after the SP.
fn number(buf: &[u8], pos: &mut usize, field: &'static str) -> Result<Option<usize>, CodecError> {
    let mut n = 0usize;
    for (i, &b) in buf[*pos..].iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_DIGITS => n = n * 10 + usize::from(b - b'0'),
            b' ' if i > 0 => {
                *pos += i + 1;
                return Ok(Some(n));
            }
            found => return Err(CodecError::BadHeader { field, found }),
        }
    }
    Ok(None)
}

/// DATALEN, followed by SP (then DATA) or, when 0, by the LF trailer; `pos`
/// ends on that SP or LF.
fn number_end(buf: &[u8], pos: &mut usize) -> Result<Option<usize>, CodecError> {
    let mut n = 0usize;
    for (i, &b) in buf[*pos..].iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_DIGITS => n = n * 10 + usize::from(b - b'0'),
            b' ' | b'\n' if i > 0 && ((b == b'\n') == (n == 0)) => {
                *pos += i;
                return Ok(Some(n));
            }
            found => {
                return Err(CodecError::BadHeader {
                    field: "DATALEN",
                    found,
                })
            }
        }
    }
    Ok(None)
}

/// COMMAND followed by SP; `pos` ends after the SP.
fn word<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, CodecError> {
    let start = *pos;
    for (i, &b) in buf[start..].iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' if i < MAX_COMMAND => {}
            b' ' if i > 0 => {
                *pos = start + i + 1;
                return Ok(Some(&buf[start..start + i]));
            }
            found => {
                return Err(CodecError::BadHeader {
                    field: "COMMAND",
                    found,
                })
            }
        }
    }
    Ok(None)
}

/// The DATA of an `rsp` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rsp<'a> {
    /// 200 for OK, 500 for an error.
    pub code: u16,
    /// The human-readable text after the code ("OK", the server's reason).
    pub text: &'a [u8],
    /// After the first LF: the offers of an `open` answer.
    pub body: &'a [u8],
}

impl Rsp<'_> {
    pub(crate) fn is_ok(&self) -> bool {
        self.code == 200
    }

    /// The text for log lines.
    pub(crate) fn text_lossy(&self) -> String {
        String::from_utf8_lossy(self.text).into_owned()
    }
}

/// Parses `rsp` DATA: three digits, then optionally SP text, then
/// optionally LF and command data. `None` when it does not start so.
pub(crate) fn parse_rsp(data: &[u8]) -> Option<Rsp<'_>> {
    let code = data.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let rest = &data[3..];
    let (head, body) = match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let text = match head.first() {
        None => head,
        Some(b' ') => &head[1..],
        Some(_) => return None,
    };
    Some(Rsp { code, text, body })
}

/// Whether the offers in an `open` answer name `command` in `commands=`.
pub(crate) fn offers_command(offers: &[u8], command: &str) -> bool {
    offers.split(|&b| b == b'\n').any(|offer| {
        offer
            .strip_prefix(b"commands=")
            .is_some_and(|list| list.split(|&b| b == b',').any(|c| c == command.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_commands_with_and_without_data() {
        let mut out = Vec::new();
        write_frame(&mut out, 2, "syslog", b"<13>1 - - - - - - hi");
        write_frame(&mut out, 3, "close", b"");
        assert_eq!(out, b"2 syslog 20 <13>1 - - - - - - hi\n3 close 0\n");
    }

    #[test]
    fn txnr_wraps_from_999999999_to_1() {
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(MAX_TXNR - 1), MAX_TXNR);
        assert_eq!(next_txnr(MAX_TXNR), 1);
    }

    #[test]
    fn parses_rsp_and_serverclose_frames_back_to_back() {
        let buf = b"2 rsp 6 200 OK\n0 serverclose 0\n3 rsp 17 500 queue is full\n4";
        let (f, n) = parse_frame(buf, 100).unwrap().unwrap();
        assert_eq!(
            (f.txnr, f.command, f.data),
            (2, &b"rsp"[..], &b"200 OK"[..])
        );
        let rest = &buf[n..];
        let (f, n2) = parse_frame(rest, 100).unwrap().unwrap();
        assert_eq!(
            (f.txnr, f.command, f.data),
            (0, &b"serverclose"[..], &b""[..])
        );
        let rest = &rest[n2..];
        let (f, n3) = parse_frame(rest, 100).unwrap().unwrap();
        let rsp = parse_rsp(f.data).unwrap();
        assert_eq!((rsp.code, rsp.text), (500, &b"queue is full"[..]));
        assert_eq!(parse_frame(&rest[n3..], 100), Ok(None));
    }

    #[test]
    fn parses_the_open_answer_and_its_offers() {
        let data = b"200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog";
        let rsp = parse_rsp(data).unwrap();
        assert!(rsp.is_ok());
        assert_eq!(rsp.text, b"OK");
        assert!(offers_command(rsp.body, "syslog"));
        assert!(!offers_command(b"commands=foo,syslogx", "syslog"));
        assert!(offers_command(b"commands=foo,syslog", "syslog"));
    }

    #[test]
    fn rejects_what_is_not_a_relp_frame() {
        let err = |b: &[u8]| parse_frame(b, 100).unwrap_err();
        assert!(matches!(
            err(b"x rsp"),
            CodecError::BadHeader { field: "TXNR", .. }
        ));
        assert!(matches!(err(b"1234567890 "), CodecError::BadHeader { .. }));
        assert!(matches!(
            err(b"1 r5p"),
            CodecError::BadHeader {
                field: "COMMAND",
                ..
            }
        ));
        assert!(matches!(
            err(b"1 rsp 0 "),
            CodecError::BadHeader {
                field: "DATALEN",
                ..
            }
        ));
        assert!(matches!(
            err(b"1 rsp 2\n"),
            CodecError::BadHeader {
                field: "DATALEN",
                ..
            }
        ));
        assert_eq!(
            err(b"1 rsp 2 OKX"),
            CodecError::MissingTrailer { found: b'X' }
        );
        assert_eq!(
            err(b"1 rsp 101 "),
            CodecError::TooLong { len: 101, max: 100 }
        );
        assert_eq!(parse_rsp(b"20"), None);
        assert_eq!(parse_rsp(b"200OK"), None);
    }

    /// Shows the parser can fail the round trip: a frame cut short is not whole.
    #[test]
    fn a_truncated_frame_is_incomplete_not_whole() {
        let mut out = Vec::new();
        write_frame(&mut out, 7, "rsp", b"200 OK");
        for cut in 0..out.len() {
            assert_eq!(parse_frame(&out[..cut], 100), Ok(None), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn written_frames_parse_back(frames in proptest::collection::vec(
            (1..=MAX_TXNR, "[a-z]{1,32}", proptest::collection::vec(any::<u8>(), 0..300)), 1..8)) {
            let mut out = Vec::new();
            for (txnr, cmd, data) in &frames {
                write_frame(&mut out, *txnr, cmd, data);
            }
            let mut rest = &out[..];
            for (txnr, cmd, data) in &frames {
                let (f, n) = parse_frame(rest, 1000).unwrap().unwrap();
                prop_assert_eq!(f.txnr, *txnr);
                prop_assert_eq!(f.command, cmd.as_bytes());
                prop_assert_eq!(f.data, &data[..]);
                rest = &rest[n..];
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(Some((_, n))) = parse_frame(&buf, 64) {
                prop_assert!(n <= buf.len());
            }
            let _ = parse_rsp(&buf);
            let _ = offers_command(&buf, "syslog");
        }

        #[test]
        fn near_frames_never_panic(prefix in "[0-9]{1,10} [a-z]{0,3} ?[0-9]{0,4} ?", tail in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut buf = prefix.into_bytes();
            buf.extend_from_slice(&tail);
            if let Ok(Some((_, n))) = parse_frame(&buf, 64) {
                prop_assert!(n <= buf.len());
            }
        }
    }
}
