//! The built-in controllers a cluster runs, reduced to what the lab needs and run in one
//! deterministic pass: garbage collection, deployments, replicasets, the scheduler and the part
//! of the kubelet that keeps pod conditions in step with container statuses.

pub mod deployment;
pub mod gc;
pub mod kubelet;
pub mod replicaset;
pub mod scheduler;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::object::Object;
use crate::store::Cluster;

/// Runs every controller once, in the order that lets one call converge: a changed deployment
/// gets its ReplicaSet, the ReplicaSet its pods, the pods a node, and both statuses are current.
pub fn reconcile(cluster: &mut Cluster, now: DateTime<Utc>) {
    gc::collect(cluster);
    deployment::sync_replica_sets(cluster, now);
    replicaset::sync_pods(cluster, now);
    scheduler::schedule(cluster, now);
    kubelet::sync_conditions(cluster, now);
    replicaset::sync_status(cluster);
    deployment::sync_status(cluster, now);
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// An ownerReference marking `owner` as the controller.
pub fn controller_ref<K: Object>(owner: &K) -> OwnerReference {
    let meta = owner.metadata();
    OwnerReference {
        api_version: K::API_VERSION.to_string(),
        kind: K::KIND.to_string(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// FNV-1a, 32 bits, as the deployment controller hashes pod templates.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}
