//! Where the infrastructure-as-code repository lives and how to fetch it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `git` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// The remote: a path, `file://`, `git://`, ssh (`git@host:org/repo.git`)
    /// or `https://` URL. Required.
    pub remote: String,
    /// The branch whose history is read. Default: `main`.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Where the clone is kept between calls. Default: a directory under the
    /// system's temp dir named after the remote.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// The environment variable holding a token for an `https` remote, sent as
    /// an `http.extraHeader` through git's environment (never on the command
    /// line). Default: none.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Timeout of each git command (the fetch included), seconds. Default: 60.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_branch() -> String {
    "main".into()
}

fn default_timeout_secs() -> u64 {
    60
}

impl GitConfig {
    /// The configuration for `remote` with every default.
    pub fn new(remote: impl Into<String>) -> GitConfig {
        GitConfig {
            remote: remote.into(),
            branch: default_branch(),
            cache_dir: None,
            token_env: None,
            timeout_secs: default_timeout_secs(),
        }
    }
}
