//! Stream delivery (RFC 5425 over `tls` or `tcp`, and `stdout`): write and
//! flush each batch, keep the most recent ones in a resend window, write the
//! whole window again after a reconnect.
//!
//! RFC 5425 has no acknowledgement: a flushed batch may still sit in our
//! send buffer, the receiver's receive buffer or the receiver's memory when
//! the connection breaks. So a written batch is confirmed (its marks go to
//! the checkpoint writer) only when it leaves the window:
//!
//! * pushed out: newer batches written on the same healthy connection hold
//!   more than `resend_window_bytes`;
//! * aged out: it is older than `resend_window_time`, the connection still
//!   looks healthy and the peer's TCP acknowledged every byte (SIOCOUTQ = 0);
//! * clean shutdown: close_notify sent and the peer closed its side (it has
//!   read everything before our close).
//!
//! After a reconnect, the window is written first, in order: duplicates are
//! bounded by the window, and nothing the window still holds can be lost.
//!
//! The window keeps where its lines are, not their frames: a written batch
//! drops its bytes and keeps its [`Segment`]s (the file descriptor, byte
//! range, fingerprint and read time of its lines); a resend encodes them
//! again from the files ([`crate::relay::batch::replay`]), byte for byte the frames
//! first written. Memory: a few hundred bytes per batch in the window,
//! whatever `resend_window_bytes` is; a file deleted while the window holds
//! its lines stays on disk (open) until they are confirmed. A file truncated
//! meanwhile is read from logrotate's copy; with no copy, the lines are
//! counted (`resend_lost_messages`) and logged with the file's name. A batch
//! whose lines did not all come from files keeps its bytes, and so does one
//! written while the open-file budget is crowded (`input/budget.rs`).
//! stdout has no window: a batch is confirmed once written and flushed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::targets::{answer, Connected, Failed, Probe, Progress, Switch};
use super::{unacknowledged_bytes, Stream, Transport};
use crate::relay::batch::replay::{replay, Segment};
use crate::relay::batch::{Batch, Mark};
use crate::relay::config::ResendWindow;
use crate::relay::metrics::{Failure, OutputStats};

/// How long a clean shutdown waits for the receiver to close its side.
const PEER_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a failback waits for the receiver it leaves to close its side
/// (then its window is confirmed; otherwise it is written to the new one).
const FAILBACK_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an aged batch is looked at again while the peer's TCP still
/// has unacknowledged bytes.
const AGE_RECHECK: Duration = Duration::from_millis(200);

/// A written batch not yet confirmed.
struct Kept {
    marks: Vec<Mark>,
    messages: u64,
    /// Bytes of frames written.
    len: usize,
    body: Body,
    written: Instant,
}

/// Whether the open-file budget of these segments' files is past three
/// quarters.
fn crowded(segments: &[Segment]) -> bool {
    segments
        .iter()
        .find_map(|s| s.origin.file.budget())
        .is_some_and(|b| b.crowded())
}

/// What a resend writes again.
enum Body {
    /// Lines to encode again from their files.
    Lines(Vec<Segment>),
    /// The frames themselves (lines that did not all come from files).
    Frames(Vec<u8>),
}

impl Kept {
    fn new(mut batch: Batch, written: Instant) -> Kept {
        let len = batch.bytes.len();
        // Past three quarters of the open-file budget the window keeps
        // frames, not descriptors: it must never hold the reader's budget.
        let body = if batch.replayable() && !crowded(&batch.segments) {
            Body::Lines(batch.segments)
        } else {
            batch.shrink_if_sparse();
            Body::Frames(batch.bytes)
        };
        Kept {
            marks: batch.marks,
            messages: batch.messages,
            len,
            body,
            written,
        }
    }
}

/// The resend window: written batches, oldest first.
///
/// Invariant: `bytes` is the sum of `len` over `kept` (frames written, not
/// memory held).
pub(crate) struct Window {
    kept: VecDeque<Kept>,
    bytes: usize,
    limit: ResendWindow,
}

impl Window {
    pub(crate) fn new(limit: ResendWindow) -> Window {
        Window {
            kept: VecDeque::new(),
            bytes: 0,
            limit,
        }
    }

    /// Adds a batch just written; returns the marks of the batches it
    /// pushes out (to confirm).
    pub(crate) fn push(&mut self, batch: Batch, now: Instant) -> Vec<Vec<Mark>> {
        let crowded = crowded(&batch.segments);
        let kept = Kept::new(batch, now);
        self.bytes += kept.len;
        self.kept.push_back(kept);
        if crowded {
            self.give_back_descriptors();
        }
        let mut out = Vec::new();
        // The newest batch always stays: it is the one most at risk.
        while self.bytes > self.limit.bytes && self.kept.len() > 1 {
            out.extend(self.pop());
        }
        out
    }

