//! Classification tests: the preset's file mapping, and realistic lines of
//! every GitLab component through their rules.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::relay::encode::time::parse_rfc3339;

fn rule(rel: &str) -> FileRule {
    gitlab_rule(Path::new(rel)).unwrap_or_else(|| panic!("{rel} should be shipped"))
}

fn secs(rfc3339: &str) -> Option<i64> {
    parse_rfc3339(rfc3339.as_bytes()).map(|t| t.unix_secs)
}

/// (severity, unix seconds of the timestamp, message) of `line` under `rel`'s rule.
fn classify(rel: &str, line: &str) -> (Severity, Option<i64>, String) {
    let c = rule(rel).classify(line.as_bytes());
    (
        c.severity,
        c.timestamp.map(|t| t.unix_secs),
        String::from_utf8(c.message.to_vec()).unwrap(),
    )
}

#[test]
fn preset_maps_cng_flat_rails_files() {
    for (rel, msgid, format) in [
        ("api_json.log", "api_json", LineFormat::Json),
        ("application_json.log", "application_json", LineFormat::Json),
        ("auth_json.log", "auth_json", LineFormat::Json),
        ("production_json.log", "production_json", LineFormat::Json),
        ("graphql_json.log", "graphql_json", LineFormat::Json),
        ("production.log", "production", LineFormat::Auto),
        ("sidekiq_client.log", "sidekiq_client", LineFormat::Auto),
    ] {
        let r = rule(rel);
        assert_eq!(
            (
                r.app_name.as_str(),
                r.msgid.as_str(),
                r.facility,
                r.format,
                r.svlogd_prefix
            ),
            ("gitlab-rails", msgid, Facility::Local0, format, false),
            "{rel}"
        );
        assert_eq!(r.default_severity, Severity::Informational);
    }
    assert_eq!(
        rule("exceptions_json.log").default_severity,
        Severity::Error
    );
}

#[test]
fn preset_maps_component_directories() {
    for (rel, app, msgid, facility, format, svlogd) in [
        (
            "gitlab-rails/production_json.log",
            "gitlab-rails",
            "production_json",
            Facility::Local0,
            LineFormat::Json,
            false,
        ),
        (
            "gitlab-rails/production.log",
            "gitlab-rails",
            "production",
            Facility::Local0,
            LineFormat::Auto,
            false,
        ),
        (
            "gitlab/api_json.log",
            "gitlab-rails",
            "api_json",
            Facility::Local0,
            LineFormat::Json,
            false,
        ),
        (
            "sidekiq/current",
            "gitlab-sidekiq",
            "sidekiq",
            Facility::Local1,
            LineFormat::Auto,
            true,
        ),
        (
            "gitlab-workhorse/current",
            "gitlab-workhorse",
            "gitlab-workhorse",
            Facility::Local2,
            LineFormat::Auto,
            true,
        ),
        (
            "gitaly/gitaly.log",
            "gitaly",
            "gitaly",
            Facility::Local3,
            LineFormat::Auto,
            false,
        ),
        (
            "gitaly/current",
            "gitaly",
            "gitaly",
            Facility::Local3,
            LineFormat::Auto,
            true,
        ),
        (
            "praefect/current",
            "praefect",
            "praefect",
            Facility::Local3,
            LineFormat::Auto,
            true,
        ),
        (
            "gitlab-shell/gitlab-shell.log",
            "gitlab-shell",
            "gitlab-shell",
            Facility::Local4,
            LineFormat::Auto,
            false,
        ),
        (
            "nginx/gitlab_access.log",
            "nginx",
            "gitlab_access",
            Facility::Local5,
            LineFormat::NginxAccess,
            false,
        ),
        (
            "nginx/gitlab_error.log",
            "nginx",
            "gitlab_error",
            Facility::Local5,
            LineFormat::NginxError,
            false,
        ),
        (
            "nginx/access.log",
            "nginx",
            "access",
            Facility::Local5,
            LineFormat::NginxAccess,
            false,
        ),
        (
            "nginx/current",
            "nginx",
            "nginx",
            Facility::Local5,
            LineFormat::NginxError,
            true,
        ),
        (
            "gitlab-pages/current",
            "gitlab-pages",
            "gitlab-pages",
            Facility::Local5,
            LineFormat::Auto,
            true,
        ),
        (
            "registry/current",
            "registry",
            "registry",
            Facility::Local5,
            LineFormat::Auto,
            true,
        ),
        (
            "gitlab-kas/current",
            "gitlab-kas",
            "gitlab-kas",
            Facility::Local5,
            LineFormat::Auto,
            true,
        ),
        (
            "postgresql/current",
            "postgresql",
            "postgresql",
            Facility::Local6,
            LineFormat::Postgres,
            true,
        ),
        (
            "redis/current",
            "redis",
            "redis",
            Facility::Local6,
            LineFormat::Redis,
            true,
        ),
        (
            "puma/current",
            "puma",
            "puma",
            Facility::Local7,
            LineFormat::Auto,
            true,
        ),
        (
            "puma/puma_stderr.log",
            "puma",
            "puma_stderr",
            Facility::Local7,
            LineFormat::Auto,
            false,
        ),
        (
            "mailroom/current",
            "mailroom",
            "mailroom",
            Facility::Local7,
            LineFormat::Auto,
            true,
        ),
        (
            "mailroom/mail_room_json.log",
            "mailroom",
            "mail_room_json",
            Facility::Local7,
            LineFormat::Json,
            false,
        ),
        (
            "gitlab-exporter/current",
            "gitlab-exporter",
            "gitlab-exporter",
            Facility::Local7,
            LineFormat::Auto,
            true,
        ),
        (
            "gitaly.log",
            "gitaly",
            "gitaly",
            Facility::Local3,
            LineFormat::Auto,
            false,
        ),
    ] {
        let r = rule(rel);
        assert_eq!(
            (
                r.app_name.as_str(),
                r.msgid.as_str(),
                r.facility,
                r.format,
                r.svlogd_prefix
            ),
            (app, msgid, facility, format, svlogd),
            "{rel}"
        );
    }
}

