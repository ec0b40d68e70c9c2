//! The scheduler: binds each Pending, unbound pod to a schedulable node (not cordoned, not
//! NotReady, taints tolerated, enough allocatable cpu and memory for the pod's requests), picking
//! the least requested node; otherwise the pod stays Pending with a FailedScheduling event.
//! A bound pod starts at once: Running, an IP, a start time and running, ready containers.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStatus, Node, Pod, PodCondition, PodIP, Taint,
    Toleration,
};

use crate::events::object_reference;
use crate::quantity::cpu_memory;
use crate::store::{Cluster, mix};
use crate::time::to_time;

/// The cpu (millicores) and memory (bytes) a pod requests: per container, its requests, or its
/// limits where requests are absent (the API server's defaulting).
pub fn pod_requests(pod: &Pod) -> (u64, u64) {
    let Some(spec) = pod.spec.as_ref() else {
        return (0, 0);
    };
    spec.containers.iter().fold((0, 0), |(cpu, mem), c| {
        let res = c.resources.as_ref();
        let (rc, rm) = cpu_memory(res.and_then(|r| r.requests.as_ref()));
        let (lc, lm) = cpu_memory(res.and_then(|r| r.limits.as_ref()));
        (cpu + rc.or(lc).unwrap_or(0), mem + rm.or(lm).unwrap_or(0))
    })
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key);
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => {
                t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
            }
        };
        effect_ok && key_ok && value_ok
    })
}

/// Whether a node counts as Ready: its Ready condition is True, or it reports none.
pub fn node_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    match conditions.and_then(|cs| cs.iter().find(|c| c.type_ == "Ready")) {
        Some(c) => c.status == "True",
        None => true,
    }
}

struct Candidate {
    name: String,
    host_ip: Option<String>,
    cpu: Option<u64>,
    memory: Option<u64>,
    used_cpu: u64,
    used_memory: u64,
    unschedulable: bool,
    ready: bool,
    taints: Vec<Taint>,
    labels: BTreeMap<String, String>,
}

fn free_fraction(used: u64, capacity: Option<u64>) -> f64 {
    match capacity {
        Some(c) if c > 0 => 1.0 - used as f64 / c as f64,
        _ => 1.0,
    }
}

fn set_condition(
    conditions: &mut Vec<PodCondition>,
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: DateTime<Utc>,
) {
    let status = if ok { "True" } else { "False" };
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status || c.reason.as_deref() != reason || c.message != message {
            c.status = status.into();
            c.reason = reason.map(Into::into);
            c.message = message;
            c.last_transition_time = Some(to_time(now));
        }
        return;
    }
    conditions.push(PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(Into::into),
        message,
        last_transition_time: Some(to_time(now)),
        ..Default::default()
    });
}

fn bind(cluster: &mut Cluster, mut pod: Pod, node: &Candidate, now: DateTime<Utc>) {
    let seq = cluster.next_sequence();
    let ip = format!("10.244.{}.{}", (seq / 250) % 256, seq % 250 + 2);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node.name.clone());
    let containers = spec.containers.clone();
    let status = pod.status.get_or_insert_with(Default::default);
    status.phase = Some("Running".into());
    status.pod_ip = Some(ip.clone());
    status.pod_ips = Some(vec![PodIP { ip }]);
    status.host_ip = node.host_ip.clone();
    status.start_time = Some(to_time(now));
    status.qos_class = Some("Burstable".into());
    let mut conditions = status.conditions.take().unwrap_or_default();
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        set_condition(&mut conditions, t, true, None, None, now);
    }
    status.conditions = Some(conditions);
    status.container_statuses = Some(
        containers
            .iter()
            .map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let id = mix(seq ^ u64::from(super::fnv32a(c.name.as_bytes())));
                ContainerStatus {
                    name: c.name.clone(),
                    image: image.clone(),
                    image_id: format!("{image}@sha256:{:016x}{:016x}", mix(id), mix(id ^ 1)),
                    container_id: Some(format!("containerd://{:016x}{:016x}", id, mix(id ^ 2))),
                    ready: true,
                    started: Some(true),
                    restart_count: 0,
                    state: Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(to_time(now)),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect(),
    );
    pod.metadata.resource_version = None;
    let Ok(pod) = cluster.update(pod) else { return };
    let reference = object_reference(&pod);
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let _ = cluster.record_event(
        reference.clone(),
        "Scheduled",
        &format!("Successfully assigned {ns}/{name} to {}", node.name),
        "Normal",
        now,
    );
    for c in &containers {
        let image = c.image.clone().unwrap_or_default();
        let mut r = reference.clone();
        r.field_path = Some(format!("spec.containers{{{}}}", c.name));
        let _ = cluster.record_event(
            r.clone(),
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
            "Normal",
            now,
        );
        let _ = cluster.record_event(
            r.clone(),
            "Created",
            &format!("Created container: {}", c.name),
            "Normal",
            now,
        );
        let _ = cluster.record_event(
            r,
            "Started",
            &format!("Started container {}", c.name),
            "Normal",
            now,
        );
    }
}

