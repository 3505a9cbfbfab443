//! The built-in secret finder of `[redact] gitlab_tokens`: where in a line
//! GitLab's tokens and credential parameters and headers are.
//!
//! Two SIMD passes over the line (memchr) find the anchors (see
//! [`GitlabSecrets`]); only around an anchor are bytes looked at again, by
//! hand, with no regex. A line with no anchor costs those two passes.
//!
//! What counts as a secret, and what stays (docs/relay.md, "Redaction"):
//! * A token with one of GitLab's prefixes ([`PREFIXES`]) followed by at
//!   least [`MIN_BODY`] token characters: the body goes, the public prefix
//!   stays (`glpat-[REDACTED]`).
//! * `_gitlab_session=VALUE` (GitLab's session cookie): the value goes.
//! * `NAME=VALUE`, `"NAME"=>"VALUE"` where NAME is a credential name
//!   ([`CREDENTIAL_NAMES`]; any case, `-` or `_`, an `HTTP_` prefix as
//!   Rack writes headers), and `Authorization: VALUE`,
//!   `"Authorization":"VALUE"`, `\"Authorization\":\"VALUE\"` (also
//!   `PRIVATE-TOKEN` and `AUTHORIZATION` so): the value goes. For
//!   `Authorization` a scheme word (`Bearer`, `Basic`, `token`, …) stays
//!   and the credentials after it go.
//!
//! Values already masked (`[FILTERED]`, as Rails writes them) are left as
//! they are. A line the tailer cut (`cut`) that ends inside a token body
//! loses that body whatever its length, so no cut leaks the start of a
//! token.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::ops::Range;

/// GitLab's token prefixes, from the "Token prefixes" table of GitLab's
/// token overview (docs.gitlab.com/security/tokens/#token-prefixes;
/// `doc/security/tokens/index.md` in gitlab-org/gitlab), plus the ones that
/// table gained later, each with where it is documented:
///
/// | prefix | token | source |
/// |---|---|---|
/// | `glpat-` | personal, impersonation, project and group access tokens | table |
/// | `gloas-` | OAuth application secret | table |
/// | `gldt-` | deploy token | table (GitLab 16.7, gitlab-org/gitlab#376752) |
/// | `glrt-` | runner authentication token | table |
/// | `glrtr-` | runner authentication token created with a registration token | gitlab-org/gitlab#523581 |
/// | `glcbt-` | CI/CD job token | table (16.8, gitlab-org/gitlab#426137) |
/// | `glptt-` | pipeline trigger token | table |
/// | `glft-` | feed token | table |
/// | `glimt-` | incoming mail token | table |
/// | `glagent-` | GitLab agent for Kubernetes token | table |
/// | `glsoat-` | SCIM token | table (16.8, gitlab-org/gitlab#435096) |
/// | `glffct-` | feature flags client token | table |
/// | `glwt-` | workspace token | gitlab-org/gitlab!216506 |
/// | `GR1348941` | runner registration token (deprecated) | the table of GitLab 16.x and later |
///
/// The session cookie (`_gitlab_session=<hex>`, also in the table) is a
/// name=value pair: see `at_equals`.
pub(super) const PREFIXES: [&str; 14] = [
    "glpat-",
    "gloas-",
    "gldt-",
    "glrt-",
    "glrtr-",
    "glcbt-",
    "glptt-",
    "glft-",
    "glimt-",
    "glagent-",
    "glsoat-",
    "glffct-",
    "glwt-",
    "GR1348941",
];

/// The shortest token body redacted after a prefix. GitLab's tokens carry
/// 20 or more random characters after the prefix; shorter runs are words
/// such as `glft-token` in prose.
pub(super) const MIN_BODY: usize = 20;

