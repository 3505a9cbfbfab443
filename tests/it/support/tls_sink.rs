//! An in-process RFC 5425 receiver: a TLS server on 127.0.0.1:0 that reads
//! octet-counted frames (`MSG-LEN SP SYSLOG-MSG`) and keeps them as raw
//! bytes, or in [`SinkMode::Discard`] only counts bytes (benchmarks).
//!
//! It runs a current-thread tokio runtime on a thread of its own, so tests
//! stay synchronous; dropping the sink stops the runtime and joins the thread.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::certs::TestPki;
use super::process::{loopback_listener, poll};
use super::tls;

/// Longest MSG-LEN accepted; longer is treated as a framing error.
const MAX_FRAME: usize = 1 << 20;

/// What the sink does with the bytes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Parse frames and keep each message.
    Collect,
    /// Count decrypted bytes only.
    Discard,
}

/// Server identity and client requirements.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Certificate chain the sink presents.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// When set, clients must present a certificate chaining to this CA.
    pub client_ca: Option<PathBuf>,
    /// Collect or discard.
    pub mode: SinkMode,
}

impl SinkOptions {
    /// The server certificate of `pki`, requiring a client certificate from its CA.
    pub fn mutual(pki: &TestPki) -> SinkOptions {
        SinkOptions {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: Some(pki.ca.clone()),
            mode: SinkMode::Collect,
        }
    }

    /// The server certificate of `pki`, no client certificate asked for.
    pub fn server_only(pki: &TestPki) -> SinkOptions {
        SinkOptions {
            client_ca: None,
            ..SinkOptions::mutual(pki)
        }
    }

    /// Presents a server certificate from `other_ca` (a relay trusting
    /// `ca` must refuse it); no client certificate asked for.
    pub fn untrusted(pki: &TestPki) -> SinkOptions {
        SinkOptions {
            cert: pki.other_server_cert.clone(),
            key: pki.other_server_key.clone(),
            ..SinkOptions::server_only(pki)
        }
    }

    /// Presents a certificate from the right CA for the wrong name
    /// ([`super::certs::ELSEWHERE_NAME`]); no client certificate asked for.
    pub fn wrong_name(pki: &TestPki) -> SinkOptions {
        SinkOptions {
            cert: pki.elsewhere_cert.clone(),
            key: pki.elsewhere_key.clone(),
            ..SinkOptions::server_only(pki)
        }
    }

    /// Same, in another mode.
    pub fn mode(mut self, mode: SinkMode) -> SinkOptions {
        self.mode = mode;
        self
    }
}

/// What the sink saw; shared between the runtime thread and the test.
#[derive(Clone, Default)]
pub struct SinkStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TLS handshakes completed.
    pub handshakes: u64,
    /// Failed handshakes, framing errors and read errors, as text.
    pub errors: Vec<String>,
    /// Decrypted bytes read (frames and prefixes).
    pub bytes: u64,
    /// Messages (frame payloads) in arrival order; empty in discard mode.
    pub frames: Vec<Vec<u8>>,
    /// Connections that ended with a TLS close_notify.
    pub clean_closes: u64,
}

/// Frames are shown as (lossy) text, cut at 200 bytes, so a failing
/// assertion stays readable.
impl std::fmt::Debug for SinkStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let frames: Vec<String> = self
            .frames
            .iter()
            .map(|m| String::from_utf8_lossy(&m[..m.len().min(200)]).into_owned())
            .collect();
        f.debug_struct("SinkStats")
            .field("connections", &self.connections)
            .field("handshakes", &self.handshakes)
            .field("errors", &self.errors)
            .field("bytes", &self.bytes)
            .field("clean_closes", &self.clean_closes)
            .field("frames", &frames)
            .finish()
    }
}

