//! Operating the relay: Prometheus metrics that match what was sent,
//! `/readyz` that follows the receiver, and SIGHUP reloads (a new source is
//! picked up; an invalid file is rejected and the running config stays).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::certs::SERVER_NAME;
use crate::support::process::Proc;
use crate::support::relay::{
    append, http_get, id_of, json_lines, relay_config, sample, tls_output, Fixture, Relay,
};
use crate::support::rsyslog::{Input, Options, Rsyslog};
use crate::support::{free_port, wait_until};

const WAIT: Duration = Duration::from_secs(30);

/// A config with plain sources over the given glob patterns.
fn config_text(s: &Fixture, port: u16, patterns: &[&str], metrics_port: Option<u16>) -> String {
    let metrics = metrics_port.map_or(String::new(), |p| {
        format!("[metrics]\nlisten = \"127.0.0.1:{p}\"\n")
    });
    let sources: String = patterns
        .iter()
        .map(|pattern| {
            format!(
                "[[source]]\npaths = [\"{}\"]\napp_name = \"app\"\nformat = \"json\"\npoll_interval = \"100ms\"\n",
                s.path(pattern).display()
            )
        })
        .collect();
    let output = tls_output(port, &s.pki.ca, &s.pki, Some(SERVER_NAME));
    relay_config(&s.state, &metrics, &sources, &output)
}

/// `/metrics` counts exactly the lines read and sent; `/healthz` is 200;
/// `/readyz` is 200 while connected and 503 once the receiver is gone.
#[test]
fn metrics_match_the_lines_sent_and_readyz_follows_the_receiver() {
    let s = Fixture::new();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&s.pki));
    let metrics_port = free_port();
    fs::create_dir_all(s.path("a")).unwrap();
    append(&s.path("a/app.log"), &json_lines("a-", 0..100));
    let config = s.path("relay.toml");
    fs::write(
        &config,
        config_text(&s, rsyslog.port(), &["a/*.log"], Some(metrics_port)),
    )
    .unwrap();
    let relay = Relay::start(&config, &s.stderr);
    rsyslog.wait_for(100, WAIT);

    let mut body = String::new();
    let counted = wait_until(WAIT, || {
        body = http_get(metrics_port, "/metrics")
            .map(|r| r.1)
            .unwrap_or_default();
        sample(&body, "reaplog_messages_sent_total", "") == Some(100.0)
    });
    assert!(
        counted,
        "messages_sent_total is not 100:\n{body}\n{}",
        relay.log()
    );
    assert_eq!(
        sample(&body, "reaplog_lines_read_total", "a/*.log"),
        Some(100.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "reaplog_files_watched", ""),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "reaplog_messages_in_flight", ""),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "reaplog_lines_truncated_total", ""),
        Some(0.0),
        "{body}"
    );
    assert!(wait_until(WAIT, || {
        let b = http_get(metrics_port, "/metrics")
            .map(|r| r.1)
            .unwrap_or_default();
        sample(&b, "reaplog_file_lag_bytes", "app.log") == Some(0.0)
            && sample(&b, "reaplog_checkpoint_age_seconds", "").is_some_and(|a| a >= 0.0)
    }));
    assert_eq!(http_get(metrics_port, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(metrics_port, "/readyz").map(|r| r.0), Some(200));

    rsyslog.stop();
    append(&s.path("a/app.log"), &json_lines("a-", 100..101));
    let unready = wait_until(WAIT, || {
        http_get(metrics_port, "/readyz").map(|r| r.0) == Some(503)
    });
    assert!(
        unready,
        "/readyz stayed ready without a receiver\n{}",
        relay.log()
    );
    assert_eq!(http_get(metrics_port, "/healthz").map(|r| r.0), Some(200));
    rsyslog.restart();
    let ready = wait_until(WAIT, || {
        http_get(metrics_port, "/readyz").map(|r| r.0) == Some(200)
    });
    assert!(ready, "/readyz did not recover\n{}", relay.log());
}

/// SIGHUP with a config that adds a source: its files are shipped, and the
/// old source keeps its position (nothing sent twice). SIGHUP with an
/// invalid file: an error naming it, and the running config goes on.
#[test]
fn sighup_reloads_a_changed_source_and_rejects_an_invalid_file() {
    let s = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&s.pki));
    fs::create_dir_all(s.path("a")).unwrap();
    fs::create_dir_all(s.path("b")).unwrap();
    append(&s.path("a/app.log"), &json_lines("a-", 0..20));
    append(&s.path("b/other.log"), &json_lines("b-", 0..20));
    let config = s.path("relay.toml");
    fs::write(&config, config_text(&s, rsyslog.port(), &["a/*.log"], None)).unwrap();
    let relay = Relay::start(&config, &s.stderr);
    rsyslog.wait_for(20, WAIT);

    fs::write(
        &config,
        config_text(&s, rsyslog.port(), &["a/*.log", "b/*.log"], None),
    )
    .unwrap();
    relay.signal(libc::SIGHUP);
    let got = rsyslog.wait_for(40, WAIT);
    assert!(
        relay.log().contains("configuration reloaded"),
        "{}",
        relay.log()
    );

    fs::write(&config, "state_dir = \"/x\"\n[[source]]\nbogus_key = 1\n").unwrap();
    relay.signal(libc::SIGHUP);
    let rejected = wait_until(WAIT, || relay.log().contains("new config rejected"));
    assert!(rejected, "{}", relay.log());
    assert!(
        relay.log().contains("bogus_key") && relay.log().contains("relay.toml"),
        "{}",
        relay.log()
    );
    append(&s.path("a/app.log"), &json_lines("a-", 20..25));
    append(&s.path("b/other.log"), &json_lines("b-", 20..25));
    let got_after = rsyslog.wait_for(50, WAIT);
    assert!(got.len() <= got_after.len());
    let mut ids: Vec<String> = got_after.iter().filter_map(|r| id_of(&r.msg)).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "lines sent twice across the reload");
    assert_eq!(ids.len(), 50);
    assert!(Path::new(&s.path("state")).exists());
}

/// CPU ticks (1/100 s) the process has used so far: utime + stime.
fn cpu_ticks(pid: i32) -> u64 {
    Proc::read(pid).expect("the relay is running").cpu_ticks
}

/// An idle relay (connected, everything shipped) does not poll busily:
/// over two idle seconds it uses well under a tenth of a core. (A
/// checkpoint thread that spun once idle used 80 % of one.)
#[test]
fn an_idle_relay_uses_almost_no_cpu() {
    let s = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&s.pki));
    fs::create_dir_all(s.path("a")).unwrap();
    append(&s.path("a/app.log"), &json_lines("a-", 0..10));
    let config = s.path("relay.toml");
    fs::write(&config, config_text(&s, rsyslog.port(), &["a/*.log"], None)).unwrap();
    let relay = Relay::start(&config, &s.stderr);
    rsyslog.wait_for(10, WAIT);
    // Past the first checkpoint interval, so the idle state is the steady one.
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ticks(relay.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(relay.pid()) - before;
    assert!(
        used < 20,
        "idle relay used {used} CPU ticks in 2 s\n{}",
        relay.log()
    );
}
