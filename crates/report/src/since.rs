//! Window lengths as people type them: `7d`, `24h`, `30m`, `90s`.

use chrono::Duration;

use crate::ReportError;

/// Reads a window length: a whole number followed by one unit, `d` (days),
/// `h` (hours), `m` (minutes) or `s` (seconds), such as `7d`, `24h`, `30m`,
/// `90s`. Zero, negative numbers, fractions, other units and lengths over 100
/// years are refused.
pub fn parse_since(text: &str) -> Result<Duration, ReportError> {
    let bad = |why| ReportError::Duration {
        text: text.to_owned(),
        why,
    };
    let t = text.trim();
    let Some(unit) = t.chars().last() else {
        return Err(bad("it is empty"));
    };
    let digits = &t[..t.len() - unit.len_utf8()];
    let secs_per_unit: i64 = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        c if c.is_ascii_digit() => return Err(bad("it has no unit")),
        _ => return Err(bad("its unit is not d, h, m or s")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("it does not start with a whole number"));
    }
    let n: i64 = digits.parse().map_err(|_| bad("its number is too large"))?;
    if n == 0 {
        return Err(bad("it is zero"));
    }
    const MAX_SECS: i64 = 100 * 366 * 86_400;
    match n.checked_mul(secs_per_unit) {
        Some(secs) if secs <= MAX_SECS => Ok(Duration::seconds(secs)),
        _ => Err(bad("it is longer than 100 years")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_unit_reads() {
        assert_eq!(parse_since("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_since("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_since("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_since("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_since(" 1d ").unwrap(), Duration::days(1));
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("7", "no unit"),
            ("7w", "not d, h, m or s"),
            ("d", "whole number"),
            ("-1d", "whole number"),
            ("1.5h", "whole number"),
            ("0s", "zero"),
            ("99999999999999999999d", "too large"),
            ("40000d", "100 years"),
        ] {
            let err = parse_since(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("such as 7d"), "{text}: {err}");
        }
    }
}
