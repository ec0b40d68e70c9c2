//! Controller tests: deterministic names, revisions on rollout and rollback, scheduling.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet};
use k8s_openapi::api::core::v1::{
    Container, Event, Namespace, Node, NodeSpec, NodeStatus, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::deployment::{REVISION, revision};
use super::reconcile;
use crate::store::Cluster;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(Into::into),
        ..Default::default()
    }
}

fn node(name: &str, memory: &str) -> Node {
    let alloc = BTreeMap::from([
        ("cpu".to_string(), Quantity("2".into())),
        ("memory".to_string(), Quantity(memory.into())),
    ]);
    Node {
        metadata: meta(name, None),
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(alloc),
            ..Default::default()
        }),
    }
}

fn deployment(replicas: i32, image: &str, memory: &str) -> Deployment {
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    Deployment {
        metadata: meta("web", Some("shop")),
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
                        name: "app".into(),
                        image: Some(image.into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "memory".to_string(),
                                Quantity(memory.into()),
                            )])),
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

fn world(replicas: i32) -> Cluster {
    let mut c = Cluster::new();
    c.create(
        Namespace {
            metadata: meta("shop", None),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    c.create(node("n1", "4Gi"), now()).unwrap();
    c.create(node("n2", "4Gi"), now()).unwrap();
    c.create(deployment(replicas, "web:1", "1Gi"), now())
        .unwrap();
    reconcile(&mut c, now());
    c
}

fn pod_names(c: &Cluster) -> Vec<String> {
    c.list::<Pod>(Some("shop"))
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect()
}

fn set_image(c: &mut Cluster, image: &str) {
    let mut d: Deployment = c.get(Some("shop"), "web").unwrap();
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some(image.into());
    c.update(d).unwrap();
}

#[test]
fn same_scenario_same_world() {
    let (a, b) = (world(3), world(3));
    assert_eq!(pod_names(&a), pod_names(&b));
    assert_eq!(pod_names(&a).len(), 3);
    let pa: Vec<Pod> = a.list(None);
    let pb: Vec<Pod> = b.list(None);
    assert_eq!(
        serde_json::to_string(&pa).unwrap(),
        serde_json::to_string(&pb).unwrap()
    );
    for name in pod_names(&a) {
        let suffix = name.rsplit('-').next().unwrap();
        assert_eq!(suffix.len(), 5, "{name}");
        assert!(name.starts_with("web-"), "{name}");
    }
    // Reconciling a converged world changes nothing.
    let mut a = a;
    let rv = a.resource_version();
    reconcile(&mut a, now());
    assert_eq!(a.resource_version(), rv);
}

/// Reconciles until nothing changes, checking on every round that no more
/// pods are unavailable than `maxUnavailable` allows and no more exist than
/// `maxSurge` allows. Returns the rounds it took.
fn roll_out(c: &mut crate::Cluster) -> usize {
    for round in 1..=20 {
        let before = c.resource_version();
        reconcile(c, now());
        let d: Deployment = c.get(Some("shop"), "web").unwrap();
        let want = d.spec.as_ref().unwrap().replicas.unwrap();
        let (surge, unavailable) = crate::controllers::deployment::surge_and_unavailable(&d);
        let pods: Vec<Pod> = c.list(Some("shop"));
        let ready = pods
            .iter()
            .filter(|p| crate::pod_status::pod_is_ready(p))
            .count() as i32;
        assert!(
            ready >= want - unavailable,
            "round {round}: {ready} ready of {want}"
        );
        assert!(
            pods.len() as i32 <= want + surge,
            "round {round}: {} pods",
            pods.len()
        );
        if c.resource_version() == before {
            return round;
        }
    }
    panic!("the rollout did not settle");
}

#[test]
fn rollout_and_rollback_revisions() {
    let mut c = world(2);
    let first: Vec<ReplicaSet> = c.list(Some("shop"));
    assert_eq!(first.len(), 1);
    assert_eq!(revision(&first[0].metadata), 1);
    let first_name = first[0].metadata.name.clone().unwrap();
    let labels = first[0].metadata.labels.clone().unwrap();
    assert_eq!(first_name, format!("web-{}", labels["pod-template-hash"]));

    set_image(&mut c, "web:2");
    let rounds = roll_out(&mut c);
    assert!(
        rounds > 1,
        "a rolling update takes several rounds, not one: {rounds}"
    );
    let d: Deployment = c.get(Some("shop"), "web").unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(d.status.as_ref().unwrap().observed_generation, Some(2));
    assert_eq!(d.metadata.annotations.as_ref().unwrap()[REVISION], "2");
    let sets: Vec<ReplicaSet> = c.list(Some("shop"));
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(&first_name))
        .unwrap();
    let new = sets
        .iter()
        .find(|r| r.metadata.name.as_deref() != Some(&first_name))
        .unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(new.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(revision(&new.metadata), 2);
    let pods: Vec<Pod> = c.list(Some("shop"));
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("web:2"))
    );
    assert!(
        pods.iter()
            .all(|p| p.metadata.owner_references.as_ref().unwrap()[0].name
                == *new.metadata.name.as_ref().unwrap())
    );

    // Back to the first template: its ReplicaSet is reused and takes revision 3.
    set_image(&mut c, "web:1");
    roll_out(&mut c);
    let sets: Vec<ReplicaSet> = c.list(Some("shop"));
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(&first_name))
        .unwrap();
    assert_eq!(revision(&old.metadata), 3);
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(2));
    let d: Deployment = c.get(Some("shop"), "web").unwrap();
    assert_eq!(d.metadata.annotations.as_ref().unwrap()[REVISION], "3");
    let status = d.status.unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.available_replicas
        ),
        (Some(2), Some(2), Some(2))
    );
}

