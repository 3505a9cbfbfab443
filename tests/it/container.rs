//! The container image, built and run with podman: `Containerfile`'s `local`
//! target (FROM scratch plus the static musl binary) as a real container
//! with reaplog as PID 1.
//!
//! The image has no shell, so the workload is a tiny static C program
//! ([`HELPER_C`], built here with musl-gcc) mounted read-only at /storm: it
//! makes a storm of orphans, then counts the zombies left in the container
//! through /proc and exits with a chosen code.
//!
//! Needs, in this order (`.ci/run`): podman + runc installed, musl-tools, and
//! the static binary built before the tests run:
//! `CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --target x86_64-unknown-linux-musl`.
//! Without the binary, or where podman cannot run a container, every test
//! prints why and passes, unless `REAPLOG_CONTAINER_TESTS=require`, which
//! turns those skips into failures (for CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{reaplog_bin, wait_until};

/// The tag the tests build; rebuilt (and so replaced) by every run.
const IMAGE: &str = "localhost/reaplog:podman-test";

/// Orphans per storm: well below podman's default pids limit (2048), so the
/// control without a reaper can hold them all as zombies.
const STORM: &str = "1000";

/// Exit code of the helper when zombies are still there after its deadline.
const ZOMBIES_LEFT: i32 = 99;

/// The workload. `storm N CODE`: N children each fork a grandchild and exit
/// at once, so N orphans reach PID 1 and die there; then poll /proc (10 s
/// deadline) until no process is in state Z, print the count, exit CODE (or
/// 99 if zombies remain). `raise SIG`: kill itself with SIG. `pause`: print
/// "ready" and wait for a signal.
const HELPER_C: &str = r#"
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int zombies(void) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d) { perror("opendir /proc"); exit(98); }
    while ((e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *paren = strrchr(buf, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z') n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "storm")) {
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0) { perror("fork"); return 97; }
            if (p == 0) { if (fork() == 0) _exit(0); _exit(0); }
            waitpid(p, NULL, 0);
        }
        printf("stormed %d\n", n);
        fflush(stdout);
        struct timespec tick = {0, 10 * 1000 * 1000};
        int left = zombies();
        for (int i = 0; i < 1000 && left > 0; i++) { nanosleep(&tick, NULL); left = zombies(); }
        printf("zombies_left=%d\n", left);
        return left ? 99 : atoi(argv[3]);
    }
    if (argc == 3 && !strcmp(argv[1], "raise")) {
        signal(atoi(argv[2]), SIG_DFL);
        raise(atoi(argv[2]));
        return 96;
    }
    if (argc == 2 && !strcmp(argv[1], "pause")) {
        printf("ready\n");
        fflush(stdout);
        for (;;) pause();
    }
    fprintf(stderr, "usage: storm N CODE | raise SIG | pause\n");
    return 2;
}
"#;

/// What every test needs: the image built, the helper compiled.
struct Setup {
    /// Keeps the helper's directory alive for the whole test binary.
    _dir: tempfile::TempDir,
    /// The static helper, mounted read-only at /storm.
    helper: PathBuf,
}

/// Builds once per test binary; `Err` is the reason to skip.
fn setup() -> Result<&'static Setup, String> {
    static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();
    SETUP.get_or_init(build).as_ref().map_err(Clone::clone)
}

/// Returns the setup, or prints why the test is skipped (and fails instead
/// when `REAPLOG_CONTAINER_TESTS=require`).
fn setup_or_skip(test: &str) -> Option<&'static Setup> {
    match setup() {
        Ok(s) => Some(s),
        Err(why) => {
            if std::env::var("REAPLOG_CONTAINER_TESTS").as_deref() == Ok("require") {
                panic!("{test}: {why} (REAPLOG_CONTAINER_TESTS=require)");
            }
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// The static release binary: `REAPLOG_STATIC_BIN`, else the musl release
/// build next to the target directory cargo built this test in.
fn static_binary() -> Result<PathBuf, String> {
    let bin = match std::env::var_os("REAPLOG_STATIC_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let debug_bin = Path::new(reaplog_bin());
            let target = debug_bin
                .parent()
                .and_then(Path::parent)
                .ok_or("cannot locate the target directory")?;
            target.join("x86_64-unknown-linux-musl/release/reaplog")
        }
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it first with `CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --target x86_64-unknown-linux-musl`",
            bin.display()
        ))
    }
}