fn unschedulable(cluster: &mut Cluster, mut pod: Pod, message: String, now: DateTime<Utc>) {
    let _ = cluster.record_event(
        object_reference(&pod),
        "FailedScheduling",
        &message,
        "Warning",
        now,
    );
    let status = pod.status.get_or_insert_with(Default::default);
    let mut conditions = status.conditions.take().unwrap_or_default();
    set_condition(
        &mut conditions,
        "PodScheduled",
        false,
        Some("Unschedulable"),
        Some(message),
        now,
    );
    status.conditions = Some(conditions);
    pod.metadata.resource_version = None;
    let _ = cluster.update(pod);
}

/// Binds every unbound Pending pod it can, in namespace/name order.
pub fn schedule(cluster: &mut Cluster, now: DateTime<Utc>) {
    let pending: Vec<Pod> = cluster
        .iter::<Pod>(None)
        .filter(|p| {
            p.spec.as_ref().is_some_and(|s| s.node_name.is_none())
                && p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .unwrap_or("Pending")
                    == "Pending"
        })
        .cloned()
        .collect();
    if pending.is_empty() {
        return;
    }
    let mut used: HashMap<&str, (u64, u64)> = HashMap::new();
    for pod in cluster.iter::<Pod>(None) {
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default();
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && phase != "Succeeded"
            && phase != "Failed"
        {
            let (c, m) = pod_requests(pod);
            let e = used.entry(node).or_default();
            *e = (e.0 + c, e.1 + m);
        }
    }
    let mut nodes: Vec<Candidate> = cluster
        .iter::<Node>(None)
        .map(|n| {
            let status = n.status.as_ref();
            let (mut cpu, mut memory) = cpu_memory(status.and_then(|s| s.allocatable.as_ref()));
            let (cap_cpu, cap_mem) = cpu_memory(status.and_then(|s| s.capacity.as_ref()));
            cpu = cpu.or(cap_cpu);
            memory = memory.or(cap_mem);
            let name = n.metadata.name.clone().unwrap_or_default();
            let (used_cpu, used_memory) = used.get(name.as_str()).copied().unwrap_or_default();
            Candidate {
                host_ip: status
                    .and_then(|s| s.addresses.as_ref())
                    .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                    .map(|a| a.address.clone()),
                name,
                cpu,
                memory,
                used_cpu,
                used_memory,
                unschedulable: n
                    .spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false),
                ready: node_ready(n),
                taints: n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.clone())
                    .unwrap_or_default(),
                labels: n.metadata.labels.clone().unwrap_or_default(),
            }
        })
        .collect();
    let total = nodes.len();
    for pod in pending {
        let (cpu, memory) = pod_requests(&pod);
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        let selector = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        let mut best: Option<(usize, f64)> = None;
        for (i, n) in nodes.iter().enumerate() {
            let reason = if selector.iter().any(|(k, v)| n.labels.get(k) != Some(v)) {
                Some("node(s) didn't match Pod's node affinity/selector")
            } else if n.unschedulable {
                Some("node(s) were unschedulable")
            } else if !n.ready {
                Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }")
            } else if n.taints.iter().any(|t| {
                (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(&tolerations, t)
            }) {
                Some("node(s) had untolerated taint(s)")
            } else if n.cpu.is_some_and(|c| n.used_cpu + cpu > c) {
                Some("Insufficient cpu")
            } else if n.memory.is_some_and(|m| n.used_memory + memory > m) {
                Some("Insufficient memory")
            } else {
                None
            };
            if let Some(r) = reason {
                *reasons.entry(r).or_default() += 1;
                continue;
            }
            let score = (free_fraction(n.used_cpu + cpu, n.cpu)
                + free_fraction(n.used_memory + memory, n.memory))
                / 2.0;
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        match best {
            Some((i, _)) => {
                nodes[i].used_cpu += cpu;
                nodes[i].used_memory += memory;
                bind(cluster, pod, &nodes[i], now);
            }
            None => {
                let detail: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                let message = if total == 0 {
                    "no nodes available to schedule pods".to_string()
                } else {
                    format!(
                        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
                        detail.join(", ")
                    )
                };
                unschedulable(cluster, pod, message, now);
            }
        }
    }
}
