//! Delivery through the dispatcher — retries, backoff, `Retry-After`,
//! timeouts, routing and isolation between sinks — against MOCKED servers
//! (`wiremock`), not live Slack, Teams or PagerDuty, which CI cannot reach.
//! Sinks are built from configuration the way pagerless builds them, with
//! secrets looked up in a test environment map.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pagerless_model::Severity;
use pagerless_notify::{
    Dispatcher, Notice, NoticeKind, Notifier, NotifyConfig, NotifyError, RetryPolicy, Route,
    SinkConfig, SinkKind,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SLACK_PATH: &str = "/services/T000/B000/5ecretPathXYZ";
const PD_KEY: &str = "pdkey-5ecret-000000000000000000";
const BOT_TOKEN: &str = "xoxb-5ecret-token";

fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

fn slack_webhook(name: &str, var: &str) -> SinkConfig {
    SinkConfig {
        url_env: Some(var.to_owned()),
        ..SinkConfig::new(name, SinkKind::SlackWebhook)
    }
}

fn pagerduty(name: &str, server: &MockServer) -> SinkConfig {
    SinkConfig {
        routing_key_env: Some("PD_KEY".to_owned()),
        api_url: Some(server.uri()),
        ..SinkConfig::new(name, SinkKind::Pagerduty)
    }
}

fn webhook(name: &str, server: &MockServer) -> SinkConfig {
    SinkConfig {
        url: Some(format!("{}/{name}", server.uri())),
        ..SinkConfig::new(name, SinkKind::Webhook)
    }
}

fn config(sinks: Vec<SinkConfig>) -> NotifyConfig {
    NotifyConfig {
        sinks,
        retry: support::fast_retry(),
    }
}

#[tokio::test]
async fn a_sink_that_fails_twice_is_delivered_on_the_third_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("rollup_error"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&server)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![slack_webhook("slack", "SLACK_URL")]),
        env(&[("SLACK_URL", format!("{}{SLACK_PATH}", server.uri()))]),
    )
    .unwrap();
    let deliveries = d.notify(&support::resolved()).await;
    assert_eq!(deliveries.len(), 1);
    let got = &deliveries[0];
    assert_eq!(
        (
            got.sink.as_str(),
            got.ok,
            got.attempts,
            got.error.as_deref()
        ),
        ("slack", true, 3, None)
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_failing_sink_gives_up_in_bounded_time_and_does_not_hold_back_another() {
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_delay(Duration::from_millis(150)))
        .expect(3)
        .mount(&down)
        .await;
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/change/enqueue"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"status": "success"}))
                .set_delay(Duration::from_millis(300)),
        )
        .expect(1)
        .mount(&up)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![
            slack_webhook("down", "DOWN_URL"),
            pagerduty("pd", &up),
        ]),
        env(&[
            ("DOWN_URL", format!("{}{SLACK_PATH}", down.uri())),
            ("PD_KEY", PD_KEY.to_owned()),
        ]),
    )
    .unwrap();
    let started = Instant::now();
    let deliveries = d.notify(&support::resolved()).await;
    let took = started.elapsed();
    // The failing sink: 3 × 150 ms answers + 20 ms + 40 ms of backoff. The
    // healthy one: 300 ms. One after the other would take at least 810 ms.
    assert!(
        took < Duration::from_millis(800),
        "not concurrent: took {took:?}"
    );
    assert_eq!(deliveries.len(), 2);
    let (down_d, pd_d) = (&deliveries[0], &deliveries[1]);
    assert_eq!(
        (down_d.sink.as_str(), down_d.ok, down_d.attempts),
        ("down", false, 3)
    );
    assert!(
        down_d.error.as_deref().unwrap().contains("HTTP 500"),
        "{down_d:?}"
    );
    assert_eq!(
        (pd_d.sink.as_str(), pd_d.ok, pd_d.attempts),
        ("pd", true, 1)
    );
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
        .expect(1)
        .mount(&server)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![slack_webhook("slack", "SLACK_URL")]),
        env(&[("SLACK_URL", format!("{}{SLACK_PATH}", server.uri()))]),
    )
    .unwrap();
    let got = d.notify(&support::resolved()).await.remove(0);
    assert!(!got.ok);
    assert_eq!(got.attempts, 1);
    assert_eq!(
        got.error.as_deref(),
        Some("slack: the server answered HTTP 400: invalid_payload")
    );
}

