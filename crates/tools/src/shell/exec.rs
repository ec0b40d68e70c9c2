//! `shell.exec`: one allowlisted command on one node.
//!
//! Nothing a caller sends reaches a shell: the command must equal an
//! allowlist entry (after collapsing whitespace), entries may not hold shell
//! metacharacters, node names are plain host names, and commands run as
//! argv — split on whitespace locally (never `sh -c`), after `--` for ssh.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pagerless_model::Observation;
use serde::Deserialize;

use super::config::{ShellConfig, Transport};
use super::data::CommandOutput;
use crate::{Tool, ToolError, arg_str};

const TOOL: &str = "shell.exec";
/// Characters that mean something to a shell; none may appear in a command.
const METACHARACTERS: &[char] = &[
    ';', '|', '&', '$', '<', '>', '`', '\\', '"', '\'', '(', ')', '{', '}', '*', '?', '[', ']',
    '~', '!', '#', '\n', '\r',
];
/// Output beyond this many bytes is cut.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// `shell.exec`: runs an allowlisted, read-only command on a node.
#[derive(Debug, Clone)]
pub struct Exec {
    config: Arc<ShellConfig>,
    allowlist: Vec<String>,
    http: reqwest::Client,
}

fn normalize(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn bad(message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: TOOL.to_owned(),
        message: message.into(),
    }
}

fn backend(message: impl Into<String>, retriable: bool) -> ToolError {
    ToolError::Backend {
        tool: TOOL.to_owned(),
        message: message.into(),
        retriable,
    }
}

/// Checks that `node` is a plain host name: letters, digits, `.`, `-`, `_`, not starting with `-`.
pub fn check_node(node: &str) -> Result<(), ToolError> {
    pagerless_model::transport::check_node(node).map_err(bad)
}

/// The arguments to give `ssh` to run `command` (already allowlisted) on `node`.
pub fn ssh_args(config: &ShellConfig, node: &str, command: &str) -> Result<Vec<String>, ToolError> {
    pagerless_model::transport::ssh_args(&config.transport, config.timeout_secs, node, command)
        .map_err(bad)
}

#[derive(Deserialize)]
struct LabAnswer {
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    exit_code: i32,
}

#[derive(Deserialize)]
struct LabError {
    #[serde(default)]
    error: String,
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_OUTPUT_BYTES {
        let mut cut = MAX_OUTPUT_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n[output cut]\n");
    }
    s
}

