//! Shared by the notify tests: the seed incident and its notices, a fast
//! retry policy, and structural checks against the documented schemas of
//! Slack's Block Kit, Adaptive Cards and PagerDuty's Events API v2.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use pagerless_model::{
    ActionKind, ActionRequest, Approval, ApprovalStatus, Environment, Incident, IncidentId,
    IncidentStatus, Severity, Target, TargetKind,
};
use pagerless_notify::{Notice, PullRequestRef, RetryConfig};
use serde_json::{Value, json};

/// The paragraph pagerless writes for the seed incident.
pub const SUMMARY: &str = "An issue was detected in order-service; I diagnosed it as memory limit too low since commit abc1234 (2Gi → 512Mi); I scaled deployment shop/order-service 3 → 5, and the symptom cleared 60 s after acting and stayed clear. I opened pull request #12 to set resources.limits.memory to 2Gi in charts/order-service/values.yaml: http://pagerless.example/prs/12";

/// Where the seed incident's trace is.
pub const TRACE: &str = "http://pagerless.example/incidents/42";

/// The seed incident: order-service OOMKilled in production.
pub fn incident() -> Incident {
    let t = Utc.with_ymd_and_hms(2025, 5, 1, 12, 0, 0).unwrap();
    Incident {
        id: IncidentId(42),
        status: IncidentStatus::Mitigated,
        title: "KubePodOOMKilled: order-service pods are OOMKilled".to_owned(),
        source: "alertmanager".to_owned(),
        group_key: "{}:{alertname=\"KubePodOOMKilled\"}".to_owned(),
        environment: Environment::new("production"),
        cluster: Some("lab".to_owned()),
        namespace: Some("shop".to_owned()),
        service: Some("order-service".to_owned()),
        severity: Severity::Critical,
        labels: Default::default(),
        started_at: t,
        detected_at: t,
        updated_at: t,
        resolved_at: None,
        alert_count: 1,
        firing_count: 1,
    }
}

/// When every seed notice was written.
pub fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 1, 12, 5, 0).unwrap()
}

/// The seed incident resolved by the agent, with its pull request.
pub fn resolved() -> Notice {
    let mut n = Notice::resolved(&incident(), SUMMARY)
        .with_trace_url(TRACE)
        .at(at());
    n.pull_request = Some(PullRequestRef {
        number: 12,
        url: "http://pagerless.example/prs/12".to_owned(),
    });
    n
}

/// The seed incident escalated.
pub fn escalation() -> Notice {
    Notice::escalation(
        &incident(),
        "An issue was detected in order-service; I could not tell why its pods are OOMKilled.",
        vec![
            "3 OOMKills in 10 minutes".to_owned(),
            "memory at 98% of its 512Mi limit".to_owned(),
        ],
        vec!["scaling deployment shop/order-service 3 → 5".to_owned()],
        "the symptom did not clear within 5 minutes of acting",
    )
    .with_trace_url(TRACE)
    .at(at())
}

/// An approval for cordoning node-b.
pub fn approval_record() -> Approval {
    Approval {
        id: 7,
        created_at: at(),
        deadline: at(),
        incident_id: Some(IncidentId(42)),
        request: ActionRequest {
            kind: ActionKind::Cordon,
            target: Target {
                kind: TargetKind::Node,
                namespace: None,
                name: "node-b".to_owned(),
            },
            params: Default::default(),
            rationale: "node-b is under memory pressure".to_owned(),
        },
        scope: json!({}),
        approvers: vec!["sre".to_owned()],
        why: "cordon needs a human in prod".to_owned(),
        status: ApprovalStatus::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
    }
}

/// The seed incident waiting for approval 7.
pub fn approval() -> Notice {
    Notice::approval_needed(
        &incident(),
        &approval_record(),
        "An issue was detected in order-service; node-b is under memory pressure and I want to cordon it.",
    )
    .with_trace_url(TRACE)
    .at(at())
}

/// Retries fast enough for tests: 3 attempts, 20 ms then 40 ms apart, 1 s per request.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        attempts: 3,
        backoff_ms: 20,
        max_backoff_ms: 100,
        timeout_ms: 1000,
        max_retry_after_secs: 5,
    }
}

/// Block types in Slack's Block Kit reference.
const SLACK_BLOCK_TYPES: [&str; 11] = [
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
];

