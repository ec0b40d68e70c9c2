//! `symptom_present`, `symptom_recovered`, `symptom_persists`: whether the
//! alert's own expression still returns samples; and, from its history,
//! when it began.

use chrono::{DateTime, Utc};
use pagerless_model::Evidence;
use pagerless_tools::prometheus::{InstantResult, RangeResult};
use serde_json::json;

/// The first look: is the symptom there, and how big.
pub fn present(result: &InstantResult, alertname: &str, step: u32) -> Option<Evidence> {
    let v = result
        .series
        .iter()
        .map(|s| s.value)
        .find(|v| v.is_finite())?;
    Some(super::evidence(
        "symptom_present",
        alertname,
        format!("{alertname}: the expression returns {v:.3}"),
        1.0,
        step,
        &[("symptom_value", json!(v))],
    ))
}

/// The second look, after watching: gone, or still there.
pub fn recheck(result: &InstantResult, alertname: &str, watched_secs: u64, step: u32) -> Evidence {
    let watched = format!("{} min", watched_secs / 60);
    match result
        .series
        .iter()
        .map(|s| s.value)
        .find(|v| v.is_finite())
    {
        None => super::evidence(
            "symptom_recovered",
            alertname,
            format!("{alertname} no longer holds after watching {watched}"),
            1.0,
            step,
            &[("watched", json!(watched))],
        ),
        Some(v) => super::evidence(
            "symptom_persists",
            alertname,
            format!("{alertname} still holds after {watched} ({v:.3})"),
            1.0,
            step,
            &[("watched", json!(watched)), ("symptom_value", json!(v))],
        ),
    }
}

/// The start of the symptom's run that holds at `alerted`, from the
/// expression's history at `step_secs` steps: the earliest time from which
/// it returned samples at every step up to the alert (a step missed ends
/// the run, as it resets a rule's `for`). `None` when it does not hold at
/// the alert.
pub fn run_start(
    history: &RangeResult,
    alerted: DateTime<Utc>,
    step_secs: i64,
) -> Option<DateTime<Utc>> {
    let step = step_secs as f64;
    let mut times: Vec<f64> = history
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let last = *times.last()?;
    if last < alerted.timestamp() as f64 - 1.5 * step {
        return None;
    }
    let mut start = last;
    for t in times.iter().rev().skip(1) {
        if start - t > 1.5 * step {
            break;
        }
        start = *t;
    }
    DateTime::from_timestamp(start as i64, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    #[test]
    fn gone_or_still_there() {
        let empty = InstantResult::default();
        assert_eq!(recheck(&empty, "A", 180, 5).probe, "symptom_recovered");
        let still = InstantResult {
            time: 0.0,
            series: vec![LabeledValue {
                labels: Default::default(),
                value: 0.9,
            }],
        };
        assert_eq!(recheck(&still, "A", 180, 5).probe, "symptom_persists");
        assert!(present(&empty, "A", 1).is_none());
    }

    #[test]
    fn the_onset_is_where_the_symptoms_run_up_to_the_alert_began() {
        let alerted = DateTime::from_timestamp(1_674_990_130, 0).unwrap();
        let t0 = alerted.timestamp() as f64;
        let holding = |times: &mut dyn Iterator<Item = i64>| RangeResult {
            series: vec![pagerless_tools::prometheus::LabeledSeries {
                labels: Default::default(),
                points: times.map(|s| (t0 + s as f64, 1.2)).collect(),
            }],
        };
        // Held for 3 minutes; an earlier run, 2 steps missed, does not count.
        let run = holding(&mut (-600..=-450).step_by(15).chain((-180..=0).step_by(15)));
        let start = run_start(&run, alerted, 15).unwrap();
        assert_eq!((alerted - start).num_seconds(), 180);
        // Not holding at the alert (it cleared): the alert's time stands.
        let cleared = holding(&mut (-600..=-120).step_by(15));
        assert_eq!(run_start(&cleared, alerted, 15), None);
        assert_eq!(run_start(&RangeResult::default(), alerted, 15), None);
    }
}
