//! The shape of the PostgreSQL tool's `data`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `postgres.activity`: a summary of `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Activity {
    /// `max_connections`.
    pub max_connections: i64,
    /// Client sessions by state (`active`, `idle`, `idle in transaction`).
    pub by_state: BTreeMap<String, i64>,
    /// Age of the oldest open transaction, seconds.
    pub oldest_xact_secs: Option<f64>,
    /// Sessions waiting on a lock.
    pub waiting: i64,
    /// Sessions idle in transaction, oldest first.
    pub idle_in_transaction: Vec<Session>,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Backend pid.
    pub pid: i64,
    /// Role.
    pub role: String,
    /// `application_name`.
    pub application: String,
    /// Seconds in this state.
    pub state_secs: f64,
}
