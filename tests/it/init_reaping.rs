//! `reaplog init` as a reaper: orphans and zombie storms, the control run
//! under a PID 1 that does not reap (proving the checks can fail),
//! `--kill-group-on-exit`, `--report-orphans`, and GitLab's real case:
//! GPGME leaving gpg processes behind.

use std::time::{Duration, Instant};

use crate::support::init::scripts::{self, python};
use crate::support::init::{poll_proc, strs, Mode, Running, DEADLINE, MODES, PYTHON, UNSHARE};
use crate::support::process::{alive, children_of, poll, zombies_of, KillOnDrop, Proc};

/// Waits until `pid1` has no child left but `main`; false at the deadline.
fn only_main_child_left(pid1: i32, main: i32, limit: Duration) -> bool {
    poll_proc(limit, || (children_of(pid1) == [main]).then_some(())).is_some()
}

/// The pids the LEFTOVERS script prints on its `leftovers …` line.
fn leftover_pids(run: &mut Running) -> Vec<i32> {
    let line = run.expect_out("leftovers ");
    line.split_whitespace()
        .skip(1)
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The pid of init's main child: the first in the kernel's list of init's
/// children, where a fork appends and a re-parented orphan is appended later.
/// Not the lowest pid: pids wrap (pid_max is 32768 here, and the storm tests
/// use 20,000), and under load the first look may come after orphans arrived.
fn main_child(init: i32) -> i32 {
    let children = format!("/proc/{init}/task/{init}/children");
    poll(DEADLINE, || {
        let list = std::fs::read_to_string(&children).ok()?;
        list.split_whitespace().next()?.parse().ok()
    })
    .expect("main child")
}

/// 200 double-forked orphans, re-parented to init while the main child
/// keeps running, are all reaped (init warns once per orphan with `-w`).
#[test]
fn reaps_200_double_forked_orphans_while_main_child_runs() {
    for mode in MODES {
        let mut run = Running::init(
            mode,
            &["-w"],
            &strs(&python(scripts::ORPHANS, &["200", "0.3"])),
        );
        let init = run.init_pid();
        let main = main_child(init);
        run.expect_out("spawned 200");
        assert!(
            only_main_child_left(init, main, DEADLINE),
            "{mode:?}: left {:?}",
            children_of(init)
        );
        assert!(alive(main), "{mode:?}: main child must still run");
        // One warning per orphan: each must arrive within the deadline.
        for _ in 0..200 {
            run.expect_err("reaped zombie");
        }
    }
}

/// The control: the same workload with a PID 1 that never reaps orphans
/// (the python workload itself, as GitLab's puma/sidekiq) leaves all 200 as
/// zombies. Without this, the test above could pass vacuously.
#[test]
fn orphans_stay_zombies_under_a_pid1_that_does_not_reap() {
    let mut argv: Vec<String> = vec!["unshare".into()];
    argv.extend(UNSHARE.iter().map(|s| s.to_string()));
    argv.extend(python(scripts::ORPHANS, &["200", "0.3"]));
    let mut run = Running::start(Mode::Pid1, &argv);
    let pid1 = run.init_pid();
    run.expect_out("spawned 200");
    let all_zombies = poll_proc(DEADLINE, || (zombies_of(pid1).len() == 200).then_some(()));
    assert!(
        all_zombies.is_some(),
        "expected 200 zombies, saw {}",
        zombies_of(pid1).len()
    );
}

/// 10,000 zombies handed to init at once (their parent exits without
/// waiting) are all cleared, as PID 1 and as a subreaper.
#[test]
fn clears_a_storm_of_10000_orphans() {
    for mode in MODES {
        let started = Instant::now();
        let mut run = Running::init(mode, &[], &strs(&python(scripts::STORM, &["10000"])));
        let init = run.init_pid();
        let main = main_child(init);
        // Forking 10,000 processes takes seconds, many more when other
        // jobs share the CPUs: generous deadlines, still bounded.
        let limit = Duration::from_secs(60);
        run.expect_out_within("stormed 10000", limit);
        assert!(
            only_main_child_left(init, main, limit),
            "{mode:?}: {} children left",
            children_of(init).len()
        );
        eprintln!(
            "{mode:?}: storm created and cleared in {:?}",
            started.elapsed()
        );
    }
}

/// `--kill-group-on-exit --grace 300ms`: after the main child exits, a
/// leftover that handles SIGTERM gets it and exits; one that ignores
/// SIGTERM is SIGKILLed after the grace period; init exits with the main
/// child's code (0).
#[test]
fn kill_group_on_exit_terms_leftovers_then_kills_after_grace() {
    for mode in MODES {
        let opts = ["--kill-group-on-exit", "--grace", "300ms"];
        // Init may be gone before this thread looks (it only waits 300ms):
        // everything is checked through output and, as a subreaper, pids.
        let mut run = Running::init(mode, &opts, &strs(&python(scripts::LEFTOVERS, &[])));
        let pids = leftover_pids(&mut run);
        run.expect_out("polite got TERM");
        assert_eq!(run.exit_code(DEADLINE), 0, "{mode:?} {:?}", run.seen_err);
        run.expect_err("after 300ms grace: SIGKILL");
        // As PID 1 the printed pids are namespace pids (and the namespace
        // died with init); as a subreaper they are ours to check.
        if mode == Mode::Subreaper {
            assert!(!pids.iter().any(|&p| alive(p)), "{pids:?} left");
        }
    }
}

/// Without `--kill-group-on-exit`, as a subreaper, init exits when the main
/// child does and leaves the rest alone (the control for the test above).
#[test]
fn without_kill_group_on_exit_leftovers_survive_a_subreaper() {
    let mut run = Running::init(
        Mode::Subreaper,
        &[],
        &strs(&python(scripts::LEFTOVERS, &[])),
    );
    let pids = leftover_pids(&mut run);
    // They outlive init, so they leave its tree: end them by pid.
    let _cleanup = KillOnDrop(pids.clone());
    assert_eq!(run.exit_code(DEADLINE), 0);
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");
}

/// `--report-orphans 1s` prints `reaped N orphans in Ns: sleep=N` lines;
/// the counts over all lines add up to the orphans made.
#[test]
fn report_orphans_counts_reaped_orphans_by_command_name() {
    let script = "for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo spawned; exec sleep 60";
    let mut run = Running::init(
        Mode::Pid1,
        &["--report-orphans", "1s"],
        &["sh", "-c", script],
    );
    run.expect_out("spawned");
    let mut total = 0;
    while total < 5 {
        let line = run.expect_err("reaped ");
        let summary = line.split(": ").nth(2).unwrap_or("");
        let sleep: u32 = summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("sleep="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no sleep=N in {line:?}"));
        total += sleep;
    }
    assert_eq!(total, 5);
}

fn gpg_available() -> bool {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import gpg"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: {PYTHON} has no `gpg` module (install python3-gpg)");
    }
    ok
}

