//! Ingest semantics against a real SQLite file.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use pagerless_model::{
    AlertBatch, AlertStatus, Environment, IncidentFilter, IncidentStatus, IncomingAlert, Labels,
    Severity,
};

use super::SqliteStore;
use crate::Store;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

fn alert(fp: &str, status: AlertStatus, start: i64, severity: Severity) -> IncomingAlert {
    let mut labels = Labels::new();
    labels.insert("alertname".into(), format!("Alert{fp}"));
    labels.insert("service".into(), "orders".into());
    IncomingAlert {
        fingerprint: fp.into(),
        status,
        labels,
        annotations: Labels::new(),
        starts_at: t(start),
        ends_at: (status == AlertStatus::Resolved).then(|| t(start + 60)),
        generator_url: None,
        environment: Environment::prod(),
        cluster: None,
        namespace: Some("shop".into()),
        service: Some("orders".into()),
        severity,
    }
}

fn batch(group: &str, at: i64, alerts: Vec<IncomingAlert>) -> AlertBatch {
    AlertBatch {
        source: "alertmanager".into(),
        group_key: group.into(),
        received_at: t(at),
        alerts,
        raw: serde_json::json!({"test": true}),
    }
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(&dir.path().join("db/pagerless.db"))
        .await
        .expect("open");
    (dir, s)
}

#[tokio::test]
async fn repeat_delivery_adds_nothing() {
    let (_d, s) = store().await;
    let b = batch(
        "g1",
        0,
        vec![alert("a", AlertStatus::Firing, 0, Severity::Warning)],
    );
    let first = s.ingest(b.clone()).await.unwrap();
    assert_eq!(first.alerts_new, 1);
    assert_eq!(first.incidents_opened.len(), 1);
    let again = s.ingest(b).await.unwrap();
    assert_eq!(again.alerts_new, 0);
    assert_eq!(again.alerts_repeated, 1);
    assert!(again.incidents_opened.is_empty());
    assert_eq!(again.incidents, first.incidents);
    let st = s.stats().await.unwrap();
    assert_eq!((st.incidents, st.alerts, st.deliveries), (1, 1, 2));
    let detail = s.incident(first.incidents[0]).await.unwrap().unwrap();
    assert_eq!(detail.alerts[0].deliveries, 2);
    assert_eq!(detail.incident.status, IncidentStatus::Open);
}

#[tokio::test]
async fn resolution_is_final_for_an_instance() {
    let (_d, s) = store().await;
    let fire = batch(
        "g1",
        0,
        vec![alert("a", AlertStatus::Firing, 0, Severity::Critical)],
    );
    let id = s.ingest(fire.clone()).await.unwrap().incidents[0];
    let out = s
        .ingest(batch(
            "g1",
            90,
            vec![alert("a", AlertStatus::Resolved, 0, Severity::Critical)],
        ))
        .await
        .unwrap();
    assert_eq!(out.incidents_resolved, vec![id]);
    let inc = s.incident(id).await.unwrap().unwrap().incident;
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert_eq!(
        inc.resolved_at,
        Some(t(60)),
        "resolved at the alert's endsAt"
    );

    // A late retry of the firing delivery does not reopen anything.
    let late = s.ingest(fire).await.unwrap();
    assert_eq!(late.alerts_repeated, 1);
    let detail = s.incident(id).await.unwrap().unwrap();
    assert_eq!(detail.incident.status, IncidentStatus::Resolved);
    assert_eq!(detail.alerts[0].status, AlertStatus::Resolved);
    assert_eq!(s.stats().await.unwrap().incidents, 1);
}

#[tokio::test]
async fn refiring_after_resolution_is_a_new_incident() {
    let (_d, s) = store().await;
    let first = s
        .ingest(batch(
            "g1",
            0,
            vec![alert("a", AlertStatus::Firing, 0, Severity::Warning)],
        ))
        .await
        .unwrap()
        .incidents[0];
    s.ingest(batch(
        "g1",
        90,
        vec![alert("a", AlertStatus::Resolved, 0, Severity::Warning)],
    ))
    .await
    .unwrap();
    let second = s
        .ingest(batch(
            "g1",
            600,
            vec![alert("a", AlertStatus::Firing, 600, Severity::Warning)],
        ))
        .await
        .unwrap();
    assert_eq!(second.incidents_opened.len(), 1);
    assert_ne!(second.incidents[0], first);
}

