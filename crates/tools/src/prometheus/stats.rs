//! The maths behind `prometheus.correlate`, on plain `(unix seconds, value)`
//! points: robust z-scores (median/MAD), onset and change-point detection,
//! Pearson correlation aligned by timestamp, and the score that ranks.
//!
//! No I/O here: every function is tested on hand-made series.

/// The MAD of a normal distribution is its standard deviation times this.
const MAD_TO_SIGMA: f64 = 1.4826;
/// The scale never drops below this share of the baseline's magnitude, so a
/// perfectly flat baseline does not turn a rounding error into a huge z.
const RELATIVE_SCALE_FLOOR: f64 = 0.05;
/// Nor below this absolute value.
const ABSOLUTE_SCALE_FLOOR: f64 = 1e-9;
/// Nor, for a candidate, below this share of its range over the window.
const RANGE_SCALE_FLOOR: f64 = 0.02;
/// A robust z beyond this means the series left its baseline.
pub const Z_THRESHOLD: f64 = 3.0;
/// |z| counts up to this in the score.
pub const Z_CAP: f64 = 10.0;

/// A baseline's centre and spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// Its median.
    pub median: f64,
    /// Its spread: MAD scaled to a standard deviation, with a floor.
    pub scale: f64,
}

impl Baseline {
    /// The baseline of `values` (non-finite values ignored); `None` when fewer than 3 remain.
    pub fn of(values: &[f64]) -> Option<Baseline> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.len() < 3 {
            return None;
        }
        let centre = median(&finite)?;
        let deviations: Vec<f64> = finite.iter().map(|v| (v - centre).abs()).collect();
        let mad = median(&deviations)?;
        let scale = (MAD_TO_SIGMA * mad)
            .max(RELATIVE_SCALE_FLOOR * centre.abs())
            .max(ABSOLUTE_SCALE_FLOOR);
        Some(Baseline {
            median: centre,
            scale,
        })
    }

    /// How many spreads `value` lies from the median.
    pub fn z(&self, value: f64) -> f64 {
        (value - self.median) / self.scale
    }
}

/// The median of `values`; `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// When the symptom left its baseline: the first point at or after
/// `baseline_end` whose robust z (against the points before `baseline_end`)
/// exceeds [`Z_THRESHOLD`], and whose next point does too (one outlier is not an onset).
pub fn detect_onset(points: &[(f64, f64)], baseline_end: f64) -> Option<f64> {
    let points = finite(points);
    let base: Vec<f64> = points
        .iter()
        .filter(|(t, _)| *t < baseline_end)
        .map(|(_, v)| *v)
        .collect();
    let baseline = Baseline::of(&base)?;
    let after: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(t, _)| *t >= baseline_end)
        .collect();
    let out = |v: f64| baseline.z(v).abs() > Z_THRESHOLD;
    after.iter().enumerate().find_map(|(i, (t, v))| {
        let next_out = after.get(i + 1).is_none_or(|(_, next)| out(*next));
        (out(*v) && next_out).then_some(*t)
    })
}

/// A change point: where the mean shifted most, and by how much.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    /// The first point after the shift, unix seconds.
    pub at: f64,
    /// The shift in spreads of the segment before it.
    pub shift_z: f64,
}

