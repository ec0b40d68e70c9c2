//! The guard over a real SQLite store: quotas survive a restart of pagerless,
//! approvals decide once and expire, switches and decisions are audited.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use pagerless_guard::{Decision, Guard, Identity, Policy, scope_of};
use pagerless_model::{ActionKind, ActionRequest, IncidentId, Target, TargetKind};
use pagerless_store::{SqliteStore, Store};

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).single().unwrap()
}

fn autonomous() -> Policy {
    Policy::parse(
        &pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
        "t",
    )
    .unwrap()
}

fn restart(pod: &str) -> ActionRequest {
    ActionRequest {
        kind: ActionKind::RestartPod,
        target: Target {
            kind: TargetKind::Pod,
            namespace: Some("shop".into()),
            name: pod.into(),
        },
        params: Default::default(),
        rationale: "t".into(),
    }
}

async fn guard(path: &std::path::Path) -> (Arc<SqliteStore>, Guard) {
    let store = Arc::new(SqliteStore::open(path).await.unwrap());
    let g = Guard::new(
        store.clone(),
        autonomous(),
        Identity::agent("pagerless@test"),
    );
    (store, g)
}

#[tokio::test]
async fn the_fourth_restart_needs_a_human_even_after_pagerless_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let scope = scope_of(
        "prod",
        Some("shop".into()),
        Some("order-service".into()),
        None,
        Some(("order-service".into(), 20)),
    );
    {
        let (store, g) = guard(&path).await;
        for (i, pod) in ["order-service-a", "order-service-b", "order-service-c"]
            .iter()
            .enumerate()
        {
            let d = g
                .authorize(
                    restart(pod),
                    &scope,
                    Some(IncidentId(1)),
                    now() + chrono::Duration::minutes(11 * i as i64),
                )
                .await
                .unwrap();
            assert!(
                matches!(d, Decision::Allowed(_)),
                "restart {}: {d:?}",
                i + 1
            );
        }
        drop(g);
        Arc::try_unwrap(store).ok().unwrap().close().await;
    }
    // pagerless restarts: a new process, the same store.
    let (store, g) = guard(&path).await;
    let d = g
        .authorize(
            restart("order-service-d"),
            &scope,
            Some(IncidentId(2)),
            now() + chrono::Duration::minutes(40),
        )
        .await
        .unwrap();
    let Decision::NeedsApproval { why, .. } = d else {
        panic!("{d:?}")
    };
    assert!(why.contains("number 4 needs a human"), "{why}");
    let pending = store
        .approvals(Some(pagerless_model::ApprovalStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);

    // A human approves: authorized under their identity, recorded, audited.
    let alice = Identity::human("alice@shop.example");
    let d = g
        .approve(pending[0].id, &alice, now() + chrono::Duration::minutes(41))
        .await
        .unwrap();
    let Decision::Allowed(a) = d else {
        panic!("{d:?}")
    };
    assert_eq!(a.identity(), &alice);
    assert!(
        g.approve(pending[0].id, &alice, now() + chrono::Duration::minutes(42))
            .await
            .is_err(),
        "decided once"
    );
    let audit = store.audit(None).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.kind == "decision").count(), 4);
    assert_eq!(audit.last().unwrap().identity, "alice@shop.example");
    assert_eq!(store.verify_audit().await.unwrap().broken, None);
}

#[tokio::test]
async fn approvals_expire_and_switches_stop_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g) = guard(&dir.path().join("p.db")).await;
    let scope = scope_of(
        "prod",
        Some("shop".into()),
        Some("order-service".into()),
        None,
        None,
    );
    let rollback = ActionRequest {
        kind: ActionKind::Rollback,
        target: Target {
            kind: TargetKind::Deployment,
            namespace: Some("shop".into()),
            name: "order-service".into(),
        },
        params: Default::default(),
        rationale: "t".into(),
    };
    assert!(matches!(
        g.authorize(rollback.clone(), &scope, Some(IncidentId(1)), now())
            .await
            .unwrap(),
        Decision::NeedsApproval { .. }
    ));
    // Nobody answers within 15 minutes: denied.
    let expired = g
        .expire(now() + chrono::Duration::minutes(16))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    let err = g
        .approve(
            expired[0],
            &Identity::human("bob"),
            now() + chrono::Duration::minutes(17),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    g.set_kill_switch(true, "carol", now()).await.unwrap();
    let d = g
        .authorize(
            restart("order-service-a"),
            &scope,
            Some(IncidentId(1)),
            now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&d, Decision::Denied { why } if why.contains("kill switch")),
        "{d:?}"
    );
    g.set_kill_switch(false, "carol", now()).await.unwrap();
    g.set_revoked("pagerless@test", true, "carol", now())
        .await
        .unwrap();
    let d = g
        .authorize(
            restart("order-service-a"),
            &scope,
            Some(IncidentId(1)),
            now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&d, Decision::Denied { why } if why.contains("revoked")),
        "{d:?}"
    );
    g.set_revoked("pagerless@test", false, "carol", now())
        .await
        .unwrap();
    assert!(matches!(
        g.authorize(
            restart("order-service-a"),
            &scope,
            Some(IncidentId(1)),
            now()
        )
        .await
        .unwrap(),
        Decision::Allowed(_)
    ));
    // The same request again is not done twice.
    let d = g
        .authorize(
            restart("order-service-a"),
            &scope,
            Some(IncidentId(1)),
            now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&d, Decision::Denied { why } if why.contains("already done")),
        "{d:?}"
    );
    let kinds: Vec<String> = store
        .audit(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"kill_switch".to_owned())
            && kinds.contains(&"revocation".to_owned())
            && kinds.contains(&"approval".to_owned())
    );
}
