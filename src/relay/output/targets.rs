//! The receiver targets of a network output (`[output] address`, one or a
//! list): which one to use, failover, failback, and what a connection
//! attempt is allowed to take.
//!
//! * A round tries the targets in order and takes the first that gives a
//!   usable connection. A connection to target `i` that fails moves on to
//!   `i + 1` at once (wrapping, so `i` itself comes last); only when a
//!   whole round failed does the relay back off (100 ms doubling to 30 s,
//!   with jitter), and the next round starts again at the first target.
//! * Each attempt resolves the name again and tries every address it
//!   resolves to. `connect_timeout` bounds, per address, the TCP connect,
//!   the TLS handshake and the RELP `open`: a peer that accepts and then
//!   never answers costs that long, not forever.
//! * On a later target for `failback_after`, the output probes the first
//!   one (a full connection attempt, beside the working connection, which
//!   keeps sending); when it answers, the output moves back to it (see
//!   `resend.rs` and `relp/` for how each closes the old connection).
//! * A connection on which the peer's TCP acknowledged no byte for
//!   `write_timeout` while bytes wait is given up ([`Progress`]).
//!
//! Each switch from one target to another is logged once, by the output,
//! with from, to and why ([`Switch`]); per-target counters are in
//! [`TargetStats`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{relp, Backoff, OutputError, Stream};
use crate::relay::config::Link;
use crate::relay::metrics::{Failure, OutputStats, TargetStats};

/// A connection that ends within this long of being established counts as
/// a failed attempt for the backoff: a peer that accepts and drops at once
/// must not be reconnected to in a tight loop.
const SHORT_LIVED: Duration = Duration::from_secs(1);

/// One entry of the `address` list.
#[derive(Clone)]
struct Target {
    address: String,
    /// The name the TLS certificate must carry (TLS only).
    server_name: Option<ServerName<'static>>,
    stats: Arc<TargetStats>,
}

/// What makes a TCP connection usable: cloned into a failback probe, which
/// runs beside the working connection.
#[derive(Clone)]
pub(super) struct Dialer {
    tls: Option<tokio_rustls::TlsConnector>,
    /// Send RELP `open` and check the answer before the connection counts.
    relp: bool,
    connect_timeout: Duration,
}

/// A usable connection to one target.
pub(super) struct Connected {
    pub stream: Pin<Box<dyn Stream>>,
    /// Bytes the peer sent after the RELP `open` answer (empty otherwise).
    pub rbuf: Vec<u8>,
}

/// A failed attempt: the counter's reason and the error to log.
pub(super) struct Failed {
    pub why: Failure,
    pub error: OutputError,
}

impl Failed {
    fn io(why: Failure, peer: String, stage: &'static str, source: io::Error) -> Failed {
        Failed {
            why,
            error: OutputError::Io {
                peer,
                stage,
                source,
            },
        }
    }
}

/// A failback probe running beside the current connection.
pub(super) type Probe = Pin<Box<dyn Future<Output = Result<Connected, Failed>> + Send>>;

/// The probe's answer; never returns without a probe (for a `select!`
/// branch that is idle while no probe runs).
pub(super) async fn answer(probe: &mut Option<Probe>) -> Result<Connected, Failed> {
    match probe.as_mut() {
        Some(p) => p.await,
        None => std::future::pending().await,
    }
}

/// The output moved from one target to another.
pub(super) struct Switch {
    pub from: String,
    pub why: String,
}

/// The targets and the state of failover between them.
pub(crate) struct Targets {
    list: Vec<Target>,
    dialer: Dialer,
    write_timeout: Duration,
    failback_after: Duration,
    backoff: Backoff,
    /// The target of the established connection.
    current: Option<usize>,
    /// Where the next round starts.
    next: usize,
    /// The target of the last established connection, and why it ended.
    last: Option<(usize, String)>,
    connected_at: Instant,
    /// When to probe the first target (while on a later one).
    probe_at: Option<Instant>,
    /// The last connection was short-lived: back off before the next round.
    pause: bool,
}

