//! JSON rendering of results in Prometheus' exact wire shape.

use crate::store::Labels;
use crate::value::{QueryValue, format_float, format_timestamp, format_timestamp_shortest};

/// A JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A label set as a JSON object.
pub(super) fn labels_json(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_string())
}

/// A JSON array of strings.
pub(super) fn string_array(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", parts.join(","))
}

/// A vector or matrix point: `[1700000000.120,"0.5"]`.
fn point(t_ms: i64, v: &str) -> String {
    format!("[{},{}]", format_timestamp(t_ms), json_string(v))
}

/// A scalar or string result: `[1700000000.12,"0.5"]`.
fn scalar_point(t_ms: i64, v: &str) -> String {
    format!("[{},{}]", format_timestamp_shortest(t_ms), json_string(v))
}

/// The `data` object of a query response.
pub(super) fn query_value(value: &QueryValue) -> String {
    let result = match value {
        QueryValue::Scalar { t_ms, value } => scalar_point(*t_ms, &format_float(*value)),
        QueryValue::String { t_ms, value } => scalar_point(*t_ms, value),
        QueryValue::Vector(samples) => {
            let items: Vec<String> = samples
                .iter()
                .map(|s| {
                    format!(
                        r#"{{"metric":{},"value":{}}}"#,
                        labels_json(&s.labels),
                        point(s.t_ms, &format_float(s.value))
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        }
        QueryValue::Matrix(series) => {
            let items: Vec<String> = series
                .iter()
                .map(|s| {
                    let values: Vec<String> = s
                        .samples
                        .iter()
                        .map(|&(t, v)| point(t, &format_float(v)))
                        .collect();
                    format!(
                        r#"{{"metric":{},"values":[{}]}}"#,
                        labels_json(&s.labels),
                        values.join(",")
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        }
    };
    format!(
        r#"{{"resultType":"{}","result":{}}}"#,
        value.result_type(),
        result
    )
}