/// Zombies of PID 1 whose command starts with `gpg` (gpg, gpgconf, gpgsm,
/// gpg-agent).
fn gpg_zombies(pid1: i32) -> Vec<Proc> {
    zombies_of(pid1)
        .into_iter()
        .filter(|p| p.comm.starts_with("gpg"))
        .collect()
}

/// GitLab's case, with real GPGME: importing a key in fresh GNUPGHOMEs
/// under a PID 1 that does not reap leaves gpg zombies behind.
#[test]
fn gpgme_workload_leaves_gpg_zombies_under_a_non_reaping_pid1() {
    if !gpg_available() {
        return;
    }
    let mut argv: Vec<String> = vec!["unshare".into()];
    argv.extend(UNSHARE.iter().map(|s| s.to_string()));
    argv.extend(python(scripts::GPGME, &["4"]));
    let mut run = Running::start(Mode::Pid1, &argv);
    let pid1 = run.init_pid();
    run.expect_out("done");
    let zombies = poll_proc(DEADLINE, || {
        Some(gpg_zombies(pid1)).filter(|z| z.len() >= 4)
    });
    assert!(zombies.is_some(), "no gpg zombies: {:?}", zombies_of(pid1));
}

/// The same GPGME workload under reaplog init leaves no zombie, and init
/// names what it reaped (gpg...) with `-w`.
#[test]
fn gpgme_workload_leaves_no_zombies_under_reaplog() {
    if !gpg_available() {
        return;
    }
    let mut run = Running::init(Mode::Pid1, &["-w"], &strs(&python(scripts::GPGME, &["4"])));
    let init = run.init_pid();
    run.expect_out("done");
    run.expect_err("(gpg");
    let clean = poll_proc(DEADLINE, || zombies_of(init).is_empty().then_some(()));
    assert!(clean.is_some(), "zombies left: {:?}", zombies_of(init));
}
