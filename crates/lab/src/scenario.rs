//! Scenario files: the world the lab simulates, its load, its IaC history and
//! the faults that befall it, plus the alert rules that watch it and the answer
//! a good investigation should reach. Documented in `docs/scenarios.md`.
//!
//! Key decision: faults are modelled as causes, not symptoms. A scenario never
//! says "latency rises"; it says "a commit lowers the memory limit and rolls
//! out", and the dynamics make the symptoms follow, so the investigation must
//! find the cause the way it would in production.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Millicores, Secs};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, the file's stem by convention (`order-service-oom`).
    pub name: String,
    /// What happens, for people.
    pub description: String,
    /// Seeds every random choice, so the same scenario and seed give the same world. Default: 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time per step. Default: `15s`.
    #[serde(default = "default_step")]
    pub step: Secs,
    /// How long a run lasts unless told otherwise.
    pub duration: Secs,
    /// The virtual clock's start. Default: `2026-01-05T08:00:00Z`. With `--realtime`, the wall clock instead.
    #[serde(default = "default_start")]
    pub start: DateTime<Utc>,
    /// The environment label on everything (`prod`, `staging`, ...). Default: `prod`.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// The cluster's name. Default: `lab`.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// The services: each a Deployment with a Service, and its behaviour.
    pub services: Vec<ServiceSpec>,
    /// Requests per second arriving at the entry services, piecewise linear between points.
    #[serde(default)]
    pub load: Vec<LoadPoint>,
    /// The infrastructure-as-code repository's files beyond the generated Helm charts.
    #[serde(default)]
    pub iac: IacSpec,
    /// What happens when.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
    /// Alert rules, evaluated on the lab's series like Prometheus would.
    #[serde(default)]
    pub alerts: Vec<AlertRule>,
    /// The right answer, for tests and evaluation; investigations never read it.
    pub expect: Expectation,
}

fn default_seed() -> u64 {
    1
}
fn default_step() -> Secs {
    Secs(15)
}
fn default_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_600_000, 0).unwrap_or_default()
}
fn default_environment() -> String {
    "prod".into()
}
fn default_cluster() -> String {
    "lab".into()
}

/// A node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Allocatable CPU.
    pub cpu: Millicores,
    /// Allocatable memory.
    pub memory: Bytes,
    /// Root filesystem size. Default: `100Gi`.
    #[serde(default = "default_disk")]
    pub disk: Bytes,
    /// Root filesystem in use at the start. Default: `20Gi`.
    #[serde(default = "default_disk_used")]
    pub disk_used: Bytes,
    /// Extra node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_disk() -> Bytes {
    Bytes(100 << 30)
}
fn default_disk_used() -> Bytes {
    Bytes(20 << 30)
}

/// CPU and memory, for requests or limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU.
    pub cpu: Millicores,
    /// Memory.
    pub memory: Bytes,
}

/// One service: a Deployment (and a Service) plus how it behaves under load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Deployment and Service name.
    pub name: String,
    /// Namespace. Default: `default`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Container name. Default: the service's name.
    #[serde(default)]
    pub container: Option<String>,
    /// Image repository, e.g. `registry.local/order-api`.
    pub image: String,
    /// Image tag deployed at the start.
    pub tag: String,
    /// Replicas at the start.
    pub replicas: u32,
    /// Resource requests.
    pub requests: Resources,
    /// Resource limits.
    pub limits: Resources,
    /// Environment variables of the container.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Pins the pods to this node (a `kubernetes.io/hostname` node selector).
    #[serde(default)]
    pub node: Option<String>,
    /// Services this one calls for every request it serves.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Whether outside load (`load:`) arrives here.
    #[serde(default)]
    pub entry: bool,
    /// How the service behaves.
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Behaviour of particular image tags, overriding `behaviour` (a leak in a new release, say).
    #[serde(default)]
    pub versions: BTreeMap<String, Behaviour>,
    /// A PostgreSQL server: exports `pg_stat_activity_count` and `pg_settings_max_connections`.
    #[serde(default)]
    pub postgres: Option<PostgresSpec>,
}

fn default_namespace() -> String {
    "default".into()
}

impl ServiceSpec {
    /// The container's name.
    pub fn container_name(&self) -> &str {
        self.container.as_deref().unwrap_or(&self.name)
    }

