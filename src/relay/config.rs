//! The relay's TOML configuration: parsing, `${ENV}` expansion and validation.
//!
//! Every error names the file and the key (toml's messages carry the line,
//! the column and a snippet; ours add the key path where a check spans keys).
//! Unknown keys are errors: a typo must not silently fall back to a default.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

// Durations in reaplog's one grammar (src/duration.rs), shared by init and relay.
use crate::duration::parse as parse_duration;

use serde::{Deserialize, Deserializer};

mod processing;

pub(super) use processing::{Drop, Redact, StructuredData};

use crate::relay::encode::classify::LineFormat;
use crate::relay::encode::process::Processing;
use crate::relay::encode::rfc5424::{DEFAULT_MAX_MESSAGE_SIZE, MIN_MAX_MESSAGE_SIZE};
use crate::relay::encode::syslog::{Facility, Severity};

/// A configuration that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole relay configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Config {
    /// Directory for checkpoints; must lie outside every watched tree.
    #[serde(deserialize_with = "expanded_path")]
    pub state_dir: PathBuf,
    /// HOSTNAME for sources without per-pod directories; defaults to
    /// `POD_NAME`, then `HOSTNAME`, then the kernel's host name.
    #[serde(default, deserialize_with = "expanded_opt")]
    pub hostname: Option<String>,
    /// Emit a partial last line after the file has been idle this long.
    #[serde(
        default = "default_partial_line_timeout",
        deserialize_with = "duration"
    )]
    pub partial_line_timeout: Duration,
    /// How long SIGTERM may take to drain the output and write the final
    /// checkpoint before the relay gives up (unsent lines are re-read on restart).
    #[serde(default = "default_shutdown_timeout", deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// `"i/n"`: this replica ships only the pod directories (or files) whose
    /// stable hash modulo n is i, so n relays over one volume never ship a
    /// file twice. `i` may be a StatefulSet pod name ending in `-i`.
    #[serde(default, deserialize_with = "shard")]
    pub shard: Option<Shard>,
    /// Log files held open at most; idle files beyond it are closed and
    /// reopened when they change. Lowered, with a warning, to what
    /// RLIMIT_NOFILE allows.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Prometheus `/metrics`, `/healthz` and `/readyz`.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// The files to ship.
    #[serde(rename = "source")]
    pub sources: Vec<Source>,
    /// Where lines go.
    pub output: Output,
    /// Secrets replaced in MSG before it is encoded (on by default).
    #[serde(default)]
    pub redact: Redact,
    /// Lines read and confirmed but not shipped.
    #[serde(default, rename = "drop")]
    pub drops: Vec<Drop>,
    /// One static SD-ELEMENT on every message.
    #[serde(default)]
    pub structured_data: Option<StructuredData>,
    /// The three sections above, compiled by [`Config::parse`].
    #[serde(skip)]
    pub processing: Processing,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Metrics {
    /// `host:port` to serve on, e.g. `0.0.0.0:9110`.
    #[serde(deserialize_with = "expanded")]
    pub listen: String,
}

/// Replica `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    /// `"1/3"`, or `"reaplog-relay-1/3"` (a StatefulSet pod name).
    fn from_str(s: &str) -> Result<Shard, String> {
        let (index, count) = s
            .rsplit_once('/')
            .ok_or_else(|| format!("shard {s:?}: expected \"INDEX/COUNT\", e.g. \"0/2\""))?;
        let count: u64 = count
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("shard {s:?}: COUNT must be a whole number above 0"))?;
        let digits = index.trim().rsplit('-').next().unwrap_or_default();
        let index: u64 = digits.parse().map_err(|_| {
            format!("shard {s:?}: INDEX must be a number or a pod name ending in -NUMBER")
        })?;
        if index >= count {
            return Err(format!("shard {s:?}: INDEX must be below COUNT"));
        }
        Ok(Shard { index, count })
    }
}

