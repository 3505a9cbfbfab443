//! The RELP client: every message is a `syslog` command the server answers
//! with `rsp 200 OK`, and a batch's offsets are confirmed only once every
//! message of it and of all earlier batches was answered so.
//!
//! * [`codec`] encodes and parses frames; this module is the session logic.
//! * One session per connection: `open` (offers `relp_version=0`,
//!   `relp_software`, `commands=syslog`; the answer must offer
//!   `commands=syslog`), then `syslog` commands with at most `window`
//!   unanswered, written many per syscall while answers are read
//!   concurrently (one select loop over the split stream), and `close` at
//!   the end.
//! * A broken connection, a `500` answer, a malformed frame or the server's
//!   `serverclose` hint end the session; after the backoff a new session
//!   sends again, in order, every message not yet answered with `200`.
//!   Duplicates are possible, loss is not.
//!
//! Memory: the output holds the batches that contain unanswered messages
//! (at most `window` messages in flight, so `window` × `max_message_size`
//! plus the two partly answered batches at either end), the write buffer
//! (at most `window` commands) and nothing else; the reader's queue
//! (`run::QUEUE_BATCHES`) comes on top.

pub(crate) mod codec;

use std::collections::VecDeque;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::targets::{answer, Connected, Probe, Switch};
use super::{Stream, Transport};
use crate::relay::batch::{Batch, Mark};
use crate::relay::metrics::{Failure, OutputStats};
use codec::{next_txnr, parse_frame, parse_rsp, CodecError};

/// The largest DATA the server may send us (an `rsp` with offers).
const MAX_RSP_DATA: usize = 64 * 1024;

/// `[output] type = "relp"` settings the session needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Unanswered `syslog` commands, at most.
    pub window: usize,
}

/// Why a session ended before a clean `close`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("{stage}: {source}")]
    Io {
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("connection closed by the server")]
    Eof,
    #[error("server sent serverclose")]
    ServerClose,
    #[error("malformed frame from the server: {0}")]
    Codec(#[from] CodecError),
    #[error("unexpected frame from the server: {0}")]
    Protocol(String),
    #[error("server refused open: {0}")]
    OpenRefused(String),
    #[error("server answered {code} {text:?} to message {txnr}")]
    Refused { code: u16, text: String, txnr: u32 },
    #[error("the server acknowledged no byte for {0:?} while data waited (write_timeout)")]
    Stalled(Duration),
    #[error("the server answered nothing for {0:?} while {1} messages waited (write_timeout)")]
    Unanswered(Duration, usize),
}

/// A batch held until all its messages are answered.
struct Held {
    batch: Batch,
    /// The SYSLOG-MSGs in `batch.bytes`.
    msgs: Vec<Range<usize>>,
    /// Sequence number of `msgs[0]` (messages are numbered across batches).
    first: u64,
}

impl Held {
    fn end(&self) -> u64 {
        self.first + self.msgs.len() as u64
    }
}

/// A sent command waiting for its answer.
struct InFlight {
    txnr: u32,
    seq: u64,
    /// Answered 200, but an earlier message is still unanswered.
    acked: bool,
}

/// Delivery state that outlives sessions.
struct Delivery {
    held: VecDeque<Held>,
    /// Sequence number the next received message gets.
    next_seq: u64,
    /// Every message below this was answered 200 (in this session or before).
    acked_upto: u64,
    /// Highest sequence number ever sent + 1: below it, sending is resending.
    sent_upto: u64,
    /// The reader closed the channel: drain, then `close`.
    closing: bool,
}

/// One connection's state.
struct Session {
    txnr: u32,
    in_flight: VecDeque<InFlight>,
    /// Next message to send.
    cursor: u64,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    /// `close` sent with this txnr.
    close_txnr: Option<u32>,
    /// Failing back: the first target's connection and since when. Send
    /// nothing new here, close once in flight is answered.
    failback: Option<(Connected, Instant)>,
}

/// How long a failback waits for the old server to answer what is in
/// flight before it closes that session (the rest is sent again to the
/// first target).
const FAILBACK_DRAIN: Duration = Duration::from_secs(2);