fn build() -> Result<Setup, String> {
    let binary = static_binary()?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    // A context of its own: the Containerfile and .containerignore of the
    // repository, and the binary at the path the `local` target copies.
    let context = dir.path().join("context");
    let in_context = context.join("target/x86_64-unknown-linux-musl/release/reaplog");
    std::fs::create_dir_all(in_context.parent().ok_or("no parent")?)
        .map_err(|e| format!("context: {e}"))?;
    std::fs::copy(&binary, &in_context).map_err(|e| format!("copy {}: {e}", binary.display()))?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["Containerfile", ".containerignore"] {
        std::fs::copy(repo.join(f), context.join(f)).map_err(|e| format!("copy {f}: {e}"))?;
    }
    let helper = dir.path().join("storm");
    let source = dir.path().join("storm.c");
    std::fs::write(&source, HELPER_C).map_err(|e| format!("{}: {e}", source.display()))?;
    let cc = Command::new("musl-gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&helper)
        .arg(&source)
        .output()
        .map_err(|e| format!("musl-gcc cannot build the helper: {e}"))?;
    if !cc.status.success() {
        return Err(format!(
            "musl-gcc failed: {}",
            String::from_utf8_lossy(&cc.stderr)
        ));
    }
    let built = podman(&[
        "build",
        "--pull=never",
        "--target",
        "local",
        "--build-arg",
        "REVISION=test",
        "-t",
        IMAGE,
    ])
    .arg(&context)
    .output()
    .map_err(|e| format!("podman not runnable: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "podman build failed: {}",
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    // The probe that decides between running and skipping.
    let probe = run_image(&[], &["--version"]).map_err(|e| format!("podman run: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "podman cannot run containers here: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(Setup { _dir: dir, helper })
}

/// `podman --runtime runc ARGS`.
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc"]).args(args);
    c
}

/// The run options every container gets: no network, limits the host's hard
/// limits allow (runc cannot raise RLIMIT_NOFILE above them), no pull.
const RUN: &[&str] = &[
    "run",
    "--rm",
    "--pull=never",
    "--network",
    "none",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
];

/// `podman run RUN… OPTS… IMAGE ARGS…`, to completion.
fn run_image(opts: &[&str], args: &[&str]) -> std::io::Result<Output> {
    podman(RUN).args(opts).arg(IMAGE).args(args).output()
}

/// The `-v` option that mounts the helper read-only at /storm.
fn helper_mount(s: &Setup) -> String {
    format!("{}:/storm:ro", s.helper.display())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The image is FROM scratch with only /reaplog, runs as 65532:65532 with
/// /reaplog as ENTRYPOINT and carries the OCI labels; prints its size.
#[test]
fn image_holds_only_the_static_binary_and_runs_as_non_root() {
    let Some(_s) = setup_or_skip("image_holds_only_the_static_binary_and_runs_as_non_root") else {
        return;
    };
    let out = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Size}}|{{.Config.User}}|{{json .Config.Entrypoint}}|{{index .Config.Labels \"org.opencontainers.image.title\"}}|{{index .Config.Labels \"org.opencontainers.image.licenses\"}}|{{len .RootFS.Layers}}",
        IMAGE,
    ])
    .output()
    .expect("podman image inspect");
    let got = text(&out.stdout);
    let fields: Vec<&str> = got.trim().split('|').collect();
    assert_eq!(fields.len(), 6, "{got}{}", text(&out.stderr));
    assert_eq!(fields[1], "65532:65532", "USER");
    assert_eq!(fields[2], "[\"/reaplog\"]", "ENTRYPOINT");
    assert_eq!(fields[3], "reaplog", "org.opencontainers.image.title");
    assert_eq!(fields[4], "Apache-2.0", "org.opencontainers.image.licenses");
    assert_eq!(fields[5], "1", "one layer: the binary");
    eprintln!("image {IMAGE}: {} bytes", fields[0]);

    // The root filesystem as the image defines it (root can mount images).
    let mount = podman(&["image", "mount", IMAGE])
        .output()
        .expect("podman image mount");
    if mount.status.success() {
        let root = PathBuf::from(text(&mount.stdout).trim());
        let entries: Vec<String> = std::fs::read_dir(&root)
            .expect("read the image root")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let size = std::fs::metadata(root.join("reaplog")).map(|m| m.len());
        let _unmounted = podman(&["image", "unmount", IMAGE]).output();
        assert_eq!(
            entries,
            vec!["reaplog".to_string()],
            "image root holds only /reaplog"
        );
        eprintln!("/reaplog in the image: {size:?} bytes");
    } else {
        eprintln!(
            "podman image mount unavailable: {}",
            text(&mount.stderr).trim()
        );
    }

    let version = run_image(&[], &["--version"]).expect("podman run");
    assert!(text(&version.stdout).starts_with("reaplog "), "{version:?}");
    let whoami = run_image(
        &["--entrypoint", "/reaplog"],
        &["init", "--", "/reaplog", "--version"],
    )
    .expect("podman run");
    assert!(whoami.status.success(), "{whoami:?}");
}

/// reaplog as PID 1 of the container reaps a storm of 1000 orphans (none is
/// left in state Z) and exits with the workload's exit code.
#[test]
fn reaps_a_zombie_storm_as_pid_1_and_exits_with_the_childs_code() {
    let Some(s) = setup_or_skip("reaps_a_zombie_storm_as_pid_1_and_exits_with_the_childs_code")
    else {
        return;
    };
    let mount = helper_mount(s);
    let out = run_image(
        &["-v", &mount],
        &["init", "--", "/storm", "storm", STORM, "7"],
    )
    .expect("podman run");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("stormed {STORM}")),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("zombies_left=0"),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(7), "{stdout}{}", text(&out.stderr));
}

/// The control: the same storm with the helper itself as PID 1 (no reaper)
/// leaves zombies, and the helper says so with exit 99. Without this the
/// test above could pass vacuously.
#[test]
fn storm_leaves_zombies_when_pid_1_does_not_reap() {
    let Some(s) = setup_or_skip("storm_leaves_zombies_when_pid_1_does_not_reap") else {
        return;
    };
    let mount = helper_mount(s);
    let out = run_image(
        &["-v", &mount, "--entrypoint", "/storm"],
        &["storm", "200", "7"],
    )
    .expect("podman run");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("zombies_left=200"),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(ZOMBIES_LEFT), "{stdout}");
}

