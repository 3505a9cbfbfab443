//! The relay's failure behaviour, with the real binary: TLS that must not
//! verify (wrong CA, wrong name) sends nothing and says why; a receiver that
//! is down is retried until it comes up; bad configuration is an error that
//! names the file and the key. Plus the `--check` and `--demo` commands.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::certs::SERVER_NAME;
use crate::support::relay::{
    append, count_lines, gitlab_source, json_lines, relay_config, tls_output, Fixture, Relay,
};
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::{free_port, reaplog_bin, wait_until};

/// A fixture with the pod directory `web-0` in its log tree.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fs::create_dir_all(fx.root.join("web-0")).unwrap();
    fx
}

/// A TLS config to 127.0.0.1:port; `ca` and `server_name` vary per test.
fn config(s: &Fixture, port: u16, ca: &Path, server_name: &str) -> PathBuf {
    let output = tls_output(port, ca, &s.pki, Some(server_name));
    s.write_config(&relay_config(
        &s.state,
        "",
        &gitlab_source(&s.root),
        &output,
    ));
    s.config.clone()
}

fn write_lines(s: &Fixture, n: usize) {
    append(
        &s.root.join("web-0/api_json.log"),
        &json_lines("web-0/api_json/", 0..n),
    );
}

/// A relay that trusts another CA must not send a byte, must say which peer
/// failed and why, and must keep retrying.
#[test]
fn wrong_ca_sends_nothing_names_the_peer_and_retries() {
    let s = fixture();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&s.pki));
    write_lines(&s, 10);
    let config = config(&s, rsyslog.port(), &s.pki.other_ca, SERVER_NAME);
    let relay = Relay::start(&config, &s.stderr);
    let peer = format!("127.0.0.1:{}", rsyslog.port());
    let retried = wait_until(Duration::from_secs(15), || {
        count_lines(&relay.log(), &[&peer, "TLS handshake", "UnknownIssuer"]) >= 2
    });
    assert!(
        retried,
        "no repeated, clear handshake error:\n{}",
        relay.log()
    );
    assert!(
        rsyslog.messages().is_empty(),
        "data reached the receiver despite a wrong CA"
    );
}

/// A server certificate that does not carry the configured name is refused.
#[test]
fn wrong_server_name_sends_nothing_and_says_so() {
    let s = fixture();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&s.pki));
    write_lines(&s, 10);
    let config = config(&s, rsyslog.port(), &s.pki.ca, "not-the-receiver.test");
    let relay = Relay::start(&config, &s.stderr);
    let refused = wait_until(Duration::from_secs(15), || {
        count_lines(&relay.log(), &["TLS handshake", "not valid for name"]) >= 2
    });
    assert!(refused, "no repeated name-mismatch error:\n{}", relay.log());
    assert!(
        rsyslog.messages().is_empty(),
        "data reached the receiver despite a wrong name"
    );
}

/// Lines written while the receiver is down arrive once it is up, on the
/// same address, without restarting the relay.
#[test]
fn receiver_down_is_retried_until_it_comes_up() {
    let s = fixture();
    let port = free_port();
    write_lines(&s, 50);
    let config = config(&s, port, &s.pki.ca, SERVER_NAME);
    let relay = Relay::start(&config, &s.stderr);
    let peer = format!("127.0.0.1:{port}");
    let retried = wait_until(Duration::from_secs(15), || {
        count_lines(&relay.log(), &[&peer, "cannot connect"]) >= 3
    });
    assert!(
        retried,
        "no repeated connection errors naming the peer:\n{}",
        relay.log()
    );
    let mut opts = Options::new(Input::tls()).pki(&s.pki);
    opts.port = Some(port);
    let rsyslog = Rsyslog::start(opts);
    let got = rsyslog.wait_for(50, Duration::from_secs(60));
    assert_eq!(got.len(), 50, "{}", relay.log());
}

