//! The replicaset controller: creates pods named `<replicaset>-<5 chars>` (derived from the
//! cluster's deterministic sequence, never from randomness) or deletes surplus ones, and keeps
//! the ReplicaSet's status.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{controller_ref, controller_uid, fnv32a};
use crate::events::object_reference;
use crate::pod_status::pod_is_ready;
use crate::selector::LabelSelectorExpr;
use crate::store::{Cluster, name_suffix};

/// Live (not terminating) pods by the uid of their controlling owner, ordered by namespace/name.
fn pods_by_owner(cluster: &Cluster) -> HashMap<String, Vec<&Pod>> {
    let mut owned: HashMap<String, Vec<&Pod>> = HashMap::new();
    for pod in cluster.iter::<Pod>(None) {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(uid) = controller_uid(&pod.metadata) {
            owned.entry(uid.to_string()).or_default().push(pod);
        }
    }
    owned
}

/// Which pods go first when scaling down, like the real controller: unbound before bound,
/// pending before running, not ready before ready, more restarts first, newest first.
fn deletion_rank(pod: &Pod) -> (bool, bool, bool, i32, std::cmp::Reverse<String>) {
    let status = pod.status.as_ref();
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let restarts = status
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| c.restart_count).sum());
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    (
        bound,
        running,
        pod_is_ready(pod),
        -restarts,
        std::cmp::Reverse(created),
    )
}

fn new_pod(cluster: &mut Cluster, rs: &ReplicaSet) -> Option<Pod> {
    let rs_name = rs.metadata.name.clone()?;
    let template = rs.spec.as_ref()?.template.clone()?;
    let ns = rs.metadata.namespace.clone();
    let base = u64::from(fnv32a(rs_name.as_bytes()));
    let name = loop {
        let seq = cluster.next_sequence();
        let candidate = format!("{rs_name}-{}", name_suffix((base << 32) ^ seq, 5));
        if cluster.get_ref::<Pod>(ns.as_deref(), &candidate).is_none() {
            break candidate;
        }
    };
    let meta = template.metadata.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".into());
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.service_account_name
        .get_or_insert_with(|| "default".into());
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(name),
            generate_name: Some(format!("{rs_name}-")),
            namespace: ns,
            labels: meta.labels,
            annotations: meta.annotations,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            qos_class: None,
            ..Default::default()
        }),
    })
}

/// A pod to delete: namespace, name, whether it is bound, its first container.
type Victim = (String, String, bool, String);

/// Creates or deletes pods so each ReplicaSet has `spec.replicas` live pods.
pub fn sync_pods(cluster: &mut Cluster, now: DateTime<Utc>) {
    let replica_sets: Vec<ReplicaSet> = cluster.list(None);
    let plan: Vec<(usize, i32, Vec<Victim>)> = {
        let owned = pods_by_owner(cluster);
        replica_sets
            .iter()
            .enumerate()
            .filter_map(|(i, rs)| {
                if rs.metadata.deletion_timestamp.is_some() {
                    return None;
                }
                let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let uid = rs.metadata.uid.as_deref().unwrap_or_default();
                let pods = owned.get(uid).map(Vec::as_slice).unwrap_or(&[]);
                let have = pods.len() as i32;
                if have == want {
                    return None;
                }
                let mut surplus: Vec<&Pod> = pods.to_vec();
                surplus.sort_by_key(|p| deletion_rank(p));
                let victims = surplus
                    .into_iter()
                    .take((have - want).max(0) as usize)
                    .map(|p| {
                        let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
                        let container = p
                            .spec
                            .as_ref()
                            .and_then(|s| s.containers.first())
                            .map(|c| c.name.clone())
                            .unwrap_or_default();
                        (
                            p.metadata.namespace.clone().unwrap_or_default(),
                            p.metadata.name.clone().unwrap_or_default(),
                            bound,
                            container,
                        )
                    })
                    .collect();
                Some((i, (want - have).max(0), victims))
            })
            .collect()
    };
    for (i, missing, victims) in plan {
        let rs = &replica_sets[i];
        for _ in 0..missing {
            let Some(pod) = new_pod(cluster, rs) else {
                break;
            };
            match cluster.create(pod, now) {
                Ok(pod) => {
                    let msg = format!("Created pod: {}", pod.metadata.name.unwrap_or_default());
                    let _ = cluster.record_event(
                        object_reference(rs),
                        "SuccessfulCreate",
                        &msg,
                        "Normal",
                        now,
                    );
                }
                Err(e) => {
                    let msg = format!("Error creating: {e}");
                    let _ = cluster.record_event(
                        object_reference(rs),
                        "FailedCreate",
                        &msg,
                        "Warning",
                        now,
                    );
                    break;
                }
            }
        }
        for (ns, name, bound, container) in victims {
            if bound && let Some(pod) = cluster.get_ref::<Pod>(Some(&ns), &name) {
                let reference = object_reference(pod);
                let msg = format!("Stopping container {container}");
                let _ = cluster.record_event(reference, "Killing", &msg, "Normal", now);
            }
            if cluster.delete::<Pod>(Some(&ns), &name).is_ok() {
                let msg = format!("Deleted pod: {name}");
                let _ = cluster.record_event(
                    object_reference(rs),
                    "SuccessfulDelete",
                    &msg,
                    "Normal",
                    now,
                );
            }
        }
    }
}

/// Sets each ReplicaSet's status from its pods.
pub fn sync_status(cluster: &mut Cluster) {
    let replica_sets: Vec<ReplicaSet> = cluster.list(None);
    let updates: Vec<ReplicaSet> = {
        let owned = pods_by_owner(cluster);
        replica_sets
            .into_iter()
            .filter_map(|rs| {
                let uid = rs.metadata.uid.as_deref().unwrap_or_default();
                let pods = owned.get(uid).map(Vec::as_slice).unwrap_or(&[]);
                let selector = rs
                    .spec
                    .as_ref()
                    .map(|s| LabelSelectorExpr::from_label_selector(&s.selector))
                    .unwrap_or_default();
                let ready = pods.iter().filter(|p| pod_is_ready(p)).count() as i32;
                let labeled = pods
                    .iter()
                    .filter(|p| selector.matches(p.metadata.labels.as_ref()))
                    .count() as i32;
                let opt = |v: i32| if v > 0 { Some(v) } else { None };
                let status = ReplicaSetStatus {
                    replicas: pods.len() as i32,
                    fully_labeled_replicas: opt(labeled),
                    ready_replicas: opt(ready),
                    available_replicas: opt(ready),
                    observed_generation: rs.metadata.generation,
                    conditions: None,
                    terminating_replicas: None,
                };
                if rs.status.as_ref() == Some(&status) {
                    return None;
                }
                let mut next = rs;
                next.metadata.resource_version = None;
                next.status = Some(status);
                Some(next)
            })
            .collect()
    };
    for rs in updates {
        let _ = cluster.update(rs);
    }
}