/// One `[[source]]`: a preset over a root, or plain glob patterns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Source {
    /// `"gitlab"`: the built-in mapping of GitLab's files (docs/gitlab-preset.md).
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Recursive root directory (with a preset).
    #[serde(default, deserialize_with = "expanded_opt_path")]
    pub root: Option<PathBuf>,
    /// The first directory under `root` is the pod's name and the HOSTNAME.
    #[serde(default)]
    pub per_pod_dirs: bool,
    /// Glob patterns (plain sources).
    #[serde(default, deserialize_with = "expanded_vec")]
    pub paths: Vec<String>,
    /// APP-NAME of a plain source.
    #[serde(default, deserialize_with = "expanded_opt")]
    pub app_name: Option<String>,
    /// MSGID of a plain source; default: the file stem.
    #[serde(default, deserialize_with = "expanded_opt")]
    pub msgid: Option<String>,
    /// Facility of a plain source.
    #[serde(default, deserialize_with = "parsed_opt")]
    pub facility: Option<Facility>,
    /// Default severity of a plain source.
    #[serde(default, deserialize_with = "parsed_opt")]
    pub severity: Option<Severity>,
    /// Line format of a plain source (where per-line severity comes from).
    #[serde(default, deserialize_with = "parsed_opt")]
    pub format: Option<LineFormat>,
    /// `auto`: inotify hints plus the periodic rescan; `poll`: rescan only
    /// (network filesystems, where inotify misses other clients' writes).
    #[serde(default)]
    pub watch: Watch,
    /// How often files are polled for new data and the tree rescanned.
    #[serde(default = "default_poll_interval", deserialize_with = "duration")]
    pub poll_interval: Duration,
    /// Where to start in files that no checkpoint knows, at the relay's first
    /// start. Files created later are always read from their beginning.
    #[serde(default)]
    pub start_at: StartAt,
}

/// Built-in classification presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Preset {
    Gitlab,
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Watch {
    #[default]
    Auto,
    Poll,
}

/// Where reading starts in a file never seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum StartAt {
    #[default]
    Beginning,
    End,
}

/// `[output]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum Output {
    /// RFC 5425: octet-counted RFC 5424 over TLS, verified against `ca_file`.
    Tls {
        /// One `host:port` or a list of them, tried in order ([`Link`]).
        address: Addresses,
        #[serde(deserialize_with = "expanded_path")]
        ca_file: PathBuf,
        #[serde(default, deserialize_with = "expanded_opt_path")]
        cert_file: Option<PathBuf>,
        #[serde(default, deserialize_with = "expanded_opt_path")]
        key_file: Option<PathBuf>,
        #[serde(default, deserialize_with = "expanded_opt")]
        server_name: Option<String>,
        #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
        connect_timeout: Duration,
        #[serde(default = "default_write_timeout", deserialize_with = "duration")]
        write_timeout: Duration,
        #[serde(default = "default_failback_after", deserialize_with = "duration")]
        failback_after: Duration,
        #[serde(default = "default_max_message_size")]
        max_message_size: usize,
        /// Bytes of frames written whose lines are kept (as file ranges)
        /// for a resend after a broken connection (see [`ResendWindow`]).
        #[serde(default = "default_resend_window_bytes")]
        resend_window_bytes: usize,
        /// Age after which a written batch is confirmed on a healthy connection.
        #[serde(default = "default_resend_window_time", deserialize_with = "duration")]
        resend_window_time: Duration,
    },
    /// Octet-counted RFC 5424 over plain TCP: no encryption, no
    /// authentication. For tests and trusted loopback only.
    Tcp {
        address: Addresses,
        #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
        connect_timeout: Duration,
        #[serde(default = "default_write_timeout", deserialize_with = "duration")]
        write_timeout: Duration,
        #[serde(default = "default_failback_after", deserialize_with = "duration")]
        failback_after: Duration,
        #[serde(default = "default_max_message_size")]
        max_message_size: usize,
        /// Bytes of frames written whose lines are kept (as file ranges)
        /// for a resend after a broken connection (see [`ResendWindow`]).
        #[serde(default = "default_resend_window_bytes")]
        resend_window_bytes: usize,
        /// Age after which a written batch is confirmed on a healthy connection.
        #[serde(default = "default_resend_window_time", deserialize_with = "duration")]
        resend_window_time: Duration,
    },
    /// RELP (rsyslog's imrelp), plain or inside TLS: every message is
    /// acknowledged by the server before its offset is confirmed.
    Relp {
        address: Addresses,
        /// RELP inside TLS; then `ca_file` is required, and the other keys
        /// mean what they mean for `type = "tls"`.
        #[serde(default)]
        tls: bool,
        #[serde(default, deserialize_with = "expanded_opt_path")]
        ca_file: Option<PathBuf>,
        #[serde(default, deserialize_with = "expanded_opt_path")]
        cert_file: Option<PathBuf>,
        #[serde(default, deserialize_with = "expanded_opt_path")]
        key_file: Option<PathBuf>,
        #[serde(default, deserialize_with = "expanded_opt")]
        server_name: Option<String>,
        /// Commands sent and not yet answered, at most (rsyslog's omrelp
        /// default is 128 too).
        #[serde(default = "default_relp_window")]
        window: usize,
        #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
        connect_timeout: Duration,
        #[serde(default = "default_write_timeout", deserialize_with = "duration")]
        write_timeout: Duration,
        #[serde(default = "default_failback_after", deserialize_with = "duration")]
        failback_after: Duration,
        #[serde(default = "default_max_message_size")]
        max_message_size: usize,
    },
    /// Frames on standard output, one per line: debugging and the demo.
    Stdout {
        #[serde(default = "default_max_message_size")]
        max_message_size: usize,
    },
}

