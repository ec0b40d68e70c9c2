//! PagerDuty through the Events API v2. A notice pages only when a human must
//! act: an escalation is a `trigger` alert event (`POST /v2/enqueue`, deduped
//! per incident with `pagerless-incident-{id}`, so a repeat updates the same
//! alert), while an incident resolved by the agent is a change event
//! (`POST /v2/change/enqueue`) that shows in the service's timeline and wakes
//! nobody. Approvals are not pages: they are skipped unless the sink is told
//! to page for them too.
//!
//! Upstream: PagerDuty's developer docs, "Send an Alert Event"
//! <https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/02-Trigger-Events.md>,
//! "Send a Change Event"
//! <https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/03-Change-Events.md>
//! and the response codes in the Events API v2 overview
//! (`01-Overview.md` beside them: 202 accepted; 400
//! not retried; 429 and 5xx retried). `payload.summary` is at most 1024
//! characters and `dedup_key` at most 255; `payload.severity` is one of
//! `critical`, `error`, `warning`, `info`. The routing key is a [`Secret`].

use async_trait::async_trait;
use pagerless_model::Severity;
use serde_json::{Value, json};

use super::Notifier;
use super::http::Post;
use crate::notice::truncate;
use crate::{Notice, NoticeKind, NotifyError, Secret};

/// The Events API's base URL.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com";
/// Most characters of `payload.summary`.
pub const SUMMARY_MAX_CHARS: usize = 1024;

/// Maps an incident's severity to PagerDuty's: an unknown severity is an
/// `error`, since a human is asked to act.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
        Severity::Unknown => "error",
    }
}

/// The dedup key of an incident's alert: stable, so repeats update one alert.
pub fn dedup_key(notice: &Notice) -> String {
    match (notice.kind, notice.approval_id) {
        (NoticeKind::ApprovalNeeded, Some(id)) => format!("pagerless-approval-{id}"),
        _ => format!("pagerless-incident-{}", notice.incident),
    }
}

/// One event to send: the path under the API's base URL and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `/v2/enqueue` or `/v2/change/enqueue`.
    pub path: &'static str,
    /// The JSON body, routing key included.
    pub body: Value,
}

/// PagerDuty Events API v2 for one service (one routing key).
#[derive(Debug, Clone)]
pub struct PagerDuty {
    name: String,
    routing_key: Secret,
    api_url: String,
    page_on_approval: bool,
    client: reqwest::Client,
}

impl PagerDuty {
    /// A sink named `name` sending to the integration with `routing_key`.
    pub fn new(name: impl Into<String>, routing_key: Secret, client: reqwest::Client) -> Self {
        PagerDuty {
            name: name.into(),
            routing_key,
            api_url: PAGERDUTY_EVENTS_URL.to_owned(),
            page_on_approval: false,
            client,
        }
    }

    /// Uses another base URL (a test server, an EU account's
    /// `https://events.eu.pagerduty.com`). Default: [`PAGERDUTY_EVENTS_URL`].
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Also triggers an alert (severity `warning`) when a write waits for
    /// approval. Default: false — approvals are not pages.
    pub fn page_on_approval(mut self, yes: bool) -> Self {
        self.page_on_approval = yes;
        self
    }

    /// The event sent for `notice`, if any.
    pub fn event(&self, notice: &Notice) -> Option<Event> {
        event(notice, self.routing_key.expose(), self.page_on_approval)
    }
}

/// The event for `notice`: a change event when the agent resolved it, a
/// trigger for an escalation, a trigger for an approval only when
/// `page_on_approval`.
pub fn event(notice: &Notice, routing_key: &str, page_on_approval: bool) -> Option<Event> {
    let source = notice
        .service
        .clone()
        .unwrap_or_else(|| "pagerless".to_owned());
    let mut links = Vec::new();
    if let Some(url) = &notice.trace_url {
        links.push(json!({"href": url, "text": "Trace in pagerless"}));
    }
    if let Some(pr) = &notice.pull_request {
        links.push(json!({"href": pr.url, "text": format!("Pull request #{}", pr.number)}));
    }
    let details = custom_details(notice);
    let timestamp = notice
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match notice.kind {
        NoticeKind::ResolvedByAgent => Some(Event {
            path: "/v2/change/enqueue",
            body: json!({
                "routing_key": routing_key,
                "payload": {
                    "summary": truncate(
                        &format!("pagerless resolved {}: {}", notice.title, notice.summary.trim()),
                        SUMMARY_MAX_CHARS,
                    ),
                    "source": source,
                    "timestamp": timestamp,
                    "custom_details": details,
                },
                "links": links,
            }),
        }),
        NoticeKind::ApprovalNeeded if !page_on_approval => None,
        NoticeKind::Escalation | NoticeKind::ApprovalNeeded => {
            let (sev, what) = if notice.kind == NoticeKind::Escalation {
                (severity(notice.severity), notice.summary.trim().to_owned())
            } else {
                ("warning", notice.approval_text().unwrap_or_default())
            };
            let mut payload = json!({
                "summary": truncate(&format!("{}: {what}", notice.title), SUMMARY_MAX_CHARS),
                "source": source,
                "severity": sev,
                "timestamp": timestamp,
                "group": notice.environment,
                "class": notice.kind.as_str(),
                "custom_details": details,
            });
            if let Some(service) = &notice.service {
                payload["component"] = json!(service);
            }
            let mut body = json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key(notice),
                "payload": payload,
                "links": links,
                "client": "pagerless",
            });
            if let Some(url) = &notice.trace_url {
                body["client_url"] = json!(url);
            }
            Some(Event {
                path: "/v2/enqueue",
                body,
            })
        }
    }
}

fn custom_details(notice: &Notice) -> Value {
    let mut details = json!({
        "incident": notice.incident,
        "kind": notice.kind,
        "environment": notice.environment,
        "severity": notice.severity,
        "summary": notice.summary,
    });
    if let Some(service) = &notice.service {
        details["service"] = json!(service);
    }
    if notice.kind == NoticeKind::Escalation {
        details["seen"] = json!(notice.seen);
        details["tried"] = json!(notice.tried);
        details["why_stopped"] = json!(notice.why_stopped);
    }
    if let Some(id) = notice.approval_id {
        details["approval_id"] = json!(id);
    }
    if let Some(action) = &notice.action {
        details["action"] = json!(action);
    }
    if let Some(pr) = &notice.pull_request {
        details["pull_request"] = json!(pr.url);
    }
    if let Some(url) = &notice.trace_url {
        details["trace_url"] = json!(url);
    }
    details
}

#[async_trait]
impl Notifier for PagerDuty {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, kind: NoticeKind) -> bool {
        kind != NoticeKind::ApprovalNeeded || self.page_on_approval
    }

    async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let Some(event) = self.event(notice) else {
            return Ok(());
        };
        let url = format!("{}{}", self.api_url, event.path);
        Post {
            sink: &self.name,
            url: &url,
            bearer: None,
            headers: &[],
            secrets: &[&self.routing_key],
        }
        .send(&self.client, &event.body)
        .await
        .map(|_| ())
    }
}
