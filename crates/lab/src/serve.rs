//! `pagerless lab run`: a world served on loopback as production would serve
//! it — the Kubernetes API on one port (with a kubeconfig), the Prometheus HTTP
//! API and `/metrics` on another, the IaC repository as a git remote, node
//! shells, and Alertmanager-format webhooks to a URL — while the virtual clock
//! runs as fast as it can, at N times real time, or in real time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use pagerless_apiserver::{ApiState, ContainerUsage, LogSource, MetricsSource, Usage};
use pagerless_promql::PromApi;
use serde::{Deserialize, Serialize};

use crate::dynamics::{PodSim, Run};
use crate::scenario::Scenario;
use crate::world::{World, WorldError};

/// How fast the virtual clock runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the CPU allows, to the scenario's end; then the world holds still.
    Fast,
    /// N simulated seconds per wall second.
    Speed(f64),
    /// One simulated second per wall second, with the clock on wall time.
    Realtime,
}

/// What `lab run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where the kubeconfig, `endpoints.json` and the IaC repository go.
    pub state_dir: PathBuf,
    /// Where alert webhooks go, if anywhere.
    pub webhook: Option<String>,
    /// Bearer token for the webhook.
    pub webhook_token: Option<String>,
    /// The clock's pace.
    pub pace: Pace,
    /// Also serve the IaC repository with `git daemon` on a free port.
    pub git_daemon: bool,
}

/// Where everything is served; written to `endpoints.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The Kubernetes API's URL (the kubeconfig beside it points there).
    pub kubernetes: String,
    /// The Prometheus HTTP API's base URL (also serves `/metrics`).
    pub prometheus: String,
    /// The IaC repository's remote (a path to a bare repository, or `git://` with the daemon).
    pub git: String,
    /// Where alerts are posted, if anywhere.
    pub webhook: Option<String>,
    /// Node shells: `POST {shell}/{node}` with `{"command": "df -h"}`.
    pub shell: String,
    /// The kubeconfig file.
    pub kubeconfig: String,
}

/// A failure to start or run the lab.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The world could not be built or stepped.
    #[error(transparent)]
    World(#[from] WorldError),
    /// A file or socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// The shared world and its clock.
///
/// Lock order: the world, then the cluster, then the pods' states. Handlers
/// of the Kubernetes API may hold the cluster while asking for logs or usage,
/// so those read only the pods' states and the usage snapshot, never the world.
#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    sims: Arc<RwLock<BTreeMap<String, PodSim>>>,
    usage: Arc<RwLock<UsageSnapshot>>,
    now_ms: Arc<AtomicI64>,
    start: DateTime<Utc>,
}

/// Resource usage after the last step: pods (key → container, usage) and nodes.
#[derive(Debug, Default)]
struct UsageSnapshot {
    pods: BTreeMap<String, (String, Usage)>,
    nodes: BTreeMap<String, Usage>,
}

impl UsageSnapshot {
    fn of(world: &World) -> UsageSnapshot {
        let mut snap = UsageSnapshot::default();
        let cluster = world.cluster();
        let (Ok(c), Ok(sims)) = (cluster.read(), world.sims().read().map(|s| s.clone())) else {
            return snap;
        };
        for n in c.iter::<k8s_openapi::api::core::v1::Node>(None) {
            if let Some(name) = &n.metadata.name {
                snap.nodes.insert(
                    name.clone(),
                    Usage {
                        cpu_nanocores: 100_000_000,
                        memory_bytes: 1_610_612_736,
                    },
                );
            }
        }
        for p in c.iter::<k8s_openapi::api::core::v1::Pod>(None) {
            let key = crate::world::pod_key(p);
            let Some(sim) = sims.get(&key) else { continue };
            if matches!(sim.run, Run::BackOff { .. }) {
                continue;
            }
            let Some(spec) = p.spec.as_ref() else {
                continue;
            };
            let Some(container) = spec.containers.first() else {
                continue;
            };
            let usage = Usage {
                cpu_nanocores: (sim.cpu_cores * 1e9) as u64,
                memory_bytes: sim.working_set as u64,
            };
            if let Some(node) = spec.node_name.as_ref().and_then(|n| snap.nodes.get_mut(n)) {
                node.cpu_nanocores += usage.cpu_nanocores;
                node.memory_bytes += usage.memory_bytes;
            }
            snap.pods.insert(key, (container.name.clone(), usage));
        }
        snap
    }
}