/// The resend window of the stream outputs (`tls`, `tcp`): RFC 5425 has no
/// acknowledgement, so the most recent written batches stay in memory and are
/// written again after a reconnect. A batch is confirmed once it leaves the
/// window (docs/delivery.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ResendWindow {
    /// Bytes of written batches kept; a batch pushed out by newer data
    /// written on the same healthy connection is confirmed.
    pub bytes: usize,
    /// A batch this old is confirmed if the connection is still healthy and
    /// the peer's TCP has acknowledged every byte.
    pub time: Duration,
}

/// `[output] address`: one `"host:port"` or a list of them, in the order
/// they are tried. Each entry is `${ENV}`-expanded on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Addresses(pub Vec<String>);

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Addresses, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let raw = match OneOrMany::deserialize(d).map_err(|_| {
            serde::de::Error::custom("output.address: expected \"host:port\" or a list of them")
        })? {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(list) => list,
        };
        if raw.is_empty() {
            return Err(serde::de::Error::custom(
                "output.address: the list is empty: give at least one \"host:port\"",
            ));
        }
        let list = raw
            .iter()
            .map(|a| expand_env(a, env_lookup).map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, a) in list.iter().enumerate() {
            if list[..i].contains(a) {
                return Err(serde::de::Error::custom(format!(
                    "output.address: {a:?} is listed twice"
                )));
            }
        }
        Ok(Addresses(list))
    }
}

/// How the network outputs use their targets (the `address` list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    pub addresses: Vec<String>,
    /// Bounds the TCP connect plus the TLS handshake (and RELP `open`), per
    /// resolved address.
    pub connect_timeout: Duration,
    /// A connection on which the peer acknowledged no byte for this long
    /// while data waits is given up.
    pub write_timeout: Duration,
    /// On a later target this long, the first one is tried again.
    pub failback_after: Duration,
}

impl Output {
    /// The targets and their timeouts; `None` for `stdout`.
    pub(super) fn link(&self) -> Option<Link> {
        match self {
            Output::Tls {
                address,
                connect_timeout,
                write_timeout,
                failback_after,
                ..
            }
            | Output::Tcp {
                address,
                connect_timeout,
                write_timeout,
                failback_after,
                ..
            }
            | Output::Relp {
                address,
                connect_timeout,
                write_timeout,
                failback_after,
                ..
            } => Some(Link {
                addresses: address.0.clone(),
                connect_timeout: *connect_timeout,
                write_timeout: *write_timeout,
                failback_after: *failback_after,
            }),
            Output::Stdout { .. } => None,
        }
    }