#[tokio::test]
async fn group_members_join_and_raise_severity() {
    let (_d, s) = store().await;
    let id = s
        .ingest(batch(
            "g1",
            0,
            vec![alert("a", AlertStatus::Firing, 0, Severity::Warning)],
        ))
        .await
        .unwrap()
        .incidents[0];
    // The group grows: Alertmanager re-sends the whole group with the new member.
    let out = s
        .ingest(batch(
            "g1",
            30,
            vec![
                alert("a", AlertStatus::Firing, 0, Severity::Warning),
                alert("b", AlertStatus::Firing, -30, Severity::Critical),
            ],
        ))
        .await
        .unwrap();
    assert_eq!((out.alerts_new, out.alerts_repeated), (1, 1));
    assert_eq!(out.incidents, vec![id]);
    let detail = s.incident(id).await.unwrap().unwrap();
    assert_eq!(detail.incident.severity, Severity::Critical);
    assert_eq!(detail.incident.started_at, t(-30));
    assert_eq!(
        (detail.incident.alert_count, detail.incident.firing_count),
        (2, 2)
    );

    // One of two resolving leaves the incident open.
    let out = s
        .ingest(batch(
            "g1",
            60,
            vec![alert("a", AlertStatus::Resolved, 0, Severity::Warning)],
        ))
        .await
        .unwrap();
    assert!(out.incidents_resolved.is_empty());
    let inc = s.incident(id).await.unwrap().unwrap().incident;
    assert_eq!((inc.status, inc.firing_count), (IncidentStatus::Open, 1));

    // A fingerprint already open under another group key stays with its incident.
    let other = s
        .ingest(batch(
            "g2",
            70,
            vec![alert("b", AlertStatus::Firing, -30, Severity::Critical)],
        ))
        .await
        .unwrap();
    assert_eq!(other.incidents, vec![id]);
    assert_eq!(s.stats().await.unwrap().incidents, 1);
}

#[tokio::test]
async fn filters_and_order() {
    let (_d, s) = store().await;
    for (i, g) in ["g1", "g2", "g3"].iter().enumerate() {
        s.ingest(batch(
            g,
            i as i64,
            vec![alert(g, AlertStatus::Firing, 0, Severity::Info)],
        ))
        .await
        .unwrap();
    }
    s.ingest(batch(
        "g2",
        9,
        vec![alert("g2", AlertStatus::Resolved, 0, Severity::Info)],
    ))
    .await
    .unwrap();
    let all = s.incidents(&IncidentFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.group_key.as_str()).collect::<Vec<_>>(),
        ["g3", "g2", "g1"]
    );
    let open = s
        .incidents(&IncidentFilter {
            status: Some(IncidentStatus::Open),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].group_key, "g3");
    assert!(
        s.incident(pagerless_model::IncidentId(99))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_deliveries_all_land_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagerless.db");
    let s = Arc::new(SqliteStore::open(&path).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..400 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let fp = format!("fp{i}");
            s.ingest(batch(
                &format!("g{}", i % 50),
                i,
                vec![alert(&fp, AlertStatus::Firing, 0, Severity::Warning)],
            ))
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let s = Arc::into_inner(s).expect("sole owner");
    s.close().await;
    let reopened = SqliteStore::open_existing(&path).await.unwrap();
    let st = reopened.stats().await.unwrap();
    assert_eq!((st.incidents, st.alerts, st.deliveries), (50, 400, 400));
}

#[tokio::test]
async fn open_existing_refuses_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open_existing(&dir.path().join("nope.db"))
        .await
        .err()
        .expect("missing store is an error");
    assert!(err.to_string().contains("no pagerless store"), "{err}");
    assert!(!dir.path().join("nope.db").exists(), "nothing created");
}

