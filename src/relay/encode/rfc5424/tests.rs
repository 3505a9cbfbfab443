//! Tests of the RFC 5424 encoder: golden frames, a strict parser that reads
//! every frame back, and property tests over all inputs.

use super::*;
use crate::relay::encode::syslog::strategies::{arb_facility, arb_severity};
use crate::relay::encode::time::parse_rfc3339;
use proptest::prelude::*;

/// SD-IDs with their params, values unescaped.
type ParsedSd = Vec<(String, Vec<(String, String)>)>;

/// A SYSLOG-MSG as read back by [`parse_strict`].
#[derive(Debug, PartialEq)]
struct Parsed<'a> {
    pri: u8,
    timestamp: &'a [u8],
    hostname: &'a [u8],
    app_name: &'a [u8],
    procid: &'a [u8],
    msgid: &'a [u8],
    /// SD-ID and params with values unescaped; empty for `-`.
    sd: ParsedSd,
    msg: Option<&'a [u8]>,
}

/// A strict RFC 5424 §6 reader: rejects anything the ABNF does not allow
/// (and the `\` escapes it only tolerates), so tests fail on bad output.
fn parse_strict(m: &[u8]) -> Result<Parsed<'_>, String> {
    let mut p = Reader { s: m, pos: 0 };
    p.byte(b'<')?;
    let pri_digits = p.take_while(|b| b.is_ascii_digit());
    if pri_digits.is_empty()
        || pri_digits.len() > 3
        || (pri_digits[0] == b'0' && pri_digits.len() > 1)
    {
        return Err(format!("bad PRI {pri_digits:?}"));
    }
    let pri: u16 = std::str::from_utf8(pri_digits).unwrap().parse().unwrap();
    if pri > 191 {
        return Err("PRI > 191".into());
    }
    p.byte(b'>')?;
    p.byte(b'1')?;
    p.byte(b' ')?;
    let timestamp = p.field(RFC3339_MAX_LEN)?;
    check_timestamp(timestamp)?;
    p.byte(b' ')?;
    let hostname = p.field(255)?;
    p.byte(b' ')?;
    let app_name = p.field(48)?;
    p.byte(b' ')?;
    let procid = p.field(128)?;
    p.byte(b' ')?;
    let msgid = p.field(32)?;
    p.byte(b' ')?;
    let sd = p.structured_data()?;
    let msg = if p.pos == m.len() {
        None
    } else {
        p.byte(b' ')?;
        let msg = &m[p.pos..];
        if let Some(rest) = msg.strip_prefix(BOM) {
            std::str::from_utf8(rest).map_err(|e| format!("BOM then non-UTF-8: {e}"))?;
        }
        Some(msg)
    };
    Ok(Parsed {
        pri: pri as u8,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd,
        msg,
    })
}

