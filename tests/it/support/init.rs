//! Helpers for the `init` integration tests: start the real binary (as PID 1
//! of a new PID namespace via `unshare`, or as a plain process that must
//! become a subreaper), read its output line by line, poll /proc with
//! deadlines, and end every process a test started, by pid.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub mod scripts;

/// The binary under test.
pub const REAPLOG: &str = env!("CARGO_BIN_EXE_reaplog");
/// The system python (the one with the `gpg` module).
pub const PYTHON: &str = "/usr/bin/python3";
/// Default patience for anything a test waits for (only a failing test
/// waits this long; generous because the CPUs may be shared).
pub const DEADLINE: Duration = Duration::from_secs(20);

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
    argv.push(REAPLOG.into());
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
            Mode::Pid1 => poll(DEADLINE, || children_of(top).first().copied())
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
        send(self.init_pid(), sig);
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
        kill_tree(self.top.id() as i32);
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

/// Calls `f` until it returns `Some`, or `limit` passes (then `None`).
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Sends `sig` to `pid`, ignoring "no such process".
pub fn send(pid: i32, sig: i32) {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, sig) };
}

/// One process as /proc shows it.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub comm: String,
}

/// Every process in (the host's) /proc.
pub fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let comm = stat[open + 1..close].to_string();
    Some(Proc {
        pid,
        ppid,
        state,
        comm,
    })
}

/// Pids whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == ppid)
        .map(|p| p.pid)
        .collect()
}

/// Zombies whose parent is `ppid`.
pub fn zombies_of(ppid: i32) -> Vec<Proc> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == ppid && p.state == 'Z')
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    read_proc(pid).is_some_and(|p| p.state != 'Z')
}

/// Kills these process trees (by pid) when dropped, also when a test
/// panics: for processes that left the tree a [`Running`] knows about.
pub struct KillOnDrop(pub Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(|&pid| kill_tree(pid));
    }
}

/// SIGKILLs `root` and all its descendants (children first collected, so
/// that re-parenting during the kill does not hide any).
pub fn kill_tree(root: i32) {
    let all = processes();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    for pid in tree.iter().rev() {
        send(*pid, libc::SIGKILL);
    }
}
