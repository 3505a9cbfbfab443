//! `reaplog init` end to end: exit codes, signal forwarding, the child's
//! signal state, the parent-death signal and the terminal. Every test that
//! concerns PID 1 runs in both modes: PID 1 of a new PID namespace, and a
//! plain process (subreaper).

use crate::support::init::scripts::{self, printer_cmd, python};
use crate::support::init::{init_command, poll_proc, strs, Mode, Running, DEADLINE, MODES, PYTHON};
use crate::support::process::{children_of, reaplog_bin, zombies_of, KillOnDrop};

/// Runs init to completion; returns its exit code and stderr.
fn exit_of(mode: Mode, opts: &[&str], cmd: &[&str]) -> (i32, Vec<String>) {
    let mut run = Running::init(mode, opts, cmd);
    let code = run.exit_code(DEADLINE);
    (code, run.drain_err())
}

/// Every exit code 0..=255 of the child is init's exit code. The loop runs
/// the cheapest possible child (`sh -c 'exit N'`, no python), in both modes.
#[test]
fn every_exit_code_passes_through() {
    for mode in MODES {
        for code in 0..=255 {
            let script = format!("exit {code}");
            let (got, err) = exit_of(mode, &[], &["sh", "-c", &script]);
            assert_eq!(got, code, "{mode:?}: stderr {err:?}");
        }
    }
}

/// A child killed by signal N makes init exit 128+N (TERM, KILL, HUP, QUIT).
#[test]
fn exits_128_plus_signal_when_child_is_killed() {
    for mode in MODES {
        for (name, n) in [("TERM", 15), ("KILL", 9), ("HUP", 1), ("QUIT", 3)] {
            let script = format!("kill -{name} $$");
            let (got, _) = exit_of(mode, &[], &["sh", "-c", &script]);
            assert_eq!(got, 128 + n, "{mode:?} {name}");
        }
    }
}

/// A missing command gives 127, a non-executable file 126, each with one
/// `reaplog init: ` line on stderr.
#[test]
fn exits_127_when_command_is_missing_and_126_when_not_executable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    let plain = plain.to_str().expect("utf-8");
    for mode in MODES {
        let (code, err) = exit_of(mode, &[], &["/nonexistent/cmd"]);
        assert_eq!(code, 127, "{mode:?}");
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].starts_with("reaplog init: "), "{err:?}");
        let (code, err) = exit_of(mode, &[], &["no-such-command-anywhere"]);
        assert_eq!(code, 127, "{mode:?} {err:?}");
        let (code, err) = exit_of(mode, &[], &[plain]);
        assert_eq!(code, 126, "{mode:?}");
        assert!(err[0].starts_with("reaplog init: "), "{err:?}");
    }
}

/// `-e CODE` turns exactly the listed exit codes (after 128+N mapping)
/// into 0, like tini.
#[test]
fn expect_exit_turns_listed_codes_into_zero() {
    let opts = ["-e", "3", "-e", "143"];
    let mode = Mode::Subreaper;
    assert_eq!(exit_of(mode, &opts, &["sh", "-c", "exit 3"]).0, 0);
    assert_eq!(exit_of(mode, &opts, &["sh", "-c", "exit 4"]).0, 4);
    assert_eq!(exit_of(mode, &opts, &["sh", "-c", "kill -TERM $$"]).0, 0);
    assert_eq!(exit_of(Mode::Pid1, &opts, &["sh", "-c", "exit 3"]).0, 0);
}

/// Invoked under the name `tini`, both `tini -- cmd` and `tini cmd` work.
#[test]
fn works_under_the_name_tini_with_and_without_double_dash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tini = dir.path().join("tini");
    std::os::unix::fs::symlink(reaplog_bin(), &tini).expect("symlink");
    for args in [&["--", "sh", "-c", "exit 5"][..], &["sh", "-c", "exit 5"]] {
        let status = std::process::Command::new(&tini)
            .args(args)
            .status()
            .expect("run tini");
        assert_eq!(status.code(), Some(5), "{args:?}");
    }
}

/// The catchable signals a test sends: 1..=31 without KILL and STOP (not
/// catchable) and CHLD (init's own reaping signal). SIGTSTP/SIGTTIN/SIGTTOU
/// are included: init forwards them like any other (see docs/init.md).
fn catchable() -> Vec<i32> {
    (1..=31)
        .filter(|s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(s))
        .collect()
}

/// Every catchable signal sent to init reaches the child, including the
/// fault signals (SEGV, BUS, ...) when a process, not the kernel, sent them.
#[test]
fn forwards_every_catchable_signal_to_the_child() {
    for mode in MODES {
        let mut run = Running::init(mode, &[], &strs(&printer_cmd("main")));
        run.expect_out("main ready");
        for sig in catchable() {
            run.signal_init(sig);
            run.expect_out(&format!("main signal {sig}"));
        }
    }
}

/// SIGTERM to init reaches a child that keeps the default disposition: the
/// child dies of it and init exits 143.
#[test]
fn sigterm_to_init_ends_a_default_child_and_init_exits_143() {
    for mode in MODES {
        let mut run = Running::init(mode, &[], &["sh", "-c", "echo ready; exec sleep 60"]);
        run.expect_out("ready");
        run.signal_init(libc::SIGTERM);
        assert_eq!(run.exit_code(DEADLINE), 143, "{mode:?}");
    }
}