#[tokio::test]
async fn resolved_before_firing_opens_a_resolved_incident() {
    // Deliveries can arrive out of order; the resolved one is still recorded.
    let (_d, s) = store().await;
    let out = s
        .ingest(batch(
            "g1",
            90,
            vec![alert("a", AlertStatus::Resolved, 0, Severity::Warning)],
        ))
        .await
        .unwrap();
    assert_eq!(out.incidents_opened, out.incidents_resolved);
    let inc = s
        .incident(out.incidents[0])
        .await
        .unwrap()
        .unwrap()
        .incident;
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert_eq!(inc.resolved_at, Some(t(60)));
    let late = s
        .ingest(batch(
            "g1",
            95,
            vec![alert("a", AlertStatus::Firing, 0, Severity::Warning)],
        ))
        .await
        .unwrap();
    assert_eq!((late.alerts_repeated, late.incidents_opened.len()), (1, 0));
    assert_eq!(
        s.incident(out.incidents[0])
            .await
            .unwrap()
            .unwrap()
            .incident
            .firing_count,
        0
    );
}

#[tokio::test]
async fn investigations_round_trip_per_incident() {
    let (_d, s) = store().await;
    let id = s
        .ingest(batch(
            "g1",
            0,
            vec![alert("a", AlertStatus::Firing, 0, Severity::Critical)],
        ))
        .await
        .unwrap()
        .incidents[0];
    let inv = pagerless_model::Investigation {
        incident_id: Some(id),
        reasoner: "embedded".into(),
        started_at: t(5),
        steps: vec![pagerless_model::Step {
            index: 1,
            thought: "look".into(),
            call: None,
            observation: None,
            evidence: vec![],
            duration_ms: 1.5,
        }],
        outcome: pagerless_model::Outcome::Escalated {
            reason: "nothing found".into(),
            suspects: Vec::new(),
        },
        duration_ms: 2.0,
    };
    let first = s.save_investigation(&inv).await.unwrap();
    let second = s.save_investigation(&inv).await.unwrap();
    assert!(second > first);
    let got = s.investigations(id).await.unwrap();
    assert_eq!(got, vec![inv.clone(), inv]);
    assert!(
        s.investigations(pagerless_model::IncidentId(999))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn raw(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(path)
        .connect()
        .await
        .unwrap()
}

fn audit_input(i: i64) -> pagerless_model::AuditInput {
    pagerless_model::AuditInput {
        at: t(i),
        identity: "pagerless@test".into(),
        incident_id: Some(pagerless_model::IncidentId(1 + i % 2)),
        kind: "decision".into(),
        body: serde_json::json!({"decision": "allowed", "kind": "scale", "n": i}),
    }
}

#[tokio::test]
async fn floats_that_do_not_read_back_exactly_do_not_break_the_chain() {
    // serde_json reads 985.6906946328695 back as 985.6906946328696 (its
    // fast float parser): an entry hashed over one and checked over the
    // other would look tampered with. About one float in ten does this.
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("f.db")).await.unwrap();
    for (i, ms) in [
        985.6906946328695,
        212.91890726713459,
        479.60756426982596,
        0.1,
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = audit_input(i as i64);
        e.body = serde_json::json!({"decision": "allowed", "millis": ms});
        s.append_audit(e).await.unwrap();
    }
    let v = s.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken), (4, None));
}

#[tokio::test]
async fn the_audit_chain_verifies_and_names_any_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = SqliteStore::open(&path).await.unwrap();
    for i in 0..5 {
        let e = s.append_audit(audit_input(i)).await.unwrap();
        assert_eq!(e.seq, i + 1);
    }
    let ok = s.verify_audit().await.unwrap();
    assert_eq!((ok.entries, ok.broken.clone()), (5, None));
    assert_eq!(
        s.audit(Some(pagerless_model::IncidentId(2)))
            .await
            .unwrap()
            .len(),
        2
    );

    // Change any one byte of any column of entry 3: verify names entry 3.
    let mut conn = raw(&path).await;
    for column in ["at", "identity", "kind", "body", "prev_hash", "hash"] {
        let original: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {column} FROM audit WHERE seq = 3"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        for pos in [0, original.len() / 2, original.len() - 1] {
            let mut bytes = original.clone().into_bytes();
            bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(bytes).unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE audit SET {column} = ? WHERE seq = 3"
            )))
            .bind(&tampered)
            .execute(&mut conn)
            .await
            .unwrap();
            let v = s.verify_audit().await.unwrap();
            assert_eq!(
                v.broken.as_ref().map(|b| b.0),
                Some(3),
                "{column}[{pos}]: {v:?}"
            );
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE audit SET {column} = ? WHERE seq = 3"
            )))
            .bind(&original)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    assert_eq!(s.verify_audit().await.unwrap().broken, None, "restored");
    // Delete an entry: verify names the gap.
    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = s.verify_audit().await.unwrap();
    assert_eq!(
        v.broken,
        Some((2, "entry 2 is missing (the next is 3)".to_owned()))
    );
    // Deleting the last entry leaves a valid but shorter chain; appending after it continues.
}

