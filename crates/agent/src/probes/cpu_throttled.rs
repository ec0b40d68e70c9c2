//! `cpu_throttled`: the CFS throttles a pod in a large share of its periods.

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From a per-pod ratio of throttled to all CFS periods.
pub fn probe(ratios: &InstantResult, service: &str, step: u32) -> Option<Evidence> {
    let top = ratios
        .series
        .iter()
        .filter(|s| s.value.is_finite())
        .max_by(|a, b| a.value.total_cmp(&b.value))?;
    if top.value < 0.25 {
        return None;
    }
    Some(super::evidence(
        "cpu_throttled",
        service,
        format!(
            "{service} is throttled in {} of CFS periods",
            super::percent(top.value)
        ),
        (top.value / 0.5).clamp(0.4, 1.0),
        step,
        &[("throttled_ratio", json!(super::percent(top.value)))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    #[test]
    fn heavy_throttling_is_evidence() {
        let r = |v: f64| InstantResult {
            time: 0.0,
            series: vec![LabeledValue {
                labels: Default::default(),
                value: v,
            }],
        };
        assert_eq!(
            probe(&r(0.55), "s", 1).unwrap().values["throttled_ratio"],
            "55%"
        );
        assert!(
            probe(&r(0.02), "s", 1).is_none(),
            "a little throttling is normal"
        );
        assert!(probe(&r(f64::NAN), "s", 1).is_none());
    }
}