fn run_relay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(reaplog_bin())
        .arg("relay")
        .args(args)
        .output()
        .expect("run reaplog relay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An unknown key, a bad value and a missing certificate each stop the
/// relay at start-up with the file, the key or the path in the message.
#[test]
fn bad_config_is_an_error_naming_the_file_and_key() {
    let s = fixture();
    let good = fs::read_to_string(config(&s, 6514, &s.pki.ca, SERVER_NAME)).unwrap();
    let cases = [
        (
            good.replace("per_pod_dirs", "per_pod_dir"),
            vec!["relay.toml", "per_pod_dir"],
        ),
        (
            good.replace("poll_interval = \"100ms\"", "poll_interval = \"soon\""),
            vec!["relay.toml", "poll_interval", "soon"],
        ),
        (
            good.replace("type = \"tls\"", "type = \"udp\""),
            vec!["relay.toml", "udp"],
        ),
        (
            good.replace(&s.pki.ca.display().to_string(), "/nonexistent/ca.crt"),
            vec!["ca_file", "/nonexistent/ca.crt"],
        ),
    ];
    for (text, needles) in cases {
        let path = s.config.clone();
        fs::write(&path, &text).unwrap();
        let (code, _, stderr) = run_relay(&["--config", path.to_str().unwrap(), "--check"]);
        assert_eq!(code, 1, "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "error does not name {n:?}: {stderr}");
        }
    }
}

/// `--check` validates and lists each file with the fields it would get.
#[test]
fn check_lists_files_with_their_fields() {
    let s = fixture();
    write_lines(&s, 1);
    append(
        &s.root.join("web-0/sidekiq/current"),
        "2026-11-25_09:14:07.11731 {}\n",
    );
    append(
        &s.root.join("web-0/sidekiq/@400000006744a1b20a3c1d2e.s"),
        "old\n",
    );
    let config = config(&s, 6514, &s.pki.ca, SERVER_NAME);
    let (code, stdout, stderr) = run_relay(&["--config", config.to_str().unwrap(), "--check"]);
    assert_eq!(code, 0, "{stderr}");
    let api = stdout
        .lines()
        .find(|l| l.ends_with("api_json.log"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        api.contains("web-0")
            && api.contains("gitlab-rails")
            && api.contains("api_json")
            && api.contains("local0"),
        "{api}"
    );
    let sidekiq = stdout
        .lines()
        .find(|l| l.ends_with("current"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        sidekiq.contains("gitlab-sidekiq") && sidekiq.contains("local1"),
        "{sidekiq}"
    );
    assert!(
        !stdout.contains("@4000"),
        "a rotated svlogd file would be tailed:\n{stdout}"
    );
    assert!(stdout.contains("2 files would be tailed"), "{stdout}");
}

/// The README's first command: RFC 5424 frames for the embedded GitLab sample.
#[test]
fn demo_prints_octet_counted_rfc5424_frames() {
    let (code, stdout, stderr) = run_relay(&["--demo"]);
    assert_eq!(code, 0, "{stderr}");
    let frames: Vec<&str> = stdout.lines().collect();
    assert_eq!(frames.len(), 12, "{stdout}");
    for f in &frames {
        let (len, msg) = f.split_once(' ').unwrap();
        assert_eq!(
            len.parse::<usize>().unwrap(),
            msg.len(),
            "octet count of {f}"
        );
        assert!(
            msg.starts_with('<') && msg.contains(">1 "),
            "not RFC 5424: {msg}"
        );
    }
    // production_json with status 503: err (3) at local0 (16) → PRI 131.
    assert!(
        frames
            .iter()
            .any(|f| f.contains("<131>1 ") && f.contains("MetricsController")),
        "{stdout}"
    );
    // svlogd prefix stripped, severity from the JSON: sidekiq WARN at local1 → PRI 140.
    assert!(
        frames.iter().any(|f| f.contains("<140>1 ")
            && f.contains(" gitlab-sidekiq-all-in-1-v2-6c9d8f-9tq4z gitlab-sidekiq - sidekiq - {")),
        "{stdout}"
    );
}
