//! A small world for the integration tests: two nodes, namespace `shop`, `order-service`
//! (one pod OOMKilled and in CrashLoopBackOff) and a downstream `payment-service`, served on a
//! free loopback port with test logs and metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, TimeZone, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStateWaiting, Namespace, Node,
    NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use pagerless_apiserver::time::to_time;
use pagerless_apiserver::{
    ApiState, Cluster, ContainerUsage, LogSource, MetricsSource, Usage, object_reference, reconcile,
};

/// The virtual time the world was built at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap()
}

fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn node(name: &str, ip: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([
                ("kubernetes.io/hostname".to_string(), name.to_string()),
                ("node-role.kubernetes.io/worker".to_string(), String::new()),
            ])),
            ..Default::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(BTreeMap::from([
                ("cpu".into(), q("4")),
                ("memory".into(), q("16Gi")),
            ])),
            capacity: Some(BTreeMap::from([
                ("cpu".into(), q("4")),
                ("memory".into(), q("16Gi")),
            ])),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                message: Some("kubelet is posting ready status".into()),
                ..Default::default()
            }]),
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            node_info: Some(NodeSystemInfo {
                kubelet_version: "v1.33.0".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                kernel_version: "6.1.0".into(),
                container_runtime_version: "containerd://1.7.24".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A deployment of one container.
pub fn deployment(
    name: &str,
    container: &str,
    image: &str,
    replicas: i32,
    memory_limit: &str,
) -> Deployment {
    let labels = BTreeMap::from([("app".to_string(), name.to_string())]);
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shop".into()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: container.into(),
                        image: Some(image.into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".into(), q("250m")),
                                ("memory".into(), q("256Mi")),
                            ])),
                            limits: Some(BTreeMap::from([("memory".into(), q(memory_limit))])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Puts `pod` into CrashLoopBackOff after its third OOM kill.
pub fn oom_kill(cluster: &mut Cluster, pod: &str, now: DateTime<Utc>) {
    let mut p: Pod = cluster.get(Some("shop"), pod).unwrap();
    let status = p.status.as_mut().unwrap();
    let c = &mut status.container_statuses.as_mut().unwrap()[0];
    c.restart_count = 3;
    c.ready = false;
    c.started = Some(false);
    c.last_state = Some(ContainerState {
        terminated: Some(ContainerStateTerminated {
            reason: Some("OOMKilled".into()),
            exit_code: 137,
            started_at: Some(to_time(now - Duration::seconds(90))),
            finished_at: Some(to_time(now - Duration::seconds(30))),
            ..Default::default()
        }),
        ..Default::default()
    });
    c.state = Some(ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some("CrashLoopBackOff".into()),
            message: Some(format!(
                "back-off 40s restarting failed container=order-api-v2 pod={pod}"
            )),
        }),
        ..Default::default()
    });
    p.metadata.resource_version = None;
    let p = cluster.update(p).unwrap();
    for _ in 0..3 {
        cluster
            .record_event(
                object_reference(&p),
                "BackOff",
                "Back-off restarting failed container order-api-v2 in pod",
                "Warning",
                now,
            )
            .unwrap();
    }
}

/// The world, reconciled; returns the cluster and the name of the crashing pod.
pub fn build() -> (Cluster, String) {
    let now = t0();
    let mut c = Cluster::new();
    for ns in ["default", "shop"] {
        let n = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        c.create(n, now).unwrap();
    }
    c.create(node("node-1", "10.0.0.11"), now).unwrap();
    c.create(node("node-2", "10.0.0.12"), now).unwrap();
    c.create(
        deployment(
            "order-service",
            "order-api-v2",
            "registry.example/order-api:2.0.0",
            2,
            "512Mi",
        ),
        now,
    )
    .unwrap();
    c.create(
        deployment(
            "payment-service",
            "payment-api",
            "registry.example/payment-api:1.4.2",
            1,
            "256Mi",
        ),
        now,
    )
    .unwrap();
    reconcile(&mut c, now);
    let later = now + Duration::minutes(5);
    let victim = order_pods(&c)[0].clone();
    oom_kill(&mut c, &victim, later);
    reconcile(&mut c, later);
    (c, victim)
}

/// Names of the order-service pods.
pub fn order_pods(c: &Cluster) -> Vec<String> {
    c.list::<Pod>(Some("shop"))
        .into_iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some("order-service")
        })
        .map(|p| p.metadata.name.unwrap())
        .collect()
}

/// Logs: two lines per pod, a previous instance that ran out of memory.
pub struct TestLogs;

impl LogSource for TestLogs {
    fn logs(
        &self,
        _ns: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Option<String> {
        let c = container.unwrap_or("?");
        if previous {
            let mut s = String::new();
            for i in 1..=8 {
                s.push_str(&format!("{pod}/{c} previous line {i}\n"));
            }
            s.push_str("java.lang.OutOfMemoryError: Java heap space\n");
            Some(s)
        } else {
            Some(format!("{pod}/{c} started\n{pod}/{c} listening on :8080\n"))
        }
    }
}

/// Metrics: every container uses 120m and 300Mi; nodes 1500m and 6Gi.
pub struct TestMetrics;

impl MetricsSource for TestMetrics {
    fn pod_usage(&self, _ns: &str, _pod: &str) -> Option<Vec<ContainerUsage>> {
        Some(vec![ContainerUsage {
            name: "main".into(),
            usage: Usage::from_millicores(120, 300 * 1024 * 1024),
        }])
    }
    fn node_usage(&self, _node: &str) -> Option<Usage> {
        Some(Usage::from_millicores(1500, 6 * 1024 * 1024 * 1024))
    }
}

/// Serves `cluster` on a free loopback port; returns the URL.
pub async fn serve(cluster: Arc<RwLock<Cluster>>) -> String {
    let state = ApiState {
        cluster,
        logs: Arc::new(TestLogs),
        metrics: Arc::new(TestMetrics),
        now: Arc::new(|| t0() + Duration::minutes(6)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, pagerless_apiserver::router(state))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}
