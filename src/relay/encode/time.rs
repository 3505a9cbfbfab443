//! Timestamps: the RFC 5424 TIMESTAMP writer and the parsers for the time
//! formats GitLab's log files carry (RFC 3339 in JSON `time` fields, the
//! svlogd `-tt` line prefix, nginx's access and error log times).
//!
//! The civil-date arithmetic is written out here (days from 1970-01-01 in the
//! proleptic Gregorian calendar) rather than pulled from a date crate: the
//! relay needs only these few conversions, on every line, without allocation.
//!
//! Every parser is total: malformed input gives `None`, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with microsecond precision and the UTC offset it was
/// written with (kept so that a time read as `+02:00` is forwarded as
/// `+02:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (UTC, whatever the offset).
    pub unix_secs: i64,
    /// Microseconds within the second, `0..=999_999`.
    pub micros: u32,
    /// The offset from UTC of the local time this was written in, in minutes;
    /// `-1439..=1439` is representable in RFC 3339.
    pub offset_minutes: i16,
}

/// Seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: RFC 3339 has
/// four-digit years only, so [`Timestamp::write_rfc3339`] clamps to this range.
const MIN_UNIX_SECS: i64 = -62_167_219_200;
const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// The longest TIMESTAMP we write: `9999-12-31T23:59:59.999999+23:59`.
pub(crate) const RFC3339_MAX_LEN: usize = 32;

