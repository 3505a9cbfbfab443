//! logfmt lines (`time="…" level=info msg="…"`), as logrus's text formatter
//! writes them (GitLab's registry by default, any Go component configured
//! with `log_format = "text"`).

use memchr::memchr2;

use super::fields::Fields;

/// True when the line looks like logfmt: it starts with `time=` or `level=`,
/// the two keys logrus writes first.
pub(super) fn looks_like(line: &[u8]) -> bool {
    line.starts_with(b"time=") || line.starts_with(b"level=")
}

/// Scans `key=value` pairs separated by spaces; values are bare words or
/// double-quoted strings with `\` escapes. Stops at the first pair that is
/// not well formed, keeping what it found.
pub(super) fn scan(line: &[u8]) -> Fields<'_> {
    let mut fields = Fields::default();
    let mut i = 0;
    while let Some(next) = pair(line, i, &mut fields) {
        if fields.complete() {
            break;
        }
        i = next;
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    fields
}

fn pair<'a>(line: &'a [u8], i: usize, fields: &mut Fields<'a>) -> Option<usize> {
    let rest = line.get(i..)?;
    let key_len = rest
        .iter()
        .position(|&b| b == b'=' || b == b' ' || b == b'"')?;
    if key_len == 0 || rest[key_len] != b'=' {
        return None;
    }
    let v = i + key_len + 1;
    let (value, next) = if line.get(v) == Some(&b'"') {
        let end = quoted_end(line, v + 1)?;
        (&line[v + 1..end], end + 1)
    } else {
        let len = line[v..]
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(line.len() - v);
        (&line[v..v + len], v + len)
    };
    fields.record(&rest[..key_len], value);
    Some(next)
}

fn quoted_end(line: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr2(b'"', b'\\', line.get(i..)?)?;
        if line[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_logrus_text_lines() {
        let line = br#"time="2020-01-14T13:35:15.466Z" level=warning msg="response completed with \"error\"" go.version=go1.13 http.request.method=GET http.response.status=503"#;
        assert!(looks_like(line));
        let f = scan(line);
        assert_eq!(f.time, Some(&b"2020-01-14T13:35:15.466Z"[..]));
        assert_eq!(f.level, Some(&b"warning"[..]));
        let f = scan(br#"level=error msg="a=b level=info" status=500"#);
        assert_eq!(f.level, Some(&b"error"[..]));
        assert_eq!(f.status, Some(&b"500"[..]));
    }

    #[test]
    fn stops_at_a_malformed_pair() {
        let f = scan(br#"time=x level=info junk "level=error""#);
        assert_eq!(f.level, Some(&b"info"[..]));
        let f = scan(br#"msg="unterminated level=error"#);
        assert_eq!(f.level, None);
        assert!(!looks_like(b"2020/01/14 13:35:15 level=info"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = scan(&bytes);
        }

        #[test]
        fn never_panics_on_logfmt_shaped_input(s in r#"[a-z="\\ ]{0,60}"#) {
            let _ = scan(s.as_bytes());
        }
    }
}