impl LogSource for Shared {
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        previous: bool,
    ) -> Option<String> {
        let sims = self.sims.read().ok()?;
        let sim = sims.get(&format!("{namespace}/{pod}"))?;
        let lines = if previous {
            &sim.previous_logs
        } else {
            &sim.logs
        };
        if previous && lines.is_empty() {
            return None;
        }
        let mut out = String::new();
        for line in lines {
            out.push_str(&wall_clock_line(line, self.start));
            out.push('\n');
        }
        Some(out)
    }
}

impl MetricsSource for Shared {
    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>> {
        let snap = self.usage.read().ok()?;
        let (name, usage) = snap.pods.get(&format!("{namespace}/{pod}"))?;
        Some(vec![ContainerUsage {
            name: name.clone(),
            usage: *usage,
        }])
    }

    fn node_usage(&self, node: &str) -> Option<Usage> {
        self.usage.read().ok()?.nodes.get(node).copied()
    }
}

/// `@123.4 INFO ...` (seconds since the start) → `2026-01-05T08:02:03.400Z INFO ...`.
fn wall_clock_line(line: &str, start: DateTime<Utc>) -> String {
    let Some(rest) = line.strip_prefix('@') else {
        return line.to_owned();
    };
    let (secs, msg) = rest.split_once(' ').unwrap_or((rest, ""));
    match secs.parse::<f64>() {
        Ok(s) => {
            let t = start + chrono::Duration::milliseconds((s * 1000.0) as i64);
            format!(
                "{} {msg}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        }
        Err(_) => line.to_owned(),
    }
}

#[derive(Deserialize)]
struct Exec {
    command: String,
}

async fn node_exec(
    State(shared): State<Shared>,
    UrlPath(node): UrlPath<String>,
    Json(exec): Json<Exec>,
) -> impl IntoResponse {
    let Ok(world) = shared.world.lock() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": "world lock poisoned"})),
        );
    };
    match world.node_shell(&node, &exec.command) {
        Some(stdout) => (
            StatusCode::OK,
            Json(serde_json::json!({"stdout": stdout, "exit_code": 0})),
        ),
        None if world.scenario().nodes.iter().any(|n| n.name == node) => (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": format!("`{}` is not an allowed command; allowed: {}", exec.command, crate::node_shell::COMMANDS.join(", "))
            })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": format!("no node `{node}`")})),
        ),
    }
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    let (series, now) = {
        let Ok(world) = shared.world.lock() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
        };
        (world.series(), world.now().timestamp_millis())
    };
    let mut out = Vec::new();
    let written = series
        .read()
        .map(|s| pagerless_promql::write_exposition(&s, now, &mut out));
    match written {
        Ok(Ok(())) => (StatusCode::OK, String::from_utf8_lossy(&out).into_owned()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
    }
}

/// `POST /lab/v1/iac/sync`: roll out what main holds now, without waiting for
/// the simulated minute's poll.
async fn iac_sync(State(shared): State<Shared>) -> impl IntoResponse {
    let Ok(mut world) = shared.world.lock() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({"error": "world lock poisoned"})),
        );
    };
    match world.sync_iac() {
        Ok(deployed) => (
            StatusCode::OK,
            Json(serde_json::json!({"deployed": deployed})),
        ),
        Err(e) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"error": e.to_string()})),
        ),
    }
}

async fn status(State(shared): State<Shared>) -> impl IntoResponse {
    let Ok(world) = shared.world.lock() else {
        return Json(serde_json::json!({"error": "world lock poisoned"}));
    };
    Json(serde_json::json!({
        "scenario": world.scenario().name,
        "now": world.now().to_rfc3339(),
        "elapsed_secs": world.elapsed_secs(),
        "firing": world.firing_alerts(),
        "commits": world.commits().iter().map(|c| serde_json::json!({"hash": c.hash, "at": c.at.to_rfc3339(), "message": c.message})).collect::<Vec<_>>(),
    }))
}

/// A world served on loopback: the Kubernetes API, the Prometheus API and lab
/// endpoints, the IaC remote. Its clock moves only when [`LabHandle::step`] is
/// called, so a caller (`lab run`, an evaluation) decides the pace.
pub struct LabHandle {
    shared: Shared,
    endpoints: Endpoints,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _daemon: Option<tokio::process::Child>,
}

