//! Each sink's exact request, against MOCKED servers, not live ones: Slack,
//! Microsoft Teams and PagerDuty cannot be reached from CI. Each test starts a
//! local `wiremock` server that answers the way the upstream API documents
//! (Slack's `{"ok": …}`, Teams' `1`, PagerDuty's 202), matches the method,
//! path and auth header (a wrong request meets a 404 and fails the test), and
//! decodes the received JSON to check it against the documented schema
//! (Block Kit's limits, the Adaptive Card schema, the Events API v2 fields).

#![allow(clippy::unwrap_used)]

mod support;

use pagerless_model::Severity;
use pagerless_notify::sinks::{
    Notifier, PagerDuty, SlackBot, SlackWebhook, Teams, Webhook, pagerduty, slack_blocks,
};
use pagerless_notify::{NotifyError, Secret};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BOT_TOKEN: &str = "xoxb-test-5ecret";
const ROUTING_KEY: &str = "R0UT1NGKEY5ecret0000000000000000";

async fn only_request_json(server: &MockServer) -> Value {
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "exactly one request");
    received[0].body_json().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn slack_webhook_posts_text_and_blocks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({"blocks": [{"type": "header"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let url = Secret::new(format!("{}/services/T000/B000/XXXX", server.uri()));
    let sink = SlackWebhook::new("ops-slack", url, client());
    sink.send(&support::resolved()).await.unwrap();

    let body = only_request_json(&server).await;
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("Resolved without a page: KubePodOOMKilled"),
        "{text}"
    );
    assert!(text.contains(support::SUMMARY));
    support::check_slack_blocks(&body["blocks"]);
    let blocks = body["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "context"]);
    assert_eq!(
        blocks[0]["text"]["text"],
        "Resolved without a page: KubePodOOMKilled: order-service pods are OOMKilled"
    );
    assert_eq!(blocks[1]["text"]["text"], support::SUMMARY);
    let context: Vec<&str> = blocks[2]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        context,
        [
            "Incident 42 · prod · critical · order-service",
            "<http://pagerless.example/prs/12|Pull request #12>",
            "<http://pagerless.example/incidents/42|Trace>",
        ]
    );
}

#[tokio::test]
async fn slack_bot_posts_to_chat_post_message_with_the_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header(
            "authorization",
            format!("Bearer {BOT_TOKEN}").as_str(),
        ))
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(body_partial_json(json!({"channel": "#ops"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.2"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sink = SlackBot::new("ops", Secret::new(BOT_TOKEN), "#ops", client())
        .with_api_url(format!("{}/api/", server.uri()));
    sink.send(&support::escalation()).await.unwrap();

    let body = only_request_json(&server).await;
    assert_eq!(body["channel"], "#ops");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Needs a human: ")
    );
    support::check_slack_blocks(&body["blocks"]);
    let escalation = &body["blocks"][2]["text"]["text"];
    assert_eq!(
        escalation,
        "*What I saw*\n• 3 OOMKills in 10 minutes\n• memory at 98% of its 512Mi limit\n\
         *What I tried*\n• scaling deployment shop/order-service 3 → 5\n\
         *Why I stopped*\nthe symptom did not clear within 5 minutes of acting"
    );
}

#[tokio::test]
async fn slack_ok_false_is_an_error_even_with_http_200() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&server)
        .await;
    let sink = SlackBot::new("ops", Secret::new(BOT_TOKEN), "#nope", client())
        .with_api_url(format!("{}/api", server.uri()));
    let err = sink.send(&support::resolved()).await.unwrap_err();
    assert_eq!(
        err,
        NotifyError::Rejected {
            sink: "ops".to_owned(),
            error: "channel_not_found".to_owned(),
            retriable: false
        }
    );
    assert!(!err.is_retriable());

    // Slack's transient codes are worth another attempt.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})),
        )
        .mount(&server)
        .await;
    assert!(
        sink.send(&support::resolved())
            .await
            .unwrap_err()
            .is_retriable()
    );
}

