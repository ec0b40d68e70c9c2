//! `metrics.k8s.io/v1beta1` PodMetrics and NodeMetrics, in metrics-server's JSON shape, from the
//! lab's [`crate::MetricsSource`].

use std::collections::HashMap;

use axum::response::Response;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiState, json_response};
use crate::error::ApiError;
use crate::selector::LabelSelectorExpr;
use crate::sources::Usage;
use crate::time::rfc3339_nano;

/// Metadata of a metrics object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsMeta {
    /// Pod or node name.
    pub name: String,
    /// The pod's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// When the sample was taken (RFC 3339).
    pub creation_timestamp: String,
    /// Labels of the pod or node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// `{"cpu": "…n", "memory": "…Ki"}` as metrics-server writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceUsage {
    /// CPU in nanocores.
    pub cpu: String,
    /// Memory in KiB.
    pub memory: String,
}

impl From<Usage> for ResourceUsage {
    fn from(u: Usage) -> Self {
        ResourceUsage {
            cpu: format!("{}n", u.cpu_nanocores),
            memory: format!("{}Ki", u.memory_bytes / 1024),
        }
    }
}

/// One container's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerMetrics {
    /// The container's name.
    pub name: String,
    /// Its usage.
    pub usage: ResourceUsage,
}

/// A PodMetrics object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    /// `PodMetrics`.
    pub kind: &'static str,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// Pod name, namespace, labels.
    pub metadata: MetricsMeta,
    /// Sample time.
    pub timestamp: String,
    /// Sample window, e.g. `15s`.
    pub window: String,
    /// Per-container usage.
    pub containers: Vec<ContainerMetrics>,
}

/// A NodeMetrics object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetrics {
    /// `NodeMetrics`.
    pub kind: &'static str,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// Node name and labels.
    pub metadata: MetricsMeta,
    /// Sample time.
    pub timestamp: String,
    /// Sample window.
    pub window: String,
    /// The node's usage.
    pub usage: ResourceUsage,
}

const API_VERSION: &str = "metrics.k8s.io/v1beta1";

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": API_VERSION, "metadata": {}, "items": items})
}

/// Serves `pods` or `nodes` metrics, listed or by name.
pub fn serve(
    state: &ApiState,
    what: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let labels = LabelSelectorExpr::parse(
        query
            .get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let now = rfc3339_nano((state.now)());
    let cluster = state.read();
    let items: Vec<Value> = match what {
        "pods" => cluster
            .iter::<Pod>(namespace)
            .filter(|p| name.is_none_or(|n| p.metadata.name.as_deref() == Some(n)))
            .filter(|p| labels.matches(p.metadata.labels.as_ref()))
            .filter_map(|p| {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let pod = p.metadata.name.clone().unwrap_or_default();
                let usage = state.metrics.pod_usage(&ns, &pod)?;
                let m = PodMetrics {
                    kind: "PodMetrics",
                    api_version: API_VERSION,
                    metadata: MetricsMeta {
                        name: pod,
                        namespace: Some(ns),
                        creation_timestamp: now.clone(),
                        labels: p.metadata.labels.clone(),
                    },
                    timestamp: now.clone(),
                    window: "15s".into(),
                    containers: usage
                        .into_iter()
                        .map(|c| ContainerMetrics {
                            name: c.name,
                            usage: c.usage.into(),
                        })
                        .collect(),
                };
                serde_json::to_value(m).ok()
            })
            .collect(),
        "nodes" => cluster
            .iter::<Node>(None)
            .filter(|n| name.is_none_or(|x| n.metadata.name.as_deref() == Some(x)))
            .filter(|n| labels.matches(n.metadata.labels.as_ref()))
            .filter_map(|n| {
                let node = n.metadata.name.clone().unwrap_or_default();
                let usage = state.metrics.node_usage(&node)?;
                let m = NodeMetrics {
                    kind: "NodeMetrics",
                    api_version: API_VERSION,
                    metadata: MetricsMeta {
                        name: node,
                        namespace: None,
                        creation_timestamp: now.clone(),
                        labels: n.metadata.labels.clone(),
                    },
                    timestamp: now.clone(),
                    window: "20s".into(),
                    usage: usage.into(),
                };
                serde_json::to_value(m).ok()
            })
            .collect(),
        _ => return Err(ApiError::UnknownPath),
    };
    let (kind, resource) = if what == "pods" {
        ("PodMetricsList", "pods.metrics.k8s.io")
    } else {
        ("NodeMetricsList", "nodes.metrics.k8s.io")
    };
    match name {
        Some(n) => items
            .into_iter()
            .next()
            .map(|i| json_response(200, &i))
            .ok_or(ApiError::NotFound {
                resource: resource.to_string(),
                name: n.to_string(),
            }),
        None => Ok(json_response(200, &list(kind, items))),
    }
}
