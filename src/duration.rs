//! The one duration grammar of reaplog, for init's flags (`--grace 10s`)
//! and the relay's configuration (`poll_interval = "250ms"`) alike:
//!
//! ```text
//! DURATION = NUMBER [UNIT]     NUMBER = DIGITS ["." DIGITS]     UNIT = "ms" | "s" | "m" | "h"
//! ```
//!
//! A bare number is seconds (`"7"` is 7 s), as init has always taken it; a
//! fraction is allowed with any unit (`"1.5s"`, `"0.5m"`), as the relay has
//! always taken it. Whitespace around the whole is ignored, inside it is an
//! error. Std only, so that init stays small: no float, exact to the
//! nanosecond, saturating at `Duration::MAX`.

use std::time::Duration;

/// Parses `text` as a [`Duration`]; the error names the text and the grammar.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = |why: &str| format!("invalid duration {s:?}: {why} (use e.g. 500ms, 10s, 1.5m, 2h)");
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(number_end);
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(bad(&format!("unknown unit {unit:?}"))),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(fraction) || (number.contains('.') && fraction.is_empty()) {
        return Err(bad("expected a number"));
    }
    let whole: u128 = whole.parse().map_err(|_| bad("number too large"))?;
    // Digits past the nanosecond cannot change the result for any unit ≥ 1 ms.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad("expected a number"))?
    };
    let nanos = whole
        .saturating_mul(nanos_per_unit)
        .saturating_add(fraction.saturating_mul(nanos_per_unit) / scale);
    Ok(from_nanos(nanos))
}

fn from_nanos(nanos: u128) -> Duration {
    let secs = nanos / 1_000_000_000;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_fractions_and_bare_seconds() {
        let ms = Duration::from_millis;
        let cases = [
            ("500ms", ms(500)),
            ("7", ms(7000)),
            ("10s", ms(10_000)),
            ("2m", ms(120_000)),
            ("1h", ms(3_600_000)),
            ("1.5s", ms(1500)),
            ("0.25m", ms(15_000)),
            ("0.5ms", Duration::from_micros(500)),
            (" 250ms ", ms(250)),
            ("0", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn errors_name_the_text() {
        for bad in [
            "",
            "s",
            "5 parsecs",
            "5 s",
            "-1s",
            "1.s",
            ".5s",
            "1.2.3s",
            "10d",
            "ms",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        assert_eq!(parse("99999999999999999999999h"), Ok(Duration::MAX));
        assert!(parse("999999999999999999999999999999999999999999h").is_err());
    }
}
