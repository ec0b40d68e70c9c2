//! Timestamps at the start of log lines: nginx's `2026/11/27 20:09:11` and
//! ISO 8601 (`2026-01-05T08:02:03.400Z`, `2026-01-05 08:02:03,123`, with or
//! without an offset). Without an offset a time is local, as nginx writes it.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Local, NaiveDate, TimeZone, Utc};
use regex::Regex;

static LEADING: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^\[?(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?",
    )
    .ok()
});

/// The time a line starts with, if it starts with one.
pub fn leading_time(line: &str) -> Option<DateTime<Utc>> {
    let caps = LEADING.as_ref()?.captures(line)?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let year = caps.get(1)?.as_str().parse::<i32>().ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(2)?, num(3)?)?;
    let nanos = match caps.get(7) {
        Some(f) => {
            let digits = f.as_str();
            digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
        }
        None => 0,
    };
    let naive = date.and_hms_nano_opt(num(4)?, num(5)?, num(6)?, nanos)?;
    match caps.get(8).map(|m| m.as_str()) {
        Some("Z") => Some(Utc.from_utc_datetime(&naive)),
        Some(offset) => {
            let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
            let hours = digits.get(..2)?.parse::<i32>().ok()?;
            let minutes = digits.get(2..4)?.parse::<i32>().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let offset = FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?;
            offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn nginx_and_iso_times() {
        let nginx = leading_time("2026/11/27 20:09:11 [error] 1234#0: *5 upstream").unwrap();
        let local = Local
            .with_ymd_and_hms(2026, 11, 27, 20, 9, 11)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(nginx, local);
        let iso = leading_time("2026-01-05T08:02:03.400Z INFO started").unwrap();
        assert_eq!(iso.to_rfc3339(), "2026-01-05T08:02:03.400+00:00");
        let offset = leading_time("2026-01-05T10:02:03+02:00 x").unwrap();
        assert_eq!(offset.to_rfc3339(), "2026-01-05T08:02:03+00:00");
        let java = leading_time("2026-01-05 08:02:03,123 WARN pool").unwrap();
        assert_eq!(java.timestamp_subsec_millis(), 123);
        assert!(leading_time("    at com.shop.Order.place(Order.java:42)").is_none());
        assert!(leading_time("GET / 200").is_none());
    }
}