/// Names whose value is a credential, normalized: lower case, `-` as `_`,
/// without Rack's `http_` prefix. The URL parameters GitLab accepts tokens
/// in (`private_token`, `job_token`, `access_token`, the trigger API's
/// `token`, OAuth's `refresh_token`, feeds' `feed_token`/`rss_token`) and
/// the headers (`Authorization`, `Proxy-Authorization`, `PRIVATE-TOKEN`,
/// `JOB-TOKEN`, webhooks' `X-Gitlab-Token`), and `CI_JOB_TOKEN` and
/// `deploy_token` as job and deploy scripts print them.
pub(super) const CREDENTIAL_NAMES: [&str; 12] = [
    "authorization",
    "proxy_authorization",
    "private_token",
    "job_token",
    "access_token",
    "refresh_token",
    "token",
    "feed_token",
    "rss_token",
    "x_gitlab_token",
    "deploy_token",
    "ci_job_token",
];

/// The built-in finder, built once per relay.
///
/// Two SIMD passes (memchr) per line find the anchors; only around an anchor
/// are bytes looked at again. The anchors are the cheapest ones that still
/// find every secret GitLab writes (benches/RESULTS.md, issue 14: a
/// case-insensitive automaton cost 1.6 µs a line, a Teddy pass over eight
/// anchors 0.25 µs, these two passes about 0.1 µs):
/// * `gl`: the first two bytes of 13 of the 14 prefixes;
/// * `=`: every `NAME=VALUE` and `"NAME"=>"VALUE"` (query strings, logfmt,
///   cookies, Ruby hashes, environment variables), whatever the name's case;
/// * `z`: `authorization` and `Authorization` in any quoting;
/// * `R`: `GR1348941`, `AUTHORIZATION`, `PRIVATE-TOKEN`/`PRIVATE_TOKEN`.
///
/// What that leaves to the token prefixes: a token-named header or JSON key
/// in lower or Capitalized case after a colon (`"private_token":"…"`,
/// `Job-Token: …`), and `JOB-TOKEN: …`; their values are GitLab tokens
/// with prefixes since GitLab 16.9. `patterns` can add any of them.
#[derive(Clone, Debug)]
pub(super) struct GitlabSecrets {
    gl: memchr::memmem::Finder<'static>,
}

impl GitlabSecrets {
    pub(super) fn new() -> Result<GitlabSecrets, String> {
        Ok(GitlabSecrets {
            gl: memchr::memmem::Finder::new(b"gl"),
        })
    }

    /// Appends the byte ranges of `line` that are secrets to `spans` (in
    /// the order found; they may overlap). `cut`: the line is the start of a
    /// longer one.
    pub(super) fn find(&self, line: &[u8], cut: bool, spans: &mut Vec<Range<usize>>) {
        for at in self.gl.find_iter(line) {
            spans.extend(prefixed_token(line, at, cut));
        }
        for at in memchr::memchr3_iter(b'=', b'z', b'R', line) {
            spans.extend(match line[at] {
                b'=' => at_equals(line, at),
                b'z' => at_z(line, at),
                _ => at_r(line, at, cut),
            });
        }
    }
}

/// `gl` at `at`: the body of the token if one of the prefixes starts there.
fn prefixed_token(line: &[u8], at: usize, cut: bool) -> Option<Range<usize>> {
    let rest = &line[at..];
    let prefix = PREFIXES[..PREFIXES.len() - 1]
        .iter()
        .find(|p| rest.starts_with(p.as_bytes()))?;
    token_body(line, at + prefix.len(), cut)
}