#[test]
fn scheduler_spreads_and_reports_failures() {
    let c = world(4);
    let pods: Vec<Pod> = c.list(Some("shop"));
    let on = |n: &str| {
        pods.iter()
            .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(n))
            .count()
    };
    assert_eq!((on("n1"), on("n2")), (2, 2));
    assert!(
        pods.iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );

    // 4Gi per node, 1Gi per pod: the ninth pod cannot fit.
    let mut c = world(9);
    let pods: Vec<Pod> = c.list(Some("shop"));
    let pending: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.spec.as_ref().unwrap().node_name.is_none())
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    let events: Vec<Event> = c.list(Some("shop"));
    let failed = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .unwrap();
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .starts_with("0/2 nodes are available: 2 Insufficient memory.")
    );

    // A repeat aggregates into the same event.
    reconcile(&mut c, now());
    let events: Vec<Event> = c.list(Some("shop"));
    let failed: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].count, Some(2));

    // Cordoned nodes take nothing.
    let mut c = world(0);
    for n in ["n1", "n2"] {
        let mut node: Node = c.get(None, n).unwrap();
        node.spec.as_mut().unwrap().unschedulable = Some(true);
        c.update(node).unwrap();
    }
    let mut d: Deployment = c.get(Some("shop"), "web").unwrap();
    d.spec.as_mut().unwrap().replicas = Some(1);
    c.update(d).unwrap();
    reconcile(&mut c, now());
    let pods: Vec<Pod> = c.list(Some("shop"));
    assert!(pods[0].spec.as_ref().unwrap().node_name.is_none());
}

#[test]
fn deleted_pods_are_replaced_and_orphans_collected() {
    let mut c = world(2);
    let names = pod_names(&c);
    c.delete::<Pod>(Some("shop"), &names[0]).unwrap();
    reconcile(&mut c, now());
    let after = pod_names(&c);
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&names[0]));

    c.delete::<Deployment>(Some("shop"), "web").unwrap();
    reconcile(&mut c, now());
    assert!(c.list::<ReplicaSet>(None).is_empty());
    assert!(c.list::<Pod>(None).is_empty());
}

#[test]
fn stale_updates_conflict() {
    let mut c = world(1);
    let d: Deployment = c.get(Some("shop"), "web").unwrap();
    let mut fresh = d.clone();
    fresh.spec.as_mut().unwrap().replicas = Some(2);
    c.update(fresh).unwrap();
    let err = c.update(d).unwrap_err();
    assert_eq!(err.code(), 409);
}

/// A 1,000-node, 10,000-pod fleet: the first reconcile builds it, a converged step is cheap.
/// Run with `cargo test --release -p pagerless-apiserver fleet -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn fleet_of_ten_thousand_pods() {
    let mut c = Cluster::new();
    c.create(
        Namespace {
            metadata: meta("shop", None),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    for i in 0..1000 {
        c.create(node(&format!("node-{i:04}"), "64Gi"), now())
            .unwrap();
    }
    for i in 0..100 {
        let mut d = deployment(100, "web:1", "64Mi");
        d.metadata.name = Some(format!("svc-{i:03}"));
        let labels = BTreeMap::from([("app".to_string(), format!("svc-{i:03}"))]);
        let spec = d.spec.as_mut().unwrap();
        spec.selector.match_labels = Some(labels.clone());
        spec.template.metadata.as_mut().unwrap().labels = Some(labels);
        c.create(d, now()).unwrap();
    }
    let t = std::time::Instant::now();
    reconcile(&mut c, now());
    println!("first reconcile: {:?}", t.elapsed());
    assert_eq!(c.list::<Pod>(None).len(), 10_000);
    let t = std::time::Instant::now();
    let rv = c.resource_version();
    reconcile(&mut c, now());
    println!("converged reconcile: {:?}", t.elapsed());
    assert_eq!(c.resource_version(), rv);
    let t = std::time::Instant::now();
    let names: Vec<(String, String)> = c
        .iter::<Pod>(None)
        .map(|p| {
            (
                p.metadata.namespace.clone().unwrap(),
                p.metadata.name.clone().unwrap(),
            )
        })
        .collect();
    for (ns, name) in &names {
        let mut p: Pod = c.get(Some(ns), name).unwrap();
        p.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count += 1;
        c.update(p).unwrap();
    }
    reconcile(&mut c, now());
    println!(
        "10,000 pod status updates and a reconcile: {:?}",
        t.elapsed()
    );
}

#[test]
fn node_selectors_pin_pods_to_matching_nodes() {
    use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut c = crate::Cluster::new();
    c.create(
        k8s_openapi::api::core::v1::Namespace {
            metadata: ObjectMeta {
                name: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        },
        now,
    )
    .unwrap();
    for name in ["node-a", "node-b"] {
        c.create(
            Node {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(BTreeMap::from([(
                        "kubernetes.io/hostname".into(),
                        name.into(),
                    )])),
                    ..Default::default()
                },
                ..Default::default()
            },
            now,
        )
        .unwrap();
    }
    for i in 0..4 {
        c.create(
            Pod {
                metadata: ObjectMeta {
                    name: Some(format!("p{i}")),
                    namespace: Some("ns".into()),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    node_selector: Some(BTreeMap::from([(
                        "kubernetes.io/hostname".into(),
                        "node-b".into(),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    }
    crate::reconcile(&mut c, now);
    for p in c.list::<Pod>(Some("ns")) {
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("node-b"));
    }
}
