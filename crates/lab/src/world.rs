//! The world: a scenario brought to life. It owns the cluster (served by the
//! in-memory Kubernetes API), the series (served by the Prometheus API), each
//! pod's simulated state, the IaC repository and the alert rules, and moves
//! them all forward one step of the virtual clock at a time.
//!
//! Each step: the timeline's due events happen (commits roll out, deployments
//! scale, faults begin and end); the built-in controllers reconcile the
//! cluster (so `kubectl scale` and rollouts take effect as they would); the
//! dynamics move every pod; pod statuses, node conditions and events are
//! written back; metrics are appended; alert rules are evaluated.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, EnvVar, Namespace, Node, NodeAddress, NodeCondition,
    NodeSpec as K8sNodeSpec, NodeStatus, NodeSystemInfo, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements, Service, ServicePort, ServiceSpec as K8sServiceSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pagerless_apiserver::time::to_time;
use pagerless_apiserver::{Cluster, object_reference, reconcile};
use pagerless_promql::{QueryValue, SeriesStore, instant_query};

use crate::alerts::{Changes, Evaluator};
use crate::dynamics::{
    self, BUCKETS, PodInput, PodSim, Profile, Run, ServiceInput, ServiceOutcome,
};
use crate::iac::{ChartValues, IacError, IacRepo};
use crate::scenario::{Commit, FaultKind, Scenario};
use crate::units::Bytes;

/// Labels of a series.
type Labels = BTreeMap<String, String>;

/// What can stop a world from being built or stepped.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The IaC repository could not be written.
    #[error("IaC repository: {0}")]
    Iac(#[from] IacError),
    /// The cluster refused an object the scenario needs.
    #[error("cluster: {0}")]
    Cluster(String),
}

/// A commit the world made to the IaC repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// The commit's hash (empty when the world keeps no repository).
    pub hash: String,
    /// When, in virtual time.
    pub at: DateTime<Utc>,
    /// Its message.
    pub message: String,
}

#[derive(Debug, Clone)]
struct NodeState {
    cores: f64,
    memory: Bytes,
    disk: Bytes,
    disk_used: f64,
    pressure: bool,
}

#[derive(Debug, Clone)]
struct ActiveFault {
    kind: FaultKind,
    service: Option<String>,
    node: Option<String>,
    latency_ms: f64,
    per_minute: f64,
    bytes_per_minute: f64,

    until: Option<i64>,
}

/// The world of one scenario.
pub struct World {
    scenario: Scenario,
    start: DateTime<Utc>,
    t: i64,
    cluster: Arc<RwLock<Cluster>>,
    series: Arc<RwLock<SeriesStore>>,
    sims: Arc<RwLock<BTreeMap<String, PodSim>>>,
    nodes: BTreeMap<String, NodeState>,
    profiles: BTreeMap<(String, String), Profile>,
    charts: BTreeMap<String, ChartValues>,
    repo: Option<IacRepo>,
    evaluator: Evaluator,
    next_event: usize,
    faults: Vec<ActiveFault>,
    outcome: BTreeMap<String, ServiceOutcome>,
    db_errors: BTreeMap<String, f64>,
    leaked: BTreeMap<String, f64>,
    commits: Vec<CommitRecord>,
}

