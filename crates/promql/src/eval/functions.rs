//! Function calls: argument handling and the simple instant-vector functions
//! (`abs`, `round`, `clamp*`, `time`, `timestamp`, `vector`, `scalar`, `sort*`);
//! range-vector functions live in `over_time`, label functions in
//! `label_functions`, `histogram_quantile` in `quantile`.
//!
//! The metric name is dropped by every function that changes a value, kept by
//! `last_over_time`, `sort`, `sort_desc` and `label_replace`, as in 2.42.

use std::sync::Arc;

use promql_parser::parser::{Call, Expr};

use super::label_functions::{absent_labels, label_replace};
use super::over_time::range_function;
use super::quantile::histogram_quantile;
use super::{Evaluator, MatrixSeries, Sample, Value, unique_labelsets};
use crate::error::PromqlError;

/// Evaluates a function call at `t`.
pub(crate) fn call<'s>(
    ev: &mut Evaluator<'s>,
    call: &Call,
    t: i64,
) -> Result<Value<'s>, PromqlError> {
    let name = call.func.name;
    let args = &call.args.args;
    let arg = |i: usize| -> Result<&Expr, PromqlError> {
        // 2.42 unwraps parentheses around every argument before evaluating it,
        // which matters to `timestamp`, `absent` and range functions.
        args.get(i)
            .map(|a| unwrap_parens(a))
            .ok_or_else(|| PromqlError::Execution(format!("{name}(): missing argument {i}")))
    };
    let out = match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "avg_over_time" | "min_over_time"
        | "max_over_time" | "sum_over_time" | "count_over_time" | "last_over_time"
        | "stddev_over_time" => {
            let m = range_arg(ev, arg(0)?, t)?;
            range_function(ev, name, arg(0)?, &m, t, None)?
        }
        "quantile_over_time" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            let m = range_arg(ev, arg(1)?, t)?;
            range_function(ev, name, arg(1)?, &m, t, Some(q))?
        }
        "abs" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            map_values(ev, vec, f64::abs)
        }
        "ceil" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            map_values(ev, vec, f64::ceil)
        }
        "floor" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            map_values(ev, vec, f64::floor)
        }
        "round" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let to_nearest = match args.len() {
                2 => ev.eval_scalar(arg(1)?, t)?,
                _ => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map_values(ev, vec, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let min = ev.eval_scalar(arg(1)?, t)?;
            let max = ev.eval_scalar(arg(2)?, t)?;
            if max < min {
                Vec::new()
            } else {
                map_values(ev, vec, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_min" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let min = ev.eval_scalar(arg(1)?, t)?;
            map_values(ev, vec, |v| go_max(min, v))
        }
        "clamp_max" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let max = ev.eval_scalar(arg(1)?, t)?;
            map_values(ev, vec, |v| go_min(max, v))
        }
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "timestamp" => {
            // 2.42 reports the sample's own time for a plain selector argument.
            let direct_selector = matches!(arg(0)?, Expr::VectorSelector(_));
            let vec = ev.eval_vector(arg(0)?, t)?;
            vec.into_iter()
                .map(|s| {
                    let ts = if direct_selector { s.t } else { t };
                    Sample {
                        labels: ev.drop_name(&s.labels),
                        t,
                        v: ts as f64 / 1000.0,
                    }
                })
                .collect()
        }
        "vector" => {
            let v = ev.eval_scalar(arg(0)?, t)?;
            vec![Sample {
                labels: Arc::default(),
                t,
                v,
            }]
        }
        "scalar" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            return Ok(Value::Scalar(if vec.len() == 1 {
                vec[0].v
            } else {
                f64::NAN
            }));
        }
        "sort" | "sort_desc" => {
            let mut vec = ev.eval_vector(arg(0)?, t)?;
            let desc = name == "sort_desc";
            // Prometheus' vectorByValueHeap / vectorByReverseValueHeap: NaN first.
            vec.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                _ if desc => b.v.total_cmp(&a.v),
                _ => a.v.total_cmp(&b.v),
            });
            vec
        }
        "label_replace" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let dst = string_arg(arg(1)?)?;
            let replacement = string_arg(arg(2)?)?;
            let src = string_arg(arg(3)?)?;
            let regex = string_arg(arg(4)?)?;
            label_replace(vec, dst, replacement, src, regex)?
        }
        "absent" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            if vec.is_empty() {
                vec![Sample {
                    labels: Arc::new(absent_labels(arg(0)?)),
                    t,
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            let vec = ev.eval_vector(arg(1)?, t)?;
            histogram_quantile(q, vec, t)
        }
        other => return Err(PromqlError::Unsupported(format!("function {other}()"))),
    };
    unique_labelsets(out).map(Value::Vector)
}

/// Evaluates a function's range-vector argument.
fn range_arg<'s>(
    ev: &mut Evaluator<'s>,
    expr: &Expr,
    t: i64,
) -> Result<Vec<MatrixSeries<'s>>, PromqlError> {
    match ev.eval(expr, t)? {
        Value::Matrix(m) => Ok(m),
        other => Err(PromqlError::Execution(format!(
            "expected range vector, got {}",
            other.kind()
        ))),
    }
}

/// Applies `f` to every value, dropping the metric name.
fn map_values(ev: &mut Evaluator<'_>, vec: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    vec.into_iter()
        .map(|s| Sample {
            labels: ev.drop_name(&s.labels),
            t: s.t,
            v: f(s.v),
        })
        .collect()
}

/// Go's `math.Max`: +Inf wins, then NaN, unlike `f64::max`.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: -Inf wins, then NaN, unlike `f64::min`.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// The expression inside any number of parentheses.
fn unwrap_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        e => e,
    }
}

fn string_arg(expr: &Expr) -> Result<&str, PromqlError> {
    match expr {
        Expr::StringLiteral(s) => Ok(&s.val),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(PromqlError::Unsupported(
            "a non-literal string argument".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_min_max_propagate_nan_unlike_rust() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(go_max(2.0, 3.0), 3.0);
        assert_eq!(go_min(2.0, 3.0), 2.0);
    }
}