    /// The largest SYSLOG-MSG sent, in octets.
    pub(super) fn max_message_size(&self) -> usize {
        match self {
            Output::Tls {
                max_message_size, ..
            }
            | Output::Tcp {
                max_message_size, ..
            }
            | Output::Relp {
                max_message_size, ..
            }
            | Output::Stdout { max_message_size } => *max_message_size,
        }
    }

    /// The resend window of `tls` and `tcp`; `None` for the others.
    pub(super) fn resend_window(&self) -> Option<ResendWindow> {
        match self {
            Output::Tls {
                resend_window_bytes,
                resend_window_time,
                ..
            }
            | Output::Tcp {
                resend_window_bytes,
                resend_window_time,
                ..
            } => Some(ResendWindow {
                bytes: *resend_window_bytes,
                time: *resend_window_time,
            }),
            Output::Relp { .. } | Output::Stdout { .. } => None,
        }
    }
}

/// What one connection holds when its receiver stops reading is the
/// sender's autotuned send buffer (Linux's default tcp_wmem max is 4 MiB)
/// plus what the receiver's buffer took; twice that, for the receiver's own
/// read buffers and a remote link with larger buffers.
fn default_resend_window_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_resend_window_time() -> Duration {
    Duration::from_secs(10)
}
/// Long enough for a loaded receiver's handshake across a region, short
/// enough that a half-open peer holds the relay seconds, not forever.
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
/// Above a receiver's usual pauses (a GC, a queue flush to disk), below the
/// minutes TCP's own retransmission takes to give up on a dead peer.
fn default_write_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_failback_after() -> Duration {
    Duration::from_secs(300)
}
fn default_relp_window() -> usize {
    128
}

fn default_partial_line_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_max_open_files() -> usize {
    1024
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_message_size() -> usize {
    DEFAULT_MAX_MESSAGE_SIZE
}

impl Config {
    /// Reads and validates `path`.
    pub(super) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and validates configuration text; the error is a message that
    /// names the key.
    pub(super) fn parse(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        config.processing = processing::compile(
            &config.redact,
            &config.drops,
            config.structured_data.as_ref(),
        )?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.sources.is_empty() {
            return Err("no [[source]]: nothing to ship".into());
        }
        if self.max_open_files == 0 {
            return Err("max_open_files = 0: at least one file must be open to be read".into());
        }
        for (i, source) in self.sources.iter().enumerate() {
            source.validate().map_err(|e| format!("source[{i}]: {e}"))?;
            for root in source.root.iter() {
                if self.state_dir.starts_with(root) {
                    return Err(format!(
                        "state_dir {} lies inside source[{i}].root {}: checkpoints must live outside the watched tree",
                        self.state_dir.display(),
                        root.display()
                    ));
                }
            }
        }
        let max = self.output.max_message_size();
        if max < MIN_MAX_MESSAGE_SIZE {
            return Err(format!(
                "output.max_message_size = {max}: must be at least {MIN_MAX_MESSAGE_SIZE}"
            ));
        }
        if let Some(link) = self.output.link() {
            for (key, d) in [
                ("connect_timeout", link.connect_timeout),
                ("write_timeout", link.write_timeout),
                ("failback_after", link.failback_after),
            ] {
                if d.is_zero() {
                    return Err(format!("output.{key} = 0s: must be longer than zero"));
                }
            }
        }
        if let Output::Tls {
            cert_file,
            key_file,
            ..
        } = &self.output
        {
            if cert_file.is_some() != key_file.is_some() {
                return Err("output.cert_file and output.key_file go together (mutual TLS): set both or neither".into());
            }
        }
        Ok(())
    }
}

impl Source {
    fn validate(&self) -> Result<(), String> {
        match self.preset {
            Some(Preset::Gitlab) => {
                if self.root.is_none() {
                    return Err("preset = \"gitlab\" needs root".into());
                }
                if !self.paths.is_empty() {
                    return Err("paths: not used with a preset (the preset walks root)".into());
                }
                for key in [
                    ("app_name", self.app_name.is_some()),
                    ("facility", self.facility.is_some()),
                    ("severity", self.severity.is_some()),
                    ("msgid", self.msgid.is_some()),
                    ("format", self.format.is_some()),
                ] {
                    if key.1 {
                        return Err(format!(
                            "{}: not used with a preset (the preset sets it per file)",
                            key.0
                        ));
                    }
                }
            }
            None => {
                if self.paths.is_empty() {
                    return Err("needs paths (glob patterns) or preset + root".into());
                }
                if self.root.is_some() {
                    return Err("root: only used with a preset; list files in paths".into());
                }
                if self.per_pod_dirs {
                    return Err("per_pod_dirs: only used with a preset and root".into());
                }
                if self.app_name.is_none() {
                    return Err("app_name: required for a source without a preset".into());
                }
            }
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err("poll_interval: must be at least 10ms".into());
        }
        Ok(())
    }
}

/// Expands `${NAME}` and `${NAME:-default}` from the environment. `$$`
/// stands for a literal `$`. An unset variable without a default is an error.
pub(super) fn expand_env(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {value:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()) {
                return Err(format!("bad variable name {name:?} in {value:?}"));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!("environment variable {name} is not set (in {value:?}; use ${{{name}:-default}} for a default)"))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn expanded<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    expand_env(&raw, env_lookup).map_err(serde::de::Error::custom)
}

fn expanded_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    expanded(d).map(Some)
}

