//! The local forge, the embedded default: the branch is pushed to the
//! repository's own remote like on any forge, and the pull request lives in
//! pagerless's store. Approving it merges into the base branch with a real
//! `git merge` and pushes, which is what a GitOps controller watches.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use pagerless_model::{Comment, LocalPullRequest, PullRequestStatus};
use pagerless_store::Store;

use super::forge::{Forge, ForgeError, NewPullRequest, PullRequestRef, PullRequestState};
use super::workspace::{Author, Workspace};

/// Pull requests kept in the store.
pub struct LocalForge {
    store: Arc<dyn Store>,
    url_base: String,
}

impl LocalForge {
    /// A local forge whose pull requests are shown at `{url_base}/prs/{number}`
    /// (the web console of `pagerless serve`).
    pub fn new(store: Arc<dyn Store>, url_base: &str) -> LocalForge {
        LocalForge {
            store,
            url_base: url_base.trim_end_matches('/').to_owned(),
        }
    }

    async fn get(&self, number: u64) -> Result<LocalPullRequest, ForgeError> {
        self.store
            .local_pr(number)
            .await
            .map_err(|e| ForgeError::Other(e.to_string()))?
            .ok_or_else(|| ForgeError::Other(format!("no local pull request {number}")))
    }

    async fn put(&self, pr: LocalPullRequest) -> Result<u64, ForgeError> {
        self.store
            .save_local_pr(pr)
            .await
            .map_err(|e| ForgeError::Other(e.to_string()))
    }

    /// Merges an open pull request: a merge commit on the base branch, pushed
    /// to the remote. `approver` is recorded as the one who approved it.
    /// Returns the merge commit.
    pub async fn merge(
        &self,
        number: u64,
        workspace: &Workspace,
        approver: &str,
        author: &Author,
    ) -> Result<String, ForgeError> {
        let mut pr = self.get(number).await?;
        if pr.status != PullRequestStatus::Open {
            return Err(ForgeError::Other(format!(
                "pull request {number} is {}, not open",
                serde_json::to_value(pr.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )));
        }
        let message = format!(
            "Merge pull request #{number} from {}\n\n{}\n\nApproved-by: {approver}",
            pr.head, pr.title
        );
        let commit = workspace
            .merge(&pr.base, &pr.head, &message, author)
            .await
            .map_err(|e| ForgeError::Other(format!("cannot merge pull request {number}: {e}")))?;
        pr.status = PullRequestStatus::Merged;
        pr.approved_by = Some(approver.to_owned());
        pr.merge_commit = Some(commit.clone());
        pr.updated_at = Utc::now();
        self.put(pr).await?;
        Ok(commit)
    }

    /// Closes an open pull request without merging it.
    pub async fn close(&self, number: u64, by: &str, why: &str) -> Result<(), ForgeError> {
        let mut pr = self.get(number).await?;
        if pr.status != PullRequestStatus::Open {
            return Err(ForgeError::Other(format!(
                "pull request {number} is not open"
            )));
        }
        pr.status = PullRequestStatus::Closed;
        pr.comments.push(Comment {
            author: by.to_owned(),
            at: Utc::now(),
            text: format!("closed: {why}"),
        });
        pr.updated_at = Utc::now();
        self.put(pr).await.map(|_| ())
    }

    /// One local pull request, as stored.
    pub async fn pull_request(&self, number: u64) -> Result<LocalPullRequest, ForgeError> {
        self.get(number).await
    }
}

#[async_trait]
impl Forge for LocalForge {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn open(&self, pr: &NewPullRequest) -> Result<PullRequestRef, ForgeError> {
        let now = Utc::now();
        let number = self
            .put(LocalPullRequest {
                number: 0,
                title: pr.title.clone(),
                body: pr.body.clone(),
                head: pr.head.clone(),
                base: pr.base.clone(),
                reviewers: pr.reviewers.clone(),
                labels: pr.labels.clone(),
                comments: Vec::new(),
                status: PullRequestStatus::Open,
                approved_by: None,
                merge_commit: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(PullRequestRef {
            number,
            url: format!("{}/prs/{number}", self.url_base),
        })
    }

    async fn update(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        let mut pr = self.get(number).await?;
        title.clone_into(&mut pr.title);
        body.clone_into(&mut pr.body);
        pr.updated_at = Utc::now();
        self.put(pr).await.map(|_| ())
    }

    async fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        let mut pr = self.get(number).await?;
        for r in reviewers {
            if !pr.reviewers.contains(r) {
                pr.reviewers.push(r.clone());
            }
        }
        self.put(pr).await.map(|_| ())
    }

    async fn label(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        let mut pr = self.get(number).await?;
        for l in labels {
            if !pr.labels.contains(l) {
                pr.labels.push(l.clone());
            }
        }
        self.put(pr).await.map(|_| ())
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        let mut pr = self.get(number).await?;
        pr.comments.push(Comment {
            author: "pagerless".into(),
            at: Utc::now(),
            text: text.to_owned(),
        });
        pr.updated_at = Utc::now();
        self.put(pr).await.map(|_| ())
    }

    async fn state(&self, number: u64) -> Result<PullRequestState, ForgeError> {
        let pr = self.get(number).await?;
        Ok(PullRequestState {
            status: pr.status,
            head_sha: None,
            merge_commit: pr.merge_commit,
        })
    }
}
