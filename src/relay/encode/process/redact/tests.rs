//! Redaction: every GitLab token kind in the three shapes of line GitLab
//! writes (nginx access, Rails JSON, text), the credential forms, what must
//! stay untouched, user patterns, and properties over random lines.

use super::*;
use crate::relay::encode::process::secrets::{CREDENTIAL_NAMES, MIN_BODY, PREFIXES};
use proptest::prelude::*;

/// A made-up token body: 20 characters of GitLab's alphabet.
const BODY: &str = "Ab3dE_gH1j-LmN0pQrSt";

fn gitlab() -> Redactor {
    Redactor::new(true, &[]).unwrap()
}

fn redact(line: &str) -> String {
    let out = gitlab().redact(line.as_bytes(), false);
    String::from_utf8(out.into_owned()).unwrap()
}

/// Asserts that `line` comes back borrowed: not a byte changed.
fn untouched(line: &str) {
    let r = gitlab();
    let out = r.redact(line.as_bytes(), false);
    assert!(
        matches!(out, Cow::Borrowed(_)),
        "{line:?} became {:?}",
        String::from_utf8_lossy(&out)
    );
}

fn nginx(query: &str) -> String {
    format!(
        r#"10.1.2.3 - - [25/Nov/2025:14:00:00 +0000] "GET /api/v4/projects/7/jobs?{query} HTTP/1.1" 200 512 "-" "curl/8.4.0" -"#
    )
}

fn json(value: &str) -> String {
    format!(
        r#"{{"method":"GET","path":"/api/v4/projects/7","status":200,"message":"got {value} from client","duration_s":0.01}}"#
    )
}

fn text(value: &str) -> String {
    format!("Started GET \"/api/v4/user\" for 10.1.2.3 with {value} at 2025-11-25 14:00:00 +0000")
}

#[test]
fn every_token_prefix_keeps_its_prefix_and_loses_its_body_in_nginx_json_and_text_lines() {
    for prefix in PREFIXES {
        let token = format!("{prefix}{BODY}");
        let gone = format!("{prefix}[REDACTED]");
        let line = nginx(&format!("ref=main&x={token}&y=1"));
        assert_eq!(redact(&line), line.replace(&token, &gone), "{prefix}");
        let line = json(&token);
        assert_eq!(redact(&line), line.replace(&token, &gone), "{prefix}");
        let line = text(&token);
        assert_eq!(redact(&line), line.replace(&token, &gone), "{prefix}");
    }
}

#[test]
fn routable_tokens_lose_every_dotted_part_but_a_final_full_stop_stays() {
    let token = "glpat-3Lq9x0cVbNmKjHgFdSaPoIuYtRe.01.0z1a2b3c4";
    assert_eq!(
        redact(&format!("token was {token}.")),
        "token was glpat-[REDACTED]."
    );
}

#[test]
fn every_credential_parameter_in_a_query_string_is_redacted() {
    for name in CREDENTIAL_NAMES {
        let line = nginx(&format!("a=1&{name}=s3cr3tValue&b=2"));
        assert_eq!(
            redact(&line),
            line.replace("s3cr3tValue", "[REDACTED]"),
            "{name}"
        );
        let line = nginx(&format!("{name}=s3cr3tValue"));
        assert_eq!(
            redact(&line),
            line.replace("s3cr3tValue", "[REDACTED]"),
            "{name}"
        );
    }
}

#[test]
fn trigger_tokens_and_job_tokens_in_urls_of_json_lines_are_redacted() {
    let line = r#"{"method":"POST","path":"/api/v4/projects/7/trigger/pipeline?token=0123abcd&ref=main","status":201}"#;
    assert_eq!(
        redact(line),
        line.replace("token=0123abcd", "token=[REDACTED]")
    );
    // Rails' JSON escapes & as \u0026 in some encoders.
    let line = r#"{"path":"/api/v4/jobs/1/artifacts?job_token=abc123\u0026x=1"}"#;
    assert_eq!(
        redact(line),
        line.replace("job_token=abc123", "job_token=[REDACTED]")
    );
}

