//! Running the relay binary: a temp-dir [`Fixture`] (log tree, PKI, config
//! and stderr paths), config writers, a started [`Relay`] that is stopped by
//! PID, writers of numbered log lines, and the tally of what a receiver got
//! by line id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::certs::TestPki;
use super::process::{self, pid_of, reaplog_bin};

/// A temp tree for one relay test: the log tree `root` (created), and the
/// places of the state dir, the relay's config and stderr (not created: the
/// relay makes its state dir itself), with a throw-away PKI.
pub struct Fixture {
    tmp: tempfile::TempDir,
    /// The watched log tree (`logs/`).
    pub root: PathBuf,
    /// The relay's `state_dir` (`state/`), not created.
    pub state: PathBuf,
    /// `relay.toml`.
    pub config: PathBuf,
    /// Where the relay's stderr goes.
    pub stderr: PathBuf,
    /// Certificates in `pki/`.
    pub pki: TestPki,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("logs");
        let pki_dir = tmp.path().join("pki");
        fs::create_dir_all(&root).expect("create the log tree");
        fs::create_dir_all(&pki_dir).expect("create the pki dir");
        Fixture {
            pki: TestPki::new(&pki_dir),
            state: tmp.path().join("state"),
            config: tmp.path().join("relay.toml"),
            stderr: tmp.path().join("relay.stderr"),
            root,
            tmp,
        }
    }

    /// The temp directory everything lives in.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` inside the temp directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `text` as the relay's config.
    pub fn write_config(&self, text: &str) {
        fs::write(&self.config, text).expect("write relay.toml");
    }

    /// A numbered file at `root/rel`.
    pub fn file(&self, rel: &str, tag: &str, line_len: usize) -> NumberedFile {
        NumberedFile::new(self.root.join(rel), tag, line_len)
    }

    /// Starts the relay on the config, stderr to [`Fixture::stderr`].
    pub fn start_relay(&self) -> Relay {
        Relay::start(&self.config, &self.stderr)
    }
}

/// A relay.toml: `state_dir`, then `top` (top-level keys, and tables that
/// must come before the sources), the `sources`, and the `[output]` table
/// with `output` as its body.
pub fn relay_config(state: &Path, top: &str, sources: &str, output: &str) -> String {
    format!(
        "state_dir = \"{}\"\n{top}\n{sources}\n[output]\n{output}\n",
        state.display()
    )
}

/// The `[[source]]` table of the GitLab preset over per-pod directories
/// under `root`, noticing changes with inotify and polling every 100 ms.
pub fn gitlab_source(root: &Path) -> String {
    format!(
        "[[source]]\npreset = \"gitlab\"\nroot = \"{}\"\nper_pod_dirs = true\nwatch = \"auto\"\npoll_interval = \"100ms\"\n",
        root.display()
    )
}

/// The keys of an `[output]` table for RFC 5425 with mutual TLS to
/// 127.0.0.1:`port`, trusting `ca` and presenting the test PKI's client
/// certificate; `server_name` when given. One key a line, ending in a newline.
pub fn tls_output(port: u16, ca: &Path, pki: &TestPki, server_name: Option<&str>) -> String {
    let mut out = format!(
        "type = \"tls\"\naddress = \"127.0.0.1:{port}\"\n{}",
        client_files(ca, pki)
    );
    if let Some(name) = server_name {
        out.push_str(&format!("server_name = \"{name}\"\n"));
    }
    out
}

/// The keys of an `[output]` table for RELP to 127.0.0.1:`port`; inside
/// mutual TLS with `pki`'s CA and client certificate when `tls` is given,
/// verifying the server as `server_name` when that is given.
pub fn relp_output(port: u16, tls: Option<&TestPki>, server_name: Option<&str>) -> String {
    let mut out = format!("type = \"relp\"\naddress = \"127.0.0.1:{port}\"\n");
    if let Some(pki) = tls {
        out.push_str("tls = true\n");
        out.push_str(&client_files(&pki.ca, pki));
    }
    if let Some(name) = server_name {
        out.push_str(&format!("server_name = \"{name}\"\n"));
    }
    out
}

