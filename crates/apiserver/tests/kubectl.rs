//! The real kubectl (v1.32, `/usr/bin/kubectl`) against the in-memory API server.
#![allow(clippy::unwrap_used, missing_docs)]

mod world;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use pagerless_apiserver::{Cluster, reconcile, write_kubeconfig};

const KUBECTL: &str = "/usr/bin/kubectl";

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        assert!(
            Path::new(KUBECTL).exists(),
            "kubectl is missing at {KUBECTL}: install kubectl v1.32 to run this test"
        );
        let out = tokio::process::Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(
            ok,
            "kubectl {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}"
        );
        println!("$ kubectl {}\n{stdout}", args.join(" "));
        stdout
    }
}

/// What the lab's next steps do: reconcile until nothing changes (a rolling
/// update takes several rounds).
fn lab_step(cluster: &Arc<RwLock<Cluster>>) {
    let mut c = cluster.write().unwrap();
    for _ in 0..20 {
        let before = c.resource_version();
        reconcile(&mut c, world::t0() + chrono::Duration::minutes(6));
        if c.resource_version() == before {
            return;
        }
    }
    panic!("the cluster did not settle");
}

fn replica_sets(cluster: &Arc<RwLock<Cluster>>) -> Vec<ReplicaSet> {
    let c = cluster.read().unwrap();
    c.list::<ReplicaSet>(Some("shop"))
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("order-service-")
        })
        .collect()
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().unwrap().replicas.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_the_lab_cluster() {
    let (cluster, victim) = world::build();
    let cluster = Arc::new(RwLock::new(cluster));
    let url = world::serve(cluster.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &url, Some("shop")).unwrap();
    let k = Kubectl {
        kubeconfig,
        cache: dir.path().join("cache"),
    };

    // get pods, across namespaces and wide
    let out = k.ok(&["get", "pods", "-A"]).await;
    assert!(out.starts_with("NAMESPACE"), "{out}");
    assert!(out.contains("READY") && out.contains("RESTARTS"), "{out}");
    let line = out.lines().find(|l| l.contains(&victim)).unwrap();
    assert!(
        line.contains("shop") && line.contains("0/1") && line.contains("CrashLoopBackOff"),
        "{line}"
    );
    assert!(line.contains("3 (90s ago)"), "{line}");
    assert!(
        out.lines().filter(|l| l.contains("Running")).count() >= 2,
        "{out}"
    );

    let out = k.ok(&["get", "pods", "-o", "wide"]).await;
    assert!(
        out.contains("IP") && out.contains("NODE") && out.contains("NOMINATED NODE"),
        "{out}"
    );
    assert!(out.contains("10.244.") && out.contains("node-"), "{out}");

    let out = k.ok(&["get", "pods", "-l", "app=payment-service"]).await;
    assert_eq!(out.lines().count(), 2, "{out}");

    // describe: last state, exit code, restarts, events
    let out = k.ok(&["describe", "pod", &victim]).await;
    assert!(out.contains("CrashLoopBackOff"), "{out}");
    assert!(out.contains("Last State:     Terminated"), "{out}");
    assert!(out.contains("OOMKilled"), "{out}");
    assert!(out.contains("Exit Code:    137"), "{out}");
    assert!(out.contains("Restart Count:  3"), "{out}");
    assert!(out.contains("memory:  512Mi"), "{out}");
    assert!(
        out.contains("Events:") && out.contains("BackOff") && out.contains("Scheduled"),
        "{out}"
    );

    let out = k.ok(&["describe", "node", "node-1"]).await;
    assert!(
        out.contains("Non-terminated Pods:") && out.contains(&victim),
        "{out}"
    );
    assert!(out.contains("Allocated resources:"), "{out}");

    let out = k.ok(&["describe", "deployment", "order-service"]).await;
    assert!(
        out.contains("NewReplicaSet:") && out.contains("ScalingReplicaSet"),
        "{out}"
    );

    let out = k.ok(&["get", "events"]).await;
    assert!(
        out.contains("LAST SEEN") && out.contains("REASON") && out.contains("OBJECT"),
        "{out}"
    );
    assert!(
        out.contains("Warning")
            && out.contains("BackOff")
            && out.contains(&format!("pod/{victim}")),
        "{out}"
    );
    assert!(
        out.contains("ScalingReplicaSet") && out.contains("deployment/order-service"),
        "{out}"
    );

    // logs
    let out = k.ok(&["logs", &victim]).await;
    assert_eq!(
        out,
        format!("{victim}/order-api-v2 started\n{victim}/order-api-v2 listening on :8080\n")
    );
    let out = k.ok(&["logs", &victim, "--previous", "--tail=5"]).await;
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(
        out.ends_with("java.lang.OutOfMemoryError: Java heap space\n"),
        "{out}"
    );

    // top
    let out = k.ok(&["top", "pods"]).await;
    assert!(
        out.contains("CPU(cores)") && out.contains("120m") && out.contains("300Mi"),
        "{out}"
    );
    assert!(out.contains(&victim), "{out}");
    let out = k.ok(&["top", "nodes"]).await;
    assert!(
        out.contains("node-1") && out.contains("1500m") && out.contains("37%"),
        "{out}"
    );

    // deployments
    let out = k.ok(&["get", "deployments"]).await;
    assert!(
        out.contains("UP-TO-DATE") && out.contains("AVAILABLE"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("order-service"))
        .unwrap();
    assert!(line.contains("1/2"), "{line}");

    // scale
    let out = k
        .ok(&["scale", "deployment", "order-service", "--replicas=5"])
        .await;
    assert!(
        out.contains("deployment.apps/order-service scaled"),
        "{out}"
    );
    lab_step(&cluster);
    assert_eq!(world::order_pods(&cluster.read().unwrap()).len(), 5);

    // get -w streams the change a lab step makes
    let mut watch = tokio::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .arg("--cache-dir")
        .arg(&k.cache)
        .args(["get", "deployment", "payment-service", "-w"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    {
        let mut c = cluster.write().unwrap();
        let mut d: Deployment = c.get(Some("shop"), "payment-service").unwrap();
        d.spec.as_mut().unwrap().replicas = Some(2);
        c.update(d).unwrap();
    }
    lab_step(&cluster);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    watch.start_kill().unwrap();
    let out = watch.wait_with_output().await.unwrap();
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    println!("$ kubectl get deployment payment-service -w\n{out}");
    assert!(out.lines().next().unwrap().starts_with("NAME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("payment-service") && l.contains("2/2")),
        "{out}"
    );

    // rollout restart: a new ReplicaSet, the old one scaled to 0
    let before = replica_sets(&cluster);
    assert_eq!(before.len(), 1);
    let out = k
        .ok(&["rollout", "restart", "deployment/order-service"])
        .await;
    assert!(out.contains("restarted"), "{out}");
    lab_step(&cluster);
    let after = replica_sets(&cluster);
    assert_eq!(after.len(), 2);
    let old = after
        .iter()
        .find(|rs| rs.metadata.uid == before[0].metadata.uid)
        .unwrap();
    let new = after
        .iter()
        .find(|rs| rs.metadata.uid != before[0].metadata.uid)
        .unwrap();
    assert_eq!((rs_replicas(old), rs_replicas(new)), (0, 5));
    assert_eq!(world::order_pods(&cluster.read().unwrap()).len(), 5);
    let out = k
        .ok(&[
            "rollout",
            "status",
            "deployment/order-service",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");

    // rollout undo: back to the first template, which takes revision 3
    let out = k.ok(&["rollout", "undo", "deployment/order-service"]).await;
    assert!(out.contains("rolled back"), "{out}");
    lab_step(&cluster);
    {
        let c = cluster.read().unwrap();
        let d: Deployment = c.get(Some("shop"), "order-service").unwrap();
        let annotations = d
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap_or_default();
        assert!(
            !annotations.contains_key("kubectl.kubernetes.io/restartedAt"),
            "{annotations:?}"
        );
        let rs: ReplicaSet = c
            .get(Some("shop"), before[0].metadata.name.as_deref().unwrap())
            .unwrap();
        assert_eq!(rs_replicas(&rs), 5);
        assert_eq!(
            rs.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
            "3"
        );
    }
    let out = k
        .ok(&["rollout", "history", "deployment/order-service"])
        .await;
    assert!(out.contains('2') && out.contains('3'), "{out}");

    // cordon / uncordon
    let out = k.ok(&["cordon", "node-1"]).await;
    assert!(out.contains("node/node-1 cordoned"), "{out}");
    {
        let c = cluster.read().unwrap();
        let n: Node = c.get(None, "node-1").unwrap();
        assert_eq!(n.spec.unwrap().unschedulable, Some(true));
    }
    let out = k.ok(&["get", "nodes"]).await;
    assert!(out.contains("ROLES") && out.contains("VERSION"), "{out}");
    let line = out.lines().find(|l| l.starts_with("node-1")).unwrap();
    assert!(
        line.contains("Ready,SchedulingDisabled")
            && line.contains("worker")
            && line.contains("v1.33.0"),
        "{line}"
    );
    k.ok(&["uncordon", "node-1"]).await;
    let out = k.ok(&["get", "nodes"]).await;
    assert!(!out.contains("SchedulingDisabled"), "{out}");

    // delete a pod: the replicaset replaces it
    let pods = world::order_pods(&cluster.read().unwrap());
    let out = k.ok(&["delete", "pod", &pods[0]]).await;
    assert!(
        out.contains(&format!("pod \"{}\" deleted", pods[0])),
        "{out}"
    );
    assert_eq!(world::order_pods(&cluster.read().unwrap()).len(), 4);
    lab_step(&cluster);
    let now = world::order_pods(&cluster.read().unwrap());
    assert_eq!(now.len(), 5);
    assert!(!now.contains(&pods[0]));

    // not found
    let (ok, _, stderr) = k.run(&["get", "pod", "nope"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{stderr}"
    );

    let c = cluster.read().unwrap();
    assert!(
        c.list::<Pod>(Some("shop"))
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.is_some())
    );
}
