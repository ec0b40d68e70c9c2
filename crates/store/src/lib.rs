//! Persistence for pagerless: incidents, their alerts and every delivery that carried them.
//!
//! Key decision: one [`Store`] trait with one implementation per backend
//! (SQLite now, the embedded default; PostgreSQL for several replicas later)
//! rather than a lowest-common-denominator driver, so each backend can use its
//! own strengths. The SQLite backend funnels every write through one writer
//! task that commits concurrent deliveries together (group commit): each
//! delivery is durable (WAL, `synchronous=FULL`) before its caller hears back,
//! and one fsync serves many deliveries.

mod error;
mod sqlite;

use async_trait::async_trait;
use pagerless_model::{
    AlertBatch, Incident, IncidentDetail, IncidentFilter, IncidentId, IngestOutcome, Investigation,
};

pub use error::StoreError;
pub use sqlite::SqliteStore;

/// Row counts, for health checks, tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Incidents stored.
    pub incidents: i64,
    /// Alert instances stored.
    pub alerts: i64,
    /// Deliveries stored.
    pub deliveries: i64,
}

/// Where pagerless keeps its state.
#[async_trait]
pub trait Store: Send + Sync {
    /// Writes one delivery of alerts atomically and durably: either all of it is
    /// stored (and will survive a crash) when this returns `Ok`, or none of it.
    ///
    /// Alert instances are keyed by source, fingerprint and start time, so a
    /// repeated delivery adds nothing. New alerts join the open incident of their
    /// group (or of their fingerprint), else open a new one; an incident whose
    /// alerts have all resolved is resolved.
    async fn ingest(&self, batch: AlertBatch) -> Result<IngestOutcome, StoreError>;

    /// Incidents matching the filter, newest first.
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// One incident with its alerts, or `None` when there is no such incident.
    async fn incident(&self, id: IncidentId) -> Result<Option<IncidentDetail>, StoreError>;

    /// Stores an investigation (its whole trace); returns its id.
    async fn save_investigation(&self, investigation: &Investigation) -> Result<i64, StoreError>;

    /// An incident's investigations, oldest first.
    async fn investigations(&self, incident: IncidentId) -> Result<Vec<Investigation>, StoreError>;

    /// Appends to the hash-chained audit log; returns the entry as chained.
    async fn append_audit(
        &self,
        entry: pagerless_model::AuditInput,
    ) -> Result<pagerless_model::AuditEntry, StoreError>;

    /// The audit log, whole or for one incident, in order.
    async fn audit(
        &self,
        incident: Option<IncidentId>,
    ) -> Result<Vec<pagerless_model::AuditEntry>, StoreError>;

    /// Checks the audit chain; names the first broken entry.
    async fn verify_audit(&self) -> Result<pagerless_model::AuditVerification, StoreError>;

    /// Records an allowed write in the ledger; `false` when its idempotency key was already there.
    async fn record_action(
        &self,
        action: pagerless_model::ActionRecord,
    ) -> Result<bool, StoreError>;

    /// Writes recorded since a time, oldest first.
    async fn actions_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<pagerless_model::ActionRecord>, StoreError>;

    /// Stores a pending approval; returns its id.
    async fn create_approval(&self, approval: pagerless_model::Approval)
    -> Result<i64, StoreError>;

    /// Decides a pending approval; `false` when it was not pending.
    async fn decide_approval(
        &self,
        id: i64,
        status: pagerless_model::ApprovalStatus,
        by: String,
        reason: Option<String>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;

    /// Approvals, all or with one status, oldest first.
    async fn approvals(
        &self,
        status: Option<pagerless_model::ApprovalStatus>,
    ) -> Result<Vec<pagerless_model::Approval>, StoreError>;

    /// One approval.
    async fn approval(&self, id: i64) -> Result<Option<pagerless_model::Approval>, StoreError>;

    /// Sets (or with `None` clears) a guard flag: `kill_switch`, `revoked:NAME`.
    async fn set_flag(&self, name: String, value: Option<String>) -> Result<(), StoreError>;

    /// Every guard flag.
    async fn flags(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Stores a pull request record: inserted when its `id` is 0, else
    /// replaced. Returns its id.
    async fn save_pull_request(&self, pr: pagerless_model::PullRequest) -> Result<i64, StoreError>;

    /// Every pull request record, newest first.
    async fn pull_requests(&self) -> Result<Vec<pagerless_model::PullRequest>, StoreError>;

    /// One pull request record.
    async fn pull_request(
        &self,
        id: i64,
    ) -> Result<Option<pagerless_model::PullRequest>, StoreError>;

    /// The open pull request for a root cause, if there is one.
    async fn open_pull_request(
        &self,
        root_key: &str,
    ) -> Result<Option<pagerless_model::PullRequest>, StoreError>;

    /// Stores a local forge pull request: numbered when its `number` is 0,
    /// else replaced. Returns its number.
    async fn save_local_pr(&self, pr: pagerless_model::LocalPullRequest)
    -> Result<u64, StoreError>;

    /// One local forge pull request.
    async fn local_pr(
        &self,
        number: u64,
    ) -> Result<Option<pagerless_model::LocalPullRequest>, StoreError>;

    /// Moves an incident to `status` (mitigated, escalated, ...); `false` when there is no such incident.
    async fn set_incident_status(
        &self,
        id: IncidentId,
        status: pagerless_model::IncidentStatus,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;

    /// Row counts.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Checks that the store answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Where the store is, for logs (`sqlite:/var/lib/pagerless/pagerless.db`).
    fn location(&self) -> String;
}
