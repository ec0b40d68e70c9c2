//! The shape of the shell tool's `data`.

use serde::{Deserialize, Serialize};

/// `shell.exec`: what an allowlisted command printed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The node.
    pub node: String,
    /// The command.
    pub command: String,
    /// Its standard output.
    pub stdout: String,
    /// Its exit code.
    pub exit_code: i32,
}
