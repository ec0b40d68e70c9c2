//! Request parameters: form/query decoding and Prometheus' time and duration syntax.

use promql_parser::label::Matcher;
use promql_parser::parser::Expr;

use super::ApiError;
use crate::eval::selector_matchers;

/// Decoded parameters from the URL query and a form-encoded body, in order.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn from_request(query: Option<&str>, body: &[u8]) -> Self {
        let mut pairs = query.map(decode_form).unwrap_or_default();
        pairs.extend(decode_form(&String::from_utf8_lossy(body)));
        Self(pairs)
    }

    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::bad_data(format!("invalid parameter {name:?}: missing")))
    }

    /// Every `match[]` selector, parsed to matchers.
    pub(super) fn selectors(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.0
            .iter()
            .filter(|(k, _)| k == "match[]")
            .map(|(_, v)| parse_selector(v))
            .collect()
    }

    /// `start` and `end`, defaulting to all time.
    pub(super) fn time_window(&self) -> Result<(i64, i64), ApiError> {
        let parse = |name: &str, default: i64| match self.get(name) {
            Some(s) => parse_time(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter {name:?}: {e}"))),
            None => Ok(default),
        };
        Ok((parse("start", i64::MIN)?, parse("end", i64::MAX)?))
    }
}

fn parse_selector(s: &str) -> Result<Vec<Matcher>, ApiError> {
    match promql_parser::parser::parse(s) {
        Ok(Expr::VectorSelector(vs)) => Ok(selector_matchers(&vs)),
        Ok(_) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": 1:1: parse error: unexpected expression in series selector {s:?}"
        ))),
        Err(e) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {e}"
        ))),
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte).
pub(super) fn decode_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Prometheus' `parseTime`: unix seconds as a float (millisecond precision) or RFC 3339.
pub(super) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        let secs = f.trunc();
        let millis = ((f - secs) * 1000.0).round();
        return Ok((secs as i64)
            .saturating_mul(1000)
            .saturating_add(millis as i64));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Prometheus' `parseDuration`: float seconds or a duration like `15s`, `1m30s`, in ms.
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        let ms = f * 1000.0;
        if ms > i64::MAX as f64 || ms < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms as i64);
    }
    promql_parser::util::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_and_durations_parse_like_prometheus() {
        assert_eq!(parse_time("1700000000.123").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5+00:00").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15s").unwrap(), 15_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn forms_decode_repeated_keys_and_escapes() {
        let p = decode_form("match%5B%5D=up&match[]=a%7Bb%3D%22c%22%7D&q=x+y");
        assert_eq!(p[0], ("match[]".to_string(), "up".to_string()));
        assert_eq!(p[1].1, "a{b=\"c\"}");
        assert_eq!(p[2].1, "x y");
    }
}