/// Checks a Slack message body against Block Kit's documented limits; panics
/// with what is wrong.
pub fn check_slack_blocks(blocks: &Value) {
    let blocks = blocks.as_array().expect("blocks is an array");
    assert!(
        !blocks.is_empty() && blocks.len() <= 50,
        "1..=50 blocks, got {}",
        blocks.len()
    );
    for b in blocks {
        let ty = b["type"].as_str().unwrap();
        assert!(SLACK_BLOCK_TYPES.contains(&ty), "unknown block type {ty}");
        if let Some(id) = b["block_id"].as_str() {
            assert!(id.chars().count() <= 255);
        }
        match ty {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text", "header text is plain_text");
                let n = b["text"]["text"].as_str().unwrap().chars().count();
                assert!(n <= 150, "header text has {n} > 150 characters");
            }
            "section" => {
                let t = b["text"]["type"].as_str().unwrap();
                assert!(t == "mrkdwn" || t == "plain_text");
                let n = b["text"]["text"].as_str().unwrap().chars().count();
                assert!(n <= 3000, "section text has {n} > 3000 characters");
            }
            "context" => {
                let els = b["elements"].as_array().unwrap();
                assert!(
                    !els.is_empty() && els.len() <= 10,
                    "context has 1..=10 elements"
                );
                for e in els {
                    let t = e["type"].as_str().unwrap();
                    assert!(t == "mrkdwn" || t == "plain_text" || t == "image");
                }
            }
            "actions" => {
                let els = b["elements"].as_array().unwrap();
                assert!(!els.is_empty() && els.len() <= 25);
                for e in els {
                    assert_eq!(e["type"], "button");
                    assert_eq!(e["text"]["type"], "plain_text");
                    assert!(e["text"]["text"].as_str().unwrap().chars().count() <= 75);
                    assert!(e["action_id"].as_str().unwrap().len() <= 255);
                    assert!(e["value"].as_str().unwrap().len() <= 2000);
                    if let Some(style) = e["style"].as_str() {
                        assert!(style == "primary" || style == "danger", "style {style}");
                    }
                }
            }
            _ => {}
        }
    }
}

/// Adaptive Card element types (schema 1.4 and Teams' Table).
const CARD_ELEMENTS: [&str; 10] = [
    "ActionSet",
    "ColumnSet",
    "Container",
    "FactSet",
    "Image",
    "ImageSet",
    "Media",
    "RichTextBlock",
    "Table",
    "TextBlock",
];
/// Adaptive Card action types.
const CARD_ACTIONS: [&str; 5] = [
    "Action.Execute",
    "Action.OpenUrl",
    "Action.ShowCard",
    "Action.Submit",
    "Action.ToggleVisibility",
];

/// Checks a Teams webhook body: the message envelope and the Adaptive Card.
pub fn check_teams_message(body: &Value) {
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    let a = &attachments[0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(
        a.get("contentUrl").is_some_and(Value::is_null),
        "contentUrl is null"
    );
    let card = &a["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(
        ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"].contains(&card["version"].as_str().unwrap()),
        "version {}",
        card["version"]
    );
    for el in card["body"].as_array().unwrap() {
        let ty = el["type"].as_str().unwrap();
        assert!(CARD_ELEMENTS.contains(&ty), "unknown element {ty}");
        match ty {
            "TextBlock" => assert!(el["text"].is_string(), "TextBlock.text is required"),
            "FactSet" => {
                for f in el["facts"].as_array().unwrap() {
                    assert!(f["title"].is_string() && f["value"].is_string(), "fact {f}");
                }
            }
            _ => {}
        }
    }
    for action in card["actions"].as_array().unwrap() {
        let ty = action["type"].as_str().unwrap();
        assert!(CARD_ACTIONS.contains(&ty), "unknown action {ty}");
        if ty == "Action.OpenUrl" {
            assert!(action["url"].as_str().unwrap().starts_with("http"));
            assert!(action["title"].is_string());
        }
    }
}

/// Checks a PagerDuty event's documented required fields and limits.
pub fn check_pagerduty_event(body: &Value, change: bool) {
    assert!(body["routing_key"].as_str().is_some_and(|k| !k.is_empty()));
    let p = &body["payload"];
    let summary = p["summary"].as_str().unwrap();
    assert!(
        !summary.is_empty() && summary.chars().count() <= 1024,
        "summary ≤ 1024"
    );
    assert!(p["source"].as_str().is_some_and(|s| !s.is_empty()));
    let ts = p["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "timestamp {ts}"
    );
    for l in body["links"].as_array().unwrap() {
        assert!(l["href"].as_str().unwrap().starts_with("http"));
    }
    if change {
        assert!(
            body.get("event_action").is_none(),
            "change events have no event_action"
        );
        assert!(
            p.get("severity").is_none(),
            "change events have no severity"
        );
    } else {
        assert_eq!(body["event_action"], "trigger");
        let sev = p["severity"].as_str().unwrap();
        assert!(
            ["critical", "error", "warning", "info"].contains(&sev),
            "severity {sev}"
        );
        let dedup = body["dedup_key"].as_str().unwrap();
        assert!(!dedup.is_empty() && dedup.len() <= 255);
    }
}
