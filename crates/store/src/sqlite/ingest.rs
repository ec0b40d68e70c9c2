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

    // One look-up per alert: its exact instance, and an open incident that
    // already holds its fingerprint.
    let mut known = Vec::with_capacity(batch.alerts.len());
    let mut fingerprint_home = None;
    for alert in &batch.alerts {
        let (exact, open) = look_up(conn, &batch.source, alert).await?;
        if exact.is_none() && fingerprint_home.is_none() {
            fingerprint_home = open;
        }
        known.push(exact);
    }

    let mut outcome = IngestOutcome::default();
    let mut touched: BTreeMap<IncidentId, Touch> = BTreeMap::new();

    // Where new alert instances go: the open incident of an instance already
    // known in this delivery, else the open incident of the group, else the open
    // incident of a fingerprint, else a new incident.
    let mut target: Option<IncidentId> = None;
    let new_alerts: Vec<&IncomingAlert> = batch
        .alerts
        .iter()
        .zip(&known)
        .filter(|(_, k)| k.is_none())
        .map(|(a, _)| a)
        .collect();
    if !new_alerts.is_empty() {
        target = known
            .iter()
            .flatten()
            .find(|k| k.incident_open)
            .map(|k| k.incident);
        if target.is_none() {
            target = open_incident_of_group(conn, batch).await?;
        }
        if target.is_none() {
            target = fingerprint_home;
        }
        if target.is_none() {
            // A new incident is written whole here, so it needs no settling below.
            let id = open_incident(conn, batch, &new_alerts).await?;
            outcome.incidents_opened.push(id);
            if new_alerts.iter().all(|a| a.status == AlertStatus::Resolved) {
                outcome.incidents_resolved.push(id);
            }
            target = Some(id);
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
        let opened_here = outcome.incidents_opened.contains(&id);
        if touch.changed && !opened_here && settle_incident(conn, id, &touch, now).await? {
            outcome.incidents_resolved.push(id);
        }
    }
    Ok(outcome)
}

/// The stored instance of `alert` (same fingerprint and start), and the newest
/// open incident holding any instance of its fingerprint.
async fn look_up(
    conn: &mut SqliteConnection,
    source: &str,
    alert: &IncomingAlert,
) -> Result<(Option<Known>, Option<IncidentId>), StoreError> {
    let rows: Vec<(i64, i64, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT a.id, a.incident_id, a.status, a.starts_at, i.status FROM alerts a \
         JOIN incidents i ON i.id = a.incident_id \
         WHERE a.source = ? AND a.fingerprint = ? AND (a.starts_at = ? OR i.status <> 'resolved') \
         ORDER BY a.id DESC LIMIT 16",
    )
    .bind(source)
    .bind(&alert.fingerprint)
    .bind(alert.starts_at)
    .fetch_all(&mut *conn)
    .await?;
    let mut exact = None;
    let mut open = None;
    for (id, incident, status, starts_at, incident_status) in rows {
        let incident_open = parse_incident_status(&incident_status)? != IncidentStatus::Resolved;
        if incident_open && open.is_none() {
            open = Some(IncidentId(incident));
        }
        if starts_at == alert.starts_at && exact.is_none() {
            exact = Some(Known {
                id,
                incident: IncidentId(incident),
                status: parse_alert_status(&status)?,
                incident_open,
            });
        }
    }
    Ok((exact, open))
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

/// Writes a new incident for `alerts` (never empty): titled after the first,
/// as severe as the worst, started with the earliest, resolved if all are.
async fn open_incident(
    conn: &mut SqliteConnection,
    batch: &AlertBatch,
    alerts: &[&IncomingAlert],
) -> Result<IncidentId, StoreError> {
    let Some(first) = alerts.first() else {
        return Err(StoreError::Corrupt("an incident needs an alert".into()));
    };
    let title = match first.annotations.get("summary").filter(|s| !s.is_empty()) {
        Some(summary) => format!("{}: {summary}", first.name()),
        None => first.name().to_owned(),
    };
    let severity = alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(first.severity);
    let started_at = alerts
        .iter()
        .map(|a| a.starts_at)
        .min()
        .unwrap_or(first.starts_at);
    let resolved_at = alerts
        .iter()
        .all(|a| a.status == AlertStatus::Resolved)
        .then(|| {
            alerts
                .iter()
                .map(|a| a.ends_at.unwrap_or(batch.received_at))
                .max()
                .unwrap_or(batch.received_at)
        });
    let status = if resolved_at.is_some() {
        IncidentStatus::Resolved
    } else {
        IncidentStatus::Open
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (status, title, source, group_key, environment, cluster, namespace, \
         service, severity, labels, started_at, detected_at, updated_at, resolved_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(status.as_str())
    .bind(title)
    .bind(&batch.source)
    .bind(&batch.group_key)
    .bind(first.environment.as_str())
    .bind(&first.cluster)
    .bind(&first.namespace)
    .bind(&first.service)
    .bind(severity.as_str())
    .bind(json(&first.labels))
    .bind(started_at)
    .bind(batch.received_at)
    .bind(batch.received_at)
    .bind(resolved_at)
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