impl Targets {
    /// `tls`: the rustls connector and the `server_name` override (the
    /// host part of each address otherwise).
    pub(super) fn new(
        link: &Link,
        tls: Option<(tokio_rustls::TlsConnector, Option<&str>)>,
        relp: bool,
    ) -> Result<Targets, OutputError> {
        let mut list = Vec::with_capacity(link.addresses.len());
        for (index, address) in link.addresses.iter().enumerate() {
            let (host, _port) = split_host_port(address)?;
            let server_name = match &tls {
                Some((_, name)) => {
                    let name = name.unwrap_or(host);
                    Some(ServerName::try_from(name.to_owned()).map_err(|e| {
                        OutputError::Address {
                            address: address.clone(),
                            reason: format!(
                                "server name {name:?} is not a DNS name or IP address: {e}"
                            ),
                        }
                    })?)
                }
                None => None,
            };
            list.push(Target {
                address: address.clone(),
                server_name,
                stats: Arc::new(TargetStats::new(address, index)),
            });
        }
        if list.is_empty() {
            return Err(OutputError::Config {
                key: "address",
                reason: "no target".into(),
            });
        }
        list[0].stats.current.store(true, Ordering::Relaxed);
        Ok(Targets {
            list,
            dialer: Dialer {
                tls: tls.map(|(c, _)| c),
                relp,
                connect_timeout: link.connect_timeout,
            },
            write_timeout: link.write_timeout,
            failback_after: link.failback_after,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            current: None,
            next: 0,
            last: None,
            connected_at: Instant::now(),
            probe_at: None,
            pause: false,
        })
    }

    /// Makes the per-target counters visible to `/metrics`.
    pub(super) fn register(&self, stats: &OutputStats) {
        stats.set_targets(self.list.iter().map(|t| Arc::clone(&t.stats)).collect());
    }

    /// The target in use (or the one tried next), for log lines.
    pub(super) fn peer(&self) -> &str {
        &self.list[self.current.unwrap_or(self.next)].address
    }