/// The split of `points` that maximizes the mean shift weighted by the
/// segments' sizes (a t-statistic without the variance), kept only when the
/// shift is at least [`Z_THRESHOLD`] spreads of the segment before it.
pub fn change_point(points: &[(f64, f64)]) -> Option<ChangePoint> {
    let points = finite(points);
    let n = points.len();
    if n < 6 {
        return None;
    }
    let total: f64 = points.iter().map(|(_, v)| v).sum();
    let mut left_sum = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for k in 1..n {
        left_sum += points[k - 1].1;
        if k < 3 || n - k < 2 {
            continue;
        }
        let left = left_sum / k as f64;
        let right = (total - left_sum) / (n - k) as f64;
        let weight = ((k * (n - k)) as f64 / n as f64).sqrt();
        let stat = (right - left).abs() * weight;
        if best.is_none_or(|(_, s)| stat > s) {
            best = Some((k, stat));
        }
    }
    let (k, _) = best?;
    let before: Vec<f64> = points[..k].iter().map(|(_, v)| *v).collect();
    let after: Vec<f64> = points[k..].iter().map(|(_, v)| *v).collect();
    let baseline = Baseline::of(&before)?;
    let shift_z = baseline.z(mean(&after)?);
    (shift_z.abs() >= Z_THRESHOLD).then_some(ChangePoint {
        at: points[k].0,
        shift_z,
    })
}

/// Pearson correlation of two series over the timestamps both have (to the
/// millisecond); 0 when fewer than 3 are shared or either is constant.
pub fn pearson(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let by_time: std::collections::BTreeMap<i64, f64> = finite(b)
        .into_iter()
        .map(|(t, v)| ((t * 1000.0).round() as i64, v))
        .collect();
    let pairs: Vec<(f64, f64)> = finite(a)
        .into_iter()
        .filter_map(|(t, x)| by_time.get(&((t * 1000.0).round() as i64)).map(|y| (x, *y)))
        .collect();
    if pairs.len() < 3 {
        return 0.0;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    let denominator = (sxx * syy).sqrt();
    if denominator <= f64::EPSILON * n || !denominator.is_finite() {
        0.0
    } else {
        (sxy / denominator).clamp(-1.0, 1.0)
    }
}

/// How one candidate series moved around the symptom's onset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Movement {
    /// Robust z of its mean from the onset on, against its baseline.
    pub z: f64,
    /// When it changed, if it did.
    pub change_at: Option<f64>,
    /// Seconds from its change to the onset (negative: it changed after).
    pub lead_secs: Option<f64>,
    /// Pearson correlation with the symptom.
    pub correlation: f64,
    /// The ranking score, 0..1.
    pub score: f64,
}

/// The time frame of one correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The window's start, unix seconds.
    pub start: f64,
    /// The window's end, unix seconds.
    pub end: f64,
    /// Points before this are the baseline.
    pub baseline_end: f64,
    /// The symptom's onset.
    pub onset: f64,
}

/// The baseline of `points` before `before` (at least 3 finite points), or `None`.
pub fn baseline_before(points: &[(f64, f64)], before: f64) -> Option<Baseline> {
    let values: Vec<f64> = points
        .iter()
        .filter(|(t, _)| *t < before)
        .map(|(_, v)| *v)
        .collect();
    Baseline::of(&values)
}

/// How `candidate` moved against `symptom` in `frame`.
///
/// Its baseline is its points before the baseline's end (or before the
/// onset, when that comes first). A series that appeared later (a new pod)
/// is held against `siblings`, the baseline of the series it replaced, when
/// the caller knows one: it changed when it appeared if it started away
/// from that baseline. Without siblings its first few points are its
/// baseline. Its spread never drops below 2% of its range over the window,
/// so a flat-zero baseline (no restarts) does not make every restart a
/// z of a billion.
pub fn movement(
    symptom: &[(f64, f64)],
    candidate: &[(f64, f64)],
    siblings: Option<Baseline>,
    frame: Frame,
) -> Movement {
    let points = finite(candidate);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let range_floor = if hi > lo {
        RANGE_SCALE_FLOOR * (hi - lo)
    } else {
        0.0
    };
    let floored = |b: Baseline| Baseline {
        median: b.median,
        scale: b.scale.max(range_floor),
    };
    let own = baseline_before(&points, frame.baseline_end.min(frame.onset)).map(floored);
    let before_onset: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, _)| *t < frame.onset)
        .collect();
    let take = (before_onset.len() / 4).clamp(3, 10);
    let head: Vec<f64> = before_onset.iter().take(take).map(|(_, v)| *v).collect();
    let (baseline, appeared_away) = match (own, siblings.map(floored)) {
        (Some(own), _) => (Some(own), false),
        (None, Some(siblings)) => {
            let away = median(&head).is_some_and(|m| siblings.z(m).abs() > Z_THRESHOLD);
            (Some(siblings), away)
        }
        (None, None) => (Baseline::of(&head).map(floored), false),
    };
    let after: Vec<f64> = points
        .iter()
        .filter(|(t, _)| *t >= frame.onset)
        .map(|(_, v)| *v)
        .collect();
    let z = match (baseline, mean(&after)) {
        (Some(b), Some(m)) => b.z(m),
        _ => 0.0,
    };
    let change_at = if appeared_away {
        points.first().map(|(t, _)| *t)
    } else {
        change_point(&points).map(|c| c.at)
    };
    let lead_secs = change_at.map(|t| frame.onset - t);
    let correlation = pearson(symptom, &points);
    let score = score(z, lead_secs, correlation, frame.end - frame.start);
    Movement {
        z,
        change_at,
        lead_secs,
        correlation,
        score,
    }
}