/// `ca_file`, `cert_file` and `key_file`: trust `ca`, present the client certificate.
fn client_files(ca: &Path, pki: &TestPki) -> String {
    format!(
        "ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    )
}

/// A running `reaplog relay`; SIGKILLed by PID on drop if still running.
pub struct Relay {
    child: Option<Child>,
    pub stderr: PathBuf,
}

impl Relay {
    /// Starts `reaplog relay --config CONFIG` with stderr in `stderr`.
    pub fn start(config: &Path, stderr: &Path) -> Relay {
        Relay::spawn(config, stderr, |_| {})
    }

    /// Starts the relay like [`Relay::start`], but as `uid`/`gid` (tests that
    /// need permissions to bite: root reads a mode-000 file).
    pub fn start_as(config: &Path, stderr: &Path, uid: u32, gid: u32) -> Relay {
        Relay::spawn(config, stderr, |cmd| {
            cmd.gid(gid).uid(uid);
        })
    }

    /// Runs `configure` on the command before spawning it.
    fn spawn(config: &Path, stderr: &Path, configure: impl FnOnce(&mut Command)) -> Relay {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr)
            .expect("open relay stderr file");
        let mut cmd = Command::new(reaplog_bin());
        cmd.args(["relay", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        configure(&mut cmd);
        let child = cmd.spawn().expect("spawn reaplog relay");
        Relay {
            child: Some(child),
            stderr: stderr.to_owned(),
        }
    }

    /// The relay's PID (0 once stopped).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, pid_of)
    }

    /// What the relay logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `sig` to the running relay (SIGHUP: reload).
    pub fn signal(&self, sig: i32) {
        let child = self.child.as_ref().expect("the relay is running");
        process::signal(pid_of(child), sig).expect("signal our unreaped relay");
    }

    /// SIGTERM, then wait up to `timeout` for the drain; SIGKILL after.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        process::terminate(&mut self.child.take()?, timeout).ok()
    }

    /// SIGKILL (a crash) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The relay's resident set size in KiB (`VmRSS` in /proc), if running.
    pub fn vm_rss_kib(&self) -> Option<u64> {
        process::vm_rss_kib(pid_of(self.child.as_ref()?))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Appends `text` to `path` in one write (creating it and its directory).
pub fn append(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create log dir");
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log file");
    f.write_all(text.as_bytes()).expect("append to log file");
}

/// Short JSON lines `{"severity":"INFO","message":"id=<prefix><i>"}`, one
/// per `i` in `range`, each with its newline.
pub fn json_lines(prefix: &str, range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("{{\"severity\":\"INFO\",\"message\":\"id={prefix}{i}\"}}\n"))
        .collect()
}

/// What the receiver must see for one written line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub hostname: String,
    pub app_name: String,
    pub msgid: String,
    pub facility: u8,
    pub severity: u8,
    /// The line's MSG must start with this (the payload as written, or
    /// its first part for a truncated line).
    pub msg_prefix: String,
    /// The MSG must end with the truncation marker.
    pub truncated: bool,
}

/// Every line written, by its unique id (`id=…` inside the line).
#[derive(Default)]
pub struct Ledger {
    pub lines: BTreeMap<String, Expected>,
}

impl Ledger {
    pub fn expect(&mut self, id: String, e: Expected) {
        assert!(
            self.lines.insert(id.clone(), e).is_none(),
            "duplicate id {id}"
        );
    }
}

/// The `id=<token>` of a message or of a raw received record: what follows
/// `id=` up to a space, a quote, a comma or a backslash (the JSON escape in
/// a raw record). `None` when there is none, or it is empty.
pub fn id_of(msg: &str) -> Option<String> {
    raw_id(msg.as_bytes()).map(|id| String::from_utf8_lossy(id).into_owned())
}

