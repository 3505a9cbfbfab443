//! The built-in GitLab preset: which files under a GitLab log directory are
//! shipped, and with which APP-NAME, MSGID, facility, default severity and
//! line format. Covers both layouts: CNG (Rails's files flat in the root,
//! `gitaly/gitaly.log`, `gitlab-shell/gitlab-shell.log`) and Omnibus (one
//! directory per component, runit `<service>/current` with svlogd's prefix).
//! docs/gitlab-preset.md has the same table for operators.

use std::path::{Component, Path};

use super::{FileRule, LineFormat};
use crate::relay::encode::syslog::{Facility, Severity};

/// A GitLab component, by the directory its logs live in.
#[derive(Clone, Copy)]
struct Known<'a> {
    dir: &'a str,
    app: &'a str,
    facility: Facility,
    /// Format of its runit `current` and of its `*.log` files not named
    /// `*_json.log` (nginx's `*_access.log`/`*_error.log` aside).
    format: LineFormat,
}

const fn known(
    dir: &'static str,
    app: &'static str,
    facility: Facility,
    format: LineFormat,
) -> Known<'static> {
    Known {
        dir,
        app,
        facility,
        format,
    }
}

/// Facilities follow the project's GitLab field notes' default mapping: local0 rails, local1
/// sidekiq, local2 workhorse, local3 gitaly/praefect, local4 gitlab-shell,
/// local5 nginx/pages/registry/kas, local6 postgresql/redis, local7 the rest.
#[rustfmt::skip]
const COMPONENTS: &[Known<'static>] = &[
    // CNG's /var/log/gitlab, when the relay's root is /var/log.
    known("gitlab",           "gitlab-rails",     Facility::Local0, LineFormat::Auto),
    RAILS,
    known("sidekiq",          "gitlab-sidekiq",   Facility::Local1, LineFormat::Auto),
    known("gitlab-workhorse", "gitlab-workhorse", Facility::Local2, LineFormat::Auto),
    known("gitaly",           "gitaly",           Facility::Local3, LineFormat::Auto),
    known("praefect",         "praefect",         Facility::Local3, LineFormat::Auto),
    known("gitlab-shell",     "gitlab-shell",     Facility::Local4, LineFormat::Auto),
    known("gitlab-sshd",      "gitlab-shell",     Facility::Local4, LineFormat::Auto),
    known("nginx",            "nginx",            Facility::Local5, LineFormat::NginxError),
    known("gitlab-pages",     "gitlab-pages",     Facility::Local5, LineFormat::Auto),
    known("registry",         "registry",         Facility::Local5, LineFormat::Auto),
    known("gitlab-kas",       "gitlab-kas",       Facility::Local5, LineFormat::Auto),
    known("postgresql",       "postgresql",       Facility::Local6, LineFormat::Postgres),
    known("geo-postgresql",   "postgresql",       Facility::Local6, LineFormat::Postgres),
    known("redis",            "redis",            Facility::Local6, LineFormat::Redis),
    known("sentinel",         "redis",            Facility::Local6, LineFormat::Redis),
    known("puma",             "puma",             Facility::Local7, LineFormat::Auto),
    known("mailroom",         "mailroom",         Facility::Local7, LineFormat::Auto),
];

const RAILS: Known<'static> = known(
    "gitlab-rails",
    "gitlab-rails",
    Facility::Local0,
    LineFormat::Auto,
);

/// Longest APP-NAME the preset makes: rsyslog's forwarding templates cut
/// the tag at 32.
const APP_NAME_MAX: usize = 32;

/// What kind of file a name is.
enum Kind<'a> {
    /// `<stem>.log`
    Log(&'a str),
    /// runit's `current`
    Current,
}

/// `None` for everything that is not a live log: svlogd's rotated `@…` and
/// its `lock`, `state`, `newstate`, `config`; logrotate's `*.log.1`,
/// `*.gz`, `*.log-20200114`; hidden files.
fn kind(name: &str) -> Option<Kind<'_>> {
    if name.starts_with(['@', '.']) {
        return None;
    }
    if name == "current" {
        return Some(Kind::Current);
    }
    name.strip_suffix(".log")
        .filter(|stem| !stem.is_empty())
        .map(Kind::Log)
}

/// The built-in GitLab preset. `rel` is the file's path relative to the
/// source root with the per-pod directory already removed, e.g.
/// `api_json.log`, `gitlab-rails/production_json.log`, `sidekiq/current`.
/// `None`: not a file to ship (rotated, state or non-log files), a path
/// deeper than `dir/file`, a root-level `current`, a hidden file or
/// directory, or a name that is not UTF-8.
pub fn gitlab_rule(rel: &Path) -> Option<FileRule> {
    let mut parts = rel.components().map(|c| match c {
        Component::Normal(s) => s.to_str(),
        _ => None,
    });
    let first = parts.next()??;
    let rule = match parts.next() {
        None => flat(first)?,
        Some(name) => in_dir(first, name?)?,
    };
    parts.next().is_none().then_some(rule)
}

/// A file in the root: CNG's Rails files, unless its stem names a component
/// (`gitaly.log`).
fn flat(name: &str) -> Option<FileRule> {
    let Kind::Log(stem) = kind(name)? else {
        return None;
    };
    let component = COMPONENTS
        .iter()
        .find(|c| c.dir == stem && c.dir != "gitlab")
        .unwrap_or(&RAILS);
    Some(log_rule(component, stem))
}

fn in_dir(dir: &str, name: &str) -> Option<FileRule> {
    // Hidden directories are not components: `.snapshot` (NFS), editors'.
    if dir.starts_with('.') {
        return None;
    }
    let kind = kind(name)?;
    // An unknown component is named after its directory.
    let component = COMPONENTS
        .iter()
        .find(|c| c.dir == dir)
        .copied()
        .unwrap_or(Known {
            dir,
            app: cut_chars(dir, APP_NAME_MAX),
            facility: Facility::Local7,
            format: LineFormat::Auto,
        });
    Some(match kind {
        Kind::Current => rule(
            &component,
            dir,
            Severity::Informational,
            component.format,
            true,
        ),
        Kind::Log(stem) => log_rule(&component, stem),
    })
}

/// A `<stem>.log` file of `component`.
fn log_rule(component: &Known<'_>, stem: &str) -> FileRule {
    let format = if stem.ends_with("_json") {
        LineFormat::Json
    } else if component.dir == "nginx" {
        nginx_format(stem)
    } else {
        component.format
    };
    // Every line of exceptions_json is an exception (it has a severity field
    // too; this covers lines that lost it).
    let severity = if stem == "exceptions_json" {
        Severity::Error
    } else {
        Severity::Informational
    };
    rule(component, stem, severity, format, false)
}

fn nginx_format(stem: &str) -> LineFormat {
    if stem == "access" || stem.ends_with("_access") {
        LineFormat::NginxAccess
    } else if stem == "error" || stem.ends_with("_error") {
        LineFormat::NginxError
    } else {
        LineFormat::Auto
    }
}

fn rule(
    component: &Known<'_>,
    msgid: &str,
    severity: Severity,
    format: LineFormat,
    svlogd: bool,
) -> FileRule {
    FileRule {
        app_name: component.app.to_owned(),
        msgid: msgid.to_owned(),
        facility: component.facility,
        default_severity: severity,
        format,
        svlogd_prefix: svlogd,
    }
}

/// The first `max` characters of `s`.
fn cut_chars(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}
