//! Server-side printing: `meta.k8s.io/v1` Tables with the columns a real API server prints
//! (kubernetes `pkg/printers/internalversion/printers.go`). Like the real server, every column is
//! sent (wide ones with priority 1) and kubectl hides what it should.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, Pod, PodTemplateSpec, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use serde_json::{Value, json};

use crate::controllers::scheduler::node_ready;
use crate::object::Object;
use crate::pod_status::summarize;
use crate::selector::LabelSelectorExpr;
use crate::time::from_time;

/// A kind the server can print as Table rows.
pub trait Printable: Object {
    /// Column definitions: (name, type, priority).
    fn columns() -> &'static [(&'static str, &'static str, u8)];
    /// The cells of this object's row, one per column.
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value>;
}

/// Go's `duration.HumanDuration`, as `kubectl get` shows ages.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: the age of `t` at `now`, `<unknown>` without a time.
pub fn age(t: Option<&Time>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration((now - from_time(t)).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn created<K: Object>(o: &K, now: DateTime<Utc>) -> Value {
    json!(age(o.metadata().creation_timestamp.as_ref(), now))
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn template_columns(t: Option<&PodTemplateSpec>, selector: Option<&LabelSelector>) -> [Value; 3] {
    let containers = t
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.image.as_deref())
        .collect();
    let selector = selector
        .map(|s| LabelSelectorExpr::from_label_selector(s).to_query())
        .unwrap_or_default();
    [
        json!(names.join(",")),
        json!(images.join(",")),
        json!(none_if_empty(selector)),
    ]
}

impl Printable for Pod {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let s = summarize(self);
        let restarts = match s.last_restart {
            Some(t) if s.restarts != 0 => {
                format!(
                    "{} ({} ago)",
                    s.restarts,
                    human_duration((now - t).num_seconds())
                )
            }
            _ => s.restarts.to_string(),
        };
        let status = self.status.as_ref();
        let ip = status
            .and_then(|st| {
                st.pod_ips
                    .as_ref()
                    .and_then(|ips| ips.first())
                    .map(|i| i.ip.clone())
                    .or(st.pod_ip.clone())
            })
            .unwrap_or_default();
        let node = self
            .spec
            .as_ref()
            .and_then(|sp| sp.node_name.clone())
            .unwrap_or_default();
        let nominated = status
            .and_then(|st| st.nominated_node_name.clone())
            .unwrap_or_default();
        vec![
            json!(self.metadata.name),
            json!(format!("{}/{}", s.ready, s.total)),
            json!(s.status),
            json!(restarts),
            created(self, now),
            json!(none_if_empty(ip)),
            json!(none_if_empty(node)),
            json!(none_if_empty(nominated)),
            json!("<none>"),
        ]
    }
}

impl Printable for Deployment {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let desired = self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let st = self.status.clone().unwrap_or_default();
        let [containers, images, selector] = template_columns(
            self.spec.as_ref().map(|s| &s.template),
            self.spec.as_ref().map(|s| &s.selector),
        );
        vec![
            json!(self.metadata.name),
            json!(format!("{}/{desired}", st.ready_replicas.unwrap_or(0))),
            json!(st.updated_replicas.unwrap_or(0)),
            json!(st.available_replicas.unwrap_or(0)),
            created(self, now),
            containers,
            images,
            selector,
        ]
    }
}

impl Printable for ReplicaSet {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let desired = self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let st = self.status.clone().unwrap_or_default();
        let [containers, images, selector] = template_columns(
            self.spec.as_ref().and_then(|s| s.template.as_ref()),
            self.spec.as_ref().map(|s| &s.selector),
        );
        vec![
            json!(self.metadata.name),
            json!(desired),
            json!(st.replicas),
            json!(st.ready_replicas.unwrap_or(0)),
            created(self, now),
            containers,
            images,
            selector,
        ]
    }
}

