//! Plan → guard → act → verify in the lab: the seed incident ends mitigated
//! (scaled out, p99 back under the threshold in the lab's metrics, verified,
//! every step audited); CPU throttling is scaled out; a noisy neighbour's
//! cordon and a bad config's rollback wait for a human and then run; a slow
//! dependency escalates; the control does nothing.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use pagerless_act::{Executors, Response, Verifier, respond};
use pagerless_agent::{Budget, EmbeddedReasoner, investigate};
use pagerless_guard::{Guard, Identity, Policy, scope_of};
use pagerless_model::{IncidentStatus, Outcome};
use pagerless_store::{SqliteStore, Store};
use support::{LabAtAlert, lab_at_alert};

/// Reads the alert's expression from the lab's Prometheus API; waiting steps the lab.
struct LabVerifier {
    case_lab: Arc<pagerless_lab::serve::LabHandle>,
    toolbox: pagerless_tools::Toolbox,
    expr: String,
}

#[async_trait]
impl Verifier for LabVerifier {
    async fn symptom(&self) -> Result<Option<f64>, String> {
        let obs = self
            .toolbox
            .call(
                "prometheus.query",
                &serde_json::json!({ "query": self.expr }),
            )
            .await
            .map_err(|e| e.to_string())?;
        let r: pagerless_tools::prometheus::InstantResult =
            serde_json::from_value(obs.data).map_err(|e| e.to_string())?;
        Ok(r.series.first().map(|s| s.value))
    }
    async fn wait(&self, secs: u64) {
        for _ in 0..secs.div_ceil(15) {
            self.case_lab.step().unwrap();
        }
    }
}

async fn respond_to(
    case: &LabAtAlert,
) -> (
    pagerless_act::MitigationReport,
    Arc<SqliteStore>,
    pagerless_model::IncidentId,
) {
    let store = Arc::new(
        SqliteStore::open(&case.dir.path().join("p.db"))
            .await
            .unwrap(),
    );
    let batch = pagerless_server::intake::alertmanager::parse(
        case.webhook.to_string().as_bytes(),
        &pagerless_model::LabelMapping::default(),
        chrono::Utc::now(),
    )
    .unwrap();
    let incident = store.ingest(batch).await.unwrap().incidents[0];
    let mut alert = case.alert.clone();
    alert.incident_id = Some(incident);
    let mut reasoner = EmbeddedReasoner::builtin().unwrap();
    let clock = LabClock(case.lab.clone());
    let inv = investigate(
        &mut reasoner,
        &case.toolbox,
        &alert,
        &Budget::default(),
        &clock,
        &mut (),
    )
    .await;
    let Outcome::Diagnosed { diagnosis, plan } = inv.outcome else {
        panic!("{:?}", inv.outcome)
    };
    let policy = Policy::parse(
        &pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
        "t",
    )
    .unwrap();
    let guard = Guard::new(store.clone(), policy, Identity::agent("pagerless@lab"));
    let mut executors = Executors::new();
    executors.add(Box::new(
        pagerless_act::executors::KubernetesExecutor::from_kubeconfig(
            std::path::Path::new(&case.lab.endpoints().kubeconfig),
            false,
        )
        .await
        .unwrap(),
    ));
    let scope = scope_of(
        "prod",
        alert.namespace.clone(),
        alert.service.clone(),
        Some(&diagnosis),
        None,
    );
    let verifier = LabVerifier {
        case_lab: case.lab.clone(),
        toolbox: case.toolbox.clone(),
        expr: alert.symptom.clone().unwrap(),
    };
    let report = respond(
        &guard,
        &executors,
        store.as_ref(),
        incident,
        &diagnosis.category,
        &plan,
        &scope,
        &verifier,
        30 * 60,
        60,
    )
    .await;
    (report, store, incident)
}

struct LabClock(Arc<pagerless_lab::serve::LabHandle>);

#[async_trait]
impl pagerless_agent::Clock for LabClock {
    async fn wait(&self, secs: u64) {
        for _ in 0..secs.div_ceil(15) {
            self.0.step().unwrap();
        }
    }
}

#[tokio::test]
async fn the_seed_incident_ends_mitigated_and_audited() {
    let case = lab_at_alert("order-service-oom").await;
    let (report, store, incident) = respond_to(&case).await;
    let Response::Mitigated { verified } = &report.response else {
        panic!("{report:#?}")
    };
    assert!(verified.contains("cleared"), "{verified}");
    assert_eq!(report.steps.len(), 1);
    assert_eq!(
        report.steps[0].executed.as_deref(),
        Some("scaled deployment shop/order-service 3 → 5")
    );
    // The lab's own metrics agree: five replicas, and p99 under 300 ms.
    let replicas = case.toolbox.call("prometheus.query", &serde_json::json!({"query": "kube_deployment_spec_replicas{deployment=\"order-service\"}"})).await.unwrap();
    assert_eq!(replicas.data["series"][0]["value"], 5.0);
    let p99 = case.toolbox.call("prometheus.query", &serde_json::json!({"query": "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m])))"})).await.unwrap();
    assert!(
        p99.data["series"][0]["value"].as_f64().unwrap() < 0.3,
        "{}",
        p99.summary
    );
    // Every step audited, the chain intact, the incident mitigated.
    let kinds: Vec<String> = store
        .audit(Some(incident))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "decision",
            "action_start",
            "action_outcome",
            "verification",
            "response"
        ]
    );
    assert_eq!(store.verify_audit().await.unwrap().broken, None);
    assert_eq!(
        store
            .incident(incident)
            .await
            .unwrap()
            .unwrap()
            .incident
            .status,
        IncidentStatus::Mitigated
    );
}