fn expanded_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    expanded(d).map(PathBuf::from)
}

fn expanded_opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    expanded(d).map(|s| Some(PathBuf::from(s)))
}

fn expanded_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| expand_env(s, env_lookup).map_err(serde::de::Error::custom))
        .collect()
}

fn parsed_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let raw = expanded(d)?;
    raw.parse().map(Some).map_err(serde::de::Error::custom)
}

fn shard<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Shard>, D::Error> {
    parsed_opt(d)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let raw = expanded(d)?;
    parse_duration(&raw).map_err(serde::de::Error::custom)
}

/// `[output]` with this body in an otherwise minimal config (unit tests).
#[cfg(test)]
pub(super) fn test_output(body: &str) -> Result<Output, String> {
    let text = format!(
        "state_dir = \"/var/lib/reaplog\"\n[[source]]\npaths = [\"/var/log/app/*.log\"]\napp_name = \"app\"\n[output]\n{body}"
    );
    Config::parse(&text).map(|c| c.output)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "/var/lib/reaplog"
hostname = "${REAPLOG_TEST_POD:-gitlab-webservice-0}"

[[source]]
preset = "gitlab"
root = "/var/log/gitlab"
per_pod_dirs = true
watch = "poll"
poll_interval = "250ms"
start_at = "end"

[[source]]
paths = ["/var/log/app/*.log"]
app_name = "myapp"
facility = "local3"
severity = "info"

[output]
type = "tls"
address = "rsyslog.infra.svc:6514"
ca_file = "/etc/reaplog/tls/ca.crt"
cert_file = "/etc/reaplog/tls/tls.crt"
key_file = "/etc/reaplog/tls/tls.key"
server_name = "rsyslog.infra.svc"
max_message_size = 8096
"#;

    #[test]
    fn parses_the_issue_example() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.hostname.as_deref(), Some("gitlab-webservice-0"));
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[0].poll_interval, Duration::from_millis(250));
        assert_eq!(c.sources[0].start_at, StartAt::End);
        assert_eq!(c.sources[1].facility, Some(Facility::Local3));
        assert!(matches!(c.output, Output::Tls { .. }));
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let text = GOOD.replace("per_pod_dirs = true", "per_pod_dir = true");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("per_pod_dir"), "{err}");
    }

    #[test]
    fn bad_facility_names_the_key_and_value() {
        let text = GOOD.replace("\"local3\"", "\"locl3\"");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("facility") && err.contains("locl3"), "{err}");
    }

    #[test]
    fn unknown_output_type_is_an_error() {
        let text = GOOD.replace("type = \"tls\"", "type = \"carrier-pigeon\"");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("carrier-pigeon"), "{err}");
    }

    #[test]
    fn cert_without_key_is_rejected() {
        let text = GOOD.replace("key_file = \"/etc/reaplog/tls/tls.key\"\n", "");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("key_file"), "{err}");
    }

    #[test]
    fn state_dir_inside_a_root_is_rejected() {
        let text = GOOD.replace("/var/lib/reaplog", "/var/log/gitlab/.reaplog");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("state_dir"), "{err}");
    }

    #[test]
    fn expands_env_with_defaults_and_escapes() {
        let env = |n: &str| (n == "POD").then(|| "web-1".to_string());
        assert_eq!(expand_env("${POD}", env).unwrap(), "web-1");
        assert_eq!(expand_env("a-${NOPE:-x}-b", env).unwrap(), "a-x-b");
        assert_eq!(expand_env("$$5 $HOME", env).unwrap(), "$5 $HOME");
        let err = expand_env("${NOPE}", env).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
    }

    #[test]
    fn unset_variable_in_config_names_the_variable() {
        let text = GOOD.replace(
            "${REAPLOG_TEST_POD:-gitlab-webservice-0}",
            "${REAPLOG_TEST_SURELY_UNSET}",
        );
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("REAPLOG_TEST_SURELY_UNSET") && err.contains("hostname"),
            "{err}"
        );
    }

    #[test]
    fn parses_shards_from_numbers_and_pod_names() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            "reaplog-relay-2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["3/3", "1", "x/2", "1/0", "reaplog-relay/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        // One grammar with init's flags: a bare number is seconds.
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5 parsecs").is_err());
    }

    use super::test_output as output;

    #[test]
    fn address_is_one_target_or_a_list_with_link_defaults() {
        let o = output("type = \"tcp\"\naddress = \"a:514\"").unwrap();
        assert_eq!(
            o.link(),
            Some(Link {
                addresses: vec!["a:514".into()],
                connect_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(30),
                failback_after: Duration::from_secs(300),
            })
        );
        std::env::set_var("REAPLOG_TEST_SECOND_TARGET", "b.infra.svc");
        let o = output(
            "type = \"relp\"\naddress = [\"a:2514\", \"${REAPLOG_TEST_SECOND_TARGET}:2514\"]\nconnect_timeout = \"2s\"\nwrite_timeout = \"5s\"\nfailback_after = \"1m\"",
        )
        .unwrap();
        let link = o.link().unwrap();
        assert_eq!(link.addresses, ["a:2514", "b.infra.svc:2514"]);
        assert_eq!(
            (
                link.connect_timeout,
                link.write_timeout,
                link.failback_after
            ),
            (
                Duration::from_secs(2),
                Duration::from_secs(5),
                Duration::from_secs(60)
            )
        );
        assert_eq!(output("type = \"stdout\"").unwrap().link(), None);
    }

    #[test]
    fn bad_address_lists_and_zero_timeouts_name_the_key() {
        let err = output("type = \"tcp\"\naddress = []").unwrap_err();
        assert!(err.contains("address") && err.contains("empty"), "{err}");
        let err = output("type = \"tcp\"\naddress = [\"a:1\", \"a:1\"]").unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        let err = output("type = \"tcp\"\naddress = 5").unwrap_err();
        assert!(err.contains("host:port"), "{err}");
        for key in ["connect_timeout", "write_timeout", "failback_after"] {
            let err = output(&format!(
                "type = \"tcp\"\naddress = \"a:1\"\n{key} = \"0s\""
            ))
            .unwrap_err();
            assert!(err.contains(&format!("output.{key}")), "{err}");
        }
        let err = output("type = \"stdout\"\nconnect_timeout = \"1s\"").unwrap_err();
        assert!(err.contains("connect_timeout"), "{err}");
    }
}
