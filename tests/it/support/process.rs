//! Process control for every test: the binary under test, polling with a
//! deadline, signals by PID, stopping a child we started, what `/proc`
//! says about a process, and loopback ports.
//!
//! Every process a test starts is ended by its PID (never by name), and no
//! test sleeps blindly: it polls for the condition it needs, with a deadline.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Path of the `reaplog` binary cargo built for the integration tests.
pub fn reaplog_bin() -> &'static str {
    env!("CARGO_BIN_EXE_reaplog")
}

/// Longest pause between two looks at a condition: short enough to keep
/// tests fast, long enough not to steal the two shared cores.
pub const POLL: Duration = Duration::from_millis(10);

/// Calls `f` until it returns `Some`, or `timeout` has passed (then `None`),
/// pausing at most [`POLL`] between calls.
pub fn poll<T>(timeout: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_every(timeout, POLL, f)
}

/// [`poll`], pausing at most `every` between calls: for conditions too
/// costly to check every [`POLL`] (scanning `/proc` with thousands of
/// processes, counting hundreds of thousands of received ids).
///
/// `f` runs at least once, and once more at the deadline, so a slow final
/// step is not reported as a timeout. The pauses start at 1 ms and double up
/// to `every`: a condition that holds soon is seen soon.
pub fn poll_every<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1).min(every);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(every);
    }
}

/// Polls `cond` until it holds (true) or `timeout` has passed (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(timeout, || cond().then_some(())).is_some()
}

/// [`wait_until`], pausing at most `every` between looks (see [`poll_every`]).
pub fn wait_until_every(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    poll_every(timeout, every, || cond().then_some(())).is_some()
}

/// Sends `sig` to `pid`. `Err` when there is no such process: callers that
/// signal their own unreaped child cannot get it.
pub fn signal(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The PID of a child we spawned, as the kernel's `pid_t`.
pub fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("pid fits i32")
}

/// SIGTERM to our own unreaped child, then up to `grace` for it to exit;
/// SIGKILL after that. Returns its exit status (reaped).
pub fn terminate(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    signal(pid_of(child), libc::SIGTERM)?;
    if let Some(status) = poll(grace, || child.try_wait().ok().flatten()) {
        return Ok(status);
    }
    child.kill()?;
    child.wait()
}

/// A loopback port that was free a moment ago (bound to port 0, then
/// released). Another process may take it before it is used: callers that
/// hand it to a server retry with a new one when the bind fails.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A non-blocking listener on 127.0.0.1 and a port of its own, for the
/// in-test servers (TLS sink, fault proxy, fake RELP server).
pub fn loopback_listener() -> TcpListener {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    listener
}

/// One process (or thread) as its `/proc/…/stat` shows it.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// R, S, D, T (stopped), Z (zombie), X (dead), ...
    pub state: char,
    /// The command name (`comm`), without the parentheses.
    pub comm: String,
    /// User + system CPU time so far, in clock ticks (`utime` + `stime`).
    pub cpu_ticks: u64,
}

impl Proc {
    /// Process `pid` from `/proc/PID/stat`; `None` once it is gone.
    pub fn read(pid: i32) -> Option<Proc> {
        Proc::read_stat(pid, &Path::new("/proc").join(pid.to_string()).join("stat"))
    }

    /// A `stat` file (of a process or of one of its threads). The fields
    /// follow the `)` that closes the name, which may itself hold spaces.
    fn read_stat(pid: i32, path: &Path) -> Option<Proc> {
        let stat = fs::read_to_string(path).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        // Field 3 (state) onward: state, ppid, ..., utime is field 14, stime 15.
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok());
        Some(Proc {
            pid,
            ppid: rest.get(1)?.parse().ok()?,
            state: rest.first()?.chars().next()?,
            comm: stat[open + 1..close].to_string(),
            cpu_ticks: ticks(11)? + ticks(12)?,
        })
    }
}

/// Every process in (the host's) /proc.
pub fn processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(Proc::read)
        .collect()
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
    Proc::read(pid).is_some_and(|p| p.state != 'Z')
}

/// Whether every thread of `pid` is stopped (`T`) or gone, from
/// `/proc/PID/task/*/stat`.
pub fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        Proc::read_stat(pid, &task.path().join("stat"))
            .is_none_or(|t| matches!(t.state, 'T' | 'Z' | 'X'))
    })
}

/// User + system CPU seconds `pid` has used so far.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Proc::read(pid).map(|p| p.cpu_ticks as f64 / per_second)
}

/// `VmRSS` of `pid` in KiB, from `/proc/PID/status`.
pub fn vm_rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
    for &pid in tree.iter().rev() {
        // Gone already is fine: the point is that it is gone.
        let _ = signal(pid, libc::SIGKILL);
    }
}

/// Kills these process trees (by pid) when dropped, also when a test
/// panics: for processes that left the tree of the process a test started.
pub struct KillOnDrop(pub Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(|&pid| kill_tree(pid));
    }
}
