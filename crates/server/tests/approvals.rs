//! Approvals over HTTP: the REST API behind the bearer token, and Slack's
//! buttons verified by their signature.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hmac::{Hmac, Mac};
use pagerless_guard::{Decision, Guard, Identity, Policy, scope_of};
use pagerless_model::{ActionKind, ActionRequest, IncidentId, LabelMapping, Target, TargetKind};
use pagerless_server::{AppState, router};
use pagerless_store::{SqliteStore, Store};
use serde_json::Value;
use sha2::Sha256;
use tower::ServiceExt;

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn approve_over_the_api_and_deny_from_slack() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("p.db")).await.unwrap());
    let guard = Arc::new(Guard::new(
        store.clone(),
        Policy::default_policy(),
        Identity::agent("pagerless"),
    ));
    for svc in ["cart-service", "search-service"] {
        let scope = scope_of("staging", Some("shop".into()), Some(svc.into()), None, None);
        let req = ActionRequest {
            kind: ActionKind::Rollback,
            target: Target {
                kind: TargetKind::Deployment,
                namespace: Some("shop".into()),
                name: svc.into(),
            },
            params: Default::default(),
            rationale: "t".into(),
        };
        assert!(matches!(
            guard
                .authorize(req, &scope, Some(IncidentId(1)), chrono::Utc::now())
                .await
                .unwrap(),
            Decision::NeedsApproval { .. }
        ));
    }
    let app = router(
        AppState {
            store: store.clone(),
            api_token: Some(Arc::from("tok")),
            labels: Arc::new(LabelMapping::default()),
            investigate: None,
            guard: Some(guard),
            slack_signing_secret: Some(Arc::from("slack-secret")),
            kpis: None,
            console: None,
            approved: None,
        },
        1 << 20,
    );
    let authed = |r: axum::http::request::Builder| r.header(header::AUTHORIZATION, "Bearer tok");

    let (status, list) = send(
        &app,
        authed(Request::get("/api/v1/approvals"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["approvals"].as_array().unwrap().len(), 2);

    let (status, _) = send(
        &app,
        Request::post("/api/v1/approvals/1/approve")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"approver":"alice"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "approvals need the token");
    let (status, body) = send(
        &app,
        authed(Request::post("/api/v1/approvals/1/approve"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"approver":"alice"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "allowed");
    assert_eq!(body["runs_as"], "alice");
    let (status, body) = send(
        &app,
        authed(Request::post("/api/v1/approvals/1/approve"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"approver":"bob"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Slack: a signed button press denies approval 2; a forged one is refused.
    let payload = serde_json::json!({"type": "block_actions", "user": {"id": "U1", "username": "dana"}, "actions": [{"action_id": "deny", "value": "2"}]});
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sign = |secret: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{form}").as_bytes());
        format!(
            "v0={}",
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    let slack = |sig: String| {
        Request::post("/api/v1/slack/interactions")
            .header("x-slack-request-timestamp", ts.clone())
            .header("x-slack-signature", sig)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.clone()))
            .unwrap()
    };
    let (status, body) = send(&app, slack(sign("forged"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        store.approval(2).await.unwrap().unwrap().status,
        pagerless_model::ApprovalStatus::Pending
    );
    let (status, body) = send(&app, slack(sign("slack-secret"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["text"], "Approval 2: denied by dana");
    let a = store.approval(2).await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.decided_by.as_deref()),
        (pagerless_model::ApprovalStatus::Denied, Some("slack:dana"))
    );
    assert_eq!(store.verify_audit().await.unwrap().broken, None);
}
