//! The SQLite backend: one file under the data dir, WAL mode, group-committed writes.
//!
//! Reads go through a small pool of read-only connections (WAL lets them run
//! beside the writer); writes go through [`writer`], one connection owned by
//! one task, which makes concurrent deliveries share a transaction and its fsync.

mod gitops;
mod guard;
mod ingest;
mod rows;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use pagerless_model::{
    AlertBatch, Incident, IncidentDetail, IncidentFilter, IncidentId, IngestOutcome,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::{Store, StoreError, StoreStats};
use rows::{AlertRow, IncidentRow};
use writer::WriteJob;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many times opening is tried while another process holds the lock.
const OPEN_ATTEMPTS: u64 = 8;

/// Takes the exclusive lock on `<store>.lock`, waiting for another process
/// that holds it; released when the returned file is dropped.
async fn migration_lock(path: &Path) -> Result<Option<std::fs::File>, sqlx::Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock = std::path::PathBuf::from(name);
    tokio::task::spawn_blocking(move || {
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
        {
            Ok(f) => f,
            // A reader without write access to the folder cannot migrate
            // either; let SQLite itself refuse if it must.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
            Err(e) => return Err(e),
        };
        file.lock()?;
        Ok(Some(file))
    })
    .await
    .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
    .map_err(sqlx::Error::Io)
}

/// Whether `e` is SQLite's "database is locked/busy", which is worth a retry.
fn is_busy(e: &StoreError) -> bool {
    let db = match e {
        StoreError::Query(sqlx::Error::Database(db))
        | StoreError::Migrate(
            sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(db))
            | sqlx::migrate::MigrateError::ExecuteMigration(sqlx::Error::Database(db), _),
        ) => db,
        _ => return false,
    };
    // Extended result codes keep the primary code in the low byte:
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6).
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// How many incidents a listing returns when the filter sets no limit.
const DEFAULT_LIMIT: u32 = 100;

/// The SQLite store. Cheap to share behind an `Arc`; dropping it stops the writer
/// after the writes already queued.
pub struct SqliteStore {
    path: PathBuf,
    reads: SqlitePool,
    writes: mpsc::Sender<WriteJob>,
}

