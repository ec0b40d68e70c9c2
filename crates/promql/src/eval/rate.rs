//! `rate`, `increase`, `delta` (extrapolated) and `irate`, `idelta` (last two
//! samples), ported from Prometheus 2.42's `promql/functions.go`.
//!
//! 2.42 detail worth keeping: the counter zero-point clamp shortens
//! `durationToStart` *before* the 1.1× average-interval threshold is applied
//! (later Prometheus versions swapped that order).

/// Prometheus' `extrapolatedRate`: the increase over `points` (the samples in
/// `[range_start, range_end]`), extrapolated towards the window edges, per second
/// when `is_rate`. `None` with fewer than two samples.
pub(crate) fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }

    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // Counters cannot be negative: do not extrapolate below the zero point.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus' `instantValue`: `irate` (per second, counter-reset aware) or
/// `idelta` from the last two samples. `None` with fewer than two samples or
/// when both share a timestamp.
pub(crate) fn instant_value(points: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (last_t, last_v) = points[points.len() - 1];
    let (prev_t, prev_v) = points[points.len() - 2];
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn rate_extrapolates_to_window_edges_when_samples_are_close() {
        // Window [0, 60s], samples every 15 s at 5..50 s: 0, 15, 30, 45 (value +15 each).
        let pts = [
            (5_000, 100.0),
            (20_000, 115.0),
            (35_000, 130.0),
            (50_000, 145.0),
        ];
        // increase = 45 over 45 s sampled; to start 5 s (< 16.5), to end 10 s (< 16.5)
        // extrapolated interval 60 s => increase 60, rate 1/s.
        let inc = extrapolated_rate(&pts, 0, 60_000, true, false).unwrap();
        assert!(close(inc, 60.0), "{inc}");
        let rate = extrapolated_rate(&pts, 0, 60_000, true, true).unwrap();
        assert!(close(rate, 1.0), "{rate}");
    }

    #[test]
    fn rate_extrapolates_half_an_interval_when_series_starts_late() {
        // Window [0, 120s]; series starts at 60 s (to start 60 s >= 16.5 s).
        let pts = [
            (60_000, 1000.0),
            (75_000, 1015.0),
            (90_000, 1030.0),
            (105_000, 1045.0),
        ];
        // increase 45 over 45 s; start gets 7.5 s, end 15 s (< 16.5): 67.5 s => 67.5.
        let inc = extrapolated_rate(&pts, 0, 120_000, true, false).unwrap();
        assert!(close(inc, 67.5), "{inc}");
    }

    #[test]
    fn counter_resets_add_the_value_before_the_reset() {
        // 10 -> 20 -> 5 -> 15: increase 10 + 5(after reset from 0) + 10 = 25.
        let pts = [(0, 10.0), (15_000, 20.0), (30_000, 5.0), (45_000, 15.0)];
        // Window exactly [0, 45s]: no extrapolation at either edge.
        let inc = extrapolated_rate(&pts, 0, 45_000, true, false).unwrap();
        assert!(close(inc, 25.0), "{inc}");
        // delta ignores resets: 15 - 10 = 5.
        let d = extrapolated_rate(&pts, 0, 45_000, false, false).unwrap();
        assert!(close(d, 5.0), "{d}");
    }

    #[test]
    fn counter_extrapolation_stops_at_the_zero_point() {
        // Counter at 1 at 15 s, rising 2 per 15 s: zero point is 7.5 s before the
        // first sample, closer than the 15 s to the window start.
        let pts = [(15_000, 1.0), (30_000, 3.0), (45_000, 5.0), (60_000, 7.0)];
        let inc = extrapolated_rate(&pts, 0, 60_000, true, false).unwrap();
        // sampled 45 s, +7.5 s at start, 0 at end: 6 * 52.5 / 45 = 7.
        assert!(close(inc, 7.0), "{inc}");
        // As a gauge (delta) it extrapolates the full 15 s: 6 * 60 / 45 = 8.
        let d = extrapolated_rate(&pts, 0, 60_000, false, false).unwrap();
        assert!(close(d, 8.0), "{d}");
    }

    #[test]
    fn rate_needs_two_samples() {
        assert_eq!(extrapolated_rate(&[(0, 1.0)], 0, 60_000, true, true), None);
        assert_eq!(instant_value(&[(0, 1.0)], true), None);
    }

    #[test]
    fn irate_uses_the_last_two_samples_and_handles_resets() {
        let pts = [(0, 1.0), (15_000, 31.0), (30_000, 61.0)];
        assert!(close(instant_value(&pts, true).unwrap(), 2.0));
        let reset = [(0, 50.0), (10_000, 20.0)];
        assert!(close(instant_value(&reset, true).unwrap(), 2.0));
        assert!(close(instant_value(&reset, false).unwrap(), -30.0));
    }
}