fn raw_id(text: &[u8]) -> Option<&[u8]> {
    let at = memchr::memmem::find(text, b"id=")? + 3;
    let rest = &text[at..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b' ' | b'"' | b',' | b'\\'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// A small seeded PRNG (xorshift64*): fault schedules that a printed seed
/// reproduces. Not for anything but tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// From `REAPLOG_FAULT_SEED` when set, else from the clock; prints the
    /// seed so a failing run can be replayed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("REAPLOG_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: seed {seed} (replay with REAPLOG_FAULT_SEED={seed})");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// `lo..=hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// A number from the environment (the soak sets the long versions), or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How a numbered file is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// logrotate `create`: rename to `NAME.<n>`, a new file at the path.
    Rename,
    /// svlogd: `current` renamed to `@<n>.s`, a new `current`.
    Svlogd,
    /// logrotate `copytruncate`: copy to `NAME.<n>`, truncate in place.
    CopyTruncate,
}

/// A log file whose every line carries a unique id `id=<tag>-<seq>`, padded
/// to a chosen length. Rotated copies are never deleted, so a relay that
/// reads them to their end can lose nothing.
#[derive(Debug)]
pub struct NumberedFile {
    pub path: PathBuf,
    /// Id prefix, unique per file in a test (`[a-z0-9]+`).
    pub tag: String,
    /// Lines written so far (ids `tag-0 .. tag-(next-1)`).
    pub next: u64,
    /// Line length without the newline (at least the JSON around the id).
    pub line_len: usize,
    /// Rotations done (names the rotated copies).
    pub rotations: u64,
    /// `seq` of the first line of every generation (after each rotation).
    pub generations: Vec<u64>,
    /// svlogd files carry a timestamp prefix before the JSON.
    svlogd: bool,
}

impl NumberedFile {
    pub fn new(path: PathBuf, tag: &str, line_len: usize) -> NumberedFile {
        let svlogd = path.file_name().is_some_and(|n| n == "current");
        NumberedFile {
            path,
            tag: tag.to_owned(),
            next: 0,
            line_len,
            rotations: 0,
            generations: vec![0],
            svlogd,
        }
    }

    /// The text of line `seq`, with its newline.
    pub fn line(&self, seq: u64) -> String {
        let prefix = if self.svlogd {
            "2026-11-25_09:14:07.11731 "
        } else {
            ""
        };
        let head = format!(
            r#"{prefix}{{"severity":"INFO","time":"2026-11-25T09:14:03.512Z","message":"id={}-{seq} "#,
            self.tag
        );
        let tail = "\"}\n";
        let pad = self.line_len.saturating_sub(head.len() + tail.len() - 1);
        let mut s = String::with_capacity(head.len() + pad + tail.len());
        s.push_str(&head);
        s.extend(std::iter::repeat_n('x', pad));
        s.push_str(tail);
        s
    }

    /// Appends the next `n` lines in one write.
    pub fn write(&mut self, n: u64) {
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(&self.line(self.next));
            self.next += 1;
        }
        append(&self.path, &text);
    }

    /// Every id written so far.
    pub fn ids(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.next).map(|i| format!("{}-{i}", self.tag))
    }

    /// Rotates the file the given way; the copy keeps a unique name.
    pub fn rotate(&mut self, how: Rotation) {
        self.rotations += 1;
        let n = self.rotations;
        let dir = self.path.parent().expect("log file has a directory");
        match how {
            Rotation::Rename => {
                let name = self.path.file_name().expect("file name").to_string_lossy();
                fs::rename(&self.path, dir.join(format!("{name}.{n}"))).expect("rename");
            }
            Rotation::Svlogd => {
                fs::rename(&self.path, dir.join(format!("@4000000067{n:014x}.s")))
                    .expect("svlogd rename");
            }
            Rotation::CopyTruncate => {
                let name = self.path.file_name().expect("file name").to_string_lossy();
                fs::copy(&self.path, dir.join(format!("{name}.{n}"))).expect("copy");
                OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&self.path)
                    .expect("truncate");
            }
        }
        self.generations.push(self.next);
    }
}

