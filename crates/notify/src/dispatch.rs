//! Delivery: a [`Dispatcher`] sends one notice to every sink whose route
//! matches, concurrently, retrying each with exponential backoff, and returns
//! what happened as [`Delivery`] records for the caller to audit. It never
//! returns an error: a sink that cannot be reached is a failed delivery, not
//! a failed incident. Use [`Dispatcher::spawn_notify`] to not wait at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::config::{ConfigError, NotifyConfig, RetryConfig, SinkConfig, SinkKind};
use crate::route::Route;
use crate::sinks::{Notifier, PagerDuty, SlackBot, SlackWebhook, Teams, Webhook};
use crate::{Notice, NotifyError, Secret};

/// How each send is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per sink, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Bound on each attempt.
    pub request_timeout: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 0.5 s then 1 s apart, 10 s per request, `Retry-After` up to 30 s.
    fn default() -> Self {
        RetryPolicy::from(&RetryConfig::default())
    }
}

impl From<&RetryConfig> for RetryPolicy {
    fn from(c: &RetryConfig) -> Self {
        RetryPolicy {
            attempts: c.attempts.max(1),
            initial_backoff: Duration::from_millis(c.backoff_ms),
            max_backoff: Duration::from_millis(c.max_backoff_ms),
            request_timeout: Duration::from_millis(c.timeout_ms),
            max_retry_after: Duration::from_secs(c.max_retry_after_secs),
        }
    }
}

/// What became of one notice at one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The sink's name.
    pub sink: String,
    /// Whether it was delivered.
    pub ok: bool,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, when not delivered (no secrets).
    pub error: Option<String>,
    /// Time spent, retries and waits included, ms.
    pub elapsed_ms: u64,
}

struct Entry {
    notifier: Arc<dyn Notifier>,
    route: Route,
}

/// Sends notices to the sinks whose routes match. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    sinks: Arc<Vec<Entry>>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sinks.iter().map(|e| e.notifier.name()).collect();
        f.debug_struct("Dispatcher")
            .field("sinks", &names)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new(RetryPolicy::default())
    }
}

impl Dispatcher {
    /// A dispatcher with no sinks.
    pub fn new(policy: RetryPolicy) -> Self {
        Dispatcher {
            sinks: Arc::new(Vec::new()),
            policy,
        }
    }

    /// Adds a sink with its route (custom notifiers, tests).
    pub fn with_sink(mut self, notifier: Arc<dyn Notifier>, route: Route) -> Self {
        let mut sinks: Vec<Entry> = match Arc::try_unwrap(self.sinks) {
            Ok(v) => v,
            Err(shared) => shared
                .iter()
                .map(|e| Entry {
                    notifier: e.notifier.clone(),
                    route: e.route.clone(),
                })
                .collect(),
        };
        sinks.push(Entry { notifier, route });
        self.sinks = Arc::new(sinks);
        self
    }

    /// Builds the sinks of `config`, reading secrets from the process
    /// environment.
    pub fn from_config(config: &NotifyConfig) -> Result<Self, ConfigError> {
        Self::from_config_with_env(config, |var| std::env::var(var).ok())
    }

    /// Builds the sinks of `config`, reading secrets with `env` (a variable's
    /// name to its value).
    pub fn from_config_with_env(
        config: &NotifyConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if config.retry.attempts == 0 {
            return Err(ConfigError::Retry("attempts must be at least 1"));
        }
        if config.retry.timeout_ms == 0 {
            return Err(ConfigError::Retry("timeout_ms must be more than 0"));
        }
        let policy = RetryPolicy::from(&config.retry);
        let client = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pagerless-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut dispatcher = Dispatcher::new(policy);
        let mut names = std::collections::BTreeSet::new();
        for sink in &config.sinks {
            if !names.insert(sink.name.as_str()) {
                return Err(ConfigError::DuplicateName(sink.name.clone()));
            }
            let notifier = build_sink(sink, &env, client.clone())?;
            let route = Route {
                environments: sink.environments.clone(),
                min_severity: sink.min_severity,
                kinds: sink.kinds.clone(),
            };
            dispatcher = dispatcher.with_sink(notifier, route);
        }
        Ok(dispatcher)
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The names of the sinks `notice` would go to, in configured order.
    pub fn sinks_for(&self, notice: &Notice) -> Vec<String> {
        self.matching(notice)
            .map(|e| e.notifier.name().to_owned())
            .collect()
    }

    fn matching<'a>(&'a self, notice: &'a Notice) -> impl Iterator<Item = &'a Entry> + 'a {
        self.sinks
            .iter()
            .filter(|e| e.route.matches(notice) && e.notifier.handles(notice.kind))
    }