impl LabHandle {
    /// Serves `world` on free loopback ports and writes `state_dir/kubeconfig`.
    pub async fn serve(
        world: World,
        state_dir: &Path,
        git_daemon: bool,
        webhook: Option<String>,
    ) -> Result<LabHandle, ServeError> {
        std::fs::create_dir_all(state_dir)
            .map_err(io(format!("cannot create {}", state_dir.display())))?;
        let repo_dir = world
            .repo()
            .and_then(|r| r.remote().parent().map(Path::to_owned))
            .unwrap_or_else(|| state_dir.join("iac"));
        let shared = Shared {
            sims: world.sims(),
            usage: Arc::new(RwLock::new(UsageSnapshot::of(&world))),
            now_ms: Arc::new(AtomicI64::new(world.now().timestamp_millis())),
            start: world.start(),
            world: Arc::new(Mutex::new(world)),
        };
        let (cluster, series, remote) = {
            let w = shared
                .world
                .lock()
                .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
            let remote = w
                .repo()
                .map(|r| r.remote().display().to_string())
                .unwrap_or_default();
            (w.cluster(), w.series(), remote)
        };

        let now_ms = Arc::clone(&shared.now_ms);
        let kube_state = ApiState {
            cluster,
            logs: Arc::new(shared.clone()),
            metrics: Arc::new(shared.clone()),
            now: Arc::new(move || {
                DateTime::from_timestamp_millis(now_ms.load(Ordering::Relaxed)).unwrap_or_default()
            }),
        };
        let kube = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io("cannot listen for the Kubernetes API"))?;
        let kube_addr: SocketAddr = kube.local_addr().map_err(io("local address"))?;
        let now_ms = Arc::clone(&shared.now_ms);
        let prom_api = PromApi::new(series, Arc::new(move || now_ms.load(Ordering::Relaxed)));
        let prom_router = pagerless_promql::router(prom_api).merge(
            axum::Router::new()
                .route("/metrics", get(metrics))
                .route("/lab/v1/status", get(status))
                .route("/lab/v1/iac/sync", post(iac_sync))
                .route("/lab/v1/nodes/{node}", post(node_exec))
                .with_state(shared.clone()),
        );
        let prom = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io("cannot listen for the Prometheus API"))?;
        let prom_addr = prom.local_addr().map_err(io("local address"))?;
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(kube, pagerless_apiserver::router(kube_state)).await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(prom, prom_router).await;
            }),
        ];

        let mut git = remote.clone();
        let mut daemon = None;
        if git_daemon {
            let port = free_port().map_err(io("cannot find a port for git daemon"))?;
            let child = tokio::process::Command::new("git")
                .args([
                    "daemon",
                    "--export-all",
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", repo_dir.display()))
                .arg(&repo_dir)
                .kill_on_drop(true)
                .spawn()
                .map_err(io("cannot start git daemon"))?;
            daemon = Some(child);
            git = format!("git://127.0.0.1:{port}/iac.git");
        }

        let kubeconfig = state_dir.join("kubeconfig");
        pagerless_apiserver::write_kubeconfig(&kubeconfig, &format!("http://{kube_addr}"), None)
            .map_err(io(format!("cannot write {}", kubeconfig.display())))?;
        let endpoints = Endpoints {
            kubernetes: format!("http://{kube_addr}"),
            prometheus: format!("http://{prom_addr}"),
            git,
            webhook,
            shell: format!("http://{prom_addr}/lab/v1/nodes"),
            kubeconfig: kubeconfig.display().to_string(),
        };
        Ok(LabHandle {
            shared,
            endpoints,
            tasks,
            _daemon: daemon,
        })
    }

    /// Where everything is served.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The world.
    pub fn world(&self) -> Arc<Mutex<World>> {
        Arc::clone(&self.shared.world)
    }

    /// Moves the world one step and publishes its new time and usage.
    pub fn step(&self) -> Result<crate::alerts::Changes, WorldError> {
        let mut w = self
            .shared
            .world
            .lock()
            .map_err(|_| WorldError::Cluster("lock poisoned".into()))?;
        let changes = w.step()?;
        self.shared
            .now_ms
            .store(w.now().timestamp_millis(), Ordering::Relaxed);
        let snap = UsageSnapshot::of(&w);
        if let Ok(mut u) = self.shared.usage.write() {
            *u = snap;
        }
        Ok(changes)
    }
}

