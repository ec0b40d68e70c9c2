//! The guard's tables: the hash-chained audit log, the ledger of writes,
//! approvals and switches. Writes go through the single writer, so the audit
//! chain is extended by one appender at a time.

use chrono::{DateTime, Utc};
use pagerless_model::{
    ActionRecord, Approval, ApprovalStatus, AuditEntry, AuditInput, AuditVerification, IncidentId,
};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use crate::StoreError;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and every field of the entry, in a fixed
/// order; the body as the JSON text stored (written with keys sorted).
///
/// The text, not a value parsed back from it: a float does not always read
/// back to the same shortest form (`985.6906946328695` parses to the
/// neighbouring `985.6906946328696`), and re-serializing it would make an
/// untouched entry look tampered with.
pub fn chain_hash(
    prev: &str,
    seq: i64,
    at: &DateTime<Utc>,
    identity: &str,
    incident: Option<i64>,
    kind: &str,
    body: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev.to_owned(),
        seq.to_string(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        identity.to_owned(),
        incident.map(|i| i.to_string()).unwrap_or_default(),
        kind.to_owned(),
        body.to_owned(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) async fn append_audit(
    conn: &mut SqliteConnection,
    e: &AuditInput,
) -> Result<AuditEntry, StoreError> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    // Microsecond precision, so the stored time reads back exactly as hashed.
    let at = DateTime::from_timestamp_micros(e.at.timestamp_micros()).unwrap_or(e.at);
    let incident = e.incident_id.map(|i| i.0);
    let body = e.body.to_string();
    let hash = chain_hash(&prev, seq, &at, &e.identity, incident, &e.kind, &body);
    sqlx::query("INSERT INTO audit (seq, at, identity, incident_id, kind, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(seq)
        .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(&e.identity)
        .bind(incident)
        .bind(&e.kind)
        .bind(&body)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(AuditEntry {
        seq,
        at,
        identity: e.identity.clone(),
        incident_id: e.incident_id,
        kind: e.kind.clone(),
        body: e.body.clone(),
        prev_hash: prev,
        hash,
    })
}

type AuditRow = (
    i64,
    String,
    String,
    Option<i64>,
    String,
    String,
    String,
    String,
);

fn entry(row: AuditRow) -> Result<AuditEntry, String> {
    let (seq, at, identity, incident, kind, body, prev_hash, hash) = row;
    Ok(AuditEntry {
        seq,
        at: DateTime::parse_from_rfc3339(&at)
            .map_err(|e| format!("time {at:?}: {e}"))?
            .to_utc(),
        identity,
        incident_id: incident.map(IncidentId),
        kind,
        body: serde_json::from_str(&body).map_err(|e| format!("body is not JSON: {e}"))?,
        prev_hash,
        hash,
    })
}

const AUDIT_SELECT: &str =
    "SELECT seq, at, identity, incident_id, kind, body, prev_hash, hash FROM audit";

pub(super) async fn audit(
    conn: &mut SqliteConnection,
    incident: Option<IncidentId>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows: Vec<AuditRow> = match incident {
        Some(i) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{AUDIT_SELECT} WHERE incident_id = ? ORDER BY seq"
            )))
            .bind(i.0)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{AUDIT_SELECT} ORDER BY seq")))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    rows.into_iter()
        .map(|r| entry(r).map_err(StoreError::Corrupt))
        .collect()
}

pub(super) async fn verify(conn: &mut SqliteConnection) -> Result<AuditVerification, StoreError> {
    let rows: Vec<AuditRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{AUDIT_SELECT} ORDER BY seq")))
            .fetch_all(&mut *conn)
            .await?;
    let mut prev = GENESIS.to_owned();
    let total = rows.len() as i64;
    for (expected_seq, row) in (1i64..).zip(rows) {
        let seq = row.0;
        if seq != expected_seq {
            return Ok(AuditVerification {
                entries: total,
                broken: Some((
                    expected_seq,
                    format!("entry {expected_seq} is missing (the next is {seq})"),
                )),
            });
        }
        let stored_hash = row.7.clone();
        let stored_prev = row.6.clone();
        let stored_body = row.5.clone();
        let e = match entry(row) {
            Ok(e) => e,
            Err(why) => {
                return Ok(AuditVerification {
                    entries: total,
                    broken: Some((seq, why)),
                });
            }
        };
        if stored_prev != prev {
            return Ok(AuditVerification {
                entries: total,
                broken: Some((
                    seq,
                    "its previous hash does not match the entry before it".into(),
                )),
            });
        }
        let again = chain_hash(
            &prev,
            seq,
            &e.at,
            &e.identity,
            e.incident_id.map(|i| i.0),
            &e.kind,
            &stored_body,
        );
        if again != stored_hash {
            return Ok(AuditVerification {
                entries: total,
                broken: Some((seq, "its content does not match its hash".into())),
            });
        }
        prev = stored_hash;
    }
    Ok(AuditVerification {
        entries: total,
        broken: None,
    })
}