    /// The open-file budget is crowded: batches kept as lines are encoded
    /// again now, from descriptors still open, and keep their frames, so
    /// the reader gets the descriptors back at once instead of when the
    /// batches leave the window. Lines that cannot be read again stay as
    /// they are (a resend reports them).
    fn give_back_descriptors(&mut self) {
        for k in &mut self.kept {
            let Body::Lines(segments) = &k.body else {
                continue;
            };
            let mut frames = Vec::with_capacity(k.len);
            let mut messages = 0;
            for seg in segments {
                match replay(seg, &mut frames) {
                    Ok(n) => messages += n,
                    Err(_) => break,
                }
            }
            if messages == k.messages && frames.len() == k.len {
                k.body = Body::Frames(frames);
            }
        }
    }

    /// Batches older than the time bound (to confirm while the connection
    /// is healthy and drained).
    pub(crate) fn aged(&mut self, now: Instant) -> Vec<Vec<Mark>> {
        let mut out = Vec::new();
        while self
            .kept
            .front()
            .is_some_and(|k| now.saturating_duration_since(k.written) >= self.limit.time)
        {
            out.extend(self.pop());
        }
        out
    }

    /// When the oldest batch ages out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.kept.front().map(|k| k.written + self.limit.time)
    }

    /// Everything (a clean shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Vec<Mark>> {
        self.bytes = 0;
        self.kept.drain(..).map(|k| k.marks).collect()
    }

    pub(crate) fn messages(&self) -> u64 {
        self.kept.iter().map(|k| k.messages).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn pop(&mut self) -> Option<Vec<Mark>> {
        let k = self.kept.pop_front()?;
        self.bytes -= k.len;
        Some(k.marks)
    }
}

/// An established connection and its stall watch.
struct Conn {
    stream: Pin<Box<dyn Stream>>,
    progress: Progress,
}

/// The connection and the window that outlives it.
struct Link<'a> {
    transport: Transport,
    conn: Option<Conn>,
    window: Option<Window>,
    stats: &'a OutputStats,
    acks: std::sync::mpsc::Sender<Vec<Mark>>,
}

/// The checkpoint writer is gone: nothing can be confirmed any more.
struct AcksGone;

/// Delivers batches until the reader closes the channel, then closes cleanly.
pub(crate) async fn run(
    transport: Transport,
    window: Option<ResendWindow>,
    mut batches: mpsc::Receiver<Batch>,
    acks: std::sync::mpsc::Sender<Vec<Mark>>,
    stats: &OutputStats,
) {
    let mut link = Link {
        transport,
        conn: None,
        window: window.map(Window::new),
        stats,
        acks,
    };
    if link.serve(&mut batches).await.is_err() {
        tracing::error!("checkpoint writer is gone; stopping the output");
        return;
    }
    link.close().await;
}

