//! `kubernetes.nodes`: nodes, their conditions, allocatable resources and taints.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::client::{backend, resources, to_data};
use super::data::NodeInfo;
use crate::{Observation, Tool, ToolError};

const NAME: &str = "kubernetes.nodes";

/// Nodes and their health.
#[derive(Clone)]
pub struct Nodes {
    client: kube::Client,
}

impl Nodes {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> Nodes {
        Nodes { client }
    }
}

#[async_trait]
impl Tool for Nodes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Nodes: Ready, cordoned, conditions (MemoryPressure, DiskPressure, PIDPressure), allocatable cpu (cores) and memory (bytes), taints."
    }

    fn schema(&self) -> serde_json::Value {
        json!({"type": "object", "properties": {}})
    }

    async fn call(&self, _args: &serde_json::Value) -> Result<Observation, ToolError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| backend(NAME, e))?;
        let nodes: Vec<NodeInfo> = list.items.iter().map(node_info).collect();
        let ready = nodes.iter().filter(|n| n.ready).count();
        let mut summary = format!("{} nodes, {ready} Ready", nodes.len());
        let troubled: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                let mut why: Vec<String> = n
                    .conditions
                    .iter()
                    .filter(|(k, v)| k.as_str() != "Ready" && **v)
                    .map(|(k, _)| k.clone())
                    .collect();
                if !n.ready {
                    why.insert(0, "NotReady".into());
                }
                if n.unschedulable {
                    why.push("cordoned".into());
                }
                (!why.is_empty()).then(|| format!("{} {}", n.name, why.join(",")))
            })
            .collect();
        if !troubled.is_empty() {
            summary.push_str(&format!("; {}", troubled.join("; ")));
        }
        Ok(Observation {
            tool: NAME.into(),
            summary,
            query: "GET /api/v1/nodes".into(),
            data: to_data(NAME, &nodes)?,
            error: None,
        })
    }
}

fn node_info(n: &Node) -> NodeInfo {
    let status = n.status.as_ref();
    let conditions: std::collections::BTreeMap<String, bool> = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status == "True"))
        .collect();
    let spec = n.spec.as_ref();
    NodeInfo {
        name: n.metadata.name.clone().unwrap_or_default(),
        ready: conditions.get("Ready").copied().unwrap_or(false),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        conditions,
        allocatable: resources(status.and_then(|s| s.allocatable.as_ref())),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect(),
    }
}
