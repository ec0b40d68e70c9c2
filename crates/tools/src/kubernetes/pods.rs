//! `kubernetes.pods`: pods with their containers' state, restarts, last
//! termination and resources.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::client::{backend, bytes_human, env, limits_requests, namespace_arg, to_data};
use super::data::{ContainerInfo, PodInfo, Terminated};
use crate::{Observation, Tool, ToolError};

const NAME: &str = "kubernetes.pods";

/// Lists pods in a namespace, optionally by label selector.
#[derive(Clone)]
pub struct Pods {
    client: kube::Client,
}

impl Pods {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> Pods {
        Pods { client }
    }
}

#[async_trait]
impl Tool for Pods {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Pods in a namespace (optionally by label selector): phase, readiness, node, owner, and per container the image, restarts, state, last termination (OOMKilled, exit code), limits and requests (cpu in cores, memory in bytes)."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "Namespace; default: the kubeconfig's."},
                "selector": {"type": "string", "description": "Label selector, e.g. app=order-service."}
            }
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let namespace = namespace_arg(args, &self.client).to_owned();
        let selector = crate::arg_opt_str(args, "selector");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let mut params = ListParams::default();
        let mut query = format!("GET /api/v1/namespaces/{namespace}/pods");
        if let Some(sel) = selector {
            params = params.labels(sel);
            query.push_str(&format!("?labelSelector={sel}"));
        }
        let list = api.list(&params).await.map_err(|e| backend(NAME, e))?;
        let pods: Vec<PodInfo> = list.items.iter().map(pod_info).collect();
        Ok(Observation {
            tool: NAME.into(),
            summary: summary(&namespace, &pods),
            query,
            data: to_data(NAME, &pods)?,
            error: None,
        })
    }
}

/// One line: the count, then the worst pod's worst container.
fn summary(namespace: &str, pods: &[PodInfo]) -> String {
    if pods.is_empty() {
        return format!("no pods in {namespace}");
    }
    let ready = pods.iter().filter(|p| p.ready).count();
    let head = format!("{} pods in {namespace}, {ready} ready", pods.len());
    let worst = pods
        .iter()
        .flat_map(|p| p.containers.iter().map(move |c| (p, c)))
        .filter(|(_, c)| c.restarts > 0 || !c.ready)
        .max_by_key(|(_, c)| c.restarts);
    let Some((pod, c)) = worst else {
        return head;
    };
    let mut line = format!("{head}; {}: {}", pod.name, c.name);
    if c.restarts > 0 {
        let times = if c.restarts == 1 { "time" } else { "times" };
        line.push_str(&format!(" restarted {} {times}", c.restarts));
    } else {
        line.push_str(" not ready");
    }
    if let Some(t) = &c.last_terminated {
        line.push_str(&format!(
            ", last {} (exit {})",
            t.reason.as_deref().unwrap_or("terminated"),
            t.exit_code
        ));
    }
    if let Some(reason) = &c.reason {
        line.push_str(&format!(", now {} {reason}", c.state));
    }
    if let Some(mem) = c.limits.memory {
        line.push_str(&format!("; limit {}", bytes_human(mem)));
    }
    line
}

/// A pod as [`PodInfo`].
pub fn pod_info(p: &Pod) -> PodInfo {
    let spec = p.spec.as_ref();
    let status = p.status.as_ref();
    let statuses: &[ContainerStatus] = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let containers: Vec<ContainerInfo> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let st = statuses.iter().find(|s| s.name == c.name);
            let (limits, requests) = limits_requests(c.resources.as_ref());
            let state = st.and_then(|s| s.state.as_ref());
            let (state_name, reason) = match state {
                Some(s) if s.running.is_some() => ("running", None),
                Some(s) if s.waiting.is_some() => {
                    ("waiting", s.waiting.as_ref().and_then(|w| w.reason.clone()))
                }
                Some(s) if s.terminated.is_some() => (
                    "terminated",
                    s.terminated.as_ref().and_then(|t| t.reason.clone()),
                ),
                _ => ("waiting", None),
            };
            let last_terminated = st
                .and_then(|s| s.last_state.as_ref())
                .and_then(|l| l.terminated.as_ref())
                .map(|t| Terminated {
                    reason: t.reason.clone(),
                    exit_code: t.exit_code,
                    finished_at: t.finished_at.as_ref().map(|f| f.0.to_string()),
                });
            ContainerInfo {
                name: c.name.clone(),
                image: st
                    .map(|s| s.image.clone())
                    .or_else(|| c.image.clone())
                    .unwrap_or_default(),
                restarts: st.map(|s| s.restart_count).unwrap_or(0),
                ready: st.is_some_and(|s| s.ready),
                state: state_name.to_owned(),
                reason,
                last_terminated,
                limits,
                requests,
                env: env(c),
            }
        })
        .collect();
    PodInfo {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        node: spec.and_then(|s| s.node_name.clone()),
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        reason: status.and_then(|s| s.reason.clone()),
        ready: !containers.is_empty() && containers.iter().all(|c| c.ready),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        owner: p.metadata.owner_references.as_ref().and_then(|o| {
            o.iter()
                .find(|r| r.controller == Some(true))
                .or_else(|| o.first())
                .map(|r| format!("{}/{}", r.kind, r.name))
        }),
        containers,
    }
}