/// Delivers batches over RELP until the reader closes the channel and
/// everything is answered.
pub(crate) async fn run(
    mut transport: Transport,
    settings: Settings,
    mut batches: mpsc::Receiver<Batch>,
    acks: std::sync::mpsc::Sender<Vec<Mark>>,
    stats: &OutputStats,
) {
    let mut d = Delivery {
        held: VecDeque::new(),
        next_seq: 0,
        acked_upto: 0,
        sent_upto: 0,
        closing: false,
    };
    let mut next: Option<(Connected, Option<Switch>)> = None;
    loop {
        if d.closing && d.held.is_empty() {
            break;
        }
        let (c, switch) = match next.take() {
            Some(c) => c,
            None => transport.connect().await,
        };
        stats.reconnects.fetch_add(1, Ordering::Relaxed);
        stats.connected.store(true, Ordering::Relaxed);
        let unanswered = d.sent_upto - d.acked_upto;
        let peer = transport.peer().to_owned();
        match switch {
            Some(s) => tracing::warn!(
                from = s.from,
                to = peer,
                why = s.why,
                resend = unanswered,
                "switched target (RELP)"
            ),
            None => tracing::info!(peer, resend = unanswered, "connected (RELP)"),
        }
        let result = d
            .session(
                c.stream,
                c.rbuf,
                settings,
                &mut transport,
                &mut batches,
                &acks,
                stats,
            )
            .await;
        stats.connected.store(false, Ordering::Relaxed);
        stats.in_flight.store(0, Ordering::Relaxed);
        match result {
            Ok(None) => break,
            Ok(Some(first)) => {
                let switch = transport.targets().and_then(|t| t.fail_back());
                next = Some((first, switch));
            }
            Err(SessionEnd::AcksGone) => {
                tracing::error!("checkpoint writer is gone; stopping the output");
                return;
            }
            Err(SessionEnd::Broken(e)) => {
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer, error = %e, unanswered = d.sent_upto - d.acked_upto,
                    "RELP session ended; unanswered messages will be sent again");
                transport.failed(e.failure(), &e.to_string());
            }
        }
    }
}

impl SessionError {
    /// The reason label of the target's failure counter.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            SessionError::Io { .. } => Failure::Write,
            SessionError::Eof | SessionError::ServerClose => Failure::Closed,
            SessionError::Codec(_) | SessionError::Protocol(_) => Failure::Protocol,
            SessionError::OpenRefused(_) => Failure::RelpOpen,
            SessionError::Refused { .. } => Failure::Refused,
            SessionError::Stalled(_) | SessionError::Unanswered(..) => Failure::Stalled,
        }
    }
}

/// How a session ended when not cleanly.
enum SessionEnd {
    Broken(SessionError),
    AcksGone,
}

impl From<CodecError> for SessionEnd {
    fn from(e: CodecError) -> Self {
        SessionEnd::Broken(e.into())
    }
}

impl From<SessionError> for SessionEnd {
    fn from(e: SessionError) -> Self {
        SessionEnd::Broken(e)
    }
}

/// Sends `open` (txnr 1) on a new connection and checks the answer offers
/// `commands=syslog`; returns what the server sent after the answer.
pub(crate) async fn open(stream: &mut Pin<Box<dyn Stream>>) -> Result<Vec<u8>, SessionError> {
    let mut frame = Vec::new();
    codec::write_frame(&mut frame, 1, "open", &codec::open_offers());
    let io = |stage| move |source| SessionError::Io { stage, source };
    stream.write_all(&frame).await.map_err(io("write open"))?;
    stream.flush().await.map_err(io("write open"))?;
    let mut rbuf = Vec::with_capacity(64 * 1024);
    loop {
        if let Some((f, n)) = parse_frame(&rbuf, MAX_RSP_DATA)? {
            if f.command != b"rsp" || f.txnr != 1 {
                return Err(SessionError::Protocol(format!(
                    "expected rsp 1 to open, got {} {:?}",
                    f.txnr,
                    String::from_utf8_lossy(f.command)
                )));
            }
            let rsp = parse_rsp(f.data).ok_or_else(|| {
                SessionError::Protocol("rsp to open without a status code".into())
            })?;
            if !rsp.is_ok() {
                return Err(SessionError::OpenRefused(format!(
                    "{} {}",
                    rsp.code,
                    rsp.text_lossy()
                )));
            }
            if !codec::offers_command(rsp.body, "syslog") {
                return Err(SessionError::OpenRefused(format!(
                    "its offers lack commands=syslog: {:?}",
                    String::from_utf8_lossy(rsp.body)
                )));
            }
            rbuf.drain(..n);
            return Ok(rbuf);
        }
        if stream
            .read_buf(&mut rbuf)
            .await
            .map_err(io("read open answer"))?
            == 0
        {
            return Err(SessionError::Eof);
        }
    }
}

