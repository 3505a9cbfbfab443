//! Micro-benchmarks of the per-line CPU path: classification, RFC 5424
//! encoding with RFC 5425 framing, and the timestamp code, on synthetic lines
//! shaped like GitLab's (sizes from the project design notes, §5). The end-to-end relay
//! benchmark (files → TLS receiver) lives elsewhere; these show where the
//! per-line time goes. Run with `cargo bench --bench encode`.

use std::path::Path;

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use reaplog::relay::testing::{
    gitlab_rule, parse_rfc3339, Encoder, HeaderFields, LineCodec, Processing, Severity, Stamp,
    Timestamp,
};

fn main() {
    divan::main();
}

/// A JSON line of about `size` bytes: GitLab's usual leading keys, then a
/// long `params`-like string with some multi-byte UTF-8.
fn json_line(head: &str, size: usize) -> Vec<u8> {
    let mut line = head.as_bytes().to_vec();
    line.extend_from_slice(br#","params":[{"key":"q","value":""#);
    while line.len() + 4 < size {
        line.extend_from_slice("issue ü € 😀 \\\"quoted\\\" ".as_bytes());
    }
    line.extend_from_slice(br#""}]}"#);
    line
}

/// (file as the preset sees it, one line of that file).
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let api = json_line(
        r#"{"time":"2020-01-14T13:35:15.466Z","severity":"INFO","duration_s":0.0123,"db_duration_s":0.004,"view_duration_s":0.008,"status":200,"method":"GET","path":"/api/v4/projects/1/merge_requests","correlation_id":"01E5SX0XH8HR4J4XA7Y4YE5J1Q","meta.user":"root","meta.project":"group/project""#,
        3000,
    );
    let production = json_line(
        r#"{"method":"GET","path":"/group/project/-/issues/1234","format":"html","controller":"Projects::IssuesController","action":"show","status":200,"time":"2020-01-14T13:35:15.466Z","remote_ip":"10.0.0.1","user_id":1,"username":"root","ua":"Mozilla/5.0 (X11; Linux x86_64)""#,
        2000,
    );
    let mut sidekiq = b"2020-01-14_13:35:16.00051 ".to_vec();
    sidekiq.extend(json_line(
        r#"{"severity":"INFO","time":"2020-01-14T13:35:15.466Z","retry":3,"queue":"post_receive","class":"PostReceive","jid":"b4a1f2e3","job_status":"done","duration_s":0.5,"completed_at":"2020-01-14T13:35:15.466Z""#,
        1500,
    ));
    let mut workhorse = b"2020-01-14_13:35:15.46612 ".to_vec();
    workhorse.extend_from_slice(br#"{"content_type":"text/html; charset=utf-8","correlation_id":"01E5SX0XH8HR4J4XA7Y4YE5J1Q","duration_ms":12,"host":"gitlab.example.com","level":"info","method":"GET","msg":"access","proto":"HTTP/1.1","referrer":"https://gitlab.example.com/group/project","remote_addr":"10.0.0.1:0","remote_ip":"10.0.0.1","route":"^/api/v4/","status":200,"system":"http","time":"2020-01-14T13:35:15Z","ttfb_ms":11,"uri":"/api/v4/projects/1/merge_requests?state=opened","user_agent":"Mozilla/5.0","written_bytes":4096}"#);
    let nginx = br#"10.0.0.1 - - [14/Jan/2020:13:35:15 +0000] "GET /api/v4/projects/1/merge_requests?state=opened HTTP/1.1" 200 4096 "https://gitlab.example.com/group/project" "Mozilla/5.0 (X11; Linux x86_64; rv:72.0) Gecko/20100101 Firefox/72.0" 2.31"#.to_vec();
    let huge = json_line(
        r#"{"time":"2020-01-14T13:35:15.466Z","severity":"ERROR","exception.class":"ActiveRecord::StatementInvalid""#,
        12_000,
    );
    vec![
        ("api_json.log", api),
        ("gitlab-rails/production_json.log", production),
        ("sidekiq/current", sidekiq),
        ("gitlab-workhorse/current", workhorse),
        ("nginx/gitlab_access.log", nginx),
        ("exceptions_json.log", huge),
    ]
}

struct Prepared {
    /// The file's rule and header fields, as the reader stamps its lines.
    stamp: Stamp,
    line: Vec<u8>,
}

fn prepared() -> Vec<Prepared> {
    corpus()
        .into_iter()
        .filter_map(|(rel, line)| {
            let rule = std::sync::Arc::new(gitlab_rule(Path::new(rel))?);
            let stamp = Stamp::new(rule, "gitlab-webservice-default-5d8f7b7c9d-x2x4q");
            Some(Prepared { stamp, line })
        })
        .collect()
}

const KINDS: [&str; 6] = [
    "api_json",
    "production_json",
    "sidekiq",
    "workhorse",
    "nginx_access",
    "over_8k",
];

fn one(kind: &str) -> Prepared {
    let i = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    prepared().swap_remove(i)
}

#[divan::bench(args = KINDS)]
fn classify(bencher: Bencher, kind: &str) {
    let p = one(kind);
    bencher
        .counter(BytesCount::of_slice(&p.line))
        .bench_local(|| black_box(p.stamp.rule.classify(black_box(&p.line))));
}

#[divan::bench(args = KINDS)]
fn encode_frame(bencher: Bencher, kind: &str) {
    let p = one(kind);
    let enc = Encoder::default();
    let ts = Timestamp::now();
    let mut out = Vec::with_capacity(16 * 1024);
    bencher
        .counter(BytesCount::of_slice(&p.line))
        .bench_local(|| {
            out.clear();
            enc.encode_frame(
                &mut out,
                p.stamp.rule.facility,
                Severity::Informational,
                &ts,
                &p.stamp.fields,
                black_box(&p.line),
                false,
            );
            black_box(&out);
        });
}

/// Classify and encode the whole corpus into one reused batch buffer
/// through the relay's one line → frame entry point, the shape of the
/// relay's hot loop.
#[divan::bench]
fn classify_and_encode_batch(bencher: Bencher) {
    let corpus = prepared();
    let codec = LineCodec::new(8096, false);
    encode_batch(bencher, &codec, &corpus);
}

/// [`classify_and_encode_batch`] with redaction off: the price of
/// `[redact]`'s default is the difference.
#[divan::bench]
fn classify_and_encode_batch_unredacted(bencher: Bencher) {
    let corpus = prepared();
    let codec = LineCodec::with_processing(8096, false, Processing::none());
    encode_batch(bencher, &codec, &corpus);
}

fn encode_batch(bencher: Bencher, codec: &LineCodec, corpus: &[Prepared]) {
    let read_time = Timestamp::now();
    let total: usize = corpus.iter().map(|p| p.line.len()).sum();
    let stamps: Vec<_> = corpus
        .iter()
        .map(|p| codec.file_stamp(&p.stamp, Path::new("/var/log/gitlab/x")))
        .collect();
    let mut out = Vec::with_capacity(64 * 1024);
    bencher.counter(BytesCount::new(total)).bench_local(|| {
        out.clear();
        for (p, stamp) in corpus.iter().zip(&stamps) {
            codec.encode_line(stamp, &read_time, &p.line, false, &mut out);
        }
        black_box(&out);
    });
}

#[divan::bench]
fn parse_time(bencher: Bencher) {
    bencher.bench(|| parse_rfc3339(black_box(b"2020-01-14T13:35:15.466123Z")));
}

#[divan::bench]
fn write_time(bencher: Bencher) {
    let ts = Timestamp {
        unix_secs: 1_579_008_915,
        micros: 466_123,
        offset_minutes: 120,
    };
    let mut out = Vec::with_capacity(64);
    bencher.bench_local(|| {
        out.clear();
        black_box(&ts).write_rfc3339(&mut out);
        black_box(&out);
    });
}

#[divan::bench]
fn header_fields_new(bencher: Bencher) {
    bencher.bench(|| {
        HeaderFields::new(
            black_box("gitlab-webservice-default-5d8f7b7c9d-x2x4q"),
            "gitlab-rails",
            "",
            "production_json",
            &[],
        )
    });
}