fn check_timestamp(t: &[u8]) -> Result<(), String> {
    if t == b"-" {
        return Ok(());
    }
    let ok = parse_rfc3339(t).is_some()
        && t[10] == b'T'
        && !t.contains(&b'z')
        && !t.contains(&b't')
        && &t[17..19] != b"60"
        && (t.ends_with(b"Z") || t[t.len() - 3] == b':')
        && t.iter().skip(20).take_while(|b| b.is_ascii_digit()).count() <= 6;
    ok.then_some(())
        .ok_or_else(|| format!("bad TIMESTAMP {:?}", String::from_utf8_lossy(t)))
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self, want: u8) -> Result<(), String> {
        match self.s.get(self.pos) {
            Some(&b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            other => Err(format!(
                "expected {:?} at {}, got {other:?}",
                want as char, self.pos
            )),
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|&b| f(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A header field: 1..=max PRINTUSASCII.
    fn field(&mut self, max: usize) -> Result<&'a [u8], String> {
        let f = self.take_while(|b| (33..=126).contains(&b));
        if f.is_empty() || f.len() > max {
            return Err(format!("field of {} octets at {}", f.len(), self.pos));
        }
        Ok(f)
    }

    fn sd_name(&mut self) -> Result<String, String> {
        let n = self.take_while(is_sd_name_byte);
        if n.is_empty() || n.len() > 32 {
            return Err(format!("SD-NAME of {} octets at {}", n.len(), self.pos));
        }
        Ok(String::from_utf8(n.to_vec()).unwrap())
    }

    fn structured_data(&mut self) -> Result<ParsedSd, String> {
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
            return Ok(Vec::new());
        }
        let mut elements: ParsedSd = Vec::new();
        while self.s.get(self.pos) == Some(&b'[') {
            self.pos += 1;
            let id = self.sd_name()?;
            if elements.iter().any(|(e, _)| *e == id) {
                return Err(format!("SD-ID {id} twice"));
            }
            let mut params = Vec::new();
            while self.s.get(self.pos) == Some(&b' ') {
                self.pos += 1;
                let name = self.sd_name()?;
                self.byte(b'=')?;
                self.byte(b'"')?;
                params.push((name, self.param_value()?));
            }
            self.byte(b']')?;
            elements.push((id, params));
        }
        if elements.is_empty() {
            return Err(format!("no STRUCTURED-DATA at {}", self.pos));
        }
        Ok(elements)
    }

    /// PARAM-VALUE after its opening quote, through the closing one.
    fn param_value(&mut self) -> Result<String, String> {
        let mut v = Vec::new();
        loop {
            match self.s.get(self.pos).copied() {
                None => return Err("unterminated PARAM-VALUE".into()),
                Some(b'"') => break,
                Some(b']') => return Err("unescaped ] in PARAM-VALUE".into()),
                Some(b'\\') => {
                    self.pos += 1;
                    match self.s.get(self.pos).copied() {
                        Some(c @ (b'"' | b'\\' | b']')) => v.push(c),
                        other => return Err(format!("stray backslash before {other:?}")),
                    }
                }
                Some(b) => v.push(b),
            }
            self.pos += 1;
        }
        self.pos += 1;
        String::from_utf8(v).map_err(|e| format!("PARAM-VALUE not UTF-8: {e}"))
    }
}

/// Splits one frame, checking the length prefix, and parses the message.
fn parse_frame_strict(frame: &[u8]) -> Result<Parsed<'_>, String> {
    let (msg, used) = framing::parse_frame(frame, usize::MAX)
        .map_err(|e| e.to_string())?
        .ok_or("incomplete frame")?;
    if used != frame.len() {
        return Err(format!("{} bytes after the frame", frame.len() - used));
    }
    parse_strict(msg)
}

fn ts_2003() -> Timestamp {
    parse_rfc3339(b"2003-10-11T22:14:15.003Z").unwrap()
}

fn encode(
    enc: &Encoder,
    f: Facility,
    s: Severity,
    ts: &Timestamp,
    h: &HeaderFields,
    msg: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode_frame(&mut out, f, s, ts, h, msg, false);
    out
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    framing::write_octet_counted(&mut out, msg);
    out
}

fn example_sd() -> Vec<SdElement> {
    vec![
        SdElement {
            id: "exampleSDID@32473".into(),
            params: vec![
                ("iut".into(), "3".into()),
                ("eventSource".into(), "Application".into()),
                ("eventID".into(), "1011".into()),
            ],
        },
        SdElement {
            id: "examplePriority@32473".into(),
            params: vec![("class".into(), "high".into())],
        },
    ]
}

