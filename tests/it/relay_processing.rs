//! End to end, issue 14: the relay binary ships a GitLab tree to a real
//! rsyslog (imtcp over TLS) with `[redact]`, two `[[drop]]` rules and a
//! `[structured_data]` element configured. Lines with tokens arrive with
//! the tokens replaced and every other byte as written, dropped lines never
//! arrive, every message carries the configured SD, and after a restart
//! the dropped lines are not read again (their offsets were confirmed).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::certs::SERVER_NAME;
use crate::support::free_port;
use crate::support::relay::{
    append, gitlab_source, http_get, relay_config, sample, tls_output, Fixture,
};
use crate::support::rsyslog::{Input, Options, Received, Rsyslog};
use crate::support::wait_until;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_secs(2);

/// The processing sections under test; `${…:-…}` shows the expansion
/// without touching this process's environment.
const PROCESSING: &str = r#"
[redact]
patterns = ['card=(\d{12,19})']

[[drop]]
name = "probes"
app_name = "nginx"
regex = "kube-probe/"

[[drop]]
name = "rails-debug"
app_name = "gitlab-rails"
below = "info"

[structured_data]
id = "gitlab@32473"
params = { cluster = "it-cluster", environment = "${REAPLOG_IT_SURELY_UNSET:-staging}" }
path = true
"#;

/// One line written to a file, and the MSG it must arrive with (`None`:
/// a drop rule takes it).
struct Case {
    rel: &'static str,
    written: &'static str,
    arrives: Option<&'static str>,
}

/// Every token kind the issue names, in the three shapes of line, plus
/// lines that must arrive untouched and lines that must not arrive.
const PHASE_ONE: &[Case] = &[
    Case {
        rel: "web-0/production_json.log",
        written: r#"{"method":"POST","path":"/api/v4/projects/7/trigger/pipeline?token=3f9a1b2c4d5e6f708192&ref=main","status":201,"id":"p1"}"#,
        arrives: Some(
            r#"{"method":"POST","path":"/api/v4/projects/7/trigger/pipeline?token=[REDACTED]&ref=main","status":201,"id":"p1"}"#,
        ),
    },
    Case {
        rel: "web-0/production_json.log",
        written: r#"{"method":"GET","path":"/api/v4/user","status":200,"id":"p2","message":"upstream said {\"Authorization\":\"Bearer glpat-Ab3dE_gH1j-LmN0pQrSt\"}"}"#,
        arrives: Some(
            r#"{"method":"GET","path":"/api/v4/user","status":200,"id":"p2","message":"upstream said {\"Authorization\":\"Bearer [REDACTED]\"}"}"#,
        ),
    },
    Case {
        rel: "web-0/production_json.log",
        written: r#"{"method":"GET","path":"/api/v4/version?private_token=[FILTERED]","status":200,"id":"p3"}"#,
        arrives: Some(
            r#"{"method":"GET","path":"/api/v4/version?private_token=[FILTERED]","status":200,"id":"p3"}"#,
        ),
    },
    Case {
        rel: "web-0/production_json.log",
        written: r#"{"method":"POST","path":"/-/subscriptions","status":200,"id":"p4","message":"card=4111111111111111 charged"}"#,
        arrives: Some(
            r#"{"method":"POST","path":"/-/subscriptions","status":200,"id":"p4","message":"card=[REDACTED] charged"}"#,
        ),
    },
    Case {
        rel: "web-0/application_json.log",
        written: r#"{"severity":"INFO","message":"runner glrt-t1_AbCdEfGhIjKlMnOpQrStU registered","id":"a1"}"#,
        arrives: Some(
            r#"{"severity":"INFO","message":"runner glrt-[REDACTED] registered","id":"a1"}"#,
        ),
    },
    Case {
        rel: "web-0/application_json.log",
        written: r#"{"severity":"DEBUG","message":"cache hit","id":"a2"}"#,
        arrives: None,
    },
    Case {
        rel: "web-0/production.log",
        written: r#"Started GET "/api/v4/jobs/request" for 10.0.0.1 with JOB-TOKEN: glcbt-64_AbCdEfGhIjKlMnOpQrSt id=t1"#,
        arrives: Some(
            r#"Started GET "/api/v4/jobs/request" for 10.0.0.1 with JOB-TOKEN: glcbt-[REDACTED] id=t1"#,
        ),
    },
    Case {
        rel: "nginx-0/nginx/gitlab_access.log",
        written: r#"10.0.0.1 - - [25/Nov/2025:14:00:00 +0000] "GET /api/v4/projects?private_token=glpat-Zz9yX8wV7uT6sR5qP4oN&per_page=1 HTTP/1.1" 200 512 "-" "curl/8.4.0" -"#,
        arrives: Some(
            r#"10.0.0.1 - - [25/Nov/2025:14:00:00 +0000] "GET /api/v4/projects?private_token=[REDACTED]&per_page=1 HTTP/1.1" 200 512 "-" "curl/8.4.0" -"#,
        ),
    },
    // Last in its file: a restart must not read it again.
    Case {
        rel: "nginx-0/nginx/gitlab_access.log",
        written: r#"10.0.0.9 - - [25/Nov/2025:14:00:01 +0000] "GET /-/readiness HTTP/1.1" 200 2 "-" "kube-probe/1.29" -"#,
        arrives: None,
    },
];

