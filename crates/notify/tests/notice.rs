//! Rendering: each kind of notice for the seed incident, as plain text and
//! as the JSON the generic webhook posts. No servers involved.

#![allow(clippy::unwrap_used)]

mod support;

use pagerless_notify::{Notice, NoticeKind};
use support::{SUMMARY, TRACE};

#[test]
fn resolved_text_is_the_summary_then_the_trace() {
    let n = support::resolved();
    assert_eq!(n.kind, NoticeKind::ResolvedByAgent);
    assert_eq!(n.text(), format!("{SUMMARY}\nTrace: {TRACE}"));
}

#[test]
fn escalation_text_says_what_was_seen_tried_and_why_it_stopped() {
    let n = support::escalation();
    assert_eq!(
        n.text(),
        "An issue was detected in order-service; I could not tell why its pods are OOMKilled.\n\
         What I saw: 3 OOMKills in 10 minutes and memory at 98% of its 512Mi limit; \
         what I tried: scaling deployment shop/order-service 3 → 5; \
         why I stopped: the symptom did not clear within 5 minutes of acting.\n\
         Trace: http://pagerless.example/incidents/42"
    );
}

#[test]
fn approval_text_names_the_action_and_the_approval() {
    let n = support::approval();
    assert_eq!(n.approval_id, Some(7));
    assert_eq!(n.action.as_deref(), Some("cordon node node-b"));
    assert_eq!(
        n.text(),
        "An issue was detected in order-service; node-b is under memory pressure and I want to cordon it.\n\
         Waiting for a human to approve: cordon node node-b (approval 7).\n\
         Trace: http://pagerless.example/incidents/42"
    );
}

#[test]
fn an_escalation_with_nothing_recorded_still_reads_as_a_sentence() {
    let n = Notice::escalation(&support::incident(), "Stuck.", vec![], vec![], "");
    assert_eq!(
        n.text(),
        "Stuck.\nWhat I saw: nothing; what I tried: nothing; why I stopped: no reason was recorded."
    );
}

#[test]
fn notices_take_the_incidents_facts() {
    let n = support::resolved();
    assert_eq!(n.incident.0, 42);
    // The incident's environment label said "production": normalized.
    assert_eq!(n.environment, "prod");
    assert_eq!(n.service.as_deref(), Some("order-service"));
    assert_eq!(n.severity, pagerless_model::Severity::Critical);
    assert_eq!(
        n.title,
        "KubePodOOMKilled: order-service pods are OOMKilled"
    );
}

#[test]
fn notice_json_has_stable_snake_case_fields() {
    let v = serde_json::to_value(support::resolved()).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action",
            "approval_id",
            "at",
            "environment",
            "incident",
            "kind",
            "pull_request",
            "seen",
            "service",
            "severity",
            "summary",
            "title",
            "trace_url",
            "tried",
            "why_stopped"
        ]
    );
    assert_eq!(v["kind"], "resolved_by_agent");
    assert_eq!(v["incident"], 42);
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["pull_request"]["number"], 12);
    assert_eq!(v["pull_request"]["url"], "http://pagerless.example/prs/12");
    assert_eq!(v["at"], "2025-05-01T12:05:00Z");
    let kinds: Vec<String> = NoticeKind::ALL
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["resolved_by_agent", "escalation", "approval_needed"]
    );
    let back: Notice = serde_json::from_value(v).unwrap();
    assert_eq!(back, support::resolved());
}