    pub(super) fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// Counts bytes written on the current connection.
    pub(super) fn sent(&self, bytes: usize) {
        if let Some(i) = self.current {
            self.list[i]
                .stats
                .bytes_sent
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Connects to the first target of the round that answers, backing off
    /// after every round in which none did. Returns the connection and,
    /// when it is another target than the last connection's, the switch to
    /// log.
    pub(super) async fn connect(&mut self) -> (Connected, Option<Switch>) {
        if std::mem::take(&mut self.pause) {
            tokio::time::sleep(self.backoff.next_delay()).await;
        }
        loop {
            let n = self.list.len();
            for k in 0..n {
                let i = (self.next + k) % n;
                self.mark_current(i);
                let t = self.list[i].clone();
                match self.dialer.dial(&t).await {
                    Ok(c) => {
                        let switch = self.established(i);
                        return (c, switch);
                    }
                    Err(f) => {
                        t.stats.failed(f.why);
                        if k + 1 < n {
                            let to = &self.list[(i + 1) % n].address;
                            tracing::warn!(target = t.address, error = %f.error, next = to, "cannot connect; trying the next target");
                        } else {
                            let delay = self.backoff.next_delay();
                            tracing::warn!(target = t.address, error = %f.error, targets = n, retry_in_ms = delay.as_millis() as u64,
                                "cannot connect to any target; retrying from the first");
                            self.next = 0;
                            tokio::time::sleep(delay).await;
                        }
                    }
                }
            }
        }
    }

    /// The connection to the current target broke (`why` says how): the
    /// next round starts with the target after it.
    pub(super) fn failed(&mut self, why: Failure, detail: &str) {
        let Some(i) = self.current.take() else {
            return;
        };
        self.list[i].stats.failed(why);
        self.last = Some((i, detail.to_owned()));
        self.next = (i + 1) % self.list.len();
        self.probe_at = None;
        if self.connected_at.elapsed() < SHORT_LIVED {
            self.pause = true;
        }
    }

    /// A healthy connection made progress: the next round starts without
    /// waiting.
    pub(super) fn healthy(&mut self) {
        self.backoff.reset();
    }

    /// Connected, to another target than the first.
    pub(super) fn on_later_target(&self) -> bool {
        self.current.is_some_and(|i| i != 0)
    }

    /// When to probe the first target: set while connected to a later one.
    pub(super) fn probe_at(&self) -> Option<Instant> {
        self.probe_at
    }

    /// A failback probe: one attempt at the first target that owns what it
    /// needs, so it can run while the current connection keeps sending.
    pub(super) fn probe(&self) -> Probe {
        let dialer = self.dialer.clone();
        let first = self.list[0].clone();
        Box::pin(async move { dialer.dial(&first).await })
    }

    /// The probe's answer. On failure the next probe is one
    /// `failback_after` later; the current connection is untouched.
    pub(super) fn probed(&mut self, result: &Result<Connected, Failed>) {
        match result {
            Ok(_) => self.probe_at = None,
            Err(f) => {
                self.list[0].stats.failed(f.why);
                tracing::info!(target = self.list[0].address, error = %f.error,
                    retry_in_s = self.failback_after.as_secs(), "first target still unavailable; staying on the current one");
                self.probe_at = Some(Instant::now() + self.failback_after);
            }
        }
    }

    /// The output moves to the probed first target (its old connection is
    /// closed or abandoned by the caller); returns the switch to log.
    pub(super) fn fail_back(&mut self) -> Option<Switch> {
        if let Some(i) = self.current.take() {
            let on = Duration::from_secs(self.connected_at.elapsed().as_secs());
            self.last = Some((
                i,
                format!("failback: the first target answers again (after {on:?} on this one)"),
            ));
        }
        self.mark_current(0);
        self.established(0)
    }

    fn mark_current(&self, i: usize) {
        for (j, t) in self.list.iter().enumerate() {
            t.stats.current.store(j == i, Ordering::Relaxed);
        }
    }

    /// Records a connection to `i`.
    fn established(&mut self, i: usize) -> Option<Switch> {
        let t = &self.list[i];
        t.stats.up.store(true, Ordering::Relaxed);
        t.stats.connects.fetch_add(1, Ordering::Relaxed);
        self.current = Some(i);
        self.next = i;
        self.connected_at = Instant::now();
        self.probe_at = (i != 0).then(|| self.connected_at + self.failback_after);
        match self.last.take() {
            Some((from, why)) if from != i => Some(Switch {
                from: self.list[from].address.clone(),
                why,
            }),
            _ => None,
        }
    }
}

impl Dialer {
    /// One attempt at `target`: resolve, then each address in turn until
    /// one gives a usable connection within `connect_timeout`.
    async fn dial(&self, target: &Target) -> Result<Connected, Failed> {
        let timeout = self.connect_timeout;
        let address = &target.address;
        let failed = |why, stage, source| Failed::io(why, address.clone(), stage, source);
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(timeout, tokio::net::lookup_host(address)).await {
                Ok(Ok(a)) => a.collect(),
                Ok(Err(e)) => return Err(failed(Failure::Resolve, "resolve", e)),
                Err(_) => {
                    return Err(failed(
                        Failure::Resolve,
                        "resolve",
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no answer within {timeout:?}"),
                        ),
                    ))
                }
            };
        let mut last = failed(
            Failure::Resolve,
            "resolve",
            io::Error::other("name resolved to no address"),
        );
        for addr in addrs {
            match tokio::time::timeout(timeout, self.open(target, addr)).await {
                Ok(Ok((stream, rbuf))) => return Ok(Connected { stream, rbuf }),
                Ok(Err(f)) => last = f,
                Err(_) => {
                    let what = match (&self.tls, self.relp) {
                        (None, false) => "TCP connect",
                        (Some(_), false) => "TCP connect and TLS handshake",
                        (None, true) => "TCP connect and RELP open",
                        (Some(_), true) => "TCP connect, TLS handshake and RELP open",
                    };
                    last = Failed::io(
                        Failure::Timeout,
                        peer_name(address, addr),
                        "connect",
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("{what} did not complete within connect_timeout ({timeout:?})"),
                        ),
                    );
                }
            }
        }
        Err(last)
    }

