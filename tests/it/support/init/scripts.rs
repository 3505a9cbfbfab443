//! Small child programs, run with `python3 -c SCRIPT ARGS` (no files).

/// Prints `ready PID`, then `signal N` for each signal it receives (every
/// catchable one except SIGCHLD). With the argument `spawn` it also starts
/// a grandchild running the same script (same process group), and both
/// prefix their lines with `parent`/`child`.
pub const PRINTER: &str = r#"
import os, signal, subprocess, sys
role = sys.argv[1] if len(sys.argv) > 1 else "main"
def say(*words):
    # One write per line: lines of parent and grandchild must not interleave.
    os.write(1, (" ".join(map(str, words)) + "\n").encode())
def on_signal(n, _frame):
    say(role, "signal", n)
for n in range(1, 32):
    if n not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
        signal.signal(n, on_signal)
if role == "spawn":
    role = "parent"
    subprocess.Popen([sys.executable, "-c", SCRIPT, "child"])
say(role, "ready", os.getpid())
# Not signal.pause(): a signal landing between Python's check for pending
# handlers and the pause() call would wait there for the next signal, and
# the test sends the next one only after seeing this one. The C-level
# handler writes to the wakeup fd, so this read returns either way.
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
while True:
    os.read(wake_r, 512)
"#;

/// The printer, with its own source available as SCRIPT (to re-run itself).
pub fn printer() -> String {
    format!("SCRIPT = {PRINTER:?}\n{PRINTER}")
}

/// `python3 -c printer` argv for a child command.
pub fn printer_cmd(role: &str) -> Vec<String> {
    vec![super::PYTHON.into(), "-c".into(), printer(), role.into()]
}

/// Double-forks N orphans (argv[1]) that each live DELAY seconds
/// (argv[2]) and exit, waits for the intermediate children only, prints
/// `spawned N`, then sleeps. The orphans are re-parented to init.
pub const ORPHANS: &str = r#"
import os, sys, time
n, delay = int(sys.argv[1]), float(sys.argv[2])
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(delay)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("spawned", n, flush=True)
time.sleep(3600)
"#;

/// One child forks N (argv[1]) grandchildren that exit at once, never
/// waits for them, and exits: N zombies land on init at the same time.
/// Prints `stormed N` after that child is gone, then sleeps.
pub const STORM: &str = r#"
import os, sys, time
n = int(sys.argv[1])
storm = os.fork()
if storm == 0:
    for _ in range(n):
        if os.fork() == 0:
            os._exit(0)
    os._exit(0)
os.waitpid(storm, 0)
print("stormed", n, flush=True)
time.sleep(3600)
"#;

/// Blocks every signal and ignores many, then execs argv[1:]: proves init
/// cleans what it inherited.
pub const DIRTY_PARENT: &str = r#"
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP})
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGQUIT, signal.SIGPIPE, signal.SIGCHLD, signal.SIGTTOU, signal.SIGWINCH):
    signal.signal(s, signal.SIG_IGN)
os.execvp(sys.argv[1], sys.argv[1:])
"#;

/// The main child for `--kill-group-on-exit`: starts a grandchild that
/// prints and exits on SIGTERM and one that ignores SIGTERM, waits until
/// both are set up, prints their pids, and exits 0.
pub const LEFTOVERS: &str = r#"
import os, signal, sys, time
r, w = os.pipe()
pids = []
for kind in ("polite", "stubborn"):
    pid = os.fork()
    if pid == 0:
        if kind == "polite":
            def bye(n, f):
                print("polite got TERM", flush=True)
                os._exit(0)
            signal.signal(signal.SIGTERM, bye)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # A wakeup fd, not signal.pause(): see PRINTER.
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        os.write(w, b"x")
        while True:
            os.read(wake_r, 512)
    pids.append(pid)
os.read(r, 1); os.read(r, 1)
print("leftovers", *pids, flush=True)
"#;

/// Runs `reaplog init -p USR1 -- printer` as its child, prints `init PID`,
/// then exits when its stdin closes: init's parent dies.
pub const PDEATH_PARENT: &str = r#"
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
print("init", p.pid, flush=True)
sys.stdin.read()
os._exit(0)
"#;

/// A GitLab-like GPGME workload: a fresh GNUPGHOME per "request", create a
/// key once, then import it in N (argv[1]) fresh homes. GPGME double-forks
/// gpg/gpgconf/gpgsm and gpg-agent daemonizes: all become init's orphans.
pub const GPGME: &str = r#"
import gpg, os, shutil, sys, tempfile
n = int(sys.argv[1])
key = None
for _ in range(n):
    home = tempfile.mkdtemp(prefix="reaplog-gpg-")
    with gpg.Context(home_dir=home, armor=True) as c:
        if key is None:
            c.create_key("Reaplog Test <test@example.invalid>", algorithm="ed25519",
                         expires=False, sign=True, passphrase=None)
            key = c.key_export_minimal(pattern="test@example.invalid")
        else:
            c.op_import(key)
            assert c.op_import_result().imported == 1
    shutil.rmtree(home, ignore_errors=True)
print("done", flush=True)
import time; time.sleep(3600)
"#;

/// argv `python3 -c SCRIPT ARGS...`.
pub fn python(script: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec![super::PYTHON.to_string(), "-c".into(), script.into()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}
