//! The dispatcher: `reaplog install` and the top-level usage.

use std::process::Command;

use crate::support::reaplog_bin;

/// `reaplog install DEST` leaves a read-only executable copy that runs.
#[test]
fn install_copies_a_runnable_read_only_binary() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("reaplog");
    let out = Command::new(reaplog_bin())
        .arg("install")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o555
    );
    let version = Command::new(&dest).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("reaplog "));
    assert!(!dir.path().join("reaplog.tmp").exists());
}

/// An unknown command or a missing argument is a usage error (exit 2).
#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["frobnicate"][..],
        &["install"][..],
        &["install", "-x"][..],
        &[][..],
    ] {
        let out = Command::new(reaplog_bin())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage"),
            "{args:?}"
        );
    }
}

/// `reaplog install --help` prints usage; it never writes a file named `--help`.
#[test]
fn install_help_prints_usage_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(reaplog_bin())
        .current_dir(dir.path())
        .args(["install", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: reaplog install"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "install --help wrote a file"
    );
}