impl Exec {
    /// The tool for `config`; refuses an allowlist entry holding shell metacharacters.
    pub fn new(config: &ShellConfig) -> Result<Exec, ToolError> {
        let mut allowlist = Vec::new();
        for entry in &config.allowlist {
            if let Some(c) = entry.chars().find(|c| METACHARACTERS.contains(c)) {
                return Err(bad(format!(
                    "allowlist entry `{entry}` holds the shell metacharacter `{c}`"
                )));
            }
            let entry = normalize(entry);
            if !entry.is_empty() {
                allowlist.push(entry);
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(|e| backend(format!("cannot build the HTTP client: {e}"), false))?;
        Ok(Exec {
            config: Arc::new(config.clone()),
            allowlist,
            http,
        })
    }

    /// The command as allowlisted, or why it is refused.
    pub fn allowed(&self, command: &str) -> Result<String, ToolError> {
        let normalized = normalize(command);
        if self.allowlist.contains(&normalized) {
            Ok(normalized)
        } else {
            Err(ToolError::Refused {
                tool: TOOL.to_owned(),
                reason: format!(
                    "`{command}` is not on the allowlist ({})",
                    self.allowlist.join(", ")
                ),
            })
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }

    async fn run_lab(
        &self,
        url: &str,
        node: &str,
        command: &str,
    ) -> Result<(i32, String), ToolError> {
        let endpoint = format!("{}/{node}", url.trim_end_matches('/'));
        let response = self
            .http
            .post(&endpoint)
            .json(&serde_json::json!({ "command": command }))
            .send()
            .await
            .map_err(|e| {
                backend(
                    format!("cannot reach the node shell at {endpoint}: {e}"),
                    true,
                )
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| backend(format!("{endpoint}: {e}"), true))?;
        let error = || {
            serde_json::from_slice::<LabError>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned())
        };
        match status.as_u16() {
            200..=299 => {
                let answer: LabAnswer = serde_json::from_slice(&body).map_err(|e| {
                    backend(format!("unexpected answer from {endpoint}: {e}"), false)
                })?;
                Ok((answer.exit_code, answer.stdout))
            }
            403 => Err(ToolError::Refused {
                tool: TOOL.to_owned(),
                reason: error(),
            }),
            404 => Err(bad(format!("{} ({endpoint})", error()))),
            code => Err(backend(
                format!("{endpoint} answered {code}: {}", error()),
                code >= 500,
            )),
        }
    }

    async fn run_process(
        &self,
        program: &str,
        args: &[String],
    ) -> Result<(i32, String, String), ToolError> {
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| backend(format!("cannot run `{program}`: {e}"), false))?;
        let output = tokio::time::timeout(self.timeout(), child.wait_with_output())
            .await
            .map_err(|_| {
                backend(
                    format!(
                        "`{program}` took longer than {} s",
                        self.config.timeout_secs
                    ),
                    true,
                )
            })?
            .map_err(|e| backend(format!("`{program}` failed: {e}"), true))?;
        Ok((
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

#[async_trait]
impl Tool for Exec {
    fn name(&self) -> &'static str {
        TOOL
    }

    fn description(&self) -> &'static str {
        "Runs one allowlisted read-only command (df -h, free -m, top -bn1, uptime, ...) on a node and returns what it printed."
    }

    fn schema(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "node": {"type": "string", "description": "the node's name"},
                "command": {"type": "string", "enum": self.allowlist}
            },
            "required": ["node", "command"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let node = arg_str(TOOL, args, "node")?;
        let requested = arg_str(TOOL, args, "command")?;
        let command = self.allowed(requested)?;
        check_node(node)?;
        let (exit_code, stdout, query, place) = match &self.config.transport {
            Transport::Lab { url } => {
                let (code, out) = self.run_lab(url, node, &command).await?;
                let query = format!("POST {}/{node} {command}", url.trim_end_matches('/'));
                (code, out, query, node.to_owned())
            }
            Transport::Ssh { .. } => {
                let args = ssh_args(&self.config, node, &command)?;
                let (code, out, err) = self.run_process("ssh", &args).await?;
                if code == 255 {
                    return Err(backend(
                        format!(
                            "ssh to {node} failed: {}",
                            if err.is_empty() { "exit 255" } else { &err }
                        ),
                        true,
                    ));
                }
                (
                    code,
                    out,
                    format!("ssh {}", args.join(" ")),
                    node.to_owned(),
                )
            }
            Transport::Local => {
                let argv: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
                let Some((program, rest)) = argv.split_first() else {
                    return Err(bad("an empty command"));
                };
                let (code, out, _) = self.run_process(program, rest).await?;
                (code, out, command.clone(), format!("{node} (this host)"))
            }
        };
        let stdout = truncate(stdout);
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        let summary = match lines.as_slice() {
            [] => format!("`{command}` on {place} exited {exit_code} and printed nothing"),
            [one] => format!("`{command}` on {place} exited {exit_code}: {}", one.trim()),
            [first, ..] => format!(
                "`{command}` on {place} exited {exit_code}: {} lines, starting `{}`",
                lines.len(),
                first.trim()
            ),
        };
        let data = CommandOutput {
            node: node.to_owned(),
            command,
            stdout,
            exit_code,
        };
        Ok(Observation {
            tool: TOOL.to_owned(),
            summary,
            query,
            data: serde_json::to_value(&data)
                .map_err(|e| backend(format!("cannot encode the output: {e}"), false))?,
            error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::*;

    fn ssh(identity: bool) -> ShellConfig {
        ShellConfig::new(Transport::Ssh {
            user: "ops".into(),
            port: 2222,
            identity_file: identity.then(|| PathBuf::from("/etc/pagerless/id_ed25519")),
            known_hosts: Some(PathBuf::from("/etc/pagerless/known_hosts")),
            host_template: "{node}.nodes.internal".into(),
        })
    }

    #[test]
    fn ssh_argv_is_batch_strict_and_ends_with_the_command_after_dashes() {
        let args = ssh_args(&ssh(true), "node-a", "df -h").unwrap();
        assert_eq!(
            args,
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=10",
                "-p",
                "2222",
                "-i",
                "/etc/pagerless/id_ed25519",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "UserKnownHostsFile=/etc/pagerless/known_hosts",
                "-l",
                "ops",
                "node-a.nodes.internal",
                "--",
                "df",
                "-h"
            ]
        );
        let args = ssh_args(&ssh(false), "node-b", "top   -bn1").unwrap();
        assert!(!args.contains(&"-i".to_owned()));
        assert_eq!(&args[args.len() - 3..], ["--", "top", "-bn1"]);
    }

    #[test]
    fn node_names_cannot_smuggle_options() {
        for node in ["-oProxyCommand=sh", "a b", "a;b", "", "node/../x"] {
            assert!(ssh_args(&ssh(false), node, "uptime").is_err(), "{node}");
        }
    }

    #[test]
    fn allowlist_entries_with_metacharacters_are_refused() {
        let mut c = ShellConfig::new(Transport::Local);
        c.allowlist.push("df -h | tail -1".into());
        assert!(Exec::new(&c).is_err());
    }
}
