//! The GitHub, GitLab and Gitea clients against RECORDED HTTP exchanges, not
//! live servers: the forges' public APIs cannot be reached from CI. Each test
//! starts a local `wiremock` server that answers with a body recorded in
//! `tests/fixtures/forges/` (shaped like the forge's documented example; its
//! README says where each shape comes from), and matches the request's
//! method, path, auth header and JSON body, so a wrong request meets a 404
//! (or an unmet `expect`) and fails the test.

#![allow(clippy::unwrap_used)]

use pagerless_act::gitops::forge::{
    Forge, ForgeError, GitHub, GitLab, Gitea, NewPullRequest, PullRequestStatus,
};
use serde_json::json;
use wiremock::matchers::{
    body_json, body_partial_json, header, header_exists, method, path, query_param,
};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// A token distinctive enough that finding it anywhere is a leak.
const TOKEN: &str = "tok_5ecret-Zq8vN1xW";

const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const MERGE_SHA: &str = "8b1e2c7d6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c";

fn fixture(name: &str) -> String {
    let file = format!(
        "{}/tests/fixtures/forges/{name}",
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn answer(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

fn new_pull_request() -> NewPullRequest {
    NewPullRequest {
        title: "checkout: raise memory limit to 768Mi".to_owned(),
        body: "OOMKilled 14 times in 10 minutes; the limit was lowered in a1b2c3d.".to_owned(),
        head: "pagerless/checkout-memory".to_owned(),
        base: "main".to_owned(),
        reviewers: vec!["alice".to_owned(), "bob".to_owned()],
        labels: vec!["pagerless".to_owned(), "permanent-fix".to_owned()],
    }
}

fn assert_token_hidden(err: &ForgeError) {
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains(TOKEN), "the token leaked: {shown}");
}

fn status_of(err: &ForgeError) -> (u16, &str, &str, &str) {
    match err {
        ForgeError::Status {
            status,
            method,
            url,
            message,
            ..
        } => (*status, method.as_str(), url.as_str(), message.as_str()),
        other => panic!("expected a status error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- GitHub

fn github(server: &MockServer) -> GitHub {
    GitHub::new(&server.uri(), "octo-org/infra", TOKEN.to_owned()).unwrap()
}

/// A request GitHub accepts: its path, the bearer token, the media type, the
/// API version and a User-Agent.
fn github_request(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(at))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header_exists("user-agent"))
}

#[tokio::test]
async fn github_open_creates_the_pull_request_then_asks_reviewers_and_labels() {
    let server = MockServer::start().await;
    github_request("POST", "/repos/octo-org/infra/pulls")
        .and(body_json(json!({
            "title": "checkout: raise memory limit to 768Mi",
            "body": "OOMKilled 14 times in 10 minutes; the limit was lowered in a1b2c3d.",
            "head": "pagerless/checkout-memory",
            "base": "main",
            "maintainer_can_modify": false,
        })))
        .respond_with(answer(201, "github/pull_open.json"))
        .expect(1)
        .mount(&server)
        .await;
    github_request("POST", "/repos/octo-org/infra/pulls/42/requested_reviewers")
        .and(body_json(json!({ "reviewers": ["alice", "bob"] })))
        .respond_with(answer(201, "github/pull_reviewers_requested.json"))
        .expect(1)
        .mount(&server)
        .await;
    github_request("POST", "/repos/octo-org/infra/issues/42/labels")
        .and(body_json(
            json!({ "labels": ["pagerless", "permanent-fix"] }),
        ))
        .respond_with(answer(200, "github/issue_labels.json"))
        .expect(1)
        .mount(&server)
        .await;

    let opened = github(&server).open(&new_pull_request()).await.unwrap();

    assert_eq!(opened.number, 42);
    assert_eq!(opened.url, "https://github.com/octo-org/infra/pull/42");
}

#[tokio::test]
async fn github_open_reports_an_existing_pull_request_with_githubs_words() {
    let server = MockServer::start().await;
    github_request("POST", "/repos/octo-org/infra/pulls")
        .respond_with(answer(422, "github/error_422_pull_exists.json"))
        .mount(&server)
        .await;

    let err = github(&server).open(&new_pull_request()).await.unwrap_err();

    let (status, verb, url, message) = status_of(&err);
    assert_eq!((status, verb), (422, "POST"));
    assert!(url.ends_with("/repos/octo-org/infra/pulls"), "{url}");
    assert_eq!(
        message,
        "Validation Failed: A pull request already exists for octo-org:pagerless/checkout-memory."
    );
    assert_token_hidden(&err);
}

#[tokio::test]
async fn github_open_returns_the_pull_request_even_when_labels_fail() {
    let server = MockServer::start().await;
    github_request("POST", "/repos/octo-org/infra/pulls")
        .respond_with(answer(201, "github/pull_open.json"))
        .mount(&server)
        .await;
    github_request("POST", "/repos/octo-org/infra/pulls/42/requested_reviewers")
        .respond_with(answer(422, "github/error_422_not_collaborator.json"))
        .expect(1)
        .mount(&server)
        .await;
    github_request("POST", "/repos/octo-org/infra/issues/42/labels")
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;

    let opened = github(&server).open(&new_pull_request()).await.unwrap();

    assert_eq!(opened.number, 42);
}

#[tokio::test]
async fn github_update_patches_title_and_body() {
    let server = MockServer::start().await;
    github_request("PATCH", "/repos/octo-org/infra/pulls/42")
        .and(body_json(
            json!({ "title": "new title", "body": "new body" }),
        ))
        .respond_with(answer(200, "github/pull_open.json"))
        .expect(1)
        .mount(&server)
        .await;

    github(&server)
        .update(42, "new title", "new body")
        .await
        .unwrap();
}

#[tokio::test]
async fn github_request_reviewers_reports_a_non_collaborator() {
    let server = MockServer::start().await;
    github_request("POST", "/repos/octo-org/infra/pulls/42/requested_reviewers")
        .and(body_json(json!({ "reviewers": ["mallory"] })))
        .respond_with(answer(422, "github/error_422_not_collaborator.json"))
        .expect(1)
        .mount(&server)
        .await;

    let err = github(&server)
        .request_reviewers(42, &["mallory".to_owned()])
        .await
        .unwrap_err();

    let (status, _, _, message) = status_of(&err);
    assert_eq!(status, 422);
    assert!(
        message.starts_with("Reviews may only be requested from collaborators."),
        "{message}"
    );
    assert_token_hidden(&err);
}

#[tokio::test]
async fn github_label_and_comment_go_through_the_issue() {
    let server = MockServer::start().await;
    github_request("POST", "/repos/octo-org/infra/issues/42/labels")
        .and(body_json(json!({ "labels": ["pagerless"] })))
        .respond_with(answer(200, "github/issue_labels.json"))
        .expect(1)
        .mount(&server)
        .await;
    github_request("POST", "/repos/octo-org/infra/issues/42/comments")
        .and(body_json(
            json!({ "body": "A second incident (INC-8) has the same root cause." }),
        ))
        .respond_with(answer(201, "github/issue_comment.json"))
        .expect(1)
        .mount(&server)
        .await;
    let forge = github(&server);

    forge.label(42, &["pagerless".to_owned()]).await.unwrap();
    forge
        .comment(42, "A second incident (INC-8) has the same root cause.")
        .await
        .unwrap();
    // Empty lists send nothing (an empty label list would clear the labels).
    forge.label(42, &[]).await.unwrap();
    forge.request_reviewers(42, &[]).await.unwrap();
}

#[tokio::test]
async fn github_state_of_an_open_pull_request_ignores_the_test_merge_commit() {
    let server = MockServer::start().await;
    github_request("GET", "/repos/octo-org/infra/pulls/42")
        .respond_with(answer(200, "github/pull_open.json"))
        .mount(&server)
        .await;

    let state = github(&server).state(42).await.unwrap();

    assert_eq!(state.status, PullRequestStatus::Open);
    assert_eq!(state.head_sha.as_deref(), Some(HEAD_SHA));
    assert_eq!(state.merge_commit, None);
}

#[tokio::test]
async fn github_state_of_a_merged_pull_request_names_its_merge_commit() {
    let server = MockServer::start().await;
    github_request("GET", "/repos/octo-org/infra/pulls/42")
        .respond_with(answer(200, "github/pull_merged.json"))
        .mount(&server)
        .await;

    let state = github(&server).state(42).await.unwrap();

    assert_eq!(state.status, PullRequestStatus::Merged);
    assert_eq!(state.merge_commit.as_deref(), Some(MERGE_SHA));
}

#[tokio::test]
async fn github_state_of_a_closed_unmerged_pull_request() {
    let server = MockServer::start().await;
    github_request("GET", "/repos/octo-org/infra/pulls/42")
        .respond_with(answer(200, "github/pull_closed.json"))
        .mount(&server)
        .await;

    let state = github(&server).state(42).await.unwrap();

    assert_eq!(state.status, PullRequestStatus::Closed);
    assert_eq!(state.merge_commit, None);
    assert_eq!(state.head_sha.as_deref(), Some(HEAD_SHA));
}

#[tokio::test]
async fn github_enterprise_keeps_the_api_v3_prefix() {
    let server = MockServer::start().await;
    github_request("GET", "/api/v3/repos/octo-org/infra/pulls/42")
        .respond_with(answer(200, "github/pull_open.json"))
        .expect(1)
        .mount(&server)
        .await;
    let forge = GitHub::new(
        &format!("{}/api/v3/", server.uri()),
        "octo-org/infra",
        TOKEN.to_owned(),
    )
    .unwrap();

    assert_eq!(
        forge.state(42).await.unwrap().status,
        PullRequestStatus::Open
    );
}

#[tokio::test]
async fn github_answer_of_the_wrong_shape_names_the_json_path() {
    let server = MockServer::start().await;
    let mut pull: serde_json::Value =
        serde_json::from_str(&fixture("github/pull_open.json")).unwrap();
    pull["head"]["sha"] = json!(12345);
    github_request("GET", "/repos/octo-org/infra/pulls/42")
        .respond_with(ResponseTemplate::new(200).set_body_json(pull))
        .mount(&server)
        .await;

    let err = github(&server).state(42).await.unwrap_err();

    match &err {
        ForgeError::Decode { url, message, .. } => {
            assert!(url.ends_with("/repos/octo-org/infra/pulls/42"), "{url}");
            assert!(
                message.starts_with("at `head.sha`: invalid type: integer `12345`"),
                "{message}"
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let server = MockServer::start().await;
    github_request("GET", "/repos/octo-org/infra/pulls/42")
        .respond_with(ResponseTemplate::new(301).insert_header(
            "location",
            "https://elsewhere.example.com/repositories/1296269/pulls/42",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let err = github(&server).state(42).await.unwrap_err();

    let (status, _, _, message) = status_of(&err);
    assert_eq!(status, 301);
    assert!(
        message
            .contains("redirected to https://elsewhere.example.com/repositories/1296269/pulls/42"),
        "{message}"
    );
}

// ---------------------------------------------------------------- GitLab

const MERGE_REQUESTS: &str = "/projects/platform%2Finfra%2Flive/merge_requests";

fn gitlab(server: &MockServer) -> GitLab {
    GitLab::new(&server.uri(), "platform/infra/live", TOKEN.to_owned()).unwrap()
}

/// A request GitLab accepts: its path and the `PRIVATE-TOKEN` header.
fn gitlab_request(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(at))
        .and(header("private-token", TOKEN))
}

async fn gitlab_user(server: &MockServer, name: &str, fixture_name: &str) {
    gitlab_request("GET", "/users")
        .and(query_param("username", name))
        .respond_with(answer(200, fixture_name))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn gitlab_open_creates_the_merge_request_with_labels_then_asks_reviewers() {
    let server = MockServer::start().await;
    gitlab_request("POST", MERGE_REQUESTS)
        .and(body_json(json!({
            "source_branch": "pagerless/checkout-memory",
            "target_branch": "main",
            "title": "checkout: raise memory limit to 768Mi",
            "description": "OOMKilled 14 times in 10 minutes; the limit was lowered in a1b2c3d.",
            "labels": "pagerless,permanent-fix",
            "remove_source_branch": true,
        })))
        .respond_with(answer(201, "gitlab/merge_request_opened.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitlab_user(&server, "alice", "gitlab/users_alice.json").await;
    gitlab_user(&server, "bob", "gitlab/users_bob.json").await;
    gitlab_request("GET", &format!("{MERGE_REQUESTS}/7"))
        .respond_with(answer(200, "gitlab/merge_request_opened.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .and(body_json(json!({ "reviewer_ids": [3, 12] })))
        .respond_with(answer(200, "gitlab/merge_request_with_reviewer.json"))
        .expect(1)
        .mount(&server)
        .await;

    let opened = gitlab(&server).open(&new_pull_request()).await.unwrap();

    assert_eq!(opened.number, 7);
    assert_eq!(
        opened.url,
        "https://gitlab.example.com/platform/infra/live/-/merge_requests/7"
    );
}

#[tokio::test]
async fn gitlab_open_reports_an_existing_merge_request_with_gitlabs_words() {
    let server = MockServer::start().await;
    gitlab_request("POST", MERGE_REQUESTS)
        .respond_with(answer(409, "gitlab/error_409_merge_request_exists.json"))
        .mount(&server)
        .await;

    let err = gitlab(&server).open(&new_pull_request()).await.unwrap_err();

    let (status, verb, url, message) = status_of(&err);
    assert_eq!((status, verb), (409, "POST"));
    assert!(url.ends_with(MERGE_REQUESTS), "{url}");
    assert_eq!(
        message,
        "Another open merge request already exists for this source branch: !7"
    );
    assert_token_hidden(&err);
}

#[tokio::test]
async fn gitlab_error_message_given_as_an_object_is_spelled_out() {
    let server = MockServer::start().await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .respond_with(answer(400, "gitlab/error_400_invalid_branch.json"))
        .mount(&server)
        .await;

    let err = gitlab(&server).update(7, "t", "d").await.unwrap_err();

    let (status, verb, _, message) = status_of(&err);
    assert_eq!((status, verb), (400, "PUT"));
    assert_eq!(message, "target_branch is invalid");
}

#[tokio::test]
async fn gitlab_update_puts_title_and_description() {
    let server = MockServer::start().await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .and(body_json(
            json!({ "title": "new title", "description": "new body" }),
        ))
        .respond_with(answer(200, "gitlab/merge_request_opened.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitlab(&server)
        .update(7, "new title", "new body")
        .await
        .unwrap();
}

#[tokio::test]
async fn gitlab_request_reviewers_looks_up_ids_and_keeps_current_reviewers() {
    let server = MockServer::start().await;
    gitlab_user(&server, "bob", "gitlab/users_bob.json").await;
    gitlab_request("GET", &format!("{MERGE_REQUESTS}/7"))
        .respond_with(answer(200, "gitlab/merge_request_with_reviewer.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .and(body_json(json!({ "reviewer_ids": [3, 12] })))
        .respond_with(answer(200, "gitlab/merge_request_with_reviewer.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitlab(&server)
        .request_reviewers(7, &["bob".to_owned()])
        .await
        .unwrap();
}

#[tokio::test]
async fn gitlab_unknown_reviewer_is_named_and_nothing_is_changed() {
    let server = MockServer::start().await;
    gitlab_user(&server, "carol", "gitlab/users_none.json").await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .respond_with(answer(200, "gitlab/merge_request_opened.json"))
        .expect(0)
        .mount(&server)
        .await;

    let err = gitlab(&server)
        .request_reviewers(7, &["carol".to_owned()])
        .await
        .unwrap_err();

    match &err {
        ForgeError::Other(message) => {
            assert!(message.contains("no user named `carol`"), "{message}")
        }
        other => panic!("expected Other, got {other:?}"),
    }
    assert_token_hidden(&err);
}

#[tokio::test]
async fn gitlab_label_adds_labels_and_comment_posts_a_note() {
    let server = MockServer::start().await;
    gitlab_request("PUT", &format!("{MERGE_REQUESTS}/7"))
        .and(body_json(
            json!({ "add_labels": "pagerless,permanent-fix" }),
        ))
        .respond_with(answer(200, "gitlab/merge_request_opened.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitlab_request("POST", &format!("{MERGE_REQUESTS}/7/notes"))
        .and(body_json(
            json!({ "body": "A second incident (INC-8) has the same root cause." }),
        ))
        .respond_with(answer(201, "gitlab/note.json"))
        .expect(1)
        .mount(&server)
        .await;
    let forge = gitlab(&server);

    forge
        .label(7, &["pagerless".to_owned(), "permanent-fix".to_owned()])
        .await
        .unwrap();
    forge
        .comment(7, "A second incident (INC-8) has the same root cause.")
        .await
        .unwrap();
}

async fn gitlab_state(fixture_name: &str) -> pagerless_act::gitops::forge::PullRequestState {
    let server = MockServer::start().await;
    gitlab_request("GET", &format!("{MERGE_REQUESTS}/7"))
        .respond_with(answer(200, fixture_name))
        .expect(1)
        .mount(&server)
        .await;
    gitlab(&server).state(7).await.unwrap()
}

#[tokio::test]
async fn gitlab_state_of_an_opened_merge_request() {
    let state = gitlab_state("gitlab/merge_request_opened.json").await;

    assert_eq!(state.status, PullRequestStatus::Open);
    assert_eq!(state.head_sha.as_deref(), Some(HEAD_SHA));
    assert_eq!(state.merge_commit, None);
}

#[tokio::test]
async fn gitlab_state_of_a_merged_merge_request_names_its_merge_commit() {
    let state = gitlab_state("gitlab/merge_request_merged.json").await;

    assert_eq!(state.status, PullRequestStatus::Merged);
    assert_eq!(state.merge_commit.as_deref(), Some(MERGE_SHA));
}

#[tokio::test]
async fn gitlab_state_of_a_squashed_merge_request_names_its_squash_commit() {
    let state = gitlab_state("gitlab/merge_request_merged_squash.json").await;

    assert_eq!(state.status, PullRequestStatus::Merged);
    assert_eq!(
        state.merge_commit.as_deref(),
        Some("5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c8b1e2c7d6f")
    );
}

#[tokio::test]
async fn gitlab_state_of_a_closed_merge_request() {
    let state = gitlab_state("gitlab/merge_request_closed.json").await;

    assert_eq!(state.status, PullRequestStatus::Closed);
    assert_eq!(state.merge_commit, None);
}

// ---------------------------------------------------------------- Gitea

fn gitea(server: &MockServer) -> Gitea {
    Gitea::new(
        &format!("{}/api/v1", server.uri()),
        "platform/infra",
        TOKEN.to_owned(),
    )
    .unwrap()
}

/// A request Gitea accepts: its path (below `/api/v1`) and `token` auth.
fn gitea_request(verb: &str, at: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("/api/v1{at}")))
        .and(header("authorization", format!("token {TOKEN}").as_str()))
}

/// The repository's four labels, two to a page, with Gitea's total count.
async fn gitea_label_pages(server: &MockServer, page_two_expected: u64) {
    gitea_request("GET", "/repos/platform/infra/labels")
        .and(query_param("page", "1"))
        .and(query_param("limit", "50"))
        .respond_with(answer(200, "gitea/labels_page1.json").insert_header("x-total-count", "4"))
        .expect(1)
        .mount(server)
        .await;
    gitea_request("GET", "/repos/platform/infra/labels")
        .and(query_param("page", "2"))
        .and(query_param("limit", "50"))
        .respond_with(answer(200, "gitea/labels_page2.json").insert_header("x-total-count", "4"))
        .expect(page_two_expected)
        .mount(server)
        .await;
}

#[tokio::test]
async fn gitea_open_creates_the_pull_request_then_asks_reviewers_and_labels() {
    let server = MockServer::start().await;
    gitea_request("POST", "/repos/platform/infra/pulls")
        .and(body_json(json!({
            "title": "checkout: raise memory limit to 768Mi",
            "body": "OOMKilled 14 times in 10 minutes; the limit was lowered in a1b2c3d.",
            "head": "pagerless/checkout-memory",
            "base": "main",
        })))
        .respond_with(answer(201, "gitea/pull_open.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitea_request("POST", "/repos/platform/infra/pulls/3/requested_reviewers")
        .and(body_json(json!({ "reviewers": ["alice", "bob"] })))
        .respond_with(answer(201, "gitea/requested_reviewers.json"))
        .expect(1)
        .mount(&server)
        .await;
    gitea_label_pages(&server, 1).await;
    gitea_request("POST", "/repos/platform/infra/issues/3/labels")
        .and(body_json(json!({ "labels": [2, 5] })))
        .respond_with(answer(200, "gitea/issue_labels.json"))
        .expect(1)
        .mount(&server)
        .await;

    let opened = gitea(&server).open(&new_pull_request()).await.unwrap();

    assert_eq!(opened.number, 3);
    assert_eq!(
        opened.url,
        "https://gitea.example.com/platform/infra/pulls/3"
    );
}

#[tokio::test]
async fn gitea_open_reports_an_existing_pull_request_with_giteas_words() {
    let server = MockServer::start().await;
    gitea_request("POST", "/repos/platform/infra/pulls")
        .respond_with(answer(409, "gitea/error_409_pull_exists.json"))
        .mount(&server)
        .await;

    let err = gitea(&server).open(&new_pull_request()).await.unwrap_err();

    let (status, verb, url, message) = status_of(&err);
    assert_eq!((status, verb), (409, "POST"));
    assert!(url.ends_with("/api/v1/repos/platform/infra/pulls"), "{url}");
    assert!(
        message.starts_with("pull request already exists for these targets"),
        "{message}"
    );
    assert_token_hidden(&err);
}

#[tokio::test]
async fn gitea_update_patches_title_and_body() {
    let server = MockServer::start().await;
    gitea_request("PATCH", "/repos/platform/infra/pulls/3")
        .and(body_json(
            json!({ "title": "new title", "body": "new body" }),
        ))
        .respond_with(answer(201, "gitea/pull_open.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitea(&server)
        .update(3, "new title", "new body")
        .await
        .unwrap();
}

#[tokio::test]
async fn gitea_request_reviewers_posts_user_names() {
    let server = MockServer::start().await;
    gitea_request("POST", "/repos/platform/infra/pulls/3/requested_reviewers")
        .and(body_json(json!({ "reviewers": ["alice"] })))
        .respond_with(answer(201, "gitea/requested_reviewers.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitea(&server)
        .request_reviewers(3, &["alice".to_owned()])
        .await
        .unwrap();
}

#[tokio::test]
async fn gitea_label_stops_reading_pages_once_every_name_is_found() {
    let server = MockServer::start().await;
    gitea_label_pages(&server, 0).await;
    gitea_request("POST", "/repos/platform/infra/issues/3/labels")
        .and(body_json(json!({ "labels": [2] })))
        .respond_with(answer(200, "gitea/issue_labels.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitea(&server)
        .label(3, &["pagerless".to_owned()])
        .await
        .unwrap();
}

#[tokio::test]
async fn gitea_unknown_label_is_named_and_nothing_is_added() {
    let server = MockServer::start().await;
    gitea_label_pages(&server, 1).await;
    gitea_request("POST", "/repos/platform/infra/issues/3/labels")
        .respond_with(answer(200, "gitea/issue_labels.json"))
        .expect(0)
        .mount(&server)
        .await;

    let err = gitea(&server)
        .label(
            3,
            &["permanent-fix".to_owned(), "release-blocker".to_owned()],
        )
        .await
        .unwrap_err();

    match &err {
        ForgeError::Other(message) => {
            assert!(
                message.contains("no label named `release-blocker`"),
                "{message}"
            );
            assert!(!message.contains("permanent-fix"), "{message}");
        }
        other => panic!("expected Other, got {other:?}"),
    }
    assert_token_hidden(&err);
}

#[tokio::test]
async fn gitea_comment_posts_on_the_issue() {
    let server = MockServer::start().await;
    gitea_request("POST", "/repos/platform/infra/issues/3/comments")
        .and(body_partial_json(
            json!({ "body": "A second incident (INC-8) has the same root cause." }),
        ))
        .respond_with(answer(201, "gitea/issue_comment.json"))
        .expect(1)
        .mount(&server)
        .await;

    gitea(&server)
        .comment(3, "A second incident (INC-8) has the same root cause.")
        .await
        .unwrap();
}

async fn gitea_state(fixture_name: &str) -> pagerless_act::gitops::forge::PullRequestState {
    let server = MockServer::start().await;
    gitea_request("GET", "/repos/platform/infra/pulls/3")
        .respond_with(answer(200, fixture_name))
        .expect(1)
        .mount(&server)
        .await;
    gitea(&server).state(3).await.unwrap()
}

#[tokio::test]
async fn gitea_state_of_an_open_pull_request() {
    let state = gitea_state("gitea/pull_open.json").await;

    assert_eq!(state.status, PullRequestStatus::Open);
    assert_eq!(state.head_sha.as_deref(), Some(HEAD_SHA));
    assert_eq!(state.merge_commit, None);
}

#[tokio::test]
async fn gitea_state_of_a_merged_pull_request_names_its_merge_commit() {
    let state = gitea_state("gitea/pull_merged.json").await;

    assert_eq!(state.status, PullRequestStatus::Merged);
    assert_eq!(state.merge_commit.as_deref(), Some(MERGE_SHA));
}

#[tokio::test]
async fn gitea_state_of_a_closed_unmerged_pull_request() {
    let state = gitea_state("gitea/pull_closed.json").await;

    assert_eq!(state.status, PullRequestStatus::Closed);
    assert_eq!(state.merge_commit, None);
}

// ------------------------------------------------------ all three forges

#[tokio::test]
async fn debug_output_never_shows_the_token() {
    let server = MockServer::start().await;
    let shown = format!(
        "{:?} {:?} {:?}",
        github(&server),
        gitlab(&server),
        gitea(&server)
    );

    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("octo-org/infra"), "{shown}");
    assert!(shown.contains("platform/infra/live"), "{shown}");
    assert_eq!(shown.matches("[redacted]").count(), 3, "{shown}");
}

#[tokio::test]
async fn a_token_echoed_by_the_forge_is_redacted_from_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({ "message": format!("401 Unauthorized: bad token {TOKEN}") }),
            ),
        )
        .mount(&server)
        .await;

    for err in [
        github(&server).state(1).await.unwrap_err(),
        gitlab(&server).state(1).await.unwrap_err(),
        gitea(&server).state(1).await.unwrap_err(),
    ] {
        let (status, _, _, message) = status_of(&err);
        assert_eq!(status, 401);
        assert_eq!(message, "401 Unauthorized: bad token [redacted]");
        assert_token_hidden(&err);
    }
}

#[tokio::test]
async fn an_unreachable_forge_is_reported_as_unreachable() {
    // A port nothing listens on: bind one, then let it go.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let forges: [Box<dyn Forge>; 3] = [
        Box::new(GitHub::new(&base, "octo-org/infra", TOKEN.to_owned()).unwrap()),
        Box::new(GitLab::new(&base, "platform/infra/live", TOKEN.to_owned()).unwrap()),
        Box::new(Gitea::new(&base, "platform/infra", TOKEN.to_owned()).unwrap()),
    ];

    for forge in forges {
        let err = forge.state(1).await.unwrap_err();
        match &err {
            ForgeError::Unreachable {
                forge: kind,
                url,
                message,
            } => {
                assert_eq!(*kind, forge.kind());
                assert!(url.starts_with(&base), "{url}");
                assert!(message.starts_with("cannot connect"), "{message}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert_token_hidden(&err);
    }
}

#[test]
fn constructors_refuse_what_cannot_work() {
    let token = || TOKEN.to_owned();
    let refused = |result: Result<(), ForgeError>| match result {
        Err(ForgeError::Other(message)) => {
            assert!(!message.contains(TOKEN), "{message}");
            message
        }
        other => panic!("expected Other, got {other:?}"),
    };

    let message = refused(GitHub::new(GitHub::PUBLIC_API, "infra", token()).map(drop));
    assert!(
        message.contains("`infra` is not written `owner/name`"),
        "{message}"
    );
    refused(Gitea::new("https://gitea.example.com/api/v1", "a/b/c", token()).map(drop));
    refused(GitLab::new(GitLab::PUBLIC_API, "group//name", token()).map(drop));
    refused(GitLab::new(GitLab::PUBLIC_API, "group/../name", token()).map(drop));
    let message = refused(GitHub::new("ftp://example.com", "o/n", token()).map(drop));
    assert!(message.contains("http or https"), "{message}");
    let message = refused(
        GitLab::new(
            "https://me:hunter2@gitlab.example.com/api/v4",
            "g/n",
            token(),
        )
        .map(drop),
    );
    assert!(!message.contains("hunter2"), "{message}");
    let message =
        refused(Gitea::new("https://gitea.example.com/api/v1", "o/n", "  ".to_owned()).map(drop));
    assert!(message.contains("token is empty"), "{message}");
    refused(GitHub::new(GitHub::PUBLIC_API, "o/n", format!("{TOKEN}\nX-Evil: 1")).map(drop));

    assert!(GitLab::new(GitLab::PUBLIC_API, "42", token()).is_ok());
    assert_eq!(
        GitHub::new(GitHub::PUBLIC_API, "o/n", token())
            .unwrap()
            .kind(),
        "github"
    );
}
