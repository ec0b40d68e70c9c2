//! What can go wrong in the store.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// There is no store at the path and this command does not create one.
    #[error(
        "no pagerless store at {0}: start `pagerless serve` with the same --data-dir first, or pass the right --data-dir"
    )]
    Missing(PathBuf),
    /// Applying the schema migrations failed.
    #[error("migrating the store failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be decoded.
    #[error("corrupt value in the store: {0}")]
    Corrupt(String),
    /// The writer task has stopped (the process is shutting down, or it crashed).
    #[error("the store's writer has stopped")]
    WriterGone,
}

impl StoreError {
    /// Whether trying again later may succeed (a busy database, a closing writer).
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Query(sqlx::Error::Database(db)) => {
                let msg = db.message();
                msg.contains("database is locked") || msg.contains("busy")
            }
            StoreError::Query(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => true,
            StoreError::WriterGone => true,
            _ => false,
        }
    }
}