/// With `-g` a signal reaches the child's whole process group: here a
/// grandchild started by the child.
#[test]
fn process_group_flag_reaches_the_grandchild() {
    for mode in MODES {
        let mut run = Running::init(mode, &["-g"], &strs(&printer_cmd("spawn")));
        run.expect_out_all(&["parent ready", "child ready"]);
        run.signal_init(libc::SIGUSR1);
        run.expect_out_all(&["parent signal 10", "child signal 10"]);
    }
}

/// `-r 15:3` forwards SIGTERM as SIGQUIT; `-r HUP:0` drops SIGHUP (the USR1
/// sent after it arrives, the HUP never does).
#[test]
fn rewrite_turns_term_into_quit_and_zero_drops() {
    let opts = ["-r", "15:3", "-r", "SIGHUP:0"];
    let mut run = Running::init(Mode::Pid1, &opts, &strs(&printer_cmd("main")));
    run.expect_out("main ready");
    run.signal_init(libc::SIGTERM);
    run.expect_out("main signal 3");
    run.signal_init(libc::SIGHUP);
    run.signal_init(libc::SIGUSR1);
    let next = run.expect_out("main signal");
    assert_eq!(next, "main signal 10", "SIGHUP was not dropped");
}

/// The child's SigBlk and SigIgn are all zero even when init itself was
/// started with every signal blocked and many ignored. The same wrapper
/// without init shows the dirty state, so the check can fail.
#[test]
fn child_gets_empty_signal_mask_and_no_ignored_signals() {
    let show = ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"];
    let sig_lines = |argv: Vec<String>| {
        let mut run = Running::start(Mode::Subreaper, &argv);
        assert_eq!(run.exit_code(DEADLINE), 0, "{:?}", run.drain_err());
        let blk = run.expect_out("SigBlk:");
        let ign = run.expect_out("SigIgn:");
        (blk, ign)
    };
    let zero = "0000000000000000";
    for mode in MODES {
        let init = init_command(mode, &[], &show);
        let (blk, ign) = sig_lines(python(scripts::DIRTY_PARENT, &strs(&init)));
        assert!(blk.ends_with(zero), "{mode:?}: {blk}");
        assert!(ign.ends_with(zero), "{mode:?}: {ign}");
    }
    let (blk, ign) = sig_lines(python(scripts::DIRTY_PARENT, &show));
    assert!(
        !blk.ends_with(zero),
        "control: wrapper did not block: {blk}"
    );
    assert!(
        !ign.ends_with(zero),
        "control: wrapper did not ignore: {ign}"
    );
}

/// `-p USR1`: when init's parent dies, init gets SIGUSR1 and forwards it.
#[test]
fn pdeathsig_reaches_the_child_when_inits_parent_dies() {
    let init = init_command(
        Mode::Subreaper,
        &["-p", "SIGUSR1"],
        &strs(&printer_cmd("main")),
    );
    let mut parent = Running::start(
        Mode::Subreaper,
        &python(scripts::PDEATH_PARENT, &strs(&init)),
    );
    let init_pid: i32 = parent
        .expect_out("init ")
        .trim_start_matches("init ")
        .parse()
        .expect("pid");
    // Once its parent is gone, init is outside `parent`'s tree.
    let _cleanup = KillOnDrop(vec![init_pid]);
    parent.expect_out("main ready");
    drop(parent.top.stdin.take());
    parent.expect_out("main signal 10");
}

/// When stdin is the controlling terminal and init holds the foreground,
/// the child's group becomes the foreground group, so Ctrl-C (written to
/// the terminal) kills the child; init exits 130.
#[test]
fn child_owns_the_terminal_foreground_and_ctrl_c_reaches_it() {
    // Short sleeps: a SIGINT landing just before a long sleep's syscall
    // would only be noticed when that sleep ends (a Python race).
    let child = "import os, time\nprint('fg', os.tcgetpgrp(0) == os.getpgrp(), flush=True)\nwhile True: time.sleep(0.05)";
    let driver = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf = b""
end = time.time() + 10
def line_done():
    return b"fg " in buf and b"\n" in buf[buf.index(b"fg "):]
while time.time() < end and not line_done():
    if select.select([fd], [], [], 0.1)[0]:
        buf += os.read(fd, 1024)
print(buf.decode(errors="replace").strip(), flush=True)
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status), flush=True)
"#;
    let init = init_command(Mode::Subreaper, &[], &[PYTHON, "-c", child]);
    let mut run = Running::start(Mode::Subreaper, &python(driver, &strs(&init)));
    assert_eq!(run.expect_out("fg "), "fg True");
    assert_eq!(run.expect_out("exit "), "exit 130");
}

/// Not PID 1 and no `-s`: init registers as a subreaper by itself, so a
/// double-forked orphan is re-parented to it and reaped.
#[test]
fn becomes_subreaper_automatically_when_not_pid1() {
    for opts in [&[][..], &["-s"]] {
        let orphans = python(scripts::ORPHANS, &["1", "0.2"]);
        let mut run = Running::init(Mode::Subreaper, opts, &strs(&orphans));
        run.expect_out("spawned 1");
        let init = run.init_pid();
        // The orphan comes to init (not to the host's init) and is reaped.
        let reaped = poll_proc(DEADLINE, || (children_of(init).len() == 1).then_some(()));
        assert!(reaped.is_some(), "{opts:?}: orphan not reaped by init");
        let zombies = zombies_of(init);
        assert!(zombies.is_empty(), "{zombies:?}");
    }
}
