//! Command line and environment: tini's options and meanings, plus
//! reaplog's own. Parsing stops at `--` or at the first word that is not an
//! option, so both `tini -- cmd` and `tini cmd` work.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

// Durations in reaplog's one grammar (src/duration.rs), shared by init and relay.
use crate::duration::parse as parse_duration;

use libc::c_int;

use super::signals;

/// Everything `reaplog init` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Config {
    /// CMD and its arguments; never empty.
    pub command: Vec<OsString>,
    /// `-s`: register as a subreaper (automatic anyway when not PID 1).
    pub subreaper: bool,
    /// `-p SIG`: signal init gets when its parent dies.
    pub pdeathsig: Option<c_int>,
    /// Message level (tini's default 1, each `-v` adds one).
    pub verbosity: u8,
    /// `-w`: warn for every reaped orphan.
    pub warn_on_reap: bool,
    /// `-g`: forward signals to the child's process group.
    pub process_group: bool,
    /// `-e CODE`: exit codes turned into 0, indexed by code.
    pub expected: [bool; 256],
    /// `-r SRC:DST`: signal rewrites, DST 0 drops.
    pub rewrites: Vec<(c_int, c_int)>,
    /// `--kill-group-on-exit`: end what is left after the main child.
    pub kill_group_on_exit: bool,
    /// `--grace`: how long leftovers get between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// `--report-orphans`: period of the reaped-orphans summary.
    pub report_orphans: Option<Duration>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "built once per process")]
pub(super) enum Parsed {
    /// Run CMD.
    Run(Config),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Print the license (tini's `-l`).
    License,
}

/// Default `--grace`.
pub(super) const DEFAULT_GRACE: Duration = Duration::from_secs(10);

pub(super) const USAGE: &str = "\
usage: reaplog init [OPTIONS] [--] CMD [ARGS...]
       (also as `tini [OPTIONS] [--] CMD [ARGS...]`)

Runs CMD as a child, forwards signals to it, reaps every zombie, and exits
with CMD's exit code (128+N if a signal N killed it).

  -s, --subreaper           register as child subreaper (automatic when not PID 1)
  -p, --pdeathsig SIG       signal to receive (and forward) when our parent dies
  -v, --verbose             more messages (repeatable: -vv, -vvv)
  -w, --warn-on-reap        warn for each reaped orphan
  -g, --process-group       forward signals to CMD's process group
  -e, --expect-exit CODE    treat exit code CODE as 0 (repeatable)
  -r, --rewrite SRC:DST     forward signal SRC as DST; DST 0 drops it (repeatable)
      --kill-group-on-exit  after CMD exits, SIGTERM what is left, then SIGKILL
      --grace DURATION      wait between that SIGTERM and SIGKILL (default 10s)
      --report-orphans DURATION
                            log reaped orphans by command name every DURATION
  -l                        print the license
  -h, --help                this text
      --version             print the version

SIG: number or name (15, TERM, SIGTERM). DURATION: 500ms, 10s, 2m, 1h, or seconds.
Environment: REAPLOG_SUBREAPER / TINI_SUBREAPER (-s), REAPLOG_KILL_PROCESS_GROUP /
TINI_KILL_PROCESS_GROUP (-g), REAPLOG_VERBOSITY / TINI_VERBOSITY (level 0-3).
";

/// Parses `args` (after `init`, or after argv[0] as `tini`); `env` looks up
/// environment variables (injected for tests).
pub(super) fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Parsed, String> {
    let mut config = from_env(&env)?;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().filter(|t| t.starts_with('-') && t.len() > 1) else {
            config.command.push(arg);
            break;
        };
        if text == "--" {
            break;
        }
        let flow = match text.strip_prefix("--") {
            Some(long) => parse_long(long, &mut args, &mut config)?,
            None => parse_short(&text[1..], &mut args, &mut config)?,
        };
        if let Some(done) = flow {
            return Ok(done);
        }
    }
    config.command.extend(args);
    if config.command.is_empty() {
        return Err("missing CMD".into());
    }
    Ok(Parsed::Run(config))
}

