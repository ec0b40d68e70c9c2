//! The infrastructure-as-code repository's history, through the git CLI, with
//! structured diffs of YAML values and config directives.
//!
//! The remote's branch is fetched (`GIT_TERMINAL_PROMPT=0`, a token only
//! through git's environment) into a bare cache before each call, so every
//! answer is about the branch as it is now; nothing is ever pushed. YAML files
//! diff as leaf values by key path (`resources.limits.memory`), other files
//! (nginx.conf, postgresql.conf) as directives (`max_connections`).

mod client;
mod config;
mod data;
mod diff;
mod history;

use std::sync::Arc;

pub use config::GitConfig;
pub use data::*;
pub use history::GitHistory;

use crate::{Tool, ToolError};

/// The git tools for `config`: `git.history`. Fails only when the token's
/// environment variable is missing; the remote is first fetched on the first call.
pub fn tools(config: &GitConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    let repo = Arc::new(client::Repo::new("git", config)?);
    Ok(vec![Arc::new(GitHistory::new(repo))])
}
