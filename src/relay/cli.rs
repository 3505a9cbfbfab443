//! Command line of `reaplog relay`.
//!
//! ```text
//! reaplog relay --config FILE [--check] [--once] [--log-format text|json] [--log-level LEVEL]
//! reaplog relay --demo
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::relay::config::Config;
use crate::relay::input::sources::{default_hostname, SourceSet};
use crate::relay::output::Connector;
use crate::relay::run::{self, RunOptions};

const USAGE: &str = "usage: reaplog relay --config FILE [--check] [--once] [--log-format text|json] [--log-level LEVEL]
       reaplog relay --demo

  --config FILE     the relay's TOML configuration (docs/relay.md)
  --check           validate FILE, list the files it would tail with their fields, and exit
  --once            ship what the files hold now, then exit (no checkpoint entry is dropped)
  --demo            ship a built-in sample of GitLab log lines to stdout as RFC 5424 frames
  --log-format F    text (default) or json, on stderr
  --log-level L     error, warn, info (default), debug, trace; RUST_LOG overrides";

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    config: Option<PathBuf>,
    check: bool,
    once: bool,
    demo: bool,
    json_logs: bool,
    log_level: Option<String>,
}

/// Runs `reaplog relay` with the arguments after the sub-command name and
/// returns the exit code: 0 done, 1 failed, 2 usage.
pub fn main(args: Vec<OsString>) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("reaplog relay: {msg}\n{USAGE}");
            return 2;
        }
    };
    init_logging(
        args.json_logs,
        args.log_level
            .as_deref()
            .unwrap_or(if args.demo { "warn" } else { "info" }),
    );
    let result = if args.demo {
        demo()
    } else {
        match &args.config {
            Some(path) if args.check => check(path),
            Some(path) => Config::load(path).map_err(|e| e.to_string()).and_then(|c| {
                run::run(
                    c,
                    RunOptions {
                        once: args.once,
                        config_path: Some(path.clone()),
                    },
                )
                .map_err(|e| e.to_string())
            }),
            None => Err("--config FILE is required".into()),
        }
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("reaplog relay: {msg}");
            1
        }
    }
}

