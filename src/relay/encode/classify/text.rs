//! Anchored patterns for the text logs: each looks at a fixed place in the
//! line (its start, or the first occurrence of a delimiter within a bounded
//! prefix), so a message that merely mentions `ERROR` elsewhere does not
//! change its line's severity.

use memchr::{memchr, memmem};

use super::fields::{severity_from_name, severity_from_status};
use crate::relay::encode::syslog::Severity;
use crate::relay::encode::time::{parse_clf, parse_nginx_error_time, Timestamp};

/// nginx access (combined and GitLab's `gitlab_access` format):
/// `ADDR - USER [14/Jan/2020:13:35:15 +0000] "REQUEST" STATUS …`.
/// Severity from STATUS (5xx err, 4xx notice), time from `[$time_local]`.
pub(super) fn nginx_access(line: &[u8]) -> (Option<Severity>, Option<Timestamp>) {
    let Some(open) = memchr(b'[', line) else {
        return (None, None);
    };
    let Some(close) = memchr(b']', &line[open..]).map(|n| open + n) else {
        return (None, None);
    };
    let ts = parse_clf(&line[open + 1..close]);
    let sev = line
        .get(close + 1..)
        .and_then(|rest| rest.strip_prefix(b" \""))
        .and_then(skip_quoted)
        .and_then(|rest| rest.strip_prefix(b" "))
        .and_then(|rest| {
            rest.get(..3)
                .filter(|_| rest.get(3).is_none_or(|&b| b == b' '))
        })
        .and_then(severity_from_status);
    (sev, ts)
}

/// The bytes after the `"` that closes a quoted field whose content starts
/// `rest` (nginx writes `"` as `\x22`, but a `\"` is skipped all the same).
fn skip_quoted(rest: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    loop {
        i += memchr::memchr2(b'"', b'\\', rest.get(i..)?)?;
        if rest[i] == b'"' {
            return rest.get(i + 1..);
        }
        i += 2;
    }
}

/// nginx error: `2020/01/14 13:35:15 [error] 1234#0: …`. The time has no
/// offset and is read as UTC (see [`parse_nginx_error_time`]).
pub(super) fn nginx_error(line: &[u8]) -> (Option<Severity>, Option<Timestamp>) {
    let Some((ts, n)) = parse_nginx_error_time(line, 0) else {
        return (None, None);
    };
    let sev = line[n..]
        .strip_prefix(b" [")
        .and_then(|rest| memchr(b']', &rest[..rest.len().min(8)]).map(|end| &rest[..end]))
        .and_then(severity_from_name);
    (sev, Some(ts))
}

/// How far into a PostgreSQL line its severity may sit: after
/// `log_line_prefix` (Omnibus: empty; common: `%m [%p] ` or with user/db).
const POSTGRES_PREFIX_MAX: usize = 160;

/// PostgreSQL: the first `WORD:  ` (colon, two spaces) within the prefix,
/// where WORD is a severity (`LOG`, `ERROR`, `FATAL`, `PANIC`, …) preceded by
/// the line start or a space. `DETAIL`/`HINT`/`STATEMENT`/`CONTEXT` lines
/// continue an earlier message and get no severity of their own.
pub(super) fn postgres(line: &[u8]) -> Option<Severity> {
    let head = &line[..line.len().min(POSTGRES_PREFIX_MAX)];
    let colon = memmem::find(head, b":  ")?;
    let word_start = memchr::memrchr(b' ', &head[..colon]).map_or(0, |s| s + 1);
    match &head[word_start..colon] {
        b"DEBUG1" | b"DEBUG2" | b"DEBUG3" | b"DEBUG4" | b"DEBUG5" => Some(Severity::Debug),
        b"LOG" | b"INFO" => Some(Severity::Informational),
        b"NOTICE" => Some(Severity::Notice),
        b"WARNING" => Some(Severity::Warning),
        b"ERROR" => Some(Severity::Error),
        b"FATAL" => Some(Severity::Critical),
        b"PANIC" => Some(Severity::Alert),
        _ => None,
    }
}

/// How far into a Redis line the level marker may sit
/// (`1:M 14 Jan 2020 13:35:15.466 * ` is 31 bytes; pids can be long).
const REDIS_PREFIX_MAX: usize = 48;

/// Redis: `PID:ROLE DD Mon YYYY HH:MM:SS.mmm M message`, where the marker M
/// is `.` debug, `-` verbose, `*` notice, `#` warning; found as the first
/// `<digit> M ` within the prefix (the old `[PID] DD Mon HH:MM:SS.mmm M`
/// layout matches too).
pub(super) fn redis(line: &[u8]) -> Option<Severity> {
    let head = &line[..line.len().min(REDIS_PREFIX_MAX)];
    head.windows(4).find_map(|w| match w {
        [d, b' ', m, b' '] if d.is_ascii_digit() => match m {
            b'.' => Some(Severity::Debug),
            b'-' => Some(Severity::Informational),
            b'*' => Some(Severity::Notice),
            b'#' => Some(Severity::Warning),
            _ => None,
        },
        _ => None,
    })
}

/// Ruby's Logger default format, `E, [2020-01-14T13:35:15.466000 #1] ERROR -- : …`:
/// the first letter is the level.
pub(super) fn ruby_logger(line: &[u8]) -> Option<Severity> {
    match line {
        [l, b',', b' ', b'[', ..] => match l {
            b'D' => Some(Severity::Debug),
            b'I' => Some(Severity::Informational),
            b'W' => Some(Severity::Warning),
            b'E' => Some(Severity::Error),
            b'F' => Some(Severity::Critical),
            b'A' | b'U' => Some(Severity::Notice),
            _ => None,
        },
        _ => None,
    }
}

