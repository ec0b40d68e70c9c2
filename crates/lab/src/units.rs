//! Kubernetes quantities (`512Mi`, `2Gi`, `500m`) and durations (`15s`, `30m`, `-3d`) as scenario files write them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte count written as a Kubernetes quantity: `512Mi`, `2Gi`, `1G`, `300M`, `1048576`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub u64);

/// CPU in millicores, written as a Kubernetes quantity: `500m`, `2`, `0.25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millicores(pub u64);

/// A span of simulated time in whole seconds, possibly negative (`-3d`: before the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Secs(pub i64);

impl Bytes {
    /// Parses `512Mi`, `2Gi`, `1.5Gi`, `300M`, `1e3`, `1048576`.
    pub fn parse(s: &str) -> Result<Bytes, String> {
        let t = s.trim();
        let suffixes: [(&str, f64); 12] = [
            ("Ki", 1024.0),
            ("Mi", 1024.0 * 1024.0),
            ("Gi", 1024.0 * 1024.0 * 1024.0),
            ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
            ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
            ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
            ("k", 1e3),
            ("K", 1e3),
            ("M", 1e6),
            ("G", 1e9),
            ("T", 1e12),
            ("P", 1e15),
        ];
        let (num, mult) = suffixes
            .iter()
            .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n, *m)))
            .unwrap_or((t, 1.0));
        match num.parse::<f64>() {
            Ok(n) if n >= 0.0 && n.is_finite() => Ok(Bytes((n * mult).round() as u64)),
            _ => Err(format!(
                "`{s}` is not a memory quantity (like 512Mi or 2Gi)"
            )),
        }
    }

    /// The canonical Kubernetes spelling: the largest binary suffix that divides exactly.
    pub fn to_quantity(self) -> String {
        let units = [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ];
        for (suf, shift) in units {
            let unit = 1u64 << shift;
            if self.0 >= unit && self.0.is_multiple_of(unit) {
                return format!("{}{suf}", self.0 / unit);
            }
        }
        self.0.to_string()
    }

    /// As a float, for arithmetic.
    pub fn f(self) -> f64 {
        self.0 as f64
    }
}

impl Millicores {
    /// Parses `500m`, `2`, `0.25`.
    pub fn parse(s: &str) -> Result<Millicores, String> {
        let t = s.trim();
        let parsed = match t.strip_suffix('m') {
            Some(m) => m.parse::<f64>().ok(),
            None => t.parse::<f64>().ok().map(|c| c * 1000.0),
        };
        match parsed {
            Some(m) if m >= 0.0 && m.is_finite() => Ok(Millicores(m.round() as u64)),
            _ => Err(format!("`{s}` is not a CPU quantity (like 500m or 2)")),
        }
    }

    /// The canonical Kubernetes spelling: whole cores when exact, else millicores.
    pub fn to_quantity(self) -> String {
        if self.0.is_multiple_of(1000) {
            (self.0 / 1000).to_string()
        } else {
            format!("{}m", self.0)
        }
    }

    /// In cores, for arithmetic.
    pub fn cores(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl Secs {
    /// Parses `15s`, `30m`, `2h`, `3d`, `1h30m`, `-3d`, `0`.
    pub fn parse(s: &str) -> Result<Secs, String> {
        let t = s.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let err = || format!("`{s}` is not a duration (like 15s, 30m, 2h, 3d or -1h30m)");
        if body == "0" {
            return Ok(Secs(0));
        }
        let mut total: i64 = 0;
        let mut digits = String::new();
        for c in body.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| err())?;
            digits.clear();
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(err()),
            };
            total += n * unit;
        }
        if !digits.is_empty() || body.is_empty() {
            return Err(err());
        }
        Ok(Secs(if neg { -total } else { total }))
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, mut n) = if self.0 < 0 {
            ("-", -self.0)
        } else {
            ("", self.0)
        };
        if n == 0 {
            return f.write_str("0s");
        }
        f.write_str(sign)?;
        for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if n >= secs {
                write!(f, "{}{unit}", n / secs)?;
                n %= secs;
            }
        }
        Ok(())
    }
}

macro_rules! string_serde {
    ($t:ty, $to:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    S(String),
                    N(f64),
                }
                let text = match Raw::deserialize(d)? {
                    Raw::S(s) => s,
                    Raw::N(n) => n.to_string(),
                };
                <$t>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let f: fn(&$t) -> String = $to;
                s.serialize_str(&f(self))
            }
        }
    };
}

string_serde!(Bytes, |b| b.to_quantity());
string_serde!(Millicores, |m| m.to_quantity());
string_serde!(Secs, |s| s.to_string());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities() {
        assert_eq!(Bytes::parse("512Mi"), Ok(Bytes(512 << 20)));
        assert_eq!(
            Bytes::parse("2Gi").map(Bytes::to_quantity),
            Ok("2Gi".into())
        );
        assert_eq!(
            Bytes::parse("1.5Gi").map(Bytes::to_quantity),
            Ok("1536Mi".into())
        );
        assert_eq!(Bytes::parse("1G"), Ok(Bytes(1_000_000_000)));
        assert_eq!(Bytes::parse("100"), Ok(Bytes(100)));
        assert!(Bytes::parse("lots").is_err());
        assert!(Bytes::parse("-1Mi").is_err());
    }

    #[test]
    fn cpu_quantities() {
        assert_eq!(Millicores::parse("500m"), Ok(Millicores(500)));
        assert_eq!(Millicores::parse("2"), Ok(Millicores(2000)));
        assert_eq!(Millicores::parse("0.25"), Ok(Millicores(250)));
        assert_eq!(Millicores(1500).to_quantity(), "1500m");
        assert_eq!(Millicores(2000).to_quantity(), "2");
    }

    #[test]
    fn durations() {
        assert_eq!(Secs::parse("15s"), Ok(Secs(15)));
        assert_eq!(Secs::parse("1h30m"), Ok(Secs(5400)));
        assert_eq!(Secs::parse("-3d"), Ok(Secs(-259_200)));
        assert_eq!(Secs(5400).to_string(), "1h30m");
        assert_eq!(Secs(-90).to_string(), "-1m30s");
        assert!(Secs::parse("5 minutes").is_err());
        assert!(Secs::parse("10").is_err());
    }
}
