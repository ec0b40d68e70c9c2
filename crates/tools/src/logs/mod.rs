//! Recent lines of log files (nginx error logs, application logs) by pattern and window.
//!
//! Sources are named in the configuration, so a caller can only read what
//! an operator listed. Files are read oldest first (rotated `error.log.1`
//! before `error.log`), so the newest lines come last, and a time window
//! applies to lines that start with a timestamp (nginx's or ISO 8601);
//! continuation lines (stack traces) share the time of the line before.
//! `logs.patterns` compares every source's log shape around a time with its
//! own past (new exceptions, rare span patterns).

mod config;
mod data;
mod files;
mod patterns;
mod search;
mod timestamp;

use std::sync::Arc;

pub use config::LogsConfig;
pub use data::*;
pub use files::{resolve, wildcard_match};
pub use patterns::Patterns;
pub use search::Search;
pub use timestamp::{leading_time, leading_time_end};

use crate::{Tool, ToolError};

/// The logs tools: `logs.patterns` and `logs.search` (last).
pub fn tools(config: &LogsConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    Ok(vec![
        Arc::new(Patterns::new(config)),
        Arc::new(Search::new(config)),
    ])
}
