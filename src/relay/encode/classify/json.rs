//! A bounded scan of a JSON object's top-level keys.
//!
//! No parse tree, no allocation, no unescaping: the scanner walks the line
//! once, skipping nested objects, arrays and strings (honouring `\`
//! escapes), and records the values of top-level keys only, so a
//! `"severity"` inside `"meta"` or inside a string value is never taken for
//! the line's. Keys are compared as raw bytes (a key written with escapes
//! does not match). It stops at the first syntax error or at the end of the
//! line and keeps what it has found: a line cut short still yields the keys
//! before the cut.

use memchr::memchr2;

use super::fields::Fields;

/// Scans `line` if it is a JSON object (first non-blank byte `{`).
pub(super) fn scan(line: &[u8]) -> Option<Fields<'_>> {
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    let mut fields = Fields::default();
    i += 1;
    while let Some(next) = member(line, i, &mut fields) {
        if fields.complete() {
            break;
        }
        i = skip_ws(line, next);
        if line.get(i) != Some(&b',') {
            break;
        }
        i += 1;
    }
    Some(fields)
}

/// Reads one `"key": value` member starting at `i` (blanks allowed before);
/// returns the index after the value.
fn member<'a>(line: &'a [u8], i: usize, fields: &mut Fields<'a>) -> Option<usize> {
    let i = skip_ws(line, i);
    if line.get(i) != Some(&b'"') {
        return None;
    }
    let key_end = string_end(line, i + 1)?;
    let key = &line[i + 1..key_end];
    let i = skip_ws(line, key_end + 1);
    if line.get(i) != Some(&b':') {
        return None;
    }
    let i = skip_ws(line, i + 1);
    let (value, next) = value(line, i)?;
    fields.record(key, value);
    Some(next)
}

/// A value at `i`: a string's content, or the raw text of anything else.
/// Returns the value and the index after it.
fn value(line: &[u8], i: usize) -> Option<(&[u8], usize)> {
    match *line.get(i)? {
        b'"' => {
            let end = string_end(line, i + 1)?;
            Some((&line[i + 1..end], end + 1))
        }
        b'{' | b'[' => {
            let end = container_end(line, i)?;
            Some((&line[i..end], end))
        }
        _ => {
            let len = line[i..]
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(line.len() - i);
            (len > 0).then(|| (&line[i..i + len], i + len))
        }
    }
}

/// The index of the `"` closing a string whose content starts at `i`.
fn string_end(line: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += quote_or_backslash(line.get(i..)?)?;
        if line[i] == b'"' {
            return Some(i);
        }
        i += 2; // a backslash and the byte it escapes
    }
}

/// The index of the first `"` or `\` in `s`. Keys and level or time
/// values are short: the first [`SHORT_STRING`] bytes are tested eight at a
/// time in a `u64` (no branch per byte, no set-up), then memchr2 takes over
/// for long messages. On short JSON lines this scan is one of the largest
/// costs per line (profiles in benches/RESULTS.md).
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    let head = s.len().min(SHORT_STRING);
    let words = s[..head].chunks_exact(8);
    let rest = words.remainder();
    for (n, word) in words.enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(word);
        let x = u64::from_le_bytes(x);
        let hits = zero_bytes(x ^ QUOTES) | zero_bytes(x ^ BACKSLASHES);
        if hits != 0 {
            return Some(n * 8 + hits.trailing_zeros() as usize / 8);
        }
    }
    match rest.iter().position(|&b| b == b'"' || b == b'\\') {
        Some(at) => Some(head - rest.len() + at),
        None => Some(head + memchr2(b'"', b'\\', &s[head..])?),
    }
}

const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);

