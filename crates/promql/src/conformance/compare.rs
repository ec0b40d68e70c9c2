//! Comparing this crate's answer to a query with Prometheus' answer.

use std::collections::BTreeMap;

use super::ConformanceError;
use super::server::PrometheusServer;
use crate::error::PromqlError;
use crate::eval::{instant_query, range_query};
use crate::store::{Labels, SeriesStore};
use crate::value::{InstantSample, QueryValue, RangeSeries, format_float};

/// One query to compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// An instant query at `t_ms`.
    Instant {
        /// The PromQL text.
        query: String,
        /// Evaluation time in ms.
        t_ms: i64,
    },
    /// A range query.
    Range {
        /// The PromQL text.
        query: String,
        /// First step, ms.
        start_ms: i64,
        /// Last step bound, ms.
        end_ms: i64,
        /// Step, ms.
        step_ms: i64,
    },
}

impl Query {
    /// An instant query.
    pub fn instant(query: &str, t_ms: i64) -> Self {
        Self::Instant {
            query: query.to_string(),
            t_ms,
        }
    }

    /// A range query.
    pub fn range(query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Self {
        Self::Range {
            query: query.to_string(),
            start_ms,
            end_ms,
            step_ms,
        }
    }

    /// This crate's answer.
    pub fn evaluate(&self, store: &SeriesStore) -> Result<QueryValue, PromqlError> {
        match self {
            Self::Instant { query, t_ms } => instant_query(store, query, *t_ms),
            Self::Range {
                query,
                start_ms,
                end_ms,
                step_ms,
            } => range_query(store, query, *start_ms, *end_ms, *step_ms),
        }
    }
}

/// The outcome of comparing one query.
#[derive(Debug)]
pub struct Comparison {
    /// The query.
    pub query: Query,
    /// `None` when both agree (both errors count as agreement), else what differs.
    pub disagreement: Option<String>,
    /// Prometheus' answer, or its error text.
    pub prometheus: Result<QueryValue, String>,
}

impl Comparison {
    /// How many series (or 1 for a scalar or string) Prometheus answered with;
    /// 0 for an error. Lets a test make sure it compared more than empty sets.
    pub fn prometheus_series(&self) -> usize {
        match &self.prometheus {
            Ok(QueryValue::Vector(v)) => v.len(),
            Ok(QueryValue::Matrix(m)) => m.len(),
            Ok(_) => 1,
            Err(_) => 0,
        }
    }
}

/// Runs `query` on both and compares: same label sets, values equal within 1e-9
/// (relative or absolute), NaN equal to NaN, both-error as agreement.
pub async fn compare(
    server: &PrometheusServer,
    store: &SeriesStore,
    query: Query,
) -> Result<Comparison, ConformanceError> {
    let theirs = server.query(&query).await?;
    let ours = query.evaluate(store);
    let disagreement = match (&ours, &theirs) {
        (Err(_), Err(_)) => None,
        (Ok(o), Ok(t)) => values_agree(o, t).err(),
        (Ok(o), Err(t)) => Some(format!("prometheus failed ({t}) but we answered {o:?}")),
        (Err(o), Ok(t)) => Some(format!("we failed ({o}) but prometheus answered {t:?}")),
    };
    Ok(Comparison {
        query,
        disagreement,
        prometheus: theirs,
    })
}

/// Whether two floats agree: within 1e-9 absolute or relative, NaN equal to NaN.
pub fn floats_agree(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-9 || diff <= 1e-9 * a.abs().max(b.abs())
}

/// `Ok` when two results agree as sets of series, else what differs.
pub fn values_agree(ours: &QueryValue, theirs: &QueryValue) -> Result<(), String> {
    match (ours, theirs) {
        (QueryValue::Scalar { t_ms: a, value: x }, QueryValue::Scalar { t_ms: b, value: y }) => {
            if a == b && floats_agree(*x, *y) {
                Ok(())
            } else {
                Err(format!("scalar ours {a}:{x} theirs {b}:{y}"))
            }
        }
        (QueryValue::String { value: x, .. }, QueryValue::String { value: y, .. }) if x == y => {
            Ok(())
        }
        (QueryValue::Vector(a), QueryValue::Vector(b)) => {
            let index = |v: &[InstantSample]| -> BTreeMap<Labels, f64> {
                v.iter().map(|s| (s.labels.clone(), s.value)).collect()
            };
            let (a, b) = (index(a), index(b));
            compare_maps(&a, &b, |x, y| {
                if floats_agree(*x, *y) {
                    None
                } else {
                    Some(format!(
                        "ours {} theirs {}",
                        format_float(*x),
                        format_float(*y)
                    ))
                }
            })
        }
        (QueryValue::Matrix(a), QueryValue::Matrix(b)) => {
            let index = |v: &[RangeSeries]| -> BTreeMap<Labels, Vec<(i64, f64)>> {
                v.iter()
                    .map(|s| (s.labels.clone(), s.samples.clone()))
                    .collect()
            };
            let (a, b) = (index(a), index(b));
            compare_maps(&a, &b, |x, y| {
                let same = x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| p.0 == q.0 && floats_agree(p.1, q.1));
                if same {
                    None
                } else {
                    let first = x
                        .iter()
                        .zip(y)
                        .find(|(p, q)| p.0 != q.0 || !floats_agree(p.1, q.1));
                    Some(format!(
                        "{} points ours, {} theirs; first difference {first:?}",
                        x.len(),
                        y.len()
                    ))
                }
            })
        }
        (a, b) => Err(format!(
            "result types differ: ours {} theirs {}",
            a.result_type(),
            b.result_type()
        )),
    }
}

fn compare_maps<V>(
    ours: &BTreeMap<Labels, V>,
    theirs: &BTreeMap<Labels, V>,
    differ: impl Fn(&V, &V) -> Option<String>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for (labels, x) in ours {
        match theirs.get(labels) {
            None => problems.push(format!("only ours: {labels:?}")),
            Some(y) => {
                if let Some(d) = differ(x, y) {
                    problems.push(format!("{labels:?}: {d}"));
                }
            }
        }
    }
    for labels in theirs.keys().filter(|l| !ours.contains_key(*l)) {
        problems.push(format!("only prometheus: {labels:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(5);
        Err(format!(
            "{} series ours, {} theirs; {}",
            ours.len(),
            theirs.len(),
            problems.join("; ")
        ))
    }
}
