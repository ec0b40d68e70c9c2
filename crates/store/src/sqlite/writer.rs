//! The single writer: group commit of concurrent deliveries.
//!
//! Jobs queue on a channel. The writer takes the first, then whatever else is
//! already waiting (up to [`MAX_GROUP`]), runs each inside its own savepoint of
//! one `BEGIN IMMEDIATE` transaction, commits once, and only then answers each
//! caller. A job that fails rolls back to its savepoint alone; a failed commit
//! fails them all. No caller hears `Ok` before its data is on disk.

use pagerless_model::{AlertBatch, IngestOutcome};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::ingest;
use crate::StoreError;

/// How many jobs may wait for the writer before senders wait too (back-pressure).
pub(super) const QUEUE_DEPTH: usize = 4096;

/// The most jobs committed together.
const MAX_GROUP: usize = 512;

/// Work for the writer.
pub(super) enum WriteJob {
    /// Store one delivery and answer with what it did.
    Ingest(
        Box<AlertBatch>,
        oneshot::Sender<Result<IngestOutcome, StoreError>>,
    ),
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
            // The transaction as a whole failed: nothing of the group is stored.
            tracing::error!(error = %e, jobs = group.len(), "store commit failed");
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let msg = e.to_string();
            group
                .iter()
                .map(|_| Err(StoreError::Query(sqlx::Error::Protocol(msg.clone()))))
                .collect()
        }
    };
    for ((_, reply), result) in group.drain(..).zip(results) {
        // The caller may have gone (client hung up); its data is stored all the same.
        let _ = reply.send(result);
    }
}

async fn write_all(
    conn: &mut SqliteConnection,
    group: &[Pending],
) -> Result<Vec<Result<IngestOutcome, StoreError>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut results = Vec::with_capacity(group.len());
    for (batch, _) in group {
        sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
        match ingest::ingest(conn, batch).await {
            Ok(outcome) => {
                sqlx::query("RELEASE job").execute(&mut *conn).await?;
                results.push(Ok(outcome));
            }
            Err(e) => {
                tracing::warn!(error = %e, group_key = %batch.group_key, "delivery not stored");
                sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
                sqlx::query("RELEASE job").execute(&mut *conn).await?;
                results.push(Err(e));
            }
        }
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(results)
}
