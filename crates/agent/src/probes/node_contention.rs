//! `node_contention`: a node hosting the service's pods has its CPU saturated.

use std::collections::BTreeSet;

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From per-node CPU demand as a fraction of allocatable CPU, and the nodes the
/// service's pods run on.
pub fn probe(
    load: &InstantResult,
    service_nodes: &BTreeSet<String>,
    service: &str,
    step: u32,
) -> Option<Evidence> {
    let hot = load
        .series
        .iter()
        .filter(|s| s.value.is_finite() && s.value >= 0.95)
        .filter(|s| {
            s.labels
                .get("node")
                .is_some_and(|n| service_nodes.contains(n))
        })
        .max_by(|a, b| a.value.total_cmp(&b.value))?;
    let node = hot.labels.get("node").cloned().unwrap_or_default();
    let calm = load.series.iter().filter(|s| s.value < 0.8).count();
    Some(super::evidence(
        "node_contention",
        node.clone(),
        format!(
            "{node} runs at {} of its CPU, and hosts {service} pods; {calm} other node(s) have room",
            super::percent(hot.value)
        ),
        if calm > 0 { 1.0 } else { 0.6 },
        step,
        &[
            ("node", json!(node)),
            ("node_load", json!(super::percent(hot.value))),
            ("node_cpu", json!("allocatable")),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    #[test]
    fn a_saturated_node_with_our_pods_is_evidence() {
        let r = InstantResult {
            time: 0.0,
            series: vec![
                LabeledValue {
                    labels: [("node".to_owned(), "node-a".to_owned())].into(),
                    value: 0.3,
                },
                LabeledValue {
                    labels: [("node".to_owned(), "node-b".to_owned())].into(),
                    value: 1.0,
                },
            ],
        };
        let ours: BTreeSet<String> = ["node-a".to_owned(), "node-b".to_owned()].into();
        assert_eq!(
            probe(&r, &ours, "catalog-api", 2).unwrap().values["node"],
            "node-b"
        );
        let elsewhere: BTreeSet<String> = ["node-a".to_owned()].into();
        assert!(
            probe(&r, &elsewhere, "catalog-api", 2).is_none(),
            "not our problem if none of our pods run there"
        );
    }
}
