//! A real rsyslogd for end-to-end tests, on a loopback port of its own.
//!
//! Each [`Rsyslog`] owns a temp directory holding its config, pid file, work
//! directory, PKI (unless one is given), the received messages and its own
//! diagnostics. It loads only the input under test: no imuxsock, no imklog,
//! no `/dev/log`, nothing under `/etc` or `/var`.
//!
//! Received messages are written one JSON object per line by a `jsonf` list
//! template, so every RFC 5424 field is unambiguous (control characters and
//! quotes are escaped by the template) and [`Rsyslog::messages`] parses them.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::certs::{TestPki, CLIENT_NAME};
use super::process::{
    self, all_threads_stopped, free_port, pid_of, poll, wait_until, wait_until_every, Proc,
};

/// The rsyslogd under test (Debian's package).
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// rsyslog's own default `maxMessageSize`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 8096;
/// How long a start may take before the test fails (it takes ~50 ms when idle).
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Grace period between SIGTERM and SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between two counts in [`Rsyslog::wait_count`].
const COUNT_POLL: Duration = Duration::from_millis(100);
/// Attempts at finding a port nobody else grabs between our probe and rsyslog's bind.
const PORT_ATTEMPTS: usize = 5;

/// rsyslog's network stream driver for an imtcp TLS input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsDriver {
    /// `lmnsd_gtls` (GnuTLS): what most deployments use.
    Gtls,
    /// `lmnsd_ossl` (OpenSSL).
    Ossl,
}

impl TlsDriver {
    fn name(self) -> &'static str {
        match self {
            TlsDriver::Gtls => "gtls",
            TlsDriver::Ossl => "ossl",
        }
    }
}

/// How rsyslog authenticates the TLS client (`StreamDriver.AuthMode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsAuth {
    /// `anon`: no client certificate asked for.
    Anon,
    /// `x509/certvalid`: any client certificate chaining to the CA.
    CertValid,
    /// `x509/name`: a client certificate chaining to the CA whose SAN/CN is `permitted_peer`.
    Name {
        /// Name the client certificate must carry.
        permitted_peer: String,
    },
}

/// The listener rsyslog runs; messages from any of them land in the same output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// imtcp over GnuTLS, mutual TLS with `x509/name` and this `PermittedPeer`:
    /// the production setup.
    TlsX509Name {
        /// Name the client certificate must carry.
        permitted_peer: String,
    },
    /// imtcp over TLS with a chosen driver and auth mode.
    Tls {
        /// Stream driver.
        driver: TlsDriver,
        /// Client authentication.
        auth: TlsAuth,
    },
    /// imtcp without TLS.
    PlainTcp,
    /// imrelp; with `tls`, mutual TLS with auth mode `name` and [`CLIENT_NAME`]
    /// as the permitted peer.
    Relp {
        /// Whether the RELP session runs inside TLS.
        tls: bool,
    },
}

impl Input {
    /// [`Input::TlsX509Name`] permitting [`CLIENT_NAME`], the relay's test identity.
    pub fn tls() -> Input {
        Input::TlsX509Name {
            permitted_peer: CLIENT_NAME.to_owned(),
        }
    }

    fn uses_tls(&self) -> bool {
        match self {
            Input::TlsX509Name { .. } | Input::Tls { .. } => true,
            Input::PlainTcp => false,
            Input::Relp { tls } => *tls,
        }
    }
}