impl Timestamp {
    /// The current time, UTC (offset 0).
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// Converts a [`SystemTime`] to UTC, truncating to microseconds; times
    /// before 1970 are handled (floored, so `micros` stays positive).
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let (unix_secs, micros) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (clamp_secs_u64(d.as_secs()), d.subsec_micros()),
            Err(e) => {
                let d = e.duration();
                // Round the nanoseconds up so that e.g. -0.5 µs floors to -1 µs.
                let sub = d.subsec_nanos().div_ceil(1000);
                let secs = -clamp_secs_u64(d.as_secs());
                if sub == 0 {
                    (secs, 0)
                } else {
                    (secs.saturating_sub(1), 1_000_000 - sub)
                }
            }
        };
        Timestamp {
            unix_secs,
            micros,
            offset_minutes: 0,
        }
    }

    /// Appends the RFC 5424 TIMESTAMP (RFC 3339 profile of RFC 5424 §6.2.3):
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` or `…±HH:MM`.
    ///
    /// * At most six fraction digits (microseconds), never rounded, with
    ///   trailing zeros dropped and no fraction at all for a whole second:
    ///   `.466Z`, not `.466000Z` (the form of RFC 5424 §6.5's examples).
    /// * `Z` for offset 0, else `±HH:MM` in local time.
    /// * Out-of-range values are clamped rather than written invalid: an
    ///   offset beyond ±23:59 is written as UTC, a year outside 0000–9999 is
    ///   clamped to the first or last representable second, micros above
    ///   999 999 to 999 999.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; RFC3339_MAX_LEN];
        let n = self.format_rfc3339(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }

    /// Writes the TIMESTAMP into `buf` and returns its length (20 to 32).
    pub fn format_rfc3339(&self, buf: &mut [u8; RFC3339_MAX_LEN]) -> usize {
        let offset = if self.offset_minutes.unsigned_abs() < 24 * 60 {
            i64::from(self.offset_minutes)
        } else {
            0
        };
        let local = self
            .unix_secs
            .saturating_add(offset * 60)
            .clamp(MIN_UNIX_SECS, MAX_UNIX_SECS);
        // Lines come in time order, most in the same second as the one
        // before: the date and time of day are rendered once per second
        // (per thread), not once per line.
        let head = match LAST_FORMATTED.get() {
            (secs, head) if secs == local => head,
            _ => {
                let head = date_time_text(local);
                LAST_FORMATTED.set((local, head));
                head
            }
        };
        buf[..19].copy_from_slice(&head);
        let micros = self.micros.min(999_999);
        let mut n = 19;
        if micros != 0 {
            buf[19] = b'.';
            put_digits(&mut buf[20..26], micros);
            n = 26;
            while buf[n - 1] == b'0' {
                n -= 1;
            }
        }
        if offset == 0 {
            buf[n] = b'Z';
            return n + 1;
        }
        buf[n] = if offset < 0 { b'-' } else { b'+' };
        let abs = offset.unsigned_abs() as u32;
        put_digits(&mut buf[n + 1..n + 3], abs / 60);
        buf[n + 3] = b':';
        put_digits(&mut buf[n + 4..n + 6], abs % 60);
        n + 6
    }
}

thread_local! {
    /// The last local second [`Timestamp::format_rfc3339`] rendered, and its text.
    static LAST_FORMATTED: std::cell::Cell<(i64, [u8; 19])> =
        const { std::cell::Cell::new((i64::MIN, [0; 19])) };
    /// The last `YYYY-MM-DDTHH:MM:SS` [`parse_rfc3339`] read, and its local
    /// seconds since the epoch (as if UTC; the offset is applied after).
    static LAST_PARSED: std::cell::Cell<([u8; 19], i64)> =
        const { std::cell::Cell::new(([0; 19], 0)) };
}

/// `YYYY-MM-DDTHH:MM:SS` of `local` seconds (already clamped to years
/// 0000–9999).
fn date_time_text(local: i64) -> [u8; 19] {
    let mut buf = [0u8; 19];
    let days = local.div_euclid(86_400);
    let secs_of_day = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // The caller's clamp keeps `y` in 0..=9999, so every cast below is exact.
    put_digits(&mut buf[0..4], y as u32);
    buf[4] = b'-';
    put_digits(&mut buf[5..7], m);
    buf[7] = b'-';
    put_digits(&mut buf[8..10], d);
    buf[10] = b'T';
    put_digits(&mut buf[11..13], (secs_of_day / 3600) as u32);
    buf[13] = b':';
    put_digits(&mut buf[14..16], (secs_of_day / 60 % 60) as u32);
    buf[16] = b':';
    put_digits(&mut buf[17..19], (secs_of_day % 60) as u32);
    buf
}

fn clamp_secs_u64(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX).min(MAX_UNIX_SECS)
}

/// Writes `v` as zero-padded decimal filling `dst` exactly (high digits that
/// do not fit are dropped; callers pass values that fit).
fn put_digits(dst: &mut [u8], mut v: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
///
/// Counts in 400-year eras starting on March 1st, so that the leap day is the
/// last day of the (shifted) year and month lengths follow a fixed pattern:
/// the day of the shifted year is `(153 * month + 2) / 5 + day - 1`.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // 0..=399
    let mp = i64::from((m + 9) % 12); // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468 // 719 468 = days from 0000-03-01 to 1970-01-01
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // 0..=11
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A byte cursor for the fixed-layout parsers below.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let bytes = self.s.get(self.pos..self.pos + n)?;
        let mut v = 0u32;
        for &b in bytes {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        self.pos += n;
        Some(v)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.pos += 1)
    }

    fn one_of(&mut self, set: &[u8]) -> Option<u8> {
        let b = self.peek()?;
        set.contains(&b).then(|| {
            self.pos += 1;
            b
        })
    }

    /// `.` followed by 1 to 9 digits, truncated to microseconds; `0` when the
    /// next byte is not a `.`.
    fn fraction(&mut self) -> Option<u32> {
        if self.peek() != Some(b'.') {
            return Some(0);
        }
        self.pos += 1;
        let start = self.pos;
        let mut micros = 0u32;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            if self.pos - start < 6 {
                micros = micros * 10 + u32::from(b - b'0');
            }
            self.pos += 1;
        }
        let n = self.pos - start;
        if n == 0 || n > 9 {
            return None;
        }
        Some(micros * 10u32.pow(6u32.saturating_sub(n as u32)))
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }
}

/// A validated civil date and time of day (seconds may be 60: leap second).
struct Civil {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
}

impl Civil {
    /// Validates the fields and converts to a [`Timestamp`] in UTC, applying
    /// `offset_minutes` (local = UTC + offset). A leap second `:60` becomes
    /// `:59.999999`: RFC 5424 forbids `:60`, and clamping keeps the order of
    /// lines, which rounding into the next minute would not guarantee.
    fn to_timestamp(&self, micros: u32, offset_minutes: i16) -> Option<Timestamp> {
        let valid = (1..=12).contains(&self.mo)
            && self.d >= 1
            && self.d <= days_in_month(self.y, self.mo)
            && self.h < 24
            && self.mi < 60
            && self.s <= 60;
        if !valid {
            return None;
        }
        let (s, micros) = if self.s == 60 {
            (59, 999_999)
        } else {
            (self.s, micros)
        };
        let local = days_from_civil(self.y, self.mo, self.d) * 86_400
            + i64::from(self.h * 3600 + self.mi * 60 + s);
        Some(Timestamp {
            unix_secs: local - i64::from(offset_minutes) * 60,
            micros,
            offset_minutes,
        })
    }
}

/// `YYYY-MM-DD` followed by one of `seps`, then `HH:MM:SS`.
fn date_time(c: &mut Cursor<'_>, date_sep: u8, seps: &[u8]) -> Option<Civil> {
    let y = i64::from(c.digits(4)?);
    c.byte(date_sep)?;
    let mo = c.digits(2)?;
    c.byte(date_sep)?;
    let d = c.digits(2)?;
    c.one_of(seps)?;
    let (h, mi, s) = time_of_day(c)?;
    Some(Civil { y, mo, d, h, mi, s })
}

fn time_of_day(c: &mut Cursor<'_>) -> Option<(u32, u32, u32)> {
    let h = c.digits(2)?;
    c.byte(b':')?;
    let mi = c.digits(2)?;
    c.byte(b':')?;
    let s = c.digits(2)?;
    Some((h, mi, s))
}

/// `Z`, `z`, `±HH:MM` or `±HHMM`, as minutes east of UTC.
fn utc_offset(c: &mut Cursor<'_>) -> Option<i16> {
    let sign = match c.one_of(b"Zz+-")? {
        b'Z' | b'z' => return Some(0),
        b'+' => 1,
        _ => -1,
    };
    let h = c.digits(2)?;
    if c.peek() == Some(b':') {
        c.pos += 1;
    }
    let m = c.digits(2)?;
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m) as i16)
}

/// Parses an RFC 3339 date-time, the whole of `s`.
///
/// Accepts `T`, `t` or a space between date and time (GitLab's Ruby and Go
/// loggers differ), 1 to 9 fraction digits (truncated to microseconds, never
/// rounded into the next second), `Z`/`z`/`±HH:MM`/`±HHMM`. A leap second
/// `:60` is clamped to `:59.999999`. `-00:00` ("offset unknown") reads as UTC.
///
/// The date and time of day of the previous call (per thread) are
/// remembered: a line in the same second as the one before skips their
/// parsing and validation (an exact match of those 19 bytes).
pub fn parse_rfc3339(s: &[u8]) -> Option<Timestamp> {
    let head: [u8; 19] = s.get(..19)?.try_into().ok()?;
    let (last, local) = LAST_PARSED.get();
    if head != last || head == [0; 19] {
        return parse_rfc3339_uncached(s).inspect(|t| {
            // A leap second reads as :59.999999 (micros overridden): not
            // cached, so that a hit never needs to know.
            if &head[17..19] != b"60" {
                let local = t.unix_secs + i64::from(t.offset_minutes) * 60;
                LAST_PARSED.set((head, local));
            }
        });
    }
    let mut c = Cursor { s, pos: 19 };
    let micros = c.fraction()?;
    let offset = utc_offset(&mut c)?;
    if !c.done() {
        return None;
    }
    Some(Timestamp {
        unix_secs: local - i64::from(offset) * 60,
        micros,
        offset_minutes: offset,
    })
}

/// [`parse_rfc3339`] without the one-entry cache.
fn parse_rfc3339_uncached(s: &[u8]) -> Option<Timestamp> {
    let mut c = Cursor::new(s);
    let civil = date_time(&mut c, b'-', b"Tt ")?;
    let micros = c.fraction()?;
    let offset = utc_offset(&mut c)?;
    if !c.done() {
        return None;
    }
    civil.to_timestamp(micros, offset)
}

/// Parses the `svlogd -tt` prefix at the start of a runit `current` line:
/// `YYYY-MM-DD_HH:MM:SS.xxxxx ` in UTC (svlogd writes five fraction digits;
/// 1 to 9 are accepted). Returns the time and the prefix length including
/// the space, i.e. where the payload starts.
pub(crate) fn parse_svlogd(line: &[u8]) -> Option<(Timestamp, usize)> {
    let mut c = Cursor::new(line.get(..40.min(line.len()))?);
    let civil = date_time(&mut c, b'-', b"_")?;
    let micros = c.fraction()?;
    c.byte(b' ')?;
    Some((civil.to_timestamp(micros, 0)?, c.pos))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses nginx's `$time_local` (the Common Log Format time), the whole of
/// `s`: `14/Jan/2020:13:35:15 +0000` (the text between `[` and `]`).
pub(crate) fn parse_clf(s: &[u8]) -> Option<Timestamp> {
    let mut c = Cursor::new(s);
    let d = c.digits(2)?;
    c.byte(b'/')?;
    let mon = s.get(c.pos..c.pos + 3)?;
    let mo = MONTHS.iter().position(|m| m.as_slice() == mon)? as u32 + 1;
    c.pos += 3;
    c.byte(b'/')?;
    let y = i64::from(c.digits(4)?);
    c.byte(b':')?;
    let (h, mi, sec) = time_of_day(&mut c)?;
    c.byte(b' ')?;
    if !matches!(c.peek(), Some(b'+' | b'-')) {
        return None;
    }
    let offset = utc_offset(&mut c)?;
    if !c.done() {
        return None;
    }
    Civil {
        y,
        mo,
        d,
        h,
        mi,
        s: sec,
    }
    .to_timestamp(0, offset)
}

/// Parses the time that starts an nginx error log line,
/// `2020/01/14 13:35:15`, and returns it with the number of bytes consumed
/// (19).
///
/// nginx writes this in the server's local time with no offset, so the
/// caller states the offset it assumes: the GitLab preset passes 0, because
/// GitLab's containers and Omnibus pods run with `TZ` unset (UTC). On a host
/// with another zone the time is off by that zone's offset.
pub(crate) fn parse_nginx_error_time(
    line: &[u8],
    offset_minutes: i16,
) -> Option<(Timestamp, usize)> {
    let mut c = Cursor::new(line.get(..19)?);
    let civil = date_time(&mut c, b'/', b" ")?;
    Some((civil.to_timestamp(0, offset_minutes)?, c.pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn fmt(t: &Timestamp) -> String {
        let mut out = Vec::new();
        t.write_rfc3339(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn ts(unix_secs: i64, micros: u32, offset_minutes: i16) -> Timestamp {
        Timestamp {
            unix_secs,
            micros,
            offset_minutes,
        }
    }

    #[test]
    fn civil_conversion_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2020, 1, 14), 18_275);
        assert_eq!(civil_from_days(18_275), (2020, 1, 14));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(days_from_civil(0, 1, 1)), (0, 1, 1));
    }

    #[test]
    fn civil_conversion_is_consecutive_over_four_centuries_and_more() {
        let mut expect = days_from_civil(1599, 1, 1);
        for y in 1599..=2401 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    assert_eq!(days_from_civil(y, m, d), expect, "{y}-{m}-{d}");
                    assert_eq!(civil_from_days(expect), (y, m, d));
                    expect += 1;
                }
            }
        }
    }

    #[test]
    fn writes_utc_with_at_most_six_fraction_digits_and_upper_case_z() {
        assert_eq!(
            fmt(&ts(1_579_008_915, 466_000, 0)),
            "2020-01-14T13:35:15.466Z"
        );
        assert_eq!(fmt(&ts(0, 0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(fmt(&ts(-1, 999_999, 0)), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn writes_offsets_in_local_time_with_a_colon() {
        assert_eq!(
            fmt(&ts(1_579_008_915, 5, 120)),
            "2020-01-14T15:35:15.000005+02:00"
        );
        assert_eq!(
            fmt(&ts(1_579_008_915, 0, -330)),
            "2020-01-14T08:05:15-05:30"
        );
    }

    #[test]
    fn clamps_values_rfc3339_cannot_represent() {
        assert_eq!(fmt(&ts(i64::MAX, 0, 0)), "9999-12-31T23:59:59Z");
        assert_eq!(fmt(&ts(i64::MIN, 0, 0)), "0000-01-01T00:00:00Z");
        assert_eq!(fmt(&ts(0, 5_000_000, 0)), "1970-01-01T00:00:00.999999Z");
        assert_eq!(fmt(&ts(0, 0, 1440)), "1970-01-01T00:00:00Z");
        assert_eq!(fmt(&ts(0, 0, i16::MIN)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn system_time_before_the_epoch_floors() {
        let t = UNIX_EPOCH - Duration::from_nanos(1_500);
        assert_eq!(Timestamp::from_system_time(t), ts(-1, 999_998, 0));
        let t = UNIX_EPOCH - Duration::from_secs(2);
        assert_eq!(Timestamp::from_system_time(t), ts(-2, 0, 0));
        let t = UNIX_EPOCH + Duration::new(5, 123_456_789);
        assert_eq!(Timestamp::from_system_time(t), ts(5, 123_456, 0));
    }

    #[test]
    fn now_is_utc_and_recent() {
        let t = Timestamp::now();
        assert_eq!(t.offset_minutes, 0);
        assert!(t.unix_secs > 1_700_000_000);
    }

    #[test]
    fn parses_the_rfc3339_variants_gitlab_writes() {
        let want = ts(1_579_008_915, 466_000, 0);
        for s in [
            "2020-01-14T13:35:15.466Z",
            "2020-01-14t13:35:15.466z",
            "2020-01-14 13:35:15.466Z",
            "2020-01-14T13:35:15.466000Z",
            "2020-01-14T13:35:15.466000999Z",
            "2020-01-14T13:35:15.466+00:00",
            "2020-01-14T13:35:15.466-00:00",
        ] {
            assert_eq!(parse_rfc3339(s.as_bytes()), Some(want), "{s}");
        }
        assert_eq!(
            parse_rfc3339(b"2020-01-14T15:35:15+0200"),
            Some(ts(1_579_008_915, 0, 120))
        );
        assert_eq!(
            parse_rfc3339(b"2020-01-14T08:05:15.1-05:30"),
            Some(ts(1_579_008_915, 100_000, -330))
        );
    }

    #[test]
    fn fraction_is_truncated_never_rounded_into_the_next_second() {
        let t = parse_rfc3339(b"2020-12-31T23:59:59.999999999Z").unwrap();
        assert_eq!(fmt(&t), "2020-12-31T23:59:59.999999Z");
    }

    #[test]
    fn leap_second_is_clamped_to_the_last_microsecond() {
        let t = parse_rfc3339(b"2016-12-31T23:59:60.5Z").unwrap();
        assert_eq!(fmt(&t), "2016-12-31T23:59:59.999999Z");
    }

    #[test]
    fn rejects_malformed_times() {
        for s in [
            "",
            "2020-01-14",
            "2020-01-14T13:35Z",
            "2020-01-14T13:35:15",
            "2020-01-14T13:35:15.Z",
            "2020-01-14T13:35:15.1234567890Z",
            "2020-13-14T13:35:15Z",
            "2020-02-30T13:35:15Z",
            "2019-02-29T13:35:15Z",
            "2020-01-14T24:00:00Z",
            "2020-01-14T13:60:15Z",
            "2020-01-14T13:35:61Z",
            "2020-01-14T13:35:15+24:00",
            "2020-01-14T13:35:15+02:60",
            "2020-01-14T13:35:15+2:00",
            "2020-01-14T13:35:15Z ",
            "2020-01-14X13:35:15Z",
            "２020-01-14T13:35:15Z",
        ] {
            assert_eq!(parse_rfc3339(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn svlogd_prefix_gives_utc_time_and_payload_start() {
        let line = b"2020-01-14_13:35:15.46612 {\"severity\":\"INFO\"}";
        let (t, n) = parse_svlogd(line).unwrap();
        assert_eq!(t, ts(1_579_008_915, 466_120, 0));
        assert_eq!(&line[n..], b"{\"severity\":\"INFO\"}");
        assert_eq!(parse_svlogd(b"2020-01-14_13:35:15.46612"), None, "no space");
        assert_eq!(parse_svlogd(b"2020-01-14T13:35:15.46612 x"), None);
        assert_eq!(parse_svlogd(b"{\"a\":1}"), None);
        assert_eq!(parse_svlogd(b""), None);
    }

    #[test]
    fn nginx_access_time_has_its_offset() {
        assert_eq!(
            parse_clf(b"14/Jan/2020:13:35:15 +0000"),
            Some(ts(1_579_008_915, 0, 0))
        );
        assert_eq!(
            parse_clf(b"14/Jan/2020:15:35:15 +0200"),
            Some(ts(1_579_008_915, 0, 120))
        );
        assert_eq!(
            parse_clf(b"14/Jun/2020:13:35:15 -0130").map(|t| t.offset_minutes),
            Some(-90)
        );
        assert_eq!(parse_clf(b"14/Jnu/2020:13:35:15 +0000"), None);
        assert_eq!(parse_clf(b"14/Jan/2020:13:35:15 Z"), None);
        assert_eq!(parse_clf(b"14/Jan/2020:13:35:15"), None);
    }

    #[test]
    fn nginx_error_time_uses_the_offset_given() {
        let line = b"2020/01/14 13:35:15 [error] 1#0: oops";
        assert_eq!(
            parse_nginx_error_time(line, 0),
            Some((ts(1_579_008_915, 0, 0), 19))
        );
        let (t, _) = parse_nginx_error_time(line, 60).unwrap();
        assert_eq!(fmt(&t), "2020-01-14T13:35:15+01:00");
        assert_eq!(
            parse_nginx_error_time(b"2020-01-14 13:35:15 [error]", 0),
            None
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(
            secs in MIN_UNIX_SECS + 86_400..MAX_UNIX_SECS - 86_400,
            micros in 0u32..1_000_000,
            offset in -1439i16..=1439,
        ) {
            let t = ts(secs, micros, offset);
            let s = fmt(&t);
            prop_assert!(s.len() <= RFC3339_MAX_LEN);
            prop_assert_eq!(parse_rfc3339(s.as_bytes()), Some(t));
        }

        #[test]
        fn svlogd_round_trips_through_its_own_layout(
            secs in 0i64..MAX_UNIX_SECS, micros in 0u32..1_000_000,
        ) {
            let s = format!("{}.{:06}", &fmt(&ts(secs, 0, 0))[..19], micros);
            let line = format!("{}_{} payload", &s[..10], &s[11..26]);
            prop_assert_eq!(parse_svlogd(line.as_bytes()), Some((ts(secs, micros, 0), 27)));
        }

        /// Runs of times in the same or neighbouring seconds (the format
        /// cache warm) still round-trip.
        #[test]
        fn neighbouring_times_round_trip_with_the_format_cache_warm(
            base in 0i64..MAX_UNIX_SECS - 10,
            steps in proptest::collection::vec((0i64..3, 0u32..1_000_000, prop_oneof![Just(0i16), Just(60), Just(-330)]), 1..20),
        ) {
            for (delta, micros, offset) in steps {
                let t = ts(base + delta, micros, offset);
                prop_assert_eq!(parse_rfc3339(fmt(&t).as_bytes()), Some(t));
            }
        }

        /// The cache never changes an answer: runs of times that share
        /// their first 19 bytes (and some that only look alike), each
        /// parsed with the cache warm, match the uncached parse.
        #[test]
        fn cached_parse_matches_the_uncached_one(
            heads in proptest::collection::vec("(1970|2026|0000|9999)-(01|02|12|13)-(01|28|29|30|31)[Tt ](00|23|24):(00|59):(00|59|60)", 1..4),
            tails in proptest::collection::vec("(\\.[0-9]{1,10})?(Z|z|[+-](00|23|24):?(00|59)|x)?", 1..8),
        ) {
            for tail in &tails {
                for head in &heads {
                    let s = format!("{head}{tail}");
                    prop_assert_eq!(parse_rfc3339(s.as_bytes()), parse_rfc3339_uncached(s.as_bytes()), "{}", s);
                    prop_assert_eq!(parse_rfc3339(s.as_bytes()), parse_rfc3339_uncached(s.as_bytes()), "{} (again)", s);
                }
            }
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = parse_rfc3339(&bytes);
            let _ = parse_svlogd(&bytes);
            let _ = parse_clf(&bytes);
            let _ = parse_nginx_error_time(&bytes, 0);
        }

        #[test]
        fn any_timestamp_formats_to_valid_rfc3339(
            secs in any::<i64>(), micros in any::<u32>(), offset in any::<i16>(),
        ) {
            let s = fmt(&ts(secs, micros, offset));
            prop_assert!(parse_rfc3339(s.as_bytes()).is_some(), "{}", s);
        }
    }
}
