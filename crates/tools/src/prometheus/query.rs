//! `prometheus.query` and `prometheus.query_range`, and the argument parsing
//! they share with `prometheus.correlate`.

use std::sync::Arc;

use async_trait::async_trait;
use pagerless_model::Observation;

use super::client::{PrometheusClient, PrometheusError};
use super::data::Labels;
use crate::{Tool, ToolError, arg_str};

/// The default resolution of range queries, in seconds.
pub const DEFAULT_STEP_SECS: f64 = 15.0;
/// More points than this per series and Prometheus refuses; refuse first.
const MAX_POINTS: f64 = 11_000.0;

pub(super) fn backend(tool: &str, e: &PrometheusError) -> ToolError {
    ToolError::Backend {
        tool: tool.to_owned(),
        message: e.to_string(),
        retriable: e.is_retriable(),
    }
}

fn bad(tool: &str, message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: tool.to_owned(),
        message: message.into(),
    }
}

/// Reads a time argument: unix seconds (a number or a numeric string) or RFC 3339.
pub(super) fn arg_time(
    tool: &str,
    args: &serde_json::Value,
    key: &str,
) -> Result<Option<f64>, ToolError> {
    let invalid = || {
        bad(
            tool,
            format!("`{key}` must be unix seconds or an RFC 3339 time"),
        )
    };
    match args.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_f64().map(Some).ok_or_else(invalid),
        Some(serde_json::Value::String(s)) => {
            if let Ok(secs) = s.trim().parse::<f64>() {
                return Ok(Some(secs));
            }
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map(|t| Some(t.timestamp_millis() as f64 / 1000.0))
                .map_err(|_| invalid())
        }
        Some(_) => Err(invalid()),
    }
}

/// Reads a required time argument.
pub(super) fn arg_time_required(
    tool: &str,
    args: &serde_json::Value,
    key: &str,
) -> Result<f64, ToolError> {
    arg_time(tool, args, key)?.ok_or_else(|| {
        bad(
            tool,
            format!("`{key}` (unix seconds or RFC 3339) is required"),
        )
    })
}

/// Reads an optional positive number of seconds.
pub(super) fn arg_secs(
    tool: &str,
    args: &serde_json::Value,
    key: &str,
) -> Result<Option<f64>, ToolError> {
    match args.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(s) if s > 0.0 && s.is_finite() => Ok(Some(s)),
            _ => Err(bad(tool, format!("`{key}` must be a positive number"))),
        },
    }
}

/// Checks a range and its step.
pub(super) fn check_range(tool: &str, start: f64, end: f64, step: f64) -> Result<(), ToolError> {
    if end < start {
        return Err(bad(tool, "`end` is before `start`"));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(bad(
            tool,
            format!(
                "{:.0} points per series at step {step} s; raise `step_secs` to stay under {MAX_POINTS}",
                (end - start) / step
            ),
        ));
    }
    Ok(())
}

/// `name{k="v", ...}` for people.
pub(super) fn describe(labels: &Labels) -> String {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", rest.join(", "))
    }
}

pub(super) fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

pub(super) fn data(tool: &str, v: &impl serde::Serialize) -> Result<serde_json::Value, ToolError> {
    serde_json::to_value(v).map_err(|e| ToolError::Backend {
        tool: tool.to_owned(),
        message: format!("cannot encode the result: {e}"),
        retriable: false,
    })
}

/// `prometheus.query`: an instant query.
#[derive(Debug, Clone)]
pub struct Query {
    client: Arc<PrometheusClient>,
}

impl Query {
    /// The tool on `client`.
    pub fn new(client: Arc<PrometheusClient>) -> Query {
        Query { client }
    }
}