/// `=` at `at`: the value, if a credential name (or the session cookie)
/// ends right before it, or before its closing quote.
fn at_equals(line: &[u8], at: usize) -> Option<Range<usize>> {
    let mut end = at;
    if end > 0 && matches!(line[end - 1], b'"' | b'\'') {
        end -= 1;
        if end > 0 && line[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let start = name_start(line, end);
    if &line[start..end] == b"_gitlab_session" {
        return value(line, at + 1);
    }
    credential(line, start, end)
}

/// `z` at `at`: `authorization` or `Authorization` around it.
fn at_z(line: &[u8], at: usize) -> Option<Range<usize>> {
    // a-u-t-h-o-r-i-z: seven bytes before, five after.
    let start = at.checked_sub(7)?;
    let word = line.get(start..at + 6)?;
    if !word.eq_ignore_ascii_case(b"authorization") || !matches!(word[0], b'a' | b'A') {
        return None;
    }
    credential(line, name_start(line, start), at + 6)
}

/// `R` at `at`: `GR1348941`, `AUTHORIZATION` or `PRIVATE-TOKEN` around it.
fn at_r(line: &[u8], at: usize, cut: bool) -> Option<Range<usize>> {
    let around = |back: usize, word: &[u8]| {
        at.checked_sub(back)
            .filter(|&s| line.get(s..s + word.len()) == Some(word))
    };
    if let Some(s) = around(1, b"GR1348941") {
        return token_body(line, s + 9, cut);
    }
    if let Some(s) = around(5, b"AUTHORIZATION") {
        return credential(line, name_start(line, s), s + 13);
    }
    let s = around(1, b"PRIVATE-TOKEN").or_else(|| around(1, b"PRIVATE_TOKEN"))?;
    credential(line, name_start(line, s), s + 13)
}

/// Where the name that ends at `end` starts: the bytes before it that may
/// be part of one, at most [`LONGEST_NAME`] of them looked at.
fn name_start(line: &[u8], end: usize) -> usize {
    let from = end.saturating_sub(LONGEST_NAME);
    line[from..end]
        .iter()
        .rposition(|&b| !is_name_byte(b))
        .map_or(from, |i| from + i + 1)
}

/// A byte of a token body: GitLab's tokens are URL-safe Base64 plus the
/// dots of the routable format (`glpat-<payload>.<version>.<crc>`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The body after a prefix that ends at `at`, if it is long enough (or
/// runs to the end of a cut line). A trailing dot is the sentence's.
fn token_body(line: &[u8], at: usize, cut: bool) -> Option<Range<usize>> {
    let rest = line.get(at..)?;
    let mut len = rest.iter().take_while(|&&b| is_token_byte(b)).count();
    let to_end = len == rest.len();
    while len > 0 && rest[len - 1] == b'.' {
        len -= 1;
    }
    let long_enough = len >= MIN_BODY || (cut && to_end && len > 0);
    long_enough.then(|| at..at + len)
}

/// Ends a credential value: white space, quotes, the `\` of an escaped
/// quote, and the separators of query strings, cookies, lists and markup.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b'\\' | b'&' | b';' | b',' | b'}' | b']' | b')' | b'<' | b'>' | b'#'
        )
}

/// The value that starts at `at`, up to the first byte that ends one;
/// `None` when empty or already masked (`[FILTERED]`, `[REDACTED]`).
fn value(line: &[u8], at: usize) -> Option<Range<usize>> {
    let rest = line.get(at..)?;
    if rest.first() == Some(&b'[') {
        return None;
    }
    let len = rest
        .iter()
        .position(|&b| ends_value(b))
        .unwrap_or(rest.len());
    (len > 0).then(|| at..at + len)
}

/// A byte of a header, parameter or JSON key name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

/// The name at `start..end`: if it is a credential name followed by a
/// separator and a value, the value's span.
fn credential(line: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    if line.get(end).is_some_and(|&b| is_name_byte(b)) {
        return None; // `tokens`, `authorization_id`: another word
    }
    let kind = credential_kind(&line[start..end])?;
    let sep = separator(line, end)?;
    // In prose, `token: expired` is no credential: a bare `NAME:` counts
    // for the header names, not for the word `token` alone.
    if sep.bare_colon && kind == Kind::Token {
        return None;
    }
    if kind != Kind::Authorization || !sep.may_hold_space {
        return value(line, sep.value);
    }
    match after_scheme(line, sep.value) {
        Some(credentials) => value(line, credentials),
        // No scheme: the whole value; after a bare colon only if it looks
        // like a credential rather than a word (`Authorization: denied`).
        None => {
            value(line, sep.value).filter(|v| !sep.bare_colon || v.len() >= MIN_BARE_CREDENTIAL)
        }
    }
}

