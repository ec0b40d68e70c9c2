//! The part of the kubelet the lab does not play: a bound pod's Ready and ContainersReady
//! conditions follow its container statuses, so the lab only has to set those.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;

use crate::pod_status::pod_is_ready;
use crate::store::Cluster;
use crate::time::to_time;

/// Sets Ready / ContainersReady on bound pods whose containers' readiness changed.
pub fn sync_conditions(cluster: &mut Cluster, now: DateTime<Utc>) {
    let stale: Vec<Pod> = cluster
        .iter::<Pod>(None)
        .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
        .filter_map(|p| {
            let ready = if pod_is_ready(p) { "True" } else { "False" };
            let conditions = p.status.as_ref()?.conditions.as_ref()?;
            let wrong = conditions
                .iter()
                .any(|c| (c.type_ == "Ready" || c.type_ == "ContainersReady") && c.status != ready);
            wrong.then(|| p.clone())
        })
        .collect();
    for mut pod in stale {
        let ready = pod_is_ready(&pod);
        let status = if ready { "True" } else { "False" };
        let not_ready: Vec<String> = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| {
                cs.iter()
                    .filter(|c| !c.ready)
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(conditions) = pod.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            for c in conditions
                .iter_mut()
                .filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady")
            {
                if c.status != status {
                    c.status = status.into();
                    c.last_transition_time = Some(to_time(now));
                    if ready {
                        c.reason = None;
                        c.message = None;
                    } else {
                        c.reason = Some("ContainersNotReady".into());
                        c.message = Some(format!(
                            "containers with unready status: [{}]",
                            not_ready.join(" ")
                        ));
                    }
                }
            }
        }
        pod.metadata.resource_version = None;
        let _ = cluster.update(pod);
    }
}
