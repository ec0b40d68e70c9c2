//! What the guard keeps: the audit log's entries, the ledger of writes, and
//! pending approvals — as the store holds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ActionKind, ActionRequest, IncidentId, Target};

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (the agent's identity or the approving human).
    pub identity: String,
    /// The incident, if any.
    pub incident_id: Option<IncidentId>,
    /// `decision`, `approval`, `action_start`, `action_outcome`, `kill_switch`, `revocation`, ...
    pub kind: String,
    /// The details.
    pub body: serde_json::Value,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over the previous hash and this entry's fields.
    pub hash: String,
}

/// An audit entry to append (the store numbers and chains it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditInput {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub identity: String,
    /// The incident, if any.
    pub incident_id: Option<IncidentId>,
    /// The kind of entry.
    pub kind: String,
    /// The details.
    pub body: serde_json::Value,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: i64,
    /// The first broken entry and why, if any.
    pub broken: Option<(i64, String)>,
}

/// A write the guard allowed, in the ledger that quotas and budgets count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The idempotency key: the same key is never done twice.
    pub key: String,
    /// What.
    pub kind: ActionKind,
    /// To what.
    pub target: Target,
    /// The service it was for.
    pub service: Option<String>,
    /// The environment.
    pub environment: String,
    /// The incident.
    pub incident_id: Option<IncidentId>,
    /// When it was allowed.
    pub at: DateTime<Utc>,
    /// Replicas it added (scale).
    pub replicas_added: i64,
    /// CPU cores it added to limits (raise_limit).
    #[serde(default)]
    pub cpu_added: f64,
    /// Memory it added to limits, bytes (raise_limit).
    #[serde(default)]
    pub memory_added: f64,
    /// Who acts.
    pub identity: String,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// Approved.
    Approved,
    /// Denied by a human.
    Denied,
    /// Nobody answered in time: denied.
    Expired,
}

impl ApprovalStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }
}

/// A request waiting for (or past) a human's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id.
    pub id: i64,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub deadline: DateTime<Utc>,
    /// The incident.
    pub incident_id: Option<IncidentId>,
    /// The request.
    pub request: ActionRequest,
    /// The incident's scope at the time (the guard's, as JSON).
    pub scope: serde_json::Value,
    /// Who may approve.
    pub approvers: Vec<String>,
    /// Why a human is needed.
    pub why: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Their reason.
    pub reason: Option<String>,
}