    /// TCP connect, TLS handshake, RELP open: a connection ready for data.
    async fn open(
        &self,
        target: &Target,
        addr: SocketAddr,
    ) -> Result<(Pin<Box<dyn Stream>>, Vec<u8>), Failed> {
        let failed =
            |why, stage, source| Failed::io(why, peer_name(&target.address, addr), stage, source);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| failed(Failure::Connect, "connect", e))?;
        // Batches are already large: Nagle would only add latency.
        tcp.set_nodelay(true)
            .map_err(|e| failed(Failure::Connect, "set TCP_NODELAY", e))?;
        let mut stream: Pin<Box<dyn Stream>> = match (&self.tls, &target.server_name) {
            (Some(tls), Some(name)) => Box::pin(
                tls.connect(name.clone(), tcp)
                    .await
                    .map_err(|e| failed(Failure::Tls, "TLS handshake", e))?,
            ),
            _ => Box::pin(tcp),
        };
        let rbuf = if self.relp {
            relp::open(&mut stream)
                .await
                .map_err(|e| failed(e.failure(), "RELP open", io::Error::other(e.to_string())))?
        } else {
            Vec::new()
        };
        Ok((stream, rbuf))
    }
}

/// `name:port (ip:port)` when the name is not the address itself.
fn peer_name(address: &str, addr: SocketAddr) -> String {
    if address == addr.to_string() {
        address.to_owned()
    } else {
        format!("{address} ({addr})")
    }
}

/// Watches whether the peer acknowledges what we write: `write_timeout`
/// with bytes waiting in our send queue and no new byte acknowledged means
/// the connection is given up (a blackholed link, a receiver that stopped
/// reading, a half-open peer), long before TCP's own retransmission timeout
/// (about 15 minutes with Linux's defaults) would end it.
pub(super) struct Progress {
    fd: Option<RawFd>,
    acked: Option<u64>,
    since: Instant,
    /// The socket is asked at most once per [`Progress::tick`]: two
    /// syscalls per batch cost about 2% of the TLS throughput.
    sampled: Instant,
    timeout: Duration,
}