impl Printable for Node {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let status = self.status.as_ref();
        let has_ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
        let mut state = match has_ready {
            Some(c) if c.status == "True" => "Ready".to_string(),
            Some(_) => "NotReady".to_string(),
            None if node_ready(self) => "Unknown".to_string(),
            None => "Unknown".to_string(),
        };
        if self
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
        {
            state.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = self
            .metadata
            .labels
            .iter()
            .flatten()
            .filter_map(|(k, v)| {
                k.strip_prefix("node-role.kubernetes.io/")
                    .map(str::to_string)
                    .or_else(|| (k == "kubernetes.io/role").then(|| v.clone()))
            })
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        let roles = if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        };
        let address = |t: &str| {
            status
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == t))
                .map(|a| a.address.clone())
                .unwrap_or_else(|| "<none>".into())
        };
        let info = status.and_then(|s| s.node_info.clone()).unwrap_or_default();
        let unknown = |s: String| {
            if s.is_empty() {
                "<unknown>".to_string()
            } else {
                s
            }
        };
        vec![
            json!(self.metadata.name),
            json!(state),
            json!(roles),
            created(self, now),
            json!(info.kubelet_version),
            json!(address("InternalIP")),
            json!(address("ExternalIP")),
            json!(unknown(info.os_image)),
            json!(unknown(info.kernel_version)),
            json!(unknown(info.container_runtime_version)),
        ]
    }
}

impl Printable for Namespace {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let phase = self
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Active".into());
        vec![json!(self.metadata.name), json!(phase), created(self, now)]
    }
}

impl Printable for Service {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let type_ = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
        let external = spec
            .external_ips
            .clone()
            .filter(|e| !e.is_empty())
            .map(|e| e.join(","));
        let external = external.unwrap_or_else(|| {
            if type_ == "LoadBalancer" {
                "<pending>".into()
            } else {
                "<none>".into()
            }
        });
        let ports: Vec<String> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| match p.node_port {
                Some(np) => format!("{}:{np}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")),
                None => format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")),
            })
            .collect();
        let selector: Vec<String> = spec
            .selector
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vec![
            json!(self.metadata.name),
            json!(type_),
            json!(spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into())),
            json!(external),
            json!(none_if_empty(ports.join(","))),
            created(self, now),
            json!(none_if_empty(selector.join(","))),
        ]
    }
}

impl Printable for ConfigMap {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Name", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let n = self.data.as_ref().map_or(0, |d| d.len())
            + self.binary_data.as_ref().map_or(0, |d| d.len());
        vec![json!(self.metadata.name), json!(n), created(self, now)]
    }
}

impl Printable for Event {
    fn columns() -> &'static [(&'static str, &'static str, u8)] {
        &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "integer", 1),
            ("Name", "string", 1),
        ]
    }
    fn cells(&self, now: DateTime<Utc>) -> Vec<Value> {
        let first = match (&self.first_timestamp, &self.event_time) {
            (Some(t), _) => age(Some(t), now),
            (None, Some(t)) => {
                human_duration((now - crate::time::from_timestamp(t.0)).num_seconds())
            }
            (None, None) => "<unknown>".into(),
        };
        let last = match &self.last_timestamp {
            Some(t) => age(Some(t), now),
            None => first.clone(),
        };
        let r = &self.involved_object;
        let kind = r.kind.clone().unwrap_or_default().to_lowercase();
        let target = match r.name.as_deref() {
            Some(n) if !n.is_empty() => format!("{kind}/{n}"),
            _ => kind,
        };
        let source = self.source.as_ref();
        let component = source
            .and_then(|s| s.component.clone())
            .or(self.reporting_component.clone())
            .unwrap_or_default();
        let source = match source.and_then(|s| s.host.clone()) {
            Some(h) if !h.is_empty() => format!("{component}, {h}"),
            _ => component,
        };
        vec![
            json!(last),
            json!(self.type_),
            json!(self.reason),
            json!(target),
            json!(r.field_path.clone().unwrap_or_default()),
            json!(source),
            json!(self.message.clone().unwrap_or_default().trim()),
            json!(first),
            json!(self.count.filter(|c| *c > 0).unwrap_or(1)),
            json!(self.metadata.name),
        ]
    }
}

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// The PartialObjectMetadata (or whole object, or nothing) kubectl gets with each row.
pub fn row_object<K: Object>(obj: &K, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => serde_json::to_value(obj).unwrap_or(Value::Null),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.metadata(),
        }),
    }
}

/// A Table of `objects`.
pub fn table<'a, K: Printable>(
    objects: impl IntoIterator<Item = &'a K>,
    resource_version: u64,
    include: &str,
    now: DateTime<Utc>,
) -> Value {
    let columns: Vec<Value> = K::columns()
        .iter()
        .map(|(name, type_, priority)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": type_, "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| json!({"cells": o.cells(now), "object": row_object(o, include)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_like_go() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 5 * 60), "3h5m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(30 * 86400), "30d");
        assert_eq!(human_duration(-5), "<invalid>");
    }
}
