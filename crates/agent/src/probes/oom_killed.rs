//! `oom_killed`: the service's containers were killed by the kernel for exceeding their memory limit.

use pagerless_model::Evidence;
use pagerless_tools::kubernetes::PodInfo;
use serde_json::json;

/// Evidence when any pod's container last terminated `OOMKilled` (exit 137).
pub fn probe(pods: &[PodInfo], service: &str, step: u32) -> Option<Evidence> {
    let mut killed = Vec::new();
    let mut restarts = 0;
    let mut limit = None;
    for p in pods {
        for c in &p.containers {
            let oom = c
                .last_terminated
                .as_ref()
                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled") || t.exit_code == 137);
            if oom {
                killed.push(p.name.clone());
                restarts += c.restarts;
                limit = limit.or(c.limits.memory);
            }
        }
    }
    if killed.is_empty() {
        return None;
    }
    let container = pods
        .iter()
        .flat_map(|p| &p.containers)
        .next()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Some(super::evidence(
        "oom_killed",
        service,
        format!(
            "{} of {} {service} pods were OOM-killed (exit 137), {restarts} restarts in all{}",
            killed.len(),
            pods.len(),
            limit
                .map(|l| format!("; memory limit {}", super::bytes(l)))
                .unwrap_or_default()
        ),
        (0.6 + 0.1 * killed.len() as f64).min(1.0),
        step,
        &[
            ("pods", json!(killed)),
            ("restarts", json!(restarts)),
            ("container", json!(container)),
            ("limit_bytes", json!(limit)),
        ],
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pagerless_tools::kubernetes::{ContainerInfo, Resources, Terminated};

    pub(crate) fn pod(name: &str, restarts: i32, reason: Option<&str>, code: i32) -> PodInfo {
        PodInfo {
            namespace: "shop".into(),
            name: name.into(),
            node: Some("node-a".into()),
            phase: "Running".into(),
            reason: None,
            ready: reason.is_none(),
            labels: Default::default(),
            owner: None,
            containers: vec![ContainerInfo {
                name: "order-api-v2".into(),
                image: "registry.local/shop/order-api:2.14.1".into(),
                restarts,
                ready: reason.is_none(),
                state: if reason.is_some() {
                    "waiting".into()
                } else {
                    "running".into()
                },
                reason: reason.map(|_| "CrashLoopBackOff".into()),
                last_terminated: reason.map(|r| Terminated {
                    reason: Some(r.into()),
                    exit_code: code,
                    finished_at: None,
                }),
                limits: Resources {
                    cpu: Some(2.0),
                    memory: Some(536_870_912.0),
                },
                requests: Resources::default(),
                env: Default::default(),
            }],
        }
    }

    #[test]
    fn oomkilled_pods_are_evidence_and_healthy_ones_are_not() {
        let pods = vec![
            pod("order-service-a", 4, Some("OOMKilled"), 137),
            pod("order-service-b", 0, None, 0),
        ];
        let e = probe(&pods, "order-service", 3).unwrap();
        assert_eq!(e.values["restarts"], 4);
        assert!(
            e.summary
                .contains("1 of 2 order-service pods were OOM-killed"),
            "{}",
            e.summary
        );
        assert!(e.summary.contains("512Mi"));
        assert!(probe(&[pod("x", 0, None, 0)], "x", 1).is_none());
        assert!(
            probe(&[pod("x", 3, Some("Error"), 1)], "x", 1).is_none(),
            "a config crash is not an OOM"
        );
    }
}
