//! What can go wrong computing a report.

use pagerless_store::StoreError;

/// A report that could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store could not be read.
    #[error("cannot read the store for the report: {0}")]
    Store(#[from] StoreError),
    /// A window length such as `7d` could not be read.
    #[error(
        "`{text}` is not a window length: {why}; expected a number and a unit, such as 7d, 24h, 30m or 90s"
    )]
    Duration {
        /// What was given.
        text: String,
        /// What was wrong with it.
        why: &'static str,
    },
    /// The window ends before it starts.
    #[error("the report's window is empty: it starts at {since} and ends at {until}")]
    Window {
        /// The start.
        since: chrono::DateTime<chrono::Utc>,
        /// The end.
        until: chrono::DateTime<chrono::Utc>,
    },
}

impl ReportError {
    /// Whether trying again later may succeed (a busy store).
    pub fn is_retriable(&self) -> bool {
        match self {
            ReportError::Store(e) => e.is_retriable(),
            ReportError::Duration { .. } | ReportError::Window { .. } => false,
        }
    }
}
