//! Allowlisted read-only commands on nodes: through ssh, locally, or the lab's node shell.
//!
//! One tool, `shell.exec`. The allowlist is the whole contract: a command is
//! run only if it equals an entry after collapsing whitespace, and anything
//! else is [`crate::ToolError::Refused`] with the allowlist named. No shell
//! ever parses what a caller sent (see [`Exec`]).

mod config;
mod data;
mod exec;

use std::sync::Arc;

pub use config::{ShellConfig, Transport};
pub use data::*;
pub use exec::{Exec, check_node, ssh_args};

use crate::{Tool, ToolError};

/// The shell tools: `shell.exec`.
pub fn tools(config: &ShellConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    Ok(vec![Arc::new(Exec::new(config)?)])
}