fn from_env(env: &impl Fn(&str) -> Option<OsString>) -> Result<Config, String> {
    let either = |a: &str, b: &str| env(a).or_else(|| env(b));
    let verbosity = match either("REAPLOG_VERBOSITY", "TINI_VERBOSITY") {
        None => 1,
        Some(v) => v
            .to_str()
            .and_then(|v| v.trim().parse::<u8>().ok())
            .ok_or_else(|| format!("invalid verbosity {v:?} in the environment"))?,
    };
    Ok(Config {
        command: Vec::new(),
        // Like tini: the variable being set is what counts, not its value.
        subreaper: either("REAPLOG_SUBREAPER", "TINI_SUBREAPER").is_some(),
        pdeathsig: None,
        verbosity,
        warn_on_reap: false,
        process_group: either("REAPLOG_KILL_PROCESS_GROUP", "TINI_KILL_PROCESS_GROUP").is_some(),
        expected: [false; 256],
        rewrites: Vec::new(),
        kill_group_on_exit: false,
        grace: DEFAULT_GRACE,
        report_orphans: None,
    })
}

type Rest = std::vec::IntoIter<OsString>;

/// One `--name` or `--name=value`; `Some` ends parsing (help, version).
fn parse_long(long: &str, rest: &mut Rest, c: &mut Config) -> Result<Option<Parsed>, String> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (long, None),
    };
    let short = match name {
        "help" => return Ok(Some(Parsed::Help)),
        "version" => return Ok(Some(Parsed::Version)),
        "kill-group-on-exit" => {
            c.kill_group_on_exit = true;
            return Ok(None);
        }
        "grace" => {
            c.grace = parse_duration(&value(name, inline, rest)?)?;
            return Ok(None);
        }
        "report-orphans" => {
            c.report_orphans = Some(parse_duration(&value(name, inline, rest)?)?);
            return Ok(None);
        }
        "subreaper" => 's',
        "pdeathsig" => 'p',
        "verbose" => 'v',
        "warn-on-reap" => 'w',
        "process-group" => 'g',
        "expect-exit" => 'e',
        "rewrite" => 'r',
        _ => return Err(format!("unknown option --{name}")),
    };
    if takes_value(short) {
        apply(short, Some(value(name, inline, rest)?), c)?;
    } else if inline.is_some() {
        return Err(format!("--{name} takes no value"));
    } else {
        apply(short, None, c)?;
    }
    Ok(None)
}

/// A cluster of short options (`-vvg`, `-e3`, `-p SIGKILL`).
fn parse_short(cluster: &str, rest: &mut Rest, c: &mut Config) -> Result<Option<Parsed>, String> {
    for (i, flag) in cluster.char_indices() {
        match flag {
            'h' => return Ok(Some(Parsed::Help)),
            'l' => return Ok(Some(Parsed::License)),
            _ => {}
        }
        if takes_value(flag) {
            let attached = &cluster[i + flag.len_utf8()..];
            let v = match attached {
                "" => value(&flag.to_string(), None, rest)?,
                _ => attached.to_owned(),
            };
            apply(flag, Some(v), c)?;
            return Ok(None);
        }
        apply(flag, None, c)?;
    }
    Ok(None)
}

fn takes_value(flag: char) -> bool {
    matches!(flag, 'p' | 'e' | 'r')
}

fn value(name: &str, inline: Option<String>, rest: &mut Rest) -> Result<String, String> {
    if let Some(v) = inline {
        return Ok(v);
    }
    let v = rest
        .next()
        .ok_or_else(|| format!("option {name} needs a value"))?;
    v.into_string()
        .map_err(|v| format!("option {name}: value {v:?} is not UTF-8"))
}

