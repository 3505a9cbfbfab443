//! reaplog's integration tests: one test binary (`cargo test --test it`).

mod support;

mod cli;
mod container;
mod init;
mod init_reaping;
mod k8s;
mod relay_errors;
mod relay_faults;
mod relay_ops;
mod relay_relp;
mod relay_rsyslog;
mod rsyslog_harness;
mod tail_model;
