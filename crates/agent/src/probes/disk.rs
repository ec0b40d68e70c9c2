//! `disk_filling` (from node-exporter: little root filesystem left) and
//! `disk_pressure` (from the node's DiskPressure condition).

use pagerless_model::Evidence;
use pagerless_tools::kubernetes::NodeInfo;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From the free fraction of each node's root filesystem.
pub fn filling(free: &InstantResult, step: u32) -> Option<Evidence> {
    let low = free
        .series
        .iter()
        .filter(|s| s.value.is_finite())
        .min_by(|a, b| a.value.total_cmp(&b.value))?;
    if low.value >= 0.15 {
        return None;
    }
    let node = low
        .labels
        .get("node")
        .or_else(|| low.labels.get("instance"))
        .cloned()
        .unwrap_or_default();
    Some(super::evidence(
        "disk_filling",
        node.clone(),
        format!(
            "{node}'s root filesystem has {} free",
            super::percent(low.value)
        ),
        1.0,
        step,
        &[
            ("node", json!(node)),
            ("disk_free", json!(super::percent(low.value))),
            ("disk_used", json!(super::percent(1.0 - low.value))),
        ],
    ))
}

/// From node conditions.
pub fn pressure(nodes: &[NodeInfo], step: u32) -> Option<Evidence> {
    let n = nodes
        .iter()
        .find(|n| n.conditions.get("DiskPressure").copied().unwrap_or(false))?;
    Some(super::evidence(
        "disk_pressure",
        n.name.clone(),
        format!("{} reports DiskPressure; the kubelet evicts pods", n.name),
        1.0,
        step,
        &[("node", json!(n.name))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    #[test]
    fn a_full_disk_and_the_condition() {
        let r = InstantResult {
            time: 0.0,
            series: vec![LabeledValue {
                labels: [("node".to_owned(), "node-c".to_owned())].into(),
                value: 0.12,
            }],
        };
        assert_eq!(filling(&r, 1).unwrap().values["disk_free"], "12%");
        let node = NodeInfo {
            name: "node-c".into(),
            ready: true,
            unschedulable: false,
            conditions: [
                ("DiskPressure".to_owned(), true),
                ("Ready".to_owned(), true),
            ]
            .into(),
            allocatable: Default::default(),
            taints: vec![],
        };
        assert_eq!(pressure(&[node], 2).unwrap().subject, "node-c");
    }
}
