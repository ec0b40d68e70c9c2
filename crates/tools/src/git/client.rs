//! Running the git CLI against a local cache of the remote: fetch the branch
//! into a bare repository, then read it. Never prompts, never writes to the remote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Mutex;

use super::config::GitConfig;
use crate::ToolError;

/// A bare cache of one branch of the remote.
pub struct Repo {
    remote: String,
    branch: String,
    dir: PathBuf,
    timeout: Duration,
    /// `Authorization` header for https remotes.
    auth_header: Option<String>,
    /// Serializes fetches.
    fetch_lock: Mutex<()>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("remote", &self.remote)
            .field("branch", &self.branch)
            .field("dir", &self.dir)
            .field("auth", &self.auth_header.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a git command printed.
pub struct Output {
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Repo {
    /// The cache for `config`; reads the token from its environment variable.
    pub fn new(tool: &str, config: &GitConfig) -> Result<Repo, ToolError> {
        let auth_header = match &config.token_env {
            Some(var) => {
                let token = std::env::var(var).map_err(|_| ToolError::Backend {
                    tool: tool.to_owned(),
                    message: format!("the token variable `{var}` is not set"),
                    retriable: false,
                })?;
                Some(format!(
                    "Authorization: Basic {}",
                    base64(format!("x-access-token:{token}").as_bytes())
                ))
            }
            None => None,
        };
        let dir = config.cache_dir.clone().unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            config.remote.hash(&mut h);
            config.branch.hash(&mut h);
            std::env::temp_dir().join(format!("pagerless-git-{:016x}", h.finish()))
        });
        Ok(Repo {
            remote: config.remote.clone(),
            branch: config.branch.clone(),
            dir,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            auth_header,
            fetch_lock: Mutex::new(()),
        })
    }

    /// The local ref the branch is fetched into.
    pub fn tip(&self) -> String {
        format!("refs/pagerless/{}", self.branch)
    }

    /// Runs `git args` in the cache (or `cwd`).
    pub async fn git(&self, tool: &str, args: &[&str]) -> Result<Output, ToolError> {
        self.git_in(tool, &self.dir, args).await
    }

    async fn git_in(&self, tool: &str, cwd: &Path, args: &[&str]) -> Result<Output, ToolError> {
        let mut cmd = Command::new("git");
        cmd.current_dir(cwd)
            .args(["-c", "core.quotepath=off", "-c", "color.ui=never"])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        if let Some(header) = &self.auth_header {
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", header);
        }
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| ToolError::Backend {
                tool: tool.to_owned(),
                message: format!(
                    "`git {}` timed out after {}s",
                    args.first().copied().unwrap_or_default(),
                    self.timeout.as_secs()
                ),
                retriable: true,
            })?
            .map_err(|e| ToolError::Backend {
                tool: tool.to_owned(),
                message: format!("cannot run git: {e}"),
                retriable: false,
            })?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Runs `git args`; a non-zero exit is an error with git's message.
    pub async fn git_ok(&self, tool: &str, args: &[&str]) -> Result<String, ToolError> {
        let out = self.git(tool, args).await?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(ToolError::Backend {
                tool: tool.to_owned(),
                message: format!("git {}: {}", args.join(" "), out.stderr),
                retriable: false,
            })
        }
    }

    /// Creates the cache if needed and fetches the branch into [`Repo::tip`].
    /// A failed fetch is retriable: the remote may be back later.
    pub async fn fetch(&self, tool: &str) -> Result<(), ToolError> {
        let _guard = self.fetch_lock.lock().await;
        if !self.dir.join("HEAD").exists() {
            std::fs::create_dir_all(&self.dir).map_err(|e| ToolError::Backend {
                tool: tool.to_owned(),
                message: format!("cannot create {}: {e}", self.dir.display()),
                retriable: false,
            })?;
            self.git_ok(tool, &["init", "--bare", "--quiet"]).await?;
        }
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tip());
        let out = self
            .git(
                tool,
                &[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--",
                    &self.remote,
                    &refspec,
                ],
            )
            .await?;
        if out.success {
            Ok(())
        } else {
            Err(ToolError::Backend {
                tool: tool.to_owned(),
                message: format!(
                    "cannot fetch {} from {}: {}",
                    self.branch, self.remote, out.stderr
                ),
                retriable: true,
            })
        }
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
