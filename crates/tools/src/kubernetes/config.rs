//! How to reach the Kubernetes API.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `kubernetes` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The kubeconfig file. Default: `$KUBECONFIG`, else `~/.kube/config`,
    /// else the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use. Default: its `current-context`.
    #[serde(default)]
    pub context: Option<String>,
    /// Timeout of each API request, seconds. Default: 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    10
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            context: None,
            timeout_secs: default_timeout_secs(),
        }
    }
}