fn apply(flag: char, v: Option<String>, c: &mut Config) -> Result<(), String> {
    let v = v.as_deref().unwrap_or("");
    match flag {
        's' => c.subreaper = true,
        'v' => c.verbosity = c.verbosity.saturating_add(1),
        'w' => c.warn_on_reap = true,
        'g' => c.process_group = true,
        'p' => c.pdeathsig = Some(signal(v, false)?),
        'e' => c.expected[exit_code(v)?] = true,
        'r' => c.rewrites.push(rewrite(v)?),
        _ => return Err(format!("unknown option -{flag}")),
    }
    Ok(())
}

fn signal(text: &str, allow_zero: bool) -> Result<c_int, String> {
    signals::parse(text, allow_zero).ok_or_else(|| format!("unknown signal {text:?}"))
}

fn exit_code(text: &str) -> Result<usize, String> {
    text.parse::<u8>()
        .map(usize::from)
        .map_err(|_| format!("exit code {text:?} is not in 0..=255"))
}

fn rewrite(text: &str) -> Result<(c_int, c_int), String> {
    let (src, dst) = text
        .split_once(':')
        .ok_or_else(|| format!("rewrite {text:?} is not SRC:DST"))?;
    Ok((signal(src, false)?, signal(dst, true)?))
}

/// The command as one printable string, for messages.
pub(super) fn display_command(command: &[OsString]) -> String {
    let first = command.first().map(OsString::as_os_str);
    first
        .unwrap_or(OsStr::new(""))
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn run(args: &[&str]) -> Config {
        match parse(os(args), |_| None) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn command_after_double_dash_or_first_non_option() {
        assert_eq!(run(&["--", "sleep", "1"]).command, os(&["sleep", "1"]));
        assert_eq!(run(&["sleep", "-v"]).command, os(&["sleep", "-v"]));
        assert_eq!(run(&["-v", "--", "-x"]).command, os(&["-x"]));
    }

    #[test]
    fn tini_short_options_and_clusters() {
        let c = run(&["-svvwg", "-e", "3", "-e143", "-p", "SIGKILL", "--", "x"]);
        assert!(c.subreaper && c.warn_on_reap && c.process_group);
        assert_eq!(c.verbosity, 3);
        assert!(c.expected[3] && c.expected[143] && !c.expected[0]);
        assert_eq!(c.pdeathsig, Some(libc::SIGKILL));
    }

    #[test]
    fn long_options_with_space_or_equals() {
        let c = run(&[
            "--rewrite=15:3",
            "-r",
            "HUP:0",
            "--kill-group-on-exit",
            "--grace",
            "250ms",
            "--report-orphans=1m",
            "x",
        ]);
        assert_eq!(c.rewrites, vec![(15, 3), (libc::SIGHUP, 0)]);
        assert!(c.kill_group_on_exit);
        assert_eq!(c.grace, Duration::from_millis(250));
        assert_eq!(c.report_orphans, Some(Duration::from_secs(60)));
    }

    #[test]
    fn environment_sets_subreaper_group_and_verbosity() {
        let env = |k: &str| match k {
            "TINI_SUBREAPER" => Some(OsString::from("")),
            "REAPLOG_KILL_PROCESS_GROUP" => Some(OsString::from("1")),
            "TINI_VERBOSITY" => Some(OsString::from("3")),
            _ => None,
        };
        let Ok(Parsed::Run(c)) = parse(os(&["x"]), env) else {
            panic!("no config")
        };
        assert!(c.subreaper && c.process_group);
        assert_eq!(c.verbosity, 3);
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(parse(os(&["-h"]), |_| None), Ok(Parsed::Help));
        assert_eq!(parse(os(&["--version"]), |_| None), Ok(Parsed::Version));
        assert_eq!(parse(os(&["-l"]), |_| None), Ok(Parsed::License));
        for bad in [
            &[][..],
            &["--"],
            &["-e", "256", "x"],
            &["-p", "NOPE", "x"],
            &["-r", "15", "x"],
            &["--grace", "5 s", "x"],
            &["--bogus", "x"],
            &["-z", "x"],
            &["-p"],
        ] {
            assert!(parse(os(bad), |_| None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