#[test]
fn slack_approval_buttons_keep_the_servers_contract() {
    let blocks = json!(slack_blocks::blocks(&support::approval()));
    support::check_slack_blocks(&blocks);
    let actions: Vec<&Value> = blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .collect();
    assert_eq!(actions.len(), 1, "one actions block");
    let buttons = actions[0]["elements"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = buttons
        .iter()
        .map(|b| {
            (
                b["action_id"].as_str().unwrap(),
                b["value"].as_str().unwrap(),
                b["style"].as_str().unwrap(),
            )
        })
        .collect();
    // The server's /api/v1/slack/interactions reads exactly these.
    assert_eq!(
        summary,
        [("approve", "7", "primary"), ("deny", "7", "danger")]
    );
    let section = blocks[2]["text"]["text"].as_str().unwrap();
    assert_eq!(section, "*Waiting for approval 7:* cordon node node-b");
    // Other kinds have no buttons.
    for n in [support::resolved(), support::escalation()] {
        assert!(
            slack_blocks::blocks(&n)
                .iter()
                .all(|b| b["type"] != "actions")
        );
    }
}

#[test]
fn slack_blocks_stay_within_limits_for_huge_notices() {
    let mut n = support::escalation();
    n.title = "t".repeat(500);
    n.summary = "s".repeat(10_000);
    n.seen = (0..2_000).map(|i| format!("observation {i}")).collect();
    let blocks = json!(slack_blocks::blocks(&n));
    support::check_slack_blocks(&blocks);
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert_eq!(header.chars().count(), 150);
    assert!(header.ends_with('…'));
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    assert_eq!(section.chars().count(), 3000);
    assert!(section.ends_with('…'));
    assert!(blocks[2]["text"]["text"].as_str().unwrap().ends_with('…'));
    assert!(slack_blocks::fallback_text(&n).chars().count() <= slack_blocks::FALLBACK_MAX_CHARS);
}

#[test]
fn slack_mrkdwn_control_characters_are_escaped() {
    let mut n = support::resolved();
    n.summary = "latency > 2s for <order-service> & its callers".to_owned();
    let blocks = slack_blocks::blocks(&n);
    assert_eq!(
        blocks[1]["text"]["text"],
        "latency &gt; 2s for &lt;order-service&gt; &amp; its callers"
    );
}

#[tokio::test]
async fn teams_posts_an_adaptive_card() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhookb2/abc/IncomingWebhook/def/ghi"))
        .and(body_partial_json(json!({"type": "message"})))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(1)
        .mount(&server)
        .await;
    let url = Secret::new(format!(
        "{}/webhookb2/abc/IncomingWebhook/def/ghi",
        server.uri()
    ));
    Teams::new("teams", url, client())
        .send(&support::resolved())
        .await
        .unwrap();

    let body = only_request_json(&server).await;
    support::check_teams_message(&body);
    let card = &body["attachments"][0]["content"];
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["body"][0]["text"],
        "Resolved without a page: KubePodOOMKilled: order-service pods are OOMKilled"
    );
    assert_eq!(card["body"][1]["text"], support::SUMMARY);
    let facts = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "FactSet")
        .unwrap();
    assert_eq!(
        facts["facts"],
        json!([
            {"title": "Incident", "value": "42"},
            {"title": "Environment", "value": "prod"},
            {"title": "Severity", "value": "critical"},
            {"title": "Service", "value": "order-service"},
            {"title": "Pull request", "value": "#12"},
        ])
    );
    assert_eq!(
        card["actions"],
        json!([
            {"type": "Action.OpenUrl", "title": "Trace", "url": support::TRACE},
            {"type": "Action.OpenUrl", "title": "Pull request #12", "url": "http://pagerless.example/prs/12"},
        ])
    );
}

