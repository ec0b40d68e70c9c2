//! Gitea's REST API (and Forgejo's, which keeps it) as a [`Forge`].
//!
//! Request and answer shapes follow Gitea's swagger reference
//! (<https://gitea.com/api/swagger>, also served by every instance at
//! `/api/swagger`; rendered at <https://docs.gitea.com/api/>):
//! - `repoCreatePullRequest` (`POST /repos/{owner}/{repo}/pulls`,
//!   `CreatePullRequestOption`), `repoEditPullRequest` (`PATCH
//!   /repos/{owner}/{repo}/pulls/{index}`), `repoGetPullRequest` (`GET
//!   /repos/{owner}/{repo}/pulls/{index}`, `PullRequest` with `merged`,
//!   `merge_commit_sha` and `head.sha`)
//! - `repoCreatePullReviewRequests` (`POST
//!   /repos/{owner}/{repo}/pulls/{index}/requested_reviewers`,
//!   `PullReviewRequestOptions`)
//! - `issueListLabels` (`GET /repos/{owner}/{repo}/labels`, `page`/`limit`)
//!   and `issueAddLabel` (`POST /repos/{owner}/{repo}/issues/{index}/labels`,
//!   `IssueLabelsOption`: label ids)
//! - `issueCreateComment` (`POST /repos/{owner}/{repo}/issues/{index}/comments`)
//! - Pagination (`page`, `limit`, the `X-Total-Count` header):
//!   <https://docs.gitea.com/development/api-usage#pagination>
//!
//! Labels are added by id (names are accepted only since Gitea 1.22), so the
//! repository's labels are listed first; only repository labels are
//! searched, not an organization's.

use std::fmt;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Api, Auth};
use super::{
    Forge, ForgeError, NewPullRequest, PullRequestRef, PullRequestState, PullRequestStatus,
};

/// Labels asked for per page (Gitea's default maximum is 50).
const LABELS_PER_PAGE: u32 = 50;

/// Pages of labels read at most (5,000 labels), a guard against a server
/// that never returns an empty page.
const LABEL_PAGES_MAX: u32 = 100;

/// A Gitea (or Forgejo) repository's pull requests, through the REST API.
pub struct Gitea {
    api: Api,
    owner: String,
    name: String,
}

impl fmt::Debug for Gitea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gitea")
            .field("api_base", &self.api.base())
            .field("repo", &format_args!("{}/{}", self.owner, self.name))
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Gitea {
    /// A client for the repository `repo` (`owner/name`) on the API at
    /// `api_base` (`https://HOST/api/v1`), authenticated with `token` (an
    /// access token with `write:repository` and `write:issue`).
    pub fn new(api_base: &str, repo: &str, token: String) -> Result<Gitea, ForgeError> {
        let (owner, name) = http::owner_and_name("gitea", repo)?;
        let api = Api::new(
            "gitea",
            api_base,
            token,
            Auth {
                header: "authorization",
                scheme: "token ",
            },
            &[("accept", "application/json")],
        )?;
        Ok(Gitea { api, owner, name })
    }

    /// `/repos/OWNER/NAME` followed by `rest`.
    fn path(&self, rest: &str) -> String {
        format!(
            "/repos/{}/{}{rest}",
            http::segment(&self.owner),
            http::segment(&self.name)
        )
    }

    /// The ids of the repository labels called `names`, in order, reading
    /// the label list page by page until every name is found or the list
    /// ends.
    async fn label_ids(&self, names: &[String]) -> Result<Vec<u64>, ForgeError> {
        let mut ids: Vec<Option<u64>> = vec![None; names.len()];
        let mut seen = 0usize;
        for page in 1..=LABEL_PAGES_MAX {
            let query = [
                ("page", page.to_string()),
                ("limit", LABELS_PER_PAGE.to_string()),
            ];
            let answer = self
                .api
                .send(Method::GET, &self.path("/labels"), &query, None)
                .await?;
            let labels: Vec<Label> = answer.json()?;
            if labels.is_empty() {
                break;
            }
            seen += labels.len();
            for label in labels {
                for (name, id) in names.iter().zip(ids.iter_mut()) {
                    if id.is_none() && *name == label.name {
                        *id = Some(label.id);
                    }
                }
            }
            let total = answer
                .header("x-total-count")
                .and_then(|count| count.trim().parse::<usize>().ok());
            if ids.iter().all(Option::is_some) || total.is_some_and(|total| seen >= total) {
                break;
            }
        }
        let missing: Vec<&str> = names
            .iter()
            .zip(&ids)
            .filter(|(_, id)| id.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ForgeError::Other(format!(
                "gitea: {}/{} has no label named `{}`; create it in the repository first",
                self.owner,
                self.name,
                missing.join("`, `")
            )));
        }
        Ok(ids.into_iter().flatten().collect())
    }
}

/// The fields of a pull request pagerless reads.
#[derive(Deserialize)]
struct Pull {
    number: u64,
    #[serde(default)]
    html_url: String,
    state: String,
    #[serde(default)]
    merged: Option<bool>,
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

/// A repository label.
#[derive(Deserialize)]
struct Label {
    id: u64,
    name: String,
}

#[async_trait]
impl Forge for Gitea {
    fn kind(&self) -> &'static str {
        "gitea"
    }

    /// Opens the pull request, then asks its reviewers and adds its labels.
    /// Once the pull request exists its reference is returned even when
    /// those two follow-ups fail (they are logged): a retry would only meet
    /// "pull request already exists".
    async fn open(&self, pr: &NewPullRequest) -> Result<PullRequestRef, ForgeError> {
        let body = json!({
            "title": pr.title,
            "body": pr.body,
            "head": pr.head,
            "base": pr.base,
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

    /// Resolves the label names to ids, then adds them; a name the
    /// repository does not have fails before anything is added.
    async fn label(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        if labels.is_empty() {
            return Ok(());
        }
        let ids = self.label_ids(labels).await?;
        let body = json!({ "labels": ids });
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
        let merged = pull.merged == Some(true);
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
