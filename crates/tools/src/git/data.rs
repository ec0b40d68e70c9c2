//! The shapes of the git tool's `data`.

use serde::{Deserialize, Serialize};

/// `git.history`: commits touching the paths, newest first, with the YAML
/// values (or config directives) each changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    /// The commits.
    pub commits: Vec<CommitInfo>,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Full hash.
    pub hash: String,
    /// `Name <email>`.
    pub author: String,
    /// Author date, RFC 3339.
    pub date: String,
    /// Subject line.
    pub message: String,
    /// Files changed.
    pub files: Vec<String>,
    /// Values changed, by key path.
    pub changes: Vec<ValueChange>,
}

/// One changed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueChange {
    /// The file.
    pub file: String,
    /// Key path (`resources.limits.memory`) or directive name.
    pub key: String,
    /// Before (`None`: added).
    pub before: Option<String>,
    /// After (`None`: removed).
    pub after: Option<String>,
}