    /// Sends `notice` to every matching sink concurrently, each retried per
    /// the policy; one [`Delivery`] per sink, in configured order. Waits at
    /// most about `attempts × timeout + backoffs` (plus honoured
    /// `Retry-After`s); never fails.
    pub async fn notify(&self, notice: &Notice) -> Vec<Delivery> {
        let shared = Arc::new(notice.clone());
        let tasks: Vec<(String, JoinHandle<Delivery>)> = self
            .matching(notice)
            .map(|e| {
                let name = e.notifier.name().to_owned();
                let task = tokio::spawn(deliver(e.notifier.clone(), shared.clone(), self.policy));
                (name, task)
            })
            .collect();
        let mut deliveries = Vec::with_capacity(tasks.len());
        for (sink, task) in tasks {
            let delivery = task.await.unwrap_or_else(|e| Delivery {
                sink: sink.clone(),
                ok: false,
                attempts: 0,
                error: Some(format!("{sink}: the send task ended abnormally: {e}")),
                elapsed_ms: 0,
            });
            if delivery.ok {
                tracing::debug!(incident = %notice.incident, sink = %delivery.sink, attempts = delivery.attempts, "notice delivered");
            } else {
                tracing::warn!(
                    incident = %notice.incident,
                    sink = %delivery.sink,
                    attempts = delivery.attempts,
                    error = delivery.error.as_deref().unwrap_or_default(),
                    "notice not delivered"
                );
            }
            deliveries.push(delivery);
        }
        deliveries
    }

    /// Like [`Dispatcher::notify`] on a tokio task of its own: returns at once.
    /// Await the handle for the deliveries, or drop it to fire and forget.
    pub fn spawn_notify(&self, notice: Notice) -> JoinHandle<Vec<Delivery>> {
        let this = self.clone();
        tokio::spawn(async move { this.notify(&notice).await })
    }
}

