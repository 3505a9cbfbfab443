//! RELP's frame format (librelp's wire format), for the tests' own RELP
//! client (`rsyslog_harness`) and server (`relay_relp`):
//! `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.

/// One RELP frame, a command or a `rsp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u64,
    pub command: String,
    pub data: Vec<u8>,
}

/// The bytes of one frame; `DATA` (and the space before it) only when not empty.
pub fn encode(txnr: u64, command: &str, data: &[u8]) -> Vec<u8> {
    let mut frame = format!("{txnr} {command} {}", data.len()).into_bytes();
    if !data.is_empty() {
        frame.push(b' ');
        frame.extend_from_slice(data);
    }
    frame.push(b'\n');
    frame
}

/// Takes the first complete frame off the front of `buf`: `Ok(None)` while
/// it is still arriving, `Err` for bytes that are no RELP frame.
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    // The header: TXNR SP COMMAND SP DATALEN, which ends in SP, or in LF
    // when DATALEN is 0.
    let mut fields = Vec::with_capacity(3);
    let mut pos = 0;
    for _ in 0..3 {
        let Some(len) = buf[pos..].iter().position(|&b| b == b' ' || b == b'\n') else {
            return Ok(None);
        };
        let token = String::from_utf8_lossy(&buf[pos..pos + len]).into_owned();
        let ended = buf[pos + len] == b'\n';
        pos += len + 1;
        if ended && fields.len() < 2 {
            return Err(format!("RELP header ended early at {token:?}"));
        }
        fields.push((token, ended));
    }
    let txnr = fields[0]
        .0
        .parse()
        .map_err(|_| format!("non-numeric txnr {:?}", fields[0].0))?;
    let (len_text, ended) = &fields[2];
    let len: usize = len_text
        .parse()
        .map_err(|_| format!("non-numeric datalen {len_text:?}"))?;
    let data = if *ended {
        Vec::new()
    } else {
        let Some(data) = buf.get(pos..pos + len + 1) else {
            return Ok(None);
        };
        if data[len] != b'\n' {
            return Err(format!(
                "RELP trailer: {:?} instead of LF",
                data[len] as char
            ));
        }
        pos += len + 1;
        data[..len].to_vec()
    };
    buf.drain(..pos);
    Ok(Some(Frame {
        txnr,
        command: std::mem::take(&mut fields[1].0),
        data,
    }))
}