#[test]
fn renders_rfc5424_example_1_with_bom() {
    let h = HeaderFields::new("mymachine.example.com", "su", "", "ID47", &[]);
    let out = encode(
        &Encoder::new(8096, true),
        Facility::Auth,
        Severity::Critical,
        &ts_2003(),
        &h,
        b"'su root' failed for lonvick on /dev/pts/8",
    );
    assert_eq!(out, frame(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8"));
}

#[test]
fn renders_rfc5424_example_2_with_offset_and_no_bom() {
    let ts = parse_rfc3339(b"2003-08-24T05:14:15.000003-07:00").unwrap();
    let h = HeaderFields::new("192.0.2.1", "myproc", "8710", "", &[]);
    let out = encode(
        &Encoder::default(),
        Facility::Local4,
        Severity::Notice,
        &ts,
        &h,
        b"%% It's time to make the do-nuts.",
    );
    assert_eq!(out, frame(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."));
}

#[test]
fn renders_rfc5424_example_3_with_structured_data_and_message() {
    let h = HeaderFields::new(
        "mymachine.example.com",
        "evntslog",
        "-",
        "ID47",
        &example_sd()[..1],
    );
    let out = encode(
        &Encoder::new(8096, true),
        Facility::Local4,
        Severity::Notice,
        &ts_2003(),
        &h,
        b"An application event log entry...",
    );
    assert_eq!(out, frame(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry..."));
}

#[test]
fn renders_rfc5424_example_4_structured_data_only() {
    let h = HeaderFields::new(
        "mymachine.example.com",
        "evntslog",
        "-",
        "ID47",
        &example_sd(),
    );
    let out = encode(
        &Encoder::new(8096, true),
        Facility::Local4,
        Severity::Notice,
        &ts_2003(),
        &h,
        b"",
    );
    assert_eq!(out, frame(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]"));
}

#[test]
fn golden_gitlab_rails_json_line() {
    let ts = parse_rfc3339(b"2020-01-14T13:35:15.466Z").unwrap();
    let h = HeaderFields::new(
        "gitlab-webservice-default-5d8f7b7c9d-x2x4q",
        "gitlab-rails",
        "",
        "api_json",
        &[],
    );
    let line = br#"{"time":"2020-01-14T13:35:15.466Z","severity":"INFO","duration_s":0.01,"status":200,"method":"GET","path":"/api/v4/projects/1"}"#;
    let out = encode(
        &Encoder::default(),
        Facility::Local0,
        Severity::Informational,
        &ts,
        &h,
        line,
    );
    let mut want = b"<134>1 2020-01-14T13:35:15.466Z gitlab-webservice-default-5d8f7b7c9d-x2x4q gitlab-rails - api_json - ".to_vec();
    want.extend_from_slice(line);
    assert_eq!(out, frame(&want));
    assert_eq!(&out[..4], b"228 ");
}

#[test]
fn golden_pri_extremes() {
    let h = HeaderFields::new("", "", "", "", &[]);
    let t = Timestamp {
        unix_secs: 0,
        micros: 0,
        offset_minutes: 0,
    };
    let out = encode(
        &Encoder::default(),
        Facility::Kern,
        Severity::Emergency,
        &t,
        &h,
        b"x",
    );
    assert_eq!(out, b"37 <0>1 1970-01-01T00:00:00Z - - - - - x");
    let out = encode(
        &Encoder::default(),
        Facility::Local7,
        Severity::Debug,
        &t,
        &h,
        b"x",
    );
    assert_eq!(out, b"39 <191>1 1970-01-01T00:00:00Z - - - - - x");
    let out = encode(
        &Encoder::default(),
        Facility::Cron,
        Severity::Error,
        &t,
        &h,
        b"x",
    );
    assert_eq!(out, b"38 <75>1 1970-01-01T00:00:00Z - - - - - x");
}

#[test]
fn header_fields_are_sanitized_and_cut() {
    let long = "h".repeat(300);
    let h = HeaderFields::new(&long, "gitlab rails\tä", "12\n", &"m".repeat(40), &[]);
    let want = format!(
        "{} gitlab_rails__ 12_ {} -",
        "h".repeat(255),
        "m".repeat(32)
    );
    assert_eq!(h.as_bytes(), want.as_bytes());
    let app = "a".repeat(60);
    let h = HeaderFields::new("-", &app, &"p".repeat(200), "", &[]);
    assert_eq!(
        h.as_bytes(),
        format!("- {} {} - -", "a".repeat(48), "p".repeat(128)).as_bytes()
    );
}

#[test]
fn sd_values_escape_exactly_quote_backslash_bracket() {
    let sd = [SdElement {
        id: "meta@32473".into(),
        params: vec![("path".into(), r#"a"b\c]d[e=f ü"#.into())],
    }];
    let h = HeaderFields::new("h", "a", "p", "m", &sd);
    assert_eq!(
        h.as_bytes(),
        r#"h a p m [meta@32473 path="a\"b\\c\]d[e=f ü"]"#.as_bytes()
    );
}

#[test]
fn sd_names_are_sanitized_and_bad_elements_dropped() {
    let sd = [
        SdElement {
            id: "".into(),
            params: vec![("a".into(), "1".into())],
        },
        SdElement {
            id: "x y]=\"z".into(),
            params: vec![("".into(), "v".into()), ("k=1 ]".into(), "v".into())],
        },
        SdElement {
            id: "x y]=\"z".into(),
            params: vec![],
        },
        SdElement {
            id: "i".repeat(40),
            params: vec![],
        },
    ];
    let h = HeaderFields::new("h", "a", "p", "m", &sd);
    let want = format!("h a p m [x_y___z k_1__=\"v\"][{}]", "i".repeat(32));
    assert_eq!(h.as_bytes(), want.as_bytes());
    let only_bad = [SdElement {
        id: "".into(),
        params: vec![],
    }];
    assert_eq!(
        HeaderFields::new("h", "a", "p", "m", &only_bad).as_bytes(),
        b"h a p m -"
    );
}

#[test]
fn overlong_message_is_cut_to_the_maximum_and_marked() {
    let enc = Encoder::new(1024, false);
    let h = HeaderFields::new("host", "app", "-", "id", &[]);
    let t = ts_2003();
    let mut out = Vec::new();
    assert!(enc.encode_frame(
        &mut out,
        Facility::Local0,
        Severity::Error,
        &t,
        &h,
        &[b'x'; 5000],
        false
    ));
    let p = parse_frame_strict(&out).unwrap();
    let msg = p.msg.unwrap();
    assert!(msg.ends_with(TRUNCATION_MARKER));
    assert_eq!(out.len(), "1024 ".len() + 1024, "fills the maximum exactly");
    assert_eq!(out.len(), enc.max_frame_len());
}

#[test]
fn truncation_backs_off_to_a_character_boundary() {
    let enc = Encoder::new(1024, false);
    let h = HeaderFields::new("host", "app", "-", "id", &[]);
    let t = ts_2003();
    // Try every alignment of 4-byte characters against the cut point.
    for pad in 0..4 {
        let msg = format!("{}{}", "a".repeat(pad), "😀".repeat(400));
        let mut out = Vec::new();
        assert!(enc.encode_frame(
            &mut out,
            Facility::Local0,
            Severity::Error,
            &t,
            &h,
            msg.as_bytes(),
            false
        ));
        let body = parse_frame_strict(&out).unwrap().msg.unwrap();
        let kept = body.strip_suffix(TRUNCATION_MARKER).unwrap();
        assert!(std::str::from_utf8(kept).is_ok(), "pad {pad}");
        assert!(msg.as_bytes().starts_with(kept));
        assert!(
            out.len() > "1024 ".len() + 1024 - 4,
            "loses at most 3 bytes to the boundary"
        );
    }
}

#[test]
fn invalid_utf8_is_cut_at_the_byte() {
    let enc = Encoder::new(1024, false);
    let h = HeaderFields::new("host", "app", "-", "id", &[]);
    let mut out = Vec::new();
    enc.encode_frame(
        &mut out,
        Facility::Local0,
        Severity::Error,
        &ts_2003(),
        &h,
        &[0x80; 3000],
        false,
    );
    assert_eq!(out.len(), "1024 ".len() + 1024);
}

#[test]
fn a_line_cut_by_the_tailer_is_marked_even_when_it_fits() {
    let h = HeaderFields::new("host", "app", "-", "id", &[]);
    let mut out = Vec::new();
    let cut = Encoder::default().encode_frame(
        &mut out,
        Facility::Local0,
        Severity::Error,
        &ts_2003(),
        &h,
        b"{\"a\":",
        true,
    );
    assert!(cut);
    assert_eq!(
        parse_frame_strict(&out).unwrap().msg,
        Some(&b"{\"a\":...[truncated]"[..])
    );
}

#[test]
fn oversized_structured_data_is_dropped_rather_than_the_marker() {
    let sd = [SdElement {
        id: "big@32473".into(),
        params: vec![("v".into(), "x".repeat(2000))],
    }];
    let h = HeaderFields::new("host", "app", "-", "id", &sd);
    let mut out = Vec::new();
    assert!(Encoder::new(1024, false).encode_frame(
        &mut out,
        Facility::Local0,
        Severity::Error,
        &ts_2003(),
        &h,
        b"hello",
        false
    ));
    let p = parse_frame_strict(&out).unwrap();
    assert!(p.sd.is_empty());
    assert_eq!(p.msg, Some(&b"hello...[truncated]"[..]));
}

#[test]
fn no_bom_before_a_message_that_is_not_utf8() {
    let h = HeaderFields::new("h", "a", "-", "m", &[]);
    let out = encode(
        &Encoder::new(8096, true),
        Facility::User,
        Severity::Notice,
        &ts_2003(),
        &h,
        b"\xFFx",
    );
    assert_eq!(
        out,
        frame(b"<13>1 2003-10-11T22:14:15.003Z h a - m - \xFFx")
    );
}

#[test]
fn maximum_below_the_floor_is_raised() {
    assert_eq!(
        Encoder::new(10, false).max_message_size(),
        MIN_MAX_MESSAGE_SIZE
    );
    assert_eq!(Encoder::default().max_message_size(), 8096);
}

#[test]
fn strict_parser_rejects_known_bad_messages() {
    for bad in [
        &b"<34>1 2003-10-11T22:14:15.003Z host su - ID47  msg"[..], // empty SD
        b"<034>1 2003-10-11T22:14:15.003Z h a - m -",               // leading zero
        b"<192>1 2003-10-11T22:14:15.003Z h a - m -",               // PRI range
        b"<34>1 2003-10-11t22:14:15.003Z h a - m -",                // lower-case t
        b"<34>1 2003-10-11T22:14:15.0031234Z h a - m -",            // 7 digits
        b"<34>1 2003-10-11T22:14:15+0200 h a - m -",                // no colon
        b"<34>1 2003-10-11T22:14:60Z h a - m -",                    // leap second
        b"<34>1 - h a - mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm -",       // MSGID 33
        b"<34>1 - h a - m [id k=\"v]\"]",                           // unescaped ]
        b"<34>1 - h a - m [id k=\"v\\n\"]",                         // stray backslash
        b"<34>1 - h a - m [id][id]",                                // duplicate SD-ID
        b"<34>1 - h a - m - \xEF\xBB\xBF\xFF",                      // BOM then not UTF-8
        b"<34>1 - h a - m -x",                                      // no SP before MSG
    ] {
        assert!(
            parse_strict(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(parse_strict(b"<34>1 - h a - m [id k=\"a\\]b\"] msg").is_ok());
    assert!(
        parse_frame_strict(b"60 <34>1 - h a - m - msg").is_err(),
        "length prefix wrong"
    );
}

fn arb_sd() -> impl Strategy<Value = Vec<SdElement>> {
    proptest::collection::vec(
        (
            ".{0,40}",
            proptest::collection::vec((".{0,40}", ".{0,60}"), 0..4),
        )
            .prop_map(|(id, params)| SdElement { id, params }),
        0..4,
    )
}

fn arb_msg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        ".{0,2500}".prop_map(String::into_bytes),
        "[a-z😀é]{0,3000}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_is_well_formed_and_within_the_maximum(
        host in ".{0,300}", app in ".{0,60}", procid in ".{0,140}", msgid in ".{0,40}",
        sd in arb_sd(), msg in arb_msg(), f in arb_facility(), s in arb_severity(),
        secs in any::<i64>(), micros in 0u32..1_000_000, offset in -1439i16..=1439,
        max in 1024usize..4000, bom in any::<bool>(), was_cut in any::<bool>(),
    ) {
        let h = HeaderFields::new(&host, &app, &procid, &msgid, &sd);
        let ts = Timestamp { unix_secs: secs, micros, offset_minutes: offset };
        let enc = Encoder::new(max, bom);
        let mut out = b"previous frames ".to_vec();
        let truncated = enc.encode_frame(&mut out, f, s, &ts, &h, &msg, was_cut);
        let frame = &out[16..];
        let p = parse_frame_strict(frame).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(frame))))?;
        let syslog_msg_len = frame.len() - frame.iter().position(|&b| b == b' ').unwrap() - 1;
        prop_assert!(syslog_msg_len <= max);
        prop_assert_eq!(p.pri, f.code() * 8 + s.code());
        // Within four-digit years the TIMESTAMP carries the exact time.
        if (-62_000_000_000..253_000_000_000).contains(&secs) {
            let t = parse_rfc3339(p.timestamp).unwrap();
            prop_assert_eq!((t.unix_secs, t.micros), (secs, micros));
        }
        for field in [p.hostname, p.app_name, p.procid, p.msgid] {
            prop_assert!(field.iter().all(|b| (33..=126).contains(b)));
        }
        let body = p.msg.unwrap_or(b"");
        let utf8 = std::str::from_utf8(&msg).is_ok();
        let body = if bom && utf8 && !body.is_empty() { body.strip_prefix(BOM).unwrap() } else { body };
        if truncated {
            let kept = body.strip_suffix(TRUNCATION_MARKER).unwrap();
            prop_assert!(msg.starts_with(kept));
            if utf8 {
                prop_assert!(std::str::from_utf8(kept).is_ok());
            }
        } else {
            prop_assert!(!was_cut);
            prop_assert_eq!(body, &msg[..]);
        }
    }

    #[test]
    fn sd_values_round_trip_through_escaping(values in proptest::collection::vec(".{0,80}", 1..6)) {
        let params: Vec<(String, String)> = values.iter().enumerate().map(|(i, v)| (format!("k{i}"), v.clone())).collect();
        let h = HeaderFields::new("h", "a", "p", "m", &[SdElement { id: "x@32473".into(), params: params.clone() }]);
        let mut out = Vec::new();
        Encoder::new(1 << 20, false).encode_frame(&mut out, Facility::User, Severity::Notice, &ts_2003(), &h, b"m", false);
        let p = parse_frame_strict(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(p.sd, vec![("x@32473".to_string(), params)]);
    }

}
