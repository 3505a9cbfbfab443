//! Prometheus `/metrics`, `/healthz` and `/readyz` over a minimal HTTP/1.1
//! server: one request per connection, GET only, small bounded reads. A
//! scrape reads atomics and one snapshot of file offsets; it never touches
//! the reader's files or the state directory.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::relay::metrics::{Failure, SourceStats, Stats, TargetStats};

/// Largest request head read; anything longer is answered 431.
const MAX_REQUEST: usize = 8 * 1024;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `listen` now (a bad address fails the start) and serves forever.
pub(crate) async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).await
}

/// Serves scrapes on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, stats: Arc<Stats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let stats = Arc::clone(&stats);
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &stats).await {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream, &mut buf)).await;
    let (status, kind, body) = match head {
        Ok(Ok(true)) => route(&buf, stats),
        Ok(Ok(false)) => (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
        ),
        Ok(Err(e)) => return Err(e),
        Err(_elapsed) => return Ok(()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads until the end of the request head; false if it is too long.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(true);
        }
        buf.extend_from_slice(&chunk[..n]);
        if memchr::memmem::find(buf, b"\r\n\r\n").is_some() {
            return Ok(true);
        }
        if buf.len() > MAX_REQUEST {
            return Ok(false);
        }
    }
}

fn route(head: &[u8], stats: &Stats) -> (&'static str, &'static str, String) {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method != b"GET" && method != b"HEAD" {
        return ("405 Method Not Allowed", "text/plain", "GET only\n".into());
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    match path {
        b"/metrics" => ("200 OK", "text/plain; version=0.0.4", render(stats)),
        b"/healthz" => ("200 OK", "text/plain", "ok\n".into()),
        b"/readyz" => match readiness(stats) {
            Ok(()) => ("200 OK", "text/plain", "ready\n".into()),
            Err(why) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
        },
        _ => (
            "404 Not Found",
            "text/plain",
            "try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Ready: connected to one of the receiver targets (any of them: a relay
/// that failed over to its second target ships, so it is ready) and the
/// last checkpoint store worked. Between a broken connection and the next
/// one (the failover itself takes one connect) it is not ready.
pub(crate) fn readiness(stats: &Stats) -> Result<(), &'static str> {
    if !stats.output.connected.load(Ordering::Relaxed) {
        return Err("not connected to the receiver");
    }
    if !stats.checkpoint.healthy.load(Ordering::Relaxed) {
        return Err("cannot write checkpoints");
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The Prometheus text exposition of every counter.
pub(crate) fn render(stats: &Stats) -> String {
    let mut out = String::with_capacity(4096);
    let r = &stats.reader;
    let o = &stats.output;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    type PerSource = fn(&SourceStats) -> &std::sync::atomic::AtomicU64;
    let per_source: [(&str, &str, PerSource); 2] = [
        (
            "reaplog_lines_read_total",
            "Lines read from files, per source.",
            |s| &s.lines,
        ),
        (
            "reaplog_bytes_read_total",
            "Bytes of lines read from files, per source.",
            |s| &s.bytes,
        ),
    ];
    for (name, help, counter) in per_source {
        header(&mut out, name, help, "counter");
        for s in r.sources() {
            let _ = writeln!(
                out,
                "{name}{{source=\"{}\"}} {}",
                escape(&s.label),
                get(counter(&s))
            );
        }
    }
    let gauges = [
        (
            "reaplog_messages_sent_total",
            "Messages written to the receiver (first writes; see reaplog_messages_resent_total).",
            "counter",
            get(&o.messages_sent),
        ),
        (
            "reaplog_bytes_sent_total",
            "Bytes written to the receiver.",
            "counter",
            get(&o.bytes_sent),
        ),
        (
            "reaplog_send_errors_total",
            "Failed connection attempts and writes.",
            "counter",
            get(&o.send_errors),
        ),
        (
            "reaplog_reconnects_total",
            "Connections established to the receiver.",
            "counter",
            get(&o.reconnects),
        ),
        (
            "reaplog_lines_truncated_total",
            "Lines cut to max_message_size.",
            "counter",
            get(&r.lines_truncated),
        ),
        (
            "reaplog_lines_redacted_total",
            "Lines shipped with a secret replaced by [REDACTED] ([redact]).",
            "counter",
            get(&r.lines_redacted),
        ),
        (
            "reaplog_files_watched",
            "Files being read (open or closed to stay under max_open_files).",
            "gauge",
            get(&r.files_watched),
        ),
        (
            "reaplog_files_open",
            "Log file descriptors open (tailers and the batches that still hold them).",
            "gauge",
            get(&r.files_open),
        ),
        (
            "reaplog_max_open_files",
            "The open-file budget: max_open_files, fitted to RLIMIT_NOFILE.",
            "gauge",
            get(&r.max_open_files),
        ),
        (
            "reaplog_files_waiting",
            "Files found but not opened yet because the open-file budget is spent.",
            "gauge",
            get(&r.files_waiting),
        ),
        (
            "reaplog_directories_watched",
            "Directories under the sources' roots.",
            "gauge",
            get(&r.directories),
        ),
        (
            "reaplog_file_closes_total",
            "Idle files closed to stay under max_open_files.",
            "counter",
            get(&r.file_closes),
        ),
        (
            "reaplog_file_reopens_total",
            "Closed files reopened because they changed.",
            "counter",
            get(&r.file_reopens),
        ),
        (
            "reaplog_open_file_waits_total",
            "Times a changed closed file waited a round for a descriptor.",
            "counter",
            get(&r.fd_waits),
        ),
        (
            "reaplog_files_gone_while_closed_total",
            "Closed files deleted or moved out of their directory before they could be reopened.",
            "counter",
            get(&r.files_gone_closed),
        ),
        (
            "reaplog_units_owned",
            "Pod directories (units) this relay ships now (shared state_dir only).",
            "gauge",
            get(&r.units_owned),
        ),
        (
            "reaplog_units_waiting",
            "Units this relay's shard owns that another live relay still ships.",
            "gauge",
            get(&r.units_waiting),
        ),
        (
            "reaplog_unit_handovers_total",
            "Units taken over from another relay (it stopped or died).",
            "counter",
            get(&r.unit_handovers),
        ),
        (
            "reaplog_unit_lock_waits_total",
            "Claims found held by another live relay (asked again every 2 s).",
            "counter",
            get(&r.unit_lock_waits),
        ),
        (
            "reaplog_messages_in_flight",
            "Messages queued for the output and not yet written.",
            "gauge",
            get(&r.messages_shipped).saturating_sub(get(&o.messages_sent)),
        ),
        (
            "reaplog_messages_unconfirmed",
            "Messages written and held for resending until confirmed (RELP window or TLS resend window).",
            "gauge",
            get(&o.in_flight),
        ),
        (
            "reaplog_messages_resent_total",
            "Messages written again after a broken connection or a refusal.",
            "counter",
            get(&o.resent_messages),
        ),
        (
            "reaplog_messages_resend_lost_total",
            "Messages a resend could not read again (file truncated or rewritten, no copy beside it): possibly lost.",
            "counter",
            get(&o.resend_lost_messages),
        ),
        (
            "reaplog_connected",
            "1 while connected to the receiver.",
            "gauge",
            u64::from(o.connected.load(Ordering::Relaxed)),
        ),
        (
            "reaplog_ready",
            "1 while /readyz answers 200: connected to a target and checkpoints stored.",
            "gauge",
            u64::from(readiness(stats).is_ok()),
        ),
        (
            "reaplog_checkpoint_store_errors_total",
            "Checkpoint stores that failed (the relay retries; lines are re-read after a restart).",
            "counter",
            get(&stats.checkpoint.store_errors),
        ),
    ];
    for (name, help, kind, v) in gauges {
        header(&mut out, name, help, kind);
        let _ = writeln!(out, "{name} {v}");
    }
    render_targets(&mut out, &o.targets());
    let name = "reaplog_lines_dropped_total";
    header(
        &mut out,
        name,
        "Lines a [[drop]] rule took: read and confirmed, not shipped, per rule.",
        "counter",
    );
    for rule in r.drop_rules() {
        let _ = writeln!(
            out,
            "{name}{{rule=\"{}\"}} {}",
            escape(&rule.label),
            get(&rule.lines)
        );
    }
    let last = get(&stats.checkpoint.last_store_unix);
    let age = if last == 0 {
        -1.0
    } else {
        unix_now().saturating_sub(last) as f64
    };
    let name = "reaplog_checkpoint_age_seconds";
    header(
        &mut out,
        name,
        "Seconds since the last checkpoint store (-1: none yet).",
        "gauge",
    );
    let _ = writeln!(out, "{name} {age}");
    let help = "Bytes in an open file after the relay's read position.";
    header(&mut out, "reaplog_file_lag_bytes", help, "gauge");
    for (path, offset) in r.offsets() {
        if let Ok(meta) = std::fs::metadata(&*path) {
            let lag = meta.len().saturating_sub(offset);
            let _ = writeln!(
                out,
                "reaplog_file_lag_bytes{{path=\"{}\"}} {lag}",
                escape_path(&path)
            );
        }
    }
    out
}

/// The per-target series, labelled `target` (as configured) and
/// `target_index` (its place in the `address` list).
fn render_targets(out: &mut String, targets: &[Arc<TargetStats>]) {
    let labels = |t: &TargetStats| {
        format!(
            "target=\"{}\",target_index=\"{}\"",
            escape(&t.address),
            t.index
        )
    };
    type PerTarget = fn(&TargetStats) -> u64;
    let series: [(&str, &str, &str, PerTarget); 4] = [
        (
            "reaplog_target_up",
            "1 while the last connection to this target was established and has not failed.",
            "gauge",
            |t| u64::from(t.up.load(Ordering::Relaxed)),
        ),
        (
            "reaplog_target_current",
            "1 for the target in use.",
            "gauge",
            |t| u64::from(t.current.load(Ordering::Relaxed)),
        ),
        (
            "reaplog_target_connects_total",
            "Connections established to this target (after TLS and RELP open).",
            "counter",
            |t| t.connects.load(Ordering::Relaxed),
        ),
        (
            "reaplog_target_bytes_sent_total",
            "Bytes written to this target.",
            "counter",
            |t| t.bytes_sent.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, kind, value) in series {
        header(out, name, help, kind);
        for t in targets {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(t), value(t));
        }
    }
    let name = "reaplog_target_failures_total";
    header(
        out,
        name,
        "Failed connection attempts and given-up connections, by target and reason.",
        "counter",
    );
    for t in targets {
        for (i, why) in Failure::ALL.iter().enumerate() {
            let n = t.failures[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}{{{},reason=\"{}\"}} {n}",
                labels(t),
                why.label()
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric. (Writing to a String
/// cannot fail, hence the ignored results here and in `render`.)
fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values escape `\`, `"` and newlines (Prometheus text format).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_path(p: &Path) -> String {
    escape(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn renders_dropped_lines_per_rule_and_redacted_lines() {
        let stats = Stats::default();
        stats
            .reader
            .set_drop_rules(vec!["health-checks".into(), "1".into()]);
        stats.reader.line_dropped(0);
        stats.reader.line_dropped(0);
        stats.reader.line_dropped(7); // no such rule: ignored
        stats.reader.lines_redacted.store(3, Ordering::Relaxed);
        let text = render(&stats);
        assert!(
            text.contains("reaplog_lines_dropped_total{rule=\"health-checks\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("reaplog_lines_dropped_total{rule=\"1\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("reaplog_lines_redacted_total 3\n"), "{text}");
    }

    #[test]
    fn renders_counters_and_routes_requests() {
        let stats = Stats::default();
        stats.output.messages_sent.store(7, Ordering::Relaxed);
        stats.reader.messages_shipped.store(9, Ordering::Relaxed);
        let text = render(&stats);
        assert!(text.contains("reaplog_messages_sent_total 7\n"), "{text}");
        assert!(text.contains("reaplog_messages_in_flight 2\n"), "{text}");
        assert!(
            text.contains("reaplog_checkpoint_age_seconds -1\n"),
            "{text}"
        );
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n\r\n", &stats).0, "200 OK");
        assert_eq!(
            route(b"GET /readyz HTTP/1.1\r\n\r\n", &stats).0,
            "503 Service Unavailable"
        );
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n", &stats).0,
            "405 Method Not Allowed"
        );
        assert_eq!(
            route(b"GET /nope HTTP/1.1\r\n\r\n", &stats).0,
            "404 Not Found"
        );
    }
}
