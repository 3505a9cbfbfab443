//! reaplog's integration tests, all in one test binary: `cargo test --test it`
//! runs them, `cargo test --test it relay_faults::` one module.
//!
//! | module              | covers                                                        |
//! |---------------------|---------------------------------------------------------------|
//! | [`cli`]             | the dispatcher: `reaplog install`, usage errors               |
//! | [`init`]            | `reaplog init`: exit codes, signal forwarding, signal state, parent death, the terminal |
//! | [`init_reaping`]    | `reaplog init` as a reaper: orphans, zombie storms, leftovers, GPGME |
//! | [`container`]       | the FROM-scratch image under podman, reaplog as PID 1         |
//! | [`k8s`]             | the manifests under `k8s/`, rendered and checked offline      |
//! | [`monitoring`]      | the alert rules and Grafana dashboard, against promtool and the metrics the relay writes |
//! | [`relay_rsyslog`]   | a GitLab tree shipped to a real rsyslog exactly once          |
//! | [`relay_processing`] | `[redact]`, `[[drop]]` and `[structured_data]` as a real rsyslog receives them |
//! | [`relay_relp`]      | RELP delivery, receiver restarts, the resend window           |
//! | [`relay_errors`]    | TLS that must not verify, a receiver that is down, bad config, `--check`, `--demo` |
//! | [`relay_ops`]       | metrics, `/readyz`, SIGHUP reloads, idle CPU                  |
//! | [`relay_faults`]    | kill -9, receiver restarts and stalls, network and local faults |
//! | [`relay_scale`]     | identity across a remount (loop devices), the open-file budget |
//! | [`rsyslog_harness`] | the support tree itself against the real rsyslogd            |
//! | [`tail_model`]      | the tailer against a model of a rotated log file (proptest)   |
//!
//! [`support`] is the one support tree every module uses.
//!
//! The tests run in parallel threads of this one process (cargo's default:
//! one per core). So no test changes process-wide state (environment,
//! current directory, signal dispositions, umask): every test owns its temp
//! directories and loopback ports, reads the environment only, and ends the
//! processes it started by their PIDs.

mod support;

mod cli;
mod container;
mod docs;
mod init;
mod init_reaping;
mod k8s;
mod monitoring;
mod relay_errors;
mod relay_failover;
mod relay_faults;
mod relay_ops;
mod relay_processing;
mod relay_relp;
mod relay_replicas;
mod relay_rsyslog;
mod relay_scale;
mod rsyslog_harness;
mod tail_model;