/// The ranking score, 0..1: half the capped |z|, three tenths the lead (a
/// change before the onset counts fully, a very early one less, one after
/// the onset little and less the later it came), a fifth the |correlation|.
pub fn score(z: f64, lead_secs: Option<f64>, correlation: f64, window_secs: f64) -> f64 {
    let window = window_secs.max(1.0);
    let z_part = if z.is_finite() {
        z.abs().min(Z_CAP) / Z_CAP
    } else {
        0.0
    };
    let lead_part = match lead_secs {
        None => 0.0,
        Some(lead) if lead >= 0.0 => {
            let half = window / 2.0;
            if lead <= half {
                1.0
            } else {
                (1.0 - 0.5 * (lead - half) / half).max(0.5)
            }
        }
        Some(lead) => (0.5 * (1.0 + lead / (window / 4.0))).max(0.0),
    };
    let corr_part = if correlation.is_finite() {
        correlation.abs()
    } else {
        0.0
    };
    0.5 * z_part + 0.3 * lead_part + 0.2 * corr_part
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A deterministic jitter in [-1, 1].
    fn jitter(i: usize) -> f64 {
        let x = ((i as u64).wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
        2.0 * x - 1.0
    }

    /// Every 15 s from t=0 for 40 minutes.
    fn series(f: impl Fn(f64, usize) -> f64) -> Vec<(f64, f64)> {
        (0..160)
            .map(|i| {
                let t = i as f64 * 15.0;
                (t, f(t, i))
            })
            .collect()
    }

    const ONSET: f64 = 1500.0;

    fn frame() -> Frame {
        Frame {
            start: 0.0,
            end: 159.0 * 15.0,
            baseline_end: 800.0,
            onset: ONSET,
        }
    }

    fn symptom() -> Vec<(f64, f64)> {
        series(|t, i| if t >= ONSET { 0.5 } else { 0.1 } + 0.005 * jitter(i))
    }

    #[test]
    fn median_and_flat_baselines() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let flat = Baseline::of(&[2.0, 2.0, 2.0, 2.0]).unwrap();
        assert!((flat.scale - 0.1).abs() < 1e-12, "the floor: {flat:?}");
        let zero = Baseline::of(&[0.0, 0.0, 0.0]).unwrap();
        assert!(zero.scale > 0.0);
        assert!(Baseline::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn onset_is_where_the_symptom_leaves_its_baseline() {
        assert_eq!(detect_onset(&symptom(), 800.0), Some(ONSET));
        let flat = series(|_, i| 1.0 + 0.01 * jitter(i));
        assert_eq!(detect_onset(&flat, 800.0), None);
        // One spike is not an onset.
        let spike = series(|t, _| if t == 1200.0 { 9.0 } else { 1.0 });
        assert_eq!(detect_onset(&spike, 800.0), None);
    }

    #[test]
    fn change_point_finds_a_step() {
        let step = series(|t, i| if t >= 1440.0 { 5.0 } else { 1.0 } + 0.05 * jitter(i));
        let c = change_point(&step).unwrap();
        assert_eq!(c.at, 1440.0);
        assert!(c.shift_z > 10.0);
        assert!(change_point(&series(|_, _| 1.0)).is_none());
    }

    #[test]
    fn pearson_aligns_by_timestamp() {
        let a = vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)];
        let b = vec![(2.0, 20.0), (3.0, 30.0), (4.0, 40.0), (5.0, 0.0)];
        assert!((pearson(&a, &b) - 1.0).abs() < 1e-12);
        let flat = vec![(2.0, 1.0), (3.0, 1.0), (4.0, 1.0)];
        assert_eq!(pearson(&a, &flat), 0.0);
    }

    #[test]
    fn a_step_before_the_onset_ranks_first_noise_middle_and_flat_last() {
        let s = symptom();
        let early = series(|t, i| if t >= ONSET - 60.0 { 3.0 } else { 1.0 } + 0.02 * jitter(i));
        let late = series(|t, i| if t >= ONSET + 300.0 { 3.0 } else { 1.0 } + 0.02 * jitter(i));
        let noise = series(|_, i| 1.0 + 0.3 * jitter(i * 7 + 3));
        let flat = series(|_, _| 1.0);

        let m_early = movement(&s, &early, None, frame());
        let m_late = movement(&s, &late, None, frame());
        let m_noise = movement(&s, &noise, None, frame());
        let m_flat = movement(&s, &flat, None, frame());

        assert_eq!(m_early.change_at, Some(ONSET - 60.0));
        assert_eq!(m_early.lead_secs, Some(60.0));
        assert!(m_early.z > Z_THRESHOLD);
        assert!(m_early.correlation > 0.9);
        assert!(m_late.lead_secs.unwrap() < 0.0);
        assert!(m_noise.z.abs() < Z_THRESHOLD, "{m_noise:?}");
        assert_eq!(m_flat.change_at, None);
        assert_eq!(m_flat.score, 0.0);

        assert!(m_early.score > m_late.score, "{m_early:?} vs {m_late:?}");
        assert!(m_late.score > m_noise.score, "{m_late:?} vs {m_noise:?}");
        assert!(m_noise.score > m_flat.score || m_noise.score == 0.0);
        assert!(m_noise.score < 0.3, "{m_noise:?}");
    }

    #[test]
    fn a_series_that_appears_away_from_its_siblings_changed_when_it_appeared() {
        let s = symptom();
        let new_pod: Vec<(f64, f64)> = series(|t, _| 0.4 + (t - 1200.0) / 1000.0)
            .into_iter()
            .filter(|(t, _)| *t >= 1200.0)
            .collect();
        let old_pods = Baseline::of(&[0.15, 0.16, 0.15, 0.14]);
        let m = movement(&s, &new_pod, old_pods, frame());
        assert_eq!(m.change_at, Some(1200.0));
        assert_eq!(m.lead_secs, Some(ONSET - 1200.0));
        assert!(m.z > Z_THRESHOLD, "{m:?}");

        // Like its siblings: appearing is no change.
        let like = Baseline::of(&[0.4, 0.41, 0.39]);
        let m = movement(&s, &new_pod, like, frame());
        assert_ne!(m.change_at, Some(1200.0));
    }

    #[test]
    fn a_flat_zero_baseline_does_not_explode_z() {
        let s = symptom();
        let restarts = series(|t, _| if t >= ONSET + 60.0 { 2.0 } else { 0.0 });
        let m = movement(&s, &restarts, None, frame());
        assert!(m.z > Z_THRESHOLD && m.z < 100.0, "{m:?}");
        assert!(m.lead_secs.unwrap() < 0.0);
    }
}
