//! The Kubernetes manifests under `k8s/`, checked offline by
//! `tests/it/k8s/check_manifests.py`: layout, rendering with `kubectl
//! kustomize` (required: without kubectl on PATH the script stops with an
//! error saying so, and the tests fail), the Kubernetes JSON schemas (PyPI's
//! kubernetes-validate, strict), cross references, OpenShift restricted-v2,
//! and every relay.toml through the real binary's `reaplog relay --check`
//! with a throw-away PKI.
//!
//! Python: `REAPLOG_K8S_PYTHON`, else the interpreter of a
//! `kubernetes-validate` found on PATH or in /opt/kubernetes-validate/bin,
//! else /usr/bin/python3 (schema validation is then reported as skipped).
//! Without Python and PyYAML the tests print why and pass, unless
//! `REAPLOG_K8S_TESTS=require`, which makes any skip a failure (for CI).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::certs::TestPki;
use crate::support::reaplog_bin;

/// The repository's `k8s/` directory.
fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/k8s/check_manifests.py")
}

/// The interpreter of a script's `#!` line.
fn shebang_python(script: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(script).ok()?;
    let first = text.lines().next()?.strip_prefix("#!")?;
    let python = PathBuf::from(first.split_whitespace().next()?);
    python.is_file().then_some(python)
}

/// The Python to run the checks with, and whether the schemas can be used.
fn python() -> Result<(PathBuf, bool), String> {
    if let Some(p) = std::env::var_os("REAPLOG_K8S_PYTHON") {
        return Ok((PathBuf::from(p), true));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubernetes-validate"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push(PathBuf::from(
        "/opt/kubernetes-validate/bin/kubernetes-validate",
    ));
    if let Some(python) = candidates.iter().find_map(|c| shebang_python(c)) {
        return Ok((python, true));
    }
    let system = PathBuf::from("/usr/bin/python3");
    let has_yaml = Command::new(&system)
        .args(["-c", "import yaml, tomllib"])
        .status()
        .is_ok_and(|s| s.success());
    if has_yaml {
        Ok((system, false))
    } else {
        Err(
            "no Python with PyYAML and tomllib (install kubernetes-validate, see docs/deploy.md)"
                .into(),
        )
    }
}