impl Drop for LabHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serves `scenario` until `stop` completes. Calls `ready` once everything listens.
pub async fn run(
    scenario: Scenario,
    opts: RunOptions,
    ready: impl FnOnce(&Endpoints),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(io(format!("cannot create {}", opts.state_dir.display())))?;
    let repo_dir = opts.state_dir.join("iac");
    if repo_dir.exists() {
        std::fs::remove_dir_all(&repo_dir)
            .map_err(io(format!("cannot clear {}", repo_dir.display())))?;
    }
    // Run fast, the world ends about now; paced, it starts now. Either way
    // kubectl's ages and Prometheus' "now" read sensibly.
    let now = Utc::now().timestamp();
    let now = now - now % scenario.step.0.max(1);
    let start = match opts.pace {
        Pace::Fast => DateTime::from_timestamp(now - scenario.duration.0, 0),
        Pace::Realtime | Pace::Speed(_) => DateTime::from_timestamp(now, 0),
    };
    let world = World::new(scenario.clone(), Some(&repo_dir), start)?;
    let lab = LabHandle::serve(
        world,
        &opts.state_dir,
        opts.git_daemon,
        opts.webhook.clone(),
    )
    .await?;
    let endpoints = lab.endpoints().clone();
    let shared = lab.shared.clone();
    // For a real Prometheus: the scenario's rules, and a configuration that
    // scrapes this lab and sends alerts to an Alertmanager on its usual port.
    let rules = opts.state_dir.join("rules.yml");
    std::fs::write(&rules, crate::alerts::prometheus_rules(&scenario))
        .map_err(io(format!("cannot write {}", rules.display())))?;
    let prom = opts.state_dir.join("prometheus.yml");
    std::fs::write(
        &prom,
        crate::alerts::prometheus_config(
            &format!("{}/metrics", endpoints.prometheus),
            &rules.to_string_lossy(),
            "127.0.0.1:9093",
        ),
    )
    .map_err(io(format!("cannot write {}", prom.display())))?;
    let path = opts.state_dir.join("endpoints.json");
    let json = serde_json::to_string_pretty(&endpoints).unwrap_or_default();
    std::fs::write(&path, json + "\n").map_err(io(format!("cannot write {}", path.display())))?;
    ready(&endpoints);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok();
    let step_secs = scenario.step.0 as f64;
    let end = scenario.duration.0;
    let clock = async {
        loop {
            let elapsed = match shared.world.lock() {
                Ok(w) => w.elapsed_secs(),
                Err(_) => break,
            };
            if opts.pace == Pace::Fast && elapsed >= end {
                break;
            }
            let changes = match lab.step() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "the world failed to step");
                    break;
                }
            };
            let elapsed = elapsed + scenario.step.0;
            for (name, alerts) in &changes {
                let firing = alerts.iter().filter(|a| a.resolved_at.is_none()).count();
                tracing::info!(alert = %name, firing, elapsed, "alert group changed");
                if let (Some(url), Some(http)) = (&opts.webhook, &http) {
                    let expr = scenario
                        .alerts
                        .iter()
                        .find(|r| &r.name == name)
                        .map(|r| r.expr.as_str())
                        .unwrap_or_default();
                    let generator = crate::alerts::generator_url(&endpoints.prometheus, expr);
                    let body =
                        crate::alerts::webhook(name, alerts, &endpoints.prometheus, &generator);
                    post_webhook(http, url, opts.webhook_token.as_deref(), &body).await;
                }
            }
            match opts.pace {
                Pace::Fast => tokio::task::yield_now().await,
                Pace::Speed(n) => {
                    tokio::time::sleep(Duration::from_secs_f64(step_secs / n.max(0.001))).await
                }
                Pace::Realtime => tokio::time::sleep(Duration::from_secs_f64(step_secs)).await,
            }
        }
    };
    // Run fast, the world holds still at its end and stays served until `stop`.
    let hold = async {
        clock.await;
        if opts.pace == Pace::Fast {
            tracing::info!("the scenario reached its end; the world holds still");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = hold => {},
        () = stop => {},
    }
    Ok(())
}

async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) {
    for attempt in 0..3u32 {
        let mut req = http.post(url).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_client_error() => {
                tracing::warn!(status = %r.status(), %url, "webhook refused");
                return;
            }
            Ok(r) => {
                tracing::warn!(status = %r.status(), attempt, %url, "webhook failed; retrying")
            }
            Err(e) => tracing::warn!(error = %e, attempt, %url, "webhook failed; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}

fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// Reads `endpoints.json` from a state dir.
pub fn read_endpoints(state_dir: &Path) -> Option<Endpoints> {
    let text = std::fs::read_to_string(state_dir.join("endpoints.json")).ok()?;
    serde_json::from_str(&text).ok()
}
