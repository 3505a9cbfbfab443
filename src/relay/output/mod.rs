//! Outputs: write batches to the receiver, reconnect with backoff, and report
//! what is confirmed.
//!
//! Two delivery disciplines over the same transports (plain TCP, [`tls`],
//! [`stdout`]; the network ones go to one of the [`targets`]):
//!
//! * [`stream`] (RFC 5425 over `tls` or `tcp`, and `stdout`): batches are
//!   written and flushed; the most recent ones stay in a bounded resend
//!   window and are written again after a reconnect. A batch is confirmed
//!   when it leaves the window (docs/delivery.md).
//! * [`relp`]: every message is answered by the server; a batch is
//!   confirmed once all its messages and all earlier ones are.
//!
//! Either way, confirmed marks go to the checkpoint writer in batch order.

pub(super) mod relp;
pub(super) mod resend;
pub(super) mod stdout;
pub(super) mod targets;
pub(super) mod tls;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::relay::batch::{Batch, Mark};
use crate::relay::config::{Output, ResendWindow};
use crate::relay::metrics::{Failure, OutputStats};

/// A connected byte stream to the receiver.
pub(super) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {
    /// The TCP socket underneath, if there is one.
    fn tcp_fd(&self) -> Option<RawFd>;
}

impl Stream for tokio::net::TcpStream {
    fn tcp_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl Stream for tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    fn tcp_fd(&self) -> Option<RawFd> {
        Some(self.get_ref().0.as_raw_fd())
    }
}

impl Stream for stdout::StdoutStream {
    fn tcp_fd(&self) -> Option<RawFd> {
        None
    }
}

/// Bytes written to `stream` that the peer's TCP has not acknowledged yet
/// (SIOCOUTQ); `None` without a TCP socket or when the kernel will not say.
pub(super) fn unacknowledged_bytes(stream: &dyn Stream) -> Option<usize> {
    crate::relay::sys::unacknowledged_bytes(stream.tcp_fd()?)
}

/// An error while setting up or using an output, naming the peer or file.
#[derive(Debug, thiserror::Error)]
pub(super) enum OutputError {
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
    #[error("output.{key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{peer}: {stage}: {source}")]
    Io {
        peer: String,
        stage: &'static str,
        source: io::Error,
    },
}

/// Where the output writes: the configured network targets, or stdout.
pub(super) enum Transport {
    Net(Box<targets::Targets>),
    Stdout,
}

impl Transport {
    /// Who we talk to, for log lines.
    pub(super) fn peer(&self) -> &str {
        match self {
            Transport::Net(t) => t.peer(),
            Transport::Stdout => "stdout",
        }
    }

    /// A usable connection (retrying, with backoff, until there is one)
    /// and, when it is another target than the last one, the switch to log.
    async fn connect(&mut self) -> (targets::Connected, Option<targets::Switch>) {
        match self {
            Transport::Net(t) => t.connect().await,
            Transport::Stdout => (
                targets::Connected {
                    stream: Box::pin(stdout::StdoutStream::new()),
                    rbuf: Vec::new(),
                },
                None,
            ),
        }
    }

    /// The connection broke: counted against the current target, and the
    /// next attempt starts with the one after it.
    fn failed(&mut self, why: Failure, detail: &str) {
        if let Transport::Net(t) = self {
            t.failed(why, detail);
        }
    }

    /// Bytes written on the current connection.
    fn sent(&self, bytes: usize) {
        if let Transport::Net(t) = self {
            t.sent(bytes);
        }
    }

    fn healthy(&mut self) {
        if let Transport::Net(t) = self {
            t.healthy();
        }
    }

    fn targets(&mut self) -> Option<&mut targets::Targets> {
        match self {
            Transport::Net(t) => Some(t),
            Transport::Stdout => None,
        }
    }