/// The shortest value of `Authorization:` (bare, not quoted) without a
/// scheme that is taken for a credential.
const MIN_BARE_CREDENTIAL: usize = 16;

/// `HTTP_PROXY_AUTHORIZATION`: no credential name is longer.
const LONGEST_NAME: usize = 5 + 19;

/// How a credential name's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The whole value is the secret.
    Plain,
    /// `SCHEME CREDENTIALS` or bare credentials (RFC 9110 §11.4).
    Authorization,
    /// The bare word `token`: a credential after `=`, `=>` or a quoted
    /// key, not after a colon in prose.
    Token,
}

/// Whether `name` is a credential name, and which kind.
fn credential_kind(name: &[u8]) -> Option<Kind> {
    let mut buf = [0u8; LONGEST_NAME];
    let norm = buf.get_mut(..name.len())?;
    for (d, &s) in norm.iter_mut().zip(name) {
        *d = if s == b'-' {
            b'_'
        } else {
            s.to_ascii_lowercase()
        };
    }
    let norm: &[u8] = norm.strip_prefix(b"http_").unwrap_or(norm);
    let known = CREDENTIAL_NAMES.iter().any(|n| n.as_bytes() == norm);
    match norm {
        _ if !known => None,
        b"authorization" | b"proxy_authorization" => Some(Kind::Authorization),
        b"token" => Some(Kind::Token),
        _ => Some(Kind::Plain),
    }
}

/// What follows a credential name.
struct Separator {
    /// Where the value starts.
    value: usize,
    /// The name was not quoted and `:` followed it (`Name: value`).
    bare_colon: bool,
    /// `:` (a header or a JSON key), or a quote opens the value: only then
    /// can a value hold a space (`Bearer …`). After a bare `=`, as in a
    /// query string, the value ends at the first space.
    may_hold_space: bool,
}

/// The separator after a name ending at `at`: an optional closing quote
/// (`"`, `'`, `\"`), then `=`, `:` or `=>` with spaces around, then an
/// optional opening quote. `None` if no separator follows.
fn separator(line: &[u8], at: usize) -> Option<Separator> {
    let mut i = skip_quote(line, at);
    let quoted = i > at;
    i = skip_spaces(line, i);
    let (len, colon) = match line.get(i..)? {
        [b'=', b'>', ..] => (2, false),
        [b'=', ..] => (1, false),
        [b':', ..] => (1, true),
        _ => return None,
    };
    i = skip_spaces(line, i + len);
    let value = skip_quote(line, i);
    Some(Separator {
        value,
        bare_colon: colon && !quoted,
        may_hold_space: colon || value > i,
    })
}

fn skip_quote(line: &[u8], at: usize) -> usize {
    match line.get(at..) {
        Some([b'\\', b'"', ..]) => at + 2,
        Some([b'"' | b'\'', ..]) => at + 1,
        _ => at,
    }
}

/// At most a few spaces: a separator is `: `, not a paragraph.
fn skip_spaces(line: &[u8], at: usize) -> usize {
    let n = line
        .get(at..)
        .map_or(0, |r| r.iter().take(4).take_while(|&&b| b == b' ').count());
    at + n
}

/// Where the credentials start after an authentication scheme (`Bearer `,
/// `Basic `, `token `, …: a word of letters and one space) that starts at
/// `at`; `None` if no scheme and credentials are there.
fn after_scheme(line: &[u8], at: usize) -> Option<usize> {
    let rest = line.get(at..)?;
    let word = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    match rest.get(word..) {
        Some([b' ', next, ..]) if word > 0 && !ends_value(*next) => Some(at + word + 1),
        _ => None,
    }
}
