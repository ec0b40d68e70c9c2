//! Pull request records and the local forge's pull requests: the whole
//! record as JSON, with the columns searched on beside it.

use pagerless_model::{LocalPullRequest, PullRequest};
use sqlx::SqliteConnection;

use crate::StoreError;

pub(super) async fn save_pull_request(
    conn: &mut SqliteConnection,
    mut pr: PullRequest,
) -> Result<i64, StoreError> {
    let updated = pr
        .updated_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if pr.id == 0 {
        // Insert first to learn the id, then store the body that carries it.
        let id = sqlx::query(
            "INSERT INTO pull_requests (root_key, fate, updated_at, body) VALUES (?, ?, ?, '{}')",
        )
        .bind(&pr.root_key)
        .bind(pr.fate.as_str())
        .bind(&updated)
        .execute(&mut *conn)
        .await?
        .last_insert_rowid();
        pr.id = id;
    }
    let body = serde_json::to_string(&pr)
        .map_err(|e| StoreError::Corrupt(format!("pull request {}: {e}", pr.id)))?;
    let done = sqlx::query(
        "UPDATE pull_requests SET root_key = ?, fate = ?, updated_at = ?, body = ? WHERE id = ?",
    )
    .bind(&pr.root_key)
    .bind(pr.fate.as_str())
    .bind(&updated)
    .bind(body)
    .bind(pr.id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Corrupt(format!("no pull request {}", pr.id)));
    }
    Ok(pr.id)
}

pub(super) enum Which<'a> {
    All,
    Id(i64),
    OpenFor(&'a str),
}

pub(super) async fn pull_requests(
    conn: &mut SqliteConnection,
    which: Which<'_>,
) -> Result<Vec<PullRequest>, StoreError> {
    let bodies: Vec<String> = match which {
        Which::All => {
            sqlx::query_scalar("SELECT body FROM pull_requests ORDER BY id DESC")
                .fetch_all(&mut *conn)
                .await?
        }
        Which::Id(id) => {
            sqlx::query_scalar("SELECT body FROM pull_requests WHERE id = ?")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
        }
        Which::OpenFor(key) => {
            sqlx::query_scalar(
                "SELECT body FROM pull_requests WHERE root_key = ? AND fate = 'open' ORDER BY id DESC LIMIT 1",
            )
            .bind(key)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str(b).map_err(|e| StoreError::Corrupt(format!("pull request: {e}")))
        })
        .collect()
}

pub(super) async fn save_local_pr(
    conn: &mut SqliteConnection,
    mut pr: LocalPullRequest,
) -> Result<u64, StoreError> {
    if pr.number == 0 {
        let n = sqlx::query("INSERT INTO local_forge (body) VALUES ('{}')")
            .execute(&mut *conn)
            .await?
            .last_insert_rowid();
        pr.number = u64::try_from(n).unwrap_or_default();
    }
    let body = serde_json::to_string(&pr)
        .map_err(|e| StoreError::Corrupt(format!("local pull request {}: {e}", pr.number)))?;
    let number = i64::try_from(pr.number).unwrap_or(i64::MAX);
    let done = sqlx::query("UPDATE local_forge SET body = ? WHERE number = ?")
        .bind(body)
        .bind(number)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Corrupt(format!(
            "no local pull request {}",
            pr.number
        )));
    }
    Ok(pr.number)
}

pub(super) async fn local_pr(
    conn: &mut SqliteConnection,
    number: u64,
) -> Result<Option<LocalPullRequest>, StoreError> {
    let number = i64::try_from(number).unwrap_or(i64::MAX);
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM local_forge WHERE number = ?")
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    body.map(|b| {
        serde_json::from_str(&b)
            .map_err(|e| StoreError::Corrupt(format!("local pull request {number}: {e}")))
    })
    .transpose()
}
