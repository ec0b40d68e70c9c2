//! `symptom_present`, `symptom_recovered`, `symptom_persists`: whether the
//! alert's own expression still returns samples.

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
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
}