#[async_trait]
impl Tool for Query {
    fn name(&self) -> &'static str {
        "prometheus.query"
    }

    fn description(&self) -> &'static str {
        "Evaluates a PromQL expression at one instant (default: now) and returns each series' labels and value."
    }

    fn schema(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "PromQL"},
                "time": {"type": ["number", "string"], "description": "unix seconds or RFC 3339; default: the server's now"}
            },
            "required": ["query"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let tool = self.name();
        let query = arg_str(tool, args, "query")?;
        let mut time = arg_time(tool, args, "time")?;
        let mut result = self
            .client
            .query(query, time)
            .await
            .map_err(|e| backend(tool, &e))?;
        if time.is_none() && result.series.is_empty() {
            // An empty vector carries no timestamp: ask the server what time it is.
            let now = self
                .client
                .query("time()", None)
                .await
                .map_err(|e| backend(tool, &e))?;
            time = now.series.first().map(|s| s.value);
            result.time = time.unwrap_or(result.time);
        }
        let summary = match result.series.as_slice() {
            [] => format!("`{query}` returned no series"),
            [one] if one.labels.is_empty() => format!("`{query}` is {}", value(one.value)),
            [one] => format!(
                "`{query}` is {} for {}",
                value(one.value),
                describe(&one.labels)
            ),
            many => {
                let top = many
                    .iter()
                    .filter(|s| !s.value.is_nan())
                    .max_by(|a, b| a.value.total_cmp(&b.value));
                match top {
                    Some(top) => format!(
                        "`{query}` returned {} series; highest {} at {}",
                        many.len(),
                        describe(&top.labels),
                        value(top.value)
                    ),
                    None => format!("`{query}` returned {} series, all NaN", many.len()),
                }
            }
        };
        Ok(Observation {
            tool: tool.to_owned(),
            summary,
            query: query.to_owned(),
            data: data(tool, &result)?,
            error: None,
        })
    }
}

/// `prometheus.query_range`: a range query.
#[derive(Debug, Clone)]
pub struct QueryRange {
    client: Arc<PrometheusClient>,
}

impl QueryRange {
    /// The tool on `client`.
    pub fn new(client: Arc<PrometheusClient>) -> QueryRange {
        QueryRange { client }
    }
}

#[async_trait]
impl Tool for QueryRange {
    fn name(&self) -> &'static str {
        "prometheus.query_range"
    }

    fn description(&self) -> &'static str {
        "Evaluates a PromQL expression over a time range at a fixed step and returns each series' points."
    }

    fn schema(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "PromQL"},
                "start": {"type": ["number", "string"], "description": "unix seconds or RFC 3339"},
                "end": {"type": ["number", "string"], "description": "unix seconds or RFC 3339"},
                "step_secs": {"type": "number", "description": "resolution in seconds; default 15"}
            },
            "required": ["query", "start", "end"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let tool = self.name();
        let query = arg_str(tool, args, "query")?;
        let start = arg_time_required(tool, args, "start")?;
        let end = arg_time_required(tool, args, "end")?;
        let step = arg_secs(tool, args, "step_secs")?.unwrap_or(DEFAULT_STEP_SECS);
        check_range(tool, start, end, step)?;
        let result = self
            .client
            .query_range(query, start, end, step)
            .await
            .map_err(|e| backend(tool, &e))?;
        let points: usize = result.series.iter().map(|s| s.points.len()).sum();
        let span = end - start;
        let mut summary = format!(
            "`{query}` over {:.0} min at {step} s: {} series, {points} points",
            span / 60.0,
            result.series.len()
        );
        let peak = result
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(move |p| (s, *p)))
            .filter(|(_, (_, v))| v.is_finite())
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1));
        if let Some((s, (t, v))) = peak {
            let when = chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64)
                .map(|d| d.format("%H:%M:%S").to_string())
                .unwrap_or_default();
            summary.push_str(&format!(
                "; peak {} at {when} UTC ({})",
                value(v),
                describe(&s.labels)
            ));
        }
        Ok(Observation {
            tool: tool.to_owned(),
            summary,
            query: query.to_owned(),
            data: data(tool, &result)?,
            error: None,
        })
    }
}
