//! The PromQL evaluator: Prometheus 2.42 semantics over a [`SeriesStore`].
//!
//! Key decision: a range query is evaluated as one instant evaluation per step,
//! which is what Prometheus' engine computes for every expression this crate
//! supports (subqueries, the one exception, are refused). Each selector's series
//! are looked up once per query and reused by every step. Anything outside the
//! supported subset is refused by a check of the whole expression before evaluation starts, so a query
//! is either answered the way Prometheus would answer it or not at all.

mod aggregate;
mod binary;
mod check;
mod functions;
mod label_functions;
mod over_time;
mod quantile;
mod rate;
mod selector;
#[cfg(test)]
mod tests;

pub(crate) use label_functions::is_label_name;
pub(crate) use selector::all_matchers as selector_matchers;

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};

use crate::error::PromqlError;
use crate::store::{Labels, METRIC_NAME, Series, SeriesStore};
use crate::value::{InstantSample, QueryValue, RangeSeries};

/// How far back an instant vector selector looks for a sample (Prometheus' default).
pub const LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// The most points a range query may return per series, as in Prometheus' API.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates `query` at `time_ms`, like Prometheus' `/api/v1/query`.
pub fn instant_query(
    store: &SeriesStore,
    query: &str,
    time_ms: i64,
) -> Result<QueryValue, PromqlError> {
    let expr = parse(query)?;
    let mut ev = Evaluator::new(store, time_ms, time_ms);
    Ok(match ev.eval(&expr, time_ms)? {
        Value::Scalar(v) => QueryValue::Scalar {
            t_ms: time_ms,
            value: v,
        },
        Value::Str(s) => QueryValue::String {
            t_ms: time_ms,
            value: s,
        },
        Value::Vector(vec) => QueryValue::Vector(
            vec.into_iter()
                .map(|s| InstantSample {
                    labels: Arc::unwrap_or_clone(s.labels),
                    t_ms: time_ms,
                    value: s.v,
                })
                .collect(),
        ),
        Value::Matrix(m) => QueryValue::Matrix(
            m.into_iter()
                .map(|s| RangeSeries {
                    labels: Arc::unwrap_or_clone(s.labels),
                    samples: s.points.to_vec(),
                })
                .collect(),
        ),
    })
}

/// Evaluates `query` at every step from `start_ms` to `end_ms`, like Prometheus'
/// `/api/v1/query_range`; the result is always a matrix.
pub fn range_query(
    store: &SeriesStore,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<QueryValue, PromqlError> {
    check_range(start_ms, end_ms, step_ms)?;
    let expr = parse(query)?;
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            return Err(PromqlError::BadParameter(format!(
                "invalid parameter \"query\": invalid expression type {:?} for range query, must be Scalar or instant Vector",
                type_name(other)
            )));
        }
    }
    let mut ev = Evaluator::new(store, start_ms, end_ms);
    let mut series: HashMap<Arc<Labels>, Vec<(i64, f64)>> = HashMap::new();
    let mut t = start_ms;
    while t <= end_ms {
        match ev.eval(&expr, t)? {
            Value::Scalar(v) => series.entry(Arc::default()).or_default().push((t, v)),
            Value::Vector(vec) => {
                for s in vec {
                    series.entry(s.labels).or_default().push((t, s.v));
                }
            }
            Value::Str(_) | Value::Matrix(_) => {
                return Err(PromqlError::Execution(
                    "range query evaluated to a string or range vector".to_string(),
                ));
            }
        }
        t += step_ms;
    }
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .map(|(labels, samples)| RangeSeries {
            labels: Arc::unwrap_or_clone(labels),
            samples,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryValue::Matrix(out))
}