    /// Stall detection for `stream` (never stalls without a TCP socket).
    fn progress(&self, stream: &dyn Stream) -> targets::Progress {
        let timeout = match self {
            Transport::Net(t) => t.write_timeout(),
            Transport::Stdout => Duration::MAX,
        };
        targets::Progress::new(stream, timeout)
    }

    /// stdout is not a connection: it has nothing to probe.
    fn can_probe(&self) -> bool {
        !matches!(self, Transport::Stdout)
    }
}

/// How batches are confirmed.
enum Delivery {
    /// Written and flushed, then kept in the resend window (none for stdout).
    Stream(Option<ResendWindow>),
    Relp(relp::Settings),
}

/// The configured output: a transport and a delivery discipline.
pub(super) struct Connector {
    transport: Transport,
    delivery: Delivery,
}

/// The targets of a network output.
fn targets(
    output: &Output,
    tls: Option<(tokio_rustls::TlsConnector, Option<&str>)>,
    relp: bool,
) -> Result<Transport, OutputError> {
    let link = output.link().ok_or_else(|| OutputError::Config {
        key: "type",
        reason: "stdout has no address".into(),
    })?;
    Ok(Transport::Net(Box::new(targets::Targets::new(
        &link, tls, relp,
    )?)))
}

impl Connector {
    /// Builds the connector for `[output]`, reading certificates now so that
    /// a bad file is reported at start-up, not at the first connection.
    pub(super) fn from_config(output: &Output) -> Result<Connector, OutputError> {
        let delivery = Delivery::Stream(output.resend_window());
        let transport = match output {
            Output::Tls {
                ca_file,
                cert_file,
                key_file,
                server_name,
                ..
            } => {
                let tls = tls::connector(ca_file, cert_file.as_deref().zip(key_file.as_deref()))?;
                targets(output, Some((tls, server_name.as_deref())), false)?
            }
            Output::Tcp { .. } => targets(output, None, false)?,
            Output::Stdout { .. } => Transport::Stdout,
            Output::Relp { .. } => return relp_connector(output),
        };
        if let Some(w) = output.resend_window() {
            if w.bytes == 0 {
                return Err(OutputError::Config {
                    key: "resend_window_bytes",
                    reason:
                        "must be at least 1 (a window of 0 would lose a broken connection's data)"
                            .into(),
                });
            }
        }
        Ok(Connector {
            transport,
            delivery,
        })
    }
}

/// `type = "relp"`: RELP over TLS (the same rustls client as `tls`) or
/// plain TCP.
fn relp_connector(output: &Output) -> Result<Connector, OutputError> {
    let Output::Relp {
        tls,
        ca_file,
        cert_file,
        key_file,
        server_name,
        window,
        ..
    } = output
    else {
        return Err(OutputError::Config {
            key: "type",
            reason: "not relp".into(),
        });
    };
    if *window == 0 || *window > 1_000_000 {
        return Err(OutputError::Config {
            key: "window",
            reason: format!("{window}: must be from 1 to 1000000"),
        });
    }
    let bad = |key, reason: &str| OutputError::Config {
        key,
        reason: reason.to_owned(),
    };
    let transport = if *tls {
        let ca: &PathBuf = ca_file
            .as_ref()
            .ok_or_else(|| bad("ca_file", "required with tls = true"))?;
        if cert_file.is_some() != key_file.is_some() {
            return Err(bad(
                "cert_file",
                "cert_file and key_file go together (mutual TLS): set both or neither",
            ));
        }
        let tls = tls::connector(ca, cert_file.as_deref().zip(key_file.as_deref()))?;
        targets(output, Some((tls, server_name.as_deref())), true)?
    } else {
        for (key, set) in [
            ("ca_file", ca_file.is_some()),
            ("cert_file", cert_file.is_some()),
            ("key_file", key_file.is_some()),
            ("server_name", server_name.is_some()),
        ] {
            if set {
                return Err(bad(key, "only used with tls = true"));
            }
        }
        targets(output, None, true)?
    };
    Ok(Connector {
        transport,
        delivery: Delivery::Relp(relp::Settings { window: *window }),
    })
}

