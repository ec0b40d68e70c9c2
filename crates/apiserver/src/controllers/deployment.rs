//! The deployment controller: one ReplicaSet per pod template (`<deployment>-<template hash>`),
//! revisions in `deployment.kubernetes.io/revision`, an instant rollout (the current ReplicaSet
//! scaled to `spec.replicas`, the others to 0), and the Deployment's status.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{controller_ref, controller_uid, fnv32a};
use crate::events::object_reference;
use crate::store::{Cluster, NAME_ALPHABET};
use crate::time::to_time;

/// The annotation holding a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label distinguishing a deployment's ReplicaSets and their pods.
pub const TEMPLATE_HASH: &str = "pod-template-hash";

/// The pod-template hash, like the controller's `ComputeHash`: FNV-32a of the template (and the
/// collision count), in decimal, each digit mapped onto the name alphabet.
pub fn template_hash(template: &PodTemplateSpec, collision_count: u32) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if collision_count > 0 {
        bytes.extend_from_slice(&collision_count.to_le_bytes());
    }
    fnv32a(&bytes)
        .to_string()
        .bytes()
        .map(|b| NAME_ALPHABET[usize::from(b) % NAME_ALPHABET.len()] as char)
        .collect()
}

/// The template without the pod-template-hash label, to compare with a Deployment's.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH);
    }
    t
}

/// The revision annotation of an object, 0 when absent.
pub fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn set_annotation(meta: &mut ObjectMeta, key: &str, value: String) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value);
}

/// ReplicaSets by the uid of their controlling Deployment.
fn owned_replica_sets(cluster: &Cluster) -> HashMap<String, Vec<ReplicaSet>> {
    let mut owned: HashMap<String, Vec<ReplicaSet>> = HashMap::new();
    for rs in cluster.iter::<ReplicaSet>(None) {
        if let Some(uid) = controller_uid(&rs.metadata) {
            owned.entry(uid.to_string()).or_default().push(rs.clone());
        }
    }
    owned
}

fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The ReplicaSet in `owned` whose template is the Deployment's.
fn current<'a>(d: &Deployment, owned: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let template = &d.spec.as_ref()?.template;
    owned.iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .map(without_hash)
            .as_ref()
            == Some(template)
    })
}

fn scale_event(
    cluster: &mut Cluster,
    d: &Deployment,
    rs: &str,
    from: i32,
    to: i32,
    now: DateTime<Utc>,
) {
    let direction = if to > from { "up" } else { "down" };
    let _ = cluster.record_event(
        object_reference(d),
        "ScalingReplicaSet",
        &format!("Scaled {direction} replica set {rs} from {from} to {to}"),
        "Normal",
        now,
    );
}

fn set_replicas(
    cluster: &mut Cluster,
    d: &Deployment,
    rs: &ReplicaSet,
    to: i32,
    now: DateTime<Utc>,
) {
    let from = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if from == to {
        return;
    }
    let mut updated = rs.clone();
    updated.metadata.resource_version = None;
    if let Some(spec) = updated.spec.as_mut() {
        spec.replicas = Some(to);
    }
    set_annotation(
        &mut updated.metadata,
        "deployment.kubernetes.io/desired-replicas",
        desired(d).to_string(),
    );
    if cluster.update(updated).is_ok() {
        scale_event(
            cluster,
            d,
            rs.metadata.name.as_deref().unwrap_or_default(),
            from,
            to,
            now,
        );
    }
}

fn new_replica_set(
    cluster: &mut Cluster,
    d: &Deployment,
    owned: &[ReplicaSet],
    now: DateTime<Utc>,
) -> Option<ReplicaSet> {
    let spec = d.spec.as_ref()?;
    let ns = d.metadata.namespace.clone();
    let name = d.metadata.name.clone()?;
    let max_revision = owned
        .iter()
        .map(|rs| revision(&rs.metadata))
        .max()
        .unwrap_or(0);
    let mut collision = 0u32;
    let (hash, rs_name) = loop {
        let hash = template_hash(&spec.template, collision);
        let rs_name = format!("{name}-{hash}");
        if cluster
            .get_ref::<ReplicaSet>(ns.as_deref(), &rs_name)
            .is_none()
        {
            break (hash, rs_name);
        }
        collision += 1;
    };
    let mut template = spec.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TEMPLATE_HASH.into(), hash.clone());
    let mut selector: LabelSelector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(TEMPLATE_HASH.into(), hash.clone());
    let mut labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(TEMPLATE_HASH.into(), hash);
    let mut annotations = BTreeMap::new();
    annotations.insert(REVISION.to_string(), (max_revision + 1).to_string());
    annotations.insert(
        "deployment.kubernetes.io/desired-replicas".to_string(),
        desired(d).to_string(),
    );
    annotations.insert(
        "deployment.kubernetes.io/max-replicas".to_string(),
        desired(d).to_string(),
    );
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(rs_name),
            namespace: ns,
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    cluster.create(rs, now).ok()
}

