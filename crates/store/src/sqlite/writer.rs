//! The single writer: group commit of concurrent deliveries.
//!
//! Jobs queue on a channel. The writer takes the first, then whatever else is
//! already waiting (up to [`MAX_GROUP`]), runs them all in one `BEGIN
//! IMMEDIATE` transaction, commits once, and only then answers each caller.
//! When anything in the group fails, the group is rolled back and each job is
//! retried alone, so one bad job fails only itself. (Savepoints per job would
//! isolate failures too, at two more statements per job on the hot path; a
//! failure is rare enough to pay for instead.) No caller hears `Ok` before its
//! data is on disk.

use pagerless_model::{AlertBatch, IngestOutcome};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::ingest;
use crate::StoreError;

/// How many jobs may wait for the writer before senders wait too (back-pressure).
pub(super) const QUEUE_DEPTH: usize = 4096;

/// The most jobs committed together.
const MAX_GROUP: usize = 512;

/// A write to run on the writer's connection.
pub(super) type Task = Box<
    dyn for<'c> FnOnce(
            &'c mut SqliteConnection,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'c>>
        + Send,
>;

/// Work for the writer.
pub(super) enum WriteJob {
    /// Store one delivery and answer with what it did.
    Ingest(
        Box<AlertBatch>,
        oneshot::Sender<Result<IngestOutcome, StoreError>>,
    ),
    /// Store an investigation and answer with its id.
    Investigation(
        Box<pagerless_model::Investigation>,
        oneshot::Sender<Result<i64, StoreError>>,
    ),
    /// Any other write, run on the writer's connection in turn (it answers by itself).
    Task(Task),
    /// Finish what is queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// Runs until every sender is gone or a `Close` arrives.
pub(super) async fn run(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut closing = None;
    while let Some(first) = jobs.recv().await {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                WriteJob::Ingest(batch, reply) => group.push((batch, reply)),
                WriteJob::Investigation(inv, reply) => {
                    // Rare and independent of deliveries: its own transaction.
                    if !group.is_empty() {
                        commit_group(&mut conn, &mut group).await;
                    }
                    let _ = reply.send(save_investigation(&mut conn, &inv).await);
                }
                WriteJob::Task(task) => {
                    if !group.is_empty() {
                        commit_group(&mut conn, &mut group).await;
                    }
                    task(&mut conn).await;
                }
                WriteJob::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if group.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        if !group.is_empty() {
            commit_group(&mut conn, &mut group).await;
        }
        if closing.is_some() {
            break;
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the store's writer connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

type Pending = (
    Box<AlertBatch>,
    oneshot::Sender<Result<IngestOutcome, StoreError>>,
);

async fn commit_group(conn: &mut SqliteConnection, group: &mut Vec<Pending>) {
    let results = match write_all(conn, group).await {
        Ok(results) => results,
        Err(e) => {
            // Something in the group failed and nothing of it is stored. Find
            // out which: each job again in a transaction of its own.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            tracing::warn!(error = %e, jobs = group.len(), "group commit failed; retrying jobs one by one");
            let mut results = Vec::with_capacity(group.len());
            for job in group.iter() {
                let result = match write_all(conn, std::slice::from_ref(job)).await {
                    Ok(mut one) => one.pop().unwrap_or(Err(StoreError::WriterGone)),
                    Err(e) => {
                        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                        tracing::error!(error = %e, group_key = %job.0.group_key, "delivery not stored");
                        Err(e)
                    }
                };
                results.push(result);
            }
            results
        }
    };
    for ((_, reply), result) in group.drain(..).zip(results) {
        // The caller may have gone (client hung up); its data is stored all the same.
        let _ = reply.send(result);
    }
}

/// Writes the jobs in one transaction: all of them are committed, or none.
async fn write_all(
    conn: &mut SqliteConnection,
    group: &[Pending],
) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut results = Vec::with_capacity(group.len());
    for (batch, _) in group {
        results.push(Ok(ingest::ingest(conn, batch).await?));
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(results)
}

async fn save_investigation(
    conn: &mut SqliteConnection,
    inv: &pagerless_model::Investigation,
) -> Result<i64, StoreError> {
    let (outcome, category) = match &inv.outcome {
        pagerless_model::Outcome::Diagnosed { diagnosis, .. } => {
            ("diagnosed", Some(diagnosis.category.clone()))
        }
        pagerless_model::Outcome::Escalated { .. } => ("escalated", None),
    };
    let body = serde_json::to_string(inv).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO investigations (incident_id, started_at, reasoner, outcome, category, body) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(inv.incident_id.map(|i| i.0))
    .bind(inv.started_at)
    .bind(&inv.reasoner)
    .bind(outcome)
    .bind(category)
    .bind(body)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}