impl Delivery {
    /// Runs one session on `stream`: open, exchange, and (when the reader
    /// is done and all is answered) close. `Ok` only after a clean close.
    /// Runs one session on `stream` (its `open` done; `rbuf` holds what
    /// came after the answer): exchange, and close when the reader is done
    /// and all is answered (`Ok(None)`) or when a failback probe reached
    /// the first target (`Ok(Some(connection))`, after the old server
    /// answered what was in flight, or `FAILBACK_DRAIN` passed).
    #[allow(clippy::too_many_arguments)]
    async fn session(
        &mut self,
        stream: Pin<Box<dyn Stream>>,
        rbuf: Vec<u8>,
        settings: Settings,
        transport: &mut Transport,
        batches: &mut mpsc::Receiver<Batch>,
        acks: &std::sync::mpsc::Sender<Vec<Mark>>,
        stats: &OutputStats,
    ) -> Result<Option<Connected>, SessionEnd> {
        let mut progress = transport.progress(&*stream);
        let write_timeout = progress.timeout();
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut s = Session {
            txnr: 2,
            in_flight: VecDeque::with_capacity(settings.window),
            cursor: self.acked_upto,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf,
            close_txnr: None,
            failback: None,
        };
        // Answers are 19 bytes each: one read takes a whole window of them.
        s.rbuf.reserve(64 * 1024);
        // Answers already read with the open answer.
        if self.answers(&mut s, acks, stats)? {
            return Err(SessionError::Protocol("answer to a close never sent".into()).into());
        }
        let mut tick = tokio::time::interval(progress.tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut probe: Option<Probe> = None;
        let mut need_flush = false;
        // Since when messages wait for an answer (the TCP peer may take
        // bytes into its buffer and never read them: only answers count).
        let mut unanswered_since = Instant::now();
        loop {
            if s.in_flight.is_empty() {
                unanswered_since = Instant::now();
            }
            self.fill(&mut s, settings.window, stats);
            let drained = s.failback.as_ref().is_some_and(|(_, since)| {
                s.in_flight.is_empty() || since.elapsed() >= FAILBACK_DRAIN
            });
            if ((self.closing && self.held.is_empty()) || drained) && s.close_txnr.is_none() {
                s.close_txnr = Some(s.txnr);
                codec::write_frame(&mut s.wbuf, s.txnr, "close", b"");
                s.txnr = next_txnr(s.txnr);
            }
            let can_take = !self.closing
                && s.failback.is_none()
                && s.cursor == self.next_seq
                && s.in_flight.len() < settings.window;
            let writing = s.wpos < s.wbuf.len();
            let waiting = writing || !s.in_flight.is_empty();
            tokio::select! {
                n = rd.read_buf(&mut s.rbuf) => {
                    let n = n.map_err(|source| SessionError::Io { stage: "read", source })?;
                    if n == 0 {
                        if s.close_txnr.is_some() {
                            return Ok(s.failback.take().map(|(c, _)| c));
                        }
                        return Err(SessionError::Eof.into());
                    }
                    if self.answers(&mut s, acks, stats)? {
                        finish(&mut wr).await;
                        return Ok(s.failback.take().map(|(c, _)| c));
                    }
                    unanswered_since = Instant::now();
                    transport.healthy();
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if waiting && progress.stalled(now) {
                        return Err(SessionError::Stalled(progress.quiet_for()).into());
                    }
                    let quiet = now.saturating_duration_since(unanswered_since);
                    if !s.in_flight.is_empty() && quiet >= write_timeout {
                        return Err(SessionError::Unanswered(quiet, s.in_flight.len()).into());
                    }
                    if s.failback.as_ref().is_some_and(|(_, since)| since.elapsed() >= 2 * FAILBACK_DRAIN) {
                        // The old server answers neither messages nor close.
                        return Ok(s.failback.take().map(|(c, _)| c));
                    }
                    let due = transport.targets().and_then(|t| t.probe_at()).is_some_and(|at| at <= now);
                    if due && probe.is_none() && s.failback.is_none() {
                        probe = transport.targets().map(|t| t.probe());
                    }
                }
                r = answer(&mut probe) => {
                    probe = None;
                    if let Some(t) = transport.targets() {
                        t.probed(&r);
                    }
                    if let Ok(c) = r {
                        // Stop sending here; close once in flight is answered.
                        s.failback = Some((c, Instant::now()));
                    }
                }
                w = write_or_flush(&mut wr, &s.wbuf[s.wpos..]), if writing || need_flush => {
                    match w.map_err(|source| SessionError::Io { stage: "write", source })? {
                        Some(n) => {
                            stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                            transport.sent(n);
                            s.wpos += n;
                            if s.wpos == s.wbuf.len() {
                                s.wbuf.clear();
                                s.wpos = 0;
                                need_flush = true;
                            }
                        }
                        None => need_flush = false,
                    }
                }
                b = batches.recv(), if can_take => match b {
                    Some(batch) => self.take(batch, acks)?,
                    None => self.closing = true,
                },
            }
        }
    }

    /// Queues a batch from the reader (a batch without messages is
    /// confirmed as soon as everything before it is).
    fn take(
        &mut self,
        mut batch: Batch,
        acks: &std::sync::mpsc::Sender<Vec<Mark>>,
    ) -> Result<(), SessionEnd> {
        let msgs = batch.message_ranges();
        batch.shrink_if_sparse();
        // RELP resends the frames it holds (at most `window` messages):
        // the files' descriptors need not stay open for it.
        batch.segments = Vec::new();
        let first = self.next_seq;
        self.next_seq += msgs.len() as u64;
        self.held.push_back(Held { batch, msgs, first });
        self.release(acks)
    }

    /// Appends `syslog` commands for unsent messages while the window has room.
    fn fill(&mut self, s: &mut Session, window: usize, stats: &OutputStats) {
        if s.close_txnr.is_some() || s.failback.is_some() {
            return;
        }
        let start = s.cursor;
        let mut held = self.held.iter().skip_while(|h| h.end() <= start).peekable();
        while s.in_flight.len() < window && s.cursor < self.next_seq {
            let Some(h) = held.peek() else { break };
            if s.cursor >= h.end() {
                held.next();
                continue;
            }
            let range = h.msgs[(s.cursor - h.first) as usize].clone();
            codec::write_frame(&mut s.wbuf, s.txnr, "syslog", &h.batch.bytes[range]);
            s.in_flight.push_back(InFlight {
                txnr: s.txnr,
                seq: s.cursor,
                acked: false,
            });
            if s.cursor < self.sent_upto {
                stats.resent_messages.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.messages_sent.fetch_add(1, Ordering::Relaxed);
                self.sent_upto = s.cursor + 1;
            }
            s.txnr = next_txnr(s.txnr);
            s.cursor += 1;
        }
        stats
            .in_flight
            .store(s.in_flight.len() as u64, Ordering::Relaxed);
    }

    /// Handles every whole frame in the read buffer. Returns true when the
    /// server answered our `close`.
    fn answers(
        &mut self,
        s: &mut Session,
        acks: &std::sync::mpsc::Sender<Vec<Mark>>,
        stats: &OutputStats,
    ) -> Result<bool, SessionEnd> {
        let mut used = 0;
        let mut closed = false;
        while let Some((frame, n)) = parse_frame(&s.rbuf[used..], MAX_RSP_DATA)? {
            used += n;
            match frame.command {
                // librelp answers close with an empty rsp (DATALEN 0).
                b"rsp" if Some(frame.txnr) == s.close_txnr => closed = true,
                b"rsp" => {
                    let rsp = parse_rsp(frame.data).ok_or_else(|| {
                        SessionError::Protocol(format!("rsp {} without a status code", frame.txnr))
                    })?;
                    if !rsp.is_ok() {
                        return Err(SessionError::Refused {
                            code: rsp.code,
                            text: rsp.text_lossy(),
                            txnr: frame.txnr,
                        }
                        .into());
                    }
                    s.ack(frame.txnr)?;
                }
                b"serverclose" if frame.txnr == 0 => {
                    if s.close_txnr.is_some() {
                        closed = true;
                        continue;
                    }
                    return Err(SessionError::ServerClose.into());
                }
                other => {
                    return Err(SessionError::Protocol(format!(
                        "command {:?} (txnr {})",
                        String::from_utf8_lossy(other),
                        frame.txnr
                    ))
                    .into())
                }
            }
        }
        s.rbuf.drain(..used);
        if let Some(first) = s.in_flight.front() {
            self.acked_upto = first.seq;
        } else {
            self.acked_upto = s.cursor;
        }
        stats
            .in_flight
            .store(s.in_flight.len() as u64, Ordering::Relaxed);
        self.release(acks)?;
        Ok(closed)
    }

    /// Sends the marks of every batch whose messages are all answered, in order.
    fn release(&mut self, acks: &std::sync::mpsc::Sender<Vec<Mark>>) -> Result<(), SessionEnd> {
        while self
            .held
            .front()
            .is_some_and(|h| h.end() <= self.acked_upto)
        {
            let Some(h) = self.held.pop_front() else {
                break;
            };
            acks.send(h.batch.marks).map_err(|_| SessionEnd::AcksGone)?;
        }
        Ok(())
    }
}

impl Session {
    /// Marks the command `txnr` answered 200 and drops every answered
    /// command at the front.
    fn ack(&mut self, txnr: u32) -> Result<(), SessionError> {
        // imrelp answers in order: the front is the usual match.
        let entry = self
            .in_flight
            .iter_mut()
            .find(|f| f.txnr == txnr && !f.acked)
            .ok_or_else(|| SessionError::Protocol(format!("rsp for unknown txnr {txnr}")))?;
        entry.acked = true;
        while self.in_flight.front().is_some_and(|f| f.acked) {
            self.in_flight.pop_front();
        }
        Ok(())
    }
}

/// Writes some of `buf` (`Some(n)`), or flushes when `buf` is empty
/// (`None`). Cancel safe: a write that did not complete wrote nothing.
async fn write_or_flush(
    wr: &mut WriteHalf<Pin<Box<dyn Stream>>>,
    buf: &[u8],
) -> std::io::Result<Option<usize>> {
    if buf.is_empty() {
        wr.flush().await.map(|()| None)
    } else {
        match wr.write(buf).await? {
            0 => Err(std::io::ErrorKind::WriteZero.into()),
            n => Ok(Some(n)),
        }
    }
}

/// Ends the session after the server answered `close`: TLS close_notify,
/// TCP FIN.
async fn finish(wr: &mut WriteHalf<Pin<Box<dyn Stream>>>) {
    if let Err(e) = wr.shutdown().await {
        tracing::debug!(error = %e, "shutting down the RELP connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::encode::framing::write_octet_counted;
    use crate::relay::input::fingerprint::{FileKey, Fingerprint};
    use std::path::Path;
    use std::sync::Arc;

    /// A batch of `n` messages whose mark says `offset`.
    fn batch(n: usize, offset: u64) -> Batch {
        let mut b = Batch::default();
        for i in 0..n {
            write_octet_counted(&mut b.bytes, format!("<13>1 - - - - - - m{i}").as_bytes());
        }
        b.messages = n as u64;
        let path: Arc<Path> = Arc::from(Path::new("/x.log"));
        b.mark(
            FileKey { dev: 1, ino: 2 },
            Fingerprint::of_bytes(b"x"),
            offset,
            &path,
        );
        b
    }

    fn delivery() -> Delivery {
        Delivery {
            held: VecDeque::new(),
            next_seq: 0,
            acked_upto: 0,
            sent_upto: 0,
            closing: false,
        }
    }

    fn session() -> Session {
        Session {
            txnr: 2,
            in_flight: VecDeque::new(),
            cursor: 0,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf: Vec::new(),
            close_txnr: None,
            failback: None,
        }
    }

    /// Puts the server's answer `txnr rsp LEN text` in the read buffer.
    fn answer(s: &mut Session, txnr: u32, text: &str) {
        let data = text.as_bytes();
        s.rbuf
            .extend_from_slice(format!("{txnr} rsp {} ", data.len()).as_bytes());
        s.rbuf.extend_from_slice(data);
        s.rbuf.push(b'\n');
    }

    #[test]
    fn marks_are_confirmed_in_batch_order_only_when_all_earlier_messages_are_answered() {
        let (tx, rx) = std::sync::mpsc::channel();
        let stats = OutputStats::default();
        let (mut d, mut s) = (delivery(), session());
        d.take(batch(2, 10), &tx).ok();
        d.take(batch(1, 20), &tx).ok();
        d.fill(&mut s, 128, &stats);
        assert_eq!(s.in_flight.len(), 3);
        assert!(s
            .wbuf
            .starts_with(b"2 syslog 20 <13>1 - - - - - - m0\n3 syslog"));
        // The second batch's message (txnr 4) is answered first: nothing confirmed.
        answer(&mut s, 4, "200 OK");
        assert!(matches!(d.answers(&mut s, &tx, &stats), Ok(false)));
        assert!(rx.try_recv().is_err());
        answer(&mut s, 2, "200 OK");
        assert!(d.answers(&mut s, &tx, &stats).is_ok());
        assert!(rx.try_recv().is_err(), "txnr 3 of batch 1 is unanswered");
        answer(&mut s, 3, "200 OK");
        assert!(d.answers(&mut s, &tx, &stats).is_ok());
        let offsets: Vec<u64> = rx.try_iter().flatten().map(|m| m.offset).collect();
        assert_eq!(offsets, [10, 20]);
        assert!(d.held.is_empty() && s.in_flight.is_empty());
    }

    #[test]
    fn a_500_answer_breaks_the_session_and_the_next_one_resends_from_the_first_unanswered() {
        let (tx, rx) = std::sync::mpsc::channel();
        let stats = OutputStats::default();
        let (mut d, mut s) = (delivery(), session());
        d.take(batch(3, 30), &tx).ok();
        d.fill(&mut s, 128, &stats);
        answer(&mut s, 2, "200 OK");
        assert!(d.answers(&mut s, &tx, &stats).is_ok());
        answer(&mut s, 3, "500 queue full");
        let err = d.answers(&mut s, &tx, &stats).err();
        assert!(
            matches!(err, Some(SessionEnd::Broken(SessionError::Refused { code: 500, ref text, txnr: 3 })) if text == "queue full")
        );
        assert!(rx.try_recv().is_err());
        // A new session starts at the first unanswered message, in order.
        let mut s = Session {
            cursor: d.acked_upto,
            ..session()
        };
        d.fill(&mut s, 128, &stats);
        assert!(s
            .wbuf
            .starts_with(b"2 syslog 20 <13>1 - - - - - - m1\n3 syslog 20 <13>1 - - - - - - m2\n"));
        assert_eq!(stats.resent_messages.load(Ordering::Relaxed), 2);
        assert_eq!(stats.messages_sent.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_window_bounds_the_commands_in_flight() {
        let (tx, _rx) = std::sync::mpsc::channel();
        let stats = OutputStats::default();
        let (mut d, mut s) = (delivery(), session());
        d.take(batch(10, 1), &tx).ok();
        d.fill(&mut s, 4, &stats);
        assert_eq!(s.in_flight.len(), 4);
        assert_eq!(s.cursor, 4);
    }
}