/// Runs the checks over `dir` (only the overlay `only`, if given); `None`
/// when the test is skipped.
fn check(test: &str, dir: &Path, only: Option<&str>, pki: &TestPki) -> Option<Output> {
    let require = std::env::var("REAPLOG_K8S_TESTS").as_deref() == Ok("require");
    let (python, schemas) = match python() {
        Ok(p) => p,
        Err(why) if !require => {
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        Err(why) => panic!("{test}: {why} (REAPLOG_K8S_TESTS=require)"),
    };
    assert!(
        schemas || !require,
        "{test}: kubernetes-validate not found (REAPLOG_K8S_TESTS=require)"
    );
    let mut cmd = Command::new(&python);
    cmd.arg(script());
    if let Some(overlay) = only {
        cmd.args(["--only", overlay]);
    }
    let out = cmd
        .arg(dir)
        .arg("--reaplog")
        .arg(reaplog_bin())
        .arg("--ca")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&pki.client_cert)
        .arg("--key")
        .arg(&pki.client_key)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if require {
        assert!(
            !stdout.contains("SKIPPED"),
            "{test}: a check was skipped:\n{stdout}"
        );
    }
    Some(out)
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies a directory tree (the manifests, to break a copy).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every overlay renders, validates against the Kubernetes schemas, its
/// references resolve, and each relay.toml passes `reaplog relay --check`.
#[test]
fn manifests_render_validate_and_reference_what_exists() {
    let (_dir, pki) = TestPki::temp();
    let Some(out) = check(
        "manifests_render_validate_and_reference_what_exists",
        &k8s_dir(),
        None,
        &pki,
    ) else {
        return;
    };
    let text = report(&out);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all manifests ok"), "{text}");
    assert_eq!(
        text.matches("reaplog relay --check accepts relay.toml")
            .count(),
        3,
        "the two sidecars and the StatefulSet's relay: {text}"
    );
}

/// One broken reference of each kind, each in its own copy of `k8s/`,
/// makes the check fail and name the problem.
#[test]
fn a_broken_reference_fails_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    fs::create_dir_all(&pki_dir).expect("mkdir pki");
    let pki = TestPki::new(&pki_dir);
    // Every case breaks something the StatefulSet overlay uses: checking
    // only that overlay keeps the test short.
    let overlay = "relay-statefulset";
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // (what, file, from, to, expected message)
        (
            "volumeMount without volume",
            "overlays/relay-statefulset/statefulset.yaml",
            "- name: reaplog-tls\n              mountPath",
            "- name: reaplog-certs\n              mountPath",
            "volumeMount reaplog-certs names no volume",
        ),
        (
            "ConfigMap that does not exist",
            "overlays/relay-statefulset/statefulset.yaml",
            "name: reaplog-relay\n            items",
            "name: reaplog-relays\n            items",
            "ConfigMap reaplog-relays does not exist",
        ),
        (
            "Secret key that does not exist",
            "base/secret-tls.yaml",
            "  ca.crt:",
            "  ca.pem:",
            "has no key ca.crt",
        ),
        (
            "PVC that does not exist",
            "overlays/relay-statefulset/kustomization.yaml",
            "  - pvc-gitlab-logs.yaml\n",
            "",
            "PersistentVolumeClaim gitlab-logs does not exist",
        ),
        (
            "resource file that does not exist",
            "overlays/relay-statefulset/kustomization.yaml",
            "  - service.yaml",
            "  - svc.yaml",
            "svc.yaml does not exist",
        ),
        (
            "unknown key in relay.toml",
            "overlays/relay-statefulset/configmap-relay.yaml",
            "per_pod_dirs = true",
            "per_pod_dir = true",
            "per_pod_dir",
        ),
        (
            "shard count that differs from replicas",
            "overlays/relay-statefulset/statefulset.yaml",
            "  replicas: 2",
            "  replicas: 3",
            "counts 2 replicas, the StatefulSet has 3",
        ),
        (
            "privilege escalation allowed",
            "overlays/relay-statefulset/statefulset.yaml",
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "allowPrivilegeEscalation is not false",
        ),
        (
            "alert without a severity",
            "overlays/relay-statefulset/prometheusrule.yaml",
            "          for: 2m\n          labels:\n            severity: critical",
            "          for: 2m\n          labels:\n            priority: critical",
            "rule ReaplogAllTargetsDown: has no severity label",
        ),
        (
            "field the schema does not know",
            "overlays/relay-statefulset/service.yaml",
            "  clusterIP: None",
            "  clusterIP: None\n  clusterIPs2: [None]",
            "clusterIPs2",
        ),
    ];
    let mut skipped = false;
    for (what, file, from, to, expected) in cases {
        let copy = dir.path().join(what.replace(' ', "-"));
        copy_tree(&k8s_dir(), &copy);
        let path = copy.join(file);
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            text.contains(from),
            "{what}: {file} no longer contains {from:?}"
        );
        fs::write(&path, text.replacen(from, to, 1)).expect("write");
        let Some(out) = check(
            "a_broken_reference_fails_the_check",
            &copy,
            Some(overlay),
            &pki,
        ) else {
            return;
        };
        let got = report(&out);
        if *what == "field the schema does not know" && got.contains("SKIPPED schema validation") {
            skipped = true;
            continue;
        }
        assert!(!out.status.success(), "{what} ({overlay}) passed:\n{got}");
        assert!(
            got.contains(expected),
            "{what}: expected {expected:?} in:\n{got}"
        );
    }
    if skipped {
        eprintln!("schema case SKIPPED: kubernetes-validate not installed");
    }
}
