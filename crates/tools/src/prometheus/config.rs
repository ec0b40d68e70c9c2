//! The Prometheus connector's configuration.

use serde::{Deserialize, Serialize};

/// Where the Prometheus HTTP API is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// The API's base URL, without `/api/v1` (`http://prometheus:9090`). Required.
    pub url: String,
    /// Sent as `Authorization: Bearer ...` when set. Default: none.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// How long one request may take, in seconds. Default: 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Evaluate instant queries at this time (unix seconds) instead of the
    /// server's now: for replaying recorded data, where "now" is the alert's
    /// moment. Default: none (live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<f64>,
}

fn default_timeout_secs() -> u64 {
    10
}

impl PrometheusConfig {
    /// A configuration for `url` with every default.
    pub fn new(url: impl Into<String>) -> PrometheusConfig {
        PrometheusConfig {
            url: url.into(),
            bearer_token: None,
            timeout_secs: default_timeout_secs(),
            at: None,
        }
    }
}
