//! Host writes, through the shell tool's transports (local or ssh): empty a
//! cache directory, or run a command configured by name after its check
//! passes (`nginx -t` before `nginx -s reload`). Never free text: a request
//! names a command, and the argv comes from the configuration.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use pagerless_guard::Authorized;
use pagerless_model::transport::{check_node, ssh_args};
use pagerless_model::{ActionKind, ActionRequest, Transport};
use serde::{Deserialize, Serialize};

use super::{ActError, Executed, Executor};

/// A command pagerless may run by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCommand {
    /// Run first; the command runs only when this exits 0 (`nginx -t`). Default: none.
    #[serde(default)]
    pub check: Option<Vec<String>>,
    /// The command, as argv. Required.
    pub run: Vec<String>,
}

/// The host executor's configuration (`act.host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// How commands reach a node: `local` or `ssh` (as in `tools.shell`). Required.
    pub transport: Transport,
    /// Commands by name. Default: none.
    #[serde(default)]
    pub commands: BTreeMap<String, NamedCommand>,
    /// How long one command may take, in seconds. Default: 30.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    30
}

/// Characters no configured word may hold: over ssh the words reach a shell.
const METACHARACTERS: &[char] = &[
    ';', '|', '&', '$', '<', '>', '`', '\\', '"', '\'', '(', ')', '{', '}', '*', '?', '[', ']',
    '~', '!', '#', '\n', '\r', ' ', '\t',
];

/// The host executor.
pub struct HostExecutor {
    config: HostConfig,
}

impl HostExecutor {
    /// Checks the configuration: a local or ssh transport, and commands whose
    /// words are plain (no shell metacharacters, no empty argv).
    pub fn new(config: HostConfig) -> Result<HostExecutor, String> {
        if matches!(config.transport, Transport::Lab { .. }) {
            return Err(
                "the lab's node shells are read-only; host writes need `local` or `ssh`".into(),
            );
        }
        for (name, c) in &config.commands {
            for argv in std::iter::once(&c.run).chain(c.check.iter()) {
                if argv.is_empty() {
                    return Err(format!("command `{name}`: an empty argv"));
                }
                if let Some(w) = argv
                    .iter()
                    .find(|w| w.is_empty() || w.contains(METACHARACTERS))
                {
                    return Err(format!(
                        "command `{name}`: `{w}` holds a shell metacharacter or is empty"
                    ));
                }
            }
        }
        Ok(HostExecutor { config })
    }

    /// Runs `argv` on `node`: (exit code, stdout and stderr together).
    async fn run(&self, node: &str, argv: &[String]) -> Result<(i32, String), String> {
        let (program, args) = match &self.config.transport {
            Transport::Local => (argv[0].clone(), argv[1..].to_vec()),
            Transport::Ssh { .. } => {
                let args = ssh_args(
                    &self.config.transport,
                    self.config.timeout_secs,
                    node,
                    &argv.join(" "),
                )?;
                ("ssh".to_owned(), args)
            }
            Transport::Lab { .. } => return Err("the lab's node shells are read-only".into()),
        };
        let child = tokio::process::Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run `{program}`: {e}"))?;
        let limit = Duration::from_secs(self.config.timeout_secs.max(1));
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| {
                format!(
                    "`{}` took longer than {} s",
                    argv.join(" "),
                    limit.as_secs()
                )
            })?
            .map_err(|e| format!("`{program}` failed: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.code().unwrap_or(-1), text.trim().to_owned()))
    }
}

/// Empties `dir` on this machine, keeping the directory: (entries, bytes freed).
fn empty_dir(dir: &std::path::Path) -> std::io::Result<(u64, u64)> {
    fn size(p: &std::path::Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| size(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    let (mut entries, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        bytes += size(&path);
        // symlink_metadata: a link is removed, never followed out of the cache.
        if std::fs::symlink_metadata(&path)?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        entries += 1;
    }
    Ok((entries, bytes))
}

#[async_trait]
impl Executor for HostExecutor {
    fn kinds(&self) -> &'static [ActionKind] {
        &[ActionKind::ClearCache, ActionKind::RunCommand]
    }

    async fn execute(&self, action: Authorized<ActionRequest>) -> Result<Executed, ActError> {
        let req = action.request();
        let node = req.target.name.as_str();
        let invalid = |message: String| ActError::Invalid {
            kind: req.kind,
            target: req.target.to_string(),
            message,
        };
        let failed = |message: String| ActError::Failed {
            kind: req.kind,
            target: req.target.to_string(),
            message,
            retriable: false,
        };
        check_node(node).map_err(invalid)?;
        let param = |k: &str| {
            req.params
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match req.kind {
            ActionKind::ClearCache => {
                let path = param("path");
                let plain = path.starts_with('/')
                    && path != "/"
                    && !path.split('/').any(|p| p == "..")
                    && !path.contains(METACHARACTERS);
                if !plain {
                    return Err(invalid(format!(
                        "`{path}` is not a plain absolute directory"
                    )));
                }
                let summary = match self.config.transport {
                    Transport::Local => {
                        let (n, bytes) = empty_dir(std::path::Path::new(&path))
                            .map_err(|e| failed(format!("{path}: {e}")))?;
                        format!(
                            "emptied {path} on {node}: {n} entries, {:.1} MiB freed",
                            bytes as f64 / 1_048_576.0
                        )
                    }
                    _ => {
                        let argv: Vec<String> = ["find", &path, "-mindepth", "1", "-delete"]
                            .into_iter()
                            .map(str::to_owned)
                            .collect();
                        let (code, out) = self.run(node, &argv).await.map_err(failed)?;
                        if code != 0 {
                            return Err(failed(format!(
                                "`find {path} -delete` exited {code}: {out}"
                            )));
                        }
                        format!("emptied {path} on {node}")
                    }
                };
                Ok(Executed {
                    summary,
                    undo: None,
                })
            }
            ActionKind::RunCommand => {
                let name = param("name");
                let Some(command) = self.config.commands.get(&name) else {
                    return Err(invalid(format!(
                        "no command named `{name}` is configured ({})",
                        self.config
                            .commands
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                if let Some(check) = &command.check {
                    let (code, out) = self.run(node, check).await.map_err(failed)?;
                    if code != 0 {
                        return Err(failed(format!(
                            "not run: its check `{}` failed (exit {code}): {out}",
                            check.join(" ")
                        )));
                    }
                }
                let (code, out) = self.run(node, &command.run).await.map_err(failed)?;
                if code != 0 {
                    return Err(failed(format!(
                        "`{}` exited {code}: {out}",
                        command.run.join(" ")
                    )));
                }
                Ok(Executed {
                    summary: format!(
                        "ran `{name}` on {node}{}",
                        if command.check.is_some() {
                            " after its check passed"
                        } else {
                            ""
                        }
                    ),
                    undo: None,
                })
            }
            other => Err(ActError::NoExecutor(other)),
        }
    }
}