#[tokio::test]
async fn a_429_retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .with_priority(2)
        .mount(&server)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![pagerduty("pd", &server)]),
        env(&[("PD_KEY", PD_KEY.to_owned())]),
    )
    .unwrap();
    let started = Instant::now();
    let got = d.notify(&support::escalation()).await.remove(0);
    let took = started.elapsed();
    assert!(got.ok, "{got:?}");
    assert_eq!(got.attempts, 2);
    // The backoff alone is 20 ms: the wait was the server's second.
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_allowed_ends_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![pagerduty("pd", &server)]),
        env(&[("PD_KEY", PD_KEY.to_owned())]),
    )
    .unwrap();
    let started = Instant::now();
    let got = d.notify(&support::escalation()).await.remove(0);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!((got.ok, got.attempts), (false, 1));
    assert!(
        got.error
            .as_deref()
            .unwrap()
            .contains("asked to wait 120 s"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_on_each_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut c = config(vec![webhook("slow", &server)]);
    c.retry.timeout_ms = 200;
    let d = Dispatcher::from_config_with_env(&c, env(&[])).unwrap();
    let started = Instant::now();
    let got = d.notify(&support::resolved()).await.remove(0);
    let took = started.elapsed();
    assert_eq!((got.ok, got.attempts), (false, 3));
    assert_eq!(
        got.error.as_deref(),
        Some("slow: no answer within the per-request timeout")
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn slack_ok_false_is_a_failed_delivery() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header(
            "authorization",
            format!("Bearer {BOT_TOKEN}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "not_in_channel"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let bot = SinkConfig {
        token_env: Some("SLACK_BOT_TOKEN".to_owned()),
        channel: Some("C0123".to_owned()),
        api_url: Some(format!("{}/api", server.uri())),
        ..SinkConfig::new("bot", SinkKind::SlackBot)
    };
    let d = Dispatcher::from_config_with_env(
        &config(vec![bot]),
        env(&[("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned())]),
    )
    .unwrap();
    let got = d.notify(&support::approval()).await.remove(0);
    assert_eq!((got.ok, got.attempts), (false, 1));
    assert_eq!(
        got.error.as_deref(),
        Some("bot: the server refused the message: not_in_channel")
    );
}

#[tokio::test]
async fn routes_select_sinks_by_environment_severity_and_kind() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let prod = SinkConfig {
        environments: vec!["production".to_owned()],
        ..webhook("prod", &server)
    };
    let staging = SinkConfig {
        environments: vec!["stage".to_owned()],
        ..webhook("staging", &server)
    };
    let critical = SinkConfig {
        min_severity: Some(Severity::Critical),
        ..webhook("critical", &server)
    };
    let approvals = SinkConfig {
        kinds: vec![NoticeKind::ApprovalNeeded],
        ..webhook("approvals", &server)
    };
    let d = Dispatcher::from_config_with_env(
        &config(vec![prod, staging, critical, approvals]),
        env(&[]),
    )
    .unwrap();

    // prod, critical, resolved.
    assert_eq!(d.sinks_for(&support::resolved()), ["prod", "critical"]);
    // prod, critical, approval.
    assert_eq!(
        d.sinks_for(&support::approval()),
        ["prod", "critical", "approvals"]
    );
    // staging, warning, resolved.
    let mut n = support::resolved();
    n.environment = "staging".to_owned();
    n.severity = Severity::Warning;
    assert_eq!(d.sinks_for(&n), ["staging"]);
    // dev, info, escalation: nobody.
    let mut n = support::escalation();
    n.environment = "dev".to_owned();
    n.severity = Severity::Info;
    assert!(d.sinks_for(&n).is_empty());

    // And notify sends to exactly those.
    let deliveries = d.notify(&support::approval()).await;
    let sinks: Vec<&str> = deliveries.iter().map(|d| d.sink.as_str()).collect();
    assert_eq!(sinks, ["prod", "critical", "approvals"]);
    assert!(deliveries.iter().all(|d| d.ok));
    let mut paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/approvals", "/critical", "/prod"]);
}

#[tokio::test]
async fn pagerduty_is_not_paged_for_approvals_by_default() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&server)
        .await;
    let d = Dispatcher::from_config_with_env(
        &config(vec![pagerduty("pd", &server)]),
        env(&[("PD_KEY", PD_KEY.to_owned())]),
    )
    .unwrap();
    assert!(d.notify(&support::approval()).await.is_empty());
}

/// A notifier that takes its time, or panics.
struct Custom {
    name: &'static str,
    delay: Duration,
    panics: bool,
}

#[async_trait]
impl Notifier for Custom {
    fn name(&self) -> &str {
        self.name
    }

    async fn send(&self, _notice: &Notice) -> Result<(), NotifyError> {
        tokio::time::sleep(self.delay).await;
        if self.panics {
            panic!("a bug in a sink");
        }
        Ok(())
    }
}

#[tokio::test]
async fn spawn_notify_returns_at_once_and_a_panicking_sink_hurts_nobody() {
    let d = Dispatcher::new(RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        request_timeout: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(1),
    })
    .with_sink(
        Arc::new(Custom {
            name: "slow",
            delay: Duration::from_millis(300),
            panics: false,
        }),
        Route::all(),
    )
    .with_sink(
        Arc::new(Custom {
            name: "buggy",
            delay: Duration::ZERO,
            panics: true,
        }),
        Route::all(),
    );
    let started = Instant::now();
    let handle = d.spawn_notify(support::resolved());
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "spawn_notify waited"
    );
    let deliveries = handle.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        (deliveries[0].sink.as_str(), deliveries[0].ok),
        ("slow", true)
    );
    assert_eq!(
        (deliveries[1].sink.as_str(), deliveries[1].ok),
        ("buggy", false)
    );
    assert!(
        deliveries[1]
            .error
            .as_deref()
            .unwrap()
            .contains("ended abnormally")
    );
}