fn parse(args: Vec<OsString>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "--config" | "-c" => out.config = Some(PathBuf::from(value("--config")?)),
            "--check" => out.check = true,
            "--once" => out.once = true,
            "--demo" => out.demo = true,
            "--log-format" => match value("--log-format")?.as_str() {
                "text" => out.json_logs = false,
                "json" => out.json_logs = true,
                other => return Err(format!("--log-format {other:?}: expected text or json")),
            },
            "--log-level" => out.log_level = Some(value("--log-level")?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if out.demo && (out.config.is_some() || out.check) {
        return Err("--demo takes no config".into());
    }
    Ok(out)
}

fn init_logging(json: bool, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A second initialisation (tests calling main twice) is harmless.
    let _already_set = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `--check`: the config is valid, the certificates load, and these files
/// would be tailed with these fields.
fn check(path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    Connector::from_config(&config.output).map_err(|e| e.to_string())?;
    let mut sources = SourceSet::new(
        config.sources.clone(),
        default_hostname(config.hostname.as_deref()),
        config.shard,
    );
    let scan = sources.scan();
    for w in &scan.warnings {
        println!("warning: {w}");
    }
    println!(
        "{:<10} {:<20} {:<24} {:<9} {:<8} PATH",
        "HOSTNAME", "APP-NAME", "MSGID", "FACILITY", "SEVERITY"
    );
    for f in &scan.files {
        println!(
            "{:<10} {:<20} {:<24} {:<9} {:<8} {}",
            f.hostname,
            f.rule.app_name,
            f.rule.msgid,
            format!("{:?}", f.rule.facility).to_lowercase(),
            format!("{:?}", f.rule.default_severity).to_lowercase(),
            f.path.display()
        );
    }
    println!(
        "{}: valid; {} files would be tailed",
        path.display(),
        scan.files.len()
    );
    Ok(())
}

/// Sample GitLab log files, one directory per pod, embedded in the binary.
const DEMO_FILES: &[(&str, &str)] = &[
    (
        "gitlab-webservice-default-5d8f7c9b6-x2x7k/api_json.log",
        include_str!("../../examples/demo-logs/gitlab-webservice-default-5d8f7c9b6-x2x7k/api_json.log"),
    ),
    (
        "gitlab-webservice-default-5d8f7c9b6-x2x7k/production_json.log",
        include_str!("../../examples/demo-logs/gitlab-webservice-default-5d8f7c9b6-x2x7k/production_json.log"),
    ),
    (
        "gitlab-webservice-default-5d8f7c9b6-x2x7k/application_json.log",
        include_str!("../../examples/demo-logs/gitlab-webservice-default-5d8f7c9b6-x2x7k/application_json.log"),
    ),
    (
        "gitlab-sidekiq-all-in-1-v2-6c9d8f-9tq4z/sidekiq/current",
        include_str!("../../examples/demo-logs/gitlab-sidekiq-all-in-1-v2-6c9d8f-9tq4z/sidekiq/current"),
    ),
    (
        "gitaly-0/gitaly/current",
        include_str!("../../examples/demo-logs/gitaly-0/gitaly/current"),
    ),
    (
        "gitlab-nginx-ingress-controller-7b9c/nginx/gitlab_access.log",
        include_str!("../../examples/demo-logs/gitlab-nginx-ingress-controller-7b9c/nginx/gitlab_access.log"),
    ),
];

/// The embedded default configuration of `--demo`: the GitLab preset over a
/// per-pod tree, frames to stdout. `{ROOT}` and `{STATE}` are filled in.
const DEMO_CONFIG: &str = r#"
state_dir = "{STATE}"
[[source]]
preset = "gitlab"
root = "{ROOT}"
per_pod_dirs = true
watch = "poll"
[output]
type = "stdout"
"#;

/// `--demo`: writes the sample tree to a temporary directory, ships it once
/// to stdout with the embedded config, and removes the directory.
fn demo() -> Result<(), String> {
    let base = std::env::temp_dir().join(format!("reaplog-demo-{}", std::process::id()));
    let result = demo_in(&base);
    if let Err(e) = std::fs::remove_dir_all(&base) {
        tracing::debug!(path = %base.display(), error = %e, "cannot remove the demo directory");
    }
    result
}

fn demo_in(base: &Path) -> Result<(), String> {
    let root = base.join("var-log-gitlab");
    for (rel, text) in DEMO_FILES {
        let path = root.join(rel);
        let dir = path.parent().unwrap_or(&root);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let text = DEMO_CONFIG
        .replace("{STATE}", &base.join("state").display().to_string())
        .replace("{ROOT}", &root.display().to_string());
    let config = Config::parse(&text).map_err(|e| format!("built-in demo config: {e}"))?;
    eprintln!(
        "reaplog relay --demo: shipping the sample GitLab tree {} to stdout",
        root.display()
    );
    let options = RunOptions {
        once: true,
        config_path: None,
    };
    run::run(config, options).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_flags_with_separate_and_inline_values() {
        let a = parse(args(&[
            "--config",
            "/etc/r.toml",
            "--check",
            "--log-format=json",
        ]))
        .unwrap();
        assert_eq!(a.config.as_deref(), Some(Path::new("/etc/r.toml")));
        assert!(a.check && a.json_logs);
    }

    #[test]
    fn rejects_unknown_arguments_and_missing_values() {
        assert!(parse(args(&["--cofnig", "x"]))
            .unwrap_err()
            .contains("--cofnig"));
        assert!(parse(args(&["--config"])).unwrap_err().contains("--config"));
        assert!(parse(args(&["--log-format", "xml"]))
            .unwrap_err()
            .contains("xml"));
    }

    #[test]
    fn demo_config_is_valid() {
        let text = DEMO_CONFIG
            .replace("{STATE}", "/tmp/s")
            .replace("{ROOT}", "/tmp/r");
        Config::parse(&text).unwrap();
    }
}