/// True when the line starts like an nginx error log line.
pub(super) fn looks_like_nginx_error(line: &[u8]) -> bool {
    line.get(19..21) == Some(b" [") && parse_nginx_error_time(line, 0).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nginx_access_status_and_time() {
        let line = br#"10.0.0.7 - - [14/Jan/2020:13:35:15 +0000] "GET /api/v4/projects?page=2 HTTP/1.1" 502 154 "-" "Go-http-client/1.1" 1.23"#;
        let (sev, ts) = nginx_access(line);
        assert_eq!(sev, Some(Severity::Error));
        assert_eq!(ts.map(|t| t.unix_secs), Some(1_579_008_915));
        let line = br#"10.0.0.7 - alice [14/Jan/2020:13:35:15 +0100] "POST /users/sign_in HTTP/2.0" 401 0 "https://gitlab.example.com/" "Mozilla/5.0 [en]" -"#;
        assert_eq!(nginx_access(line).0, Some(Severity::Notice));
        let line =
            br#"10.0.0.7 - - [14/Jan/2020:13:35:15 +0000] "GET /x\x22y HTTP/1.1" 200 5 "-" "-""#;
        assert_eq!(nginx_access(line).0, None);
        assert_eq!(nginx_access(b"garbage [ 500 ]"), (None, None));
        assert_eq!(
            nginx_access(br#"a [14/Jan/2020:13:35:15 +0000] "GET / HTTP/1.1" 5000 1"#).0,
            None
        );
    }

    #[test]
    fn nginx_error_level_and_time() {
        let line = b"2020/01/14 13:35:15 [crit] 12#12: *3 connect() to unix:/var/opt/gitlab/gitlab-workhorse/sockets/socket failed (2: No such file or directory)";
        let (sev, ts) = nginx_error(line);
        assert_eq!(sev, Some(Severity::Critical));
        assert_eq!(ts.map(|t| t.unix_secs), Some(1_579_008_915));
        assert!(looks_like_nginx_error(line));
        assert_eq!(
            nginx_error(b"2020/01/14 13:35:15 [warn] 1#1: x").0,
            Some(Severity::Warning)
        );
        assert_eq!(nginx_error(b"2020/01/14 13:35:15 [bogus] x").0, None);
        assert_eq!(nginx_error(b"nginx: [emerg] bind() failed"), (None, None));
    }

    #[test]
    fn postgres_severity_after_any_prefix() {
        assert_eq!(
            postgres(b"LOG:  database system is ready to accept connections"),
            Some(Severity::Informational)
        );
        assert_eq!(
            postgres(b"2020-01-14 13:35:15.466 UTC [123] ERROR:  relation \"x\" does not exist"),
            Some(Severity::Error)
        );
        assert_eq!(postgres(b"2020-01-14 13:35:15.466 GMT [9] gitlab@gitlabhq_production FATAL:  password authentication failed"), Some(Severity::Critical));
        assert_eq!(
            postgres(b"PANIC:  could not write to file"),
            Some(Severity::Alert)
        );
        assert_eq!(
            postgres(b"WARNING:  there is no transaction in progress"),
            Some(Severity::Warning)
        );
        assert_eq!(postgres(b"STATEMENT:  SELECT 1"), None);
        assert_eq!(postgres(b"user said ERROR: once"), None, "one space only");
        assert_eq!(postgres(b"the word XERROR:  is not a level"), None);
    }

    #[test]
    fn redis_markers() {
        assert_eq!(
            redis(b"1:M 14 Jan 2020 13:35:15.466 * Ready to accept connections"),
            Some(Severity::Notice)
        );
        assert_eq!(
            redis(b"1:M 14 Jan 2020 13:35:15.466 # WARNING overcommit_memory is set to 0!"),
            Some(Severity::Warning)
        );
        assert_eq!(
            redis(b"1234:S 14 Jan 2020 13:35:15.466 . debug"),
            Some(Severity::Debug)
        );
        assert_eq!(
            redis(b"1:C 14 Jan 2020 13:35:15.466 - verbose"),
            Some(Severity::Informational)
        );
        assert_eq!(
            redis(b"[1234] 14 Jan 13:35:15.466 # old style"),
            Some(Severity::Warning)
        );
        assert_eq!(redis(b"                _._"), None);
    }

    #[test]
    fn ruby_logger_letters() {
        assert_eq!(
            ruby_logger(b"E, [2020-01-14T13:35:15.466000 #1] ERROR -- : boom"),
            Some(Severity::Error)
        );
        assert_eq!(
            ruby_logger(b"W, [2020-01-14T13:35:15.466000 #1]  WARN -- : hmm"),
            Some(Severity::Warning)
        );
        assert_eq!(ruby_logger(b"Started GET \"/\" for 127.0.0.1"), None);
        assert_eq!(ruby_logger(b"E,"), None);
    }

    proptest! {
        #[test]
        fn never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = nginx_access(&bytes);
            let _ = nginx_error(&bytes);
            let _ = postgres(&bytes);
            let _ = redis(&bytes);
            let _ = ruby_logger(&bytes);
            let _ = looks_like_nginx_error(&bytes);
        }
    }
}