#[test]
fn unknown_component_is_named_after_its_directory_cut_to_32() {
    let long = format!("{}/current", "x".repeat(40));
    assert_eq!(rule(&long).app_name, "x".repeat(32));
    assert_eq!(
        rule(&long).msgid,
        "x".repeat(40),
        "MSGID is cut by the encoder"
    );
}

#[test]
fn preset_skips_rotated_state_and_other_files() {
    for rel in [
        "sidekiq/@4000000061f0c7d91f0d2cd4.s",
        "sidekiq/@4000000061f0c7d91f0d2cd4.u",
        "sidekiq/lock",
        "sidekiq/state",
        "sidekiq/newstate",
        "sidekiq/config",
        "gitlab-rails/production_json.log.1",
        "gitlab-rails/production_json.log.2.gz",
        "gitlab-rails/production_json.log-20200114",
        "gitlab-rails/production_json.log.gz",
        "nginx/.gitlab_access.log.swp",
        ".snapshot/current",
        ".snap/api_json.log",
        "api_json.log.1",
        "current",
        ".log",
        "README",
        "gitlab-rails/sub/production_json.log",
        "../api_json.log",
        "/var/log/gitlab/api_json.log",
        "",
    ] {
        assert!(
            gitlab_rule(Path::new(rel)).is_none(),
            "{rel} should be skipped"
        );
    }
}

#[test]
fn rails_json_lines_take_severity_and_time() {
    let line = r#"{"severity":"ERROR","time":"2020-01-14T13:35:15.466Z","correlation_id":"01E5SX0XH8HR4J4XA7Y4YE5J1Q","class":"Gitlab::GitalyClient","message":"Gitaly call failed","meta":{"severity":"INFO"}}"#;
    assert_eq!(
        classify("api_json.log", line),
        (
            Severity::Error,
            secs("2020-01-14T13:35:15.466Z"),
            line.to_owned()
        )
    );
    let line = r#"{"severity":"ANY","time":"2020-01-14T13:35:15.466Z","message":"unknown"}"#;
    assert_eq!(classify("application_json.log", line).0, Severity::Notice);
    let line = r#"{"severity":"WARN","time":"2020-01-14T13:35:15.466Z","message":"Failed login","env":"production","remote_ip":"10.0.0.1","request_method":"POST","path":"/users/sign_in"}"#;
    assert_eq!(classify("auth_json.log", line).0, Severity::Warning);
    let line = r#"{"severity":"ERROR","time":"2020-01-14T13:35:15.466Z","correlation_id":"x","exception.class":"NoMethodError","exception.message":"undefined method `x' for nil:NilClass","exception.backtrace":["app/models/x.rb:1"]}"#;
    assert_eq!(classify("exceptions_json.log", line).0, Severity::Error);
}