/// Validates range-query parameters with Prometheus' API error texts.
pub fn check_range(start_ms: i64, end_ms: i64, step_ms: i64) -> Result<(), PromqlError> {
    if end_ms < start_ms {
        return Err(PromqlError::BadParameter(
            "invalid parameter \"end\": end timestamp must not be before start time".to_string(),
        ));
    }
    if step_ms <= 0 {
        return Err(PromqlError::BadParameter(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".to_string(),
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
        return Err(PromqlError::BadParameter(
            "invalid parameter \"step\": exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".to_string(),
        ));
    }
    Ok(())
}

/// Parses and vets a query: valid PromQL, and only what this evaluator supports.
fn parse(query: &str) -> Result<Expr, PromqlError> {
    let expr = parser::parse(query).map_err(PromqlError::Parse)?;
    check::supported(&expr)?;
    Ok(expr)
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// One element of an instant vector during evaluation. `t` is the sample's own
/// timestamp for a plain selector (what `timestamp()` reports), else unused.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) labels: Arc<Labels>,
    pub(crate) t: i64,
    pub(crate) v: f64,
}

/// One series of a range vector: a window of a stored series.
#[derive(Debug, Clone)]
pub(crate) struct MatrixSeries<'s> {
    pub(crate) labels: Arc<Labels>,
    pub(crate) points: &'s [(i64, f64)],
}

/// An intermediate value.
#[derive(Debug, Clone)]
pub(crate) enum Value<'s> {
    Scalar(f64),
    Str(String),
    Vector(Vec<Sample>),
    Matrix(Vec<MatrixSeries<'s>>),
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::Str(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

/// Evaluation state for one query: the store and each selector's series.
pub(crate) struct Evaluator<'s> {
    store: &'s SeriesStore,
    /// First and last evaluation timestamps, bounding what selectors fetch.
    start: i64,
    end: i64,
    /// Series per selector with their label sets built once, keyed by the
    /// selector node's address in the AST.
    selected: HashMap<usize, Vec<(Arc<Labels>, &'s Series)>>,
    /// Label sets without `__name__`, keyed by the address of the original,
    /// which is kept alive here so the address cannot be reused. Range queries
    /// then build each name-less label set once, not once per step.
    unnamed: HashMap<usize, (Arc<Labels>, Arc<Labels>)>,
}

impl<'s> Evaluator<'s> {
    fn new(store: &'s SeriesStore, start: i64, end: i64) -> Self {
        Self {
            store,
            start,
            end,
            selected: HashMap::new(),
            unnamed: HashMap::new(),
        }
    }

    /// Evaluates `expr` at time `t` (ms).
    pub(crate) fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value<'s>, PromqlError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(vec) => {
                    let out = vec
                        .into_iter()
                        .map(|s| Sample {
                            labels: self.drop_name(&s.labels),
                            t: s.t,
                            v: -s.v,
                        })
                        .collect();
                    unique_labelsets(out).map(Value::Vector)
                }
                other => Err(PromqlError::Execution(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                    other.kind()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.instant_selector(vs, t)?)),
            Expr::MatrixSelector(ms) => Ok(Value::Matrix(self.matrix_selector(ms, t)?)),
            Expr::Call(call) => functions::call(self, call, t),
            Expr::Aggregate(agg) => aggregate::eval(self, agg, t),
            Expr::Binary(bin) => binary::eval(self, bin, t),
            Expr::Subquery(_) => Err(PromqlError::Unsupported("subqueries".to_string())),
            Expr::Extension(_) => Err(PromqlError::Unsupported(
                "extension expressions".to_string(),
            )),
        }
    }

    /// Evaluates an expression that must produce an instant vector.
    pub(crate) fn eval_vector(&mut self, expr: &Expr, t: i64) -> Result<Vec<Sample>, PromqlError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(PromqlError::Execution(format!(
                "expected instant vector, got {}",
                other.kind()
            ))),
        }
    }

    /// Evaluates an expression that must produce a scalar.
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, t: i64) -> Result<f64, PromqlError> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(PromqlError::Execution(format!(
                "expected scalar, got {}",
                other.kind()
            ))),
        }
    }
}

impl Evaluator<'_> {
    /// The label set without `__name__`, sharing the original when there is none.
    pub(crate) fn drop_name(&mut self, labels: &Arc<Labels>) -> Arc<Labels> {
        if !labels.contains_key(METRIC_NAME) {
            return Arc::clone(labels);
        }
        let key = Arc::as_ptr(labels) as usize;
        let (_, unnamed) = self.unnamed.entry(key).or_insert_with(|| {
            let mut l = Labels::clone(labels);
            l.remove(METRIC_NAME);
            (Arc::clone(labels), Arc::new(l))
        });
        Arc::clone(unnamed)
    }
}

/// Prometheus' check after each evaluation step: an instant vector cannot hold
/// two samples with the same label set.
pub(crate) fn unique_labelsets(vec: Vec<Sample>) -> Result<Vec<Sample>, PromqlError> {
    if vec.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(vec.len());
        for s in &vec {
            if !seen.insert(s.labels.as_ref()) {
                return Err(PromqlError::Execution(
                    "vector cannot contain metrics with the same labelset".to_string(),
                ));
            }
        }
    }
    Ok(vec)
}
