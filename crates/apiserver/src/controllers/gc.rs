//! Garbage collection: ReplicaSets whose Deployment is gone, and pods whose ReplicaSet is gone,
//! are deleted (background propagation, done at once).

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use super::controller_uid;
use crate::object::Object;
use crate::store::Cluster;

fn orphans<K: Object>(
    cluster: &Cluster,
    owners: &HashSet<String>,
    owner_kind: &str,
) -> Vec<(String, String)> {
    cluster
        .iter::<K>(None)
        .filter(|o| {
            let meta = o.metadata();
            let owned_by_kind = meta
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.controller == Some(true) && r.kind == owner_kind);
            owned_by_kind && controller_uid(meta).is_some_and(|uid| !owners.contains(uid))
        })
        .map(|o| {
            let m = o.metadata();
            (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn uids<K: Object>(cluster: &Cluster) -> HashSet<String> {
    cluster
        .iter::<K>(None)
        .filter_map(|o| o.metadata().uid.clone())
        .collect()
}

/// Deletes dependents whose controlling owner no longer exists.
pub fn collect(cluster: &mut Cluster) {
    let deployments = uids::<Deployment>(cluster);
    for (ns, name) in orphans::<ReplicaSet>(cluster, &deployments, "Deployment") {
        let _ = cluster.delete::<ReplicaSet>(Some(&ns), &name);
    }
    let replica_sets = uids::<ReplicaSet>(cluster);
    for (ns, name) in orphans::<Pod>(cluster, &replica_sets, "ReplicaSet") {
        let _ = cluster.delete::<Pod>(Some(&ns), &name);
    }
}
