//! The shape of the logs tool's `data`.

use serde::{Deserialize, Serialize};

/// `logs.search`: lines matching a pattern.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Matches {
    /// The pattern.
    pub pattern: String,
    /// Matching lines, oldest first.
    pub lines: Vec<Match>,
    /// Whether more matched than were returned.
    pub truncated: bool,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The file.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The text.
    pub text: String,
}