/// One sink's attempts.
async fn deliver(
    notifier: Arc<dyn Notifier>,
    notice: Arc<Notice>,
    policy: RetryPolicy,
) -> Delivery {
    let started = Instant::now();
    let sink = notifier.name().to_owned();
    let mut backoff = policy.initial_backoff;
    let mut attempts = 0;
    let error = loop {
        attempts += 1;
        let result = tokio::time::timeout(policy.request_timeout, notifier.send(&notice))
            .await
            .unwrap_or_else(|_| Err(NotifyError::Timeout { sink: sink.clone() }));
        let e = match result {
            Ok(()) => break None,
            Err(e) => e,
        };
        if !e.is_retriable() || attempts >= policy.attempts {
            break Some(e.to_string());
        }
        let wait = match e.retry_after() {
            Some(asked) if asked > policy.max_retry_after => {
                break Some(format!(
                    "{e} (the server asked to wait {} s, more than the {} s allowed; not retried)",
                    asked.as_secs(),
                    policy.max_retry_after.as_secs()
                ));
            }
            Some(asked) => asked.max(backoff),
            None => backoff,
        };
        tracing::debug!(incident = %notice.incident, sink = %sink, attempt = attempts, wait_ms = wait.as_millis() as u64, error = %e, "retrying notice");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    };
    Delivery {
        sink,
        ok: error.is_none(),
        attempts,
        error,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// Builds one configured sink.
fn build_sink(
    c: &SinkConfig,
    env: &impl Fn(&str) -> Option<String>,
    client: reqwest::Client,
) -> Result<Arc<dyn Notifier>, ConfigError> {
    check_fields(c)?;
    let secret = |field: &'static str, var: &Option<String>| -> Result<Secret, ConfigError> {
        let var = var.as_deref().ok_or(ConfigError::Missing {
            sink: c.name.clone(),
            kind: c.kind,
            field,
        })?;
        match env(var) {
            Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
            _ => Err(ConfigError::MissingEnv {
                sink: c.name.clone(),
                var: var.to_owned(),
                field,
            }),
        }
    };
    let url = |field: &'static str, secret: Secret| -> Result<Secret, ConfigError> {
        let v = secret.expose();
        if v.starts_with("https://") || v.starts_with("http://") {
            Ok(secret)
        } else {
            Err(ConfigError::BadUrl {
                sink: c.name.clone(),
                field,
            })
        }
    };
    let api_url = || -> Result<Option<String>, ConfigError> {
        c.api_url
            .as_ref()
            .map(|u| url("api_url", Secret::new(u.clone())).map(|s| s.expose().to_owned()))
            .transpose()
    };
    Ok(match c.kind {
        SinkKind::SlackWebhook => {
            let u = url("url_env", secret("url_env", &c.url_env)?)?;
            Arc::new(SlackWebhook::new(&c.name, u, client))
        }
        SinkKind::Teams => {
            let u = url("url_env", secret("url_env", &c.url_env)?)?;
            Arc::new(Teams::new(&c.name, u, client))
        }
        SinkKind::SlackBot => {
            let token = secret("token_env", &c.token_env)?;
            let channel = c.channel.clone().ok_or(ConfigError::Missing {
                sink: c.name.clone(),
                kind: c.kind,
                field: "channel",
            })?;
            let mut bot = SlackBot::new(&c.name, token, channel, client);
            if let Some(api) = api_url()? {
                bot = bot.with_api_url(api);
            }
            Arc::new(bot)
        }
        SinkKind::Webhook => {
            let u = match (&c.url, &c.url_env) {
                (Some(u), None) => url("url", Secret::new(u.clone()))?,
                (None, Some(_)) => url("url_env", secret("url_env", &c.url_env)?)?,
                (None, None) => {
                    return Err(ConfigError::Missing {
                        sink: c.name.clone(),
                        kind: c.kind,
                        field: "url or url_env",
                    });
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::NotApplicable {
                        sink: c.name.clone(),
                        kind: c.kind,
                        field: "url together with url_env",
                    });
                }
            };
            let mut hook = Webhook::new(&c.name, u, client);
            if c.token_env.is_some() {
                hook = hook.with_bearer(secret("token_env", &c.token_env)?);
            }
            for (k, v) in &c.headers {
                hook = hook.with_header(k, v);
            }
            Arc::new(hook)
        }
        SinkKind::Pagerduty => {
            let key = secret("routing_key_env", &c.routing_key_env)?;
            let mut pd = PagerDuty::new(&c.name, key, client).page_on_approval(c.page_on_approval);
            if let Some(api) = api_url()? {
                pd = pd.with_api_url(api);
            }
            Arc::new(pd)
        }
    })
}

/// Rejects fields the sink's kind does not use, and secrets written inline.
fn check_fields(c: &SinkConfig) -> Result<(), ConfigError> {
    if c.url.is_some() && matches!(c.kind, SinkKind::SlackWebhook | SinkKind::Teams) {
        return Err(ConfigError::SecretInConfig {
            sink: c.name.clone(),
            kind: c.kind,
            why: "a webhook URL carries its key, so it is a secret: put it in an environment variable and name that variable in `url_env`",
        });
    }
    let set: [(&'static str, bool, &[SinkKind]); 8] = [
        ("url", c.url.is_some(), &[SinkKind::Webhook]),
        (
            "url_env",
            c.url_env.is_some(),
            &[SinkKind::SlackWebhook, SinkKind::Teams, SinkKind::Webhook],
        ),
        (
            "token_env",
            c.token_env.is_some(),
            &[SinkKind::SlackBot, SinkKind::Webhook],
        ),
        (
            "routing_key_env",
            c.routing_key_env.is_some(),
            &[SinkKind::Pagerduty],
        ),
        ("channel", c.channel.is_some(), &[SinkKind::SlackBot]),
        (
            "api_url",
            c.api_url.is_some(),
            &[SinkKind::SlackBot, SinkKind::Pagerduty],
        ),
        ("headers", !c.headers.is_empty(), &[SinkKind::Webhook]),
        (
            "page_on_approval",
            c.page_on_approval,
            &[SinkKind::Pagerduty],
        ),
    ];
    for (field, is_set, kinds) in set {
        if is_set && !kinds.contains(&c.kind) {
            return Err(ConfigError::NotApplicable {
                sink: c.name.clone(),
                kind: c.kind,
                field,
            });
        }
    }
    Ok(())
}
