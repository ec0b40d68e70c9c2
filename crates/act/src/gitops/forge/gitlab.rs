//! GitLab's REST API (gitlab.com and self-managed, API v4) as a [`Forge`]:
//! a pull request is a merge request, and its number is the project-scoped
//! `iid`.
//!
//! Request and answer shapes follow GitLab's REST reference:
//! - Merge requests API ("Create MR", "Update MR", "Get single MR"):
//!   <https://docs.gitlab.com/api/merge_requests/>
//! - Users API ("List users", `username` filter), for reviewer ids:
//!   <https://docs.gitlab.com/api/users/>
//! - Notes API ("Create new merge request note"):
//!   <https://docs.gitlab.com/api/notes/#create-new-merge-request-note>
//! - Project paths URL-encoded in the path (`group%2Fsub%2Fname`):
//!   <https://docs.gitlab.com/api/rest/#namespaced-paths>
//! - Status codes and error bodies (`message` as a string, a list or an
//!   object of field to messages): <https://docs.gitlab.com/api/rest/troubleshooting/>
//!
//! Reviewers are set by user id, and `reviewer_ids` replaces the whole list,
//! so asking for reviewers reads the current ones first and keeps them.

use std::fmt;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Api, Auth};
use super::{
    Forge, ForgeError, NewPullRequest, PullRequestRef, PullRequestState, PullRequestStatus,
};

/// A GitLab project's merge requests, through the REST API.
pub struct GitLab {
    api: Api,
    project: String,
}

impl fmt::Debug for GitLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLab")
            .field("api_base", &self.api.base())
            .field("project", &self.project)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl GitLab {
    /// gitlab.com's API base; a self-managed instance answers at
    /// `https://HOST/api/v4`.
    pub const PUBLIC_API: &'static str = "https://gitlab.com/api/v4";

    /// A client for the project `repo` (its path, `group/sub/name`, or its
    /// numeric id) on the API at `api_base` (`https://HOST/api/v4`),
    /// authenticated with `token` (a personal, project or group access token
    /// with the `api` scope).
    pub fn new(api_base: &str, repo: &str, token: String) -> Result<GitLab, ForgeError> {
        let project = http::project_path("gitlab", repo)?;
        let api = Api::new(
            "gitlab",
            api_base,
            token,
            Auth {
                header: "private-token",
                scheme: "",
            },
            &[("accept", "application/json")],
        )?;
        Ok(GitLab { api, project })
    }

    /// `/projects/ENCODED-PATH/merge_requests` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!(
            "/projects/{}/merge_requests{rest}",
            http::segment(&self.project)
        )
    }

    /// The id of the user called `username`.
    async fn user_id(&self, username: &str) -> Result<u64, ForgeError> {
        let users: Vec<User> = self
            .api
            .json(
                Method::GET,
                "/users",
                &[("username", username.to_owned())],
                None,
            )
            .await?;
        users
            .into_iter()
            .find(|user| user.username.eq_ignore_ascii_case(username))
            .map(|user| user.id)
            .ok_or_else(|| {
                ForgeError::Other(format!(
                    "gitlab: no user named `{username}` on {}; check the reviewer's user name",
                    self.api.base()
                ))
            })
    }

    async fn merge_request(&self, iid: u64) -> Result<(MergeRequest, String), ForgeError> {
        let answer = self
            .api
            .send(Method::GET, &self.path(&format!("/{iid}")), &[], None)
            .await?;
        Ok((answer.json()?, answer.url().to_owned()))
    }
}

/// The fields of a merge request pagerless reads.
#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    #[serde(default)]
    web_url: String,
    state: String,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    squash_commit_sha: Option<String>,
    #[serde(default)]
    reviewers: Option<Vec<UserRef>>,
}

/// A user as a merge request lists it.
#[derive(Deserialize)]
struct UserRef {
    id: u64,
}

/// A user as the users API lists it.
#[derive(Deserialize)]
struct User {
    id: u64,
    #[serde(default)]
    username: String,
}

#[async_trait]
impl Forge for GitLab {
    fn kind(&self) -> &'static str {
        "gitlab"
    }

    /// Opens the merge request with its labels (the source branch is removed
    /// when it merges), then asks its reviewers. Once the merge request
    /// exists its reference is returned even when asking reviewers fails
    /// (logged): a retry would only meet "Another open merge request already
    /// exists".
    async fn open(&self, pr: &NewPullRequest) -> Result<PullRequestRef, ForgeError> {
        let mut body = json!({
            "source_branch": pr.head,
            "target_branch": pr.base,
            "title": pr.title,
            "description": pr.body,
            "remove_source_branch": true,
        });
        if !pr.labels.is_empty() {
            body["labels"] = json!(pr.labels.join(","));
        }
        let merge_request: MergeRequest = self
            .api
            .json(Method::POST, &self.path(""), &[], Some(&body))
            .await?;
        let opened = PullRequestRef {
            number: merge_request.iid,
            url: merge_request.web_url,
        };
        if let Err(error) = self.request_reviewers(opened.number, &pr.reviewers).await {
            tracing::warn!(forge = "gitlab", number = opened.number, %error, "merge request opened, reviewers not requested");
        }
        Ok(opened)
    }

    async fn update(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        let body = json!({ "title": title, "description": body });
        self.api
            .send(
                Method::PUT,
                &self.path(&format!("/{number}")),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Looks each user name up, then sets the reviewers to the current ones
    /// plus these.
    async fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        if reviewers.is_empty() {
            return Ok(());
        }
        let mut wanted = Vec::with_capacity(reviewers.len());
        for name in reviewers {
            wanted.push(self.user_id(name).await?);
        }
        let (current, _) = self.merge_request(number).await?;
        let mut ids: Vec<u64> = current
            .reviewers
            .unwrap_or_default()
            .into_iter()
            .map(|user| user.id)
            .collect();
        for id in wanted {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let body = json!({ "reviewer_ids": ids });
        self.api
            .send(
                Method::PUT,
                &self.path(&format!("/{number}")),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    async fn label(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        let body = json!({ "add_labels": labels.join(",") });
        self.api
            .send(
                Method::PUT,
                &self.path(&format!("/{number}")),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        let body = json!({ "body": text });
        self.api
            .send(
                Method::POST,
                &self.path(&format!("/{number}/notes")),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// `opened` and `locked` (a merge under way) are open; a merged merge
    /// request's commit is its merge commit, else its squash commit (squash
    /// and fast-forward), else its head (a plain fast-forward).
    async fn state(&self, number: u64) -> Result<PullRequestState, ForgeError> {
        let (merge_request, url) = self.merge_request(number).await?;
        let status = match merge_request.state.as_str() {
            "opened" | "locked" => PullRequestStatus::Open,
            "merged" => PullRequestStatus::Merged,
            "closed" => PullRequestStatus::Closed,
            other => {
                return Err(self.api.decode_error(
                    &url,
                    format!("at `state`: `{other}` is not opened, merged, closed or locked"),
                ));
            }
        };
        let merge_commit = if status == PullRequestStatus::Merged {
            merge_request
                .merge_commit_sha
                .or(merge_request.squash_commit_sha)
                .or_else(|| merge_request.sha.clone())
        } else {
            None
        };
        Ok(PullRequestState {
            status,
            head_sha: merge_request.sha,
            merge_commit,
        })
    }
}
