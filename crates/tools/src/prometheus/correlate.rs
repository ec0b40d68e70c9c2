//! `prometheus.correlate`: which candidate series moved, how much and how
//! early, around the moment a symptom started.

use std::sync::Arc;

use async_trait::async_trait;
use pagerless_model::Observation;

use super::client::PrometheusClient;
use super::data::{Candidate, Correlation, LabeledSeries, Labels};
use super::query::{
    DEFAULT_STEP_SECS, arg_secs, arg_time, arg_time_required, backend, check_range, data, describe,
    value,
};
use super::stats::{self, Baseline, Frame, Z_THRESHOLD};
use crate::{Tool, ToolError, arg_str};

/// At most this many candidate queries per call.
const MAX_CANDIDATES: usize = 20;

/// `prometheus.correlate`: ranks candidate series by how they moved around a symptom's onset.
#[derive(Debug, Clone)]
pub struct Correlate {
    client: Arc<PrometheusClient>,
}

impl Correlate {
    /// The tool on `client`.
    pub fn new(client: Arc<PrometheusClient>) -> Correlate {
        Correlate { client }
    }
}

fn bad(tool: &str, message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: tool.to_owned(),
        message: message.into(),
    }
}

/// The symptom's series: the one that varies most when a query returns several.
fn pick_symptom(series: Vec<LabeledSeries>) -> Option<LabeledSeries> {
    let spread = |s: &LabeledSeries| {
        let finite = s.points.iter().map(|p| p.1).filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if hi >= lo { hi - lo } else { f64::NEG_INFINITY }
    };
    series
        .into_iter()
        .max_by(|a, b| spread(a).total_cmp(&spread(b)))
}

/// How alike two label sets are: the characters their differing values
/// share at the start (`order-service-5944f76bb6-gb2mj` and
/// `order-service-7676579478-4nzct` share 14); `None` when their label names differ.
fn kinship(a: &Labels, b: &Labels) -> Option<usize> {
    if a.len() != b.len() || a.keys().zip(b.keys()).any(|(x, y)| x != y) {
        return None;
    }
    Some(
        a.values()
            .zip(b.values())
            .filter(|(x, y)| x != y)
            .map(|(x, y)| x.chars().zip(y.chars()).take_while(|(c, d)| c == d).count())
            .sum(),
    )
}

/// For a series with no baseline of its own (it appeared mid-window, like a
/// pod that replaced another), the pooled baseline of the series of the same
/// query it most resembles that do have one: its predecessors.
fn sibling_baseline(
    series: &LabeledSeries,
    all: &[LabeledSeries],
    base_end: f64,
) -> Option<Baseline> {
    if stats::baseline_before(&series.points, base_end).is_some() {
        return None;
    }
    let with_baseline: Vec<(&LabeledSeries, usize)> = all
        .iter()
        .filter(|s| stats::baseline_before(&s.points, base_end).is_some())
        .filter_map(|s| kinship(&series.labels, &s.labels).map(|k| (s, k)))
        .collect();
    let best = with_baseline.iter().map(|(_, k)| *k).max()?;
    if best == 0 {
        return None;
    }
    let pooled: Vec<f64> = with_baseline
        .iter()
        .filter(|(_, k)| *k == best)
        .flat_map(|(s, _)| {
            s.points
                .iter()
                .filter(|(t, _)| *t < base_end)
                .map(|(_, v)| *v)
        })
        .collect();
    Baseline::of(&pooled)
}

