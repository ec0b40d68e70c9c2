//! Function calls: range-vector functions (`rate`, `*_over_time`, …) and
//! instant-vector functions (`abs`, `clamp`, `label_replace`, `histogram_quantile`, …).
//!
//! The metric name is dropped by every function that changes a value, kept by
//! `last_over_time`, `sort`, `sort_desc` and `label_replace`, as in 2.42.

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::quantile::{Bucket, bucket_quantile, quantile};
use super::rate::{extrapolated_rate, instant_value};
use super::selector::{all_matchers, duration_ms, offset_ms};
use super::{Evaluator, MatrixSeries, Sample, Value, drop_name, unique_labelsets};
use crate::error::PromqlError;
use crate::store::{Labels, METRIC_NAME};
use crate::value::parse_float;

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
            range_function(name, arg(0)?, &m, t, None)?
        }
        "quantile_over_time" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            let m = range_arg(ev, arg(1)?, t)?;
            range_function(name, arg(1)?, &m, t, Some(q))?
        }
        "abs" => map_values(ev.eval_vector(arg(0)?, t)?, f64::abs),
        "ceil" => map_values(ev.eval_vector(arg(0)?, t)?, f64::ceil),
        "floor" => map_values(ev.eval_vector(arg(0)?, t)?, f64::floor),
        "round" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let to_nearest = match args.len() {
                2 => ev.eval_scalar(arg(1)?, t)?,
                _ => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map_values(vec, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let min = ev.eval_scalar(arg(1)?, t)?;
            let max = ev.eval_scalar(arg(2)?, t)?;
            if max < min {
                Vec::new()
            } else {
                map_values(vec, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_min" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let min = ev.eval_scalar(arg(1)?, t)?;
            map_values(vec, |v| go_max(min, v))
        }
        "clamp_max" => {
            let vec = ev.eval_vector(arg(0)?, t)?;
            let max = ev.eval_scalar(arg(1)?, t)?;
            map_values(vec, |v| go_min(max, v))
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
                        labels: drop_name(&s.labels),
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

/// Applies a range-vector function to every series of `m`.
fn range_function(
    name: &str,
    arg: &Expr,
    m: &[MatrixSeries<'_>],
    t: i64,
    q: Option<f64>,
) -> Result<Vec<Sample>, PromqlError> {
    let (range_start, range_end) = match arg {
        Expr::MatrixSelector(ms) => {
            let end = t - offset_ms(&ms.vs);
            (end - duration_ms(&ms.range), end)
        }
        _ => {
            return Err(PromqlError::Unsupported(format!(
                "{name}() of anything but a range selector"
            )));
        }
    };
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        let pts = s.points;
        let v = match name {
            "rate" => extrapolated_rate(pts, range_start, range_end, true, true),
            "increase" => extrapolated_rate(pts, range_start, range_end, true, false),
            "delta" => extrapolated_rate(pts, range_start, range_end, false, false),
            "irate" => instant_value(pts, true),
            "idelta" => instant_value(pts, false),
            "avg_over_time" => Some(avg(pts)),
            "min_over_time" => Some(fold_first(pts, |acc, v| v < acc || acc.is_nan())),
            "max_over_time" => Some(fold_first(pts, |acc, v| v > acc || acc.is_nan())),
            "sum_over_time" => Some(pts.iter().map(|p| p.1).sum()),
            "count_over_time" => Some(pts.len() as f64),
            "last_over_time" => pts.last().map(|p| p.1),
            "stddev_over_time" => Some(stddev(pts)),
            "quantile_over_time" => Some(quantile(
                q.unwrap_or(f64::NAN),
                pts.iter().map(|p| p.1).collect(),
            )),
            other => return Err(PromqlError::Unsupported(format!("function {other}()"))),
        };
        if let Some(v) = v {
            let labels = if name == "last_over_time" {
                Arc::clone(&s.labels)
            } else {
                drop_name(&s.labels)
            };
            out.push(Sample { labels, t, v });
        }
    }
    Ok(out)
}

/// The first value replaced by each later one for which `replace(acc, v)` holds.
fn fold_first(pts: &[(i64, f64)], replace: impl Fn(f64, f64) -> bool) -> f64 {
    let mut acc = pts.first().map_or(f64::NAN, |p| p.1);
    for &(_, v) in pts {
        if replace(acc, v) {
            acc = v;
        }
    }
    acc
}

/// `avg_over_time` as 2.42 computes it: an incremental mean that survives infinities.
fn avg(pts: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count) = (0.0_f64, 0.0_f64);
    for &(_, v) in pts {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// Population standard deviation (Welford), as `stddev_over_time`.
fn stddev(pts: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut aux) = (0.0_f64, 0.0_f64, 0.0_f64);
    for &(_, v) in pts {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    (aux / count).sqrt()
}

/// Applies `f` to every value, dropping the metric name.
fn map_values(vec: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    vec.into_iter()
        .map(|s| Sample {
            labels: drop_name(&s.labels),
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

/// `label_replace(v, dst, replacement, src, regex)`: where the anchored `regex`
/// matches the value of `src`, set `dst` to the expanded `replacement` (an empty
/// result deletes `dst`); other samples pass unchanged.
fn label_replace(
    vec: Vec<Sample>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<Sample>, PromqlError> {
    let re = regex::Regex::new(&format!("^(?:{regex})$")).map_err(|_| {
        PromqlError::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !is_label_name(dst) {
        return Err(PromqlError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(vec
        .into_iter()
        .map(|s| {
            let value = s.labels.get(src).map_or("", String::as_str);
            let Some(caps) = re.captures(value) else {
                return s;
            };
            let mut expanded = String::new();
            caps.expand(replacement, &mut expanded);
            let mut labels = Labels::clone(&s.labels);
            labels.remove(dst);
            if !expanded.is_empty() {
                labels.insert(dst.to_string(), expanded);
            }
            Sample {
                labels: Arc::new(labels),
                t: s.t,
                v: s.v,
            }
        })
        .collect())
}

/// Prometheus' label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The labels `absent()` reports: the argument selector's equality matchers,
/// minus any label also constrained some other way.
fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut labels = Labels::new();
    let mut other = Vec::new();
    for m in all_matchers(vs) {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !labels.contains_key(&m.name) {
            labels.insert(m.name.clone(), m.value.clone());
        } else {
            other.push(m.name.clone());
        }
    }
    for name in other {
        labels.remove(&name);
    }
    labels
}

/// `histogram_quantile(q, buckets)` over classic histograms: buckets grouped by
/// every label but `le`, the result labelled without `le` and `__name__`.
fn histogram_quantile(q: f64, vec: Vec<Sample>, t: i64) -> Vec<Sample> {
    let mut groups: HashMap<Labels, (Labels, Vec<Bucket>)> = HashMap::new();
    let mut order = Vec::new();
    for s in vec {
        let Some(upper_bound) = s.labels.get("le").and_then(|le| parse_float(le)) else {
            continue;
        };
        let mut key = Labels::clone(&s.labels);
        key.remove("le");
        let entry = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            let mut out = key;
            out.remove(METRIC_NAME);
            (out, Vec::new())
        });
        entry.1.push(Bucket {
            upper_bound,
            count: s.v,
        });
    }
    order
        .into_iter()
        .filter_map(|key| groups.remove(&key))
        .filter(|(_, buckets)| !buckets.is_empty())
        .map(|(labels, buckets)| Sample {
            labels: Arc::new(labels),
            t,
            v: bucket_quantile(q, buckets),
        })
        .collect()
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