    /// The behaviour of `tag`: the base behaviour with that version's overrides.
    pub fn behaviour_of(&self, tag: &str) -> Behaviour {
        match self.versions.get(tag) {
            Some(v) => self.behaviour.overridden_by(v),
            None => self.behaviour.clone(),
        }
    }
}

/// How a service's pods behave. Unset fields take the defaults; in `versions`,
/// unset fields keep the base behaviour's values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Median time to serve a request, own work only, in milliseconds. Default: 20.
    pub latency_ms: Option<f64>,
    /// CPU time per request in milliseconds. Default: 2.
    pub cpu_ms_per_request: Option<f64>,
    /// CPU used with no load. Default: `20m`.
    pub cpu_idle: Option<Millicores>,
    /// Working set with no load, once warmed up. Default: `200Mi`.
    pub memory_base: Option<Bytes>,
    /// Extra working set per request per second a pod serves. Default: `1Mi`.
    pub memory_per_rps: Option<Bytes>,
    /// Working-set growth per hour of uptime (a leak). Default: `0`.
    pub memory_leak_per_hour: Option<Bytes>,
    /// Time for a fresh container to reach its working set. Default: `5m`.
    pub warmup: Option<Secs>,
    /// Requests per second one pod serves before queueing. Default: 100.
    pub rps_per_pod: Option<f64>,
    /// Connections to the database each pod holds per request per second (pool use). Default: 0.
    pub db_connections_per_rps: Option<f64>,
    /// Environment variables that must match a pattern, else the container exits at start.
    #[serde(default)]
    pub env_must_match: BTreeMap<String, String>,
}

impl Behaviour {
    /// Fields of `over` where set, else this behaviour's.
    pub fn overridden_by(&self, over: &Behaviour) -> Behaviour {
        let mut env = self.env_must_match.clone();
        env.extend(over.env_must_match.clone());
        Behaviour {
            latency_ms: over.latency_ms.or(self.latency_ms),
            cpu_ms_per_request: over.cpu_ms_per_request.or(self.cpu_ms_per_request),
            cpu_idle: over.cpu_idle.or(self.cpu_idle),
            memory_base: over.memory_base.or(self.memory_base),
            memory_per_rps: over.memory_per_rps.or(self.memory_per_rps),
            memory_leak_per_hour: over.memory_leak_per_hour.or(self.memory_leak_per_hour),
            warmup: over.warmup.or(self.warmup),
            rps_per_pod: over.rps_per_pod.or(self.rps_per_pod),
            db_connections_per_rps: over.db_connections_per_rps.or(self.db_connections_per_rps),
            env_must_match: env,
        }
    }
}

/// A PostgreSQL server's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// `max_connections`.
    pub max_connections: u32,
}

/// Load at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPoint {
    /// Since the start.
    pub at: Secs,
    /// Requests per second to each entry service.
    pub rps: f64,
}

/// The IaC repository beyond the generated charts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IacSpec {
    /// Extra files committed with the charts at the first commit.
    #[serde(default)]
    pub files: Vec<IacFile>,
}

/// One file of the IaC repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IacFile {
    /// Path in the repository.
    pub path: String,
    /// Its text.
    pub content: String,
}

/// Something that happens at a moment: exactly one of `commit`, `scale`, `fault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEvent {
    /// Since the start; negative for history before it (commits only).
    pub at: Secs,
    /// A commit to the IaC repository, optionally rolled out.
    #[serde(default)]
    pub commit: Option<Commit>,
    /// A deployment scaled by someone outside the scenario's services' control.
    #[serde(default)]
    pub scale: Option<Scale>,
    /// A fault from outside (a slow dependency, a disk filling, a connection leak).
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// A commit to the IaC repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// `Name <email>`.
    pub author: String,
    /// The commit message.
    pub message: String,
    /// What it changes.
    pub changes: Vec<Change>,
    /// The service whose chart is rolled out right after, if any.
    #[serde(default)]
    pub deploy: Option<String>,
}

/// One edit: a value in a chart's values file (`charts/<service>/values.yaml`,
/// key path like `resources.limits.memory`), or a directive in another file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Path in the repository.
    pub file: String,
    /// Key path in the YAML file (`resources.limits.memory`, `env.DB_POOL_SIZE`), or a
    /// directive name in a config file (`proxy_buffer_size`, `max_connections`).
    pub key: String,
    /// The new value.
    pub value: String,
}