impl World {
    /// Builds the world at the scenario's start (or `start`, for real-time runs),
    /// with its IaC repository under `repo_dir` when given. History before the
    /// start (commits at negative times) is applied first.
    pub fn new(
        scenario: Scenario,
        repo_dir: Option<&Path>,
        start: Option<DateTime<Utc>>,
    ) -> Result<World, WorldError> {
        let start = start.unwrap_or(scenario.start);
        let repo = match repo_dir {
            Some(dir) => {
                let mut shifted = scenario.clone();
                shifted.start = start;
                Some(IacRepo::create(dir, &shifted)?)
            }
            None => None,
        };
        let mut profiles = BTreeMap::new();
        for svc in &scenario.services {
            // The base behaviour under the empty tag: any tag without its own entry behaves so.
            profiles.insert(
                (svc.name.clone(), String::new()),
                Profile::of(&svc.behaviour),
            );
            for tag in svc.versions.keys() {
                profiles.insert(
                    (svc.name.clone(), tag.clone()),
                    Profile::of(&svc.behaviour_of(tag)),
                );
            }
        }
        let nodes = scenario
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    NodeState {
                        cores: n.cpu.cores(),
                        memory: n.memory,
                        disk: n.disk,
                        disk_used: n.disk_used.f(),
                        pressure: false,
                    },
                )
            })
            .collect();
        let charts = scenario
            .services
            .iter()
            .map(|s| (s.name.clone(), ChartValues::of(s)))
            .collect();
        let mut world = World {
            evaluator: Evaluator::new(scenario.alerts.clone()),
            scenario,
            start,
            t: 0,
            cluster: Arc::new(RwLock::new(Cluster::new())),
            series: Arc::new(RwLock::new(SeriesStore::new())),
            sims: Arc::new(RwLock::new(BTreeMap::new())),
            nodes,
            profiles,
            charts,
            repo,
            next_event: 0,
            faults: Vec::new(),
            outcome: BTreeMap::new(),
            db_errors: BTreeMap::new(),
            leaked: BTreeMap::new(),
            commits: Vec::new(),
        };
        world.build_cluster()?;
        world.apply_due_events(0)?;
        {
            let mut c = world
                .cluster
                .write()
                .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
            reconcile(&mut c, start);
        }
        world.emit_metrics();
        Ok(world)
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Seconds of virtual time since the start.
    pub fn elapsed_secs(&self) -> i64 {
        self.t
    }

    /// The virtual time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(self.t)
    }

    /// The virtual clock's start.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The cluster, as the Kubernetes API serves it.
    pub fn cluster(&self) -> Arc<RwLock<Cluster>> {
        Arc::clone(&self.cluster)
    }

    /// The series, as the Prometheus API serves them.
    pub fn series(&self) -> Arc<RwLock<SeriesStore>> {
        Arc::clone(&self.series)
    }

    /// Each pod's simulated state, keyed `namespace/name`.
    pub fn sims(&self) -> Arc<RwLock<BTreeMap<String, PodSim>>> {
        Arc::clone(&self.sims)
    }

    /// The IaC repository, when the world keeps one.
    pub fn repo(&self) -> Option<&IacRepo> {
        self.repo.as_ref()
    }

    /// Commits made so far (history included).
    pub fn commits(&self) -> &[CommitRecord] {
        &self.commits
    }

    /// How each service fared in the last step.
    pub fn outcome(&self) -> &BTreeMap<String, ServiceOutcome> {
        &self.outcome
    }

    /// Alerts firing now.
    pub fn firing_alerts(&self) -> Vec<String> {
        self.evaluator
            .firing()
            .iter()
            .map(|a| a.labels.get("alertname").cloned().unwrap_or_default())
            .collect()
    }

    /// What `command` prints on `node` (see [`crate::node_shell`]); `None` for an
    /// unknown node or a command off the list.
    pub fn node_shell(&self, node: &str, command: &str) -> Option<String> {
        let state = self.nodes.get(node)?;
        let sims = self.sims.read().ok()?;
        let cluster = self.cluster.read().ok()?;
        let mut processes = Vec::new();
        let mut cpu_used = 0.0;
        let mut mem_used = 1.5 * 1073741824.0;
        for pod in cluster.iter::<Pod>(None) {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
                continue;
            }
            let key = pod_key(pod);
            if let Some(sim) = sims.get(&key) {
                cpu_used += sim.cpu_cores;
                mem_used += sim.working_set;
                let cmd = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .map_or("app".into(), |c| c.name.clone());
                let pid =
                    1000 + (pagerless_apiserver::controllers::fnv32a(key.as_bytes()) % 30_000);
                processes.push((
                    pid,
                    "1000".to_owned(),
                    cmd,
                    sim.cpu_cores,
                    Bytes(sim.working_set as u64),
                ));
            }
        }
        processes.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.0.cmp(&b.0)));
        let steal = if cpu_used > state.cores {
            1.0 - state.cores / cpu_used
        } else {
            0.0
        };
        let view = crate::node_shell::NodeView {
            name: node.to_owned(),
            uptime_secs: (self.t + 12 * 86_400) as u64,
            clock: self.now().format("%H:%M:%S").to_string(),
            cores: state.cores,
            cpu_used: cpu_used.min(state.cores),
            steal,
            memory: state.memory,
            memory_used: Bytes((mem_used as u64).min(state.memory.0)),
            disk: state.disk,
            disk_used: Bytes(state.disk_used as u64),
            processes,
        };
        crate::node_shell::run(&view, command)
    }

    /// Advances the world by one step. Returns the alert groups whose state changed.
    pub fn step(&mut self) -> Result<Changes, WorldError> {
        let dt = self.scenario.step.0;
        self.t += dt;
        let now = self.now();
        self.apply_due_events(self.t)?;
        // The GitOps controller polls main every simulated minute.
        if self.t % 60 == 0 {
            self.sync_iac()?;
        }
        self.faults.retain(|f| f.until.is_none_or(|u| u > self.t));
        self.step_nodes(dt as f64, now)?;
        {
            let mut c = self
                .cluster
                .write()
                .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
            reconcile(&mut c, now);
        }
        self.step_pods(dt as f64, now)?;
        {
            // Kubelet's reports change readiness; the controllers' status views
            // follow before the next round, so rollouts wait for ready pods.
            use pagerless_apiserver::controllers::{deployment, kubelet, replicaset};
            let mut c = self
                .cluster
                .write()
                .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
            kubelet::sync_conditions(&mut c, now);
            replicaset::sync_status(&mut c);
            deployment::sync_status(&mut c, now);
        }
        self.step_databases(dt as f64);
        self.emit_metrics();
        let t_ms = now.timestamp_millis();
        let series = Arc::clone(&self.series);
        let changes = self.evaluator.evaluate(now, |expr| {
            let store = series
                .read()
                .map_err(|_| "series lock poisoned".to_owned())?;
            match instant_query(&store, expr, t_ms).map_err(|e| e.to_string())? {
                QueryValue::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.value)).collect()),
                QueryValue::Scalar { value, .. } => Ok(vec![(Labels::new(), value)]),
                other => Err(format!(
                    "alert expression returned a {}",
                    other.result_type()
                )),
            }
        });
        Ok(changes)
    }

    /// Rolls a service's chart out: its Deployment takes the chart's image,
    /// replicas, resources and environment, as a Helm upgrade would.
    pub fn deploy(&mut self, service: &str) -> Result<(), WorldError> {
        let Some(values) = self.charts.get(service).cloned() else {
            return Err(WorldError::Cluster(format!("no chart for `{service}`")));
        };
        let Some(spec) = self.scenario.service(service).cloned() else {
            return Err(WorldError::Cluster(format!("no service `{service}`")));
        };
        let mut c = self
            .cluster
            .write()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
        let Some(mut d) = c.get::<Deployment>(Some(&spec.namespace), service) else {
            return Err(WorldError::Cluster(format!(
                "no deployment {}/{service}",
                spec.namespace
            )));
        };
        let template = pod_template(&spec, &values);
        if let Some(s) = d.spec.as_mut() {
            s.replicas = Some(values.replicas as i32);
            s.template = template;
        }
        d.metadata.resource_version = None;
        c.update(d)
            .map_err(|e| WorldError::Cluster(e.to_string()))?;
        Ok(())
    }

    /// Does what a GitOps controller does: pulls the IaC remote's main and rolls
    /// out every service whose chart changed (a merged pull request, say).
    /// Returns those services. Without a repository, does nothing.
    pub fn sync_iac(&mut self) -> Result<Vec<String>, WorldError> {
        let Some(repo) = self.repo.as_mut() else {
            return Ok(Vec::new());
        };
        let changed = repo.pull()?;
        for svc in &changed {
            if let Some(values) = repo.chart(svc) {
                self.charts.insert(svc.clone(), values.clone());
            }
        }
        for svc in &changed {
            tracing::info!(service = %svc, "IaC main changed; rolling the chart out");
            self.deploy(svc)?;
        }
        Ok(changed)
    }

    fn build_cluster(&mut self) -> Result<(), WorldError> {
        let now = self.start;
        let err = |e: pagerless_apiserver::ApiError| WorldError::Cluster(e.to_string());
        let mut c = self
            .cluster
            .write()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
        let mut namespaces: Vec<&str> = self
            .scenario
            .services
            .iter()
            .map(|s| s.namespace.as_str())
            .collect();
        namespaces.extend(["default", "kube-system"]);
        namespaces.sort_unstable();
        namespaces.dedup();
        for ns in namespaces {
            c.create(
                Namespace {
                    metadata: meta(ns, None, BTreeMap::new()),
                    ..Default::default()
                },
                now - chrono::Duration::days(30),
            )
            .map_err(err)?;
        }
        for (i, n) in self.scenario.nodes.iter().enumerate() {
            let mut labels = n.labels.clone();
            labels.insert("kubernetes.io/hostname".into(), n.name.clone());
            labels.insert("kubernetes.io/os".into(), "linux".into());
            let capacity = BTreeMap::from([
                ("cpu".to_owned(), Quantity(n.cpu.to_quantity())),
                ("memory".to_owned(), Quantity(n.memory.to_quantity())),
                (
                    "ephemeral-storage".to_owned(),
                    Quantity(n.disk.to_quantity()),
                ),
                ("pods".to_owned(), Quantity("110".into())),
            ]);
            let node = Node {
                metadata: meta(&n.name, None, labels),
                spec: Some(K8sNodeSpec {
                    pod_cidr: Some(format!("10.244.{i}.0/24")),
                    ..Default::default()
                }),
                status: Some(NodeStatus {
                    capacity: Some(capacity.clone()),
                    allocatable: Some(capacity),
                    conditions: Some(node_conditions(false, now)),
                    addresses: Some(vec![
                        NodeAddress {
                            type_: "InternalIP".into(),
                            address: format!("10.0.0.{}", 10 + i),
                        },
                        NodeAddress {
                            type_: "Hostname".into(),
                            address: n.name.clone(),
                        },
                    ]),
                    node_info: Some(NodeSystemInfo {
                        kubelet_version: "v1.33.2".into(),
                        kube_proxy_version: "v1.33.2".into(),
                        container_runtime_version: "containerd://1.7.27".into(),
                        os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                        kernel_version: "6.1.0-37-amd64".into(),
                        operating_system: "linux".into(),
                        architecture: "amd64".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            };
            c.create(node, now - chrono::Duration::days(12))
                .map_err(err)?;
        }
        for svc in &self.scenario.services {
            let values = &self.charts[&svc.name];
            let labels = BTreeMap::from([("app".to_owned(), svc.name.clone())]);
            let deployment = Deployment {
                metadata: meta(&svc.name, Some(&svc.namespace), labels.clone()),
                spec: Some(DeploymentSpec {
                    replicas: Some(values.replicas as i32),
                    selector: LabelSelector {
                        match_labels: Some(labels.clone()),
                        ..Default::default()
                    },
                    template: pod_template(svc, values),
                    strategy: Some(DeploymentStrategy {
                        type_: Some("RollingUpdate".into()),
                        rolling_update: Some(RollingUpdateDeployment {
                            max_surge: Some(IntOrString::String("25%".into())),
                            max_unavailable: Some(IntOrString::String("25%".into())),
                        }),
                    }),
                    revision_history_limit: Some(10),
                    ..Default::default()
                }),
                status: None,
            };
            c.create(deployment, now - chrono::Duration::days(7))
                .map_err(err)?;
            let service = Service {
                metadata: meta(&svc.name, Some(&svc.namespace), labels.clone()),
                spec: Some(K8sServiceSpec {
                    selector: Some(labels),
                    ports: Some(vec![ServicePort {
                        name: Some("http".into()),
                        port: 80,
                        target_port: Some(IntOrString::Int(8080)),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    type_: Some("ClusterIP".into()),
                    ..Default::default()
                }),
                status: None,
            };
            c.create(service, now - chrono::Duration::days(7))
                .map_err(err)?;
        }
        Ok(())
    }

    fn apply_due_events(&mut self, upto: i64) -> Result<(), WorldError> {
        while let Some(ev) = self.scenario.timeline.get(self.next_event).cloned() {
            if ev.at.0 > upto {
                break;
            }
            self.next_event += 1;
            let at = self.start + chrono::Duration::seconds(ev.at.0);
            if let Some(c) = &ev.commit {
                self.commit(c, at)?;
            }
            if let Some(s) = &ev.scale {
                let ns = self
                    .scenario
                    .service(&s.service)
                    .map(|x| x.namespace.clone())
                    .unwrap_or_default();
                let mut c = self
                    .cluster
                    .write()
                    .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
                if let Some(mut d) = c.get::<Deployment>(Some(&ns), &s.service) {
                    if let Some(spec) = d.spec.as_mut() {
                        spec.replicas = Some(s.replicas as i32);
                    }
                    d.metadata.resource_version = None;
                    c.update(d)
                        .map_err(|e| WorldError::Cluster(e.to_string()))?;
                }
            }
            if let Some(f) = &ev.fault {
                self.faults.push(ActiveFault {
                    kind: f.kind,
                    service: f.service.clone(),
                    node: f.node.clone(),
                    latency_ms: f.latency_ms.unwrap_or(0.0),
                    per_minute: f.per_minute.unwrap_or(0.0),
                    bytes_per_minute: f.bytes_per_minute.map_or(0.0, Bytes::f),

                    until: f.duration.map(|d| ev.at.0 + d.0),
                });
            }
        }
        Ok(())
    }

    fn commit(&mut self, c: &Commit, at: DateTime<Utc>) -> Result<(), WorldError> {
        // Land on top of whatever was merged meanwhile.
        self.sync_iac()?;
        for ch in &c.changes {
            if let Some(svc) = crate::validate::chart_service(&ch.file)
                && let Some(values) = self.charts.get_mut(svc)
            {
                values
                    .set(&ch.key, &ch.value)
                    .map_err(|message| IacError::Change {
                        file: ch.file.clone(),
                        message,
                    })?;
            }
        }
        let hash = match self.repo.as_mut() {
            Some(repo) => repo.commit(c, at)?,
            None => String::new(),
        };
        self.commits.push(CommitRecord {
            hash,
            at,
            message: c.message.clone(),
        });
        if let Some(svc) = &c.deploy {
            self.deploy(svc)?;
        }
        Ok(())
    }

    fn step_nodes(&mut self, dt: f64, now: DateTime<Utc>) -> Result<(), WorldError> {
        for f in &self.faults {
            if f.kind == FaultKind::DiskFill
                && let Some(n) = f.node.as_ref().and_then(|n| self.nodes.get_mut(n))
            {
                n.disk_used = (n.disk_used + f.bytes_per_minute * dt / 60.0).min(n.disk.f());
            }
        }
        let mut c = self
            .cluster
            .write()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
        for (name, n) in &mut self.nodes {
            let pressure = n.disk.f() - n.disk_used < 0.10 * n.disk.f();
            if pressure != n.pressure {
                n.pressure = pressure;
                if let Some(mut node) = c.get::<Node>(None, name) {
                    if let Some(st) = node.status.as_mut() {
                        st.conditions = Some(node_conditions(pressure, now));
                    }
                    let spec = node.spec.get_or_insert_with(Default::default);
                    let mut taints: Vec<Taint> = spec.taints.clone().unwrap_or_default();
                    taints.retain(|t| t.key != "node.kubernetes.io/disk-pressure");
                    if pressure {
                        taints.push(Taint {
                            key: "node.kubernetes.io/disk-pressure".into(),
                            effect: "NoSchedule".into(),
                            time_added: Some(to_time(now)),
                            value: None,
                        });
                    }
                    spec.taints = if taints.is_empty() {
                        None
                    } else {
                        Some(taints)
                    };
                    node.metadata.resource_version = None;
                    let reference = object_reference(&node);
                    c.update(node)
                        .map_err(|e| WorldError::Cluster(e.to_string()))?;
                    if pressure {
                        let _ = c.record_event(
                            reference,
                            "EvictionThresholdMet",
                            "Attempting to reclaim ephemeral-storage",
                            "Warning",
                            now,
                        );
                    }
                }
            }
            if n.pressure {
                // The kubelet evicts one pod per step until the pressure is gone.
                let victim = c
                    .iter::<Pod>(None)
                    .filter(|p| {
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                    })
                    .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                    .cloned();
                if let Some(mut pod) = victim {
                    let message =
                        "The node was low on resource: ephemeral-storage. Threshold quantity: 10%.";
                    if let Some(st) = pod.status.as_mut() {
                        st.phase = Some("Failed".into());
                        st.reason = Some("Evicted".into());
                        st.message = Some(message.into());
                    }
                    pod.metadata.resource_version = None;
                    let reference = object_reference(&pod);
                    c.update_status(pod)
                        .map_err(|e| WorldError::Cluster(e.to_string()))?;
                    let _ = c.record_event(reference, "Evicted", message, "Warning", now);
                    // Evicting frees the pod's writable layer and logs.
                    n.disk_used = (n.disk_used - 512.0 * 1048576.0).max(0.0);
                }
            }
        }
        Ok(())
    }

    fn step_pods(&mut self, dt: f64, now: DateTime<Utc>) -> Result<(), WorldError> {
        let t = self.t as f64;
        let mut c = self
            .cluster
            .write()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
        let mut sims = self
            .sims
            .write()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;

        struct Scheduled {
            key: String,
            service: String,
            node: String,
            tag: String,
            image: String,
            limits: crate::scenario::Resources,
            env: BTreeMap<String, String>,
        }
        let mut scheduled = Vec::new();
        for pod in c.iter::<Pod>(None) {
            let Some(spec) = pod.spec.as_ref() else {
                continue;
            };
            let Some(node) = spec.node_name.clone() else {
                continue;
            };
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some()
                || phase == "Failed"
                || phase == "Succeeded"
            {
                continue;
            }
            let Some(service) = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .cloned()
            else {
                continue;
            };
            let Some(container) = spec.containers.first() else {
                continue;
            };
            let image = container.image.clone().unwrap_or_default();
            let tag = image
                .rsplit_once(':')
                .map(|(_, t)| t.to_owned())
                .unwrap_or_default();
            let (cpu, mem) = pagerless_apiserver::quantity::cpu_memory(
                container.resources.as_ref().and_then(|r| r.limits.as_ref()),
            );
            let env = container
                .env
                .iter()
                .flatten()
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect();
            scheduled.push(Scheduled {
                key: pod_key(pod),
                service,
                node,
                tag,
                image,
                limits: crate::scenario::Resources {
                    cpu: crate::units::Millicores(cpu.unwrap_or(64_000)),
                    memory: Bytes(mem.unwrap_or(1 << 40)),
                },
                env,
            });
        }
        // Pods gone from the cluster take their state with them.
        let live: std::collections::HashSet<&str> =
            scheduled.iter().map(|s| s.key.as_str()).collect();
        sims.retain(|k, _| live.contains(k.as_str()));

        let fallback = Profile::of(&crate::scenario::Behaviour::default());
        let inputs: Vec<PodInput<'_>> = scheduled
            .iter()
            .map(|s| PodInput {
                key: &s.key,
                service: &s.service,
                node: &s.node,
                limits: s.limits,
                profile: profile_of(&self.profiles, &s.service, &s.tag).unwrap_or(&fallback),
                env: &s.env,
                image: &s.image,
            })
            .collect();
        let load = self.scenario.load_at(t);
        let services: Vec<(String, ServiceInput)> = topological(&self.scenario)
            .into_iter()
            .map(|svc| {
                let fault_latency = self
                    .faults
                    .iter()
                    .filter(|f| {
                        f.kind == FaultKind::Latency
                            && f.service.as_deref() == Some(svc.name.as_str())
                    })
                    .map(|f| f.latency_ms / 1000.0)
                    .sum();
                (
                    svc.name.clone(),
                    ServiceInput {
                        external_rps: if svc.entry { load } else { 0.0 },
                        calls: svc.calls.clone(),
                        fault_latency,
                        fault_errors: self.db_errors.get(&svc.name).copied().unwrap_or(0.0),
                    },
                )
            })
            .collect();
        let cores: BTreeMap<String, f64> = self
            .nodes
            .iter()
            .map(|(k, n)| (k.clone(), n.cores))
            .collect();
        let before: BTreeMap<String, (bool, u32)> = sims
            .iter()
            .map(|(k, s)| (k.clone(), (s.ready(), s.restarts)))
            .collect();
        let (outcome, _changes) = dynamics::step(
            self.scenario.seed,
            t,
            dt,
            &services,
            &cores,
            &inputs,
            &mut sims,
        );
        self.outcome = outcome;

        // Write back what kubelet would report.
        for s in &scheduled {
            let Some(sim) = sims.get(&s.key) else {
                continue;
            };
            let was = before.get(&s.key).copied();
            if was == Some((sim.ready(), sim.restarts)) && !matches!(sim.run, Run::BackOff { .. }) {
                continue;
            }
            let Some((ns, name)) = s.key.split_once('/') else {
                continue;
            };
            let Some(mut pod) = c.get::<Pod>(Some(ns), name) else {
                continue;
            };
            let container = pod
                .spec
                .as_ref()
                .and_then(|p| p.containers.first())
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let status = container_status(&container, &s.image, sim, self.start, &s.key);
            let changed = pod
                .status
                .as_ref()
                .and_then(|st| st.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                != Some(&status);
            if !changed {
                continue;
            }
            if let Some(st) = pod.status.as_mut() {
                st.container_statuses = Some(vec![status]);
                st.phase = Some("Running".into());
            }
            pod.metadata.resource_version = None;
            let reference = object_reference(&pod);
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            c.update_status(pod)
                .map_err(|e| WorldError::Cluster(e.to_string()))?;
            match (&sim.run, was) {
                (Run::BackOff { .. }, _) => {
                    let _ = c.record_event(
                        reference,
                        "BackOff",
                        &format!("Back-off restarting failed container {container} in pod {name}_{ns}({uid})"),
                        "Warning",
                        now,
                    );
                }
                (Run::Starting { .. }, Some((_, r))) if r != sim.restarts || was.is_some() => {
                    for (reason, msg) in [
                        (
                            "Pulled",
                            format!("Container image \"{}\" already present on machine", s.image),
                        ),
                        ("Created", format!("Created container {container}")),
                        ("Started", format!("Started container {container}")),
                    ] {
                        let _ = c.record_event(reference.clone(), reason, &msg, "Normal", now);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn step_databases(&mut self, dt: f64) {
        self.db_errors.clear();
        for f in &self.faults {
            if f.kind == FaultKind::ConnectionLeak
                && let Some(svc) = &f.service
            {
                *self.leaked.entry(svc.clone()).or_insert(0.0) += f.per_minute * dt / 60.0;
            }
        }
        for db in self
            .scenario
            .services
            .iter()
            .filter(|s| s.postgres.is_some())
        {
            let (max, wanted, idle, leaked) = self.db_load(db);
            let free_for_work = (max - leaked.min(max) - idle).max(0.0);
            if wanted > free_for_work && wanted > 0.0 {
                let shortfall = (wanted - free_for_work) / wanted;
                for caller in self
                    .scenario
                    .services
                    .iter()
                    .filter(|s| s.calls.contains(&db.name))
                {
                    self.db_errors.insert(caller.name.clone(), shortfall);
                }
            }
        }
    }

    /// A database's `max_connections` and what its callers ask of it: connections
    /// busy with requests, idle pool connections, and leaked sessions.
    fn db_load(&self, db: &crate::scenario::ServiceSpec) -> (f64, f64, f64, f64) {
        let max = f64::from(db.postgres.as_ref().map_or(100, |p| p.max_connections));
        let (mut active, mut idle, mut leaked) = (0.0, 0.0, 0.0);
        for caller in self
            .scenario
            .services
            .iter()
            .filter(|s| s.calls.contains(&db.name))
        {
            let outcome = self.outcome.get(&caller.name);
            let per =
                profile_of(&self.profiles, &caller.name, &caller.tag).map_or(0.0, |p| p.db_per_rps);
            active += per * outcome.map_or(0.0, |o| o.rps);
            idle += 2.0 * outcome.map_or(0.0, |o| o.ready as f64);
            leaked += self.leaked.get(&caller.name).copied().unwrap_or(0.0);
        }
        (max, active, idle, leaked)
    }

    fn emit_metrics(&mut self) {
        let t_ms = self.now().timestamp_millis();
        let Ok(mut store) = self.series.write() else {
            return;
        };
        let Ok(c) = self.cluster.read() else { return };
        let Ok(sims) = self.sims.read() else { return };
        let mut put = |name: &str, labels: &[(&str, &str)], v: f64| {
            let mut l: Labels = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            l.insert("__name__".into(), name.to_owned());
            store.append(&l, t_ms, v);
        };
        let env = self.scenario.environment.clone();
        for pod in c.iter::<Pod>(None) {
            let key = pod_key(pod);
            let Some(sim) = sims.get(&key) else { continue };
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let Some(spec) = pod.spec.as_ref() else {
                continue;
            };
            let node = spec.node_name.as_deref().unwrap_or_default();
            let Some(container) = spec.containers.first() else {
                continue;
            };
            let cname = container.name.as_str();
            let image = container.image.as_deref().unwrap_or_default();
            let service = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map_or("", String::as_str);
            let cadvisor = [
                ("container", cname),
                ("image", image),
                ("job", "kubelet"),
                ("namespace", ns),
                ("node", node),
                ("pod", name),
            ];
            if !matches!(sim.run, Run::BackOff { .. }) {
                put(
                    "container_memory_working_set_bytes",
                    &cadvisor,
                    sim.working_set.round(),
                );
            }
            put(
                "container_cpu_usage_seconds_total",
                &cadvisor,
                sim.cpu_seconds,
            );
            put(
                "container_cpu_cfs_periods_total",
                &cadvisor,
                sim.cfs_periods.round(),
            );
            put(
                "container_cpu_cfs_throttled_periods_total",
                &cadvisor,
                sim.cfs_throttled.round(),
            );
            let ksm = [
                ("container", cname),
                ("job", "kube-state-metrics"),
                ("namespace", ns),
                ("pod", name),
            ];
            put(
                "kube_pod_container_status_restarts_total",
                &ksm,
                f64::from(sim.restarts),
            );
            put(
                "kube_pod_container_status_ready",
                &ksm,
                if sim.ready() { 1.0 } else { 0.0 },
            );
            if let Some(exit) = &sim.last_exit {
                let mut l = ksm.to_vec();
                l.push(("reason", exit.reason.as_str()));
                put("kube_pod_container_status_last_terminated_reason", &l, 1.0);
            }
            if matches!(sim.run, Run::BackOff { .. }) {
                let mut l = ksm.to_vec();
                l.push(("reason", "CrashLoopBackOff"));
                put("kube_pod_container_status_waiting_reason", &l, 1.0);
            }
            let resources = container.resources.as_ref();
            for (metric, list) in [
                (
                    "kube_pod_container_resource_limits",
                    resources.and_then(|r| r.limits.as_ref()),
                ),
                (
                    "kube_pod_container_resource_requests",
                    resources.and_then(|r| r.requests.as_ref()),
                ),
            ] {
                let (cpu, mem) = pagerless_apiserver::quantity::cpu_memory(list);
                let base = [
                    ("container", cname),
                    ("job", "kube-state-metrics"),
                    ("namespace", ns),
                    ("node", node),
                    ("pod", name),
                ];
                if let Some(m) = mem {
                    let mut l = base.to_vec();
                    l.extend([("resource", "memory"), ("unit", "byte")]);
                    put(metric, &l, m as f64);
                }
                if let Some(cpu) = cpu {
                    let mut l = base.to_vec();
                    l.extend([("resource", "cpu"), ("unit", "core")]);
                    put(metric, &l, cpu as f64 / 1000.0);
                }
            }
            if sim.request_count() > 0.0 || sim.ready() {
                let app = [
                    ("env", env.as_str()),
                    ("namespace", ns),
                    ("pod", name),
                    ("service", service),
                ];
                let mut les: Vec<String> = BUCKETS
                    .iter()
                    .map(|b| pagerless_promql::format_float(*b))
                    .collect();
                les.push("+Inf".into());
                for (le, count) in les.iter().zip(sim.buckets.iter()) {
                    let mut l = app.to_vec();
                    l.push(("le", le.as_str()));
                    put("http_request_duration_seconds_bucket", &l, count.round());
                }
                put("http_request_duration_seconds_sum", &app, sim.latency_sum);
                put(
                    "http_request_duration_seconds_count",
                    &app,
                    sim.request_count().round(),
                );
                for (code, n) in &sim.by_code {
                    let code = code.to_string();
                    let mut l = app.to_vec();
                    l.push(("code", code.as_str()));
                    put("http_requests_total", &l, n.round());
                }
            }
        }
        for d in c.iter::<Deployment>(None) {
            let ns = d.metadata.namespace.as_deref().unwrap_or_default();
            let name = d.metadata.name.as_deref().unwrap_or_default();
            let l = [
                ("deployment", name),
                ("job", "kube-state-metrics"),
                ("namespace", ns),
            ];
            put(
                "kube_deployment_spec_replicas",
                &l,
                f64::from(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)),
            );
            put(
                "kube_deployment_status_replicas_available",
                &l,
                f64::from(
                    d.status
                        .as_ref()
                        .and_then(|s| s.available_replicas)
                        .unwrap_or(0),
                ),
            );
        }
        // One pass over pods for every node's totals.
        let mut per_node: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for pod in c.iter::<Pod>(None) {
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
                && let Some(sim) = sims.get(&pod_key(pod))
            {
                let e = per_node.entry(node).or_insert((0.0, 0.0));
                e.0 += sim.cpu_cores;
                e.1 += sim.working_set;
            }
        }
        for (name, n) in &self.nodes {
            let (cpu, pods_mem) = per_node.get(name.as_str()).copied().unwrap_or_default();
            let mem = 1.5 * 1073741824.0 + pods_mem;
            let l = [("job", "node-exporter"), ("node", name.as_str())];
            put("node_load1", &l, cpu);
            put("node_memory_MemTotal_bytes", &l, n.memory.f());
            put(
                "node_memory_MemAvailable_bytes",
                &l,
                (n.memory.f() - mem).max(0.0).round(),
            );
            let fs = [
                ("device", "/dev/root"),
                ("fstype", "ext4"),
                ("job", "node-exporter"),
                ("mountpoint", "/"),
                ("node", name.as_str()),
            ];
            put("node_filesystem_size_bytes", &fs, n.disk.f());
            put(
                "node_filesystem_avail_bytes",
                &fs,
                (n.disk.f() - n.disk_used).max(0.0).round(),
            );
            let unschedulable = c
                .get_ref::<Node>(None, name)
                .and_then(|x| x.spec.as_ref())
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            let ksm = [("job", "kube-state-metrics"), ("node", name.as_str())];
            let mut alloc = ksm.to_vec();
            alloc.extend([("resource", "cpu"), ("unit", "core")]);
            put("kube_node_status_allocatable", &alloc, n.cores);
            put(
                "kube_node_spec_unschedulable",
                &ksm,
                if unschedulable { 1.0 } else { 0.0 },
            );
            for (cond, on) in [("Ready", true), ("DiskPressure", n.pressure)] {
                for status in ["true", "false"] {
                    let l = [
                        ("condition", cond),
                        ("job", "kube-state-metrics"),
                        ("node", name.as_str()),
                        ("status", status),
                    ];
                    put(
                        "kube_node_status_condition",
                        &l,
                        if (status == "true") == on { 1.0 } else { 0.0 },
                    );
                }
            }
        }
        for db in self
            .scenario
            .services
            .iter()
            .filter(|s| s.postgres.is_some())
        {
            let (max, active, idle, leaked) = self.db_load(db);
            let leaked = leaked.min(max).floor();
            let idle = idle.min(max - leaked).floor();
            let active = active.min(max - leaked - idle).max(0.0).round();
            let base = [
                ("datname", "shop"),
                ("job", "postgres-exporter"),
                ("namespace", db.namespace.as_str()),
                ("service", db.name.as_str()),
            ];
            for (state, n) in [
                ("active", active),
                ("idle", idle),
                ("idle in transaction", leaked),
            ] {
                let mut l = base.to_vec();
                l.push(("state", state));
                put("pg_stat_activity_count", &l, n);
            }
            let l = [
                ("job", "postgres-exporter"),
                ("namespace", db.namespace.as_str()),
                ("service", db.name.as_str()),
            ];
            put("pg_settings_max_connections", &l, max);
        }
    }
}

/// The behaviour of a service's image tag: its own, else the service's base behaviour.
fn profile_of<'a>(
    profiles: &'a BTreeMap<(String, String), Profile>,
    service: &str,
    tag: &str,
) -> Option<&'a Profile> {
    profiles
        .get(&(service.to_owned(), tag.to_owned()))
        .or_else(|| profiles.get(&(service.to_owned(), String::new())))
}

fn meta(name: &str, namespace: Option<&str>, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: if labels.is_empty() {
            None
        } else {
            Some(labels)
        },
        ..Default::default()
    }
}

/// `namespace/name` of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn pod_template(svc: &crate::scenario::ServiceSpec, values: &ChartValues) -> PodTemplateSpec {
    let labels = BTreeMap::from([("app".to_owned(), svc.name.clone())]);
    let quantity = |r: &crate::scenario::Resources| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(r.cpu.to_quantity())),
            ("memory".to_owned(), Quantity(r.memory.to_quantity())),
        ])
    };
    let env: Vec<EnvVar> = values
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: svc.container_name().to_owned(),
                image: Some(format!("{}:{}", values.repository, values.tag)),
                ports: Some(vec![ContainerPort {
                    container_port: 8080,
                    name: Some("http".into()),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                resources: Some(ResourceRequirements {
                    limits: Some(quantity(&values.limits)),
                    requests: Some(quantity(&values.requests)),
                    ..Default::default()
                }),
                env: if env.is_empty() { None } else { Some(env) },
                ..Default::default()
            }],
            node_selector: svc
                .node
                .as_ref()
                .map(|n| BTreeMap::from([("kubernetes.io/hostname".to_owned(), n.clone())])),
            ..Default::default()
        }),
    }
}

fn node_conditions(disk_pressure: bool, now: DateTime<Utc>) -> Vec<NodeCondition> {
    let cond = |type_: &str, on: bool, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: if on { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(to_time(now)),
        last_transition_time: Some(to_time(now)),
    };
    vec![
        cond(
            "MemoryPressure",
            false,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        if disk_pressure {
            cond(
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
            )
        } else {
            cond(
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            )
        },
        cond(
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        cond(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
}

fn container_status(
    name: &str,
    image: &str,
    sim: &PodSim,
    start: DateTime<Utc>,
    key: &str,
) -> ContainerStatus {
    let at = |secs: f64| to_time(start + chrono::Duration::milliseconds((secs * 1000.0) as i64));
    let state = match &sim.run {
        Run::Running | Run::Starting { .. } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(at(sim.container_started)),
            }),
            ..Default::default()
        },
        Run::BackOff { .. } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: Some(format!(
                    "back-off {}s restarting failed container={name} pod={}",
                    (sim.backoff / 2.0).max(10.0) as u64,
                    key.split_once('/').map_or(key, |(_, n)| n)
                )),
            }),
            ..Default::default()
        },
    };
    let last_state = sim.last_exit.as_ref().map(|e| ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: e.code,
            reason: Some(e.reason.clone()),
            started_at: Some(at(e.started)),
            finished_at: Some(at(e.finished)),
            container_id: Some(format!(
                "containerd://{:064x}",
                pagerless_apiserver::controllers::fnv32a(format!("{key}{}", e.started).as_bytes())
            )),
            ..Default::default()
        }),
        ..Default::default()
    });
    ContainerStatus {
        name: name.to_owned(),
        image: image.to_owned(),
        image_id: format!(
            "{image}@sha256:{:064x}",
            pagerless_apiserver::controllers::fnv32a(image.as_bytes())
        ),
        ready: sim.ready(),
        started: Some(!matches!(sim.run, Run::BackOff { .. })),
        restart_count: sim.restarts as i32,
        state: Some(state),
        last_state,
        container_id: Some(format!(
            "containerd://{:064x}",
            pagerless_apiserver::controllers::fnv32a(
                format!("{key}{}", sim.container_started).as_bytes()
            )
        )),
        ..Default::default()
    }
}

/// Services with callers before callees.
fn topological(s: &Scenario) -> Vec<&crate::scenario::ServiceSpec> {
    let mut order: Vec<&crate::scenario::ServiceSpec> = Vec::new();
    fn visit<'a>(
        s: &'a Scenario,
        name: &str,
        seen: &mut Vec<&'a str>,
        out: &mut Vec<&'a crate::scenario::ServiceSpec>,
    ) {
        let Some(svc) = s.service(name) else { return };
        if seen.contains(&svc.name.as_str()) {
            return;
        }
        seen.push(&svc.name);
        for callee in &svc.calls {
            visit(s, callee, seen, out);
        }
        out.push(svc);
    }
    let mut seen = Vec::new();
    for svc in &s.services {
        visit(s, &svc.name, &mut seen, &mut order);
    }
    order.reverse();
    order
}
