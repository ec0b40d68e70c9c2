//! Slack through an incoming webhook: one POST of `{text, blocks}` to the
//! webhook's URL, which answers `200 ok` or an HTTP error with a short code
//! (`400 invalid_payload`, `403 action_prohibited`, `404 channel_not_found`,
//! `410 channel_is_archived`, `500 rollup_error`).
//!
//! Upstream: <https://api.slack.com/messaging/webhooks> and the error codes at
//! <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>.
//! The URL carries the webhook's key in its path, so it is a [`Secret`]:
//! configure it through an environment variable, and it never appears in
//! errors or `Debug` output. Approval buttons work only when the webhook's
//! Slack app has interactivity pointed at pagerless.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Notifier;
use super::http::Post;
use super::slack_blocks;
use crate::{Notice, NotifyError, Secret};

/// A Slack incoming webhook.
#[derive(Debug, Clone)]
pub struct SlackWebhook {
    name: String,
    url: Secret,
    client: reqwest::Client,
}

impl SlackWebhook {
    /// A sink named `name` posting to the webhook `url`.
    pub fn new(name: impl Into<String>, url: Secret, client: reqwest::Client) -> Self {
        SlackWebhook {
            name: name.into(),
            url,
            client,
        }
    }

    /// The JSON body posted for `notice`.
    pub fn message(notice: &Notice) -> Value {
        json!({
            "text": slack_blocks::fallback_text(notice),
            "blocks": slack_blocks::blocks(notice),
        })
    }
}

#[async_trait]
impl Notifier for SlackWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        Post {
            sink: &self.name,
            url: self.url.expose(),
            bearer: None,
            headers: &[],
            secrets: &[&self.url],
        }
        .send(&self.client, &Self::message(notice))
        .await
        .map(|_| ())
    }
}