#[tokio::test]
async fn secrets_appear_in_neither_errors_nor_debug_output() {
    let server = MockServer::start().await;
    // Servers that echo what they were sent.
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(
            ResponseTemplate::new(404).set_body_string(format!("no hook at {SLACK_PATH}")),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {BOT_TOKEN}")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!("unknown key {PD_KEY}")))
        .mount(&server)
        .await;
    let bot = SinkConfig {
        token_env: Some("SLACK_BOT_TOKEN".to_owned()),
        channel: Some("#ops".to_owned()),
        api_url: Some(format!("{}/api", server.uri())),
        ..SinkConfig::new("bot", SinkKind::SlackBot)
    };
    let d = Dispatcher::from_config_with_env(
        &config(vec![
            slack_webhook("hook", "SLACK_URL"),
            bot,
            pagerduty("pd", &server),
        ]),
        env(&[
            ("SLACK_URL", format!("{}{SLACK_PATH}", server.uri())),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
            ("PD_KEY", PD_KEY.to_owned()),
        ]),
    )
    .unwrap();
    let deliveries = d.notify(&support::escalation()).await;
    assert_eq!(deliveries.len(), 3);
    let mut everything = format!("{d:?} {deliveries:?}");
    for delivery in &deliveries {
        assert!(!delivery.ok);
        everything.push_str(delivery.error.as_deref().unwrap());
    }
    for secret in [SLACK_PATH, "5ecret", BOT_TOKEN, PD_KEY] {
        assert!(
            !everything.contains(secret),
            "`{secret}` leaked: {everything}"
        );
    }
    assert!(
        everything.contains("HTTP 404: no hook at ***"),
        "{everything}"
    );
    assert!(
        everything.contains("HTTP 401: bad token ***"),
        "{everything}"
    );
}
