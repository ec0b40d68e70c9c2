//! Approvals over HTTP: the REST API (behind the bearer token) and Slack's
//! interactive buttons (verified by Slack's request signature instead).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use pagerless_guard::{Decision, Identity};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{ApiError, AppState};

fn guard(state: &AppState) -> Result<&pagerless_guard::Guard, ApiError> {
    state.guard.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_guard",
            "this server runs without a guard",
        )
    })
}

fn decision_json(d: &Decision, id: i64) -> Value {
    match d {
        Decision::Allowed(a) => {
            json!({"approval": id, "decision": "allowed", "runs_as": a.identity().name, "why": a.decision()})
        }
        Decision::Shadow { would } => {
            json!({"approval": id, "decision": "shadow", "why": would.why()})
        }
        Decision::Denied { why } => json!({"approval": id, "decision": "denied", "why": why}),
        Decision::NeedsApproval { why, .. } => {
            json!({"approval": id, "decision": "needs_approval", "why": why})
        }
    }
}

fn guard_error(e: pagerless_guard::GuardError) -> ApiError {
    match e {
        pagerless_guard::GuardError::NoApproval(id) => {
            ApiError::not_found(format!("no approval {id}"))
        }
        pagerless_guard::GuardError::NotPending { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_pending", e.to_string())
        }
        pagerless_guard::GuardError::Store(s) => s.into(),
    }
}

#[derive(Deserialize)]
pub(crate) struct ListParams {
    all: Option<bool>,
}

/// `GET /api/v1/approvals[?all=true]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let g = guard(&state)?;
    g.expire(chrono::Utc::now()).await.map_err(guard_error)?;
    let status = if p.all.unwrap_or(false) {
        None
    } else {
        Some(pagerless_model::ApprovalStatus::Pending)
    };
    Ok(Json(
        json!({ "approvals": state.store.approvals(status).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideBody {
    approver: String,
    #[serde(default)]
    why: Option<String>,
}

/// `POST /api/v1/approvals/{id}/approve` with `{"approver": NAME}`.
pub(crate) async fn approve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<DecideBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| {
        ApiError::bad_request(format!("{}; send {{\"approver\": NAME}}", e.body_text()))
    })?;
    let d = guard(&state)?
        .approve(id, &Identity::human(b.approver), chrono::Utc::now())
        .await
        .map_err(guard_error)?;
    let mut body = decision_json(&d, id);
    body["execution"] = json!(hand_over(&state, id, d).await);
    Ok(Json(body))
}

/// Hands an allowed write to the executors: `queued`, or why nothing will run.
pub(crate) async fn hand_over(state: &AppState, id: i64, d: Decision) -> String {
    let Decision::Allowed(authorized) = d else {
        return "none: not allowed".into();
    };
    let Some(tx) = &state.approved else {
        return "none: this server has no executor configured; the approval is recorded".into();
    };
    match tx
        .send(crate::ApprovedWrite {
            approval: id,
            authorized,
        })
        .await
    {
        Ok(()) => "queued".into(),
        Err(_) => "none: the executors have stopped".into(),
    }
}

/// `POST /api/v1/approvals/{id}/deny` with `{"approver": NAME, "why": TEXT}`.
pub(crate) async fn deny(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<DecideBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; send {{\"approver\": NAME, \"why\": TEXT}}",
            e.body_text()
        ))
    })?;
    let why = b.why.unwrap_or_else(|| "denied".into());
    guard(&state)?
        .deny(id, &Identity::human(b.approver), &why, chrono::Utc::now())
        .await
        .map_err(guard_error)?;
    Ok(Json(
        json!({"approval": id, "decision": "denied", "why": why}),
    ))
}

/// Checks Slack's request signature: `v0=` + hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` under the signing secret, with the timestamp within
/// five minutes of `now` (replays are refused).
pub fn verify_slack(
    secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "X-Slack-Request-Timestamp is not a number".to_owned())?;
    if (now - ts).abs() > 300 {
        return Err("the request is more than five minutes old".into());
    }
    let hex = signature
        .strip_prefix("v0=")
        .ok_or("X-Slack-Signature does not start with v0=")?;
    let expected: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or("X-Slack-Signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| "the signature does not match".to_owned())
}

/// `POST /api/v1/slack/interactions`: Slack's interactive button presses
/// (`action_id` `approve` or `deny`, `value` the approval id).
pub(crate) async fn slack(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = state.slack_signing_secret.as_deref() else {
        return Err(ApiError::not_found(
            "Slack is not configured (server.slack_signing_secret)",
        ));
    };
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    verify_slack(
        secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|why| ApiError::unauthorized(format!("Slack signature: {why}")))?;
    let payload = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::bad_request("no `payload` field"))?;
    let p: Value = serde_json::from_str(&payload)
        .map_err(|e| ApiError::bad_request(format!("payload is not JSON: {e}")))?;
    let action = &p["actions"][0];
    let id: i64 = action["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("the action's value is not an approval id"))?;
    let user = p["user"]["username"]
        .as_str()
        .or(p["user"]["id"].as_str())
        .ok_or_else(|| ApiError::bad_request("no user in the payload"))?;
    let who = Identity::human(format!("slack:{user}"));
    let g = guard(&state)?;
    let now = chrono::Utc::now();
    let text = match action["action_id"].as_str() {
        Some("approve") => {
            let d = g.approve(id, &who, now).await.map_err(guard_error)?;
            let why = decision_json(&d, id)["why"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let execution = hand_over(&state, id, d).await;
            format!("Approval {id}: {why} ({execution})")
        }
        Some("deny") => {
            g.deny(id, &who, &format!("denied in Slack by {user}"), now)
                .await
                .map_err(guard_error)?;
            format!("Approval {id}: denied by {user}")
        }
        other => return Err(ApiError::bad_request(format!("unknown action {other:?}"))),
    };
    Ok(Json(json!({"replace_original": true, "text": text})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!(
            "v0={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    #[test]
    fn slack_signatures_are_checked() {
        // Slack's documented example.
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            verify_slack(
                secret,
                "1531420618",
                sig,
                body.as_bytes(),
                1_531_420_618 + 30
            ),
            Ok(())
        );
        assert!(
            verify_slack(
                secret,
                "1531420618",
                sig,
                body.as_bytes(),
                1_531_420_618 + 400
            )
            .unwrap_err()
            .contains("five minutes")
        );
        assert!(
            verify_slack("wrong", "1531420618", sig, body.as_bytes(), 1_531_420_618)
                .unwrap_err()
                .contains("does not match")
        );
        assert_eq!(
            verify_slack("s", "100", &sign("s", "100", "x"), b"x", 100),
            Ok(())
        );
        assert!(
            verify_slack("s", "100", &sign("s", "100", "x"), b"y", 100).is_err(),
            "a changed body fails"
        );
    }
}