impl Link<'_> {
    async fn serve(&mut self, batches: &mut mpsc::Receiver<Batch>) -> Result<(), AcksGone> {
        let mut recheck: Option<Instant> = None;
        let mut probe: Option<Probe> = None;
        loop {
            let deadline = recheck.or_else(|| self.window.as_ref()?.next_deadline());
            let age_check = sleep_until(deadline);
            let probe_at = match (&self.conn, &probe, self.transport.targets()) {
                (Some(_), None, Some(t)) => t.probe_at(),
                _ => None,
            };
            let probe_due = sleep_until(probe_at);
            tokio::select! {
                b = batches.recv() => match b {
                    Some(batch) => self.deliver(batch).await?,
                    None => return Ok(()),
                },
                () = age_check, if self.conn.is_some() => {
                    recheck = self.age_out().await?;
                }
                () = probe_due => {
                    probe = self.transport.targets().map(|t| t.probe());
                }
                r = answer(&mut probe) => {
                    probe = None;
                    self.fail_back(r).await?;
                }
            }
        }
    }

    /// Confirms aged batches if the connection is healthy and drained;
    /// returns when to look again if it is not drained yet.
    async fn age_out(&mut self) -> Result<Option<Instant>, AcksGone> {
        let Some(c) = self.conn.as_mut() else {
            return Ok(None);
        };
        if peer_has_closed(&mut c.stream).await {
            // Idle with unconfirmed batches: reconnect and resend them now,
            // not when the next batch comes.
            self.broken(Failure::Closed, "the receiver closed the connection");
            self.ensure_connected().await;
            return Ok(None);
        }
        if c.progress.stalled(Instant::now()) {
            let detail = stalled(&c.progress);
            self.broken(Failure::Stalled, &detail);
            self.ensure_connected().await;
            return Ok(None);
        }
        if unacknowledged_bytes(&*c.stream) != Some(0) {
            return Ok(Some(Instant::now() + AGE_RECHECK));
        }
        let aged = self
            .window
            .as_mut()
            .map(|w| w.aged(Instant::now()))
            .unwrap_or_default();
        self.confirm(aged)?;
        Ok(None)
    }

    /// The failback probe answered: on success, close the current
    /// connection cleanly (what that receiver read is stored there) and
    /// move to the first target.
    async fn fail_back(&mut self, probed: Result<Connected, Failed>) -> Result<(), AcksGone> {
        let Some(targets) = self.transport.targets() else {
            return Ok(());
        };
        if !targets.on_later_target() {
            // The connection broke while the probe ran and the round that
            // followed settled elsewhere (or on the first target): the
            // probe's answer is stale.
            return Ok(());
        }
        targets.probed(&probed);
        let Ok(first) = probed else {
            return Ok(());
        };
        if let Some(old) = self.conn.take() {
            let peer = self.transport.peer().to_owned();
            if close_cleanly(old.stream, &peer, FAILBACK_CLOSE_TIMEOUT).await {
                let all = self.window.as_mut().map(Window::drain).unwrap_or_default();
                self.confirm(all)?;
            }
        }
        self.stats.connected.store(false, Ordering::Relaxed);
        let switch = self.transport.targets().and_then(|t| t.fail_back());
        self.adopt(first.stream, switch).await;
        Ok(())
    }

    /// Writes one batch (reconnecting and resending the window as needed),
    /// then keeps it in the window or confirms it.
    async fn deliver(&mut self, batch: Batch) -> Result<(), AcksGone> {
        if !batch.bytes.is_empty() {
            self.write_batch(&batch.bytes).await;
            self.stats
                .messages_sent
                .fetch_add(batch.messages, Ordering::Relaxed);
            self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
        }
        let confirmed = match self.window.as_mut() {
            // An empty batch behind nothing unconfirmed needs no window.
            Some(w) if !(batch.bytes.is_empty() && w.is_empty()) => w.push(batch, Instant::now()),
            _ => vec![batch.marks],
        };
        self.confirm(confirmed)?;
        let in_window = self.window.as_ref().map_or(0, Window::messages);
        self.stats.in_flight.store(in_window, Ordering::Relaxed);
        Ok(())
    }

    fn confirm(&self, batches: Vec<Vec<Mark>>) -> Result<(), AcksGone> {
        for marks in batches {
            self.acks.send(marks).map_err(|_| AcksGone)?;
        }
        Ok(())
    }

    /// Writes `bytes` and flushes, reconnecting until that worked.
    async fn write_batch(&mut self, bytes: &[u8]) {
        loop {
            self.ensure_connected().await;
            let Some(c) = self.conn.as_mut() else {
                continue;
            };
            if self.transport.can_probe() && peer_has_closed(&mut c.stream).await {
                self.broken(Failure::Closed, "the receiver closed the connection");
                continue;
            }
            match write_guarded(c, bytes).await {
                Ok(()) => {
                    self.stats
                        .bytes_sent
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    self.transport.sent(bytes.len());
                    self.transport.healthy();
                    return;
                }
                Err((why, detail)) => {
                    self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    self.broken(why, &detail);
                }
            }
        }
    }

    /// Gives the connection up; the window goes to the next one.
    fn broken(&mut self, why: Failure, detail: &str) {
        tracing::warn!(
            peer = self.transport.peer(),
            why = detail,
            "connection given up; the window and the batch will be sent again on the next one"
        );
        self.transport.failed(why, detail);
        self.conn = None;
        self.stats.connected.store(false, Ordering::Relaxed);
    }

    /// Connects (to the next target that answers) and writes the whole
    /// window again, in order.
    async fn ensure_connected(&mut self) {
        while self.conn.is_none() {
            let (c, switch) = self.transport.connect().await;
            self.adopt(c.stream, switch).await;
        }
    }

    /// Takes a new connection: logs it (one line, naming the switch if it
    /// is one) and writes the window on it.
    async fn adopt(&mut self, stream: Pin<Box<dyn Stream>>, switch: Option<Switch>) {
        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        let (resend, messages) = self
            .window
            .as_ref()
            .map_or((0, 0), |w| (w.kept.len(), w.messages()));
        let peer = self.transport.peer().to_owned();
        match switch {
            Some(s) => tracing::warn!(
                from = s.from,
                to = peer,
                why = s.why,
                resend_batches = resend,
                resend_messages = messages,
                "switched target"
            ),
            None => tracing::info!(
                peer,
                resend_batches = resend,
                resend_messages = messages,
                "connected"
            ),
        }
        let mut c = Conn {
            progress: self.transport.progress(&*stream),
            stream,
        };
        match self.resend(&mut c).await {
            Ok(n) => {
                self.transport.sent(n);
                self.stats
                    .resent_messages
                    .fetch_add(messages, Ordering::Relaxed);
                self.stats.connected.store(true, Ordering::Relaxed);
                self.conn = Some(c);
            }
            Err((why, detail)) => {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer, why = detail, "resending the window failed");
                self.transport.failed(why, &detail);
            }
        }
    }

    /// Writes the window again, encoding kept lines from their files, and
    /// returns the bytes written. The reads block this task briefly
    /// (page-cache reads of at most `resend_window_bytes` worth of lines,
    /// once per reconnect).
    async fn resend(&mut self, c: &mut Conn) -> Result<usize, (Failure, String)> {
        let Some(w) = self.window.as_mut() else {
            return Ok(0);
        };
        let now = Instant::now();
        let mut frames = Vec::new();
        let mut written = 0;
        for k in w.kept.iter_mut() {
            let bytes = match &k.body {
                Body::Frames(bytes) => bytes,
                Body::Lines(segments) => {
                    frames.clear();
                    frames.reserve(k.len);
                    encode_again(segments, &mut frames, self.stats);
                    &frames
                }
            };
            write_guarded(c, bytes).await?;
            written += bytes.len();
            // Written on this connection: its age starts again.
            k.written = now;
        }
        Ok(written)
    }

    /// The reader is done: make sure the window reached a live connection,
    /// send close_notify, and confirm the window once the peer closed too.
    async fn close(mut self) {
        if self.window.as_ref().is_some_and(|w| !w.is_empty()) {
            self.ensure_connected().await;
        }
        let Some(c) = self.conn.take() else {
            return;
        };
        if !self.transport.can_probe() {
            let mut stream = c.stream;
            if let Err(e) = stream.shutdown().await {
                tracing::warn!(error = %e, "flushing stdout failed");
            }
            return;
        }
        let peer = self.transport.peer().to_owned();
        if close_cleanly(c.stream, &peer, PEER_CLOSE_TIMEOUT).await {
            let all = self.window.as_mut().map(Window::drain).unwrap_or_default();
            if self.confirm(all).is_err() {
                tracing::error!("checkpoint writer is gone before the final confirmation");
            }
        } else {
            tracing::warn!(
                peer,
                "the receiver did not close its side; the last window is not confirmed (sent again after a restart)"
            );
        }
    }
}