/// What a receiver got, by id: from messages one by one ([`ReceivedIds::add`]),
/// or read incrementally from rsyslog's JSON-lines output (raw: the id is
/// found in the record without a JSON parse, so a soak's hundreds of
/// thousands of records stay cheap).
#[derive(Debug, Default)]
pub struct ReceivedIds {
    /// Copies received per id.
    pub counts: HashMap<String, u32>,
    /// Records read (duplicates included).
    pub records: u64,
    /// Records without an `id=`.
    pub without_id: u64,
    /// Bytes of the output file consumed (complete records only).
    offset: u64,
}

impl ReceivedIds {
    /// Counts one received message or record; false when it has no id.
    pub fn add(&mut self, record: &[u8]) -> bool {
        self.records += 1;
        match raw_id(record) {
            Some(id) => {
                *self
                    .counts
                    .entry(String::from_utf8_lossy(id).into_owned())
                    .or_default() += 1;
                true
            }
            None => {
                self.without_id += 1;
                false
            }
        }
    }

    /// Reads the records appended to `path` since the last call.
    pub fn refresh(&mut self, path: &Path) -> &mut ReceivedIds {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = fs::File::open(path) else {
            return self;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return self;
        }
        let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in buf[..complete].split(|&b| b == b'\n') {
            if !line.is_empty() {
                self.add(line);
            }
        }
        self.offset += complete as u64;
        self
    }

    /// Whether every id in `ids` has arrived at least once.
    pub fn has_all<'a>(&self, mut ids: impl Iterator<Item = &'a str>) -> bool {
        ids.all(|id| self.counts.contains_key(id))
    }
}

/// Sent versus received, for one test's report.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u64,
    /// Records received in all (duplicates included).
    pub records: u64,
    /// Ids sent but never received.
    pub lost: Vec<String>,
    /// Extra copies beyond the first, summed over all ids.
    pub duplicates: u64,
    /// Most copies of one id.
    pub max_copies: u32,
    /// Ids received that were never sent (must stay empty).
    pub unexpected: Vec<String>,
}

impl Tally {
    /// Compares the ids sent with what arrived. `lost` keeps the order of
    /// `sent`.
    pub fn of(sent: impl IntoIterator<Item = String>, got: &ReceivedIds) -> Tally {
        let mut t = Tally {
            records: got.records,
            ..Tally::default()
        };
        let mut sent_set = HashSet::new();
        for id in sent {
            t.sent += 1;
            if !got.counts.contains_key(&id) {
                t.lost.push(id.clone());
            }
            sent_set.insert(id);
        }
        for (id, n) in &got.counts {
            if sent_set.contains(id) {
                t.duplicates += u64::from(n - 1);
                t.max_copies = t.max_copies.max(*n);
            } else {
                t.unexpected.push(id.clone());
            }
        }
        t.unexpected.sort();
        t
    }

    /// One line for `--nocapture` and benches/RESULTS.md.
    pub fn summary(&self, test: &str) -> String {
        format!(
            "{test}: sent {} lost {} duplicates {} (max copies of one line {}), unexpected {}",
            self.sent,
            self.lost.len(),
            self.duplicates,
            self.max_copies,
            self.unexpected.len()
        )
    }
}

/// Counts the relay's log lines that contain every one of `needles`.
pub fn count_lines(log: &str, needles: &[&str]) -> usize {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// GET `path` from 127.0.0.1:`port`: (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((code, body))
}

/// The value of the first sample of `metric` whose line contains `label`.
pub fn sample(body: &str, metric: &str, label: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(metric) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
