//! kube-rs 5 (with k8s-openapi v1_33) against the in-memory API server.
#![allow(clippy::unwrap_used, missing_docs)]

mod world;

use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use kube::{Client, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_lists_gets_patches_and_reads_logs() {
    let (cluster, victim) = world::build();
    let cluster = Arc::new(RwLock::new(cluster));
    let url = world::serve(cluster.clone()).await;
    let client = Client::try_from(Config::new(url.parse().unwrap())).unwrap();

    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let listed = pods
        .list(&ListParams::default().labels("app=order-service"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    assert!(listed.metadata.resource_version.is_some());
    let set_based = pods
        .list(&ListParams::default().labels("app in (payment-service)"))
        .await
        .unwrap();
    assert_eq!(set_based.items.len(), 1);
    let on_node = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("node-1"))
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let d = deployments.get("order-service").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(d.status.as_ref().unwrap().ready_replicas, Some(1));

    let patch = serde_json::json!({"spec": {"replicas": 3}});
    let patched = deployments
        .patch(
            "order-service",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    assert_eq!(patched.metadata.generation, Some(2));
    {
        let mut c = cluster.write().unwrap();
        pagerless_apiserver::reconcile(&mut c, world::t0() + chrono::Duration::minutes(6));
        assert_eq!(world::order_pods(&c).len(), 3);
    }

    let logs = pods.logs(&victim, &LogParams::default()).await.unwrap();
    assert!(logs.contains("listening on :8080"), "{logs}");
    let previous = pods
        .logs(
            &victim,
            &LogParams {
                previous: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(previous, "java.lang.OutOfMemoryError: Java heap space\n");

    let err = pods.get("nope").await.unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "pods \"nope\" not found");
        }
        other => panic!("expected a NotFound status, got {other:?}"),
    }
}