/// A workload killed by signal N makes the container exit 128+N: SIGKILL it
/// raised itself (137), and SIGTERM sent to the container, which reaplog
/// forwards to the workload (143).
#[test]
fn exits_128_plus_signal_when_the_child_is_killed() {
    let Some(s) = setup_or_skip("exits_128_plus_signal_when_the_child_is_killed") else {
        return;
    };
    let mount = helper_mount(s);
    let out =
        run_image(&["-v", &mount], &["init", "--", "/storm", "raise", "9"]).expect("podman run");
    assert_eq!(out.status.code(), Some(137), "{out:?}");

    let name = format!("reaplog-test-term-{}", std::process::id());
    let started = podman(&["run", "-d", "--name", &name])
        .args(&RUN[2..])
        .args(["-v", &mount, IMAGE, "init", "--", "/storm", "pause"])
        .output()
        .expect("podman run -d");
    let _cleanup = RemoveContainer(name.clone());
    assert!(started.status.success(), "{started:?}");
    let ready = wait_until(Duration::from_secs(20), || {
        podman(&["logs", &name])
            .output()
            .is_ok_and(|o| text(&o.stdout).contains("ready"))
    });
    assert!(ready, "the workload never said ready");
    let killed = podman(&["kill", "--signal", "TERM", &name])
        .output()
        .expect("podman kill");
    assert!(killed.status.success(), "{killed:?}");
    let waited = podman(&["wait", &name]).output().expect("podman wait");
    assert_eq!(text(&waited.stdout).trim(), "143", "{waited:?}");
}

/// Removes a detached container however the test ends.
struct RemoveContainer(String);

impl Drop for RemoveContainer {
    fn drop(&mut self) {
        let _removed = podman(&["rm", "-f", "-t", "0", &self.0]).output();
    }
}