/// What to start; build with [`Options::new`] and the setters.
#[derive(Clone, Debug)]
pub struct Options {
    /// The listener.
    pub input: Input,
    /// Certificates for TLS inputs; generated in the temp dir when `None`.
    pub pki: Option<TestPki>,
    /// Global `maxMessageSize`, also imrelp's `maxDataSize`; rsyslog cuts longer messages.
    pub max_message_size: usize,
    /// `parser.escapeControlCharactersOnReceive` (rsyslog's default: on, a TAB arrives as `#011`).
    pub escape_control_chars: bool,
    /// A fixed port instead of a free one found at start.
    pub port: Option<u16>,
    /// The received ruleset runs its action in the input's thread (a
    /// `Direct` queue): a message is in the output file before imrelp
    /// answers it or imtcp reads the next one, so a SIGKILL loses only what
    /// the kernel still buffered, never a queue in rsyslog's memory.
    pub direct_queue: bool,
    /// TLS library imrelp uses for `Input::Relp { tls: true }` (librelp's
    /// `tls.tlslib`, a module parameter): GnuTLS unless set.
    pub relp_tls_lib: TlsDriver,
}

impl Options {
    /// rsyslog's defaults around `input`.
    pub fn new(input: Input) -> Options {
        Options {
            input,
            pki: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            escape_control_chars: true,
            port: None,
            direct_queue: false,
            relp_tls_lib: TlsDriver::Gtls,
        }
    }

    /// Uses these certificates (so the test's clients can share the CA).
    pub fn pki(mut self, pki: &TestPki) -> Options {
        self.pki = Some(pki.clone());
        self
    }

    /// Sets the receiver's message size limit.
    pub fn max_message_size(mut self, bytes: usize) -> Options {
        self.max_message_size = bytes;
        self
    }

    /// Listens on `port` instead of a free one found at start (no retry
    /// when it is taken: the start fails).
    pub fn port(mut self, port: u16) -> Options {
        self.port = Some(port);
        self
    }

    /// Runs RELP over TLS with this library.
    pub fn relp_tls_lib(mut self, lib: TlsDriver) -> Options {
        self.relp_tls_lib = lib;
        self
    }

    /// Processes each message synchronously ([`Options::direct_queue`]).
    pub fn direct_queue(mut self) -> Options {
        self.direct_queue = true;
        self
    }

    /// Turns rsyslog's escaping of control characters on receive on or off.
    pub fn escape_control_chars(mut self, on: bool) -> Options {
        self.escape_control_chars = on;
        self
    }
}

/// One message as rsyslog parsed it; fields are rsyslog's properties
/// verbatim (`-` for a NILVALUE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `syslogfacility`: PRI / 8.
    pub facility: u8,
    /// `syslogseverity`: PRI % 8.
    pub severity: u8,
    /// `timereported` in RFC 3339, as received (fraction digits and offset kept).
    pub timestamp: String,
    /// `hostname`.
    pub hostname: String,
    /// `app-name`.
    pub app_name: String,
    /// `procid`.
    pub procid: String,
    /// `msgid`.
    pub msgid: String,
    /// `structured-data`, `-` when none.
    pub structured_data: String,
    /// `msg`, after rsyslog's control-character escaping (see [`Options`]).
    pub msg: String,
}

/// The on-disk record (all values are strings in a `jsonf` template).
#[derive(serde::Deserialize)]
struct Record {
    facility: String,
    severity: String,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    structured_data: String,
    msg: String,
}

impl Record {
    fn into_received(self) -> Received {
        Received {
            facility: self.facility.parse().expect("numeric facility"),
            severity: self.severity.parse().expect("numeric severity"),
            timestamp: self.timestamp,
            hostname: self.hostname,
            app_name: self.app_name,
            procid: self.procid,
            msgid: self.msgid,
            structured_data: self.structured_data,
            msg: self.msg,
        }
    }
}

/// Outcome of waiting for a freshly spawned rsyslogd.
enum Startup {
    Listening,
    PortTaken,
    Exited(ExitStatus),
    TimedOut,
}

/// A running rsyslogd; stopped (by PID) on drop.
pub struct Rsyslog {
    /// Owns every file below; removed on drop.
    dir: tempfile::TempDir,
    opts: Options,
    pki: Option<TestPki>,
    port: u16,
    /// `None` once stopped or reaped.
    child: Option<Child>,
    /// Exit status of a process that ended without [`Rsyslog::stop`] (a crash).
    exited: Option<ExitStatus>,
    /// Whether we sent SIGSTOP without a SIGCONT since.
    paused: bool,
    /// Lengths of the diagnostics files when the current process was spawned,
    /// so a bind error of an earlier attempt is not read as this one's.
    diag_mark: (u64, u64),
}