#[async_trait]
impl Tool for Correlate {
    fn name(&self) -> &'static str {
        "prometheus.correlate"
    }

    fn description(&self) -> &'static str {
        "Finds when a symptom (a PromQL series) left its baseline and ranks candidate series by how far, how early and how closely they moved with it."
    }

    fn schema(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "symptom": {"type": "string", "description": "PromQL of the symptom (e.g. the alert's expression without its threshold)"},
                "candidates": {"type": "array", "items": {"type": "string"}, "description": "PromQL of possible causes; every series they return is ranked"},
                "start": {"type": ["number", "string"], "description": "unix seconds or RFC 3339"},
                "end": {"type": ["number", "string"], "description": "unix seconds or RFC 3339"},
                "step_secs": {"type": "number", "description": "resolution in seconds; default 15"},
                "onset": {"type": ["number", "string"], "description": "when the symptom started; default: detected"},
                "baseline_secs": {"type": "number", "description": "how much of the window's start is the baseline; default a third of the window"}
            },
            "required": ["symptom", "candidates", "start", "end"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let tool = self.name();
        let symptom_query = arg_str(tool, args, "symptom")?;
        let candidates: Vec<&str> = match args.get("candidates") {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| bad(tool, "`candidates` must be strings (PromQL)"))
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(bad(
                    tool,
                    "`candidates` (an array of PromQL strings) is required",
                ));
            }
        };
        if candidates.is_empty() || candidates.len() > MAX_CANDIDATES {
            return Err(bad(
                tool,
                format!("give 1 to {MAX_CANDIDATES} candidate queries"),
            ));
        }
        let start = arg_time_required(tool, args, "start")?;
        let end = arg_time_required(tool, args, "end")?;
        let step = arg_secs(tool, args, "step_secs")?.unwrap_or(DEFAULT_STEP_SECS);
        check_range(tool, start, end, step)?;
        let given_onset = arg_time(tool, args, "onset")?;
        let baseline_secs = arg_secs(tool, args, "baseline_secs")?.unwrap_or((end - start) / 3.0);
        let baseline_end = start + baseline_secs;

        let symptom = self
            .client
            .query_range(symptom_query, start, end, step)
            .await
            .map_err(|e| backend(tool, &e))?;
        let Some(symptom) = pick_symptom(symptom.series) else {
            return Err(ToolError::Backend {
                tool: tool.to_owned(),
                message: format!("the symptom `{symptom_query}` has no data in the window"),
                retriable: false,
            });
        };
        let onset = given_onset
            .or_else(|| stats::detect_onset(&symptom.points, baseline_end))
            .or_else(|| stats::change_point(&symptom.points).map(|c| c.at));
        let Some(onset) = onset else {
            let result = Correlation {
                onset: end,
                ranked: Vec::new(),
            };
            return Ok(Observation {
                tool: tool.to_owned(),
                summary: format!(
                    "`{symptom_query}` did not leave its baseline in the window; nothing to correlate (pass `onset` to force one)"
                ),
                query: symptom_query.to_owned(),
                data: data(tool, &result)?,
                error: None,
            });
        };
        let frame = Frame {
            start,
            end,
            baseline_end,
            onset,
        };

        let mut ranked = Vec::new();
        for candidate in &candidates {
            let result = self
                .client
                .query_range(candidate, start, end, step)
                .await
                .map_err(|e| backend(tool, &e))?;
            let base_end = baseline_end.min(onset);
            for series in &result.series {
                let siblings = sibling_baseline(series, &result.series, base_end);
                let m = stats::movement(&symptom.points, &series.points, siblings, frame);
                ranked.push(Candidate {
                    query: (*candidate).to_owned(),
                    labels: series.labels.clone(),
                    score: m.score,
                    z: m.z,
                    change_at: m.change_at,
                    lead_secs: m.lead_secs,
                    correlation: m.correlation,
                });
            }
        }
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));

        let moved_early = ranked
            .iter()
            .filter(|c| c.z.abs() >= Z_THRESHOLD && c.lead_secs.is_some_and(|l| l >= 0.0))
            .count();
        let how = if given_onset.is_some() {
            "given"
        } else {
            "detected"
        };
        let mut summary = format!(
            "{moved_early} of {} candidate series moved before the onset ({how}, {:.0} s into the window)",
            ranked.len(),
            onset - start
        );
        if let Some(top) = ranked.first() {
            let when = match top.lead_secs {
                Some(l) if l >= 0.0 => format!("{l:.0} s early"),
                Some(l) => format!("{:.0} s late", -l),
                None => "no change point".to_owned(),
            };
            summary.push_str(&format!(
                "; strongest: {} z={}, {when}, r={:.2}",
                describe(&top.labels),
                value((top.z * 10.0).round() / 10.0),
                top.correlation
            ));
        }
        let mut query = format!("symptom: {symptom_query}");
        for c in &candidates {
            query.push_str(&format!("\ncandidate: {c}"));
        }
        Ok(Observation {
            tool: tool.to_owned(),
            summary,
            query,
            data: data(tool, &Correlation { onset, ranked })?,
            error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pod(name: &str, points: Vec<(f64, f64)>) -> LabeledSeries {
        LabeledSeries {
            labels: Labels::from([("pod".to_owned(), name.to_owned())]),
            points,
        }
    }

    #[test]
    fn a_new_pod_is_held_against_the_pods_it_replaced() {
        let old = |v: f64| (0..10).map(|i| (i as f64 * 15.0, v)).collect::<Vec<_>>();
        let all = vec![
            pod("order-service-5944f76bb6-gb2mj", old(0.2)),
            pod("order-service-5944f76bb6-8k2j8", old(0.2)),
            pod("payment-service-79d79946b4-2pz4x", old(0.4)),
            pod(
                "order-service-7676579478-4nzct",
                vec![(300.0, 0.8), (315.0, 0.8)],
            ),
        ];
        let b = sibling_baseline(&all[3], &all, 200.0).unwrap();
        assert_eq!(b.median, 0.2);
        assert!(
            sibling_baseline(&all[0], &all, 200.0).is_none(),
            "it has its own"
        );
        let stranger = pod("zeta", vec![(300.0, 1.0)]);
        assert!(sibling_baseline(&stranger, &all, 200.0).is_none());
    }
}