/// Capped exponential backoff with jitter, so that a fleet of relays does
/// not reconnect to a restarted receiver in lock step.
pub(super) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
    seed: u64,
}

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration) -> Backoff {
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
    pub(super) fn next_delay(&mut self) -> Duration {
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

    pub(super) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Delivers batches until the reader closes the channel, then closes the
/// connection cleanly. Confirmed marks go to `acks` in batch order.
pub(super) async fn run(
    connector: Connector,
    batches: mpsc::Receiver<Batch>,
    acks: std::sync::mpsc::Sender<Vec<Mark>>,
    stats: Arc<OutputStats>,
) {
    if let Transport::Net(t) = &connector.transport {
        t.register(&stats);
    }
    match connector.delivery {
        Delivery::Stream(window) => {
            resend::run(connector.transport, window, batches, acks, &stats).await
        }
        Delivery::Relp(settings) => {
            relp::run(connector.transport, settings, batches, acks, &stats).await
        }
    }
    stats
        .connected
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::config::test_output as output;

    #[test]
    fn relp_defaults_to_plain_tcp_and_a_window_of_128() {
        let o = output("type = \"relp\"\naddress = \"rsyslog:2514\"").unwrap();
        let Output::Relp {
            tls,
            window,
            max_message_size,
            ..
        } = &o
        else {
            panic!("{o:?}");
        };
        assert_eq!((*tls, *window, *max_message_size), (false, 128, 8096));
        let c = Connector::from_config(&o).unwrap();
        assert!(matches!(c.transport, Transport::Net(_)));
        assert!(matches!(
            c.delivery,
            Delivery::Relp(relp::Settings { window: 128 })
        ));
    }

    #[test]
    fn relp_over_tls_needs_a_ca_file_and_plain_relp_rejects_tls_keys() {
        let o = output("type = \"relp\"\naddress = \"rsyslog:2514\"\ntls = true").unwrap();
        let err = Connector::from_config(&o).err().unwrap().to_string();
        assert!(err.contains("output.ca_file"), "{err}");
        let o =
            output("type = \"relp\"\naddress = \"rsyslog:2514\"\nca_file = \"/ca.pem\"").unwrap();
        let err = Connector::from_config(&o).err().unwrap().to_string();
        assert!(
            err.contains("ca_file") && err.contains("tls = true"),
            "{err}"
        );
        let o = output("type = \"relp\"\naddress = \"rsyslog:2514\"\nwindow = 0").unwrap();
        let err = Connector::from_config(&o).err().unwrap().to_string();
        assert!(err.contains("output.window"), "{err}");
    }

    #[test]
    fn relp_rejects_unknown_keys() {
        let err = output("type = \"relp\"\naddress = \"rsyslog:2514\"\nwindw = 5").unwrap_err();
        assert!(err.contains("windw"), "{err}");
    }

    #[test]
    fn stream_outputs_take_resend_window_keys_with_measured_defaults() {
        let o = output("type = \"tcp\"\naddress = \"rsyslog:514\"").unwrap();
        assert_eq!(
            o.resend_window(),
            Some(ResendWindow {
                bytes: 8 * 1024 * 1024,
                time: Duration::from_secs(10)
            })
        );
        let o = output(
            "type = \"tcp\"\naddress = \"rsyslog:514\"\nresend_window_bytes = 1000\nresend_window_time = \"250ms\"",
        )
        .unwrap();
        assert_eq!(
            o.resend_window(),
            Some(ResendWindow {
                bytes: 1000,
                time: Duration::from_millis(250)
            })
        );
        let o =
            output("type = \"tcp\"\naddress = \"rsyslog:514\"\nresend_window_bytes = 0").unwrap();
        assert!(Connector::from_config(&o).is_err());
        assert_eq!(output("type = \"stdout\"").unwrap().resend_window(), None);
    }

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
