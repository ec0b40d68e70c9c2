//! `kubernetes.deployment`: a deployment, its rollout status, and its
//! revision history from the ReplicaSets it owns.

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::client::{backend, bytes_human, template_container, to_data};
use super::data::{DeploymentInfo, Resources, Revision, TemplateContainer};
use crate::{Observation, Tool, ToolError, arg_str};

const NAME: &str = "kubernetes.deployment";
const REVISION: &str = "deployment.kubernetes.io/revision";

/// One deployment with its history.
#[derive(Clone)]
pub struct DeploymentTool {
    client: kube::Client,
}

impl DeploymentTool {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> DeploymentTool {
        DeploymentTool { client }
    }
}

#[async_trait]
impl Tool for DeploymentTool {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "A deployment's replicas (desired, ready, available, updated), its pod template's containers (image, limits, requests, env), and its rollout history newest first, one revision per ReplicaSet with that revision's containers."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"}
            },
            "required": ["namespace", "name"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let namespace = arg_str(NAME, args, "namespace")?;
        let name = arg_str(NAME, args, "name")?;
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        let d = deployments.get(name).await.map_err(|e| backend(NAME, e))?;
        let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), namespace);
        let mut params = ListParams::default();
        let selector = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty());
        if let Some(sel) = &selector {
            params = params.labels(sel);
        }
        let uid = d.metadata.uid.clone();
        let rs = sets.list(&params).await.map_err(|e| backend(NAME, e))?;
        let info = deployment_info(&d, rs.items.iter().filter(|r| owned_by(r, &uid, name)));
        let query = format!(
            "GET /apis/apps/v1/namespaces/{namespace}/deployments/{name}; GET /apis/apps/v1/namespaces/{namespace}/replicasets{}",
            selector
                .map(|s| format!("?labelSelector={s}"))
                .unwrap_or_default()
        );
        Ok(Observation {
            tool: NAME.into(),
            summary: summary(&info),
            query,
            data: to_data(NAME, &info)?,
            error: None,
        })
    }
}

fn owned_by(rs: &ReplicaSet, uid: &Option<String>, name: &str) -> bool {
    rs.metadata.owner_references.iter().flatten().any(|o| {
        o.kind == "Deployment"
            && match uid {
                Some(uid) => &o.uid == uid,
                None => o.name == name,
            }
    })
}

fn containers(t: Option<&PodTemplateSpec>) -> Vec<TemplateContainer> {
    t.and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().map(template_container).collect())
        .unwrap_or_default()
}

fn revision_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A deployment and its ReplicaSets as [`DeploymentInfo`].
pub fn deployment_info<'a>(
    d: &Deployment,
    sets: impl Iterator<Item = &'a ReplicaSet>,
) -> DeploymentInfo {
    let status = d.status.as_ref();
    let mut history: Vec<Revision> = sets
        .map(|rs| Revision {
            revision: revision_of(&rs.metadata),
            replica_set: rs.metadata.name.clone().unwrap_or_default(),
            created: rs
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            replicas: rs.status.as_ref().map(|s| s.replicas).unwrap_or(0),
            containers: containers(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
        })
        .collect();
    history.sort_by_key(|r| std::cmp::Reverse(r.revision));
    DeploymentInfo {
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        name: d.metadata.name.clone().unwrap_or_default(),
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        revision: revision_of(&d.metadata),
        containers: containers(d.spec.as_ref().map(|s| &s.template)),
        history,
    }
}

fn first(r: Option<&Revision>) -> Option<(&Revision, &TemplateContainer)> {
    r.and_then(|r| r.containers.first().map(|c| (r, c)))
}

fn describe(r: &Resources) -> String {
    let mut parts = Vec::new();
    if let Some(m) = r.memory {
        parts.push(format!("memory {}", bytes_human(m)));
    }
    if let Some(c) = r.cpu {
        parts.push(format!("cpu {c}"));
    }
    parts.join(", ")
}

/// "shop/order-service: 2/3 ready, revision 2 (order-api-v2 limits memory 512Mi); revision 1 had memory 2Gi".
fn summary(d: &DeploymentInfo) -> String {
    let mut line = format!(
        "{}/{}: {}/{} ready, {} updated, revision {}",
        d.namespace, d.name, d.ready, d.replicas, d.updated, d.revision
    );
    if let Some(c) = d.containers.first() {
        line.push_str(&format!(" ({} {}", c.name, c.image));
        let limits = describe(&c.limits);
        if !limits.is_empty() {
            line.push_str(&format!(", limits {limits}"));
        }
        line.push(')');
    }
    if let (Some((_, a)), Some((prev, b))) = (first(d.history.first()), first(d.history.get(1)))
        && (a.limits != b.limits || a.image != b.image)
    {
        line.push_str(&format!(
            "; revision {} had {} limits {}",
            prev.revision,
            b.image,
            describe(&b.limits)
        ));
    }
    line
}
