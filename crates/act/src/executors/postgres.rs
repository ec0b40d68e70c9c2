//! PostgreSQL writes: end sessions left idle in a transaction.
//!
//! Only sessions matching a role or an application name (one is required),
//! idle in transaction for longer than the threshold, and never those of a
//! superuser nor pagerless' own. Run with a role that is a member of
//! `pg_signal_backend` (to end them) and `pg_read_all_stats` (to see their
//! state) and nothing more: the executor needs no other right.

use std::time::Duration;

use async_trait::async_trait;
use pagerless_guard::Authorized;
use pagerless_model::{ActionKind, ActionRequest};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{ActError, Executed, Executor};

/// Sessions idle in transaction under this long are never ended, whatever the
/// request says (the guard refuses them too).
pub const MIN_IDLE_SECS: i64 = 30;

/// The sessions that may be ended, oldest first, with their age in seconds.
const CANDIDATES: &str = "\
SELECT a.pid, a.usename::text, a.application_name, \
       extract(epoch FROM now() - a.state_change)::float8 AS idle \
FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid \
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)') \
  AND a.state_change < now() - make_interval(secs => $1) \
  AND NOT r.rolsuper \
  AND a.pid <> pg_backend_pid() \
  AND ($2::text IS NULL OR a.usename = $2) \
  AND ($3::text IS NULL OR a.application_name = $3) \
ORDER BY a.state_change";

/// The PostgreSQL executor.
pub struct PostgresExecutor {
    options: PgConnectOptions,
    timeout: Duration,
}

impl PostgresExecutor {
    /// An executor for the server at `url` (its own credentials: write rights
    /// are kept apart from the read tools' read-only role).
    pub fn new(url: &str, timeout: Duration) -> Result<PostgresExecutor, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("a PostgreSQL URL starts with postgres://".into());
        }
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| format!("bad PostgreSQL URL: {e}"))?;
        Ok(PostgresExecutor {
            options: options
                .application_name("pagerless-act")
                .options([("statement_timeout", format!("{}", timeout.as_millis()))]),
            timeout,
        })
    }
}

#[async_trait]
impl Executor for PostgresExecutor {
    fn kinds(&self) -> &'static [ActionKind] {
        &[ActionKind::TerminateIdleSessions]
    }

    async fn execute(&self, action: Authorized<ActionRequest>) -> Result<Executed, ActError> {
        let req = action.request();
        let invalid = |message: &str| ActError::Invalid {
            kind: req.kind,
            target: req.target.to_string(),
            message: message.to_owned(),
        };
        let failed = |message: String, retriable: bool| ActError::Failed {
            kind: req.kind,
            target: req.target.to_string(),
            message,
            retriable,
        };
        let text = |k: &str| {
            req.params
                .get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let (role, application) = (text("role"), text("application"));
        if role.is_none() && application.is_none() {
            return Err(invalid(
                "a `role` or an `application` is needed: sessions are never ended wholesale",
            ));
        }
        let idle = match req.params.get("idle_secs") {
            None => 300,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| invalid("`idle_secs` must be a whole number"))?,
        };
        if idle < MIN_IDLE_SECS {
            return Err(invalid(&format!(
                "sessions idle for under {MIN_IDLE_SECS} s are not ended"
            )));
        }
        let work = async {
            let mut conn = PgConnection::connect_with(&self.options)
                .await
                .map_err(|e| failed(format!("cannot connect: {e}"), true))?;
            // Without pg_read_all_stats the state of other roles' sessions
            // reads as NULL, and nothing would ever match: say so instead.
            let (sees, who): (bool, String) = sqlx::query_as(
                "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'), \
                        current_user::text FROM pg_roles WHERE rolname = current_user",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(|e| failed(e.to_string(), false))?;
            if !sees {
                return Err(failed(
                    format!(
                        "role {who} cannot see other sessions' state: GRANT pg_read_all_stats, pg_signal_backend TO {who}"
                    ),
                    false,
                ));
            }
            let rows: Vec<(i32, Option<String>, String, f64)> = sqlx::query_as(CANDIDATES)
                .bind(idle as f64)
                .bind(&role)
                .bind(&application)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| failed(e.to_string(), false))?;
            let mut ended = Vec::new();
            for (pid, user, app, secs) in rows {
                // The session may have moved on since it was listed: end it only
                // if it is still idle in the same transaction state.
                let done: Option<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE pid = $1 AND state IN ('idle in transaction', 'idle in transaction (aborted)')",
                )
                .bind(pid)
                .fetch_optional(&mut conn)
                .await
                .map_err(|e| failed(e.to_string(), false))?;
                if done == Some(true) {
                    tracing::info!(pid, user = ?user, application = %app, idle_secs = secs, "ended an idle-in-transaction session");
                    ended.push(pid);
                }
            }
            let _ = conn.close().await;
            Ok::<_, ActError>(ended)
        };
        let ended = tokio::time::timeout(self.timeout * 4, work)
            .await
            .map_err(|_| failed("timed out".into(), true))??;
        let who = [
            role.map(|r| format!("role {r}")),
            application.map(|a| format!("application {a}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        Ok(Executed {
            summary: format!(
                "ended {} session(s) of {who} idle in transaction over {idle} s on {}",
                ended.len(),
                req.target
            ),
            // An ended session cannot be brought back; its client reconnects.
            undo: None,
        })
    }
}
