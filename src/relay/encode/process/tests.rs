//! The processing step through the codec's one entry point: drop rules
//! (each key, together), the static STRUCTURED-DATA as it is framed, and
//! redaction before truncation.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::relay::encode::classify::gitlab_rule;
use crate::relay::encode::framing::parse_frame;
use crate::relay::encode::time::Timestamp;
use crate::relay::encode::{Encoded, FileStamp, LineCodec, Stamp};

const POD: &str = "gitlab-webservice-default-7d9f-abcde";

fn rule(
    name: &str,
    app_name: Option<&str>,
    msgid: Option<&str>,
    hostname: Option<&str>,
    below: Option<Severity>,
    regex: Option<&str>,
) -> DropRule {
    let glob = |p: Option<&str>| p.map(|p| glob::Pattern::new(p).unwrap());
    DropRule {
        label: name.into(),
        app_name: glob(app_name),
        msgid: glob(msgid),
        hostname: glob(hostname),
        below,
        regex: regex.map(|r| regex::bytes::Regex::new(r).unwrap()),
    }
}

fn codec(drops: Vec<DropRule>, sd: Option<StaticSd>) -> LineCodec {
    LineCodec::with_processing(
        8096,
        false,
        Processing {
            redact: Redactor::default(),
            drops,
            sd,
        },
    )
}

/// The stamp of `rel` (a path under the GitLab preset's root) in `POD`.
fn stamp(codec: &LineCodec, rel: &str) -> FileStamp {
    let rule = Arc::new(gitlab_rule(Path::new(rel)).unwrap());
    let path = Path::new("/var/log/gitlab").join(rel);
    codec.file_stamp(&Stamp::new(rule, POD), &path)
}

fn ts() -> Timestamp {
    Timestamp {
        unix_secs: 1_764_079_200,
        micros: 0,
        offset_minutes: 0,
    }
}

/// The SYSLOG-MSG of `line`, or `Err(rule)` when a drop rule took it.
fn encode(codec: &LineCodec, stamp: &FileStamp, line: &str) -> Result<String, usize> {
    let mut out = Vec::new();
    match codec.encode_line(stamp, &ts(), line.as_bytes(), false, &mut out) {
        Encoded::Dropped { rule } => {
            assert!(out.is_empty(), "a dropped line appends nothing");
            Err(rule)
        }
        Encoded::Frame { .. } => {
            let (msg, used) = parse_frame(&out, usize::MAX).unwrap().unwrap();
            assert_eq!(used, out.len());
            Ok(String::from_utf8(msg.to_vec()).unwrap())
        }
    }
}

const HEALTH: &str = r#"10.0.0.1 - - [25/Nov/2025:14:00:00 +0000] "GET /-/readiness HTTP/1.1" 200 2 "-" "kube-probe/1.29" -"#;
const API: &str = r#"10.0.0.1 - - [25/Nov/2025:14:00:00 +0000] "GET /api/v4/projects HTTP/1.1" 200 2 "-" "curl/8" -"#;
const DEBUG: &str =
    r#"{"severity":"DEBUG","time":"2025-11-25T14:00:00.000Z","message":"cache hit"}"#;
const INFO: &str = r#"{"severity":"INFO","time":"2025-11-25T14:00:00.000Z","message":"ok"}"#;

#[test]
fn a_rule_with_only_app_name_drops_every_line_of_matching_files() {
    let c = codec(
        vec![rule("nginx", Some("ngin*"), None, None, None, None)],
        None,
    );
    let nginx = stamp(&c, "nginx/gitlab_access.log");
    assert_eq!(encode(&c, &nginx, API), Err(0));
    let rails = stamp(&c, "gitlab-rails/application_json.log");
    assert!(encode(&c, &rails, INFO).is_ok());
}

#[test]
fn msgid_and_hostname_globs_pick_files() {
    let c = codec(
        vec![
            rule("by-msgid", None, Some("*_access"), None, None, None),
            rule("by-host", None, None, Some("gitlab-sidekiq-*"), None, None),
        ],
        None,
    );
    assert_eq!(
        encode(&c, &stamp(&c, "nginx/gitlab_access.log"), API),
        Err(0)
    );
    assert!(encode(&c, &stamp(&c, "nginx/gitlab_error.log"), API).is_ok());
    // The pod is POD, a webservice: the hostname rule never applies.
    assert!(encode(&c, &stamp(&c, "gitlab-rails/application_json.log"), INFO).is_ok());
}

#[test]
fn below_drops_only_less_severe_lines() {
    let c = codec(
        vec![rule(
            "debug",
            None,
            None,
            None,
            Some(Severity::Informational),
            None,
        )],
        None,
    );
    let s = stamp(&c, "gitlab-rails/application_json.log");
    assert_eq!(encode(&c, &s, DEBUG), Err(0));
    assert!(encode(&c, &s, INFO).is_ok(), "info is not below info");
}

