//! The shapes of the Kubernetes tools' `data`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `kubernetes.pods`: pods with their containers' state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Node it is bound to.
    pub node: Option<String>,
    /// `Running`, `Pending`, `Failed`, ...
    pub phase: String,
    /// Reason for the phase (`Evicted`), if any.
    pub reason: Option<String>,
    /// Whether every container is ready.
    pub ready: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Owning ReplicaSet (or other controller), if any.
    pub owner: Option<String>,
    /// Containers.
    pub containers: Vec<ContainerInfo>,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Restarts so far.
    pub restarts: i32,
    /// Ready.
    pub ready: bool,
    /// `running`, `waiting` or `terminated`.
    pub state: String,
    /// The state's reason (`CrashLoopBackOff`).
    pub reason: Option<String>,
    /// The previous instance's termination, if any.
    pub last_terminated: Option<Terminated>,
    /// Limits: `cpu` in cores, `memory` in bytes.
    pub limits: Resources,
    /// Requests: `cpu` in cores, `memory` in bytes.
    pub requests: Resources,
    /// Environment variables with literal values.
    pub env: BTreeMap<String, String>,
}

/// CPU and memory as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Cores.
    pub cpu: Option<f64>,
    /// Bytes.
    pub memory: Option<f64>,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminated {
    /// `OOMKilled`, `Error`, `Completed`.
    pub reason: Option<String>,
    /// Exit code.
    pub exit_code: i32,
    /// When it finished, RFC 3339.
    pub finished_at: Option<String>,
}

/// `kubernetes.deployment`: a deployment with its rollout history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Available replicas.
    pub available: i32,
    /// Up-to-date replicas.
    pub updated: i32,
    /// Current revision.
    pub revision: i64,
    /// The pod template's containers (name, image, limits, requests, env).
    pub containers: Vec<TemplateContainer>,
    /// Revisions, newest first: one per ReplicaSet.
    pub history: Vec<Revision>,
}

/// A container of a pod template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateContainer {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Limits.
    pub limits: Resources,
    /// Requests.
    pub requests: Resources,
    /// Environment variables with literal values.
    pub env: BTreeMap<String, String>,
}

/// One revision of a deployment (a ReplicaSet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// `deployment.kubernetes.io/revision`.
    pub revision: i64,
    /// The ReplicaSet's name.
    pub replica_set: String,
    /// When it was created, RFC 3339.
    pub created: Option<String>,
    /// Its replicas now.
    pub replicas: i32,
    /// Its containers.
    pub containers: Vec<TemplateContainer>,
}

/// `kubernetes.events`: recent events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventInfo {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// `BackOff`, `Evicted`, `ScalingReplicaSet`, ...
    pub reason: String,
    /// The message.
    pub message: String,
    /// `Kind/namespace/name` of the object.
    pub object: String,
    /// How many times it happened.
    pub count: i32,
    /// Last time, RFC 3339.
    pub last_seen: Option<String>,
}

/// `kubernetes.logs`: log lines.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogLines {
    /// Pod.
    pub pod: String,
    /// Container.
    pub container: Option<String>,
    /// Whether these are the previous instance's.
    pub previous: bool,
    /// The lines, oldest first.
    pub lines: Vec<String>,
}

/// `kubernetes.nodes`: nodes and their conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Name.
    pub name: String,
    /// Ready condition.
    pub ready: bool,
    /// Cordoned.
    pub unschedulable: bool,
    /// Condition type → whether it is True (`DiskPressure: true`).
    pub conditions: BTreeMap<String, bool>,
    /// Allocatable CPU (cores) and memory (bytes).
    pub allocatable: Resources,
    /// Taints as `key:effect`.
    pub taints: Vec<String>,
}

/// `kubernetes.top`: current usage from metrics.k8s.io.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TopInfo {
    /// Pods: (namespace/name, cpu cores, memory bytes).
    pub pods: Vec<Usage>,
    /// Nodes: (name, cpu cores, memory bytes).
    pub nodes: Vec<Usage>,
}

/// One usage line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// `namespace/pod` or the node name.
    pub name: String,
    /// CPU in cores.
    pub cpu: f64,
    /// Memory in bytes.
    pub memory: f64,
}