impl Rsyslog {
    /// Starts rsyslogd and waits until its listener accepts connections.
    /// Panics, with rsyslog's diagnostics, when it cannot start.
    pub fn start(opts: Options) -> Rsyslog {
        let dir = tempfile::Builder::new()
            .prefix("reaplog-rsyslog-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir(dir.path().join("work")).expect("work dir");
        let pki = match (&opts.pki, opts.input.uses_tls()) {
            (Some(pki), _) => Some(pki.clone()),
            (None, true) => {
                let pki_dir = dir.path().join("pki");
                fs::create_dir(&pki_dir).expect("pki dir");
                Some(TestPki::new(&pki_dir))
            }
            (None, false) => None,
        };
        let mut rsyslog = Rsyslog {
            dir,
            port: 0,
            pki,
            opts,
            child: None,
            exited: None,
            paused: false,
            diag_mark: (0, 0),
        };
        for _ in 0..PORT_ATTEMPTS {
            rsyslog.port = rsyslog.opts.port.unwrap_or_else(free_port);
            match rsyslog.spawn_and_wait() {
                Startup::Listening => return rsyslog,
                Startup::PortTaken if rsyslog.opts.port.is_none() => rsyslog.kill_now(),
                other => rsyslog.fail_start(other),
            }
        }
        panic!(
            "rsyslogd found no free port in {PORT_ATTEMPTS} attempts\n{}",
            rsyslog.diagnostics()
        );
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// PID of the running rsyslogd; `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The JSON-lines file rsyslog writes received messages to.
    pub fn output_path(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }

    /// True once the process listens on its port (checked in `/proc`, so no
    /// probe connection shows up in rsyslog's logs); false if it exited or
    /// `timeout` passed.
    pub fn wait_ready(&mut self, timeout: Duration) -> bool {
        wait_until(timeout, || self.is_listening() || !self.is_running()) && self.is_listening()
    }

    /// Every message received so far (complete lines only), in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let text = match fs::read_to_string(self.output_path()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("read {}: {e}", self.output_path().display()),
        };
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete.lines().map(parse_record).collect()
    }

    /// How many complete records arrived, without parsing them: cheap
    /// enough to poll while a benchmark pushes many thousands. `jsonf`
    /// escapes newlines inside values, so every newline ends one record.
    pub fn count(&self) -> usize {
        // memchr is optimised even in test builds: a 100 MB file takes
        // milliseconds, not the second a debug-built byte loop takes.
        fs::read(self.output_path()).map_or(0, |bytes| memchr::memchr_iter(b'\n', &bytes).count())
    }

    /// Polls (at most every [`COUNT_POLL`]) until at least `at_least`
    /// records arrived; false after `timeout`. For tests that stream many
    /// thousands of lines: counting a large output file every 10 ms would
    /// steal the CPU the relay and rsyslog need.
    pub fn wait_count(&self, at_least: usize, timeout: Duration) -> bool {
        wait_until_every(timeout, COUNT_POLL, || self.count() >= at_least)
    }