#[test]
fn regex_looks_at_msg() {
    let c = codec(
        vec![rule(
            "probes",
            None,
            None,
            None,
            None,
            Some(r#""GET /-/(readiness|liveness|health)"#),
        )],
        None,
    );
    let s = stamp(&c, "nginx/gitlab_access.log");
    assert_eq!(encode(&c, &s, HEALTH), Err(0));
    assert!(encode(&c, &s, API).is_ok());
}

#[test]
fn every_key_given_must_match_and_the_first_matching_rule_counts() {
    let c = codec(
        vec![
            // nginx probes only: app_name and regex together.
            rule(
                "nginx-probes",
                Some("nginx"),
                None,
                None,
                None,
                Some("kube-probe"),
            ),
            // Debug lines of rails only: app_name and below together.
            rule(
                "rails-debug",
                Some("gitlab-rails"),
                None,
                Some("gitlab-webservice-*"),
                Some(Severity::Informational),
                None,
            ),
            // Would also match the probes, but comes second.
            rule("any-probe", None, None, None, None, Some("kube-probe")),
        ],
        None,
    );
    let nginx = stamp(&c, "nginx/gitlab_access.log");
    assert_eq!(encode(&c, &nginx, HEALTH), Err(0));
    assert!(encode(&c, &nginx, API).is_ok());
    let rails = stamp(&c, "gitlab-rails/application_json.log");
    assert_eq!(encode(&c, &rails, DEBUG), Err(1));
    assert!(encode(&c, &rails, INFO).is_ok());
    assert_eq!(
        encode(&c, &rails, &INFO.replace("ok", "kube-probe")),
        Err(2)
    );
}

#[test]
fn drop_rules_see_the_line_as_written_not_redacted() {
    let c = codec(
        vec![rule(
            "pat",
            None,
            None,
            None,
            None,
            Some("glpat-[A-Za-z0-9]{20}"),
        )],
        None,
    );
    let s = stamp(&c, "gitlab-rails/application_json.log");
    let line = INFO.replace("ok", "glpat-abcdefghij0123456789");
    assert_eq!(encode(&c, &s, &line), Err(0));
}

fn gitlab_sd(path: bool) -> StaticSd {
    StaticSd::new(
        "gitlab@32473",
        vec![
            ("cluster".into(), "prod-eu".into()),
            ("namespace".into(), "gitlab \"main\"]\\".into()),
        ],
        path,
    )
    .unwrap()
}

#[test]
fn static_structured_data_is_framed_with_escaped_values_and_the_path() {
    let c = codec(Vec::new(), Some(gitlab_sd(true)));
    let s = stamp(&c, "gitlab-rails/application_json.log");
    let msg = encode(&c, &s, INFO).unwrap();
    // Golden: PRI local0.info, the line's own time, the preset's fields.
    assert_eq!(
        msg,
        format!(
            "<134>1 2025-11-25T14:00:00Z {POD} gitlab-rails - application_json \
             [gitlab@32473 cluster=\"prod-eu\" namespace=\"gitlab \\\"main\\\"\\]\\\\\" \
             file=\"/var/log/gitlab/gitlab-rails/application_json.log\"] {INFO}"
        )
    );
}

#[test]
fn without_structured_data_the_header_says_nilvalue() {
    let c = codec(Vec::new(), None);
    let msg = encode(&c, &stamp(&c, "gitlab-rails/application_json.log"), INFO).unwrap();
    assert!(msg.contains(" application_json - {"), "{msg}");
}

#[test]
fn structured_data_counts_into_max_message_size() {
    let c = LineCodec::with_processing(
        1024,
        false,
        Processing {
            sd: Some(gitlab_sd(true)),
            ..Processing::none()
        },
    );
    let s = stamp(&c, "gitlab-rails/application_json.log");
    let line = format!(r#"{{"severity":"INFO","message":"{}"}}"#, "x".repeat(2000));
    let mut out = Vec::new();
    let e = c.encode_line(&s, &ts(), line.as_bytes(), false, &mut out);
    assert_eq!(
        e,
        Encoded::Frame {
            truncated: true,
            redacted: false
        }
    );
    let (msg, _) = parse_frame(&out, usize::MAX).unwrap().unwrap();
    assert_eq!(msg.len(), 1024, "cut to the maximum, SD included");
    let msg = String::from_utf8_lossy(msg);
    assert!(msg.contains("[gitlab@32473 ") && msg.ends_with("...[truncated]"));
}

#[test]
fn redaction_comes_before_truncation_so_no_cut_leaks_a_token() {
    let c = LineCodec::new(1024, false);
    let s = stamp(&c, "gitlab-rails/application_json.log");
    // A token that straddles where a 1024-octet message is cut.
    for pad in 900..1000 {
        let line = format!(
            r#"{{"message":"{} glpat-Ab3dE_gH1j-LmN0pQrStUv"}}"#,
            "x".repeat(pad)
        );
        let mut out = Vec::new();
        c.encode_line(&s, &ts(), line.as_bytes(), false, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("glpat-A"), "{pad}: {text}");
        assert!(!text.contains("Ab3dE"), "{pad}: {text}");
    }
}

#[test]
fn a_line_cut_by_the_tailer_inside_a_token_loses_the_part_it_has() {
    let c = LineCodec::new(8096, false);
    let s = stamp(&c, "gitlab-rails/application_json.log");
    let mut out = Vec::new();
    let e = c.encode_line(&s, &ts(), br#"{"message":"auth glpat-Ab3"#, true, &mut out);
    assert_eq!(
        e,
        Encoded::Frame {
            truncated: true,
            redacted: true
        }
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.ends_with("glpat-[REDACTED]...[truncated]"), "{text}");
}

#[test]
fn the_default_codec_redacts_and_says_so() {
    let c = LineCodec::new(8096, false);
    let s = stamp(&c, "nginx/gitlab_access.log");
    let line = API.replace("/api/v4/projects", "/api/v4/projects?private_token=abc");
    let mut out = Vec::new();
    let e = c.encode_line(&s, &ts(), line.as_bytes(), false, &mut out);
    assert_eq!(
        e,
        Encoded::Frame {
            truncated: false,
            redacted: true
        }
    );
    assert!(String::from_utf8_lossy(&out).contains("?private_token=[REDACTED] HTTP/1.1"));
}
