//! How to reach PostgreSQL.

use serde::{Deserialize, Serialize};

/// The `postgres` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The connection URL (`postgres://user@host:5432/db`). Default: none;
    /// one of `url` and `url_env` is required.
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the URL instead, so a password stays
    /// out of the file. Default: none.
    #[serde(default)]
    pub url_env: Option<String>,
    /// Timeout of connecting and of each query, seconds. Default: 5.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    5
}

impl PostgresConfig {
    /// The configuration for `url` with every default.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: Some(url.into()),
            url_env: None,
            timeout_secs: default_timeout_secs(),
        }
    }
}
