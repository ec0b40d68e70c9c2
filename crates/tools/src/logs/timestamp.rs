//! Timestamps at the start of log lines: nginx's `2026/11/27 20:09:11` and
//! ISO 8601 (`2026-01-05T08:02:03.400Z`, `2026-01-05 08:02:03,123`, with or
//! without an offset). Without an offset a time is local, as nginx writes it.
//!
//! The shape, parsed by hand because every line of a large file goes through
//! it: `^\[?YYYY[-/]MM[-/]DD[T ]hh:mm:ss([.,]f{1,9})?(Z|[+-]hh:?mm)?`.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, TimeZone, Utc};

/// The time a line starts with, if it starts with one.
pub fn leading_time(line: &str) -> Option<DateTime<Utc>> {
    leading_time_end(line.as_bytes()).map(|(time, _)| time)
}

/// A cursor over a line's first bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    /// Exactly `n` ASCII digits, as a number.
    fn number(&mut self, n: usize) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + n)?;
        let mut value = 0u32;
        for b in digits {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.at += n;
        Some(value)
    }

    /// One byte among `allowed`.
    fn one_of(&mut self, allowed: &[u8]) -> Option<()> {
        let b = self.peek(0)?;
        allowed.contains(&b).then(|| self.at += 1)
    }

    /// Whether `n` ASCII digits start `ahead` bytes on.
    fn digits_at(&self, ahead: usize, n: usize) -> bool {
        (0..n).all(|i| self.peek(ahead + i).is_some_and(|b| b.is_ascii_digit()))
    }
}

/// The time a line starts with and the byte offset where its stamp ends
/// (after the `]` that closes an opening `[`).
pub fn leading_time_end(line: &[u8]) -> Option<(DateTime<Utc>, usize)> {
    let mut c = Cursor {
        bytes: line,
        at: usize::from(line.first() == Some(&b'[')),
    };
    let year = c.number(4)?;
    c.one_of(b"-/")?;
    let month = c.number(2)?;
    c.one_of(b"-/")?;
    let day = c.number(2)?;
    c.one_of(b"T ")?;
    let hour = c.number(2)?;
    c.one_of(b":")?;
    let minute = c.number(2)?;
    c.one_of(b":")?;
    let second = c.number(2)?;
    let mut nanos = 0;
    if matches!(c.peek(0), Some(b'.' | b',')) && c.digits_at(1, 1) {
        c.at += 1;
        let mut len = 0;
        while len < 9 && c.digits_at(0, 1) {
            nanos = nanos * 10 + u32::from(line[c.at] - b'0');
            c.at += 1;
            len += 1;
        }
        nanos *= 10u32.pow(9 - len);
    }
    // An offset: `Z`, `+hh:mm` or `+hhmm`.
    let offset = match c.peek(0) {
        Some(b'Z') => {
            c.at += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) if c.digits_at(1, 2) => {
            let colon = usize::from(c.peek(3) == Some(b':'));
            if c.digits_at(3 + colon, 2) {
                c.at += 1;
                let hours = c.number(2)? as i32;
                c.at += colon;
                let minutes = c.number(2)? as i32;
                let sign = if sign == b'-' { -1 } else { 1 };
                Some(sign * (hours * 3600 + minutes * 60))
            } else {
                None
            }
        }
        _ => None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let naive = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let time = match offset {
        Some(0) => Utc.from_utc_datetime(&naive),
        Some(seconds) => FixedOffset::east_opt(seconds)?
            .from_local_datetime(&naive)
            .single()?
            .with_timezone(&Utc),
        None => Local
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc),
    };
    // The `]` that closes an opening `[` belongs to the stamp.
    if line.first() == Some(&b'[') && c.peek(0) == Some(b']') {
        c.at += 1;
    }
    Some((time, c.at))
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

    #[test]
    fn where_stamps_end() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases = [
            (
                "2026-01-05T08:02:03.400Z INFO",
                "2026-01-05T08:02:03.400Z",
                24,
            ),
            ("[2026-01-05 08:02:03,5] x", "", 23),
            ("2026-01-05T10:02:03-0130 x", "2026-01-05T11:32:03Z", 24),
            (
                "2026-01-05T08:02:03.123456789Z",
                "2026-01-05T08:02:03.123456789Z",
                30,
            ),
            ("2026-01-05T08:02:03.1234567891Z", "", 29),
            ("2026-01-05T08:02:03+02:0 x", "", 19),
            ("2026-01-05T08:02:03. x", "", 19),
            ("2026-01-05T08:02:03Zulu", "2026-01-05T08:02:03Z", 20),
        ];
        // An empty expected time: no offset, so local; only the end is checked.
        for (line, expected, end) in cases {
            let (time, at) = leading_time_end(line.as_bytes()).unwrap();
            if !expected.is_empty() {
                assert_eq!(time, utc(expected), "{line}");
            }
            assert_eq!(at, end, "{line}");
        }
        for bad in [
            "2026-13-05T08:02:03Z",
            "2026-01-05X08:02:03Z",
            "2026-01-05T08:02",
            "26-01-05T08:02:03Z",
            "[[2026-01-05T08:02:03Z",
            "",
        ] {
            assert!(leading_time_end(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