#[tokio::test]
async fn ledger_is_idempotent_and_approvals_decide_once() {
    let (_d, s) = store().await;
    let action = pagerless_model::ActionRecord {
        key: "inc-1/scale/shop/order-service".into(),
        kind: pagerless_model::ActionKind::Scale,
        target: pagerless_model::Target {
            kind: pagerless_model::TargetKind::Deployment,
            namespace: Some("shop".into()),
            name: "order-service".into(),
        },
        service: Some("order-service".into()),
        environment: "prod".into(),
        incident_id: Some(pagerless_model::IncidentId(1)),
        at: t(10),
        replicas_added: 2,
        cpu_added: 0.0,
        memory_added: 0.0,
        identity: "pagerless@test".into(),
    };
    assert!(s.record_action(action.clone()).await.unwrap());
    assert!(
        !s.record_action(action.clone()).await.unwrap(),
        "same key, not twice"
    );
    assert_eq!(s.actions_since(t(0)).await.unwrap(), vec![action.clone()]);
    assert!(s.actions_since(t(11)).await.unwrap().is_empty());

    let approval = pagerless_model::Approval {
        id: 0,
        created_at: t(20),
        deadline: t(920),
        incident_id: Some(pagerless_model::IncidentId(1)),
        request: pagerless_model::ActionRequest {
            kind: pagerless_model::ActionKind::Rollback,
            target: action.target.clone(),
            params: Default::default(),
            rationale: "r".into(),
        },
        scope: serde_json::json!({"environment": "prod"}),
        approvers: vec!["sre-oncall".into()],
        why: "rollback needs approval".into(),
        status: pagerless_model::ApprovalStatus::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
    };
    let id = s.create_approval(approval).await.unwrap();
    assert_eq!(
        s.approvals(Some(pagerless_model::ApprovalStatus::Pending))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.decide_approval(
            id,
            pagerless_model::ApprovalStatus::Approved,
            "alice".into(),
            None,
            t(30)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.decide_approval(
            id,
            pagerless_model::ApprovalStatus::Denied,
            "bob".into(),
            Some("no".into()),
            t(31)
        )
        .await
        .unwrap(),
        "decided once"
    );
    let a = s.approval(id).await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.decided_by.as_deref()),
        (pagerless_model::ApprovalStatus::Approved, Some("alice"))
    );

    s.set_flag("kill_switch".into(), Some("on".into()))
        .await
        .unwrap();
    assert_eq!(
        s.flags().await.unwrap(),
        vec![("kill_switch".to_owned(), "on".to_owned())]
    );
    s.set_flag("kill_switch".into(), None).await.unwrap();
    assert!(s.flags().await.unwrap().is_empty());
}

#[tokio::test]
async fn two_openers_of_a_fresh_store_do_not_race_its_migrations() {
    // Without the migration lock both ran migration 1 and one failed with
    // "table incidents already exists".
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        std::fs::File::create(&path).unwrap();
        let (a, b, c) = tokio::join!(
            SqliteStore::open(&path),
            SqliteStore::open_existing(&path),
            SqliteStore::open_existing(&path)
        );
        for s in [a, b, c] {
            let s = s.unwrap();
            assert_eq!(s.stats().await.unwrap().incidents, 0);
            s.close().await;
        }
    }
}
