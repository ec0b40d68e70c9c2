//! Prometheus Alertmanager's webhook (payload version 4, as Alertmanager 0.25 sends it).
//!
//! The parser is strict where pagerless relies on a field (`version`,
//! `groupKey`, each alert's `status`, `labels`, `startsAt`, `fingerprint`) and
//! lenient elsewhere: unknown fields are ignored, so newer Alertmanagers that
//! add fields still deliver. Alertmanager encodes "no end time" as
//! `0001-01-01T00:00:00Z`; that becomes `None`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Utc};
use pagerless_model::{
    AlertBatch, AlertStatus, IncomingAlert, IngestOutcome, LabelMapping, Labels,
};
use serde::{Deserialize, Serialize};

use super::IntakeError;
use crate::{ApiError, AppState};

/// The source name recorded on alerts and incidents from this intake.
pub const SOURCE: &str = "alertmanager";

/// The only payload version this parser accepts.
pub const VERSION: &str = "4";

/// The webhook body, as Alertmanager sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// Payload format version; must be `"4"`.
    pub version: String,
    /// Identifies the alert group (route and group-by labels).
    pub group_key: String,
    /// `firing` if any alert of the group fires, else `resolved`.
    pub status: AlertStatus,
    /// The Alertmanager receiver's name.
    #[serde(default)]
    pub receiver: String,
    /// Labels the group was formed by.
    #[serde(default)]
    pub group_labels: Labels,
    /// Labels every alert shares.
    #[serde(default)]
    pub common_labels: Labels,
    /// Annotations every alert shares.
    #[serde(default)]
    pub common_annotations: Labels,
    /// Alertmanager's own URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// How many alerts Alertmanager left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// The group's alerts.
    pub alerts: Vec<WebhookAlert>,
}

/// One alert in the webhook body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// Identifying labels.
    pub labels: Labels,
    /// Annotations.
    #[serde(default)]
    pub annotations: Labels,
    /// When the alert started firing.
    pub starts_at: DateTime<Utc>,
    /// When it stopped, or the zero time while firing.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to the rule's expression.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's hash of the labels.
    pub fingerprint: String,
}

/// Parses and checks a webhook body, and classifies each alert's scope.
pub fn parse(
    body: &[u8],
    labels: &LabelMapping,
    received_at: DateTime<Utc>,
) -> Result<AlertBatch, IntakeError> {
    let raw: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| IntakeError::MalformedJson(e.to_string()))?;
    let Some(obj) = raw.as_object() else {
        return Err(IntakeError::Invalid {
            path: ".".into(),
            message: "expected a JSON object".into(),
        });
    };
    // The version first: a payload of another version fails for that reason,
    // not for whichever field happens to differ.
    match obj.get("version") {
        Some(serde_json::Value::String(v)) if v == VERSION => {}
        other => {
            return Err(IntakeError::UnsupportedVersion {
                found: other.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                expected: VERSION,
            });
        }
    }
    let msg: WebhookMessage = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        IntakeError::Invalid {
            path: if path.is_empty() { ".".into() } else { path },
            message: e.into_inner().to_string(),
        }
    })?;
    let invalid = |path: String, message: &str| IntakeError::Invalid {
        path,
        message: message.to_owned(),
    };
    if msg.group_key.trim().is_empty() {
        return Err(invalid("groupKey".into(), "must not be empty"));
    }
    if msg.alerts.is_empty() {
        return Err(invalid("alerts".into(), "must hold at least one alert"));
    }
    if msg.truncated_alerts > 0 {
        tracing::warn!(
            group_key = %msg.group_key,
            truncated = msg.truncated_alerts,
            "Alertmanager left alerts out of this delivery (receiver max_alerts)"
        );
    }
    let mut alerts = Vec::with_capacity(msg.alerts.len());
    for (i, a) in msg.alerts.into_iter().enumerate() {
        if a.fingerprint.trim().is_empty() {
            return Err(invalid(
                format!("alerts[{i}].fingerprint"),
                "must not be empty",
            ));
        }
        if a.labels.is_empty() {
            return Err(invalid(format!("alerts[{i}].labels"), "must not be empty"));
        }
        let scope = labels.classify(&a.labels);
        alerts.push(IncomingAlert {
            fingerprint: a.fingerprint,
            status: a.status,
            annotations: a.annotations,
            starts_at: a.starts_at,
            ends_at: a.ends_at.filter(|t| t.year() > 1),
            generator_url: Some(a.generator_url).filter(|u| !u.is_empty()),
            environment: scope.environment,
            cluster: scope.cluster,
            namespace: scope.namespace,
            service: scope.service,
            severity: scope.severity,
            labels: a.labels,
        });
    }
    Ok(AlertBatch {
        source: SOURCE.to_owned(),
        group_key: msg.group_key,
        received_at,
        alerts,
        raw,
    })
}

/// The answer to an accepted delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: String,
    /// What the store did with it.
    #[serde(flatten)]
    pub outcome: IngestOutcome,
}

/// `POST /api/v1/alerts/alertmanager`: stores the delivery, then answers.
pub(crate) async fn receive(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::from(IntakeError::TooLarge(e.body_text())),
        status => ApiError::new(status, "bad_body", e.body_text()),
    })?;
    let batch = match parse(&body, &state.labels, Utc::now()) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(error = %e, "refused an Alertmanager delivery");
            return Err(e.into());
        }
    };
    let group_key = batch.group_key.clone();
    let outcome = state.store.ingest(batch).await?;
    tracing::debug!(
        %group_key,
        new = outcome.alerts_new,
        updated = outcome.alerts_updated,
        repeated = outcome.alerts_repeated,
        opened = ?outcome.incidents_opened,
        resolved = ?outcome.incidents_resolved,
        "alertmanager delivery stored"
    );
    if let Some(queue) = &state.investigate {
        for id in &outcome.incidents_opened {
            if let Err(e) = queue.try_send(*id) {
                tracing::warn!(incident = %id, error = %e, "investigation queue full; the incident waits for a human");
            }
        }
    }
    Ok((
        StatusCode::OK,
        Json(Accepted {
            status: "accepted".into(),
            outcome,
        }),
    ))
}
