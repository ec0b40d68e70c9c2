//! Quantiles: `histogram_quantile` with `bucketQuantile` for classic histograms,
//! and `quantile` for plain value sets, ported from Prometheus 2.42's
//! `promql/quantile.go` and `promql/functions.go`.

use std::collections::HashMap;
use std::sync::Arc;

use super::Sample;
use crate::store::{Labels, METRIC_NAME};
use crate::value::parse_float;

/// `histogram_quantile(q, buckets)` over classic histograms: buckets grouped by
/// every label but `le`, the result labelled without `le` and `__name__`.
pub(crate) fn histogram_quantile(q: f64, vec: Vec<Sample>, t: i64) -> Vec<Sample> {
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

/// One classic-histogram bucket: its `le` bound and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) upper_bound: f64,
    pub(crate) count: f64,
}

/// Prometheus' `bucketQuantile`: the `q`-quantile of a classic histogram by linear
/// interpolation inside the bucket holding the rank. NaN when `q` is NaN, the
/// `+Inf` bucket is missing, fewer than two buckets remain or nothing was observed;
/// -Inf/+Inf for `q` below 0 / above 1.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let mut buckets = coalesce(buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // sort.Search over all but the +Inf bucket.
    let b = buckets[..buckets.len() - 1].partition_point(|bk| bk.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Merges buckets with the same bound (e.g. `le="1"` and `le="1.0"`) by adding counts.
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// Raises any count below an earlier one (scrape races make buckets non-monotonic).
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for b in buckets {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
}

/// Prometheus' `quantile` over plain values (used by `quantile` and
/// `quantile_over_time`): linear interpolation between the closest ranks.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // vectorByValueHeap order: NaN sorts first.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // Both indexes are within [0, n-1] here (q is in [0, 1]); NaN q yields NaN.
    if !(lower.is_finite() && upper.is_finite()) {
        return f64::NAN;
    }
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(upper_bound: f64, count: f64) -> Bucket {
        Bucket { upper_bound, count }
    }

    #[test]
    fn interpolates_inside_the_bucket_holding_the_rank() {
        // 100 observations: 50 <= 0.1, 90 <= 0.5, 100 <= 1.
        let bks = vec![
            b(0.5, 90.0),
            b(0.1, 50.0),
            b(1.0, 100.0),
            b(f64::INFINITY, 100.0),
        ];
        // p50: rank 50 in first bucket: 0 + 0.1 * 50/50 = 0.1.
        assert_eq!(bucket_quantile(0.5, bks.clone()), 0.1);
        // p70: rank 70 in (0.1, 0.5]: 0.1 + 0.4 * 20/40 = 0.3.
        assert!((bucket_quantile(0.7, bks.clone()) - 0.3).abs() < 1e-12);
        // p99: rank 99 in (0.5, 1]: 0.5 + 0.5 * 9/10 = 0.95.
        assert!((bucket_quantile(0.99, bks).abs() - 0.95).abs() < 1e-12);
    }

    #[test]
    fn rank_in_the_inf_bucket_returns_the_highest_finite_bound() {
        let bks = vec![b(1.0, 10.0), b(f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.9, bks), 1.0);
    }

    #[test]
    fn nan_and_infinite_edge_cases() {
        let ok = vec![b(1.0, 10.0), b(f64::INFINITY, 10.0)];
        assert!(bucket_quantile(f64::NAN, ok.clone()).is_nan());
        assert_eq!(bucket_quantile(-0.1, ok.clone()), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.1, ok), f64::INFINITY);
        // No +Inf bucket.
        assert!(bucket_quantile(0.5, vec![b(1.0, 10.0), b(2.0, 20.0)]).is_nan());
        // Only the +Inf bucket.
        assert!(bucket_quantile(0.5, vec![b(f64::INFINITY, 10.0)]).is_nan());
        // No observations.
        assert!(bucket_quantile(0.5, vec![b(1.0, 0.0), b(f64::INFINITY, 0.0)]).is_nan());
    }

    #[test]
    fn non_monotonic_counts_are_fixed_up_and_duplicates_coalesced() {
        // 0.5 bucket (8) below the 0.1 bucket (10) is raised to 10.
        let bks = vec![
            b(0.1, 10.0),
            b(0.5, 8.0),
            b(1.0, 20.0),
            b(f64::INFINITY, 20.0),
        ];
        // rank 10 -> first bucket reaching 10 is 0.1: 0 + 0.1 * 10/10.
        assert_eq!(bucket_quantile(0.5, bks), 0.1);
        // Two `le="1"` spellings add up: 5 + 5 = 10 of 20.
        let dup = vec![b(1.0, 5.0), b(1.0, 5.0), b(f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.5, dup), 1.0);
    }

    #[test]
    fn first_bucket_with_non_positive_bound_is_returned_as_is() {
        let bks = vec![b(-1.0, 5.0), b(f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.2, bks), -1.0);
    }

    #[test]
    fn plain_quantile_interpolates_between_ranks() {
        assert_eq!(quantile(0.5, vec![3.0, 1.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, vec![3.0, 1.0]), 1.0);
        assert_eq!(quantile(1.0, vec![3.0, 1.0]), 3.0);
        assert!(quantile(0.5, vec![]).is_nan());
        assert_eq!(quantile(2.0, vec![1.0]), f64::INFINITY);
    }
}
