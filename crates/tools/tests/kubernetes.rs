//! The Kubernetes tools against the lab's API server, in the seed incident:
//! order-service's memory limit lowered to 512Mi, OOMKills and back-offs.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use pagerless_apiserver::{ApiState, ContainerUsage, LogSource, MetricsSource, Usage};
use pagerless_lab::dynamics::PodSim;
use pagerless_lab::world::World;
use pagerless_tools::kubernetes::{
    DeploymentInfo, EventInfo, KubernetesConfig, LogLines, NodeInfo, PodInfo, TopInfo,
};
use pagerless_tools::{Tool, ToolError};
use serde_json::json;

/// Logs and usage straight from the simulated pods, as `lab run` serves them.
struct Sims(Arc<RwLock<BTreeMap<String, PodSim>>>);

impl LogSource for Sims {
    fn logs(&self, namespace: &str, pod: &str, _: Option<&str>, previous: bool) -> Option<String> {
        let sims = self.0.read().ok()?;
        let sim = sims.get(&format!("{namespace}/{pod}"))?;
        let lines = if previous {
            &sim.previous_logs
        } else {
            &sim.logs
        };
        if previous && lines.is_empty() {
            return None;
        }
        Some(lines.iter().map(|l| format!("{l}\n")).collect())
    }
}

impl MetricsSource for Sims {
    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>> {
        let sims = self.0.read().ok()?;
        let sim = sims.get(&format!("{namespace}/{pod}"))?;
        Some(vec![ContainerUsage {
            name: "main".into(),
            usage: Usage {
                cpu_nanocores: (sim.cpu_cores * 1e9) as u64,
                memory_bytes: sim.working_set as u64,
            },
        }])
    }

    fn node_usage(&self, _node: &str) -> Option<Usage> {
        Some(Usage::from_millicores(500, 4 << 30))
    }
}

struct Lab {
    _world: World,
    _dir: tempfile::TempDir,
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
}

async fn lab() -> Lab {
    let scenario = pagerless_lab::find_scenario("order-service-oom").unwrap();
    let mut world = World::new(scenario, None, None).unwrap();
    let mut steps = 0;
    while world.firing_alerts().is_empty() {
        world.step().unwrap();
        steps += 1;
        assert!(steps < 10_000, "no alert fired");
    }
    let now = world.now();
    let state = ApiState {
        cluster: world.cluster(),
        logs: Arc::new(Sims(world.sims())),
        metrics: Arc::new(Sims(world.sims())),
        now: Arc::new(move || now),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pagerless_apiserver::router(state)).await });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    pagerless_apiserver::write_kubeconfig(&kubeconfig, &format!("http://{addr}"), Some("shop"))
        .unwrap();
    let config = KubernetesConfig {
        kubeconfig: Some(kubeconfig),
        ..KubernetesConfig::default()
    };
    let tools = pagerless_tools::kubernetes::tools(&config)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name(), t))
        .collect();
    Lab {
        _world: world,
        _dir: dir,
        tools,
    }
}

