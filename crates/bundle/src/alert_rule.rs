//! The alert rule of imported cases, evaluated on the entry service's
//! symptom series alone (never on the fault labels): every minute, latency
//! p90 above `median + k·max(MAD, floor·median)` of the previous hour (the
//! 60 whole minutes before the sample's minute), or the success ratio below
//! a target when the previous hour's median met it.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// One minute of the entry service's symptom series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteSample {
    /// When the sample was taken.
    pub time: DateTime<Utc>,
    /// Latency p90 in seconds.
    pub p90: f64,
    /// Success ratio, 0..=1.
    pub success: f64,
}

/// The rule's parameters; [`Default`] gives the documented ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleSettings {
    /// The baseline's length: 60 minutes.
    pub baseline: Duration,
    /// Fewer baseline samples than this and the minute is not evaluated: 10.
    pub min_baseline_samples: usize,
    /// How many MADs above the median: 3.
    pub mads: f64,
    /// The MAD's floor as a fraction of the median: 0.05.
    pub mad_floor: f64,
    /// The success ratio target: 0.99.
    pub success_target: f64,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            baseline: Duration::minutes(60),
            min_baseline_samples: 10,
            mads: 3.0,
            mad_floor: 0.05,
            success_target: 0.99,
        }
    }
}

/// Why a minute fired.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FiringKind {
    /// Latency p90 crossed the threshold.
    Latency {
        /// The minute's p90.
        value: f64,
        /// The baseline's median.
        baseline: f64,
        /// The threshold crossed.
        threshold: f64,
    },
    /// The success ratio fell below the target.
    Success {
        /// The minute's success ratio.
        value: f64,
        /// The baseline's median.
        baseline: f64,
    },
}

/// A minute at which the rule holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firing {
    /// The index of the minute in the evaluated slice.
    pub index: usize,
    /// The minute's sample time.
    pub time: DateTime<Utc>,
    /// Why it fired (latency wins when both hold).
    pub kind: FiringKind,
}

/// The latency threshold at minute `index`: `(median, threshold)` of the
/// samples in the baseline before it, `None` when there are too few.
pub fn latency_threshold(
    minutes: &[MinuteSample],
    index: usize,
    settings: &RuleSettings,
    min_samples: usize,
) -> Option<(f64, f64)> {
    let values: Vec<f64> = baseline(minutes, index, settings)
        .map(|m| m.p90)
        .filter(|v| v.is_finite())
        .collect();
    if values.len() < min_samples.max(1) {
        return None;
    }
    let med = median(values.clone());
    let mad = median(values.iter().map(|v| (v - med).abs()).collect());
    Some((med, med + settings.mads * mad.max(settings.mad_floor * med)))
}

fn baseline<'a>(
    minutes: &'a [MinuteSample],
    index: usize,
    settings: &RuleSettings,
) -> impl Iterator<Item = &'a MinuteSample> {
    // Whole minutes, so that the jitter of sample times (a few ms) never
    // moves a sample in or out of the baseline.
    let minute = |t: DateTime<Utc>| t.duration_trunc(Duration::minutes(1)).unwrap_or(t);
    let now = minute(minutes[index].time);
    minutes[..index]
        .iter()
        .filter(move |m| minute(m.time) >= now - settings.baseline && minute(m.time) < now)
}

/// Every minute at which the rule holds, in order. `minutes` must be sorted by time.
pub fn evaluate(minutes: &[MinuteSample], settings: &RuleSettings) -> Vec<Firing> {
    let mut firings = Vec::new();
    for (index, m) in minutes.iter().enumerate() {
        let latency = latency_threshold(minutes, index, settings, settings.min_baseline_samples)
            .filter(|&(_, threshold)| m.p90 > threshold)
            .map(|(baseline, threshold)| FiringKind::Latency {
                value: m.p90,
                baseline,
                threshold,
            });
        let success = || {
            let values: Vec<f64> = baseline(minutes, index, settings)
                .map(|m| m.success)
                .filter(|v| v.is_finite())
                .collect();
            if values.len() < settings.min_baseline_samples {
                return None;
            }
            let med = median(values);
            (med >= settings.success_target && m.success < settings.success_target).then_some(
                FiringKind::Success {
                    value: m.success,
                    baseline: med,
                },
            )
        };
        if let Some(kind) = latency.or_else(success) {
            firings.push(Firing {
                index,
                time: m.time,
                kind,
            });
        }
    }
    firings
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn series(p90: &[f64], success: &[f64]) -> Vec<MinuteSample> {
        let t0: DateTime<Utc> = "2022-08-22T03:00:19Z".parse().unwrap();
        p90.iter()
            .zip(success)
            .enumerate()
            .map(|(i, (&p, &s))| MinuteSample {
                time: t0 + Duration::minutes(i as i64),
                p90: p,
                success: s,
            })
            .collect()
    }

    #[test]
    fn latency_spike_fires_against_the_previous_hour() {
        let mut p = vec![1.0; 70];
        p[65] = 1.16; // threshold: 1 + 3 * max(0, 0.05) = 1.15
        p[66] = 1.14;
        let f = evaluate(&series(&p, &[1.0; 70]), &RuleSettings::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].index, 65);
        assert!(
            matches!(f[0].kind, FiringKind::Latency { threshold, .. } if (threshold - 1.15).abs() < 1e-9)
        );
    }

    #[test]
    fn success_drop_fires_only_when_the_baseline_met_the_target() {
        let mut s = vec![1.0; 30];
        s[20] = 0.98;
        let f = evaluate(&series(&[1.0; 30], &s), &RuleSettings::default());
        assert_eq!(f.len(), 1);
        assert!(matches!(f[0].kind, FiringKind::Success { .. }));
        let f = evaluate(&series(&[1.0; 30], &[0.0; 30]), &RuleSettings::default());
        assert!(f.is_empty());
    }

    #[test]
    fn too_short_a_baseline_never_fires() {
        let f = evaluate(
            &series(&[1.0, 1.0, 9.0], &[1.0, 1.0, 0.0]),
            &RuleSettings::default(),
        );
        assert!(f.is_empty());
    }
}
