//! End to end: the relay binary ships a per-pod GitLab tree to a real rsyslog
//! (Debian's rsyslog + rsyslog-gnutls, imtcp over TLS, x509/name auth with
//! PermittedPeer) through every kind of rotation and a restart, and every
//! line arrives exactly once with the HOSTNAME, APP-NAME, MSGID, facility and
//! severity the GitLab preset promises.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::certs::SERVER_NAME;
use crate::support::relay::{
    append, gitlab_source, id_of, relay_config, tls_output, Expected, Fixture, Ledger, Relay,
};
use crate::support::rsyslog::{Input, Options, Received, Rsyslog};
use crate::support::wait_until;

const WAIT: Duration = Duration::from_secs(30);

fn write_config(fx: &Fixture, port: u16, server_name: &str, ca: &Path) {
    write_config_at(fx, &fx.config, &fx.state, "", port, server_name, ca);
}

/// A config at `path` with its own `state` dir and `extra` top-level keys.
fn write_config_at(
    fx: &Fixture,
    path: &Path,
    state: &Path,
    extra: &str,
    port: u16,
    server_name: &str,
    ca: &Path,
) {
    let top = format!("{extra}\npartial_line_timeout = \"5s\"\n");
    let output = tls_output(port, ca, &fx.pki, Some(server_name));
    let text = relay_config(state, &top, &gitlab_source(&fx.root), &output);
    fs::write(path, text).unwrap();
}

/// A GitLab log file of one pod, and what its lines must look like at the receiver.
struct LogFile {
    path: PathBuf,
    hostname: &'static str,
    app_name: &'static str,
    msgid: &'static str,
    facility: u8,
    kind: Kind,
    next: usize,
}

#[derive(Clone, Copy)]
enum Kind {
    /// Rails JSON with a `severity` field.
    RailsJson,
    /// Lograge JSON: severity from `status`.
    Lograge,
    /// svlogd `current` with a JSON payload carrying `severity`.
    SvlogdSidekiq,
    /// svlogd `current` with a Go JSON payload carrying `level`.
    SvlogdGitaly,
    /// nginx access log: severity from the status code.
    NginxAccess,
}

