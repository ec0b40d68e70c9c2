//! How pagerless reaches a node: the transport shared by the read-only shell
//! tool and the host executor, and the pure checks and `ssh` arguments both
//! build on. No I/O here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How commands reach a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transport {
    /// The lab's node shells: `POST {url}/{node}` with `{"command": ...}`.
    Lab {
        /// The node-shell base URL (`endpoints.shell` of `lab run`). Required.
        url: String,
    },
    /// OpenSSH, non-interactive (`BatchMode=yes`, `StrictHostKeyChecking=yes`).
    Ssh {
        /// The remote user. Required.
        user: String,
        /// The ssh port. Default: 22.
        #[serde(default = "default_ssh_port")]
        port: u16,
        /// The private key (`-i`). Default: ssh's own choice (agent, `~/.ssh/id_*`).
        #[serde(default)]
        identity_file: Option<PathBuf>,
        /// The known-hosts file (`UserKnownHostsFile`). Default: ssh's own (`~/.ssh/known_hosts`).
        #[serde(default)]
        known_hosts: Option<PathBuf>,
        /// The host to connect to, with `{node}` replaced by the node's name. Default: `{node}`.
        #[serde(default = "default_host_template")]
        host_template: String,
    },
    /// On the machine pagerless runs on, whatever the node (for single-host setups and tests).
    Local,
}

fn default_ssh_port() -> u16 {
    22
}

fn default_host_template() -> String {
    "{node}".to_owned()
}

/// Checks that `node` is a plain host name: letters, digits, `.`, `-`, `_`, not starting with `-`.
pub fn check_node(node: &str) -> Result<(), String> {
    let plain = !node.is_empty()
        && node.len() <= 253
        && !node.starts_with('-')
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if plain {
        Ok(())
    } else {
        Err(format!("`{node}` is not a node name"))
    }
}

/// The arguments to give `ssh` to run `command` (already checked) on `node`.
pub fn ssh_args(
    transport: &Transport,
    timeout_secs: u64,
    node: &str,
    command: &str,
) -> Result<Vec<String>, String> {
    let Transport::Ssh {
        user,
        port,
        identity_file,
        known_hosts,
        host_template,
    } = transport
    else {
        return Err("the shell transport is not ssh".into());
    };
    check_node(node)?;
    let host = host_template.replace("{node}", node);
    check_node(&host)?;
    let mut args: Vec<String> = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.push("-o".to_owned());
    args.push(format!("ConnectTimeout={}", timeout_secs.max(1)));
    args.push("-p".to_owned());
    args.push(port.to_string());
    if let Some(identity) = identity_file {
        args.push("-i".to_owned());
        args.push(identity.display().to_string());
        args.push("-o".to_owned());
        args.push("IdentitiesOnly=yes".to_owned());
    }
    if let Some(known) = known_hosts {
        args.push("-o".to_owned());
        args.push(format!("UserKnownHostsFile={}", known.display()));
    }
    args.push("-l".to_owned());
    args.push(user.clone());
    args.push(host);
    args.push("--".to_owned());
    args.extend(command.split_whitespace().map(str::to_owned));
    Ok(args)
}