pub(super) async fn record_action(
    conn: &mut SqliteConnection,
    a: &ActionRecord,
) -> Result<bool, StoreError> {
    let target =
        serde_json::to_string(&a.target).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let done = sqlx::query(
        "INSERT INTO guard_actions (key, kind, target, service, environment, incident_id, at, replicas_added, cpu_added, memory_added, identity) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&a.key)
    .bind(a.kind.as_str())
    .bind(target)
    .bind(&a.service)
    .bind(&a.environment)
    .bind(a.incident_id.map(|i| i.0))
    .bind(a.at)
    .bind(a.replicas_added)
    .bind(a.cpu_added)
    .bind(a.memory_added)
    .bind(&a.identity)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

type ActionRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    DateTime<Utc>,
    i64,
    f64,
    f64,
    String,
);

pub(super) async fn actions_since(
    conn: &mut SqliteConnection,
    since: DateTime<Utc>,
) -> Result<Vec<ActionRecord>, StoreError> {
    let rows: Vec<ActionRow> = sqlx::query_as(
        "SELECT key, kind, target, service, environment, incident_id, at, replicas_added, cpu_added, memory_added, identity FROM guard_actions WHERE at >= ? ORDER BY id",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(
            |(
                key,
                kind,
                target,
                service,
                environment,
                incident,
                at,
                replicas_added,
                cpu_added,
                memory_added,
                identity,
            )| {
                Ok(ActionRecord {
                    key,
                    kind: serde_json::from_value(serde_json::Value::String(kind.clone()))
                        .map_err(|_| StoreError::Corrupt(format!("action kind {kind:?}")))?,
                    target: serde_json::from_str(&target)
                        .map_err(|e| StoreError::Corrupt(format!("action target: {e}")))?,
                    service,
                    environment,
                    incident_id: incident.map(IncidentId),
                    at,
                    replicas_added,
                    cpu_added,
                    memory_added,
                    identity,
                })
            },
        )
        .collect()
}

pub(super) async fn create_approval(
    conn: &mut SqliteConnection,
    a: &Approval,
) -> Result<i64, StoreError> {
    let request =
        serde_json::to_string(&a.request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let approvers =
        serde_json::to_string(&a.approvers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO approvals (created_at, deadline, incident_id, request, scope, approvers, why, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
    )
    .bind(a.created_at)
    .bind(a.deadline)
    .bind(a.incident_id.map(|i| i.0))
    .bind(request)
    .bind(a.scope.to_string())
    .bind(approvers)
    .bind(&a.why)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Decides a pending approval; `false` when it was not pending.
pub(super) async fn decide_approval(
    conn: &mut SqliteConnection,
    id: i64,
    status: ApprovalStatus,
    by: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ? AND status = 'pending'")
        .bind(status.as_str())
        .bind(by)
        .bind(at)
        .bind(reason)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

type ApprovalRow = (
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
);

pub(super) async fn approvals(
    conn: &mut SqliteConnection,
    status: Option<ApprovalStatus>,
    id: Option<i64>,
) -> Result<Vec<Approval>, StoreError> {
    let mut q = sqlx::QueryBuilder::new(
        "SELECT id, created_at, deadline, incident_id, request, scope, approvers, why, status, decided_by, decided_at, reason FROM approvals WHERE 1 = 1",
    );
    if let Some(s) = status {
        q.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(id) = id {
        q.push(" AND id = ").push_bind(id);
    }
    q.push(" ORDER BY id");
    let rows: Vec<ApprovalRow> = q.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter()
        .map(
            |(
                id,
                created_at,
                deadline,
                incident,
                request,
                scope,
                approvers,
                why,
                status,
                decided_by,
                decided_at,
                reason,
            )| {
                let bad = |what: &str, e: serde_json::Error| {
                    StoreError::Corrupt(format!("approval {id} {what}: {e}"))
                };
                Ok(Approval {
                    id,
                    created_at,
                    deadline,
                    incident_id: incident.map(IncidentId),
                    request: serde_json::from_str(&request).map_err(|e| bad("request", e))?,
                    scope: serde_json::from_str(&scope).map_err(|e| bad("scope", e))?,
                    approvers: serde_json::from_str(&approvers).map_err(|e| bad("approvers", e))?,
                    why,
                    status: serde_json::from_value(serde_json::Value::String(status.clone()))
                        .map_err(|e| bad("status", e))?,
                    decided_by,
                    decided_at,
                    reason,
                })
            },
        )
        .collect()
}

pub(super) async fn set_flag(
    conn: &mut SqliteConnection,
    name: &str,
    value: Option<&str>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => sqlx::query("INSERT INTO guard_flags (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").bind(name).bind(v).execute(&mut *conn).await?,
        None => sqlx::query("DELETE FROM guard_flags WHERE name = ?").bind(name).execute(&mut *conn).await?,
    };
    Ok(())
}

pub(super) async fn flags(
    conn: &mut SqliteConnection,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT name, value FROM guard_flags ORDER BY name")
            .fetch_all(&mut *conn)
            .await?,
    )
}
