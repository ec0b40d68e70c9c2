//! Rows as SQLite returns them, and their conversion into model types.

use chrono::{DateTime, Utc};
use pagerless_model::{
    Alert, AlertId, AlertStatus, Environment, Incident, IncidentId, IncidentStatus, Labels,
    Severity,
};

use crate::StoreError;

/// Selects incidents with their alert counts; append `WHERE ...`.
pub(super) const INCIDENT_SELECT: &str = "SELECT i.id, i.status, i.title, i.source, i.group_key, \
     i.environment, i.cluster, i.namespace, i.service, i.severity, i.labels, i.started_at, \
     i.detected_at, i.updated_at, i.resolved_at, \
     (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id) AS alert_count, \
     (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id AND a.status = 'firing') AS firing_count \
     FROM incidents i";

/// Selects one incident's alerts, oldest first; binds the incident id.
pub(super) const ALERT_SELECT_BY_INCIDENT: &str = "SELECT id, incident_id, fingerprint, status, \
     labels, annotations, starts_at, ends_at, generator_url, first_seen_at, last_seen_at, deliveries \
     FROM alerts WHERE incident_id = ? ORDER BY starts_at, id";

#[derive(sqlx::FromRow)]
pub(super) struct IncidentRow {
    id: i64,
    status: String,
    title: String,
    source: String,
    group_key: String,
    environment: String,
    cluster: Option<String>,
    namespace: Option<String>,
    service: Option<String>,
    severity: String,
    labels: String,
    started_at: DateTime<Utc>,
    detected_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    alert_count: i64,
    firing_count: i64,
}

impl IncidentRow {
    pub(super) fn into_model(self) -> Result<Incident, StoreError> {
        Ok(Incident {
            id: IncidentId(self.id),
            status: self.status.parse().map_err(StoreError::Corrupt)?,
            title: self.title,
            source: self.source,
            group_key: self.group_key,
            environment: Environment::new(&self.environment),
            cluster: self.cluster,
            namespace: self.namespace,
            service: self.service,
            severity: parse_severity(&self.severity)?,
            labels: parse_labels(&self.labels)?,
            started_at: self.started_at,
            detected_at: self.detected_at,
            updated_at: self.updated_at,
            resolved_at: self.resolved_at,
            alert_count: self.alert_count,
            firing_count: self.firing_count,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AlertRow {
    id: i64,
    incident_id: i64,
    fingerprint: String,
    status: String,
    labels: String,
    annotations: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    generator_url: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    deliveries: i64,
}

impl AlertRow {
    pub(super) fn into_model(self) -> Result<Alert, StoreError> {
        Ok(Alert {
            id: AlertId(self.id),
            incident_id: IncidentId(self.incident_id),
            fingerprint: self.fingerprint,
            status: parse_alert_status(&self.status)?,
            labels: parse_labels(&self.labels)?,
            annotations: parse_labels(&self.annotations)?,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            generator_url: self.generator_url,
            first_seen_at: self.first_seen_at,
            last_seen_at: self.last_seen_at,
            deliveries: self.deliveries,
        })
    }
}

pub(super) fn parse_labels(json: &str) -> Result<Labels, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("labels {json:?}: {e}")))
}

pub(super) fn parse_alert_status(s: &str) -> Result<AlertStatus, StoreError> {
    AlertStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("alert status {s:?}")))
}

pub(super) fn parse_severity(s: &str) -> Result<Severity, StoreError> {
    match s {
        "unknown" => Ok(Severity::Unknown),
        other => match Severity::from_label(other) {
            Severity::Unknown => Err(StoreError::Corrupt(format!("severity {s:?}"))),
            known => Ok(known),
        },
    }
}

pub(super) fn parse_incident_status(s: &str) -> Result<IncidentStatus, StoreError> {
    s.parse().map_err(StoreError::Corrupt)
}