/// A running sink; stopped on drop.
pub struct TlsSink {
    addr: SocketAddr,
    stats: Arc<Mutex<SinkStats>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsSink {
    /// Binds 127.0.0.1:0 and starts serving.
    pub fn start(opts: SinkOptions) -> TlsSink {
        let config = tls::server_config(&opts.cert, &opts.key, opts.client_ca.as_deref());
        let listener = loopback_listener();
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(Mutex::new(SinkStats::default()));
        let (tx, rx) = oneshot::channel();
        let shared = Arc::clone(&stats);
        let thread = thread::Builder::new()
            .name("tls-sink".into())
            .spawn(move || serve(listener, TlsAcceptor::from(config), opts.mode, shared, rx))
            .expect("spawn sink thread");
        TlsSink {
            addr,
            stats,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of everything seen so far.
    pub fn stats(&self) -> SinkStats {
        lock(&self.stats).clone()
    }

    /// Messages received so far.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        lock(&self.stats).frames.clone()
    }

    /// Decrypted bytes received so far.
    pub fn bytes(&self) -> u64 {
        lock(&self.stats).bytes
    }

    /// Errors seen so far (handshake failures included).
    pub fn errors(&self) -> Vec<String> {
        lock(&self.stats).errors.clone()
    }

    /// Polls until at least `count` frames arrived and returns them all;
    /// panics after `timeout` with the stats.
    pub fn wait_for_frames(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let what = format!("got fewer than {count} frames");
        self.wait_for(timeout, &what, |s| s.frames.len() >= count)
            .frames
    }

    /// Polls until at least `count` errors were recorded (e.g. a rejected handshake).
    pub fn wait_for_errors(&self, count: usize, timeout: Duration) -> Vec<String> {
        let what = format!("saw fewer than {count} errors");
        self.wait_for(timeout, &what, |s| s.errors.len() >= count)
            .errors
    }

    /// Polls until `done` holds for the stats and returns them; panics after
    /// `timeout` saying `what` happened instead, with the stats.
    fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&SinkStats) -> bool,
    ) -> SinkStats {
        let stats = poll(timeout, || {
            let s = lock(&self.stats);
            done(&s).then(|| s.clone())
        });
        stats.unwrap_or_else(|| panic!("sink {what} in {timeout:?}: {:#?}", self.stats()))
    }
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The receiver is gone only if the thread already ended: nothing to stop.
            tx.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !thread::panicking() {
                panic!("tls sink thread panicked");
            }
        }
    }
}

/// A poisoned lock only means a connection task panicked; the stats are
/// still worth reading.
fn lock(stats: &Mutex<SinkStats>) -> MutexGuard<'_, SinkStats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(
    listener: StdListener,
    acceptor: TlsAcceptor,
    mode: SinkMode,
    stats: Arc<Mutex<SinkStats>>,
    shutdown: oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("sink runtime");
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        tokio::select! {
            _ = shutdown => {}
            _ = accept_loop(listener, acceptor, mode, stats) => {}
        }
    });
    // Dropping the runtime cancels the connection tasks still running.
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    mode: SinkMode,
    stats: Arc<Mutex<SinkStats>>,
) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                lock(&stats).errors.push(format!("accept: {e}"));
                continue;
            }
        };
        lock(&stats).connections += 1;
        let (acceptor, stats) = (acceptor.clone(), Arc::clone(&stats));
        tokio::spawn(async move {
            if let Err(e) = connection(sock, acceptor, mode, &stats).await {
                lock(&stats).errors.push(format!("{peer}: {e}"));
            }
        });
    }
}

async fn connection(
    sock: TcpStream,
    acceptor: TlsAcceptor,
    mode: SinkMode,
    stats: &Mutex<SinkStats>,
) -> Result<(), String> {
    let mut tls = acceptor
        .accept(sock)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    lock(stats).handshakes += 1;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match tls.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            // rustls reports a peer that closed without close_notify as UnexpectedEof.
            Err(e) => return Err(format!("read: {e}")),
        };
        let mut s = lock(stats);
        s.bytes += n as u64;
        if mode == SinkMode::Collect {
            buf.extend_from_slice(&chunk[..n]);
            let used = take_frames(&buf, &mut s.frames)?;
            buf.drain(..used);
        }
    }
    // Answer the client's close_notify with ours, as a well-behaved server
    // does; the client may already be gone, which changes nothing here.
    tls.shutdown().await.ok();
    let mut s = lock(stats);
    s.clean_closes += 1;
    if !buf.is_empty() {
        return Err(format!(
            "connection closed inside a frame: {} bytes left",
            buf.len()
        ));
    }
    Ok(())
}

/// Moves every complete frame at the start of `buf` into `out`; returns the
/// bytes consumed. RFC 5425 §4.3: MSG-LEN is a non-zero number without
/// leading zeros, then one space.
pub fn take_frames(buf: &[u8], out: &mut Vec<Vec<u8>>) -> Result<usize, String> {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let Some(space) = rest.iter().take(8).position(|&b| b == b' ') else {
            if rest.len() >= 8 || rest.iter().any(|b| !b.is_ascii_digit()) {
                return Err(format!(
                    "bad frame header: {:?}",
                    String::from_utf8_lossy(&rest[..rest.len().min(16)])
                ));
            }
            return Ok(pos);
        };
        let digits = &rest[..space];
        let valid =
            !digits.is_empty() && digits[0] != b'0' && digits.iter().all(u8::is_ascii_digit);
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|_| valid)
            .and_then(|d| d.parse().ok())
            .filter(|&l| l <= MAX_FRAME)
            .ok_or_else(|| format!("bad MSG-LEN {:?}", String::from_utf8_lossy(digits)))?;
        let Some(msg) = rest.get(space + 1..space + 1 + len) else {
            return Ok(pos);
        };
        out.push(msg.to_vec());
        pos += space + 1 + len;
    }
}
