//! Intake over the router with a real SQLite store: accepted deliveries, and
//! every class of bad input answered with its status and message while the
//! store stays unchanged.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pagerless_model::LabelMapping;
use pagerless_server::{AppState, router};
use pagerless_store::{SqliteStore, Store, StoreStats};
use serde_json::Value;
use tower::ServiceExt;

const FIRING: &str = include_str!("../../../fixtures/alertmanager/firing.json");
const RESOLVED: &str = include_str!("../../../fixtures/alertmanager/resolved.json");
const PATH: &str = "/api/v1/alerts/alertmanager";

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    app: axum::Router,
}

async fn harness(token: Option<&str>, max_body: usize) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("p.db")).await.unwrap());
    let app = router(
        AppState {
            store: store.clone(),
            api_token: token.map(Arc::from),
            labels: Arc::new(LabelMapping::default()),
            investigate: None,
            guard: None,
            slack_signing_secret: None,
            kpis: None,
            console: None,
            approved: None,
        },
        max_body,
    );
    Harness {
        _dir: dir,
        store,
        app,
    }
}

impl Harness {
    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, body: impl Into<Body>) -> (StatusCode, Value) {
        self.send(
            Request::post(PATH)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    async fn stats(&self) -> StoreStats {
        self.store.stats().await.unwrap()
    }
}

fn edited(f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(FIRING).unwrap();
    f(&mut v);
    v.to_string()
}

#[tokio::test]
async fn real_payloads_open_then_resolve_an_incident() {
    let h = harness(None, 1 << 20).await;
    let (status, body) = h.post(FIRING).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["alerts_new"], 1);
    let id = body["incidents_opened"][0].as_i64().unwrap();

    let (status, body) = h.post(FIRING).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["alerts_repeated"], 1,
        "a repeat delivery is idempotent"
    );

    let (_, body) = h.post(RESOLVED).await;
    assert_eq!(body["incidents_resolved"][0].as_i64(), Some(id));

    let (status, inc) = h
        .send(
            Request::get(format!("/api/v1/incidents/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["service"], "orders");
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["environment"], "prod", "no env label: the default");
    assert_eq!(inc["title"], "QueueBacklogHigh: Queue orders depth is 500");
    assert_eq!(inc["alerts"][0]["labels"]["queue"], "orders");
    assert_eq!(
        inc["alerts"][0]["deliveries"], 3,
        "two firing and one resolved delivery"
    );
    assert_eq!(inc["alerts"][0]["ends_at"], "2026-11-27T20:09:13.568Z");
    let st = h.stats().await;
    assert_eq!((st.incidents, st.alerts, st.deliveries), (1, 1, 3));
}

/// Each bad input: (what, body, status, code, words the message must hold).
#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let h = harness(None, 4096).await;
    let cases: Vec<(&str, String, StatusCode, &str, &str)> = vec![
        (
            "malformed JSON",
            "{\"version\": \"4\", \"alerts\": [".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "EOF while parsing",
        ),
        (
            "not JSON at all",
            "alertname=Foo".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "expected value at line 1",
        ),
        (
            "empty body",
            String::new(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "EOF",
        ),
        (
            "wrong version",
            edited(|v| v["version"] = "3".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "version \"3\": this endpoint takes version \"4\"",
        ),
        (
            "no version",
            edited(|v| {
                v.as_object_mut().unwrap().remove("version");
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "version none",
        ),
        (
            "not an object",
            "[1,2]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "expected a JSON object",
        ),
        (
            "missing groupKey",
            edited(|v| {
                v.as_object_mut().unwrap().remove("groupKey");
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "missing field `groupKey`",
        ),
        (
            "missing alerts",
            edited(|v| {
                v.as_object_mut().unwrap().remove("alerts");
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "missing field `alerts`",
        ),
        (
            "empty alerts",
            edited(|v| v["alerts"] = serde_json::json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "at alerts: must hold at least one alert",
        ),
        (
            "missing fingerprint",
            edited(|v| {
                v["alerts"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("fingerprint");
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "alerts[0]: missing field `fingerprint`",
        ),
        (
            "bad startsAt",
            edited(|v| v["alerts"][0]["startsAt"] = "yesterday".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "alerts[0].startsAt",
        ),
        (
            "bad status",
            edited(|v| v["alerts"][0]["status"] = "pending".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "unknown variant `pending`",
        ),
        (
            "label of wrong type",
            edited(|v| v["alerts"][0]["labels"]["job"] = 5.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "alerts[0].labels.job",
        ),
        (
            "empty labels",
            edited(|v| v["alerts"][0]["labels"] = serde_json::json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            "alerts[0].labels: must not be empty",
        ),
        (
            "too large",
            edited(|v| v["alerts"][0]["annotations"]["description"] = "x".repeat(8192).into()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "length limit exceeded",
        ),
    ];
    for (what, body, status, code, words) in cases {
        let (got, resp) = h.post(body).await;
        assert_eq!(got, status, "{what}: {resp}");
        assert_eq!(resp["error"]["code"], code, "{what}: {resp}");
        let msg = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(words),
            "{what}: message {msg:?} lacks {words:?}"
        );
        assert_eq!(
            h.stats().await,
            StoreStats::default(),
            "{what}: store changed"
        );
    }
}

#[tokio::test]
async fn half_bad_payload_writes_nothing() {
    // The first alert is fine, the second is not: nothing of it may be stored.
    let h = harness(None, 1 << 20).await;
    let body = edited(|v| {
        let mut second = v["alerts"][0].clone();
        second["fingerprint"] = "".into();
        v["alerts"].as_array_mut().unwrap().push(second);
    });
    let (status, resp) = h.post(body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alerts[1].fingerprint")
    );
    assert_eq!(h.stats().await, StoreStats::default());
}

#[tokio::test]
async fn token_guards_intake_and_api_but_not_probes() {
    let h = harness(Some("s3cret"), 1 << 20).await;
    for (method, path) in [
        ("POST", PATH),
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/1"),
    ] {
        for auth in [None, Some("Bearer wrong"), Some("Basic czNjcmV0")] {
            let mut req = Request::builder().method(method).uri(path);
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let (status, body) = h.send(req.body(Body::from(FIRING)).unwrap()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} {auth:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    assert_eq!(h.stats().await, StoreStats::default());
    let (status, _) = h
        .send(
            Request::post(PATH)
                .header(header::AUTHORIZATION, "Bearer s3cret")
                .body(Body::from(FIRING))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for probe in ["/healthz", "/readyz"] {
        let (status, _) = h
            .send(Request::get(probe).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{probe} needs no token");
    }
}

#[tokio::test]
async fn api_errors_are_json() {
    let h = harness(None, 1 << 20).await;
    let cases = [
        (
            "/api/v1/incidents/42",
            StatusCode::NOT_FOUND,
            "no incident 42",
        ),
        (
            "/api/v1/incidents/abc",
            StatusCode::BAD_REQUEST,
            "not an incident id",
        ),
        (
            "/api/v1/incidents?status=closed",
            StatusCode::BAD_REQUEST,
            "unknown incident status",
        ),
        (
            "/api/v1/incidents?limit=0",
            StatusCode::BAD_REQUEST,
            "limit must be",
        ),
        (
            "/api/v1/incidents?colour=red",
            StatusCode::BAD_REQUEST,
            "known parameters",
        ),
        ("/nope", StatusCode::NOT_FOUND, "nothing at /nope"),
    ];
    for (uri, status, words) in cases {
        let (got, body) = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(got, status, "{uri}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(words), "{uri}: {msg:?}");
    }
}

#[tokio::test]
async fn environment_comes_from_labels() {
    let h = harness(None, 1 << 20).await;
    let body = edited(|v| v["alerts"][0]["labels"]["environment"] = "Staging".into());
    let (_, resp) = h.post(body).await;
    let id = resp["incidents"][0].as_i64().unwrap();
    let (_, list) = h
        .send(
            Request::get("/api/v1/incidents?environment=staging")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(list["incidents"][0]["id"].as_i64(), Some(id));
    assert_eq!(list["incidents"][0]["environment"], "staging");
}
