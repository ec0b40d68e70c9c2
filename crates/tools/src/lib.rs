//! Read-only connectors that pagerless investigates with, as [`Tool`]s in a [`Toolbox`].
//!
//! Key decision: read-only by construction. A tool holds only clients that
//! read (PromQL queries, Kubernetes GETs, `git log`, allowlisted commands),
//! and the trait has no way to write; every write pagerless makes goes
//! through the guard and the executors instead. That is what makes it safe to
//! hand the toolbox to any reasoner, an LLM included.
//!
//! Each tool answers with an [`Observation`]: a one-line summary for people,
//! the exact query or command it ran, and structured data whose shape is the
//! tool's `data` type (e.g. [`kubernetes::PodInfo`]), which probes read typed.

pub mod config;
pub mod git;
pub mod kubernetes;
pub mod logs;
pub mod postgres;
pub mod prometheus;
pub mod shell;
mod toolbox;

use async_trait::async_trait;
pub use pagerless_model::Observation;
pub use toolbox::{Skipped, Toolbox};

/// A read-only tool a reasoner may call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Its name, `system.operation` (`prometheus.query`).
    fn name(&self) -> &'static str;
    /// What it does, for people and for LLM tool calling.
    fn description(&self) -> &'static str;
    /// The JSON schema of its arguments.
    fn schema(&self) -> serde_json::Value;
    /// Runs it. A failure the backend reports (a bad query, a missing pod)
    /// is an `Err` the loop records as an observation with an error.
    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError>;
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema.
    #[error("bad arguments for {tool}: {message}")]
    BadArguments {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// The backend could not be reached or answered with an error.
    #[error("{tool}: {message}")]
    Backend {
        /// The tool.
        tool: String,
        /// What the backend said.
        message: String,
        /// Whether trying again may help (timeouts, 5xx).
        retriable: bool,
    },
    /// The request is not allowed (a command off the allowlist).
    #[error("{tool} refused: {reason}")]
    Refused {
        /// The tool.
        tool: String,
        /// Why.
        reason: String,
    },
    /// No tool by that name is in the toolbox (or it was skipped).
    #[error("no tool `{0}` in the toolbox")]
    Unknown(String),
}

impl ToolError {
    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ToolError::Backend {
                retriable: true,
                ..
            }
        )
    }
}

/// Reads a required string argument.
pub fn arg_str<'a>(
    tool: &str,
    args: &'a serde_json::Value,
    key: &str,
) -> Result<&'a str, ToolError> {
    args.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ToolError::BadArguments {
            tool: tool.to_owned(),
            message: format!("`{key}` (a string) is required"),
        })
}

/// Reads an optional string argument.
pub fn arg_opt_str<'a>(args: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(serde_json::Value::as_str)
}
