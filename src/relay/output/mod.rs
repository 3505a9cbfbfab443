//! Outputs: write batches to the receiver, reconnect with backoff, and report
//! what is confirmed.
//!
//! The loop is the same for every transport: take the next batch, make sure a
//! connection is up, write the whole batch and flush it, then send the batch's
//! marks to the checkpoint writer. A batch that fails half-way is written again
//! in full on the next connection: a broken connection yields duplicates, never
//! a gap. With plain RFC 5425 there is no application acknowledgement, so
//! "confirmed" means written and flushed into the kernel (README, guarantees).

pub mod stdout;
pub mod tcp;
pub mod tls;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::relay::batch::{Batch, Mark};
use crate::relay::config::Output;

/// A connected byte stream to the receiver.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// An error while setting up or using an output, naming the peer or file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot read {what} {path}: {source}")]
    File {
        what: &'static str,
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("{what} {path}: {reason}")]
    BadFile {
        what: &'static str,
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("output.address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{peer}: {stage}: {source}")]
    Io {
        peer: String,
        stage: &'static str,
        source: io::Error,
    },
}

/// Counters the output keeps (read by metrics and the tests).
#[derive(Debug, Default)]
pub struct OutputStats {
    pub messages_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub batches_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub connected: std::sync::atomic::AtomicBool,
}

/// Opens connections to one configured receiver.
pub enum Connector {
    Tls(tls::TlsConnector),
    Tcp(tcp::TcpConnector),
    Stdout,
}

impl Connector {
    /// Builds the connector for `[output]`, reading certificates now so that
    /// a bad file is reported at start-up, not at the first connection.
    pub fn from_config(output: &Output) -> Result<Connector, OutputError> {
        Ok(match output {
            Output::Tls {
                address,
                ca_file,
                cert_file,
                key_file,
                server_name,
                ..
            } => Connector::Tls(tls::TlsConnector::new(
                address,
                ca_file,
                cert_file.as_deref().zip(key_file.as_deref()),
                server_name.as_deref(),
            )?),
            Output::Tcp { address, .. } => Connector::Tcp(tcp::TcpConnector::new(address)?),
            Output::Stdout { .. } => Connector::Stdout,
        })
    }

    /// Who we talk to, for log lines.
    pub fn peer(&self) -> &str {
        match self {
            Connector::Tls(c) => c.address(),
            Connector::Tcp(c) => c.address(),
            Connector::Stdout => "stdout",
        }
    }

    async fn connect(&self) -> Result<Pin<Box<dyn Stream>>, OutputError> {
        match self {
            Connector::Tls(c) => c.connect().await,
            Connector::Tcp(c) => c.connect().await,
            Connector::Stdout => Ok(Box::pin(stdout::StdoutStream::new())),
        }
    }

    /// stdout is not a connection: it has nothing to probe.
    fn can_probe(&self) -> bool {
        !matches!(self, Connector::Stdout)
    }
}

/// Capped exponential backoff with jitter, so that a fleet of relays does
/// not reconnect to a restarted receiver in lock step.
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
    seed: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff {
            next: min,
            min,
            max,
            seed: seed | 1,
        }
    }

    /// The delay before the next attempt: uniformly in [d/2, d], d doubling up to max.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift64: jitter needs spread, not cryptographic quality.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = d / 2;
        let frac = (self.seed % 1_000) as u32;
        half + half * frac / 1_000
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Delivers batches until the reader closes the channel, then closes the
/// connection cleanly (TLS close_notify). Confirmed marks go to `acks` in
/// batch order.
pub async fn run(
    connector: Connector,
    mut batches: mpsc::Receiver<Batch>,
    acks: std::sync::mpsc::Sender<Vec<Mark>>,
    stats: Arc<OutputStats>,
) {
    let mut conn: Option<Pin<Box<dyn Stream>>> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    while let Some(batch) = batches.recv().await {
        if !batch.bytes.is_empty() {
            deliver(&connector, &mut conn, &batch.bytes, &mut backoff, &stats).await;
            stats
                .messages_sent
                .fetch_add(batch.messages, Ordering::Relaxed);
            stats.batches_sent.fetch_add(1, Ordering::Relaxed);
        }
        if acks.send(batch.marks).is_err() {
            tracing::error!("checkpoint writer is gone; stopping the output");
            break;
        }
    }
    if let Some(mut c) = conn {
        if let Err(e) = c.shutdown().await {
            tracing::debug!(peer = connector.peer(), error = %e, "closing the connection");
        }
    }
    stats.connected.store(false, Ordering::Relaxed);
}

/// Writes one batch, reconnecting until it is written and flushed.
async fn deliver(
    connector: &Connector,
    conn: &mut Option<Pin<Box<dyn Stream>>>,
    bytes: &[u8],
    backoff: &mut Backoff,
    stats: &OutputStats,
) {
    loop {
        if let Some(c) = conn.as_mut() {
            if connector.can_probe() && peer_has_closed(c).await {
                tracing::warn!(
                    peer = connector.peer(),
                    "receiver closed the connection; reconnecting"
                );
                *conn = None;
                stats.connected.store(false, Ordering::Relaxed);
                continue;
            }
            match write_flush(c, bytes).await {
                Ok(()) => {
                    stats
                        .bytes_sent
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    backoff.reset();
                    return;
                }
                Err(e) => {
                    stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = connector.peer(), error = %e, "write failed; the batch will be sent again on a new connection");
                    *conn = None;
                    stats.connected.store(false, Ordering::Relaxed);
                }
            }
        }
        match connector.connect().await {
            Ok(c) => {
                tracing::info!(peer = connector.peer(), "connected");
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                stats.connected.store(true, Ordering::Relaxed);
                *conn = Some(c);
            }
            Err(e) => {
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot connect to the receiver");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn write_flush(c: &mut Pin<Box<dyn Stream>>, bytes: &[u8]) -> io::Result<()> {
    c.write_all(bytes).await?;
    c.flush().await
}

/// A syslog receiver never sends application data, so anything readable on
/// the connection is an EOF, an error, or TLS housekeeping (session tickets,
/// close_notify) that the TLS layer consumes. Checking before each batch
/// catches a receiver that went away while we were idle, before we write
/// into a dead socket.
async fn peer_has_closed(c: &mut Pin<Box<dyn Stream>>) -> bool {
    let mut scratch = [0u8; 256];
    loop {
        // Timeout polls the read once before looking at the (zero) deadline.
        match tokio::time::timeout(Duration::ZERO, c.read(&mut scratch)).await {
            Err(_elapsed) => return false,
            Ok(Ok(0)) => return true,
            Ok(Ok(_)) => continue,
            Ok(Err(_)) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let expected = [100u64, 200, 400, 800, 1000, 1000];
        for max in expected {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= max / 2 && d <= max, "{d} not in [{}, {max}]", max / 2);
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