/// One kind of GitLab log file as the preset sees it: its path in the pod
/// directory, APP-NAME, MSGID, facility and line format.
type Spec = (&'static str, &'static str, &'static str, u8, Kind);

const API_JSON: Spec = (
    "api_json.log",
    "gitlab-rails",
    "api_json",
    16,
    Kind::RailsJson,
);
const PRODUCTION_JSON: Spec = (
    "production_json.log",
    "gitlab-rails",
    "production_json",
    16,
    Kind::Lograge,
);
const APPLICATION_JSON: Spec = (
    "application_json.log",
    "gitlab-rails",
    "application_json",
    16,
    Kind::RailsJson,
);
const SIDEKIQ: Spec = (
    "sidekiq/current",
    "gitlab-sidekiq",
    "sidekiq",
    17,
    Kind::SvlogdSidekiq,
);
const GITALY: Spec = ("gitaly/current", "gitaly", "gitaly", 19, Kind::SvlogdGitaly);
const NGINX_ACCESS: Spec = (
    "nginx/gitlab_access.log",
    "nginx",
    "gitlab_access",
    21,
    Kind::NginxAccess,
);

impl LogFile {
    /// The file `spec` of pod `hostname` (its directory under `root`).
    fn new(root: &Path, hostname: &'static str, spec: Spec) -> LogFile {
        let (rel, app_name, msgid, facility, kind) = spec;
        LogFile {
            path: root.join(hostname).join(rel),
            hostname,
            app_name,
            msgid,
            facility,
            kind,
            next: 0,
        }
    }

    /// Writes `n` numbered lines cycling through severities, and records them.
    fn write(&mut self, ledger: &mut Ledger, n: usize) {
        let mut text = String::new();
        for _ in 0..n {
            let (line, severity) = self.line(ledger, None);
            let _ = severity;
            text.push_str(&line);
            text.push('\n');
        }
        append(&self.path, &text);
    }

    /// Writes one line whose payload carries `extra` (long or multi-byte text).
    fn write_with(&mut self, ledger: &mut Ledger, extra: &str, truncated: bool) {
        let (line, _) = self.line(ledger, Some((extra, truncated)));
        append(&self.path, &format!("{line}\n"));
    }

    fn line(&mut self, ledger: &mut Ledger, extra: Option<(&str, bool)>) -> (String, u8) {
        let i = self.next;
        self.next += 1;
        let id = format!("{}/{}/{}", self.hostname, self.msgid, i);
        let (extra, truncated) = extra.unwrap_or(("", false));
        let (payload, severity) = match self.kind {
            Kind::RailsJson => {
                let (name, sev) = [
                    ("INFO", 6),
                    ("WARN", 4),
                    ("ERROR", 3),
                    ("DEBUG", 7),
                    ("FATAL", 2),
                ][i % 5];
                (
                    format!(
                        r#"{{"severity":"{name}","time":"2026-11-25T09:14:03.512Z","message":"id={id} {extra}","meta.user":"zoë"}}"#
                    ),
                    sev,
                )
            }
            Kind::Lograge => {
                let (status, sev) = [(200, 6), (503, 3), (404, 5), (302, 6)][i % 4];
                (
                    format!(
                        r#"{{"method":"GET","path":"/x?id={id}","status":{status},"time":"2026-11-25T09:14:05.220Z","note":"{extra}"}}"#
                    ),
                    sev,
                )
            }
            Kind::SvlogdSidekiq => {
                let (name, sev) = [("INFO", 6), ("WARN", 4), ("ERROR", 3)][i % 3];
                (
                    format!(
                        r#"2026-11-25_09:14:07.11731 {{"severity":"{name}","time":"2026-11-25T09:14:07.117Z","class":"UpdateMergeRequestsWorker","message":"id={id} {extra}"}}"#
                    ),
                    sev,
                )
            }
            Kind::SvlogdGitaly => {
                let (name, sev) = [("info", 6), ("warning", 4), ("error", 3)][i % 3];
                (
                    format!(
                        r#"2026-11-25_09:14:09.00045 {{"level":"{name}","msg":"id={id} {extra}","grpc.method":"FindCommit","time":"2026-11-25T09:14:09.000Z"}}"#
                    ),
                    sev,
                )
            }
            Kind::NginxAccess => {
                let (status, sev) = [(200, 6), (502, 3), (404, 5)][i % 3];
                (
                    format!(
                        r#"10.128.4.22 - - [25/Nov/2026:09:14:10 +0000] "GET /id={id} HTTP/1.1" {status} 48213 "-" "Mozilla/5.0 {extra}" 0.319"#
                    ),
                    sev,
                )
            }
        };
        // The svlogd prefix is stripped: MSG starts with the payload after it.
        let msg = match self.kind {
            Kind::SvlogdSidekiq | Kind::SvlogdGitaly => payload[26..].to_owned(),
            _ => payload.clone(),
        };
        let msg_prefix: String = if truncated {
            msg.chars().take(200).collect()
        } else {
            msg
        };
        ledger.expect(
            id,
            Expected {
                hostname: self.hostname.to_owned(),
                app_name: self.app_name.to_owned(),
                msgid: self.msgid.to_owned(),
                facility: self.facility,
                severity,
                msg_prefix,
                truncated,
            },
        );
        (payload, severity)
    }
}

/// Checks that every ledger line arrived exactly once with its fields, and
/// nothing else arrived.
fn assert_exactly_once(ledger: &Ledger, got: &[Received]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in got {
        let id = id_of(&r.msg).unwrap_or_else(|| panic!("message without id: {r:?}"));
        *seen.entry(id.clone()).or_default() += 1;
        let e = ledger
            .lines
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected message {id}: {r:?}"));
        assert_eq!(
            (
                r.hostname.as_str(),
                r.app_name.as_str(),
                r.msgid.as_str(),
                r.facility,
                r.severity
            ),
            (
                e.hostname.as_str(),
                e.app_name.as_str(),
                e.msgid.as_str(),
                e.facility,
                e.severity
            ),
            "fields of {id}: {r:?}"
        );
        assert!(
            r.msg.starts_with(&e.msg_prefix),
            "{id}: MSG {:?} does not start with {:?}",
            r.msg,
            e.msg_prefix
        );
        if e.truncated {
            assert!(
                r.msg.len() < 8096 && r.msg.contains("truncated"),
                "{id}: long line not cut and marked: {} bytes",
                r.msg.len()
            );
        }
        assert_eq!(r.procid, "-");
        assert_eq!(r.structured_data, "-");
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicated lines: {dups:?}");
    let missing: Vec<_> = ledger
        .lines
        .keys()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost lines: {missing:?}");
}

fn wait_all(rsyslog: &Rsyslog, ledger: &Ledger, relay: &Relay) -> Vec<Received> {
    let want = ledger.lines.len();
    if !wait_until(WAIT, || rsyslog.messages().len() >= want) {
        panic!(
            "rsyslog has {} of {want} messages\nrelay log:\n{}\nrsyslog:\n{}",
            rsyslog.messages().len(),
            relay.log(),
            rsyslog.diagnostics()
        );
    }
    // Anything extra (a duplicate) would arrive right behind: give it a moment
    // by waiting for the relay's own report that its queue is empty.
    rsyslog.messages()
}

/// The issue's end-to-end scenario, in phases; see the module doc.
#[test]
fn ships_a_gitlab_tree_exactly_once_through_rotations_and_a_restart() {
    let fx = Fixture::new();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    write_config(&fx, rsyslog.port(), SERVER_NAME, &fx.pki.ca);
    let mut ledger = Ledger::default();
    let root = fx.root.clone();
    let mut api = LogFile::new(&root, "web-0", API_JSON);
    let mut prod = LogFile::new(&root, "web-0", PRODUCTION_JSON);
    let mut app = LogFile::new(&root, "web-0", APPLICATION_JSON);
    let mut sidekiq = LogFile::new(&root, "sidekiq-0", SIDEKIQ);
    let mut gitaly = LogFile::new(&root, "gitaly-0", GITALY);
    let mut nginx = LogFile::new(&root, "nginx-0", NGINX_ACCESS);

    // Phase 1: existing files, long and multi-byte lines, a line split across writes.
    for f in [
        &mut api,
        &mut prod,
        &mut app,
        &mut sidekiq,
        &mut gitaly,
        &mut nginx,
    ] {
        f.write(&mut ledger, 40);
    }
    api.write_with(&mut ledger, &"x".repeat(20_000), true);
    api.write_with(&mut ledger, "zoë ünïcödé 日本語 🚀 Ελληνικά", false);
    sidekiq.write_with(&mut ledger, &"é".repeat(6_000), true);
    let mut relay = fx.start_relay();
    let got = wait_all(&rsyslog, &ledger, &relay);
    assert_exactly_once(&ledger, &got);
    // A line written in two pieces arrives as one.
    let (head, tail) = {
        let mut probe = Ledger::default();
        let (line, _) = nginx.line(&mut probe, None);
        ledger.lines.extend(probe.lines);
        let cut = line.len() / 2;
        (line[..cut].to_owned(), format!("{}\n", &line[cut..]))
    };
    append(&nginx.path, &head);
    std::thread::sleep(Duration::from_millis(150)); // let the relay see the half line (it must wait)
    append(&nginx.path, &tail);

    // Phase 2: every kind of rotation while running.
    // logrotate create: rename, the app writes a little more to the old file, then a new file.
    fs::rename(&api.path, root.join("web-0/api_json.log.1")).unwrap();
    let old_api = api.path.clone();
    api.path = root.join("web-0/api_json.log.1");
    api.write(&mut ledger, 5);
    api.path = old_api;
    api.write(&mut ledger, 30);
    // svlogd: current -> @<tai64n>.s, new current.
    fs::rename(
        &sidekiq.path,
        root.join("sidekiq-0/sidekiq/@400000006744a1b20a3c1d2e.s"),
    )
    .unwrap();
    sidekiq.write(&mut ledger, 30);
    // copytruncate, once the relay has everything of the file (the copy is never read).
    let got = wait_all(&rsyslog, &ledger, &relay);
    assert_exactly_once(&ledger, &got);
    fs::copy(&prod.path, root.join("web-0/production_json.log.1")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&prod.path)
        .unwrap();
    prod.write(&mut ledger, 3);
    // CNG-style truncate in place, then more lines.
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&gitaly.path)
        .unwrap();
    gitaly.write(&mut ledger, 25);
    // delete: lines written just before the file goes are still read through the open file.
    app.write(&mut ledger, 20);
    fs::remove_file(&app.path).unwrap();
    // a new pod appears
    let mut web1 = LogFile::new(&root, "web-1", API_JSON);
    web1.write(&mut ledger, 15);
    let got = wait_all(&rsyslog, &ledger, &relay);
    assert_exactly_once(&ledger, &got);

    // Phase 3: a restart in the middle: SIGTERM drains and checkpoints,
    // lines written while the relay is down are shipped after it starts again.
    nginx.write(&mut ledger, 200);
    let status = relay
        .stop(Duration::from_secs(20))
        .expect("relay exit status");
    assert!(
        status.success(),
        "relay exited with {status:?}\n{}",
        relay.log()
    );
    for f in [
        &mut api,
        &mut prod,
        &mut sidekiq,
        &mut gitaly,
        &mut nginx,
        &mut web1,
    ] {
        f.write(&mut ledger, 25);
    }
    let mut relay = fx.start_relay();
    let got = wait_all(&rsyslog, &ledger, &relay);
    // Quiet for a moment: nothing more may arrive (no duplicate after the restart).
    std::thread::sleep(Duration::from_millis(500));
    let got_after = rsyslog.messages();
    assert_eq!(
        got.len(),
        got_after.len(),
        "extra messages arrived after all were delivered"
    );
    assert_exactly_once(&ledger, &got_after);
    let status = relay
        .stop(Duration::from_secs(20))
        .expect("relay exit status");
    assert!(status.success(), "{}", relay.log());
    rsyslog.stop();
}

/// Lines written just before a rotation that happened while the relay was
/// stopped are shipped from the rotated copy after the restart: logrotate's
/// rename, svlogd's `current` → `@….s`, and a copytruncate copy (found by
/// its fingerprint). Nothing is lost and nothing is sent twice.
#[test]
fn finishes_files_rotated_while_the_relay_was_down() {
    let fx = Fixture::new();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    write_config(&fx, rsyslog.port(), SERVER_NAME, &fx.pki.ca);
    let mut ledger = Ledger::default();
    let root = fx.root.clone();
    let mut api = LogFile::new(&root, "web-0", API_JSON);
    let mut prod = LogFile::new(&root, "web-0", PRODUCTION_JSON);
    let mut sidekiq = LogFile::new(&root, "sidekiq-0", SIDEKIQ);
    for f in [&mut api, &mut prod, &mut sidekiq] {
        f.write(&mut ledger, 20);
    }
    let mut relay = fx.start_relay();
    wait_all(&rsyslog, &ledger, &relay);
    let status = relay
        .stop(Duration::from_secs(20))
        .expect("relay exit status");
    assert!(status.success(), "{}", relay.log());

    // While the relay is down: more lines, then each kind of rotation, then new files.
    for f in [&mut api, &mut prod, &mut sidekiq] {
        f.write(&mut ledger, 15);
    }
    fs::rename(&api.path, root.join("web-0/api_json.log.1")).unwrap();
    fs::rename(
        &sidekiq.path,
        root.join("sidekiq-0/sidekiq/@400000006744a1b20a3c1d2e.s"),
    )
    .unwrap();
    fs::copy(&prod.path, root.join("web-0/production_json.log.1")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&prod.path)
        .unwrap();
    for f in [&mut api, &mut prod, &mut sidekiq] {
        f.write(&mut ledger, 10);
    }

    let mut relay = fx.start_relay();
    let got = wait_all(&rsyslog, &ledger, &relay);
    assert_exactly_once(&ledger, &got);
    assert!(
        relay
            .log()
            .matches("finishing a rotated copy of a file")
            .count()
            == 3,
        "expected three recovered files:\n{}",
        relay.log()
    );
    let status = relay
        .stop(Duration::from_secs(20))
        .expect("relay exit status");
    assert!(status.success(), "{}", relay.log());
    rsyslog.stop();
}

/// Two replicas over one tree, `shard = "0/2"` and the StatefulSet-style
/// `shard = "relay-1/2"`, each with its own checkpoints: every pod's lines
/// arrive exactly once, and each replica ships some pods.
#[test]
fn two_shards_ship_every_line_exactly_once() {
    let fx = Fixture::new();
    let rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    let mut ledger = Ledger::default();
    const PODS: [&str; 8] = [
        "web-0", "web-1", "web-2", "web-3", "web-4", "web-5", "web-6", "web-7",
    ];
    for pod in PODS {
        let mut f = LogFile::new(&fx.root, pod, API_JSON);
        f.write(&mut ledger, 30);
    }
    let dir = fx.dir();
    let mut relays = Vec::new();
    for (i, shard) in ["0/2", "relay-1/2"].iter().enumerate() {
        let config = dir.join(format!("relay-{i}.toml"));
        let state = dir.join(format!("state-{i}"));
        write_config_at(
            &fx,
            &config,
            &state,
            &format!("shard = \"{shard}\""),
            rsyslog.port(),
            SERVER_NAME,
            &fx.pki.ca,
        );
        relays.push(Relay::start(
            &config,
            &dir.join(format!("relay-{i}.stderr")),
        ));
    }
    let got = wait_all(&rsyslog, &ledger, &relays[0]);
    std::thread::sleep(Duration::from_millis(500)); // a second copy would arrive right behind
    let got_after = rsyslog.messages();
    assert_eq!(got.len(), got_after.len(), "extra messages arrived");
    assert_exactly_once(&ledger, &got_after);
    for (i, relay) in relays.iter().enumerate() {
        let tailed = relay.log().matches("tailing").count();
        assert!(
            tailed > 0 && tailed < PODS.len(),
            "relay {i} tailed {tailed} of {} pods",
            PODS.len()
        );
    }
    for mut relay in relays {
        let status = relay
            .stop(Duration::from_secs(20))
            .expect("relay exit status");
        assert!(status.success(), "{}", relay.log());
    }
}

/// copytruncate while the relay runs, right after lines were written: the
/// lines the relay had not read yet before the truncation are shipped from
/// logrotate's copy, found by its fingerprint; nothing is sent twice.
#[test]
fn copytruncate_right_after_a_write_loses_nothing() {
    let fx = Fixture::new();
    let mut rsyslog = Rsyslog::start(Options::new(Input::tls()).pki(&fx.pki));
    write_config(&fx, rsyslog.port(), SERVER_NAME, &fx.pki.ca);
    // Polling only, and slowly: each write + copytruncate below happens
    // between two polls, so the relay must take the lines from the copy.
    let text = fs::read_to_string(&fx.config).unwrap();
    let text = text.replace("watch = \"auto\"", "watch = \"poll\"");
    fs::write(
        &fx.config,
        text.replace("poll_interval = \"100ms\"", "poll_interval = \"700ms\""),
    )
    .unwrap();
    let mut ledger = Ledger::default();
    let root = fx.root.clone();
    let mut prod = LogFile::new(&root, "web-0", PRODUCTION_JSON);
    prod.write(&mut ledger, 10);
    let mut relay = fx.start_relay();
    wait_all(&rsyslog, &ledger, &relay);
    // One rotation per round, as logrotate does (rotations faster than the
    // relay polls would leave intermediate copies nobody reads).
    for round in 1..=4 {
        prod.write(&mut ledger, 50 + round);
        let copy = root.join(format!("web-0/production_json.log.{round}"));
        fs::copy(&prod.path, copy).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&prod.path)
            .unwrap();
        prod.write(&mut ledger, round);
        wait_all(&rsyslog, &ledger, &relay);
    }
    let got = wait_all(&rsyslog, &ledger, &relay);
    std::thread::sleep(Duration::from_millis(500)); // a duplicate would arrive right behind
    assert_eq!(
        got.len(),
        rsyslog.messages().len(),
        "extra messages arrived"
    );
    assert_exactly_once(&ledger, &rsyslog.messages());
    let copies = relay
        .log()
        .matches("finishing a rotated copy of a file")
        .count();
    eprintln!("copytruncate: {copies} of 4 rotations needed the copy");
    assert!(
        copies >= 4,
        "the race this test is about did not happen ({copies} of 8)"
    );
    let status = relay
        .stop(Duration::from_secs(20))
        .expect("relay exit status");
    assert!(status.success(), "{}", relay.log());
    rsyslog.stop();
}
