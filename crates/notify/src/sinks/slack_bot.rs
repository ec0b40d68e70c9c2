//! Slack through a bot token: `POST https://slack.com/api/chat.postMessage`
//! with `Authorization: Bearer xoxb-…` and `{channel, text, blocks}`.
//!
//! Upstream: <https://docs.slack.dev/reference/methods/chat.postMessage>.
//! Slack's Web API answers HTTP 200 even when it refuses a message, with
//! `{"ok": false, "error": "channel_not_found"}`: that is an error here, and a
//! retriable one only for Slack's transient codes (`ratelimited`,
//! `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`).
//! Rate limits also come as HTTP 429 with `Retry-After`, which the dispatcher
//! honours. The token is a [`Secret`].

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Notifier;
use super::http::Post;
use super::slack_blocks;
use crate::{Notice, NotifyError, Secret};

/// Slack's Web API base URL.
pub const SLACK_API_URL: &str = "https://slack.com/api";

/// Slack error codes worth another attempt.
const TRANSIENT: [&str; 5] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// A Slack app's bot posting to one channel.
#[derive(Debug, Clone)]
pub struct SlackBot {
    name: String,
    token: Secret,
    channel: String,
    api_url: String,
    client: reqwest::Client,
}

impl SlackBot {
    /// A sink named `name` posting to `channel` (an id such as `C0123` or a
    /// name such as `#ops`) with the bot `token`.
    pub fn new(
        name: impl Into<String>,
        token: Secret,
        channel: impl Into<String>,
        client: reqwest::Client,
    ) -> Self {
        SlackBot {
            name: name.into(),
            token,
            channel: channel.into(),
            api_url: SLACK_API_URL.to_owned(),
            client,
        }
    }

    /// Uses another Web API base URL (a test server). Default: [`SLACK_API_URL`].
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The JSON body posted for `notice`.
    pub fn message(&self, notice: &Notice) -> Value {
        json!({
            "channel": self.channel,
            "text": slack_blocks::fallback_text(notice),
            "blocks": slack_blocks::blocks(notice),
        })
    }
}

#[async_trait]
impl Notifier for SlackBot {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let url = format!("{}/chat.postMessage", self.api_url);
        let headers = [(
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        )];
        let post = Post {
            sink: &self.name,
            url: &url,
            bearer: Some(&self.token),
            headers: &headers,
            secrets: &[&self.token],
        };
        let body = post.send(&self.client, &self.message(notice)).await?;
        let answer: Value = serde_json::from_str(&body).map_err(|_| NotifyError::Rejected {
            sink: self.name.clone(),
            error: format!("the answer is not Slack's JSON: {}", post.clean(&body)),
            retriable: false,
        })?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok(());
        }
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        Err(NotifyError::Rejected {
            sink: self.name.clone(),
            error: post.clean(error),
            retriable: TRANSIENT.contains(&error),
        })
    }
}
