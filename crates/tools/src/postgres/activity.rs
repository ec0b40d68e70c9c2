//! `postgres.activity`: who holds the connections, from `pg_stat_activity`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;
use sqlx::{PgPool, Row};

use super::data::{Activity, Session};
use crate::{Observation, Tool, ToolError};

const NAME: &str = "postgres.activity";

/// Idle-in-transaction sessions listed at most.
const MAX_SESSIONS: i64 = 50;

const BY_STATE: &str = "SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1";
const OLDEST_XACT: &str = "SELECT extract(epoch FROM max(now() - xact_start))::float8 AS secs FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL";
const WAITING: &str = "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND wait_event_type = 'Lock'";
const IDLE_IN_TRANSACTION: &str = "SELECT pid::int8 AS pid, coalesce(usename::text, '') AS role, coalesce(application_name, '') AS application, extract(epoch FROM now() - state_change)::float8 AS secs FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'idle in transaction' ORDER BY state_change ASC LIMIT $1";

/// A summary of the server's sessions.
pub struct PgActivity {
    pool: PgPool,
}

impl PgActivity {
    /// The tool over `pool`.
    pub fn new(pool: PgPool) -> PgActivity {
        PgActivity { pool }
    }
}

/// A sqlx error as the tool's error. Retriable: the connection failing or
/// timing out, and SQLSTATE classes 08 (connection), 53 (insufficient
/// resources: too many clients) and 57P (shutting down, cannot connect now).
pub fn backend(err: sqlx::Error) -> ToolError {
    let retriable = match &err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        _ => false,
    };
    let message = match &err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    ToolError::Backend {
        tool: NAME.into(),
        message,
        retriable,
    }
}

#[async_trait]
impl Tool for PgActivity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "PostgreSQL's client sessions from pg_stat_activity: max_connections, sessions by state (active, idle, idle in transaction), the oldest open transaction's age, sessions waiting on locks, and the sessions idle in transaction (pid, role, application, seconds) oldest first. Its own session is not counted."
    }

    fn schema(&self) -> serde_json::Value {
        json!({"type": "object", "properties": {}})
    }

    async fn call(&self, _args: &serde_json::Value) -> Result<Observation, ToolError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let max: String = sqlx::query_scalar("SHOW max_connections")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
        let max_connections = max.trim().parse::<i64>().map_err(|e| ToolError::Backend {
            tool: NAME.into(),
            message: format!("max_connections `{max}`: {e}"),
            retriable: false,
        })?;
        let mut by_state = BTreeMap::new();
        for row in sqlx::query(BY_STATE)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
        {
            let state: String = row.try_get("state").map_err(backend)?;
            let n: i64 = row.try_get("n").map_err(backend)?;
            by_state.insert(state, n);
        }
        let oldest_xact_secs: Option<f64> = sqlx::query_scalar(OLDEST_XACT)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
        let waiting: i64 = sqlx::query_scalar(WAITING)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
        let mut idle_in_transaction = Vec::new();
        for row in sqlx::query(IDLE_IN_TRANSACTION)
            .bind(MAX_SESSIONS)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
        {
            idle_in_transaction.push(Session {
                pid: row.try_get("pid").map_err(backend)?,
                role: row.try_get("role").map_err(backend)?,
                application: row.try_get("application").map_err(backend)?,
                state_secs: row
                    .try_get::<Option<f64>, _>("secs")
                    .map_err(backend)?
                    .unwrap_or(0.0),
            });
        }
        let activity = Activity {
            max_connections,
            by_state,
            oldest_xact_secs,
            waiting,
            idle_in_transaction,
        };
        Ok(Observation {
            tool: NAME.into(),
            summary: summary(&activity),
            query: format!(
                "SHOW max_connections; {BY_STATE}; {OLDEST_XACT}; {WAITING}; {IDLE_IN_TRANSACTION}"
            ),
            data: serde_json::to_value(&activity).map_err(|e| ToolError::Backend {
                tool: NAME.into(),
                message: format!("cannot encode the result: {e}"),
                retriable: false,
            })?,
            error: None,
        })
    }
}

/// "17/20 connections in use: 14 idle in transaction, 2 active, 1 idle; oldest transaction 312s; 0 waiting on locks; idle in transaction: leaky-worker x14 (oldest pid 4242, 300s)".
fn summary(a: &Activity) -> String {
    let used: i64 = a.by_state.values().sum();
    let mut states: Vec<(&String, &i64)> = a.by_state.iter().collect();
    states.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut line = format!(
        "{used}/{} connections in use (besides this one)",
        a.max_connections
    );
    if !states.is_empty() {
        line.push_str(&format!(": {}", states.join(", ")));
    }
    if let Some(secs) = a.oldest_xact_secs {
        line.push_str(&format!("; oldest transaction {secs:.0}s"));
    }
    line.push_str(&format!("; {} waiting on locks", a.waiting));
    if let Some(oldest) = a.idle_in_transaction.first() {
        let mut apps: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &a.idle_in_transaction {
            *apps.entry(s.application.as_str()).or_default() += 1;
        }
        let apps: Vec<String> = apps
            .iter()
            .map(|(app, n)| {
                let app = if app.is_empty() {
                    "(no application)"
                } else {
                    app
                };
                format!("{app} x{n}")
            })
            .collect();
        line.push_str(&format!(
            "; idle in transaction: {} (oldest pid {}, {:.0}s)",
            apps.join(", "),
            oldest.pid,
            oldest.state_secs
        ));
    }
    line
}
