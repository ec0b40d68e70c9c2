//! Forges: where a pull request is opened, reviewed and merged. One trait,
//! one implementation per forge: the local forge (the embedded default: the
//! pull request lives in pagerless's store and merges with a real `git
//! merge`), and REST clients for GitHub, GitLab and Gitea.

mod gitea;
mod github;
mod gitlab;
mod http;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use pagerless_model::PullRequestStatus;

pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;

/// A pull request to open; its branch is already pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPullRequest {
    /// The title.
    pub title: String,
    /// The body (Markdown).
    pub body: String,
    /// The branch with the change.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// Humans asked to review (forge user names).
    pub reviewers: Vec<String>,
    /// Labels to set.
    pub labels: Vec<String>,
}

/// An opened pull request (a merge request on GitLab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    /// Its number on the forge (GitLab's `iid`).
    pub number: u64,
    /// Where a human opens it.
    pub url: String,
}

/// A pull request's state as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestState {
    /// Open, merged or closed.
    pub status: PullRequestStatus,
    /// The commit its head branch points at now.
    pub head_sha: Option<String>,
    /// The commit that merged it (a merge or squash commit), once merged.
    pub merge_commit: Option<String>,
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge could not be reached.
    #[error("{forge}: cannot reach {url}: {message}")]
    Unreachable {
        /// The forge.
        forge: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The forge answered with an error status.
    #[error("{forge}: {method} {url} answered {status}: {message}")]
    Status {
        /// The forge.
        forge: &'static str,
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// The forge's answer was not what its documentation says.
    #[error("{forge}: unexpected answer from {url}: {message}")]
    Decode {
        /// The forge.
        forge: &'static str,
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// Anything else (a reviewer or label that does not exist, a git failure).
    #[error("{0}")]
    Other(String),
}

/// A place pull requests are opened and tracked.
#[async_trait]
pub trait Forge: Send + Sync {
    /// `local`, `github`, `gitlab`, `gitea`.
    fn kind(&self) -> &'static str;

    /// Opens a pull request from an already pushed branch.
    async fn open(&self, pr: &NewPullRequest) -> Result<PullRequestRef, ForgeError>;

    /// Replaces an open pull request's title and body (one pull request per
    /// root cause: a second incident updates it).
    async fn update(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError>;

    /// Asks these humans to review.
    async fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError>;

    /// Adds these labels.
    async fn label(&self, number: u64, labels: &[String]) -> Result<(), ForgeError>;

    /// Adds a comment.
    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError>;

    /// Reads its state: open, merged (and by which commit) or closed.
    async fn state(&self, number: u64) -> Result<PullRequestState, ForgeError>;
}

/// After a pull request exists: asks its reviewers and adds its labels.
/// Failures are logged, not returned: the pull request stands, and a retry of
/// `open` would only meet "already exists".
pub(crate) async fn follow_up<F: Forge + ?Sized>(
    forge: &F,
    opened: &PullRequestRef,
    pr: &NewPullRequest,
) {
    if let Err(error) = forge.request_reviewers(opened.number, &pr.reviewers).await {
        tracing::warn!(forge = forge.kind(), number = opened.number, %error, "pull request opened, reviewers not requested");
    }
    if let Err(error) = forge.label(opened.number, &pr.labels).await {
        tracing::warn!(forge = forge.kind(), number = opened.number, %error, "pull request opened, labels not added");
    }
}
