//! A fault-injecting TCP proxy on loopback, for network fault tests.
//!
//! It listens on `127.0.0.1:0` and forwards every accepted connection to one
//! upstream address (a test rsyslog), byte for byte: TLS passes through it
//! untouched, so the client still verifies the upstream's certificate. The
//! test steers it while traffic flows:
//!
//! * [`Proxy::reset_all`]: every open connection is ended with a TCP RST on
//!   both sides (`SO_LINGER` 0, then close), dropping whatever the proxy or
//!   the kernel buffers still hold, as a crashed middlebox or a node loss would;
//! * [`Proxy::blackhole`]: the proxy stops reading in both directions but
//!   keeps the sockets open, so the client's writes fill the buffers and
//!   then block, as on a partitioned link; [`Proxy::forward`] resumes;
//! * [`Proxy::refuse`]: new connections are accepted and reset at once
//!   (the client sees "connection reset"), until [`Proxy::forward`].
//!
//! Plain std threads: two pumps per connection, one acceptor. Every blocking
//! call has a short timeout, so a command takes effect within [`TICK`] and
//! dropping the proxy ends every thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::process::loopback_listener;

/// How often blocked proxy threads look at the commands.
pub const TICK: Duration = Duration::from_millis(20);

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Forward,
    /// Keep connections open but move no bytes.
    Blackhole,
    /// Reset new connections at once; open ones keep forwarding.
    Refuse,
}

/// Counters for the test's assertions and figures.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted and forwarded upstream.
    pub connections: AtomicU64,
    /// Connections reset at accept time (refuse mode, or upstream down).
    pub refused: AtomicU64,
    /// Connections ended by [`Proxy::reset_all`].
    pub resets: AtomicU64,
    /// Bytes forwarded client → upstream.
    pub bytes_up: AtomicU64,
    /// Bytes forwarded upstream → client.
    pub bytes_down: AtomicU64,
}

/// One forwarded connection: the client side and the upstream side.
struct Pair {
    client: TcpStream,
    upstream: TcpStream,
    /// Set by a reset: its pumps stop and drop their descriptors.
    dead: Arc<AtomicBool>,
    /// Pumps of this pair still running; the last one out unregisters it.
    pumps: Arc<AtomicU64>,
}

struct Shared {
    upstream: SocketAddr,
    mode: Mutex<Mode>,
    /// Signalled when the mode changes (wakes blackholed pumps).
    changed: Condvar,
    pairs: Mutex<Vec<Pair>>,
    stop: AtomicBool,
    stats: ProxyStats,
}

impl Shared {
    fn mode(&self) -> MutexGuard<'_, Mode> {
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pairs(&self) -> MutexGuard<'_, Vec<Pair>> {
        self.pairs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running proxy; its threads end when it is dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = loopback_listener();
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            mode: Mutex::new(Mode::Forward),
            changed: Condvar::new(),
            pairs: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            stats: ProxyStats::default(),
        });
        let s = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, &s))
            .expect("spawn proxy acceptor");
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients connect: 127.0.0.1 and this port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }

    /// Resets (RST) every open connection on both sides; returns how many.
    pub fn reset_all(&self) -> usize {
        let pairs: Vec<Pair> = std::mem::take(&mut *self.shared.pairs());
        for p in &pairs {
            p.dead.store(true, Ordering::SeqCst);
            for sock in [&p.client, &p.upstream] {
                set_linger_zero(sock);
                // Wakes a pump blocked in read; sends nothing on the wire.
                let _ = sock.shutdown(Shutdown::Read);
            }
        }
        self.shared.changed.notify_all();
        let n = pairs.len();
        self.shared
            .stats
            .resets
            .fetch_add(n as u64, Ordering::Relaxed);
        // The last descriptor of each socket closes (and sends the RST) once
        // its pumps have seen `dead`, within a TICK.
        drop(pairs);
        n
    }

    /// Stops moving bytes; connections stay open.
    pub fn blackhole(&self) {
        self.set_mode(Mode::Blackhole);
    }

    /// Resets new connections at accept time.
    pub fn refuse(&self) {
        self.set_mode(Mode::Refuse);
    }

    /// Back to normal forwarding.
    pub fn forward(&self) {
        self.set_mode(Mode::Forward);
    }

    fn set_mode(&self, mode: Mode) {
        *self.shared.mode() = mode;
        self.shared.changed.notify_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.reset_all();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => admit(client, shared),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
}

/// Forwards `client` upstream, or resets it when refusing or upstream is down.
fn admit(client: TcpStream, shared: &Arc<Shared>) {
    let refuse = || {
        set_linger_zero(&client);
        shared.stats.refused.fetch_add(1, Ordering::Relaxed);
    };
    if *shared.mode() == Mode::Refuse {
        return refuse();
    }
    let Ok(upstream) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(2)) else {
        return refuse();
    };
    let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
    ) else {
        return refuse();
    };
    for s in [&client, &upstream] {
        let _ = s.set_nonblocking(false);
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(TICK));
        let _ = s.set_write_timeout(Some(TICK));
    }
    let dead = Arc::new(AtomicBool::new(false));
    let pumps = Arc::new(AtomicU64::new(2));
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    shared.pairs().push(Pair {
        client,
        upstream,
        dead: Arc::clone(&dead),
        pumps: Arc::clone(&pumps),
    });
    let pair = (Arc::clone(&dead), Arc::clone(&pumps));
    spawn_pump(c2, u2, Arc::clone(shared), pair, true);
    spawn_pump(u3, c3, Arc::clone(shared), (dead, pumps), false);
}

fn spawn_pump(
    from: TcpStream,
    to: TcpStream,
    shared: Arc<Shared>,
    (dead, pumps): (Arc<AtomicBool>, Arc<AtomicU64>),
    up: bool,
) {
    let name = if up { "proxy-up" } else { "proxy-down" };
    thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            pump(from, &to, &shared, &dead, up);
            // A clean end on one side is passed on as a FIN (not a reset):
            // the other pump still drains what is in flight.
            if !dead.load(Ordering::SeqCst) {
                let _ = to.shutdown(Shutdown::Write);
            }
            if pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
                // Both directions ended: close the registry's descriptors too.
                shared.pairs().retain(|p| !Arc::ptr_eq(&p.pumps, &pumps));
            }
        })
        .expect("spawn proxy pump");
}

/// Copies `from` → `to` until EOF, an error, a reset or the proxy's end.
fn pump(mut from: TcpStream, mut to: &TcpStream, shared: &Shared, dead: &AtomicBool, up: bool) {
    let counter = if up {
        &shared.stats.bytes_up
    } else {
        &shared.stats.bytes_down
    };
    let gone = || dead.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if gone() {
            return;
        }
        {
            let mode = shared.mode();
            if *mode == Mode::Blackhole {
                let _unused = shared.changed.wait_timeout(mode, TICK);
                continue;
            }
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return,
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if gone() {
                return;
            }
            match to.write(rest) {
                Ok(0) => return,
                Ok(w) => {
                    counter.fetch_add(w as u64, Ordering::Relaxed);
                    rest = &rest[w..];
                }
                Err(e) if is_timeout(&e) => continue,
                Err(_) => return,
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// `SO_LINGER` {on, 0}: closing the socket sends a RST and drops unsent data.
fn set_linger_zero(sock: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor we own, and a correctly sized
    // `linger` value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert!(
        rc == 0 || thread::panicking(),
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}