#[tokio::test]
async fn seed_incident_seen_through_the_kubernetes_api() {
    let lab = lab().await;
    let call = |name: &'static str, args: serde_json::Value| {
        let tool = Arc::clone(&lab.tools[name]);
        async move { tool.call(&args).await }
    };

    // Pods: restarts, OOMKilled with exit 137, the 512Mi limit in bytes.
    let obs = call(
        "kubernetes.pods",
        json!({"namespace": "shop", "selector": "app=order-service"}),
    )
    .await
    .unwrap();
    assert_eq!(obs.tool, "kubernetes.pods");
    assert!(
        obs.query.contains("/api/v1/namespaces/shop/pods"),
        "{}",
        obs.query
    );
    let pods: Vec<PodInfo> = serde_json::from_value(obs.data.clone()).unwrap();
    assert!(!pods.is_empty());
    let oom = pods
        .iter()
        .flat_map(|p| &p.containers)
        .find(|c| c.name == "order-api-v2" && c.restarts > 0)
        .unwrap_or_else(|| panic!("no restarted order-api-v2: {pods:#?}"));
    let last = oom.last_terminated.as_ref().unwrap();
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(last.exit_code, 137);
    assert_eq!(oom.limits.memory, Some(536_870_912.0));
    assert!(pods.iter().all(|p| {
        p.owner
            .as_deref()
            .is_some_and(|o| o.starts_with("ReplicaSet/"))
    }));
    assert!(obs.summary.contains("OOMKilled"), "{}", obs.summary);
    assert!(obs.summary.contains("512Mi"), "{}", obs.summary);
    println!("pods: {}", obs.summary);

    // Deployment: the history shows the 2Gi revision before the 512Mi one.
    let obs = call(
        "kubernetes.deployment",
        json!({"namespace": "shop", "name": "order-service"}),
    )
    .await
    .unwrap();
    let d: DeploymentInfo = serde_json::from_value(obs.data.clone()).unwrap();
    assert!(d.history.len() >= 2, "{d:#?}");
    assert!(d.history.windows(2).all(|w| w[0].revision > w[1].revision));
    assert_eq!(d.history[0].revision, d.revision);
    assert_eq!(
        d.history[0].containers[0].limits.memory,
        Some(536_870_912.0)
    );
    assert_eq!(
        d.history[1].containers[0].limits.memory,
        Some(2_147_483_648.0)
    );
    assert_eq!(d.containers[0].limits.memory, Some(536_870_912.0));
    println!("deployment: {}", obs.summary);

    // Events: BackOff among them, newest first.
    let obs = call(
        "kubernetes.events",
        json!({"namespace": "shop", "object": "order-service"}),
    )
    .await
    .unwrap();
    let events: Vec<EventInfo> = serde_json::from_value(obs.data.clone()).unwrap();
    assert!(events.iter().any(|e| e.reason == "BackOff"), "{events:#?}");
    assert!(events.windows(2).all(|w| w[0].last_seen >= w[1].last_seen));
    println!("events: {}", obs.summary);

    // Logs of the instance that was killed.
    let pod = pods
        .iter()
        .find(|p| p.containers.iter().any(|c| c.last_terminated.is_some()))
        .unwrap();
    let obs = call(
        "kubernetes.logs",
        json!({"namespace": "shop", "pod": pod.name, "previous": true}),
    )
    .await
    .unwrap();
    let logs: LogLines = serde_json::from_value(obs.data.clone()).unwrap();
    assert!(logs.previous);
    assert!(
        logs.lines
            .iter()
            .any(|l| l.contains("heap close to container limit")),
        "{logs:#?}"
    );
    assert!(obs.query.contains("previous=true"));
    println!("logs: {}", obs.summary);

    // Nodes: three, all Ready.
    let obs = call("kubernetes.nodes", json!({})).await.unwrap();
    let nodes: Vec<NodeInfo> = serde_json::from_value(obs.data.clone()).unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes
            .iter()
            .all(|n| n.ready && n.allocatable.memory.is_some())
    );
    println!("nodes: {}", obs.summary);

    // Top: pod usage in bytes and cores.
    let obs = call("kubernetes.top", json!({"namespace": "shop"}))
        .await
        .unwrap();
    let top: TopInfo = serde_json::from_value(obs.data.clone()).unwrap();
    assert_eq!(top.nodes.len(), 3);
    assert_eq!(top.nodes[0].memory, (4u64 << 30) as f64);
    assert!(
        top.pods
            .iter()
            .any(|p| p.name.starts_with("shop/order-service-"))
    );
    println!("top: {}", obs.summary);

    // A missing pod: the API server's message, not retriable.
    let err = call(
        "kubernetes.logs",
        json!({"namespace": "shop", "pod": "no-such-pod"}),
    )
    .await
    .unwrap_err();
    match &err {
        ToolError::Backend {
            message, retriable, ..
        } => {
            assert!(message.contains("no-such-pod"), "{message}");
            assert!(!retriable);
        }
        other => panic!("{other:?}"),
    }
    let err = call(
        "kubernetes.deployment",
        json!({"namespace": "shop", "name": "nope"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ToolError::Backend {
                retriable: false,
                ..
            }
        ),
        "{err:?}"
    );
    let err = call("kubernetes.deployment", json!({"namespace": "shop"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::BadArguments { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_retriable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    pagerless_apiserver::write_kubeconfig(&kubeconfig, &format!("http://{addr}"), None).unwrap();
    let config = KubernetesConfig {
        kubeconfig: Some(kubeconfig),
        timeout_secs: 2,
        ..KubernetesConfig::default()
    };
    let tools = pagerless_tools::kubernetes::tools(&config).await.unwrap();
    let nodes = tools
        .iter()
        .find(|t| t.name() == "kubernetes.nodes")
        .unwrap();
    let err = nodes.call(&json!({})).await.unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
}
