//! GitHub's REST API (github.com and GitHub Enterprise Server) as a
//! [`Forge`]: open, update, review, label, comment, and read a pull request's
//! fate.
//!
//! Request and answer shapes follow GitHub's REST reference, API version
//! `2022-11-28`:
//! - "Create a pull request", "Get a pull request", "Update a pull request":
//!   <https://docs.github.com/en/rest/pulls/pulls?apiVersion=2022-11-28>
//! - "Request reviewers for a pull request":
//!   <https://docs.github.com/en/rest/pulls/review-requests?apiVersion=2022-11-28#request-reviewers-for-a-pull-request>
//! - "Add labels to an issue":
//!   <https://docs.github.com/en/rest/issues/labels?apiVersion=2022-11-28#add-labels-to-an-issue>
//! - "Create an issue comment":
//!   <https://docs.github.com/en/rest/issues/comments?apiVersion=2022-11-28#create-an-issue-comment>
//! - Client errors (`message` and `errors`, 422 "Validation Failed"):
//!   <https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api>
//!
//! Every pull request is an issue, so labels and comments go through the
//! issues endpoints. `merge_commit_sha` holds a test merge commit while a pull
//! request is open, so it is read only once `merged` is true.

use std::fmt;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Api, Auth};
use super::{
    Forge, ForgeError, NewPullRequest, PullRequestRef, PullRequestState, PullRequestStatus,
};

/// A GitHub repository's pull requests, through the REST API.
pub struct GitHub {
    api: Api,
    owner: String,
    name: String,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_base", &self.api.base())
            .field("repo", &format_args!("{}/{}", self.owner, self.name))
            .field("token", &"[redacted]")
            .finish()
    }
}

impl GitHub {
    /// github.com's API base. GitHub Enterprise Server answers at
    /// `https://HOST/api/v3`.
    pub const PUBLIC_API: &'static str = "https://api.github.com";

    /// A client for the repository `repo` (`owner/name`) on the API at
    /// `api_base` ([`GitHub::PUBLIC_API`] or `https://HOST/api/v3`),
    /// authenticated with `token` (a fine-grained or classic personal access
    /// token, or an app installation token, with pull request and issue
    /// write access).
    pub fn new(api_base: &str, repo: &str, token: String) -> Result<GitHub, ForgeError> {
        let (owner, name) = http::owner_and_name("github", repo)?;
        let api = Api::new(
            "github",
            api_base,
            token,
            Auth {
                header: "authorization",
                scheme: "Bearer ",
            },
            &[
                ("accept", "application/vnd.github+json"),
                ("x-github-api-version", "2022-11-28"),
            ],
        )?;
        Ok(GitHub { api, owner, name })
    }

    /// `/repos/OWNER/NAME` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!(
            "/repos/{}/{}{rest}",
            http::segment(&self.owner),
            http::segment(&self.name)
        )
    }
}

/// The fields of a pull request pagerless reads.
#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    head: Option<Head>,
}

/// A pull request's head branch.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    sha: Option<String>,
}

#[async_trait]
impl Forge for GitHub {
    fn kind(&self) -> &'static str {
        "github"
    }

    /// Opens the pull request, then asks its reviewers and adds its labels.
    /// Once the pull request exists its reference is returned even when
    /// those two follow-ups fail (they are logged): a retry would only meet
    /// "A pull request already exists".
    async fn open(&self, pr: &NewPullRequest) -> Result<PullRequestRef, ForgeError> {
        let body = json!({
            "title": pr.title,
            "body": pr.body,
            "head": pr.head,
            "base": pr.base,
            "maintainer_can_modify": false,
        });
        let pull: Pull = self
            .api
            .json(Method::POST, &self.path("/pulls"), &[], Some(&body))
            .await?;
        let opened = PullRequestRef {
            number: pull.number,
            url: pull.html_url,
        };
        super::follow_up(self, &opened, pr).await;
        Ok(opened)
    }

    async fn update(&self, number: u64, title: &str, body: &str) -> Result<(), ForgeError> {
        let body = json!({ "title": title, "body": body });
        self.api
            .send(
                Method::PATCH,
                &self.path(&format!("/pulls/{number}")),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    async fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ForgeError> {
        if reviewers.is_empty() {
            return Ok(());
        }
        let body = json!({ "reviewers": reviewers });
        let path = self.path(&format!("/pulls/{number}/requested_reviewers"));
        self.api.send(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    async fn label(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        // An empty list would remove every label.
        if labels.is_empty() {
            return Ok(());
        }
        let body = json!({ "labels": labels });
        let path = self.path(&format!("/issues/{number}/labels"));
        self.api.send(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        let body = json!({ "body": text });
        let path = self.path(&format!("/issues/{number}/comments"));
        self.api.send(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    async fn state(&self, number: u64) -> Result<PullRequestState, ForgeError> {
        let answer = self
            .api
            .send(
                Method::GET,
                &self.path(&format!("/pulls/{number}")),
                &[],
                None,
            )
            .await?;
        let pull: Pull = answer.json()?;
        let merged = pull.merged == Some(true) || pull.merged_at.is_some();
        let status = if merged {
            PullRequestStatus::Merged
        } else {
            match pull.state.as_str() {
                "open" => PullRequestStatus::Open,
                "closed" => PullRequestStatus::Closed,
                other => {
                    return Err(self.api.decode_error(
                        answer.url(),
                        format!("at `state`: `{other}` is neither `open` nor `closed`"),
                    ));
                }
            }
        };
        Ok(PullRequestState {
            status,
            head_sha: pull.head.and_then(|head| head.sha),
            merge_commit: if merged { pull.merge_commit_sha } else { None },
        })
    }
}
