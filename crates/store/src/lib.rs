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

    /// Row counts.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Checks that the store answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Where the store is, for logs (`sqlite:/var/lib/pagerless/pagerless.db`).
    fn location(&self) -> String;
}
