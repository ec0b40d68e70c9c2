//! The guard's commands as people use them: approvals, the kill switch, and
//! an audit log whose tampering `audit verify` catches and names.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use pagerless_guard::{Decision, Guard, Identity, Policy, scope_of};
use pagerless_model::{ActionKind, ActionRequest, IncidentId, Target, TargetKind};
use pagerless_store::SqliteStore;
use support::run_cli;

fn rollback(name: &str) -> ActionRequest {
    ActionRequest {
        kind: ActionKind::Rollback,
        target: Target {
            kind: TargetKind::Deployment,
            namespace: Some("shop".into()),
            name: name.into(),
        },
        params: Default::default(),
        rationale: "new release leaks".into(),
    }
}

#[tokio::test]
async fn approvals_kill_switch_and_a_tamper_evident_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let db = dir.path().join("pagerless.db");
    {
        // Two rollbacks in staging need a human (the default policy).
        let store = Arc::new(SqliteStore::open(&db).await.unwrap());
        let g = Guard::new(
            store.clone(),
            Policy::default_policy(),
            Identity::agent("pagerless"),
        );
        for (i, svc) in ["cart-service", "search-service"].iter().enumerate() {
            let scope = scope_of(
                "staging",
                Some("shop".into()),
                Some((*svc).into()),
                None,
                None,
            );
            let decision = g
                .authorize(
                    rollback(svc),
                    &scope,
                    Some(IncidentId(i as i64 + 1)),
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            assert!(
                matches!(decision, Decision::NeedsApproval { .. }),
                "{decision:?}"
            );
        }
        drop(g);
        Arc::try_unwrap(store).ok().unwrap().close().await;
    }
    let (ok, out, err) = run_cli(&["--data-dir", &d, "approvals"], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("rollback")
            && out.contains("deployment shop/cart-service")
            && out.contains("needs approval in staging"),
        "{out}"
    );

    let (ok, out, err) = run_cli(
        &[
            "--data-dir",
            &d,
            "approve",
            "1",
            "--as",
            "alice@shop.example",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("approved by alice@shop.example; rollback deployment shop/cart-service is authorized as alice@shop.example"), "{out}");
    assert!(
        out.contains("no executor for `rollback` is configured here, so nothing ran"),
        "{out}"
    );
    let (ok, _, err) = run_cli(&["--data-dir", &d, "approve", "1", "--as", "bob"], &[]);
    assert!(
        !ok && err.contains("approval 1 is approved, not pending"),
        "{err}"
    );
    let (ok, out, _) = run_cli(
        &[
            "--data-dir",
            &d,
            "deny",
            "2",
            "--why",
            "wait for the owner",
            "--as",
            "bob",
        ],
        &[],
    );
    assert!(ok && out.contains("approval 2: denied by bob"), "{out}");
    let (ok, out, _) = run_cli(&["--data-dir", &d, "approvals"], &[]);
    assert!(ok && out.contains("no pending approvals"), "{out}");

    let (ok, out, _) = run_cli(
        &["--data-dir", &d, "guard", "kill-switch", "on"],
        &[("PAGERLESS_USER", "carol")],
    );
    assert!(ok && out.contains("kill switch on"), "{out}");
    let (_, out, _) = run_cli(&["--data-dir", &d, "guard", "status"], &[]);
    assert!(out.contains("kill switch   ON"), "{out}");

    let (ok, out, err) = run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("audit log intact: 5 entries"), "{out}");
    let (_, out, _) = run_cli(&["--data-dir", &d, "audit", "show", "--incident", "1"], &[]);
    assert!(
        out.contains("needs_approval")
            && out.contains("alice@shop.example")
            && out.contains("approval"),
        "{out}"
    );

    // Change one byte of entry 3, then delete entry 2.
    let mut conn = {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&db)
            .connect()
            .await
            .unwrap()
    };
    sqlx::query("UPDATE audit SET body = replace(body, 'alice', 'alicf') WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let (ok, _, err) = run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(!ok, "a changed byte fails verification");
    assert!(
        err.contains("audit log BROKEN at entry 3: its content does not match its hash"),
        "{err}"
    );
    sqlx::query("UPDATE audit SET body = replace(body, 'alicf', 'alice') WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let (ok, _, err) = run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(!ok);
    assert!(
        err.contains("BROKEN at entry 2: entry 2 is missing"),
        "{err}"
    );
}