/// Sends close_notify and FIN, then waits up to `wait` for the peer to
/// close its side: true when it did, having read everything before ours.
async fn close_cleanly(mut stream: Pin<Box<dyn Stream>>, peer: &str, wait: Duration) -> bool {
    if let Err(e) = stream.shutdown().await {
        tracing::warn!(
            peer,
            error = %e,
            "closing the connection failed; its window is not confirmed"
        );
        return false;
    }
    tokio::time::timeout(wait, read_to_eof(&mut stream, peer))
        .await
        .unwrap_or(false)
}

/// Sleeps until `at`; never returns without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The log detail of a stall.
fn stalled(progress: &Progress) -> String {
    format!(
        "the receiver acknowledged no byte for {:?} while data waited (write_timeout)",
        progress.quiet_for()
    )
}

/// Writes and flushes `bytes`, giving up when the peer stops
/// acknowledging what we sent (`write_timeout`) or the write fails.
async fn write_guarded(c: &mut Conn, bytes: &[u8]) -> Result<(), (Failure, String)> {
    if c.progress.stalled(Instant::now()) {
        return Err((Failure::Stalled, stalled(&c.progress)));
    }
    let tick = c.progress.tick();
    let write = write_flush(&mut c.stream, bytes);
    tokio::pin!(write);
    loop {
        tokio::select! {
            biased;
            r = &mut write => return r.map_err(|e| (Failure::Write, e.to_string())),
            () = tokio::time::sleep(tick) => {
                if c.progress.stalled(Instant::now()) {
                    return Err((Failure::Stalled, stalled(&c.progress)));
                }
            }
        }
    }
}