/// The high bit of each zero byte of `x`, plus possibly bits of bytes above
/// the lowest zero byte (a borrow runs upward), so the lowest set bit is
/// always exact.
fn zero_bytes(x: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bytes of a string tested word by word before handing over to memchr2.
const SHORT_STRING: usize = 32;

/// The index after the `}` or `]` that closes the container opening at `i`.
fn container_end(line: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while let Some(&b) = line.get(i) {
        match b {
            b'"' => i = string_end(line, i + 1)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while line.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(line: &str) -> Fields<'_> {
        scan(line.as_bytes()).unwrap()
    }

    #[test]
    fn finds_top_level_keys_and_string_contents() {
        let f = fields(r#"{"time":"2020-01-14T13:35:15.466Z","severity":"INFO","status":200}"#);
        assert_eq!(f.time, Some(&b"2020-01-14T13:35:15.466Z"[..]));
        assert_eq!(f.severity, Some(&b"INFO"[..]));
        assert_eq!(f.status, None, "stops once severity and time are known");
        let f = fields(r#" { "status" : 502 , "level":"warning" } "#);
        assert_eq!(f.status, Some(&b"502"[..]));
        assert_eq!(f.level, Some(&b"warning"[..]));
    }

    #[test]
    fn ignores_keys_inside_nested_objects_arrays_and_strings() {
        let f = fields(
            r#"{"meta":{"severity":"ERROR","a":[{"level":"fatal"}]},"params":[{"key":"level","value":"error"}],"msg":"\"severity\":\"ERROR\" {[","level":"info"}"#,
        );
        assert_eq!(f.severity, None);
        assert_eq!(f.level, Some(&b"info"[..]));
    }

    #[test]
    fn escaped_quotes_and_backslashes_do_not_end_strings_early() {
        let f = fields(r#"{"msg":"a \"quoted\" \\","status":"404","k\"ey":"x","lvl":"debug"}"#);
        assert_eq!(f.status, Some(&b"404"[..]));
        assert_eq!(f.log_level, Some(&b"debug"[..]));
        let f = fields(r#"{"msg":"ends in backslash \\\\","level":"error"}"#);
        assert_eq!(f.level, Some(&b"error"[..]));
    }

    #[test]
    fn first_occurrence_of_a_key_wins() {
        let f = fields(r#"{"level":"info","level":"error"}"#);
        assert_eq!(f.level, Some(&b"info"[..]));
    }

    #[test]
    fn truncated_json_keeps_what_came_before_the_cut() {
        let f = fields(r#"{"severity":"WARN","message":"this line was cut in the mid"#);
        assert_eq!(f.severity, Some(&b"WARN"[..]));
        let f = fields(r#"{"level":"error","meta":{"a":[1,2"#);
        assert_eq!(f.level, Some(&b"error"[..]));
        assert_eq!(fields("{").severity, None);
        assert_eq!(fields(r#"{"sev"#).severity, None);
        assert_eq!(fields(r#"{"msg":"\"#).severity, None);
    }

    #[test]
    fn not_json_is_none() {
        assert!(scan(b"Started GET \"/\" for 127.0.0.1").is_none());
        assert!(scan(b"").is_none());
        assert!(scan(b"[1,2]").is_none());
    }

    #[test]
    fn malformed_json_stops_the_scan() {
        let f = fields(r#"{"level" "error","severity":"info"}"#);
        assert_eq!(f, Fields::default());
        let f = fields(r#"{"level":"error" "severity":"info"}"#);
        assert_eq!(f.severity, None, "no comma: stop");
        assert_eq!(f.level, Some(&b"error"[..]));
    }

    proptest! {
        /// The word test over a string's first bytes and memchr2 after it
        /// agree with a plain walk, wherever the quote or backslash falls.
        #[test]
        fn string_end_matches_a_plain_walk(
            s in r#"[a-z"\\]{0,8}[a-z ]{0,40}[a-z"\\]{0,8}[a-z ]{0,40}"#,
            start in 0usize..4,
        ) {
            let line = s.as_bytes();
            let plain = |mut i: usize| loop {
                match *line.get(i)? {
                    b'"' => return Some(i),
                    b'\\' => i += 2,
                    _ => i += 1,
                }
            };
            prop_assert_eq!(string_end(line, start), plain(start));
        }

        /// Any bytes, near misses of both (`!`, `#`, `[`, `]`, 0xA2, 0xDC)
        /// and high bytes included: the word test finds the first one exactly.
        #[test]
        fn quote_or_backslash_finds_the_first_of_either(
            s in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(b'!'), Just(b'#'), Just(b'['),
                            Just(b']'), Just(0xA2u8), Just(0xDCu8), any::<u8>()],
                0..80,
            ),
            quotes_from in 0usize..80,
        ) {
            // Fewer hits: most strings are longer than a word before the end.
            let s: Vec<u8> = s.iter().enumerate()
                .map(|(i, &b)| if i < quotes_from && matches!(b, b'"' | b'\\') { b'x' } else { b })
                .collect();
            let plain = s.iter().position(|&b| b == b'"' || b == b'\\');
            prop_assert_eq!(quote_or_backslash(&s), plain);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = scan(&bytes);
        }

        #[test]
        fn never_panics_on_json_shaped_input(s in r#"\{[{}\[\]"\\:, a-z0-9]{0,80}"#) {
            let _ = scan(s.as_bytes());
        }

        #[test]
        fn nested_keys_never_count(inner in r#"[a-z":, ]{0,20}"#, level in "(info|error|warn)") {
            let line = format!(r#"{{"meta":{{"severity":"ERROR","x":"{}"}},"level":"{}"}}"#,
                inner.replace(['"', '\\'], ""), level);
            let f = scan(line.as_bytes()).unwrap();
            prop_assert_eq!(f.severity, None);
            prop_assert_eq!(f.level, Some(level.as_bytes()));
        }
    }
}
