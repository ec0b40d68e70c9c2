//! Kubernetes, through kube-rs: pods, deployments with rollout history,
//! events, logs, nodes, and `top` from metrics.k8s.io.
//!
//! Every tool GETs through typed APIs (`Api<Pod>`, `Api<Deployment>`, ...;
//! `DynamicObject` for metrics.k8s.io) and converts quantities to numbers
//! (cpu in cores, memory in bytes). A missing object is a non-retriable
//! [`crate::ToolError::Backend`] carrying the API server's message; a
//! connection failure, a timeout or a 5xx is retriable.

mod client;
mod config;
mod data;
mod deployment;
mod events;
mod logs;
mod nodes;
mod pods;
mod top;

use std::sync::Arc;

pub use config::KubernetesConfig;
pub use data::*;
pub use deployment::DeploymentTool;
pub use events::Events;
pub use logs::Logs;
pub use nodes::Nodes;
pub use pods::Pods;
pub use top::Top;

use crate::{Tool, ToolError};

/// The Kubernetes tools over one client built from `config`:
/// `kubernetes.pods`, `kubernetes.deployment`, `kubernetes.events`,
/// `kubernetes.logs`, `kubernetes.nodes`, `kubernetes.top`.
pub async fn tools(config: &KubernetesConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    let client = client::client(config).await?;
    Ok(vec![
        Arc::new(Pods::new(client.clone())),
        Arc::new(DeploymentTool::new(client.clone())),
        Arc::new(Events::new(client.clone())),
        Arc::new(Logs::new(client.clone())),
        Arc::new(Nodes::new(client.clone())),
        Arc::new(Top::new(client)),
    ])
}
