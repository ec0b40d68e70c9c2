//! A small client for Prometheus' `/api/v1/query`, `/api/v1/query_range` and
//! `/api/v1/label/<name>/values`, plus the raw samples of a selector (what
//! `pagerless record` copies into a bundle).
//!
//! Values come as strings (`"0.42"`, `"NaN"`, `"+Inf"`) and timestamps as
//! float seconds; a scalar comes back as one series without labels, and a
//! string result is refused (no tool needs one).

use std::time::Duration;

use serde::Deserialize;

use super::config::PrometheusConfig;
use super::data::{InstantResult, LabeledSeries, LabeledValue, Labels, RangeResult};

/// Why a request to Prometheus failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrometheusError {
    /// The request did not get an answer (connection refused, timeout).
    #[error("cannot reach Prometheus at {url}: {message}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Prometheus answered with an error (a bad query: `bad_data`; an overload: 503).
    #[error("Prometheus says {error_type}: {message} (HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Prometheus' `errorType` (`bad_data`, `execution`, `timeout`, ...).
        error_type: String,
        /// Prometheus' `error` text.
        message: String,
    },
    /// The answer was not the JSON Prometheus sends.
    #[error("unexpected answer from Prometheus: {0}")]
    Decode(String),
    /// The client could not be built (a bad URL or TLS setup).
    #[error("cannot build the Prometheus client: {0}")]
    Config(String),
}

impl PrometheusError {
    /// Whether trying again later may succeed: unreachable, timeouts, 5xx.
    pub fn is_retriable(&self) -> bool {
        match self {
            PrometheusError::Unreachable { .. } => true,
            PrometheusError::Api {
                status, error_type, ..
            } => *status >= 500 || error_type == "timeout" || error_type == "unavailable",
            PrometheusError::Decode(_) | PrometheusError::Config(_) => false,
        }
    }
}

/// A Prometheus HTTP API client.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    base: String,
    bearer_token: Option<String>,
    at: Option<f64>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ResultData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// Parses a Prometheus sample value: a float, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(s: &str) -> Result<f64, PrometheusError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse::<f64>()
            .map_err(|_| PrometheusError::Decode(format!("`{s}` is not a sample value"))),
    }
}

impl PrometheusClient {
    /// A client for the API `config` names.
    pub fn new(config: &PrometheusConfig) -> Result<PrometheusClient, PrometheusError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(|e| PrometheusError::Config(e.to_string()))?;
        Ok(PrometheusClient {
            http,
            base: config.url.trim_end_matches('/').to_owned(),
            bearer_token: config.bearer_token.clone(),
            at: config.at,
        })
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// An instant query at `time` (unix seconds), or at the pinned time of
    /// a replay, or at the server's now.
    pub async fn query(
        &self,
        query: &str,
        time: Option<f64>,
    ) -> Result<InstantResult, PrometheusError> {
        let time = time.or(self.at);
        let mut params = vec![("query", query.to_owned())];
        if let Some(t) = time {
            params.push(("time", format_time(t)));
        }
        let data = self.get("/api/v1/query", &params).await?;
        parse_instant(data, time)
    }

    /// A range query over `[start, end]` (unix seconds) every `step_secs`.
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step_secs: f64,
    ) -> Result<RangeResult, PrometheusError> {
        let params = [
            ("query", query.to_owned()),
            ("start", format_time(start)),
            ("end", format_time(end)),
            ("step", format_time(step_secs)),
        ];
        let data = self.get("/api/v1/query_range", &params).await?;
        parse_range(data)
    }

    /// The samples of every series `selector` picks whose timestamps lie in
    /// `[start, end]` (unix seconds), exactly as stored: no resampling, no
    /// lookback. Asks for `SELECTOR[RANGE]` at `end`, with the range one
    /// millisecond longer than the window, then keeps the window, so that both
    /// ends are included whatever the server's range semantics. The selector
    /// must be a plain series selector (`name{label="value"}`), without range
    /// or modifiers.
    pub async fn samples(
        &self,
        selector: &str,
        start: f64,
        end: f64,
    ) -> Result<RangeResult, PrometheusError> {
        let range_ms = ((end - start) * 1000.0).ceil().max(0.0) as i64 + 1;
        let params = [
            ("query", format!("{selector}[{range_ms}ms]")),
            ("time", format_time(end)),
        ];
        let data = self.get("/api/v1/query", &params).await?;
        let mut result = parse_range(data)?;
        for series in &mut result.series {
            series.points.retain(|(t, _)| *t >= start && *t <= end);
        }
        result.series.retain(|s| !s.points.is_empty());
        Ok(result)
    }

    /// The values `label` takes in the series `matchers` pick (every series
    /// when empty) between `start` and `end` (unix seconds):
    /// `/api/v1/label/<label>/values`, sorted as the server sorts them.
    pub async fn label_values(
        &self,
        label: &str,
        matchers: &[&str],
        start: f64,
        end: f64,
    ) -> Result<Vec<String>, PrometheusError> {
        let mut params: Vec<(&str, String)> = matchers
            .iter()
            .map(|m| ("match[]", (*m).to_owned()))
            .collect();
        params.push(("start", format_time(start)));
        params.push(("end", format_time(end)));
        let data = self
            .get_data(&format!("/api/v1/label/{label}/values"), &params)
            .await?;
        decode(data)
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<ResultData, PrometheusError> {
        decode(self.get_data(path, params).await?)
    }

    /// GETs an API path and returns the envelope's `data`, or the error it holds.
    async fn get_data(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, PrometheusError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url).query(params);
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PrometheusError::Unreachable {
                url: url.clone(),
                message: error_chain(&e),
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| PrometheusError::Unreachable {
                url: url.clone(),
                message: error_chain(&e),
            })?;
        let envelope: Envelope = match serde_json::from_slice(&body) {
            Ok(envelope) => envelope,
            Err(e) if status >= 400 => {
                return Err(PrometheusError::Api {
                    status,
                    error_type: "http".to_owned(),
                    message: format!(
                        "{} ({e})",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                });
            }
            Err(e) => return Err(PrometheusError::Decode(e.to_string())),
        };
        if envelope.status != "success" {
            return Err(PrometheusError::Api {
                status,
                error_type: envelope.error_type.unwrap_or_else(|| "unknown".to_owned()),
                message: envelope.error.unwrap_or_default(),
            });
        }
        envelope
            .data
            .ok_or_else(|| PrometheusError::Decode("a success without `data`".to_owned()))
    }
}