    /// Polls until at least `count` messages arrived and returns them all;
    /// panics after `timeout` with what arrived and rsyslog's diagnostics.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        if wait_until(timeout, || self.count() >= count) {
            return self.messages();
        }
        let got = self.messages();
        panic!(
            "rsyslog ({}) received {} of {count} messages within {timeout:?}: {got:#?}\n{}",
            self.process_state(),
            got.len(),
            self.diagnostics()
        );
    }

    /// Polls until no message arrived for `quiet` (at least `count` in
    /// all), then returns them: for "exactly N, no duplicates" checks, e.g.
    /// after a RELP resend. Panics after `timeout`.
    pub fn wait_quiet(&self, count: usize, quiet: Duration, timeout: Duration) -> Vec<Received> {
        let mut seen = self.wait_for(count, timeout);
        let mut since = Instant::now();
        let settled = wait_until(timeout, || {
            let now = self.messages();
            if now.len() != seen.len() {
                (seen, since) = (now, Instant::now());
            }
            since.elapsed() >= quiet
        });
        assert!(
            settled,
            "rsyslog kept receiving for {timeout:?}: {} so far",
            seen.len()
        );
        seen
    }

    /// rsyslog's internal messages (TLS and bind errors land here) and the
    /// stderr lines they do not already hold (errors before the config is
    /// active), for failure messages.
    pub fn diagnostics(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let internal = read("internal.log");
        // rsyslogd -n copies each error to stderr as "rsyslogd: TEXT".
        let stderr_only: String = read("stderr.log")
            .lines()
            .filter(|l| !internal.contains(l.trim_start_matches("rsyslogd: ")))
            .map(|l| format!("{l}\n"))
            .collect();
        format!(
            "--- rsyslogd internal messages ---\n{internal}--- rsyslogd stderr (rest) ---\n{stderr_only}"
        )
    }

    /// The generated rsyslog.conf.
    pub fn config(&self) -> String {
        render_config(self.dir.path(), &self.opts, self.pki.as_ref(), self.port)
    }

    /// `pid N, state S` from `/proc` (R/S running, T paused, Z exited but
    /// not yet reaped), or `not running`: for failure messages.
    pub fn process_state(&self) -> String {
        let Some(pid) = self.pid() else {
            return format!("not running, last exit {:?}", self.exited);
        };
        let state = Proc::read(pid as i32).map_or('?', |p| p.state);
        format!("pid {pid}, state {state}")
    }

    /// SIGTERM by PID, then SIGKILL if it has not exited after a grace period.
    /// Returns the exit status; `None` if it was already stopped.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.resume();
        let Some(child) = self.child.as_mut() else {
            return self.exited.take();
        };
        let status = process::terminate(child, STOP_TIMEOUT).expect("stop rsyslogd");
        self.child = None;
        Some(status)
    }

    /// SIGKILL by PID, as a crash or an OOM kill would: no clean close on
    /// any connection. [`Rsyslog::restart`] brings it back on the port.
    pub fn kill(&mut self) {
        self.kill_now();
    }

    /// Stops rsyslogd and starts it again on the same port (retrying while
    /// the port is still held). Messages and diagnostics accumulate.
    pub fn restart(&mut self) {
        self.stop();
        let started = poll(START_TIMEOUT, || match self.spawn_and_wait() {
            Startup::Listening => Some(Ok(())),
            Startup::PortTaken => {
                self.kill_now();
                None
            }
            other => Some(Err(other)),
        });
        match started {
            Some(Ok(())) => {}
            Some(Err(other)) => self.fail_start(other),
            None => self.fail_start(Startup::PortTaken),
        }
    }

    /// SIGSTOP: the receiver stalls; the kernel still accepts connections
    /// and buffers bytes until the socket buffers fill.
    ///
    /// Returns once every thread is stopped. `kill` only queues SIGSTOP; the
    /// group stop spreads when one thread of rsyslogd handles it, and on a
    /// busy machine the imtcp thread can take a connection in between.
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGSTOP);
            self.paused = true;
            let pid = pid_of(child);
            assert!(
                wait_until(START_TIMEOUT, || all_threads_stopped(pid)),
                "rsyslogd {pid}: threads still running {START_TIMEOUT:?} after SIGSTOP"
            );
        }
    }

    /// SIGCONT after [`Rsyslog::pause`].
    pub fn resume(&mut self) {
        if let (Some(child), true) = (&self.child, self.paused) {
            signal(child, libc::SIGCONT);
        }
        self.paused = false;
    }

    fn is_running(&mut self) -> bool {
        self.reap();
        self.child.is_some()
    }

    /// Collects a process that exited on its own, so no signal is ever sent
    /// to a PID that is no longer ours.
    fn reap(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("waitpid rsyslogd")?;
        self.child = None;
        self.exited = Some(status);
        Some(status)
    }

    fn is_listening(&self) -> bool {
        self.pid().is_some_and(|pid| listens_on(pid, self.port))
    }

    fn spawn_and_wait(&mut self) -> Startup {
        self.spawn();
        poll(START_TIMEOUT, || {
            if self.is_listening() {
                Some(Startup::Listening)
            } else if let Some(status) = self.reap() {
                Some(Startup::Exited(status))
            } else if self.bind_failed() {
                Some(Startup::PortTaken)
            } else {
                None
            }
        })
        .unwrap_or(Startup::TimedOut)
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let conf = dir.join("rsyslog.conf");
        fs::write(&conf, self.config()).expect("write rsyslog.conf");
        let pidfile = dir.join("rsyslogd.pid");
        // A SIGKILLed run leaves its pid file behind; rsyslogd would refuse to start.
        match fs::remove_file(&pidfile) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("remove pid file: {e}"),
            _ => {}
        }
        self.diag_mark = (
            file_len(&dir.join("stderr.log")),
            file_len(&dir.join("internal.log")),
        );
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .expect("open stderr.log");
        let stdout = stderr.try_clone().expect("dup stderr.log");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(&pidfile)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {RSYSLOGD}: {e}"));
        self.child = Some(child);
    }

    /// rsyslog keeps running when a listener cannot bind; it only says so.
    fn bind_failed(&self) -> bool {
        let dir = self.dir.path();
        let since = |name: &str, mark: u64| {
            let text = fs::read(dir.join(name)).unwrap_or_default();
            let start = (mark as usize).min(text.len());
            String::from_utf8_lossy(&text[start..]).into_owned()
        };
        let new = since("stderr.log", self.diag_mark.0) + &since("internal.log", self.diag_mark.1);
        new.contains("Could not create tcp listener")
            || new.contains("could not activate relp listener")
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGCONT);
            signal(&child, libc::SIGKILL);
            child.wait().expect("waitpid rsyslogd");
        }
        self.paused = false;
    }

    fn fail_start(&mut self, how: Startup) -> ! {
        let why = match how {
            Startup::Exited(status) => format!("exited with {status}"),
            Startup::TimedOut => format!("was not listening after {START_TIMEOUT:?}"),
            Startup::PortTaken => format!("could not bind port {}", self.port),
            Startup::Listening => unreachable!("a listening start is no failure"),
        };
        self.kill_now();
        panic!(
            "rsyslogd {why}\n--- rsyslog.conf ---\n{}\n{}",
            self.config(),
            self.diagnostics()
        );
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Signals our own unreaped child, so the PID cannot have been reused and
/// ESRCH cannot happen. Never panics while unwinding (drop during a failed test).
fn signal(child: &Child, sig: i32) {
    let pid = pid_of(child);
    if let Err(e) = process::signal(pid, sig) {
        assert!(thread::panicking(), "kill({pid}, {sig}): {e}");
    }
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn parse_record(line: &str) -> Received {
    serde_json::from_str::<Record>(line)
        .unwrap_or_else(|e| panic!("unparsable rsyslog record ({e}): {line}"))
        .into_received()
}

/// Whether process `pid` holds a socket listening on 127.0.0.1:`port`:
/// the LISTEN entry's inode in `/proc/net/tcp` must be one of its fds.
fn listens_on(pid: u32, port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == wanted && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .any(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
}

/// The whole rsyslog.conf: globals, the output template, a ruleset for
/// received messages bound to the input, and the default ruleset for
/// rsyslog's internal messages.
fn render_config(dir: &Path, opts: &Options, pki: Option<&TestPki>, port: u16) -> String {
    let d = dir.display();
    let mut conf = String::new();
    // maxMessageSize must precede the inputs: it is read when they are created.
    // processInternalMessages keeps rsyslog's own errors in this instance
    // instead of sending them to the system's /dev/log.
    writeln!(
        conf,
        "global(workDirectory=\"{d}/work\" maxMessageSize=\"{max}\" processInternalMessages=\"on\"\n       \
         parser.escapeControlCharactersOnReceive=\"{esc}\")",
        max = opts.max_message_size,
        esc = if opts.escape_control_chars { "on" } else { "off" },
    )
    .expect("write to String");
    conf.push_str(TEMPLATE);
    let queue = if opts.direct_queue {
        " queue.type=\"Direct\""
    } else {
        ""
    };
    writeln!(
        conf,
        "ruleset(name=\"received\"{queue}) {{\n  action(type=\"omfile\" file=\"{d}/received.jsonl\" template=\"reaplog_json\")\n}}"
    )
    .expect("write to String");
    conf.push_str(&render_input(opts, pki, port));
    writeln!(
        conf,
        "*.* action(type=\"omfile\" file=\"{d}/internal.log\")"
    )
    .expect("write to String");
    conf
}

/// One JSON object per message; `jsonf` escapes quotes, backslashes and
/// control characters, and rsyslog ends each record with a newline.
const TEMPLATE: &str = r#"template(name="reaplog_json" type="list" option.jsonf="on") {
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
"#;

fn render_input(opts: &Options, pki: Option<&TestPki>, port: u16) -> String {
    let common = format!("port=\"{port}\" address=\"127.0.0.1\" ruleset=\"received\"");
    let pki = || pki.expect("TLS input needs a PKI");
    match &opts.input {
        Input::PlainTcp => format!("module(load=\"imtcp\")\ninput(type=\"imtcp\" {common})\n"),
        Input::TlsX509Name { permitted_peer } => {
            let auth = TlsAuth::Name {
                permitted_peer: permitted_peer.clone(),
            };
            imtcp_tls(&common, TlsDriver::Gtls, &auth, pki())
        }
        Input::Tls { driver, auth } => imtcp_tls(&common, *driver, auth, pki()),
        Input::Relp { tls } => {
            let lib = match opts.relp_tls_lib {
                TlsDriver::Gtls => "gnutls",
                TlsDriver::Ossl => "openssl",
            };
            let mut input = format!(
                "module(load=\"imrelp\" tls.tlslib=\"{lib}\")\n\
                 input(type=\"imrelp\" {common} maxDataSize=\"{}\"",
                opts.max_message_size
            );
            if *tls {
                let p = pki();
                write!(
                    input,
                    "\n  tls=\"on\" tls.caCert=\"{}\" tls.myCert=\"{}\" tls.myPrivKey=\"{}\"\n  \
                     tls.authMode=\"name\" tls.permittedPeer=[\"{CLIENT_NAME}\"]",
                    p.ca.display(),
                    p.server_cert.display(),
                    p.server_key.display()
                )
                .expect("write to String");
            }
            input + ")\n"
        }
    }
}

fn imtcp_tls(common: &str, driver: TlsDriver, auth: &TlsAuth, pki: &TestPki) -> String {
    let (mode, peer) = match auth {
        TlsAuth::Anon => ("anon", String::new()),
        TlsAuth::CertValid => ("x509/certvalid", String::new()),
        TlsAuth::Name { permitted_peer } => (
            "x509/name",
            format!(" permittedPeer=[\"{permitted_peer}\"]"),
        ),
    };
    format!(
        "module(load=\"imtcp\")\ninput(type=\"imtcp\" {common}\n  streamDriver.name=\"{}\" streamDriver.mode=\"1\" \
         streamDriver.authMode=\"{mode}\"{peer}\n  streamDriver.CAFile=\"{}\" streamDriver.CertFile=\"{}\" \
         streamDriver.KeyFile=\"{}\")\n",
        driver.name(),
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display()
    )
}