const PROBE: &str = r#"10.0.0.9 - - [25/Nov/2025:14:00:09 +0000] "GET /-/liveness HTTP/1.1" 200 2 "-" "kube-probe/1.29" -"#;
const AFTER_RESTART: &str = r#"10.0.0.1 - - [25/Nov/2025:14:00:10 +0000] "GET /api/v4/version HTTP/1.1" 200 9 "-" "curl/8.4.0" -"#;
const DEBUG_AFTER_RESTART: &str = r#"{"severity":"DEBUG","message":"cache miss","id":"a3"}"#;

fn write_config(fx: &Fixture, rsyslog_port: u16, metrics_port: u16) {
    let top = format!(
        "partial_line_timeout = \"1s\"\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n{PROCESSING}"
    );
    let output = tls_output(rsyslog_port, &fx.pki.ca, &fx.pki, Some(SERVER_NAME));
    fx.write_config(&relay_config(
        &fx.state,
        &top,
        &gitlab_source(&fx.root),
        &output,
    ));
}

/// The STRUCTURED-DATA every message of the file at `rel` must carry.
fn sd_of(root: &Path, rel: &str) -> String {
    format!(
        "[gitlab@32473 cluster=\"it-cluster\" environment=\"staging\" file=\"{}\"]",
        root.join(rel).display()
    )
}

/// Polls `/metrics` until `metric{label}` is `want`; panics with the body.
fn wait_metric(port: u16, metric: &str, label: &str, want: f64) {
    let mut last = String::new();
    let ok = wait_until(WAIT, || {
        last = http_get(port, "/metrics").map(|r| r.1).unwrap_or_default();
        sample(&last, metric, label) == Some(want)
    });
    assert!(ok, "{metric}{{{label}}} never reached {want}:\n{last}");
}

/// Every message arrived once with its expected MSG and SD, nothing else.
fn assert_arrived(root: &Path, want: &[(&str, &str)], got: &[Received]) {
    let mut expected: BTreeMap<&str, &str> = want.iter().map(|(rel, msg)| (*msg, *rel)).collect();
    for r in got {
        let rel = expected
            .remove(r.msg.as_str())
            .unwrap_or_else(|| panic!("unexpected or repeated message: {r:?}"));
        assert_eq!(r.structured_data, sd_of(root, rel), "{r:?}");
    }
    assert!(expected.is_empty(), "never arrived: {expected:?}");
}

#[test]
fn secrets_arrive_redacted_dropped_lines_never_arrive_and_sd_is_on_every_message() {
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    let metrics = free_port();
    write_config(&fx, rsyslog.port(), metrics);
    for c in PHASE_ONE {
        append(&fx.root.join(c.rel), &format!("{}\n", c.written));
    }
    let mut want: Vec<(&str, &str)> = PHASE_ONE
        .iter()
        .filter_map(|c| c.arrives.map(|m| (c.rel, m)))
        .collect();

    let mut relay = fx.start_relay();
    let got = rsyslog.wait_quiet(want.len(), QUIET, WAIT);
    assert_arrived(&fx.root, &want, &got);
    wait_metric(
        metrics,
        "reaplog_lines_dropped_total",
        "rule=\"probes\"",
        1.0,
    );
    wait_metric(
        metrics,
        "reaplog_lines_dropped_total",
        "rule=\"rails-debug\"",
        1.0,
    );
    wait_metric(metrics, "reaplog_lines_redacted_total", "", 6.0);
    for needle in [
        "trigger/pipeline",
        "Authorization",
        "card=",
        "JOB-TOKEN",
        "private_token=[REDACTED]",
    ] {
        if let Some(r) = got.iter().find(|r| r.msg.contains(needle)) {
            eprintln!(
                "as received by rsyslog: structured-data {} msg {}",
                r.structured_data, r.msg
            );
        }
    }

    // A clean stop writes the final checkpoint: the dropped lines at the
    // end of both files are confirmed with the rest.
    relay.stop(WAIT).expect("the relay stops on SIGTERM");
    let nginx = "nginx-0/nginx/gitlab_access.log";
    let rails = "web-0/application_json.log";
    for _ in 0..3 {
        append(&fx.root.join(nginx), &format!("{PROBE}\n"));
    }
    append(&fx.root.join(nginx), &format!("{AFTER_RESTART}\n"));
    append(&fx.root.join(rails), &format!("{DEBUG_AFTER_RESTART}\n"));
    let _relay = fx.start_relay();
    want.push((nginx, AFTER_RESTART));
    let got = rsyslog.wait_quiet(want.len(), QUIET, WAIT);
    assert_arrived(&fx.root, &want, &got);
    // The new process counts only what it read: the lines written since.
    wait_metric(
        metrics,
        "reaplog_lines_dropped_total",
        "rule=\"probes\"",
        3.0,
    );
    wait_metric(
        metrics,
        "reaplog_lines_dropped_total",
        "rule=\"rails-debug\"",
        1.0,
    );
    wait_metric(metrics, "reaplog_lines_read_total", "source=", 5.0);
    wait_metric(metrics, "reaplog_lines_redacted_total", "", 0.0);
    let body = http_get(metrics, "/metrics")
        .map(|r| r.1)
        .unwrap_or_default();
    for l in body
        .lines()
        .filter(|l| l.starts_with("reaplog_lines_dropped_total"))
    {
        eprintln!("after the restart, /metrics: {l}");
    }
}
