//! Range-vector functions: `rate`, `increase`, `delta`, `irate`, `idelta` and
//! the `*_over_time` family, applied per series of a range selector.

use std::sync::Arc;

use promql_parser::parser::Expr;

use super::quantile::quantile;
use super::rate::{extrapolated_rate, instant_value};
use super::selector::{duration_ms, offset_ms};
use super::{Evaluator, MatrixSeries, Sample};
use crate::error::PromqlError;

/// Applies a range-vector function to every series of `m`.
pub(crate) fn range_function(
    ev: &mut Evaluator<'_>,
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
                ev.drop_name(&s.labels)
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
