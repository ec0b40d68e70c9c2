//! The `notify:` section of `pagerless.yaml`: the sinks, their secrets (named
//! by environment variable, never written in the file), their routing filters,
//! and the delivery's retry policy. Validated when the dispatcher is built, so
//! a wrong sink is a startup error that names the sink and the field.

use std::collections::BTreeMap;

use pagerless_model::Severity;
use serde::{Deserialize, Serialize};

use crate::NoticeKind;

/// Notification settings.
///
/// ```yaml
/// notify:
///   retry: { attempts: 3, backoff_ms: 500, timeout_ms: 10000 }
///   sinks:
///     - name: ops-slack
///       kind: slack_bot
///       token_env: PAGERLESS_SLACK_BOT_TOKEN
///       channel: "#ops"
///     - name: oncall
///       kind: pagerduty
///       routing_key_env: PAGERLESS_PAGERDUTY_ROUTING_KEY
///       environments: [prod]
///       min_severity: warning
///       kinds: [escalation, resolved_by_agent]
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where notices go. Default: nowhere.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// How each send is retried. Default: see [`RetryConfig`].
    #[serde(default)]
    pub retry: RetryConfig,
}

/// The kinds of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// A Slack incoming webhook (`url_env`).
    SlackWebhook,
    /// A Slack app's bot token posting to a channel (`token_env`, `channel`).
    SlackBot,
    /// A Microsoft Teams incoming webhook (`url_env`).
    Teams,
    /// A generic JSON webhook (`url` or `url_env`; optional `token_env`, `headers`).
    Webhook,
    /// PagerDuty's Events API v2 (`routing_key_env`).
    Pagerduty,
}

impl SinkKind {
    /// The snake_case name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::SlackWebhook => "slack_webhook",
            SinkKind::SlackBot => "slack_bot",
            SinkKind::Teams => "teams",
            SinkKind::Webhook => "webhook",
            SinkKind::Pagerduty => "pagerduty",
        }
    }
}

impl std::fmt::Display for SinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sink. Which fields apply depends on `kind`; a field that does not
/// apply is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// A unique name, shown in logs and delivery records. Required.
    pub name: String,
    /// What kind of sink. Required.
    pub kind: SinkKind,
    /// `webhook` only: the URL to post to, when it carries no secret.
    /// Default: none (then `url_env` is required).
    #[serde(default)]
    pub url: Option<String>,
    /// `slack_webhook`, `teams` (required) and `webhook`: the environment
    /// variable holding the webhook URL. Slack's and Teams' webhook URLs carry
    /// their key, so they are only read from the environment. Default: none.
    #[serde(default)]
    pub url_env: Option<String>,
    /// `slack_bot` (required: the `xoxb-` bot token) and `webhook` (optional:
    /// sent as `Authorization: Bearer …`): the environment variable holding
    /// the token. Default: none.
    #[serde(default)]
    pub token_env: Option<String>,
    /// `pagerduty` (required): the environment variable holding the Events API
    /// v2 integration's routing key. Default: none.
    #[serde(default)]
    pub routing_key_env: Option<String>,
    /// `slack_bot` (required): the channel id (`C0123ABC`) or name (`#ops`).
    #[serde(default)]
    pub channel: Option<String>,
    /// `slack_bot` and `pagerduty`: another API base URL (a proxy, PagerDuty's
    /// EU region `https://events.eu.pagerduty.com`, a test server). Default:
    /// `https://slack.com/api`, `https://events.pagerduty.com`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// `webhook`: extra headers sent with every request (not secrets). Default: none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `pagerduty`: also trigger an alert when a write waits for approval.
    /// Default: false (approvals are not pages).
    #[serde(default)]
    pub page_on_approval: bool,
    /// Only these environments. Default: empty, meaning every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Only incidents at least this severe (`info`, `warning`, `critical`).
    /// Default: unset, meaning every severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only these kinds of notice (`resolved_by_agent`, `escalation`,
    /// `approval_needed`). Default: empty, meaning every kind.
    #[serde(default)]
    pub kinds: Vec<NoticeKind>,
}

impl SinkConfig {
    /// A sink of `kind` named `name` with every optional field unset.
    pub fn new(name: impl Into<String>, kind: SinkKind) -> Self {
        SinkConfig {
            name: name.into(),
            kind,
            url: None,
            url_env: None,
            token_env: None,
            routing_key_env: None,
            channel: None,
            api_url: None,
            headers: BTreeMap::new(),
            page_on_approval: false,
            environments: Vec::new(),
            min_severity: None,
            kinds: Vec::new(),
        }
    }
}

/// How each send is retried: exponential backoff from `backoff_ms`, doubling
/// up to `max_backoff_ms`, for at most `attempts` attempts, each bounded by
/// `timeout_ms`. No retry on a 4xx other than 408 and 429; a `Retry-After`
/// is honoured up to `max_retry_after_secs` (longer: give up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per sink, the first included. Default: 3.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt, ms; doubled before each later one. Default: 500.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Longest wait between attempts, ms. Default: 8000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Per-request timeout, ms. Default: 10000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Longest `Retry-After` honoured, seconds; a longer one ends the retries. Default: 30.
    #[serde(default = "default_max_retry_after_secs")]
    pub max_retry_after_secs: u64,
}

fn default_attempts() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    8_000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_retry_after_secs() -> u64 {
    30
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            timeout_ms: default_timeout_ms(),
            max_retry_after_secs: default_max_retry_after_secs(),
        }
    }
}

/// A configuration that cannot work. Messages name the sink and the field,
/// never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field the sink's kind needs is missing.
    #[error("notify sink `{sink}` ({kind}) needs `{field}`")]
    Missing {
        /// The sink.
        sink: String,
        /// Its kind.
        kind: SinkKind,
        /// The missing field.
        field: &'static str,
    },
    /// A field was set that the sink's kind does not use.
    #[error("notify sink `{sink}` ({kind}): `{field}` does not apply to {kind} sinks; remove it")]
    NotApplicable {
        /// The sink.
        sink: String,
        /// Its kind.
        kind: SinkKind,
        /// The field.
        field: &'static str,
    },
    /// A secret was written where only an environment variable's name belongs.
    #[error("notify sink `{sink}` ({kind}): {why}")]
    SecretInConfig {
        /// The sink.
        sink: String,
        /// Its kind.
        kind: SinkKind,
        /// What to do instead.
        why: &'static str,
    },
    /// An environment variable named by the config is unset or empty.
    #[error(
        "notify sink `{sink}`: the environment variable `{var}` (named by `{field}`) is not set or is empty"
    )]
    MissingEnv {
        /// The sink.
        sink: String,
        /// The variable.
        var: String,
        /// The field naming it.
        field: &'static str,
    },
    /// A URL is not http(s).
    #[error("notify sink `{sink}`: `{field}` is not an http:// or https:// URL")]
    BadUrl {
        /// The sink.
        sink: String,
        /// The field (or the field naming the variable) that holds it.
        field: &'static str,
    },
    /// Two sinks share a name.
    #[error("two notify sinks are named `{0}`: names must be unique")]
    DuplicateName(String),
    /// A retry setting is out of range.
    #[error("notify.retry: {0}")]
    Retry(&'static str),
    /// The HTTP client could not be built.
    #[error("notify: cannot build the HTTP client: {0}")]
    Client(String),
}