/// A scale-out or scale-in from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The service.
    pub service: String,
    /// Its new replica count.
    pub replicas: u32,
}

/// A fault injected from outside the IaC repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What kind.
    pub kind: FaultKind,
    /// The service it hits (`latency`, `connection_leak`).
    #[serde(default)]
    pub service: Option<String>,
    /// The node it hits (`disk_fill`).
    #[serde(default)]
    pub node: Option<String>,
    /// Extra latency (`latency`).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Growth per minute: leaked connections (`connection_leak`).
    #[serde(default)]
    pub per_minute: Option<f64>,
    /// Disk written per minute (`disk_fill`).
    #[serde(default)]
    pub bytes_per_minute: Option<Bytes>,
    /// How long it lasts. Default: until the end.
    #[serde(default)]
    pub duration: Option<Secs>,
}

/// Kinds of faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The service answers slower by `latency_ms` (a slow disk, a slow third party).
    Latency,
    /// The service leaks database sessions left idle in transaction, `per_minute`.
    ConnectionLeak,
    /// Something writes `bytes_per_minute` to the node's root filesystem.
    DiskFill,
}

/// A Prometheus-style alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// `alertname`.
    pub name: String,
    /// The PromQL expression; firing where it returns samples.
    pub expr: String,
    /// How long it must hold before firing. Default: `0s`.
    #[serde(default, rename = "for")]
    pub for_: Secs,
    /// Labels added to the alert.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations; `{{ $value }}` and `{{ $labels.NAME }}` are filled in.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The right answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Root-cause category, e.g. `memory_limit_too_low`, or `none` for the control scenario.
    pub category: String,
    /// The service at fault, if any.
    #[serde(default)]
    pub service: Option<String>,
    /// The change that caused it, if any: file, key, before, after.
    #[serde(default)]
    pub culprit: Option<Culprit>,
    /// The mitigation a good plan starts with (`scale`, `rollback`, ...), or none.
    #[serde(default)]
    pub mitigation: Option<String>,
    /// The permanent fix, if any: file, key and value.
    #[serde(default)]
    pub fix: Option<Change>,
}

/// The change behind an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Culprit {
    /// File changed.
    pub file: String,
    /// Key changed.
    pub key: String,
    /// Value before.
    pub before: String,
    /// Value after.
    pub after: String,
}

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {path}{message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file, as given.
    pub file: String,
    /// The line at fault, when known.
    pub line: Option<usize>,
    /// The key path at fault followed by `: ` (`services[1].calls[0]: `), when known.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: None,
            path: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let de = yaml_serde::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.to_string();
            if let Some(at) = message.find(" at line ") {
                message.truncate(at);
            }
            // yaml_serde prefixes some messages with the enclosing key path.
            if let Some((prefix, rest)) = message.split_once(": ")
                && path.starts_with(prefix)
                && !prefix.contains(' ')
            {
                message = rest.to_owned();
            }
            // The key's own line beats YAML's, which for a bad value can be the
            // line where its enclosing mapping starts.
            let line = crate::validate::line_of(text, &path).or(inner.location().map(|l| l.line()));
            ScenarioError {
                file: file.to_owned(),
                line,
                path: if path.is_empty() || path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                },
                message,
            }
        })?;
        if let Err((path, message)) = crate::validate::check(&scenario) {
            return Err(ScenarioError {
                file: file.to_owned(),
                line: crate::validate::line_of(text, &path),
                path: format!("{path}: "),
                message,
            });
        }
        Ok(scenario)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Requests per second to each entry service at `t` seconds since the start.
    pub fn load_at(&self, t: f64) -> f64 {
        let pts = &self.load;
        match pts.iter().position(|p| p.at.0 as f64 > t) {
            None => pts.last().map_or(0.0, |p| p.rps),
            Some(0) => pts.first().map_or(0.0, |p| p.rps),
            Some(i) => {
                let (a, b) = (pts[i - 1], pts[i]);
                let span = (b.at.0 - a.at.0) as f64;
                a.rps + (b.rps - a.rps) * (t - a.at.0 as f64) / span
            }
        }
    }
}
