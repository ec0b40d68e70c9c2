//! Each KPI against a real SQLite store filled through the `Store` API, with
//! expected values worked out by hand from the story below.
//!
//! Time is seconds after T0; the window is `[0, 100000)` unless said.
//!
//! | incident | detected | story | recovered | human? |
//! | --- | --- | --- | --- | --- |
//! | G | -5000 | mitigated, before the window | excluded | |
//! | A | 1000 | scale done, mitigated at 1300, resolved at 2000; PR 1 merged unmodified at 5000 | 300 s | no |
//! | B | 2000 | rollback needs approval, approved at 2130, mitigated at 2400; PR 2 closed at 6000 | 400 s | approval |
//! | C | 3000 | no mitigation fits, escalated; resolved at 3600 | 600 s | escalated |
//! | D | 4000 | transient, no action; still firing | no | no |
//! | E | 5000 | investigation escalated (budget); still firing | no | escalated |
//! | F | 6000 | scale done, worse, undone, escalated; PR 3 open | no | escalated |
//!
//! PR 4 (no incident) is opened at 8000 and merged modified at 150000, after
//! the window: it counts as open. PR 0 was opened before the window.
//! Approvals: B's (120 s), one denied after 600 s, one expired, one pending.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use pagerless_model::{
    ActionKind, ActionRequest, AlertBatch, AlertStatus, Approval, ApprovalStatus, AuditInput,
    Diagnosis, Environment, Fate, Fix, IncidentId, IncidentStatus, IncomingAlert, Investigation,
    Labels, Outcome, Plan, PullRequest, Severity, Target, TargetKind,
};
use pagerless_store::{SqliteStore, Store};
use serde_json::json;

use crate::{ActionCount, KpiSettings, ReportError, compute};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap()
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("pagerless.db"))
        .await
        .unwrap();
    (dir, s)
}

fn alert(name: &str, status: AlertStatus, start: i64, end: Option<i64>) -> IncomingAlert {
    let mut labels = Labels::new();
    labels.insert("alertname".into(), name.into());
    IncomingAlert {
        fingerprint: name.into(),
        status,
        labels,
        annotations: Labels::new(),
        starts_at: t(start),
        ends_at: end.map(t),
        generator_url: None,
        environment: Environment::prod(),
        cluster: None,
        namespace: Some("shop".into()),
        service: Some(name.into()),
        severity: Severity::Critical,
    }
}

fn batch(name: &str, at: i64, a: IncomingAlert) -> AlertBatch {
    AlertBatch {
        source: "alertmanager".into(),
        group_key: name.into(),
        received_at: t(at),
        alerts: vec![a],
        raw: json!({}),
    }
}

/// Opens an incident detected at `at`.
async fn fire(s: &SqliteStore, name: &str, at: i64) -> IncidentId {
    let out = s
        .ingest(batch(name, at, alert(name, AlertStatus::Firing, at, None)))
        .await
        .unwrap();
    out.incidents_opened[0]
}

/// Resolves the incident opened by `fire(name, start)`, its alert ending at `end`.
async fn resolve(s: &SqliteStore, name: &str, start: i64, end: i64) {
    let out = s
        .ingest(batch(
            name,
            end,
            alert(name, AlertStatus::Resolved, start, Some(end)),
        ))
        .await
        .unwrap();
    assert_eq!(out.incidents_resolved.len(), 1);
}

async fn investigated(s: &SqliteStore, id: IncidentId, at: i64, category: Option<&str>) {
    let outcome = match category {
        Some(c) => Outcome::Diagnosed {
            diagnosis: Box::new(Diagnosis {
                root_cause: format!("{c} it is"),
                category: c.into(),
                confidence: 0.9,
                evidence: Vec::new(),
                culprit: None,
                target: None,
                suspects: Vec::new(),
            }),
            plan: Plan::default(),
        },
        None => Outcome::Escalated {
            reason: "budget spent".into(),
            suspects: Vec::new(),
        },
    };
    s.save_investigation(&Investigation {
        incident_id: Some(id),
        reasoner: "embedded".into(),
        started_at: t(at),
        steps: Vec::new(),
        outcome,
        duration_ms: 10.0,
    })
    .await
    .unwrap();
}

