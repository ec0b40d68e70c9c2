//! A synthetic fleet for benchmarks: many nodes, many services, no story —
//! the size of a large production cluster, to measure the lab's speed.

use std::collections::BTreeMap;

use crate::scenario::{
    Behaviour, Expectation, LoadPoint, NodeSpec, Resources, Scenario, ServiceSpec,
};
use crate::units::{Bytes, Millicores, Secs};

/// A scenario of `nodes` nodes and `services` services of `replicas` pods each,
/// in ten namespaces; every tenth service is an entry calling the next nine.
pub fn fleet(nodes: usize, services: usize, replicas: u32, duration: Secs) -> Scenario {
    let node_specs = (0..nodes)
        .map(|i| NodeSpec {
            name: format!("node-{i:04}"),
            cpu: Millicores(32_000),
            memory: Bytes(128 << 30),
            disk: Bytes(500 << 30),
            disk_used: Bytes(50 << 30),
            labels: BTreeMap::new(),
        })
        .collect();
    let service_specs = (0..services)
        .map(|i| {
            let entry = i % 10 == 0;
            ServiceSpec {
                name: format!("svc-{i:04}"),
                namespace: format!("team-{}", i % 10),
                container: None,
                image: format!("registry.local/fleet/svc-{i:04}"),
                tag: "1.0.0".into(),
                replicas,
                requests: Resources {
                    cpu: Millicores(100),
                    memory: Bytes(128 << 20),
                },
                limits: Resources {
                    cpu: Millicores(1000),
                    memory: Bytes(1 << 30),
                },
                env: BTreeMap::new(),
                node: None,
                calls: if entry {
                    (i + 1..(i + 10).min(services))
                        .map(|j| format!("svc-{j:04}"))
                        .collect()
                } else {
                    Vec::new()
                },
                entry,
                behaviour: Behaviour {
                    rps_per_pod: Some(500.0),
                    ..Behaviour::default()
                },
                versions: BTreeMap::new(),
                postgres: None,
            }
        })
        .collect();
    Scenario {
        name: "fleet".into(),
        description: format!("{nodes} nodes, {services} services of {replicas} pods"),
        seed: 1,
        step: Secs(15),
        duration,
        start: DateTime::from_timestamp(1_767_600_000, 0).unwrap_or_default(),
        environment: "prod".into(),
        cluster: "fleet".into(),
        nodes: node_specs,
        services: service_specs,
        load: vec![LoadPoint {
            at: Secs(0),
            rps: 1000.0,
        }],
        iac: Default::default(),
        timeline: Vec::new(),
        alerts: Vec::new(),
        expect: Expectation {
            category: "none".into(),
            service: None,
            culprit: None,
            mitigation: None,
            fix: None,
        },
    }
}

use chrono::DateTime;
