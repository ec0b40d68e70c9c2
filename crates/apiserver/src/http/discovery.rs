//! Discovery: `/version`, `/api`, `/apis` and the resource lists of each group version. Plain
//! (unaggregated) discovery: kubectl asks for the aggregated form and falls back to this.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::object::ResourceKind;

/// The Kubernetes version this server claims.
pub const GIT_VERSION: &str = "v1.33.0";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "pagerless-lab",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn group(name: &str, version: &str) -> Value {
    let gv = format!("{name}/{version}");
    json!({
        "name": name,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version},
    })
}

/// `/apis`.
pub fn groups() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group("apps", "v1"), group("metrics.k8s.io", "v1beta1")],
    })
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn entries(kind: ResourceKind) -> Vec<Value> {
    let mut main = json!({
        "name": kind.plural(),
        "singularName": kind.singular(),
        "namespaced": kind.namespaced(),
        "kind": kind.kind(),
        "verbs": VERBS,
        "shortNames": kind.short_names(),
    });
    if matches!(
        kind,
        ResourceKind::Pod
            | ResourceKind::Service
            | ResourceKind::Deployment
            | ResourceKind::ReplicaSet
    ) {
        main["categories"] = json!(["all"]);
    }
    let mut out = vec![main];
    for sub in kind.subresources() {
        let mut e = json!({
            "name": format!("{}/{sub}", kind.plural()),
            "singularName": "",
            "namespaced": kind.namespaced(),
            "kind": kind.kind(),
            "verbs": ["get", "patch", "update"],
        });
        if *sub == "log" {
            e["verbs"] = json!(["get"]);
        }
        if *sub == "scale" {
            e["group"] = json!("autoscaling");
            e["version"] = json!("v1");
            e["kind"] = json!("Scale");
        }
        out.push(e);
    }
    out
}

/// The APIResourceList of a group version.
pub fn resources(group: &str, version: &str) -> Result<Value, ApiError> {
    let (gv, resources): (String, Vec<Value>) = match (group, version) {
        ("metrics.k8s.io", "v1beta1") => (
            "metrics.k8s.io/v1beta1".into(),
            vec![
                json!({"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]}),
                json!({"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]}),
            ],
        ),
        ("", "v1") | ("apps", "v1") => (
            if group.is_empty() {
                "v1".into()
            } else {
                format!("{group}/{version}")
            },
            ResourceKind::ALL
                .into_iter()
                .filter(|k| k.group() == group)
                .flat_map(entries)
                .collect(),
        ),
        _ => return Err(ApiError::UnknownPath),
    };
    Ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}
