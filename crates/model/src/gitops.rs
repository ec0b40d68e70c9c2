//! Pull requests: the permanent fix as pagerless tracks it (whatever the
//! forge), and the local forge's own pull requests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ActionRequest, Fix, IncidentId};

/// Where a pull request stands on its forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestStatus {
    /// Open (draft or not).
    Open,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}

/// What became of a proposed fix: the correctness-rate KPI counts these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Waiting for review.
    Open,
    /// Merged, and the merged tree holds exactly what was proposed.
    MergedUnmodified,
    /// Merged after a human changed it.
    MergedModified,
    /// Closed without merging.
    Closed,
}

impl Fate {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Open => "open",
            Fate::MergedUnmodified => "merged_unmodified",
            Fate::MergedModified => "merged_modified",
            Fate::Closed => "closed",
        }
    }

    /// Whether it is final.
    pub fn is_final(self) -> bool {
        !matches!(self, Fate::Open)
    }
}

impl std::fmt::Display for Fate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation command's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRun {
    /// The command, as configured.
    pub command: String,
    /// Its exit code (`None` when it was killed or timed out).
    pub exit_code: Option<i32>,
    /// Standard output and error, trimmed to a readable size.
    pub output: String,
    /// How long it took, ms.
    pub duration_ms: u64,
}

impl ValidationRun {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A permanent fix proposed as a pull request, tracked to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    /// pagerless's id for it (0 before it is stored).
    pub id: i64,
    /// What makes two incidents "the same root cause": one pull request each.
    pub root_key: String,
    /// The incidents it fixes, first one first.
    pub incidents: Vec<IncidentId>,
    /// `local`, `github`, `gitlab`, `gitea`.
    pub forge: String,
    /// Its number on the forge.
    pub number: u64,
    /// Where a human opens it.
    pub url: String,
    /// The repository (its remote, without credentials).
    pub repo: String,
    /// The branch with the change.
    pub branch: String,
    /// The branch it merges into.
    pub base: String,
    /// The base commit the change was made on.
    pub base_sha: String,
    /// The proposed commit.
    pub head_sha: String,
    /// The title.
    pub title: String,
    /// The body, as posted.
    pub body: String,
    /// The unified diff of the change.
    pub diff: String,
    /// The files it changes.
    pub files: Vec<String>,
    /// The fix it carries.
    pub fix: Fix,
    /// The validation that passed before it was pushed.
    pub validation: Vec<ValidationRun>,
    /// Humans asked to review.
    pub reviewers: Vec<String>,
    /// What became of it.
    pub fate: Fate,
    /// The commit that merged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// Temporary runtime changes to revert once the fix is live (scale back).
    #[serde(default)]
    pub revert_on_merge: Vec<ActionRequest>,
    /// What was done about them after the merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When its fate became final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

/// A comment on a local pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Who.
    pub author: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub text: String,
}

/// A pull request on the local forge (the embedded default forge: the branch
/// is pushed to the repository's remote, the pull request lives here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPullRequest {
    /// Its number (0 before it is stored).
    pub number: u64,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// The branch with the change.
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    /// Reviewers asked.
    pub reviewers: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Open, merged or closed.
    pub status: PullRequestStatus,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The merge commit, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