impl Progress {
    pub(super) fn new(stream: &dyn Stream, timeout: Duration) -> Progress {
        Progress {
            fd: stream.tcp_fd(),
            acked: None,
            since: Instant::now(),
            sampled: Instant::now(),
            timeout,
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often to sample while a write is blocked.
    pub(super) fn tick(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Samples the socket. True once the peer acknowledged nothing for
    /// `timeout` while bytes waited.
    pub(super) fn stalled(&mut self, now: Instant) -> bool {
        let Some(fd) = self.fd else {
            return false;
        };
        if now.saturating_duration_since(self.sampled) < self.tick() {
            return false;
        }
        self.sampled = now;
        let acked = crate::relay::sys::acknowledged_bytes(fd);
        let waiting = crate::relay::sys::unacknowledged_bytes(fd);
        if waiting == Some(0) || acked.is_none() || acked != self.acked {
            self.acked = acked;
            self.since = now;
            return false;
        }
        now.saturating_duration_since(self.since) >= self.timeout
    }

    /// Seconds since the peer last acknowledged a byte, for the log line.
    pub(super) fn quiet_for(&self) -> Duration {
        self.since.elapsed()
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub(crate) fn split_host_port(address: &str) -> Result<(&str, u16), OutputError> {
    let bad = |reason: &str| OutputError::Address {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port, e.g. rsyslog.infra.svc:6514"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("port must be a number from 1 to 65535"))?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on (bound, then closed).
    fn refused() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    fn link(addresses: Vec<String>, connect_timeout: Duration) -> Link {
        Link {
            addresses,
            connect_timeout,
            write_timeout: Duration::from_secs(30),
            failback_after: Duration::from_secs(300),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_round_skips_a_dead_target_and_a_failure_moves_to_the_next() {
        runtime().block_on(async {
            // Listening sockets complete TCP handshakes without accept().
            let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let names = vec![
                refused(),
                b.local_addr().unwrap().to_string(),
                c.local_addr().unwrap().to_string(),
            ];
            let mut t =
                Targets::new(&link(names.clone(), Duration::from_secs(5)), None, false).unwrap();
            let stats = OutputStats::default();
            t.register(&stats);
            let (_conn, switch) = t.connect().await;
            assert!(switch.is_none(), "a first connection is no switch");
            assert_eq!(t.peer(), names[1]);
            let s = stats.targets();
            let connect_failures = s[0].failures[1].load(Ordering::Relaxed);
            assert_eq!(Failure::ALL[1], Failure::Connect);
            assert_eq!(connect_failures, 1);
            assert!(s[1].up.load(Ordering::Relaxed) && s[1].current.load(Ordering::Relaxed));
            assert!(!s[0].current.load(Ordering::Relaxed));

            t.failed(Failure::Closed, "closed by the test");
            let (_conn, switch) = t.connect().await;
            let switch = switch.expect("b to c is a switch");
            assert_eq!(
                (switch.from.as_str(), t.peer()),
                (names[1].as_str(), names[2].as_str())
            );
            assert_eq!(switch.why, "closed by the test");
            assert!(!s[1].up.load(Ordering::Relaxed));

            // From the last target the round wraps: the dead first one is
            // tried, then the second.
            t.failed(Failure::Stalled, "stalled");
            let (_conn, switch) = t.connect().await;
            assert_eq!(t.peer(), names[1]);
            assert_eq!(switch.map(|s| s.from), Some(names[2].clone()));
            assert_eq!(s[0].failures[1].load(Ordering::Relaxed), 2);
            assert!(t.probe_at().is_some(), "on a later target, failback is due");
        });
    }

    #[test]
    fn a_peer_that_never_answers_open_costs_one_connect_timeout() {
        runtime().block_on(async {
            let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let timeout = Duration::from_millis(300);
            let names = vec![silent.local_addr().unwrap().to_string()];
            let t = Targets::new(&link(names, timeout), None, true).unwrap();
            let started = Instant::now();
            let Err(f) = t.probe().await else {
                panic!("a silent peer answered RELP open");
            };
            assert_eq!(f.why, Failure::Timeout);
            let msg = f.error.to_string();
            assert!(
                msg.contains("RELP open") && msg.contains("connect_timeout"),
                "{msg}"
            );
            let took = started.elapsed();
            assert!(took >= timeout && took < timeout * 10, "{took:?}");
        });
    }

    #[test]
    fn splits_names_ipv4_and_bracketed_ipv6() {
        assert_eq!(
            split_host_port("rsyslog.infra.svc:6514").unwrap(),
            ("rsyslog.infra.svc", 6514)
        );
        assert_eq!(split_host_port("127.0.0.1:1").unwrap(), ("127.0.0.1", 1));
        assert_eq!(split_host_port("[::1]:6514").unwrap(), ("::1", 6514));
    }

    #[test]
    fn rejects_addresses_without_a_usable_port() {
        for bad in ["rsyslog", "rsyslog:", "rsyslog:0", "rsyslog:99999", ":6514"] {
            let err = split_host_port(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
