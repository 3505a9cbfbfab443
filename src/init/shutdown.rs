//! `--kill-group-on-exit`: after the main child ended, SIGTERM (and SIGCONT,
//! so a stopped process can act on it) every process left, wait up to the
//! grace period for them to exit while reaping, then SIGKILL the rest and
//! reap them.
//!
//! "Every process left" is every other process of the namespace when init
//! is PID 1 (`kill(-1)`), and init's descendants otherwise (found in /proc):
//! as a subreaper, `kill(-1)` would reach the whole host.

use std::io;
use std::time::{Duration, Instant};

use libc::c_int;

use super::log;
use super::orphans::Tally;
use super::reap::{Drained, Reaper};
use super::signals::{self, Blocked};
use super::sys;

/// How long SIGKILLed processes get to disappear before init gives up
/// waiting (one stuck in uninterruptible sleep must not keep PID 1 alive).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Terminates what is left and reaps it; `pid1` selects how to find it.
pub(super) fn kill_remaining(
    blocked: &Blocked,
    reaper: &mut Reaper,
    tally: &mut Tally,
    grace: Duration,
    pid1: bool,
) {
    if reaper.drain(tally) == Drained::NoChildren {
        return;
    }
    log::info!("main child gone: SIGTERM to the remaining processes");
    signal_rest(libc::SIGTERM, pid1);
    signal_rest(libc::SIGCONT, pid1);
    if wait_until_gone(blocked, reaper, tally, grace) {
        return;
    }
    log::warning!(
        "processes left after {}ms grace: SIGKILL",
        grace.as_millis()
    );
    signal_rest(libc::SIGKILL, pid1);
    if !wait_until_gone(blocked, reaper, tally, KILL_WAIT) {
        log::error!("processes still present after SIGKILL; exiting anyway");
    }
}

/// Reaps until no child is left (true) or `limit` has passed (false).
/// Signals other than SIGCHLD are not forwarded any more: the main child is
/// gone and the rest is being shut down.
fn wait_until_gone(
    blocked: &Blocked,
    reaper: &mut Reaper,
    tally: &mut Tally,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if reaper.drain(tally) == Drained::NoChildren {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match blocked.wait(Some(left)) {
            Ok(Some(sig)) if sig.signo != libc::SIGCHLD => {
                log::info!("SIG{} ignored during shutdown", signals::name(sig.signo))
            }
            Ok(_) => {}
            Err(e) => log::error!("waiting for signals failed: {e}"),
        }
    }
}

fn signal_rest(sig: c_int, pid1: bool) {
    if pid1 {
        // kill(-1) reaches every process init may signal except itself.
        send(-1, sig);
        return;
    }
    match descendants() {
        Ok(pids) => pids.into_iter().for_each(|pid| send(pid, sig)),
        Err(e) => log::error!("cannot list processes in /proc: {e}"),
    }
}

fn send(pid: libc::pid_t, sig: c_int) {
    let Err(err) = sys::kill(pid, sig) else {
        return;
    };
    // ESRCH: already gone (or nothing left for kill(-1)): that is the goal.
    if err.raw_os_error() != Some(libc::ESRCH) {
        log::warning!("SIG{} to {pid}: {err}", signals::name(sig));
    }
}

/// Every live descendant of init, from /proc (pid, ppid of each process).
fn descendants() -> io::Result<Vec<libc::pid_t>> {
    let mut links = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            links.push((pid, ppid));
        }
    }
    let mut found = vec![sys::getpid()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(links.iter().filter(|l| l.1 == parent).map(|l| l.0));
        i += 1;
    }
    found.remove(0);
    Ok(found)
}

/// The ppid field of /proc/PID/stat (after the `)` that ends the name).
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}
