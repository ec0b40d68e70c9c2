//! Microsoft Teams through an incoming webhook (or a Workflows webhook, which
//! takes the same body): one POST of a `message` with one Adaptive Card
//! attachment — a title and the summary as `TextBlock`s, the facts as a
//! `FactSet`, and `Action.OpenUrl` buttons to the trace and the pull request.
//!
//! Upstream: "Send Adaptive Cards using an Incoming Webhook" in
//! <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>
//! and the card schema at <https://adaptivecards.io/explorer/AdaptiveCard.html>
//! (version 1.4, which every Teams client renders). Incoming webhooks cannot take
//! `Action.Submit`, so approvals say where to approve instead of offering
//! buttons. The connector answers 200 with `1` on success, but also 200 with
//! "Webhook message delivery failed with error: …" when Teams refused the
//! message: that is an error (retriable when Teams says 429). The URL carries
//! the webhook's key, so it is a [`Secret`].

use async_trait::async_trait;
use serde_json::{Value, json};

use super::Notifier;
use super::http::Post;
use crate::{Notice, NoticeKind, NotifyError, Secret};

/// The Adaptive Card schema version sent.
pub const CARD_VERSION: &str = "1.4";

/// A Teams channel's incoming webhook.
#[derive(Debug, Clone)]
pub struct Teams {
    name: String,
    url: Secret,
    client: reqwest::Client,
}

impl Teams {
    /// A sink named `name` posting to the webhook `url`.
    pub fn new(name: impl Into<String>, url: Secret, client: reqwest::Client) -> Self {
        Teams {
            name: name.into(),
            url,
            client,
        }
    }

    /// The JSON body posted for `notice`.
    pub fn message(notice: &Notice) -> Value {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card(notice),
            }]
        })
    }
}

/// The Adaptive Card for `notice`.
pub fn card(notice: &Notice) -> Value {
    let text = |text: String| json!({"type": "TextBlock", "text": text, "wrap": true});
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("{}: {}", notice.kind.headline(), notice.title),
            "size": "Large",
            "weight": "Bolder",
            "wrap": true,
        }),
        text(notice.summary.trim().to_owned()),
    ];
    body.extend(notice.escalation_text().map(text));
    if let Some(approval) = notice.approval_text() {
        body.push(text(approval));
        if let Some(id) = notice.approval_id {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("Approve or deny it in Slack, in pagerless' web console, or with POST /api/v1/approvals/{id}/approve (or /deny)."),
                "wrap": true,
                "isSubtle": true,
            }));
        }
    }
    let mut facts = vec![
        fact("Incident", notice.incident.to_string()),
        fact("Environment", notice.environment.clone()),
        fact("Severity", notice.severity.as_str().to_owned()),
    ];
    if let Some(service) = &notice.service {
        facts.push(fact("Service", service.clone()));
    }
    if let Some(pr) = &notice.pull_request {
        facts.push(fact("Pull request", format!("#{}", pr.number)));
    }
    if notice.kind == NoticeKind::ApprovalNeeded
        && let Some(id) = notice.approval_id
    {
        facts.push(fact("Approval", id.to_string()));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));

    let mut actions = Vec::new();
    if let Some(url) = &notice.trace_url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Trace", "url": url}));
    }
    if let Some(pr) = &notice.pull_request {
        actions.push(json!({
            "type": "Action.OpenUrl",
            "title": format!("Pull request #{}", pr.number),
            "url": pr.url,
        }));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
    })
}

fn fact(title: &str, value: String) -> Value {
    json!({"title": title, "value": value})
}

#[async_trait]
impl Notifier for Teams {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let post = Post {
            sink: &self.name,
            url: self.url.expose(),
            bearer: None,
            headers: &[],
            secrets: &[&self.url],
        };
        let body = post.send(&self.client, &Self::message(notice)).await?;
        if body.contains("delivery failed") {
            return Err(NotifyError::Rejected {
                sink: self.name.clone(),
                error: post.clean(&body),
                retriable: body.contains("429"),
            });
        }
        Ok(())
    }
}
