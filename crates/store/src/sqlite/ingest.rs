//! Writing one delivery: alert instances de-duplicated, grouped into incidents,
//! incidents resolved when their last alert resolves.
//!
//! Runs inside the writer's transaction; it never commits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pagerless_model::{
    AlertBatch, AlertStatus, IncidentId, IncidentStatus, IncomingAlert, IngestOutcome, Severity,
};
use sqlx::SqliteConnection;

use super::rows::{parse_alert_status, parse_incident_status, parse_severity};
use crate::StoreError;

/// An alert instance already in the store.
struct Known {
    id: i64,
    incident: IncidentId,
    status: AlertStatus,
    incident_open: bool,
}

/// What joining alerts changed on an incident.
#[derive(Default)]
struct Touch {
    severity: Option<Severity>,
    earliest_start: Option<DateTime<Utc>>,
    changed: bool,
}

pub(super) async fn ingest(
    conn: &mut SqliteConnection,
    batch: &AlertBatch,
) -> Result<IngestOutcome, StoreError> {
    let now = batch.received_at;
    sqlx::query(
        "INSERT INTO deliveries (source, group_key, received_at, payload) VALUES (?, ?, ?, ?)",
    )
    .bind(&batch.source)
    .bind(&batch.group_key)
    .bind(now)
    .bind(batch.raw.to_string())
    .execute(&mut *conn)
    .await?;

    let mut known = Vec::with_capacity(batch.alerts.len());
    for alert in &batch.alerts {
        known.push(find_known(conn, &batch.source, alert).await?);
    }

    let mut outcome = IngestOutcome::default();
    let mut touched: BTreeMap<IncidentId, Touch> = BTreeMap::new();

    // Where new alert instances go: the open incident of an instance already
    // known in this delivery, else the open incident of the group, else the open
    // incident of a fingerprint, else a new incident.
    let mut target: Option<IncidentId> = None;
    if known.iter().zip(&batch.alerts).any(|(k, _)| k.is_none()) {
        target = known
            .iter()
            .flatten()
            .find(|k| k.incident_open)
            .map(|k| k.incident);
        if target.is_none() {
            target = open_incident_of_group(conn, batch).await?;
        }
        if target.is_none() {
            for (alert, k) in batch.alerts.iter().zip(&known) {
                if k.is_none() {
                    target = open_incident_of_fingerprint(conn, &batch.source, &alert.fingerprint)
                        .await?;
                    if target.is_some() {
                        break;
                    }
                }
            }
        }
        if target.is_none() {
            let first_new = batch
                .alerts
                .iter()
                .zip(&known)
                .find(|(_, k)| k.is_none())
                .map(|(a, _)| a);
            if let Some(first) = first_new {
                let id = open_incident(conn, batch, first).await?;
                outcome.incidents_opened.push(id);
                target = Some(id);
            }
        }
    }

    for (alert, k) in batch.alerts.iter().zip(known) {
        match k {
            None => {
                let Some(incident) = target else {
                    return Err(StoreError::Corrupt("no incident for a new alert".into()));
                };
                insert_alert(conn, &batch.source, incident, alert, now).await?;
                outcome.alerts_new += 1;
                let t = touched.entry(incident).or_default();
                t.changed = true;
                t.severity = t.severity.max(Some(alert.severity));
                t.earliest_start = Some(match t.earliest_start {
                    Some(s) => s.min(alert.starts_at),
                    None => alert.starts_at,
                });
            }
            Some(k) => {
                // Once resolved, an instance stays resolved: a late re-delivery of
                // its firing state (Alertmanager retries) must not revive it.
                let resolves =
                    k.status == AlertStatus::Firing && alert.status == AlertStatus::Resolved;
                let status = if resolves {
                    AlertStatus::Resolved
                } else {
                    k.status
                };
                let ends_at = if status == AlertStatus::Resolved {
                    alert.ends_at.or(Some(now))
                } else {
                    None
                };
                sqlx::query(
                    "UPDATE alerts SET status = ?, ends_at = coalesce(ends_at, ?), \
                     annotations = ?, last_seen_at = ?, deliveries = deliveries + 1 WHERE id = ?",
                )
                .bind(status.as_str())
                .bind(ends_at)
                .bind(json(&alert.annotations))
                .bind(now)
                .bind(k.id)
                .execute(&mut *conn)
                .await?;
                if resolves {
                    outcome.alerts_updated += 1;
                    touched.entry(k.incident).or_default().changed = true;
                } else {
                    outcome.alerts_repeated += 1;
                    touched.entry(k.incident).or_default();
                }
            }
        }
    }

    for (id, touch) in touched {
        outcome.incidents.push(id);
        if touch.changed && settle_incident(conn, id, &touch, now).await? {
            outcome.incidents_resolved.push(id);
        }
    }
    Ok(outcome)
}