async fn audit(
    s: &SqliteStore,
    id: Option<IncidentId>,
    at: i64,
    kind: &str,
    body: serde_json::Value,
) {
    s.append_audit(AuditInput {
        at: t(at),
        identity: "pagerless".into(),
        incident_id: id,
        kind: kind.into(),
        body,
    })
    .await
    .unwrap();
}

fn request(kind: ActionKind) -> ActionRequest {
    ActionRequest {
        kind,
        target: Target {
            kind: TargetKind::Deployment,
            namespace: Some("shop".into()),
            name: "svc".into(),
        },
        params: Default::default(),
        rationale: "test".into(),
    }
}

/// A decision, then (when allowed) the write's start and outcome, one second apart.
async fn acted(s: &SqliteStore, id: IncidentId, at: i64, kind: ActionKind, decision: &str) {
    let req = request(kind);
    audit(
        s,
        Some(id),
        at,
        "decision",
        json!({"decision": decision, "request": req}),
    )
    .await;
    if decision == "allowed" {
        audit(s, Some(id), at + 1, "action_start", json!({"request": req})).await;
        audit(
            s,
            Some(id),
            at + 2,
            "action_outcome",
            json!({"request": req, "outcome": "done"}),
        )
        .await;
    }
}

async fn responded(s: &SqliteStore, id: IncidentId, at: i64, kind: &str) {
    audit(
        s,
        Some(id),
        at,
        "response",
        json!({"response": {"kind": kind}}),
    )
    .await;
}

async fn pull_request(
    s: &SqliteStore,
    incidents: &[IncidentId],
    created: i64,
    fate: Fate,
    decided: Option<i64>,
) {
    s.save_pull_request(PullRequest {
        id: 0,
        root_key: format!("root-{created}"),
        incidents: incidents.to_vec(),
        forge: "local".into(),
        number: 1,
        url: "http://127.0.0.1/prs/1".into(),
        repo: "iac".into(),
        branch: "fix".into(),
        base: "main".into(),
        base_sha: "a".into(),
        head_sha: "b".into(),
        title: "fix".into(),
        body: "fix".into(),
        diff: String::new(),
        files: Vec::new(),
        fix: Fix {
            file: "values.yaml".into(),
            key: "k".into(),
            value: "v".into(),
            rationale: "r".into(),
            add_missing: false,
        },
        validation: Vec::new(),
        reviewers: Vec::new(),
        fate,
        merge_commit: None,
        revert_on_merge: Vec::new(),
        reconciled: None,
        created_at: t(created),
        updated_at: t(decided.unwrap_or(created)),
        decided_at: decided.map(t),
    })
    .await
    .unwrap();
}

async fn approval(
    s: &SqliteStore,
    id: Option<IncidentId>,
    created: i64,
    decision: Option<(ApprovalStatus, i64)>,
) {
    let aid = s
        .create_approval(Approval {
            id: 0,
            created_at: t(created),
            deadline: t(created + 3600),
            incident_id: id,
            request: request(ActionKind::Rollback),
            scope: json!({}),
            approvers: vec!["alice".into()],
            why: "high risk".into(),
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
            reason: None,
        })
        .await
        .unwrap();
    if let Some((status, at)) = decision {
        assert!(
            s.decide_approval(aid, status, "alice".into(), None, t(at))
                .await
                .unwrap()
        );
    }
}

fn settings() -> KpiSettings {
    KpiSettings {
        human_minutes: [
            ("memory_limit_too_low".to_owned(), 45),
            ("none".to_owned(), 15),
            ("cpu_throttling".to_owned(), 40),
        ]
        .into(),
        default_human_minutes: 30,
        humans: 3,
        nodes: Some(12),
    }
}

