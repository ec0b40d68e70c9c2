//! The shell connector's configuration: how commands reach nodes, and which commands may.

use serde::{Deserialize, Serialize};

pub use pagerless_model::Transport;

/// How `shell.exec` reaches nodes and what it may run there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// How commands reach a node. Required.
    pub transport: Transport,
    /// The only commands that may run, compared after collapsing whitespace.
    /// Entries must be plain words (no shell metacharacters).
    /// Default: `top -bn1`, `df -h`, `free -m`, `uptime`, `ps aux`, `ss -s`.
    #[serde(default = "default_allowlist")]
    pub allowlist: Vec<String>,
    /// How long one command may take, connection included, in seconds. Default: 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_allowlist() -> Vec<String> {
    ["top -bn1", "df -h", "free -m", "uptime", "ps aux", "ss -s"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn default_timeout_secs() -> u64 {
    10
}

impl ShellConfig {
    /// A configuration for `transport` with every default.
    pub fn new(transport: Transport) -> ShellConfig {
        ShellConfig {
            transport,
            allowlist: default_allowlist(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_and_tags() {
        let c: ShellConfig = serde_json::from_value(
            serde_json::json!({"transport": {"kind": "ssh", "user": "ops"}}),
        )
        .unwrap();
        assert_eq!(c.allowlist.len(), 6);
        assert_eq!(c.timeout_secs, 10);
        let Transport::Ssh {
            port,
            host_template,
            ..
        } = &c.transport
        else {
            panic!("{c:?}");
        };
        assert_eq!((*port, host_template.as_str()), (22, "{node}"));
        let local: ShellConfig =
            serde_json::from_value(serde_json::json!({"transport": {"kind": "local"}})).unwrap();
        assert_eq!(local.transport, Transport::Local);
        assert!(
            serde_json::from_value::<ShellConfig>(
                serde_json::json!({"transport": {"kind": "local"}, "timeout": 3})
            )
            .is_err()
        );
    }
}
