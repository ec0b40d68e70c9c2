//! `memory_near_limit`: a pod's working set reached most of its memory limit.

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// The ratio at which memory counts as pressed against the limit.
pub const THRESHOLD: f64 = 0.9;

/// From a per-pod ratio of working set (max over a window) to the memory limit.
pub fn probe(ratios: &InstantResult, service: &str, step: u32) -> Option<Evidence> {
    let top = ratios
        .series
        .iter()
        .filter(|s| s.value.is_finite())
        .max_by(|a, b| a.value.total_cmp(&b.value))?;
    if top.value < THRESHOLD {
        return None;
    }
    let pod = top.labels.get("pod").cloned().unwrap_or_default();
    Some(super::evidence(
        "memory_near_limit",
        service,
        format!(
            "{pod}'s working set reached {} of its memory limit",
            super::percent(top.value)
        ),
        ((top.value - 0.8) / 0.2).clamp(0.3, 1.0),
        step,
        &[
            ("memory_ratio", json!(super::percent(top.value))),
            ("pod", json!(pod)),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    fn r(vals: &[(&str, f64)]) -> InstantResult {
        InstantResult {
            time: 0.0,
            series: vals
                .iter()
                .map(|(p, v)| LabeledValue {
                    labels: [("pod".to_owned(), (*p).to_owned())].into(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn near_the_limit_is_evidence() {
        let e = probe(&r(&[("a", 0.41), ("b", 0.987)]), "order-service", 2).unwrap();
        assert_eq!(e.values["memory_ratio"], "99%");
        assert_eq!(e.values["pod"], "b");
        assert!(probe(&r(&[("a", 0.6)]), "x", 1).is_none());
        assert!(probe(&r(&[]), "x", 1).is_none());
    }
}
