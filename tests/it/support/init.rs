//! `reaplog init` from the tests: start the real binary (as PID 1 of a new
//! PID namespace via `unshare`, or as a plain process that must become a
//! subreaper), read its output line by line, and end every process a test
//! started, by pid (the `/proc` helpers are in [`super::process`]).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::process::{children_of, kill_tree, pid_of, poll, poll_every, reaplog_bin, signal};

pub mod scripts;
/// The system python (the one with the `gpg` module).
pub const PYTHON: &str = "/usr/bin/python3";
/// Default patience for anything a test waits for (only a failing test
/// waits this long; generous because the CPUs may be shared).
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Longest pause between two scans of `/proc`: a scan reads every process,
/// tens of milliseconds with the storm tests' thousands of them.
pub const PROC_POLL: Duration = Duration::from_millis(50);

/// [`poll_every`] at the pace of a `/proc` scan ([`PROC_POLL`]).
pub fn poll_proc<T>(limit: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_every(limit, PROC_POLL, f)
}

/// The `&str`s of an argv.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// How init is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`).
    Pid1,
    /// A normal process (not PID 1): it must register as a subreaper.
    Subreaper,
}

pub const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// `unshare` options that make a process PID 1 of a fresh namespace whose
/// processes all die with the `unshare` process (`--kill-child`).
pub const UNSHARE: [&str; 4] = ["--pid", "--fork", "--mount-proc", "--kill-child"];

/// Builds the command line: `[unshare ...] reaplog init OPTS -- CMD...`.
pub fn init_command(mode: Mode, opts: &[&str], cmd: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if mode == Mode::Pid1 {
        argv.push("unshare".into());
        argv.extend(UNSHARE.iter().map(|s| s.to_string()));
    }
    argv.push(reaplog_bin().into());
    argv.push("init".into());
    argv.extend(opts.iter().map(|s| s.to_string()));
    argv.push("--".into());
    argv.extend(cmd.iter().map(|s| s.to_string()));
    argv
}

/// A started process tree with its stdout and stderr as line channels.
pub struct Running {
    /// The process we spawned (`unshare`, reaplog, or a wrapper).
    pub top: Child,
    /// Whether `top` is `unshare` (PID 1 mode).
    pub mode: Mode,
    out: Receiver<String>,
    err: Receiver<String>,
    /// Every stdout/stderr line seen so far (for failure messages).
    pub seen_out: Vec<String>,
    pub seen_err: Vec<String>,
}

impl Running {
    /// Starts init with `opts` running `cmd`.
    pub fn init(mode: Mode, opts: &[&str], cmd: &[&str]) -> Running {
        Running::start(mode, &init_command(mode, opts, cmd))
    }

    /// Starts any command line; `mode` says whether it is `unshare`.
    pub fn start(mode: Mode, argv: &[String]) -> Running {
        let mut top = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let out = lines(top.stdout.take().expect("stdout"));
        let err = lines(top.stderr.take().expect("stderr"));
        Running {
            top,
            mode,
            out,
            err,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    /// The host pid of init (in PID-1 mode: the child of `unshare`).
    pub fn init_pid(&self) -> i32 {
        let top = self.top.id() as i32;
        match self.mode {
            Mode::Subreaper => top,
            Mode::Pid1 => poll_proc(DEADLINE, || children_of(top).first().copied())
                .unwrap_or_else(|| panic!("unshare {top} has no child")),
        }
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn expect_out(&mut self, needle: &str) -> String {
        self.expect_out_within(needle, DEADLINE)
    }

    /// Like `expect_out` with a longer deadline, for heavy workloads on a
    /// loaded machine.
    pub fn expect_out_within(&mut self, needle: &str, limit: Duration) -> String {
        expect(&self.out, &mut self.seen_out, needle, limit, "stdout")
    }

    /// Waits until every needle has been seen in some stdout line, in any
    /// order (signals to different processes race).
    pub fn expect_out_all(&mut self, needles: &[&str]) {
        for needle in needles {
            if !self.seen_out.iter().any(|l| l.contains(needle)) {
                self.expect_out(needle);
            }
        }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn expect_err(&mut self, needle: &str) -> String {
        expect(&self.err, &mut self.seen_err, needle, DEADLINE, "stderr")
    }

    /// All stderr lines until the process closed stderr (or the deadline).
    pub fn drain_err(&mut self) -> Vec<String> {
        let end = Instant::now() + DEADLINE;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.err.recv_timeout(left) {
                Ok(line) => self.seen_err.push(line),
                Err(_) => break,
            }
        }
        self.seen_err.clone()
    }

    /// Sends `sig` to init.
    pub fn signal_init(&self, sig: i32) {
        // Gone already: the test's next expectation says what is missing.
        let _ = signal(self.init_pid(), sig);
    }

    /// Waits (polling) for the top process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let top = &mut self.top;
        poll(limit, || top.try_wait().ok().flatten())
            .unwrap_or_else(|| panic!("still running after {limit:?}; stderr: {:?}", self.seen_err))
    }

    /// The exit code of the top process (panics on death by signal).
    pub fn exit_code(&mut self, limit: Duration) -> i32 {
        let status = self.wait_exit(limit);
        status
            .code()
            .unwrap_or_else(|| panic!("killed: {status:?}; stderr: {:?}", self.seen_err))
    }
}

impl Drop for Running {
    /// Ends every process of the tree, deepest first, by pid, then reaps
    /// the top one. In PID-1 mode killing `unshare` would be enough
    /// (`--kill-child`), the tree walk covers subreaper mode too.
    fn drop(&mut self) {
        kill_tree(pid_of(&self.top));
        let _ = self.top.wait();
    }
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn expect(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    limit: Duration,
    what: &str,
) -> String {
    let end = Instant::now() + limit;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        seen.push(line.clone());
        if line.contains(needle) {
            return line;
        }
    }
    panic!("no {what} line with {needle:?} within {limit:?}; saw {seen:?}")
}