async fn find_known(
    conn: &mut SqliteConnection,
    source: &str,
    alert: &IncomingAlert,
) -> Result<Option<Known>, StoreError> {
    let row: Option<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT a.id, a.incident_id, a.status, i.status FROM alerts a \
         JOIN incidents i ON i.id = a.incident_id \
         WHERE a.source = ? AND a.fingerprint = ? AND a.starts_at = ?",
    )
    .bind(source)
    .bind(&alert.fingerprint)
    .bind(alert.starts_at)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(id, incident, status, incident_status)| {
        Ok(Known {
            id,
            incident: IncidentId(incident),
            status: parse_alert_status(&status)?,
            incident_open: parse_incident_status(&incident_status)? != IncidentStatus::Resolved,
        })
    })
    .transpose()
}

async fn open_incident_of_group(
    conn: &mut SqliteConnection,
    batch: &AlertBatch,
) -> Result<Option<IncidentId>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM incidents WHERE source = ? AND group_key = ? AND status <> 'resolved' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(&batch.source)
    .bind(&batch.group_key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id.map(IncidentId))
}

async fn open_incident_of_fingerprint(
    conn: &mut SqliteConnection,
    source: &str,
    fingerprint: &str,
) -> Result<Option<IncidentId>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT a.incident_id FROM alerts a JOIN incidents i ON i.id = a.incident_id \
         WHERE a.source = ? AND a.fingerprint = ? AND i.status <> 'resolved' \
         ORDER BY a.id DESC LIMIT 1",
    )
    .bind(source)
    .bind(fingerprint)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id.map(IncidentId))
}

async fn open_incident(
    conn: &mut SqliteConnection,
    batch: &AlertBatch,
    first: &IncomingAlert,
) -> Result<IncidentId, StoreError> {
    let title = match first.annotations.get("summary").filter(|s| !s.is_empty()) {
        Some(summary) => format!("{}: {summary}", first.name()),
        None => first.name().to_owned(),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (status, title, source, group_key, environment, cluster, namespace, \
         service, severity, labels, started_at, detected_at, updated_at) \
         VALUES ('open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(title)
    .bind(&batch.source)
    .bind(&batch.group_key)
    .bind(first.environment.as_str())
    .bind(&first.cluster)
    .bind(&first.namespace)
    .bind(&first.service)
    .bind(first.severity.as_str())
    .bind(json(&first.labels))
    .bind(first.starts_at)
    .bind(batch.received_at)
    .bind(batch.received_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(IncidentId(id))
}

async fn insert_alert(
    conn: &mut SqliteConnection,
    source: &str,
    incident: IncidentId,
    alert: &IncomingAlert,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ends_at = match alert.status {
        AlertStatus::Resolved => alert.ends_at.or(Some(now)),
        AlertStatus::Firing => None,
    };
    sqlx::query(
        "INSERT INTO alerts (incident_id, source, fingerprint, starts_at, status, labels, \
         annotations, ends_at, generator_url, first_seen_at, last_seen_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(incident.0)
    .bind(source)
    .bind(&alert.fingerprint)
    .bind(alert.starts_at)
    .bind(alert.status.as_str())
    .bind(json(&alert.labels))
    .bind(json(&alert.annotations))
    .bind(ends_at)
    .bind(&alert.generator_url)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Brings an incident up to date with its alerts; returns whether it just resolved.
async fn settle_incident(
    conn: &mut SqliteConnection,
    id: IncidentId,
    touch: &Touch,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (status, severity, started_at): (String, String, DateTime<Utc>) =
        sqlx::query_as("SELECT status, severity, started_at FROM incidents WHERE id = ?")
            .bind(id.0)
            .fetch_one(&mut *conn)
            .await?;
    let status = parse_incident_status(&status)?;
    let severity = parse_severity(&severity)?.max(touch.severity.unwrap_or(Severity::Unknown));
    let started_at = touch
        .earliest_start
        .map_or(started_at, |s| s.min(started_at));
    let (firing, last_end): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'firing'), max(ends_at) FROM alerts WHERE incident_id = ?",
    )
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await?;
    let resolves = firing == 0 && status != IncidentStatus::Resolved;
    let (status, resolved_at) = if resolves {
        (IncidentStatus::Resolved, Some(last_end.unwrap_or(now)))
    } else {
        (status, None)
    };
    sqlx::query(
        "UPDATE incidents SET status = ?, severity = ?, started_at = ?, updated_at = ?, \
         resolved_at = coalesce(?, resolved_at) WHERE id = ?",
    )
    .bind(status.as_str())
    .bind(severity.as_str())
    .bind(started_at)
    .bind(now)
    .bind(resolved_at)
    .bind(id.0)
    .execute(&mut *conn)
    .await?;
    Ok(resolves)
}

fn json(labels: &pagerless_model::Labels) -> String {
    // A map of strings always serializes.
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}
