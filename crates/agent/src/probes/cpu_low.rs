//! `cpu_low`: the service uses little of its CPU limit (so CPU is not the problem).

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From per-pod CPU usage as a fraction of the CPU limit.
pub fn probe(ratios: &InstantResult, service: &str, step: u32) -> Option<Evidence> {
    let finite: Vec<f64> = ratios
        .series
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .collect();
    let max = finite.iter().copied().fold(f64::NAN, f64::max);
    if finite.is_empty() || max >= 0.5 {
        return None;
    }
    Some(super::evidence(
        "cpu_low",
        service,
        format!(
            "{service} uses at most {} of its CPU limit",
            super::percent(max)
        ),
        1.0 - max,
        step,
        &[("cpu_ratio", json!(super::percent(max)))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    #[test]
    fn low_cpu_is_evidence_high_is_not() {
        let r = |vs: &[f64]| InstantResult {
            time: 0.0,
            series: vs
                .iter()
                .map(|v| LabeledValue {
                    labels: Default::default(),
                    value: *v,
                })
                .collect(),
        };
        assert_eq!(
            probe(&r(&[0.08, 0.12]), "s", 1).unwrap().values["cpu_ratio"],
            "12%"
        );
        assert!(probe(&r(&[0.1, 0.9]), "s", 1).is_none());
        assert!(probe(&r(&[]), "s", 1).is_none());
    }
}