#[test]
fn teams_cards_for_escalations_and_approvals_validate() {
    let esc = Teams::message(&support::escalation());
    support::check_teams_message(&esc);
    let body = esc["attachments"][0]["content"]["body"].as_array().unwrap();
    assert!(body.iter().any(|e| {
        e["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("What I saw: 3 OOMKills in 10 minutes"))
    }));

    let appr = Teams::message(&support::approval());
    support::check_teams_message(&appr);
    let body = appr["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap();
    assert!(
        body.iter().any(
            |e| e["text"] == "Waiting for a human to approve: cordon node node-b (approval 7)."
        )
    );
}

#[tokio::test]
async fn teams_200_saying_delivery_failed_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429",
        ))
        .mount(&server)
        .await;
    let url = Secret::new(format!("{}/webhookb2/x", server.uri()));
    let err = Teams::new("teams", url, client())
        .send(&support::resolved())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::Rejected {
                retriable: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn webhook_posts_the_notice_as_json_with_bearer_and_headers() {
    let server = MockServer::start().await;
    let notice = support::approval();
    Mock::given(method("POST"))
        .and(path("/hooks/pagerless"))
        .and(header("authorization", "Bearer hook-5ecret"))
        .and(header("x-team", "sre"))
        .and(body_json(serde_json::to_value(&notice).unwrap()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let sink = Webhook::new(
        "hook",
        Secret::new(format!("{}/hooks/pagerless", server.uri())),
        client(),
    )
    .with_bearer(Secret::new("hook-5ecret"))
    .with_header("X-Team", "sre");
    sink.send(&notice).await.unwrap();
    let body = only_request_json(&server).await;
    assert_eq!(body["kind"], "approval_needed");
    assert_eq!(body["approval_id"], 7);
    assert_eq!(body["action"], "cordon node node-b");
}

#[tokio::test]
async fn pagerduty_resolved_is_a_change_event_not_a_page() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/change/enqueue"))
        .and(body_partial_json(json!({"routing_key": ROUTING_KEY})))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"status": "success", "message": "Change event processed"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    PagerDuty::new("pd", Secret::new(ROUTING_KEY), client())
        .with_api_url(server.uri())
        .send(&support::resolved())
        .await
        .unwrap();
    let body = only_request_json(&server).await;
    support::check_pagerduty_event(&body, true);
    assert_eq!(body["payload"]["source"], "order-service");
    assert_eq!(body["payload"]["timestamp"], "2025-05-01T12:05:00.000Z");
    assert!(body["payload"]["summary"].as_str().unwrap().starts_with(
        "pagerless resolved KubePodOOMKilled: order-service pods are OOMKilled: An issue"
    ));
    assert_eq!(body["payload"]["custom_details"]["incident"], 42);
    assert_eq!(
        body["payload"]["custom_details"]["summary"],
        support::SUMMARY
    );
    assert_eq!(
        body["links"],
        json!([
            {"href": support::TRACE, "text": "Trace in pagerless"},
            {"href": "http://pagerless.example/prs/12", "text": "Pull request #12"},
        ])
    );
}

#[tokio::test]
async fn pagerduty_escalation_triggers_a_deduplicated_alert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "pagerless-incident-42",
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "success", "message": "Event processed", "dedup_key": "pagerless-incident-42"
        })))
        .expect(1)
        .mount(&server)
        .await;
    PagerDuty::new("pd", Secret::new(ROUTING_KEY), client())
        .with_api_url(format!("{}/", server.uri()))
        .send(&support::escalation())
        .await
        .unwrap();
    let body = only_request_json(&server).await;
    support::check_pagerduty_event(&body, false);
    let p = &body["payload"];
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["component"], "order-service");
    assert_eq!(p["source"], "order-service");
    assert_eq!(p["group"], "prod");
    assert_eq!(
        p["custom_details"]["why_stopped"],
        "the symptom did not clear within 5 minutes of acting"
    );
    assert_eq!(
        p["custom_details"]["tried"][0],
        "scaling deployment shop/order-service 3 → 5"
    );
    assert_eq!(body["client_url"], support::TRACE);
}

#[test]
fn pagerduty_severity_maps_onto_its_four_values() {
    let mapped: Vec<&str> = [
        Severity::Critical,
        Severity::Warning,
        Severity::Info,
        Severity::Unknown,
    ]
    .into_iter()
    .map(pagerduty::severity)
    .collect();
    assert_eq!(mapped, ["critical", "warning", "info", "error"]);
    for sev in [
        Severity::Critical,
        Severity::Warning,
        Severity::Info,
        Severity::Unknown,
    ] {
        let mut n = support::escalation();
        n.severity = sev;
        let e = pagerduty::event(&n, ROUTING_KEY, false).unwrap();
        support::check_pagerduty_event(&e.body, false);
    }
}

#[test]
fn pagerduty_dedup_key_is_stable_per_incident() {
    let a = support::escalation();
    let mut b = support::escalation();
    b.summary = "A different paragraph, written later.".to_owned();
    b.at = chrono::Utc::now();
    let ka = pagerduty::event(&a, ROUTING_KEY, false).unwrap().body["dedup_key"].clone();
    let kb = pagerduty::event(&b, ROUTING_KEY, false).unwrap().body["dedup_key"].clone();
    assert_eq!(ka, "pagerless-incident-42");
    assert_eq!(ka, kb);
    let mut other = support::escalation();
    other.incident = pagerless_model::IncidentId(43);
    assert_eq!(
        pagerduty::event(&other, ROUTING_KEY, false).unwrap().body["dedup_key"],
        "pagerless-incident-43"
    );
}

#[test]
fn pagerduty_summary_is_cut_to_1024_characters() {
    let mut n = support::escalation();
    n.summary = "→".repeat(5_000);
    let e = pagerduty::event(&n, ROUTING_KEY, false).unwrap();
    let summary = e.body["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with('…'));
    // The whole paragraph still travels in custom_details.
    assert_eq!(
        e.body["payload"]["custom_details"]["summary"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        5_000
    );
}

#[test]
fn pagerduty_skips_approvals_unless_asked_to_page_for_them() {
    let n = support::approval();
    let sink = PagerDuty::new("pd", Secret::new(ROUTING_KEY), client());
    assert!(!sink.handles(n.kind));
    assert!(sink.event(&n).is_none());
    let paging = sink.page_on_approval(true);
    assert!(paging.handles(n.kind));
    let e = paging.event(&n).unwrap();
    assert_eq!(e.path, "/v2/enqueue");
    support::check_pagerduty_event(&e.body, false);
    assert_eq!(e.body["dedup_key"], "pagerless-approval-7");
    assert_eq!(e.body["payload"]["severity"], "warning");
}