/// Prometheus accepts float seconds; print them without a needless exponent.
fn format_time(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.3}")
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, PrometheusError> {
    serde_json::from_value(v).map_err(|e| PrometheusError::Decode(e.to_string()))
}

fn parse_instant(data: ResultData, time: Option<f64>) -> Result<InstantResult, PrometheusError> {
    match data.result_type.as_str() {
        "vector" => {
            let samples: Vec<VectorSample> = decode(data.result)?;
            let at = samples.first().map(|s| s.value.0).or(time).unwrap_or(0.0);
            let series = samples
                .into_iter()
                .map(|s| {
                    Ok(LabeledValue {
                        labels: s.metric,
                        value: parse_value(&s.value.1)?,
                    })
                })
                .collect::<Result<Vec<_>, PrometheusError>>()?;
            Ok(InstantResult { time: at, series })
        }
        "scalar" => {
            let (at, value): (f64, String) = decode(data.result)?;
            Ok(InstantResult {
                time: at,
                series: vec![LabeledValue {
                    labels: Labels::new(),
                    value: parse_value(&value)?,
                }],
            })
        }
        other => Err(PrometheusError::Decode(format!(
            "an instant query answered with a {other}"
        ))),
    }
}

fn parse_range(data: ResultData) -> Result<RangeResult, PrometheusError> {
    match data.result_type.as_str() {
        "matrix" => {
            let raw: Vec<MatrixSeries> = decode(data.result)?;
            let series = raw
                .into_iter()
                .map(|s| {
                    let points = s
                        .values
                        .iter()
                        .map(|(t, v)| Ok((*t, parse_value(v)?)))
                        .collect::<Result<Vec<_>, PrometheusError>>()?;
                    Ok(LabeledSeries {
                        labels: s.metric,
                        points,
                    })
                })
                .collect::<Result<Vec<_>, PrometheusError>>()?;
            Ok(RangeResult { series })
        }
        other => Err(PrometheusError::Decode(format!(
            "a range query answered with a {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn data(v: serde_json::Value) -> ResultData {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn values_include_nan_and_infinities() {
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_value("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(parse_value("0.42").unwrap(), 0.42);
        assert!(parse_value("fast").is_err());
    }

    #[test]
    fn vectors_scalars_and_matrices_parse() {
        let v = parse_instant(
            data(serde_json::json!({"resultType": "vector", "result": [
                {"metric": {"pod": "a"}, "value": [1700000000.5, "+Inf"]}
            ]})),
            None,
        )
        .unwrap();
        assert_eq!(v.time, 1700000000.5);
        assert_eq!(v.series[0].labels["pod"], "a");
        assert_eq!(v.series[0].value, f64::INFINITY);

        let s = parse_instant(
            data(serde_json::json!({"resultType": "scalar", "result": [12.0, "3"]})),
            None,
        )
        .unwrap();
        assert_eq!(s.series.len(), 1);
        assert!(s.series[0].labels.is_empty());
        assert_eq!(s.series[0].value, 3.0);

        let m = parse_range(data(serde_json::json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1.0, "1"], [2.0, "NaN"]]}
        ]})))
        .unwrap();
        assert_eq!(m.series[0].points.len(), 2);
        assert!(m.series[0].points[1].1.is_nan());
    }
}
