//! The `tools:` section of `pagerless.yaml`, and the toolbox built from it:
//! each configured system contributes its tools, each missing one is recorded
//! as skipped with the reason, so a trace can say what could not be looked at.

use serde::{Deserialize, Serialize};

use crate::{ToolError, Toolbox};

/// Which systems pagerless can read, and how to reach them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// A Prometheus HTTP API. Default: none.
    pub prometheus: Option<crate::prometheus::PrometheusConfig>,
    /// A Kubernetes API (kubeconfig or in-cluster). Default: none.
    pub kubernetes: Option<crate::kubernetes::KubernetesConfig>,
    /// The infrastructure-as-code repository. Default: none.
    pub git: Option<crate::git::GitConfig>,
    /// Allowlisted read-only commands on nodes. Default: none.
    pub shell: Option<crate::shell::ShellConfig>,
    /// A PostgreSQL server. Default: none.
    pub postgres: Option<crate::postgres::PostgresConfig>,
    /// Log files, by source name. Default: none.
    pub logs: Option<crate::logs::LogsConfig>,
}

impl ToolsConfig {
    /// Builds the toolbox: every configured system's tools; the others skipped with a reason.
    pub async fn toolbox(&self) -> Result<Toolbox, ToolError> {
        let mut tb = Toolbox::new();
        match &self.prometheus {
            Some(c) => crate::prometheus::tools(c)?.into_iter().for_each(|t| {
                tb.add(t);
            }),
            None => {
                tb.skip("prometheus", "no `tools.prometheus` configured");
            }
        }
        match &self.kubernetes {
            Some(c) => crate::kubernetes::tools(c)
                .await?
                .into_iter()
                .for_each(|t| {
                    tb.add(t);
                }),
            None => {
                tb.skip("kubernetes", "no `tools.kubernetes` configured");
            }
        }
        match &self.git {
            Some(c) => crate::git::tools(c)?.into_iter().for_each(|t| {
                tb.add(t);
            }),
            None => {
                tb.skip("git", "no `tools.git` configured");
            }
        }
        match &self.shell {
            Some(c) => crate::shell::tools(c)?.into_iter().for_each(|t| {
                tb.add(t);
            }),
            None => {
                tb.skip("shell", "no `tools.shell` configured");
            }
        }
        match &self.postgres {
            Some(c) => crate::postgres::tools(c).await?.into_iter().for_each(|t| {
                tb.add(t);
            }),
            None => {
                tb.skip("postgres", "no `tools.postgres` configured");
            }
        }
        match &self.logs {
            Some(c) => crate::logs::tools(c)?.into_iter().for_each(|t| {
                tb.add(t);
            }),
            None => {
                tb.skip("logs", "no `tools.logs` configured");
            }
        }
        Ok(tb)
    }
}