/// Makes sure every Deployment has its current ReplicaSet at the right revision and scale, and
/// its older ReplicaSets scaled to 0.
pub fn sync_replica_sets(cluster: &mut Cluster, now: DateTime<Utc>) {
    let deployments: Vec<Deployment> = cluster.list(None);
    let mut owned = owned_replica_sets(cluster);
    for d in deployments {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let mut mine = owned.remove(&uid).unwrap_or_default();
        if d.metadata.deletion_timestamp.is_some()
            || d.spec.as_ref().is_some_and(|s| s.paused == Some(true))
        {
            continue;
        }
        let max_revision = mine
            .iter()
            .map(|rs| revision(&rs.metadata))
            .max()
            .unwrap_or(0);
        let current_rs = match current(&d, &mine).cloned() {
            Some(rs) if revision(&rs.metadata) < max_revision => {
                // A rollback: the old template becomes the newest revision again.
                let mut rs = rs;
                rs.metadata.resource_version = None;
                set_annotation(&mut rs.metadata, REVISION, (max_revision + 1).to_string());
                match cluster.update(rs) {
                    Ok(rs) => rs,
                    Err(_) => continue,
                }
            }
            Some(rs) => rs,
            None => match new_replica_set(cluster, &d, &mine, now) {
                Some(rs) => {
                    mine.push(rs.clone());
                    rs
                }
                None => continue,
            },
        };
        let mut olds: Vec<ReplicaSet> = mine
            .iter()
            .filter(|rs| rs.metadata.uid != current_rs.metadata.uid)
            .filter_map(|old| {
                cluster.get::<ReplicaSet>(
                    old.metadata.namespace.as_deref(),
                    old.metadata.name.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        olds.sort_by_key(|rs| revision(&rs.metadata));
        let recreate = d
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            == Some("Recreate");
        if recreate {
            for old in &olds {
                set_replicas(cluster, &d, old, 0, now);
            }
            set_replicas(cluster, &d, &current_rs, desired(&d), now);
        } else {
            rolling_update(cluster, &d, &current_rs, &olds, now);
        }
    }
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `maxSurge` and `maxUnavailable` resolved against `desired`, as the real
/// controller does: percentages round surge up and unavailability down, and
/// both zero means one may be unavailable. Defaults are 25% each.
pub fn surge_and_unavailable(d: &Deployment) -> (i32, i32) {
    let want = desired(d);
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let resolve = |v: Option<&IntOrString>, up: bool| -> i32 {
        match v {
            Some(IntOrString::Int(n)) => *n,
            Some(IntOrString::String(p)) => {
                let pct: f64 = p.trim_end_matches('%').parse().unwrap_or(25.0);
                let exact = f64::from(want) * pct / 100.0;
                (if up { exact.ceil() } else { exact.floor() }) as i32
            }
            None => {
                let exact = f64::from(want) * 0.25;
                (if up { exact.ceil() } else { exact.floor() }) as i32
            }
        }
    };
    let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), true);
    let unavailable = resolve(ru.and_then(|r| r.max_unavailable.as_ref()), false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// One round of the RollingUpdate strategy, as the real controller plays it:
/// scale the new ReplicaSet up within `maxSurge`, then scale old ones down,
/// oldest first, only as far as `maxUnavailable` allows given how many new
/// pods are available. A new template whose pods never become ready leaves
/// the rollout stuck with the old pods serving.
fn rolling_update(
    cluster: &mut Cluster,
    d: &Deployment,
    new_rs: &ReplicaSet,
    olds: &[ReplicaSet],
    now: DateTime<Utc>,
) {
    let want = desired(d);
    let (surge, unavailable) = surge_and_unavailable(d);
    let old_total: i32 = olds.iter().map(spec_replicas).sum();
    let new_spec = spec_replicas(new_rs);
    // Scale up the new ReplicaSet.
    let total = old_total + new_spec;
    let target = if new_spec > want || old_total == 0 {
        want
    } else {
        let room = (want + surge - total).max(0);
        (new_spec + room).min(want)
    };
    set_replicas(cluster, d, new_rs, target, now);
    // Scale down old ones.
    let new_unavailable = (target - available_replicas(new_rs)).max(0);
    let all = old_total + target;
    let min_available = want - unavailable;
    let mut budget = (all - min_available - new_unavailable).max(0);
    // Old pods that are not available anyway go first: removing them costs nothing.
    let mut remaining = Vec::new();
    for old in olds {
        let unhealthy = (spec_replicas(old) - available_replicas(old)).max(0);
        let cut = unhealthy.min(spec_replicas(old));
        let left = spec_replicas(old) - cut;
        if cut > 0 {
            set_replicas(cluster, d, old, left, now);
        }
        remaining.push((old, left));
    }
    for (old, left) in remaining {
        if budget == 0 || left == 0 {
            continue;
        }
        let cut = budget.min(left);
        if let Some(fresh) = cluster.get::<ReplicaSet>(
            old.metadata.namespace.as_deref(),
            old.metadata.name.as_deref().unwrap_or_default(),
        ) {
            set_replicas(cluster, d, &fresh, left - cut, now);
            budget -= cut;
        }
    }
}

fn condition(
    old: Option<&DeploymentCondition>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    now: DateTime<Utc>,
) -> DeploymentCondition {
    let status = if ok { "True" } else { "False" };
    if let Some(old) = old
        && old.status == status
        && old.reason.as_deref() == Some(reason)
        && old.message.as_deref() == Some(message.as_str())
    {
        return old.clone();
    }
    let transition = match old {
        Some(o) if o.status == status => o.last_transition_time.clone(),
        _ => Some(to_time(now)),
    };
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(to_time(now)),
        last_transition_time: transition,
    }
}

/// Sets each Deployment's status from its ReplicaSets and its revision annotation from the
/// current one.
pub fn sync_status(cluster: &mut Cluster, now: DateTime<Utc>) {
    let deployments: Vec<Deployment> = cluster.list(None);
    let owned = owned_replica_sets(cluster);
    for d in deployments {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let mine = owned.get(&uid).map(Vec::as_slice).unwrap_or(&[]);
        let current_rs = current(&d, mine);
        let sum = |f: fn(&ReplicaSet) -> i32| mine.iter().map(f).sum::<i32>();
        let replicas = sum(|rs| rs.status.as_ref().map_or(0, |s| s.replicas));
        let ready = sum(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        });
        let available = sum(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
        });
        let spec_total = sum(|rs| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        let updated = current_rs
            .and_then(|rs| rs.status.as_ref())
            .map_or(0, |s| s.replicas);
        let want = desired(&d);
        let old_status = d.status.clone().unwrap_or_default();
        let old_cond = |t: &str| {
            old_status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == t)
        };
        let rs_name = current_rs
            .and_then(|rs| rs.metadata.name.clone())
            .unwrap_or_default();
        let available_ok = available >= want;
        let progressed = updated >= want && available >= want && replicas == want;
        let conditions = vec![
            condition(
                old_cond("Available"),
                "Available",
                available_ok,
                if available_ok {
                    "MinimumReplicasAvailable"
                } else {
                    "MinimumReplicasUnavailable"
                },
                if available_ok {
                    "Deployment has minimum availability.".to_string()
                } else {
                    "Deployment does not have minimum availability.".to_string()
                },
                now,
            ),
            condition(
                old_cond("Progressing"),
                "Progressing",
                true,
                if progressed {
                    "NewReplicaSetAvailable"
                } else {
                    "ReplicaSetUpdated"
                },
                if progressed {
                    format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
                } else {
                    format!("ReplicaSet \"{rs_name}\" is progressing.")
                },
                now,
            ),
        ];
        let opt = |v: i32| if v > 0 { Some(v) } else { None };
        let status = DeploymentStatus {
            observed_generation: d.metadata.generation,
            replicas: opt(replicas),
            updated_replicas: opt(updated),
            ready_replicas: opt(ready),
            available_replicas: opt(available),
            unavailable_replicas: opt(spec_total.max(want) - available),
            terminating_replicas: None,
            collision_count: old_status.collision_count,
            conditions: Some(conditions),
        };
        let mut next = d.clone();
        next.metadata.resource_version = None;
        next.status = Some(status);
        if let Some(rs) = current_rs {
            set_annotation(
                &mut next.metadata,
                REVISION,
                revision(&rs.metadata).to_string(),
            );
        }
        let _ = cluster.update(next);
    }
}
