//! `kubernetes.top`: current CPU and memory from metrics.k8s.io, like
//! `kubectl top pods` and `kubectl top nodes`.

use async_trait::async_trait;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::json;

use super::client::{backend, bytes_human, namespace_arg, quantity, to_data};
use super::data::{TopInfo, Usage};
use crate::{Observation, Tool, ToolError};

const NAME: &str = "kubernetes.top";

/// Pod and node usage.
#[derive(Clone)]
pub struct Top {
    client: kube::Client,
}

impl Top {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> Top {
        Top { client }
    }
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind),
        plural,
    )
}

fn usage_of(v: Option<&serde_json::Value>) -> (f64, f64) {
    let get = |key: &str| {
        v.and_then(|u| u.get(key))
            .and_then(serde_json::Value::as_str)
            .and_then(quantity)
            .unwrap_or(0.0)
    };
    (get("cpu"), get("memory"))
}

#[async_trait]
impl Tool for Top {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Current CPU (cores) and memory working set (bytes) of a namespace's pods and of every node, from metrics.k8s.io; highest memory first."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "Namespace of the pods; default: the kubeconfig's."}
            }
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let namespace = namespace_arg(args, &self.client).to_owned();
        let pods: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &namespace,
            &resource("PodMetrics", "pods"),
        );
        let nodes: Api<DynamicObject> =
            Api::all_with(self.client.clone(), &resource("NodeMetrics", "nodes"));
        let params = ListParams::default();
        let pod_list = pods.list(&params).await.map_err(|e| backend(NAME, e))?;
        let node_list = nodes.list(&params).await.map_err(|e| backend(NAME, e))?;
        let mut top = TopInfo::default();
        for p in &pod_list.items {
            let (mut cpu, mut memory) = (0.0, 0.0);
            for c in p
                .data
                .get("containers")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let (c_cpu, c_mem) = usage_of(c.get("usage"));
                cpu += c_cpu;
                memory += c_mem;
            }
            top.pods.push(Usage {
                name: format!(
                    "{}/{}",
                    p.metadata.namespace.as_deref().unwrap_or(&namespace),
                    p.metadata.name.as_deref().unwrap_or_default()
                ),
                cpu,
                memory,
            });
        }
        for n in &node_list.items {
            let (cpu, memory) = usage_of(n.data.get("usage"));
            top.nodes.push(Usage {
                name: n.metadata.name.clone().unwrap_or_default(),
                cpu,
                memory,
            });
        }
        let by_memory = |a: &Usage, b: &Usage| b.memory.total_cmp(&a.memory);
        top.pods.sort_by(by_memory);
        top.nodes.sort_by(by_memory);
        let mut summary = format!(
            "{} pods in {namespace}, {} nodes",
            top.pods.len(),
            top.nodes.len()
        );
        if let Some(p) = top.pods.first() {
            summary.push_str(&format!(
                "; top pod {} {} memory, {:.2} cores",
                p.name,
                bytes_human(p.memory),
                p.cpu
            ));
        }
        if let Some(n) = top.nodes.first() {
            summary.push_str(&format!(
                "; top node {} {} memory, {:.2} cores",
                n.name,
                bytes_human(n.memory),
                n.cpu
            ));
        }
        Ok(Observation {
            tool: NAME.into(),
            summary,
            query: format!(
                "GET /apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods; GET /apis/metrics.k8s.io/v1beta1/nodes"
            ),
            data: to_data(NAME, &top)?,
            error: None,
        })
    }
}