/// The story in the module's doc.
async fn story(s: &SqliteStore) {
    // G, before the window: mitigated, its fix merged inside the window.
    let g = fire(s, "g", -5000).await;
    investigated(s, g, -4999, Some("memory_limit_too_low")).await;
    acted(s, g, -4990, ActionKind::Scale, "allowed").await;
    responded(s, g, -4900, "mitigated").await;
    pull_request(s, &[g], -4000, Fate::MergedUnmodified, Some(500)).await;

    // A: mitigated alone; its fix merged unmodified.
    let a = fire(s, "a", 1000).await;
    investigated(s, a, 1001, Some("memory_limit_too_low")).await;
    acted(s, a, 1010, ActionKind::Scale, "allowed").await;
    audit(s, Some(a), 1290, "verification", json!({"recovered": true})).await;
    responded(s, a, 1300, "mitigated").await;
    s.set_incident_status(a, IncidentStatus::Mitigated, t(1300))
        .await
        .unwrap();
    acted(s, a, 1390, ActionKind::OpenPullRequest, "allowed").await;
    pull_request(s, &[a], 1400, Fate::MergedUnmodified, Some(5000)).await;
    audit(
        s,
        Some(a),
        5000,
        "pull_request",
        json!({"event": "fate", "fate": "merged_unmodified"}),
    )
    .await;
    resolve(s, "a", 1000, 2000).await;

    // B: needed a human's approval, then mitigated; its fix was closed.
    let b = fire(s, "b", 2000).await;
    investigated(s, b, 2001, Some("memory_leak")).await;
    acted(s, b, 2010, ActionKind::Rollback, "needs_approval").await;
    approval(s, Some(b), 2010, Some((ApprovalStatus::Approved, 2130))).await;
    responded(s, b, 2011, "awaiting_approval").await;
    audit(s, Some(b), 2130, "approval", json!({"decision": "allowed"})).await;
    let req = request(ActionKind::Rollback);
    audit(
        s,
        Some(b),
        2140,
        "action_outcome",
        json!({"request": req, "outcome": "done"}),
    )
    .await;
    responded(s, b, 2400, "mitigated").await;
    pull_request(s, &[b], 2500, Fate::Closed, Some(6000)).await;

    // C: nothing of ours fits: escalated; the alert resolved later.
    let c = fire(s, "c", 3000).await;
    investigated(s, c, 3001, Some("downstream_latency")).await;
    responded(s, c, 3010, "escalated").await;
    s.set_incident_status(c, IncidentStatus::Escalated, t(3010))
        .await
        .unwrap();
    resolve(s, "c", 3000, 3600).await;

    // D: transient, rightly nothing done; the alert still fires.
    let d = fire(s, "d", 4000).await;
    investigated(s, d, 4001, Some("none")).await;
    responded(s, d, 4010, "no_action").await;

    // E: the investigation ran out of budget.
    let e = fire(s, "e", 5000).await;
    investigated(s, e, 5001, None).await;

    // F: the scale-out made things worse: undone and escalated; its fix is open.
    let f = fire(s, "f", 6000).await;
    investigated(s, f, 6001, Some("cpu_throttling")).await;
    acted(s, f, 6010, ActionKind::Scale, "allowed").await;
    let req = request(ActionKind::Scale);
    audit(
        s,
        Some(f),
        6300,
        "action_outcome",
        json!({"request": req, "outcome": "undone"}),
    )
    .await;
    responded(s, f, 6310, "escalated").await;
    s.set_incident_status(f, IncidentStatus::Escalated, t(6310))
        .await
        .unwrap();
    pull_request(s, &[f], 6400, Fate::Open, None).await;

    // A fix merged after the window's end, and approvals of every kind.
    pull_request(s, &[], 8000, Fate::MergedModified, Some(150_000)).await;
    approval(s, None, 7000, Some((ApprovalStatus::Denied, 7600))).await;
    approval(s, None, 7100, Some((ApprovalStatus::Expired, 10_700))).await;
    approval(s, None, 7200, None).await;
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn every_kpi_matches_the_hand_computed_story() {
    let (_d, s) = store().await;
    story(&s).await;
    let k = compute(&s, &settings(), t(0), t(100_000)).await.unwrap();

    assert_eq!((k.since, k.until), (t(0), t(100_000)));
    // A to F; G was detected before the window.
    assert_eq!(k.incidents, 6);
    // A at its mitigation (300 s, before its resolution), B 400 s, C 600 s.
    assert_eq!(k.incidents_recovered, 3);
    assert!(
        close(k.mttr_secs, (300.0 + 400.0 + 600.0) / 3.0),
        "{:?}",
        k.mttr_secs
    );
    // Only A had its fix merged: at 5000, after its recovery at 1300.
    assert_eq!(k.incidents_fixed, 1);
    assert!(close(k.mtso_secs, 4000.0), "{:?}", k.mtso_secs);
    // A (mitigated) and D (no action); B needed an approval, C, E, F escalated.
    assert_eq!(k.incidents_autonomous, 2);
    assert!(close(k.autonomous_resolution_rate, 2.0 / 6.0));
    // A's 45 minutes and D's 15.
    assert!(
        (k.toil_hours_saved - 1.0).abs() < 1e-9,
        "{}",
        k.toil_hours_saved
    );
    // PRs 1 to 4; 4 merged after the window so still open then; 3 open.
    assert_eq!(
        (
            k.pr_opened,
            k.pr_open,
            k.pr_merged_unmodified,
            k.pr_merged_modified,
            k.pr_closed
        ),
        (4, 2, 1, 0, 1)
    );
    // The closed one counts in the denominator.
    assert!(close(k.pr_correctness_rate, 0.25));
    assert!(close(k.nodes_per_human, 4.0));
    // B's 120 s and the denial's 600 s; expired and pending left out.
    let lat = &k.approval_latency_secs;
    assert_eq!(lat.count, 2);
    assert_eq!(
        (lat.p50, lat.p90, lat.max),
        (Some(120.0), Some(600.0), Some(600.0))
    );
    // G's writes happened before the window.
    let row = |kind: &str, result: &str, count| ActionCount {
        kind: kind.into(),
        result: result.into(),
        count,
    };
    assert_eq!(
        k.actions,
        vec![
            row("open_pull_request", "allowed", 1),
            row("open_pull_request", "done", 1),
            row("rollback", "done", 1),
            row("rollback", "needs_approval", 1),
            row("scale", "allowed", 2),
            row("scale", "done", 2),
            row("scale", "undone", 1),
        ]
    );
    // F's scale undone, of A's and F's scales and B's rollback (the PR is no write).
    assert!(close(k.harmful_action_rate, 1.0 / 3.0));
}

#[tokio::test]
async fn a_window_sees_only_what_happened_before_its_end() {
    let (_d, s) = store().await;
    story(&s).await;
    let k = compute(&s, &settings(), t(0), t(5500)).await.unwrap();
    // A to E.
    assert_eq!(k.incidents, 5);
    // PR 2 was closed at 6000: open at 5500. PR 1 merged at 5000.
    assert_eq!(
        (k.pr_opened, k.pr_open, k.pr_merged_unmodified, k.pr_closed),
        (2, 1, 1, 0)
    );
    assert!(close(k.pr_correctness_rate, 0.5));
    assert!(close(k.mtso_secs, 4000.0));
    assert_eq!(k.approval_latency_secs.count, 1);

    // Before A's fix merged, nothing is at its steady state; before C resolved,
    // only A and B had recovered.
    let k = compute(&s, &settings(), t(0), t(3500)).await.unwrap();
    assert_eq!(k.incidents, 3);
    assert_eq!(k.incidents_fixed, 0);
    assert_eq!(k.mtso_secs, None);
    assert!(close(k.mttr_secs, 350.0), "{:?}", k.mttr_secs);
    assert_eq!((k.pr_open, k.pr_merged_unmodified), (2, 0));
    assert!(close(k.pr_correctness_rate, 0.0));
    // C escalated: one autonomous incident of three.
    assert!(close(k.autonomous_resolution_rate, 1.0 / 3.0));
}

#[tokio::test]
async fn nothing_to_count_gives_none_not_zero() {
    let (_d, s) = store().await;
    let k = compute(&s, &KpiSettings::default(), t(0), t(100))
        .await
        .unwrap();
    assert_eq!(k.incidents, 0);
    assert_eq!(k.mttr_secs, None);
    assert_eq!(k.mtso_secs, None);
    assert_eq!(k.autonomous_resolution_rate, None);
    assert_eq!(k.toil_hours_saved, 0.0);
    assert_eq!(k.pr_opened, 0);
    assert_eq!(k.pr_correctness_rate, None);
    assert_eq!(k.nodes_per_human, None);
    assert_eq!(k.approval_latency_secs.count, 0);
    assert_eq!(k.approval_latency_secs.p50, None);
    assert!(k.actions.is_empty());
    assert_eq!(k.harmful_action_rate, None);

    // JSON says null, with every key present.
    let v = serde_json::to_value(&k).unwrap();
    for key in [
        "mttr_secs",
        "mtso_secs",
        "autonomous_resolution_rate",
        "pr_correctness_rate",
        "nodes_per_human",
        "harmful_action_rate",
    ] {
        assert_eq!(v[key], serde_json::Value::Null, "{key}");
    }

    // No humans: no ratio of nodes to them.
    let none = KpiSettings {
        humans: 0,
        nodes: Some(10),
        ..KpiSettings::default()
    };
    let k = compute(&s, &none, t(0), t(100)).await.unwrap();
    assert_eq!(k.nodes_per_human, None);
}

#[tokio::test]
async fn an_unresolved_escalated_incident_counts_but_is_not_autonomous() {
    let (_d, s) = store().await;
    let id = fire(&s, "x", 10).await;
    investigated(&s, id, 11, Some("disk_pressure")).await;
    responded(&s, id, 20, "escalated").await;
    let k = compute(&s, &settings(), t(0), t(100)).await.unwrap();
    assert_eq!(k.incidents, 1);
    assert_eq!(k.incidents_recovered, 0);
    assert_eq!(k.mttr_secs, None);
    assert_eq!(k.autonomous_resolution_rate, Some(0.0));
    assert_eq!(k.toil_hours_saved, 0.0);
}

#[tokio::test]
async fn an_approval_alone_makes_a_human_involved() {
    // Mitigated, but an approval was asked for the incident (even with no
    // audit entry saying so): a human was involved.
    let (_d, s) = store().await;
    let id = fire(&s, "y", 10).await;
    investigated(&s, id, 11, Some("unknown_category")).await;
    approval(&s, Some(id), 12, None).await;
    responded(&s, id, 40, "mitigated").await;
    let k = compute(&s, &settings(), t(0), t(100)).await.unwrap();
    assert_eq!(k.incidents_autonomous, 0);
    assert!(close(k.mttr_secs, 30.0));

    // Without the approval it would have been pagerless' alone, at the
    // default minutes of an unknown category.
    let id = fire(&s, "z", 50).await;
    investigated(&s, id, 51, Some("unknown_category")).await;
    responded(&s, id, 60, "mitigated").await;
    let k = compute(&s, &settings(), t(0), t(100)).await.unwrap();
    assert_eq!(k.incidents_autonomous, 1);
    assert!((k.toil_hours_saved - 0.5).abs() < 1e-9);
}

#[tokio::test]
async fn a_reversed_window_is_refused() {
    let (_d, s) = store().await;
    let err = compute(&s, &settings(), t(100), t(0)).await.unwrap_err();
    assert!(matches!(err, ReportError::Window { .. }), "{err}");
    assert!(!err.is_retriable());
}
