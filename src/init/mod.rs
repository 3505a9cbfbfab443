//! `reaplog init`: PID 1 for containers, a drop-in for tini.
//!
//! The lifecycle, in the order [`main`] runs it:
//!
//! 1. [`cli`]: parse options and environment (errors exit 2).
//! 2. [`signals`]: block every signal; they are received synchronously.
//! 3. [`subreaper`]: PID 1 gets orphans anyway; otherwise become a subreaper;
//!    set the parent-death signal.
//! 4. [`spawn`]: start CMD in its own process group, with the terminal
//!    ([`tty`]) and a clean signal state (not found 127, not executable 126).
//!    Then [`residency`]: give back the startup code's resident pages.
//! 5. [`run`]: loop { wait for a signal; [`forward`] it or [`reap`] };
//!    [`orphans`] counts what was reaped by name.
//! 6. [`shutdown`] (`--kill-group-on-exit`): TERM, grace, KILL, reap.
//! 7. [`exit_code`]: CMD's code, 128+N for signal N, `-e` codes as 0.
//!
//! Rule from catatonit: once the child exists, init never exits because of
//! its own errors; it logs them and goes on reaping. Before that, errors are
//! fatal. Init closes nothing and changes no directory: the child inherits
//! everything as it is.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "PID 1 must not panic: a panic ends the container"
)]

#[forbid(unsafe_code)]
mod cli;
#[forbid(unsafe_code)]
mod exit_code;
#[forbid(unsafe_code)]
mod forward;
#[forbid(unsafe_code)]
mod log;
#[forbid(unsafe_code)]
mod orphans;
#[forbid(unsafe_code)]
mod reap;
#[forbid(unsafe_code)]
mod residency;
#[forbid(unsafe_code)]
mod shutdown;
#[forbid(unsafe_code)]
mod signals;
#[forbid(unsafe_code)]
mod spawn;
#[forbid(unsafe_code)]
mod subreaper;
#[forbid(unsafe_code)]
mod tty;
// The one module with `unsafe`: every libc call behind a safe function.
mod sys;

use std::ffi::OsString;
use std::time::Instant;

use cli::{Config, Parsed};
use exit_code::ChildStatus;
use forward::Forwarder;
use orphans::Tally;
use reap::Reaper;
use signals::Blocked;
use subreaper::Role;

/// Runs `reaplog init` with the arguments after the sub-command name and
/// returns the process exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let config = match cli::parse(args, |k| std::env::var_os(k)) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Help) => return print_stdout(cli::USAGE),
        Ok(Parsed::License) => {
            return print_stdout(concat!(
                "reaplog is licensed under ",
                env!("CARGO_PKG_LICENSE"),
                "\n"
            ))
        }
        Ok(Parsed::Version) => {
            return print_stdout(concat!("reaplog init ", env!("CARGO_PKG_VERSION"), "\n"))
        }
        Err(msg) => {
            log::error!("{msg} (see reaplog init --help)");
            return exit_code::USAGE;
        }
    };
    log::set_verbosity(config.verbosity);
    let blocked = match Blocked::all() {
        Ok(blocked) => blocked,
        Err(e) => {
            log::error!("cannot block signals: {e}");
            return exit_code::USAGE;
        }
    };
    let role = subreaper::configure(config.subreaper);
    if let Some(sig) = config.pdeathsig {
        subreaper::set_parent_death_signal(sig);
    }
    let child = match spawn::spawn(&config.command, tty::stdin_is_foreground_terminal()) {
        Ok(pid) => pid,
        Err(e) => {
            let what = cli::display_command(&config.command);
            log::error!("cannot run {what:?}: {e}");
            return spawn::exit_code_for(&e);
        }
    };
    log::info!(
        "started {:?} as pid {child} ({role:?})",
        cli::display_command(&config.command)
    );
    residency::shed_startup_pages();
    let status = run(&config, &blocked, child, role);
    exit_code::exit_code(status, &config.expected)
}

/// The supervision loop, from the spawned child to its reaped status.
fn run(config: &Config, blocked: &Blocked, child: libc::pid_t, role: Role) -> ChildStatus {
    let forwarder = Forwarder::new(child, config.process_group, config.rewrites.clone());
    let mut reaper = Reaper::new(child, config.warn_on_reap);
    let mut tally = Tally::new(config.report_orphans);
    let status = loop {
        // Drain first: the child may have exited before the loop started,
        // and SIGCHLDs coalesce, so every wake-up reaps everything.
        reaper.drain(&mut tally);
        if let Some(status) = reaper.main_status() {
            break status;
        }
        tally.report_if_due(Instant::now());
        wait_and_forward(blocked, &forwarder, &tally);
    };
    if config.kill_group_on_exit {
        let pid1 = role == Role::Pid1;
        shutdown::kill_remaining(blocked, &mut reaper, &mut tally, config.grace, pid1);
    }
    reaper.drain(&mut tally);
    tally.report(Instant::now());
    status
}

/// Sleeps until a signal arrives (or the next orphan report is due) and
/// forwards it; SIGCHLD only wakes us up so the caller reaps.
fn wait_and_forward(blocked: &Blocked, forwarder: &Forwarder, tally: &Tally) {
    match blocked.wait(tally.next_due(Instant::now())) {
        Ok(Some(sig)) if sig.signo == libc::SIGCHLD => {}
        Ok(Some(sig)) => forwarder.handle(sig),
        Ok(None) => {}
        // EINVAL/EFAULT would be a bug in our arguments: log and go on,
        // pausing so that a persistent error cannot spin PID 1 at 100% CPU.
        Err(e) => {
            log::error!("waiting for signals failed: {e}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Help and version go to stdout; a closed stdout is not an error worth a
/// different exit code.
fn print_stdout(text: &str) -> i32 {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
    0
}
