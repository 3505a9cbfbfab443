//! The only owner of `wait`: reaps every exited child, the main one and the
//! orphans the kernel re-parents to us, until none is left to reap.
//!
//! Nothing else in init waits (std's `Command` waits for its child only when
//! `exec` failed, before this loop exists). When orphan names are wanted, the
//! reaper peeks at the next zombie with `waitid(WNOWAIT)`, reads its name,
//! then reaps that pid; otherwise it is a plain `waitpid(-1, WNOHANG)` loop.

use std::io;

use super::exit_code::ChildStatus;
use super::log;
use super::orphans::{Comm, Tally};
use super::sys;

/// What a drain saw when it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drained {
    /// Children remain, none of them has exited yet.
    ChildrenLeft,
    /// We have no children at all (ECHILD): every descendant is gone.
    NoChildren,
}

/// Reaps children and remembers how the main child ended.
pub(super) struct Reaper {
    /// Pid of the main child (CMD).
    main: libc::pid_t,
    /// Its end, once reaped.
    main_status: Option<ChildStatus>,
    /// `-w`: warn about each reaped orphan.
    warn: bool,
}

impl Reaper {
    /// A reaper for the main child `main`.
    pub(super) fn new(main: libc::pid_t, warn: bool) -> Self {
        Reaper {
            main,
            main_status: None,
            warn,
        }
    }

    /// How the main child ended, once it has been reaped.
    pub(super) fn main_status(&self) -> Option<ChildStatus> {
        self.main_status
    }

    /// Reaps until nothing more can be reaped right now.
    pub(super) fn drain(&mut self, tally: &mut Tally) -> Drained {
        let names = self.warn || tally.wants_names();
        loop {
            match reap_one(names) {
                Ok(Some(reaped)) => self.record(reaped, tally),
                Ok(None) => return Drained::ChildrenLeft,
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECHILD) => return Drained::NoChildren,
                    // EINTR: nothing was reaped; try again.
                    Some(libc::EINTR) => continue,
                    _ => {
                        log::error!("wait failed: {e}");
                        return Drained::ChildrenLeft;
                    }
                },
            }
        }
    }

    fn record(&mut self, reaped: Reaped, tally: &mut Tally) {
        if reaped.pid == self.main {
            self.main_status = ChildStatus::from_wait_status(reaped.status);
            log::info!("main child {} ended: {:?}", reaped.pid, self.main_status);
            return;
        }
        if self.warn {
            let name = reaped.name.unwrap_or_default();
            log::warning!("reaped zombie process {} ({name})", reaped.pid);
        }
        tally.record(reaped.name);
    }
}

/// One reaped child.
struct Reaped {
    pid: libc::pid_t,
    status: libc::c_int,
    name: Option<Comm>,
}

/// Reaps one exited child if there is one (`Ok(None)`: none has exited).
fn reap_one(want_name: bool) -> io::Result<Option<Reaped>> {
    let (pid, name) = if want_name {
        match sys::peek_exited()? {
            0 => return Ok(None),
            pid => (pid, Comm::of(pid)),
        }
    } else {
        (-1, None)
    };
    Ok(sys::waitpid_nohang(pid)?.map(|(pid, status)| Reaped { pid, status, name }))
}
