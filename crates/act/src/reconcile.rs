//! After a crash: writes that were started and never given an outcome.
//!
//! `respond` audits `action_start` before a write and `action_outcome` after
//! it. A process killed between the two leaves a start with no outcome: the
//! write may or may not have happened. On start-up each such write is checked
//! against the world where its executor can look (replicas, a node's
//! schedulability) and given a `reconciled` outcome; it is never done again
//! (the guard's ledger already holds its idempotency key).

use std::collections::HashSet;

use chrono::Utc;
use pagerless_model::{ActionRequest, AuditInput, IncidentId};
use pagerless_store::Store;
use serde::Serialize;
use serde_json::json;

use crate::Executors;

/// One write found without an outcome, and what was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciled {
    /// The incident.
    pub incident: Option<IncidentId>,
    /// The write.
    pub request: ActionRequest,
    /// `done`, `not_done` or `unknown` (no executor can look).
    pub observed: &'static str,
}

/// Finds started writes without an outcome, checks them, and audits the
/// result as an `action_outcome` with `"outcome": "reconciled"`.
pub async fn reconcile(
    store: &dyn Store,
    executors: &Executors,
    identity: &str,
) -> Result<Vec<Reconciled>, pagerless_store::StoreError> {
    let entries = store.audit(None).await?;
    // Starts and outcomes pair up by incident and request, in order.
    let key = |incident: Option<IncidentId>, request: &serde_json::Value| {
        format!("{}|{request}", incident.map_or(0, |i| i.0))
    };
    let mut open: Vec<(String, Option<IncidentId>, serde_json::Value)> = Vec::new();
    for e in &entries {
        let Some(request) = e.body.get("request") else {
            continue;
        };
        match e.kind.as_str() {
            "action_start" => {
                open.push((key(e.incident_id, request), e.incident_id, request.clone()))
            }
            "action_outcome" => {
                let k = key(e.incident_id, request);
                if let Some(i) = open.iter().position(|(ok, ..)| *ok == k) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (k, incident, request) in open {
        if !seen.insert(k) {
            continue;
        }
        let Ok(request) = serde_json::from_value::<ActionRequest>(request) else {
            continue;
        };
        let observed = match executors.observe(&request).await {
            Some(true) => "done",
            Some(false) => "not_done",
            None => "unknown",
        };
        tracing::warn!(incident = ?incident, kind = %request.kind, target = %request.target, observed, "a write was interrupted; reconciled, not repeated");
        store
            .append_audit(AuditInput {
                at: Utc::now(),
                identity: identity.to_owned(),
                incident_id: incident,
                kind: "action_outcome".into(),
                body: json!({
                    "request": request,
                    "outcome": "reconciled",
                    "observed": observed,
                    "summary": format!("interrupted before its outcome was recorded; found {observed}; not repeated"),
                }),
            })
            .await?;
        out.push(Reconciled {
            incident,
            request,
            observed,
        });
    }
    Ok(out)
}
