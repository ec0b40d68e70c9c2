//! Query results as the evaluator returns them, and Prometheus' float formatting.

use crate::store::Labels;

/// One element of an instant vector: labels, the evaluation time and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The sample's labels (possibly without `__name__`).
    pub labels: Labels,
    /// Evaluation timestamp in milliseconds.
    pub t_ms: i64,
    /// The value.
    pub value: f64,
}

/// One series of a range vector or range-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// `(timestamp in ms, value)` in time order.
    pub samples: Vec<(i64, f64)>,
}

/// The result of a query, shaped like Prometheus' `resultType`s.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// `resultType: "scalar"`.
    Scalar {
        /// Evaluation timestamp in milliseconds.
        t_ms: i64,
        /// The value.
        value: f64,
    },
    /// `resultType: "string"`.
    String {
        /// Evaluation timestamp in milliseconds.
        t_ms: i64,
        /// The string.
        value: String,
    },
    /// `resultType: "vector"`.
    Vector(Vec<InstantSample>),
    /// `resultType: "matrix"`.
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    /// Prometheus' name for this result type.
    pub fn result_type(&self) -> &'static str {
        match self {
            Self::Scalar { .. } => "scalar",
            Self::String { .. } => "string",
            Self::Vector(_) => "vector",
            Self::Matrix(_) => "matrix",
        }
    }
}

/// Formats a float like Go's `strconv.FormatFloat(v, 'f', -1, 64)`, which is how
/// Prometheus writes sample values: the shortest digits that round-trip, never an
/// exponent, and `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's Display is shortest-round-trip without exponent, like Go's 'f', -1.
        format!("{v}")
    }
}

/// Parses a float the way Go's `strconv.ParseFloat` reads Prometheus values and
/// `le` labels: numbers, `NaN`, `Inf`/`+Inf`/`-Inf` (any case). `None` otherwise.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// Formats a millisecond timestamp as Prometheus 2.42 writes vector and matrix
/// points: seconds, then a dot and exactly three digits when the milliseconds
/// are not zero (`1700000000.120`).
pub fn format_timestamp(t_ms: i64) -> String {
    let sign = if t_ms < 0 { "-" } else { "" };
    let abs = t_ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:03}")
    }
}

/// Formats a millisecond timestamp as Prometheus 2.42 writes scalar and string
/// results (Go's `encoding/json` of `float64(t) / 1000`): the shortest float,
/// so trailing zeros go (`1700000000.12`).
pub fn format_timestamp_shortest(t_ms: i64) -> String {
    format_float(t_ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(123456789.0), "123456789");
    }

    #[test]
    fn floats_parse_like_go() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float("0.25"), Some(0.25));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("abc"), None);
    }

    #[test]
    fn timestamps_format_like_prometheus_json() {
        assert_eq!(format_timestamp(1_700_000_000_000), "1700000000");
        assert_eq!(format_timestamp(1_700_000_000_123), "1700000000.123");
        assert_eq!(format_timestamp(1_700_000_000_120), "1700000000.120");
        assert_eq!(format_timestamp(1_700_000_000_005), "1700000000.005");
        assert_eq!(format_timestamp(-1_500), "-1.500");
        assert_eq!(
            format_timestamp_shortest(1_700_000_000_120),
            "1700000000.12"
        );
        assert_eq!(format_timestamp_shortest(1_700_000_000_000), "1700000000");
    }
}