#[test]
fn authorization_headers_keep_the_scheme_and_lose_the_credentials() {
    let cases = [
        // text, as an error message quotes it
        (
            "request failed: Authorization: Bearer abc.def-ghi",
            "request failed: Authorization: Bearer [REDACTED]",
        ),
        (
            "authorization: Basic dXNlcjpwYXNz==, retrying",
            "authorization: Basic [REDACTED], retrying",
        ),
        // JSON
        (
            r#"{"headers":{"Authorization":"token xyz123"}}"#,
            r#"{"headers":{"Authorization":"token [REDACTED]"}}"#,
        ),
        // JSON inside a JSON string
        (
            r#"{"message":"sent {\"Authorization\":\"Bearer glpat-Ab3dE_gH1j-LmN0pQrSt\"}"}"#,
            r#"{"message":"sent {\"Authorization\":\"Bearer [REDACTED]\"}"}"#,
        ),
        // a Ruby hash, as Rack writes its env
        (
            r#"env={"HTTP_AUTHORIZATION"=>"Bearer s3cr3t"}"#,
            r#"env={"HTTP_AUTHORIZATION"=>"Bearer [REDACTED]"}"#,
        ),
        (
            "Proxy-Authorization: Basic Zm9vOmJhcg==",
            "Proxy-Authorization: Basic [REDACTED]",
        ),
        // no scheme, but it looks like a credential
        (
            r#""authorization":"0123456789abcdef0123""#,
            r#""authorization":"[REDACTED]""#,
        ),
    ];
    for (line, want) in cases {
        assert_eq!(redact(line), want, "{line}");
    }
}