#[tokio::test]
async fn a_slow_dependency_escalates_and_the_control_does_nothing() {
    let case = lab_at_alert("payment-downstream-timeout").await;
    let (report, store, incident) = respond_to(&case).await;
    assert!(
        matches!(&report.response, Response::Escalated { reason } if reason.contains("downstream_latency")),
        "{report:#?}"
    );
    assert_eq!(
        store
            .incident(incident)
            .await
            .unwrap()
            .unwrap()
            .incident
            .status,
        IncidentStatus::Escalated
    );

    let case = lab_at_alert("control-transient-blip").await;
    let (report, store, incident) = respond_to(&case).await;
    assert!(
        matches!(report.response, Response::NoAction { .. }),
        "{report:#?}"
    );
    assert!(report.steps.is_empty());
    assert_ne!(
        store
            .incident(incident)
            .await
            .unwrap()
            .unwrap()
            .incident
            .status,
        IncidentStatus::Escalated
    );
}

#[tokio::test]
async fn cpu_throttling_is_scaled_out_and_verified() {
    let case = lab_at_alert("search-cpu-throttling").await;
    let (report, store, incident) = respond_to(&case).await;
    let Response::Mitigated { verified } = &report.response else {
        panic!("{report:#?}")
    };
    assert!(verified.contains("cleared"), "{verified}");
    assert_eq!(
        report.steps[0].executed.as_deref(),
        Some("scaled deployment catalog/search-service 3 → 5")
    );
    assert_eq!(
        store
            .incident(incident)
            .await
            .unwrap()
            .unwrap()
            .incident
            .status,
        IncidentStatus::Mitigated
    );
}

/// Cordoning is high-risk: even an autonomous prod asks a human. Once
/// approved, the write runs under the approver's identity and the lab's
/// node is really unschedulable.
#[tokio::test]
async fn a_noisy_neighbour_waits_for_approval_then_its_node_is_cordoned() {
    let case = lab_at_alert("noisy-neighbour").await;
    let (report, store, incident) = respond_to(&case).await;
    let Response::AwaitingApproval { approvals } = &report.response else {
        panic!("{report:#?}")
    };
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(
        report.steps[0].request.kind,
        pagerless_model::ActionKind::Cordon
    );
    let pending = store
        .approvals(Some(pagerless_model::ApprovalStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].incident_id, Some(incident));

    let policy = Policy::parse(
        &pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
        "t",
    )
    .unwrap();
    let guard = Guard::new(store.clone(), policy, Identity::agent("pagerless@lab"));
    let decision = guard
        .approve(pending[0].id, &Identity::human("alice"), chrono::Utc::now())
        .await
        .unwrap();
    let pagerless_guard::Decision::Allowed(authorized) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(authorized.identity().name, "alice");
    let request = authorized.request().clone();
    let executor = pagerless_act::executors::KubernetesExecutor::from_kubeconfig(
        std::path::Path::new(&case.lab.endpoints().kubeconfig),
        false,
    )
    .await
    .unwrap();
    use pagerless_act::Executor;
    assert_eq!(executor.observe(&request).await, Some(false));
    let done = executor.execute(authorized).await.unwrap();
    assert_eq!(
        done.summary,
        format!("cordoned node {}", request.target.name)
    );
    assert_eq!(executor.observe(&request).await, Some(true));
    assert_eq!(
        done.undo.map(|u| u.kind),
        Some(pagerless_model::ActionKind::Uncordon)
    );
    // Approving twice is refused: the approval is no longer pending.
    assert!(
        guard
            .approve(pending[0].id, &Identity::human("bob"), chrono::Utc::now())
            .await
            .is_err()
    );
}

/// A bad config's rollback is high-risk: it waits for a human; approved, the
/// deployment goes back to its previous ReplicaSet in the lab.
#[tokio::test]
async fn a_bad_config_is_rolled_back_once_approved() {
    let case = lab_at_alert("bad-config-crashloop").await;
    let (report, store, _incident) = respond_to(&case).await;
    assert!(
        matches!(report.response, Response::AwaitingApproval { .. }),
        "{report:#?}"
    );
    assert_eq!(
        report.steps[0].request.kind,
        pagerless_model::ActionKind::Rollback
    );
    let pending = store
        .approvals(Some(pagerless_model::ApprovalStatus::Pending))
        .await
        .unwrap();
    let policy = Policy::parse(
        &pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
        "t",
    )
    .unwrap();
    let guard = Guard::new(store.clone(), policy, Identity::agent("pagerless@lab"));
    let pagerless_guard::Decision::Allowed(authorized) = guard
        .approve(pending[0].id, &Identity::human("alice"), chrono::Utc::now())
        .await
        .unwrap()
    else {
        panic!("not allowed")
    };
    let target = authorized.request().target.clone();
    let executor = pagerless_act::executors::KubernetesExecutor::from_kubeconfig(
        std::path::Path::new(&case.lab.endpoints().kubeconfig),
        false,
    )
    .await
    .unwrap();
    use pagerless_act::Executor;
    let done = executor.execute(authorized).await.unwrap();
    assert_eq!(done.summary, format!("rolled {target} back to revision 1"));
    // The running template is the previous one again: DB_POOL_SIZE 20.
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&case.lab.endpoints().kubeconfig).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, target.namespace.as_deref().unwrap());
    let d = deployments.get(&target.name).await.unwrap();
    let env = d.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let pool = env
        .iter()
        .find(|e| e.name == "DB_POOL_SIZE")
        .and_then(|e| e.value.clone());
    assert_eq!(pool.as_deref(), Some("20"), "{env:?}");
}