/// Appends the frames of `segments` to `out`. Lines that are gone are
/// counted and logged with their file: they cannot be sent again.
fn encode_again(segments: &[Segment], out: &mut Vec<u8>, stats: &OutputStats) {
    for seg in segments {
        match replay(seg, out) {
            Ok(n) if n == seg.messages => {}
            Ok(n) => tracing::warn!(
                path = %seg.origin.path.display(),
                expected = seg.messages,
                got = n,
                "file content changed under the resend window; sent what it holds now"
            ),
            Err(e) => {
                stats
                    .resend_lost_messages
                    .fetch_add(seg.messages, Ordering::Relaxed);
                tracing::error!(error = %e, messages = seg.messages, "cannot send these lines again: they may be lost if the receiver had not stored them");
            }
        }
    }
}

async fn write_flush(c: &mut Pin<Box<dyn Stream>>, bytes: &[u8]) -> io::Result<()> {
    c.write_all(bytes).await?;
    c.flush().await
}

/// Reads until the peer closes: true when it closed with a FIN (after
/// reading everything up to ours), false on a reset or another error.
async fn read_to_eof(c: &mut Pin<Box<dyn Stream>>, peer: &str) -> bool {
    let mut scratch = [0u8; 256];
    loop {
        match c.read(&mut scratch).await {
            Ok(0) => return true,
            Ok(_) => continue,
            // rsyslog's GnuTLS closes the socket without a close_notify of
            // its own: rustls reports the plain TCP EOF as UnexpectedEof.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return true,
            Err(e) => {
                tracing::warn!(peer, error = %e, "waiting for the receiver to close");
                return false;
            }
        }
    }
}

/// A syslog receiver never sends application data, so anything readable on
/// the connection is an EOF, an error, or TLS housekeeping (session tickets,
/// close_notify) that the TLS layer consumes. Checking before each batch
/// catches a receiver that went away while we were idle, before we write
/// into a dead socket.
async fn peer_has_closed(c: &mut Pin<Box<dyn Stream>>) -> bool {
    use std::task::Poll;
    let mut scratch = [0u8; 256];
    // Polls the read without waiting. A zero `tokio::time::timeout` would
    // arm a timer that fires only at the driver's next millisecond tick: up
    // to 1 ms idle per batch, a fifth of the throughput (benches/).
    std::future::poll_fn(|cx| loop {
        let mut buf = tokio::io::ReadBuf::new(&mut scratch);
        match c.as_mut().poll_read(cx, &mut buf) {
            Poll::Pending => return Poll::Ready(false),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(true),
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return Poll::Ready(true),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `len` bytes whose mark's offset is `len` (to tell them apart).
    fn batch(len: usize) -> Batch {
        let mut b = Batch {
            bytes: vec![b'x'; len],
            messages: 1,
            ..Batch::default()
        };
        let path: std::sync::Arc<std::path::Path> = std::path::Path::new("/x").into();
        let key = crate::relay::input::fingerprint::FileKey { dev: 1, ino: 1 };
        let fp = crate::relay::input::fingerprint::Fingerprint::of_bytes(b"");
        b.mark(key, fp, len as u64, &path);
        b
    }

    fn offsets(out: &[Vec<Mark>]) -> Vec<u64> {
        out.iter().flatten().map(|m| m.offset).collect()
    }

    fn window(bytes: usize) -> Window {
        Window::new(ResendWindow {
            bytes,
            time: Duration::from_secs(10),
        })
    }

    #[test]
    fn newer_data_pushes_the_oldest_batches_out_in_order() {
        let mut w = window(100);
        let now = Instant::now();
        assert!(w.push(batch(60), now).is_empty());
        let out = w.push(batch(50), now);
        assert_eq!(offsets(&out), [60]);
        assert_eq!(w.bytes, 50);
    }

    #[test]
    fn the_newest_batch_stays_even_when_larger_than_the_window() {
        let mut w = window(10);
        let now = Instant::now();
        assert!(w.push(batch(50), now).is_empty());
        assert_eq!(w.push(batch(40), now).len(), 1);
        assert_eq!(w.kept.len(), 1);
    }

    #[test]
    fn batches_age_out_after_the_time_bound_only() {
        let mut w = window(1_000);
        let t0 = Instant::now();
        w.push(batch(1), t0);
        w.push(batch(2), t0 + Duration::from_secs(5));
        assert!(w.aged(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(w.aged(t0 + Duration::from_secs(10)).len(), 1);
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_secs(15)));
        assert_eq!(w.drain().len(), 1);
        assert!(w.is_empty() && w.bytes == 0);
    }
}