#[test]
fn lograge_production_json_uses_the_http_status() {
    let ok = r#"{"method":"GET","path":"/gitlab-org/gitlab-foss/issues/1234","format":"html","controller":"Projects::IssuesController","action":"show","status":200,"time":"2020-01-14T13:35:15.466Z","params":[{"key":"param_key","value":"param_value"}],"remote_ip":"10.0.0.1","user_id":1,"username":"root","ua":"Mozilla/5.0","queue_duration_s":0.0,"db_duration_s":0.01,"view_duration_s":0.02,"duration_s":0.03}"#;
    assert_eq!(
        classify("gitlab-rails/production_json.log", ok),
        (
            Severity::Informational,
            secs("2020-01-14T13:35:15.466Z"),
            ok.to_owned()
        )
    );
    let err = ok.replace(r#""status":200"#, r#""status":500"#);
    assert_eq!(
        classify("gitlab-rails/production_json.log", &err).0,
        Severity::Error
    );
    let not_found = ok.replace(r#""status":200"#, r#""status":404"#);
    assert_eq!(
        classify("gitlab-rails/production_json.log", &not_found).0,
        Severity::Notice
    );
    let nested = ok.replace(
        r#""status":200"#,
        r#""status":200,"graphql":{"status":500,"level":"error"}"#,
    );
    assert_eq!(
        classify("gitlab-rails/production_json.log", &nested).0,
        Severity::Informational
    );
}

#[test]
fn rails_text_lines_get_the_default_or_their_logger_letter() {
    let line = r#"Started GET "/gitlab/gitlab-foss/issues/1234" for 127.0.0.1 at 2020-01-14 13:35:15 +0000"#;
    assert_eq!(
        classify("gitlab-rails/production.log", line).0,
        Severity::Informational
    );
    let line = "E, [2020-01-14T13:35:15.466000 #1234] ERROR -- : Something went wrong";
    assert_eq!(
        classify("gitlab-rails/production.log", line).0,
        Severity::Error
    );
}

#[test]
fn sidekiq_current_strips_svlogd_and_prefers_the_payload_time() {
    let payload = r#"{"severity":"WARN","time":"2020-01-14T13:35:15.466Z","retry":3,"queue":"post_receive","class":"PostReceive","jid":"b4a1f2","job_status":"fail","error_class":"Gitlab::Git::CommandError","error_message":"failed"}"#;
    let line = format!("2020-01-14_13:35:16.00051 {payload}");
    assert_eq!(
        classify("sidekiq/current", &line),
        (
            Severity::Warning,
            secs("2020-01-14T13:35:15.466Z"),
            payload.to_owned()
        )
    );
    let payload = r#"{"severity":"INFO","message":"Booting Sidekiq 6.0.7"}"#;
    let line = format!("2020-01-14_13:35:16.00051 {payload}");
    let c = rule("sidekiq/current").classify(line.as_bytes());
    assert_eq!(c.message, payload.as_bytes());
    assert_eq!(
        c.timestamp,
        parse_rfc3339(b"2020-01-14T13:35:16.00051Z"),
        "svlogd time when the payload has none"
    );
    let c = rule("sidekiq/current").classify(b"no prefix at all");
    assert_eq!(
        (c.message, c.timestamp, c.severity),
        (&b"no prefix at all"[..], None, Severity::Informational)
    );
}

#[test]
fn go_components_use_level() {
    let gitaly = r#"{"correlation_id":"01E5SX","grpc.code":"NotFound","grpc.method":"FindCommit","grpc.request.glProjectPath":"group/project","grpc.service":"gitaly.CommitService","level":"warning","msg":"finished unary call with code NotFound","pid":1,"span.kind":"server","system":"grpc","time":"2020-01-14T13:35:15.466Z"}"#;
    assert_eq!(
        classify("gitaly/gitaly.log", gitaly),
        (
            Severity::Warning,
            secs("2020-01-14T13:35:15.466Z"),
            gitaly.to_owned()
        )
    );
    let praefect = format!(
        "2020-01-14_13:35:15.46612 {}",
        gitaly.replace("warning", "error")
    );
    assert_eq!(classify("praefect/current", &praefect).0, Severity::Error);
    let shell = r#"{"command":"git-upload-pack","correlation_id":"01E5SX","git_protocol":"version=2","gl_project_path":"group/project","level":"info","msg":"executing git command","time":"2020-01-14T13:35:15Z","user_id":"user-1"}"#;
    assert_eq!(
        classify("gitlab-shell/gitlab-shell.log", shell).0,
        Severity::Informational
    );
    let kas = r#"{"level":"dpanic","time":"2020-01-14T13:35:15.466Z","msg":"unexpected"}"#;
    assert_eq!(
        classify(
            "gitlab-kas/current",
            &format!("2020-01-14_13:35:15.46612 {kas}")
        )
        .0,
        Severity::Critical
    );
    let pages = r#"{"level":"fatal","msg":"could not bind","time":"2020-01-14T13:35:15Z"}"#;
    assert_eq!(
        classify("gitlab-pages/current", pages).0,
        Severity::Critical
    );
}

#[test]
fn workhorse_mixes_json_access_lines_and_plain_go_log_lines() {
    let access = r#"{"content_type":"text/html","correlation_id":"01E5SX","duration_ms":0,"host":"gitlab.example.com","level":"info","method":"GET","msg":"access","proto":"HTTP/1.1","referrer":"","remote_addr":"10.0.0.1:0","status":502,"system":"http","time":"2020-01-14T13:35:15Z","uri":"/","user_agent":"curl","written_bytes":0}"#;
    let line = format!("2020-01-14_13:35:15.46612 {access}");
    assert_eq!(
        classify("gitlab-workhorse/current", &line).0,
        Severity::Informational,
        "level wins over status"
    );
    let no_level = access.replace(r#""level":"info","#, "");
    assert_eq!(
        classify("gitlab-workhorse/current", &no_level).0,
        Severity::Error
    );
    let plain = "2020-01-14_13:35:15.46612 2020/01/14 13:35:15 Starting upstream";
    let (sev, ts, msg) = classify("gitlab-workhorse/current", plain);
    assert_eq!(
        (sev, msg.as_str()),
        (
            Severity::Informational,
            "2020/01/14 13:35:15 Starting upstream"
        )
    );
    assert_eq!(ts, secs("2020-01-14T13:35:15Z"));
}

#[test]
fn registry_logfmt_lines_use_level_and_time() {
    let line = r#"2020-01-14_13:35:16.46612 time="2020-01-14T13:35:15.466Z" level=error msg="response completed with error" err.code="blob unknown" http.request.method=GET http.response.status=404"#;
    assert_eq!(classify("registry/current", line).0, Severity::Error);
    assert_eq!(
        classify("registry/current", line).1,
        secs("2020-01-14T13:35:15.466Z")
    );
}

#[test]
fn puma_json_uses_timestamp() {
    let line = r#"{"timestamp":"2020-01-14T13:35:15.466Z","pid":1234,"message":"PumaWorkerKiller: Out of memory. 4 workers consuming total: 4000 mb"}"#;
    assert_eq!(
        classify("puma/current", line),
        (
            Severity::Informational,
            secs("2020-01-14T13:35:15.466Z"),
            line.to_owned()
        )
    );
    let text = "2020-01-14_13:35:15.46612 {} - Worker 0 (PID: 1234) booted in 0.01s, phase: 0";
    assert_eq!(classify("puma/current", text).0, Severity::Informational);
}

#[test]
fn mailroom_json_lines() {
    let line = r#"{"severity":"ERROR","time":"2020-01-14T13:35:15.466+00:00","context":{"email":"incoming@gitlab.example.com","name":"inbox"},"action":"Delivery failed","error":"Net::ReadTimeout"}"#;
    let svlogd = format!("2020-01-14_13:35:16.00000 {line}");
    assert_eq!(
        classify("mailroom/current", &svlogd),
        (
            Severity::Error,
            secs("2020-01-14T13:35:15.466Z"),
            line.to_owned()
        )
    );
    assert_eq!(
        classify("mailroom/mail_room_json.log", line).0,
        Severity::Error
    );
}

#[test]
fn nginx_access_and_error_files() {
    let access = r#"10.0.0.1 - - [14/Jan/2020:13:35:15 +0000] "GET /api/v4/projects/1/repository/archive.zip HTTP/1.1" 504 0 "" "python-requests/2.22.0" -"#;
    assert_eq!(
        classify("nginx/gitlab_access.log", access),
        (Severity::Error, Some(1_579_008_915), access.to_owned())
    );
    let error = "2020/01/14 13:35:15 [error] 1234#0: *5 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1";
    assert_eq!(classify("nginx/gitlab_error.log", error).0, Severity::Error);
    let emerg = "2020-01-14_13:35:15.46612 2020/01/14 13:35:15 [emerg] 1#0: bind() to 0.0.0.0:80 failed (98: Address already in use)";
    assert_eq!(classify("nginx/current", emerg).0, Severity::Emergency);
}

#[test]
fn postgres_and_redis_current() {
    let pg =
        "2020-01-14_13:35:15.46612 FATAL:  terminating connection due to administrator command";
    assert_eq!(classify("postgresql/current", pg).0, Severity::Critical);
    let pg = "2020-01-14_13:35:15.46612 LOG:  checkpoint complete: wrote 3 buffers";
    assert_eq!(
        classify("postgresql/current", pg),
        (
            Severity::Informational,
            secs("2020-01-14T13:35:15.46612Z"),
            "LOG:  checkpoint complete: wrote 3 buffers".to_owned()
        )
    );
    let redis = "2020-01-14_13:35:15.46612 1:M 14 Jan 2020 13:35:15.466 # Server initialized";
    assert_eq!(classify("redis/current", redis).0, Severity::Warning);
    let redis = "2020-01-14_13:35:15.46612 1:M 14 Jan 2020 13:35:15.466 * DB loaded from disk: 0.000 seconds";
    assert_eq!(classify("redis/current", redis).0, Severity::Notice);
}

#[test]
fn severity_names_map_as_documented() {
    for (name, want) in [
        ("DEBUG", Severity::Debug),
        ("trace", Severity::Debug),
        ("Info", Severity::Informational),
        ("notice", Severity::Notice),
        ("UNKNOWN", Severity::Notice),
        ("any", Severity::Notice),
        ("warn", Severity::Warning),
        ("WARNING", Severity::Warning),
        ("error", Severity::Error),
        ("ERR", Severity::Error),
        ("FATAL", Severity::Critical),
        ("crit", Severity::Critical),
        ("critical", Severity::Critical),
        ("dpanic", Severity::Critical),
        ("panic", Severity::Alert),
        ("alert", Severity::Alert),
        ("emerg", Severity::Emergency),
        ("EMERGENCY", Severity::Emergency),
        ("Informational", Severity::Informational),
    ] {
        let line = format!(r#"{{"level":"{name}"}}"#);
        let r = plain_rule(
            "app",
            "id",
            Facility::Local7,
            Severity::Informational,
            LineFormat::Json,
        );
        assert_eq!(r.classify(line.as_bytes()).severity, want, "{name}");
    }
}

#[test]
fn names_that_are_not_levels_leave_the_default() {
    let r = plain_rule(
        "app",
        "id",
        Facility::Local7,
        Severity::Alert,
        LineFormat::Json,
    );
    for name in [
        "",
        "inf",
        "information",
        "informationalx",
        "warn ",
        "ＩＮＦＯ",
        "errors",
    ] {
        let line = format!(r#"{{"level":"{name}"}}"#);
        assert_eq!(
            r.classify(line.as_bytes()).severity,
            Severity::Alert,
            "{name:?}"
        );
    }
}

#[test]
fn severity_keys_have_a_fixed_priority() {
    let r = plain_rule(
        "app",
        "id",
        Facility::Local7,
        Severity::Debug,
        LineFormat::Json,
    );
    let sev = |l: &str| r.classify(l.as_bytes()).severity;
    assert_eq!(
        sev(r#"{"lvl":"debug","level":"warn","severity":"error","status":200}"#),
        Severity::Error
    );
    assert_eq!(
        sev(r#"{"lvl":"debug","level":"warn","status":500}"#),
        Severity::Warning
    );
    assert_eq!(
        sev(r#"{"log_level":"crit","status":500}"#),
        Severity::Critical
    );
    assert_eq!(
        sev(r#"{"level":"verbose","status":"503"}"#),
        Severity::Error,
        "unknown name falls through"
    );
    assert_eq!(sev(r#"{"status":302}"#), Severity::Debug);
    assert_eq!(
        sev(r#"{"msg":"{\"severity\":\"ERROR\"}"}"#),
        Severity::Debug
    );
    assert_eq!(
        sev(r#"{"msg":"x\",\"severity\":\"ERROR","level":"info"}"#),
        Severity::Informational,
        "a key smuggled inside a string value"
    );
    assert_eq!(
        sev(r#"{"msg":"ends in \\","severity":"ERROR"}"#),
        Severity::Error,
        "an escaped backslash does not escape the closing quote"
    );
    assert_eq!(sev("not json"), Severity::Debug);
    assert_eq!(
        sev(r#"{"severity":"ERROR","message":"cut in the mi"#),
        Severity::Error
    );
}

#[test]
fn unparsable_time_is_no_time() {
    let r = plain_rule(
        "app",
        "id",
        Facility::Local7,
        Severity::Debug,
        LineFormat::Json,
    );
    assert_eq!(
        r.classify(br#"{"time":"yesterday","level":"info"}"#)
            .timestamp,
        None
    );
    assert_eq!(
        r.classify(br#"{"time":1579008915,"level":"info"}"#)
            .timestamp,
        None
    );
    let c = r.classify(br#"{"time":"bad","timestamp":"2020-01-14T13:35:15Z"}"#);
    assert_eq!(c.timestamp.map(|t| t.unix_secs), Some(1_579_008_915));
}

#[test]
fn text_format_never_looks_inside() {
    let r = plain_rule(
        "app",
        "id",
        Facility::Local7,
        Severity::Warning,
        LineFormat::Text,
    );
    let c = r.classify(br#"{"level":"error"}"#);
    assert_eq!((c.severity, c.timestamp), (Severity::Warning, None));
}

#[test]
fn line_format_names_round_trip() {
    for name in LineFormat::NAMES {
        let f: LineFormat = name.parse().unwrap();
        assert_eq!(f.to_string(), name);
    }
    assert_eq!("PostgreSQL".parse::<LineFormat>(), Ok(LineFormat::Postgres));
    assert_eq!("plain".parse::<LineFormat>(), Ok(LineFormat::Text));
    let e = "xml".parse::<LineFormat>().unwrap_err();
    assert!(e.contains("nginx_access"), "{e}");
}

fn arb_rule() -> impl Strategy<Value = FileRule> {
    (0usize..8, any::<bool>()).prop_map(|(i, svlogd)| {
        let mut r = plain_rule(
            "a",
            "m",
            Facility::Local7,
            Severity::Notice,
            LineFormat::ALL[i],
        );
        r.svlogd_prefix = svlogd;
        r
    })
}

proptest! {
    #[test]
    fn classify_never_panics_on_arbitrary_bytes(
        r in arb_rule(), line in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let c = r.classify(&line);
        prop_assert!(line.ends_with(c.message));
    }

    #[test]
    fn classify_never_panics_on_near_miss_lines(
        r in arb_rule(),
        line in r#"(2020-01-14_13:35:1[0-9]\.[0-9]{1,6} )?(\{("[a-z_]{1,9}":("[a-zA-Z0-9\\"{}\[\]]{0,12}"|[0-9]{1,4}|\{[^\n]{0,20}\}),?){0,6}\}?|time="[0-9TZ:.-]{0,24}" level=[a-z]{0,6}.{0,20}|20[0-9]{2}/[0-9]{2}/[0-9]{2} [0-9:]{8} \[[a-z]{0,6}\].{0,10}|.{0,60})"#,
    ) {
        let c = r.classify(line.as_bytes());
        prop_assert!(line.as_bytes().ends_with(c.message));
    }

    #[test]
    fn preset_never_panics_and_keeps_app_names_short(parts in proptest::collection::vec("[a-z@._0-9-]{0,40}", 1..4)) {
        if let Some(r) = gitlab_rule(Path::new(&parts.join("/"))) {
            prop_assert!(r.app_name.chars().count() <= 32);
            prop_assert!(!r.msgid.is_empty());
        }
    }
}
