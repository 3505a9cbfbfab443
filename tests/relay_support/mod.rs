//! Running the relay binary from integration tests: a config writer, a
//! started relay that is stopped by PID, and writers of numbered GitLab lines.
//!
//! Included with `mod relay_support;` next to
//! `mod support;` (the rsyslog and PKI harness).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `reaplog relay`; SIGKILLed by PID on drop if still running.
pub struct Relay {
    child: Option<Child>,
    pub stderr: PathBuf,
}

impl Relay {
    /// Starts `reaplog relay --config CONFIG` with stderr in `stderr`.
    pub fn start(bin: &str, config: &Path, stderr: &Path) -> Relay {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr)
            .expect("open relay stderr file");
        let child = Command::new(bin)
            .args(["relay", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn reaplog relay");
        Relay {
            child: Some(child),
            stderr: stderr.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// What the relay logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then wait up to `timeout` for the drain; SIGKILL after.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (a crash) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has exited (and its status).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a PID we spawned and still own (not yet reaped).
    unsafe {
        libc::kill(pid as i32, sig);
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

/// Extracts the `id=<token>` from a received message.
pub fn id_of(msg: &str) -> Option<String> {
    let start = msg.find("id=")? + 3;
    let rest = &msg[start..];
    let end = rest.find(['"', ' ', ',']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}
