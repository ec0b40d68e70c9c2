//! Aggregations (`sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`,
//! `quantile`, `topk`, `bottomk`) with `by` / `without`, as 2.42's `aggregation`.
//!
//! `topk`/`bottomk` keep a Go `container/heap` of size k exactly like Prometheus,
//! so ties between equal values pick the same series.

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::quantile::quantile;
use super::{Evaluator, Sample, Value, unique_labelsets};
use crate::error::PromqlError;
use crate::store::{Labels, METRIC_NAME};

/// Running state of one output group.
struct Group {
    labels: Arc<Labels>,
    value: f64,
    mean: f64,
    count: f64,
    /// topk/bottomk heap, quantile values.
    heap: Vec<Sample>,
}

/// Evaluates an aggregation at `t`.
pub(crate) fn eval<'s>(
    ev: &mut Evaluator<'s>,
    agg: &AggregateExpr,
    t: i64,
) -> Result<Value<'s>, PromqlError> {
    let op = agg.op.id();
    let param = match &agg.param {
        Some(p) => Some(ev.eval_scalar(p, t)?),
        None => None,
    };
    let vec = ev.eval_vector(&agg.expr, t)?;
    let mut k = 0_usize;
    if op == T_TOPK || op == T_BOTTOMK {
        let f = param.unwrap_or(f64::NAN);
        // Go's convertibleToInt64.
        if !(f.is_finite() && f <= i64::MAX as f64 && f >= i64::MIN as f64) {
            return Err(PromqlError::Execution(format!(
                "Scalar value {} overflows int64",
                crate::value::format_float(f)
            )));
        }
        let k64 = f as i64;
        if k64 < 1 {
            return Ok(Value::Vector(Vec::new()));
        }
        k = usize::try_from(k64).unwrap_or(usize::MAX);
    }
    let q = param.unwrap_or(f64::NAN);

    let mut groups: HashMap<Vec<(String, String)>, usize> = HashMap::new();
    let mut ordered: Vec<Group> = Vec::new();
    for s in vec {
        let key = grouping_key(&s.labels, agg.modifier.as_ref());
        let Some(&gi) = groups.get(&key) else {
            groups.insert(key, ordered.len());
            let labels = result_labels(&s.labels, agg.modifier.as_ref());
            let mut g = Group {
                labels,
                value: s.v,
                mean: s.v,
                count: 1.0,
                heap: Vec::new(),
            };
            match op {
                T_STDDEV => g.value = 0.0,
                T_GROUP => g.value = 1.0,
                T_TOPK | T_BOTTOMK | T_QUANTILE => g.heap.push(s),
                _ => {}
            }
            ordered.push(g);
            continue;
        };
        let g = &mut ordered[gi];
        match op {
            T_SUM => g.value += s.v,
            T_AVG => {
                g.count += 1.0;
                if g.mean.is_infinite() {
                    if s.v.is_infinite() && (g.mean > 0.0) == (s.v > 0.0) {
                        continue;
                    }
                    if !s.v.is_infinite() && !s.v.is_nan() {
                        continue;
                    }
                }
                g.mean += s.v / g.count - g.mean / g.count;
            }
            T_MAX if g.value < s.v || g.value.is_nan() => g.value = s.v,
            T_MIN if g.value > s.v || g.value.is_nan() => g.value = s.v,
            T_COUNT => g.count += 1.0,
            T_STDDEV => {
                g.count += 1.0;
                let delta = s.v - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (s.v - g.mean);
            }
            T_TOPK | T_BOTTOMK => {
                let top = op == T_TOPK;
                let root = g.heap[0].v;
                let better = if top { root < s.v } else { root > s.v };
                if g.heap.len() < k || better || root.is_nan() {
                    if g.heap.len() == k {
                        if k == 1 {
                            g.heap[0] = s;
                            continue;
                        }
                        heap_pop(&mut g.heap, top);
                    }
                    heap_push(&mut g.heap, s, top);
                }
            }
            T_QUANTILE => g.heap.push(s),
            _ => {} // group: nothing to accumulate
        }
    }

    let mut out = Vec::with_capacity(ordered.len());
    for g in ordered {
        let v = match op {
            T_AVG => g.mean,
            T_COUNT => g.count,
            T_STDDEV => (g.value / g.count).sqrt(),
            T_QUANTILE => quantile(q, g.heap.iter().map(|s| s.v).collect()),
            T_TOPK | T_BOTTOMK => {
                let mut heap = g.heap;
                if op == T_TOPK {
                    heap.sort_by(|a, b| b.v.total_cmp(&a.v));
                } else {
                    heap.sort_by(|a, b| a.v.total_cmp(&b.v));
                }
                out.extend(heap.into_iter().map(|s| Sample {
                    labels: s.labels,
                    t,
                    v: s.v,
                }));
                continue;
            }
            _ => g.value,
        };
        out.push(Sample {
            labels: g.labels,
            t,
            v,
        });
    }
    unique_labelsets(out).map(Value::Vector)
}

/// The labels that identify a sample's group.
fn grouping_key(labels: &Labels, modifier: Option<&LabelModifier>) -> Vec<(String, String)> {
    match modifier {
        None => Vec::new(),
        Some(LabelModifier::Include(by)) => labels
            .iter()
            .filter(|(k, _)| by.labels.iter().any(|l| l == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(LabelModifier::Exclude(without)) => labels
            .iter()
            .filter(|(k, _)| *k != METRIC_NAME && !without.labels.iter().any(|l| l == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The output labels of a group: the `by` labels, or all but `without` and `__name__`.
fn result_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Arc<Labels> {
    Arc::new(grouping_key(labels, modifier).into_iter().collect())
}

/// Heap order of Prometheus' `vectorByValueHeap` (topk: smallest on top) or
/// `vectorByReverseValueHeap` (bottomk: largest on top); NaN is always "less".
fn less(h: &[Sample], i: usize, j: usize, top: bool) -> bool {
    if h[i].v.is_nan() {
        return true;
    }
    if top {
        h[i].v < h[j].v
    } else {
        h[i].v > h[j].v
    }
}

/// Go's `heap.Push`.
fn heap_push(h: &mut Vec<Sample>, s: Sample, top: bool) {
    h.push(s);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h, j, i, top) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `heap.Pop` (the removed element is discarded).
fn heap_pop(h: &mut Vec<Sample>, top: bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h, j1 + 1, j1, top) {
            j = j1 + 1;
        }
        if !less(h, j, i, top) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    h.pop();
}