#[test]
fn private_job_and_webhook_token_headers_are_redacted_in_every_quoting() {
    let cases = [
        (
            "curl -H PRIVATE-TOKEN: abcdef123 failed",
            "curl -H PRIVATE-TOKEN: [REDACTED] failed",
        ),
        (
            r#"{"PRIVATE-TOKEN":"abcdef123"}"#,
            r#"{"PRIVATE-TOKEN":"[REDACTED]"}"#,
        ),
        (
            r#"{"msg":"{\"PRIVATE-TOKEN\":\"abcdef123\"}"}"#,
            r#"{"msg":"{\"PRIVATE-TOKEN\":\"[REDACTED]\"}"}"#,
        ),
        (
            "JOB-TOKEN: glcbt-64_AbCdEfGhIjKlMnOpQrSt",
            "JOB-TOKEN: glcbt-[REDACTED]",
        ),
        ("job_token=abcdef123", "job_token=[REDACTED]"),
        (
            r#"{"HTTP_JOB_TOKEN"=>"abcdef123"}"#,
            r#"{"HTTP_JOB_TOKEN"=>"[REDACTED]"}"#,
        ),
        (
            r#"{"HTTP_PRIVATE_TOKEN"=>"abcdef123"}"#,
            r#"{"HTTP_PRIVATE_TOKEN"=>"[REDACTED]"}"#,
        ),
        ("X-Gitlab-Token=hook-secret", "X-Gitlab-Token=[REDACTED]"),
        (
            r#"{"AUTHORIZATION"=>"Bearer abc"}"#,
            r#"{"AUTHORIZATION"=>"Bearer [REDACTED]"}"#,
        ),
        (
            "AUTHORIZATION: Basic Zm9v",
            "AUTHORIZATION: Basic [REDACTED]",
        ),
        (
            "CI_JOB_TOKEN=abcdef123 ./run",
            "CI_JOB_TOKEN=[REDACTED] ./run",
        ),
        (
            "Cookie: _gitlab_session=0123456789abcdef; other=1",
            "Cookie: _gitlab_session=[REDACTED]; other=1",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(redact(line), want, "{line}");
    }
}

#[test]
fn what_the_built_in_finder_leaves_to_the_prefixes_or_to_patterns() {
    // A lower-case or Capitalized token name after a colon is found only
    // by its value's prefix (the cost of the two-pass scan; docs/relay.md).
    untouched(r#"{"private_token":"abcdef123"}"#);
    untouched("Job-Token: abcdef123");
    untouched("https://user:s3cr3t@gitlab.example.com/");
    assert_eq!(
        redact(r#"{"private_token":"glpat-Ab3dE_gH1j-LmN0pQrSt"}"#),
        r#"{"private_token":"glpat-[REDACTED]"}"#
    );
    let r = Redactor::new(true, &[r"(?i)job-token:\s*(\S+)".to_string()]).unwrap();
    assert_eq!(
        &*r.redact(b"Job-Token: abcdef123", false),
        b"Job-Token: [REDACTED]"
    );
}

#[test]
fn lines_without_a_secret_are_returned_borrowed() {
    for line in [
        "",
        r#"{"severity":"INFO","time":"2025-11-25T14:00:00.000Z","message":"ok"}"#,
        // words that start an anchor but are not secrets
        "invalid token: expired, please sign in",
        "tokens=5 token_count=3",
        "the glft-token format is documented; glpat-short too",
        "GR134894 is not the prefix",
        "Authorization: denied",
        "Authorization failed for user",
        "see https://gitlab.example.com/help and http://[::1]:8080/x",
        // masked already by Rails
        r#"{"path":"/api/v4/jobs?private_token=[FILTERED]"}"#,
        r#"{"params":[{"key":"token","value":"[FILTERED]"}]}"#,
        "PRIVATE-TOKEN: [REDACTED]",
        // empty values
        "?private_token=&x=1",
        // multi-byte UTF-8 around anchors
        "Zürich glpat- 日本語 token",
    ] {
        untouched(line);
    }
}

#[test]
fn a_cut_line_loses_a_token_body_that_runs_to_its_end_whatever_its_length() {
    let r = gitlab();
    let line = b"see glpat-Ab3dE";
    assert_eq!(&*r.redact(line, false), line, "short and not cut: a word");
    assert_eq!(&*r.redact(line, true), b"see glpat-[REDACTED]");
    // A short run that does not reach the end stays even in a cut line.
    assert_eq!(&*r.redact(b"glpat-Ab3 x", true), b"glpat-Ab3 x");
}

#[test]
fn the_minimum_body_is_twenty_characters() {
    let short = format!("glrt-{}", &BODY[..MIN_BODY - 1]);
    untouched(&short);
    let long = format!("glrt-{}", &BODY[..MIN_BODY]);
    assert_eq!(redact(&long), "glrt-[REDACTED]");
}

#[test]
fn gitlab_tokens_false_leaves_every_token_alone() {
    let r = Redactor::new(false, &[]).unwrap();
    for prefix in PREFIXES {
        let line = json(&format!("{prefix}{BODY}"));
        assert!(matches!(r.redact(line.as_bytes(), false), Cow::Borrowed(_)));
    }
    let line = nginx("private_token=abc&token=def");
    assert!(matches!(r.redact(line.as_bytes(), false), Cow::Borrowed(_)));
}

#[test]
fn user_patterns_replace_the_whole_match_or_group_one() {
    let r = Redactor::new(
        false,
        &[
            r"\b\d{4}-\d{4}-\d{4}-\d{4}\b".to_string(),
            r"secret_key=(\w+)".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        &*r.redact(
            b"card 1234-5678-9012-3456 and secret_key=abc1 and secret_key=def2",
            false
        ),
        b"card [REDACTED] and secret_key=[REDACTED] and secret_key=[REDACTED]"
    );
    assert!(matches!(r.redact(b"nothing here", false), Cow::Borrowed(_)));
}

#[test]
fn overlapping_finds_become_one_redaction() {
    let r = Redactor::new(true, &[r"Bearer \S+".to_string()]).unwrap();
    assert_eq!(
        &*r.redact(
            b"Authorization: Bearer glpat-Ab3dE_gH1j-LmN0pQrSt end",
            false
        ),
        b"Authorization: [REDACTED] end"
    );
}

#[test]
fn bad_patterns_are_errors_that_name_them() {
    let err = Redactor::new(true, &["(".to_string()]).unwrap_err();
    assert!(err.contains("redact.patterns[0]"), "{err}");
    let err = Redactor::new(true, &["ok".to_string(), "x*".to_string()]).unwrap_err();
    assert!(
        err.contains("redact.patterns[1]") && err.contains("empty"),
        "{err}"
    );
}

#[test]
fn redaction_of_non_utf8_bytes_keeps_them() {
    let line = b"\xff\xfe token=abc \xc3";
    assert_eq!(
        &*gitlab().redact(line, false),
        b"\xff\xfe token=[REDACTED] \xc3"
    );
}

/// Words that come near the anchors without making a secret.
fn safe_word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,12}",
        Just("token".to_string()),
        Just("tokens".to_string()),
        Just("glpat-short".to_string()),
        Just("GR134894".to_string()),
        Just("Authorization".to_string()),
        Just("PRIVATE-TOKEN".to_string()),
        Just("https://gitlab.example.com/x".to_string()),
        Just("private_token=[FILTERED]".to_string()),
        Just("{\"a\":1}".to_string()),
        Just("\\\"".to_string()),
        Just("Zürich".to_string()),
        Just("日本語".to_string()),
    ]
}

fn safe_text() -> impl Strategy<Value = String> {
    prop::collection::vec(safe_word(), 0..12).prop_map(|w| w.join(" "))
}

/// A secret in one of its forms: (as written, as it must arrive).
fn secret() -> impl Strategy<Value = (String, String)> {
    let value = "[A-Za-z0-9_]{1,30}";
    let body = "[A-Za-z0-9_-]{20,40}";
    prop_oneof![
        (prop::sample::select(PREFIXES.to_vec()), body)
            .prop_map(|(p, b)| (format!("{p}{b}"), format!("{p}[REDACTED]"))),
        (prop::sample::select(CREDENTIAL_NAMES.to_vec()), value)
            .prop_map(|(n, v)| (format!("/x?a=1&{n}={v}"), format!("/x?a=1&{n}=[REDACTED]"))),
        value.prop_map(|v| (
            format!("Authorization: Bearer {v}"),
            "Authorization: Bearer [REDACTED]".to_string()
        )),
        value.prop_map(|v| (
            format!("{{\\\"PRIVATE-TOKEN\\\":\\\"{v}\\\"}}"),
            "{\\\"PRIVATE-TOKEN\\\":\\\"[REDACTED]\\\"}".to_string()
        )),
    ]
}

proptest! {
    #[test]
    fn lines_without_a_secret_are_never_changed(line in safe_text()) {
        let r = gitlab();
        let out = r.redact(line.as_bytes(), false);
        prop_assert!(matches!(out, Cow::Borrowed(_)), "{:?}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn arbitrary_bytes_keep_every_byte_outside_what_is_redacted(line in prop::collection::vec(any::<u8>(), 0..300)) {
        // Whatever comes out, it is the input with some ranges replaced by
        // [REDACTED]: the parts between the markers appear in order.
        let out = gitlab().redact(&line, false).into_owned();
        let mut rest = &line[..];
        let mut pos = 0;
        while let Some(i) = find(&out[pos..], REDACTED) {
            let kept = &out[pos..pos + i];
            let at = find(rest, kept);
            prop_assert!(at.is_some(), "kept bytes not in the input");
            rest = &rest[at.unwrap_or(0) + kept.len()..];
            pos += i + REDACTED.len();
        }
        prop_assert!(rest.ends_with(&out[pos..]));
    }

    #[test]
    fn a_secret_anywhere_is_the_only_thing_that_changes(
        left in safe_text(),
        (secret, redacted) in secret(),
        right in safe_text(),
    ) {
        let line = format!("{left} {secret} {right}");
        let want = format!("{left} {redacted} {right}");
        let out = gitlab().redact(line.as_bytes(), false);
        prop_assert_eq!(String::from_utf8_lossy(&out), want);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[test]
fn authorization_in_a_query_string_is_the_secret_itself_not_a_scheme() {
    // Found by the property test: `=` then a space-free value, so `a` is
    // the credential and the next word is not.
    assert_eq!(
        redact(" /x?a=1&authorization=a 0"),
        " /x?a=1&authorization=[REDACTED] 0"
    );
    assert_eq!(
        redact("{\"Authorization\":\"Bearer abcdefghijklmnopqrstu\"}"),
        "{\"Authorization\":\"Bearer [REDACTED]\"}"
    );
}
