//! The `notify:` configuration: the documented YAML parses, unknown keys and
//! misplaced fields are refused, secrets come only from the environment and
//! never show in errors or `Debug`. No servers involved.

#![allow(clippy::unwrap_used)]

mod support;

use pagerless_notify::sinks::{SlackBot, SlackWebhook};
use pagerless_notify::{ConfigError, Dispatcher, NotifyConfig, Secret, SinkKind};

const EXAMPLE: &str = r##"
retry:
  attempts: 3
  backoff_ms: 500
  timeout_ms: 10000
sinks:
  - name: ops-slack
    kind: slack_bot
    token_env: PAGERLESS_SLACK_BOT_TOKEN
    channel: "#ops"
    kinds: [resolved_by_agent, approval_needed]
  - name: sre-teams
    kind: teams
    url_env: PAGERLESS_TEAMS_WEBHOOK_URL
    environments: [prod, staging]
  - name: oncall
    kind: pagerduty
    routing_key_env: PAGERLESS_PAGERDUTY_ROUTING_KEY
    environments: [prod]
    min_severity: warning
    kinds: [escalation, resolved_by_agent]
  - name: audit-hook
    kind: webhook
    url: https://hooks.internal.example/pagerless
    token_env: PAGERLESS_HOOK_TOKEN
    headers: { X-Team: sre }
"##;

fn env(var: &str) -> Option<String> {
    match var {
        "PAGERLESS_SLACK_BOT_TOKEN" => Some("xoxb-1-5ecret".to_owned()),
        "PAGERLESS_TEAMS_WEBHOOK_URL" => {
            Some("https://example.webhook.office.com/webhookb2/5ecret".to_owned())
        }
        "PAGERLESS_PAGERDUTY_ROUTING_KEY" => Some("r0uting5ecret".to_owned()),
        "PAGERLESS_HOOK_TOKEN" => Some("hook5ecret".to_owned()),
        _ => None,
    }
}

#[test]
fn the_documented_example_parses_and_builds() {
    let config: NotifyConfig = yaml_serde::from_str(EXAMPLE).unwrap();
    assert_eq!(config.sinks.len(), 4);
    assert_eq!(config.sinks[2].kind, SinkKind::Pagerduty);
    assert_eq!(
        config.retry.max_retry_after_secs, 30,
        "defaults fill the rest"
    );
    let d = Dispatcher::from_config_with_env(&config, env).unwrap();
    assert_eq!(d.policy().attempts, 3);
    // Resolved in prod, critical: Slack (kind), Teams (env), PagerDuty, hook.
    assert_eq!(
        d.sinks_for(&support::resolved()),
        ["ops-slack", "sre-teams", "oncall", "audit-hook"]
    );
    // An approval: PagerDuty (escalation, resolved_by_agent) is left out.
    assert_eq!(
        d.sinks_for(&support::approval()),
        ["ops-slack", "sre-teams", "audit-hook"]
    );
    let debug = format!("{d:?}");
    assert!(!debug.contains("5ecret"), "{debug}");
}

#[test]
fn unknown_keys_are_refused() {
    let err = yaml_serde::from_str::<NotifyConfig>(
        "sinks:\n  - name: a\n    kind: webhook\n    url: http://x\n    chanel: '#ops'\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("chanel"), "{err}");
    let err = yaml_serde::from_str::<NotifyConfig>("sink: []\n").unwrap_err();
    assert!(err.to_string().contains("sink"), "{err}");
    let err =
        yaml_serde::from_str::<NotifyConfig>("sinks:\n  - name: a\n    kind: email\n").unwrap_err();
    assert!(err.to_string().contains("email"), "{err}");
}

#[test]
fn misconfigured_sinks_name_the_sink_and_the_field() {
    let build = |yaml: &str| {
        let config: NotifyConfig = yaml_serde::from_str(yaml).unwrap();
        Dispatcher::from_config_with_env(&config, env).unwrap_err()
    };
    // A Slack webhook URL is a secret: not in the file.
    let e = build(
        "sinks:\n  - {name: s, kind: slack_webhook, url: 'https://hooks.slack.com/services/T/B/X'}\n",
    );
    assert!(matches!(e, ConfigError::SecretInConfig { .. }), "{e}");
    assert!(e.to_string().contains("url_env"));
    // A field of another kind.
    let e = build(
        "sinks:\n  - {name: t, kind: teams, url_env: PAGERLESS_TEAMS_WEBHOOK_URL, channel: '#x'}\n",
    );
    assert_eq!(
        e.to_string(),
        "notify sink `t` (teams): `channel` does not apply to teams sinks; remove it"
    );
    // A missing field.
    let e = build("sinks:\n  - {name: b, kind: slack_bot, token_env: PAGERLESS_SLACK_BOT_TOKEN}\n");
    assert_eq!(e.to_string(), "notify sink `b` (slack_bot) needs `channel`");
    // An unset variable: named, and no value shown.
    let e = build("sinks:\n  - {name: p, kind: pagerduty, routing_key_env: NOPE}\n");
    assert_eq!(
        e.to_string(),
        "notify sink `p`: the environment variable `NOPE` (named by `routing_key_env`) is not set or is empty"
    );
    // Two sinks, one name.
    let e = build(
        "sinks:\n  - {name: a, kind: webhook, url: 'http://x'}\n  - {name: a, kind: webhook, url: 'http://y'}\n",
    );
    assert_eq!(e, ConfigError::DuplicateName("a".to_owned()));
    // Not a URL.
    let e = build("sinks:\n  - {name: w, kind: webhook, url: 'ftp://x'}\n");
    assert!(matches!(e, ConfigError::BadUrl { field: "url", .. }), "{e}");
    // Zero attempts.
    let e = build("retry: {attempts: 0}\n");
    assert!(matches!(e, ConfigError::Retry(_)), "{e}");
}

#[test]
fn sinks_do_not_print_their_secrets() {
    let client = reqwest::Client::new();
    let hook = SlackWebhook::new(
        "s",
        Secret::new("https://hooks.slack.com/services/T0/B0/5ecret"),
        client.clone(),
    );
    let bot = SlackBot::new("b", Secret::new("xoxb-5ecret"), "#ops", client);
    let printed = format!("{hook:?} {bot:?} {}", Secret::new("5ecret"));
    assert!(!printed.contains("5ecret"), "{printed}");
    assert!(printed.contains("Secret(***)"));
}