impl SqliteStore {
    /// Runs `f` on the writer's connection, in turn with every other write.
    async fn write<T: Send + 'static>(
        &self,
        f: impl for<'c> FnOnce(
            &'c mut sqlx::SqliteConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
        > + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let task: writer::Task = Box::new(move |conn| {
            Box::pin(async move {
                let _ = reply.send(f(conn).await);
            })
        });
        self.writes
            .send(WriteJob::Task(task))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Opens the store at `path`, creating the file and its folder when missing,
    /// and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: sqlx::Error::Io(e),
            })?;
        }
        Self::connect(path, true).await
    }

    /// Opens an existing store; fails with [`StoreError::Missing`] when there is none.
    /// Used by commands that only read, so that a wrong `--data-dir` is reported
    /// instead of silently creating an empty store.
    pub async fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        Self::connect(path, false).await
    }

    async fn connect(path: &Path, create: bool) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode this syncs the log on every commit, so an
            // acknowledged delivery survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .log_statements(tracing::log::LevelFilter::Trace);

        // Two processes opening one fresh store at once (a server starting
        // while a command reads) can meet SQLITE_BUSY on the switch to WAL,
        // which does not wait on busy_timeout. Retry that briefly instead of
        // failing a start-up over a lock that is released in milliseconds.
        let mut attempt = 0;
        let conn = loop {
            attempt += 1;
            let opened = async {
                let mut conn = base.clone().create_if_missing(create).connect().await?;
                // Two processes must not migrate at once: SQLite's migrator takes
                // no lock, so both would run migration 1 on a fresh store
                // ("table incidents already exists"). A file lock beside the
                // store serializes them; the second finds nothing to do.
                let _lock = migration_lock(path).await.map_err(open_err)?;
                MIGRATOR.run(&mut conn).await?;
                Ok::<_, StoreError>(conn)
            }
            .await;
            match opened {
                Err(e) if attempt < OPEN_ATTEMPTS && is_busy(&e) => {
                    tracing::debug!(attempt, error = %e, "store busy while opening; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                other => break other,
            }
        };
        let conn = conn.map_err(|e| match e {
            StoreError::Query(source) => open_err(source),
            other => other,
        })?;

        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;

        let (tx, rx) = mpsc::channel(writer::QUEUE_DEPTH);
        tokio::spawn(writer::run(conn, rx));
        tracing::debug!(path = %path.display(), "sqlite store open");
        Ok(SqliteStore {
            path: path.to_owned(),
            reads,
            writes: tx,
        })
    }

    /// Closes the store: waits for queued writes, then closes every connection.
    pub async fn close(self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.writes.send(WriteJob::Close(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
        self.reads.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(&self, batch: AlertBatch) -> Result<IngestOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteJob::Ingest(Box::new(batch), reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut q = sqlx::QueryBuilder::new(rows::INCIDENT_SELECT);
        q.push(" WHERE 1 = 1");
        if let Some(status) = filter.status {
            q.push(" AND i.status = ").push_bind(status.as_str());
        }
        if let Some(env) = &filter.environment {
            q.push(" AND i.environment = ")
                .push_bind(env.as_str().to_owned());
        }
        if let Some(service) = &filter.service {
            q.push(" AND i.service = ").push_bind(service.clone());
        }
        q.push(" ORDER BY i.id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_LIMIT)));
        let rows: Vec<IncidentRow> = q.build_query_as().fetch_all(&self.reads).await?;
        rows.into_iter().map(IncidentRow::into_model).collect()
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<IncidentDetail>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        // One read transaction, so the incident and its alerts are one snapshot.
        let mut tx = conn.begin().await?;
        let row: Option<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE i.id = ?",
            rows::INCIDENT_SELECT
        )))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let alerts: Vec<AlertRow> = sqlx::query_as(rows::ALERT_SELECT_BY_INCIDENT)
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(IncidentDetail {
            incident: row.into_model()?,
            alerts: alerts
                .into_iter()
                .map(AlertRow::into_model)
                .collect::<Result<_, _>>()?,
        }))
    }

    async fn save_investigation(
        &self,
        investigation: &pagerless_model::Investigation,
    ) -> Result<i64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteJob::Investigation(
                Box::new(investigation.clone()),
                reply,
            ))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn investigations(
        &self,
        incident: IncidentId,
    ) -> Result<Vec<pagerless_model::Investigation>, StoreError> {
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM investigations WHERE incident_id = ? ORDER BY id")
                .bind(incident.0)
                .fetch_all(&self.reads)
                .await?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b)
                    .map_err(|e| StoreError::Corrupt(format!("investigation: {e}")))
            })
            .collect()
    }

    async fn append_audit(
        &self,
        entry: pagerless_model::AuditInput,
    ) -> Result<pagerless_model::AuditEntry, StoreError> {
        self.write(move |c| Box::pin(async move { guard::append_audit(c, &entry).await }))
            .await
    }

    async fn audit(
        &self,
        incident: Option<IncidentId>,
    ) -> Result<Vec<pagerless_model::AuditEntry>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        guard::audit(&mut conn, incident).await
    }

    async fn verify_audit(&self) -> Result<pagerless_model::AuditVerification, StoreError> {
        let mut conn = self.reads.acquire().await?;
        guard::verify(&mut conn).await
    }

    async fn record_action(
        &self,
        action: pagerless_model::ActionRecord,
    ) -> Result<bool, StoreError> {
        self.write(move |c| Box::pin(async move { guard::record_action(c, &action).await }))
            .await
    }

    async fn actions_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<pagerless_model::ActionRecord>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        guard::actions_since(&mut conn, since).await
    }

    async fn create_approval(
        &self,
        approval: pagerless_model::Approval,
    ) -> Result<i64, StoreError> {
        self.write(move |c| Box::pin(async move { guard::create_approval(c, &approval).await }))
            .await
    }

    async fn decide_approval(
        &self,
        id: i64,
        status: pagerless_model::ApprovalStatus,
        by: String,
        reason: Option<String>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.write(move |c| {
            Box::pin(async move {
                guard::decide_approval(c, id, status, &by, reason.as_deref(), at).await
            })
        })
        .await
    }

    async fn approvals(
        &self,
        status: Option<pagerless_model::ApprovalStatus>,
    ) -> Result<Vec<pagerless_model::Approval>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        guard::approvals(&mut conn, status, None).await
    }

    async fn approval(&self, id: i64) -> Result<Option<pagerless_model::Approval>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        Ok(guard::approvals(&mut conn, None, Some(id)).await?.pop())
    }

    async fn set_flag(&self, name: String, value: Option<String>) -> Result<(), StoreError> {
        self.write(move |c| {
            Box::pin(async move { guard::set_flag(c, &name, value.as_deref()).await })
        })
        .await
    }

    async fn flags(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        guard::flags(&mut conn).await
    }

    async fn save_pull_request(&self, pr: pagerless_model::PullRequest) -> Result<i64, StoreError> {
        self.write(move |c| Box::pin(async move { gitops::save_pull_request(c, pr).await }))
            .await
    }

    async fn pull_requests(&self) -> Result<Vec<pagerless_model::PullRequest>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        gitops::pull_requests(&mut conn, gitops::Which::All).await
    }

    async fn pull_request(
        &self,
        id: i64,
    ) -> Result<Option<pagerless_model::PullRequest>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        Ok(gitops::pull_requests(&mut conn, gitops::Which::Id(id))
            .await?
            .pop())
    }

    async fn open_pull_request(
        &self,
        root_key: &str,
    ) -> Result<Option<pagerless_model::PullRequest>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        Ok(
            gitops::pull_requests(&mut conn, gitops::Which::OpenFor(root_key))
                .await?
                .pop(),
        )
    }

    async fn save_local_pr(
        &self,
        pr: pagerless_model::LocalPullRequest,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(async move { gitops::save_local_pr(c, pr).await }))
            .await
    }

    async fn local_pr(
        &self,
        number: u64,
    ) -> Result<Option<pagerless_model::LocalPullRequest>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        gitops::local_pr(&mut conn, number).await
    }

    async fn set_incident_status(
        &self,
        id: IncidentId,
        status: pagerless_model::IncidentStatus,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.write(move |c| {
            Box::pin(async move {
                // A resolved incident stays resolved: its alerts said so.
                let done = sqlx::query("UPDATE incidents SET status = ?, updated_at = ? WHERE id = ? AND status <> 'resolved'")
                    .bind(status.as_str())
                    .bind(at)
                    .bind(id.0)
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let (incidents, alerts, deliveries): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM alerts), \
             (SELECT count(*) FROM deliveries)",
        )
        .fetch_one(&self.reads)
        .await?;
        Ok(StoreStats {
            incidents,
            alerts,
            deliveries,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reads).await?;
        if self.writes.is_closed() {
            return Err(StoreError::WriterGone);
        }
        Ok(())
    }

    fn location(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests;
