//! A working copy of the IaC repository: cloned once into a cache, fetched
//! before each use, a branch per fix, commits as the agent's identity, pushed
//! to the remote. Everything goes through the `git` CLI, so every remote and
//! credential setup a team already has works; secrets travel in the
//! environment, never in argv.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// How to reach the remote.
#[derive(Clone, Default)]
pub struct GitAuth {
    /// For https remotes: a token sent as HTTP basic auth
    /// (`x-access-token:TOKEN`, which GitHub, GitLab and Gitea all accept).
    pub token: Option<String>,
    /// For ssh remotes: a private key file (host keys are always checked).
    pub ssh_key: Option<PathBuf>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ssh_key", &self.ssh_key)
            .finish()
    }
}

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
#[error("git {command}: {message}")]
pub struct GitError {
    /// The command, without credentials.
    pub command: String,
    /// What git said.
    pub message: String,
}

/// Who commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The name.
    pub name: String,
    /// The e-mail.
    pub email: String,
}

/// A working copy.
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
    remote: String,
    auth: GitAuth,
    timeout: Duration,
}

/// `remote` with any `user:password@` removed, for records and messages.
pub fn redact_remote(remote: &str) -> String {
    match remote.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((creds, host)) if !creds.contains('/') => format!("{scheme}://{host}"),
            _ => remote.to_owned(),
        },
        None => remote.to_owned(),
    }
}

fn cache_name(remote: &str) -> String {
    let clean: String = redact_remote(remote)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let tail = clean.len().saturating_sub(80);
    clean[tail..].trim_matches('_').to_owned()
}

impl Workspace {
    /// A working copy of `remote` under `cache`: cloned the first time,
    /// fetched after.
    pub async fn prepare(
        cache: &Path,
        remote: &str,
        auth: GitAuth,
        timeout: Duration,
    ) -> Result<Workspace, GitError> {
        let dir = cache.join(cache_name(remote));
        let ws = Workspace {
            dir,
            remote: remote.to_owned(),
            auth,
            timeout,
        };
        if ws.dir.join(".git").is_dir() {
            ws.git(&["remote", "set-url", "origin", remote]).await?;
            ws.git(&["fetch", "--prune", "origin"]).await?;
        } else {
            std::fs::create_dir_all(cache).map_err(|e| GitError {
                command: "clone".into(),
                message: format!("cannot create the cache {}: {e}", cache.display()),
            })?;
            let target = ws.dir.to_string_lossy().into_owned();
            ws.run(cache, &["clone", "--quiet", remote, &target])
                .await?;
        }
        Ok(ws)
    }

    /// The working copy's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The remote, without credentials.
    pub fn remote(&self) -> String {
        redact_remote(&self.remote)
    }

    /// Starts `branch` from `origin/base`, discarding anything left in the
    /// working copy; returns the base commit.
    pub async fn start_branch(&self, base: &str, branch: &str) -> Result<String, GitError> {
        let start = format!("origin/{base}");
        self.git(&["checkout", "--quiet", "--force", "-B", branch, &start])
            .await?;
        self.git(&["clean", "-fdxq"]).await?;
        self.rev_parse("HEAD").await
    }

    /// A file of the working copy.
    pub fn read(&self, file: &str) -> Result<String, GitError> {
        let path = self.path_of(file)?;
        std::fs::read_to_string(&path).map_err(|e| GitError {
            command: format!("read {file}"),
            message: e.to_string(),
        })
    }

    /// Writes a file of the working copy.
    pub fn write(&self, file: &str, text: &str) -> Result<(), GitError> {
        let path = self.path_of(file)?;
        std::fs::write(&path, text).map_err(|e| GitError {
            command: format!("write {file}"),
            message: e.to_string(),
        })
    }

    fn path_of(&self, file: &str) -> Result<PathBuf, GitError> {
        let rel = Path::new(file);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(GitError {
                command: format!("open {file}"),
                message: "the path must stay inside the repository".into(),
            });
        }
        Ok(self.dir.join(rel))
    }

    /// Commits the changes to `files` (and nothing else: whatever validation
    /// left behind stays out) as `author`; returns the commit.
    pub async fn commit(
        &self,
        files: &[&str],
        message: &str,
        author: &Author,
    ) -> Result<String, GitError> {
        let mut add = vec!["add", "--"];
        add.extend(files);
        self.git(&add).await?;
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        self.git(&[
            "-c",
            &name,
            "-c",
            &email,
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
        ])
        .await?;
        self.rev_parse("HEAD").await
    }

    /// The unified diff between two commits.
    pub async fn diff(&self, from: &str, to: &str) -> Result<String, GitError> {
        self.git(&["diff", "--no-color", "--no-ext-diff", from, to])
            .await
    }

    /// The files changed between two commits.
    pub async fn changed_files(&self, from: &str, to: &str) -> Result<Vec<String>, GitError> {
        Ok(self
            .git(&["diff", "--name-only", from, to])
            .await?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// A file's text at a commit, `None` when it does not exist there.
    pub async fn file_at(&self, rev: &str, file: &str) -> Result<Option<String>, GitError> {
        match self.git(&["show", &format!("{rev}:{file}")]).await {
            Ok(text) => Ok(Some(text)),
            Err(e)
                if e.message.contains("does not exist")
                    || e.message.contains("exists on disk, but not in") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Pushes `branch` to the remote (replacing what is there: the branch is ours).
    pub async fn push(&self, branch: &str) -> Result<(), GitError> {
        let spec = format!("+{branch}:refs/heads/{branch}");
        self.git(&["push", "--quiet", "origin", &spec]).await?;
        Ok(())
    }

    /// Fetches the remote.
    pub async fn fetch(&self) -> Result<(), GitError> {
        self.git(&["fetch", "--prune", "origin"]).await?;
        Ok(())
    }

    /// Merges `branch` into `base` with a merge commit and pushes `base`;
    /// returns the merge commit. Fails (and pushes nothing) on a conflict.
    pub async fn merge(
        &self,
        base: &str,
        branch: &str,
        message: &str,
        author: &Author,
    ) -> Result<String, GitError> {
        self.fetch().await?;
        let start = format!("origin/{base}");
        self.git(&["checkout", "--quiet", "--force", "-B", base, &start])
            .await?;
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        let theirs = format!("origin/{branch}");
        if let Err(e) = self
            .git(&[
                "-c",
                &name,
                "-c",
                &email,
                "merge",
                "--no-ff",
                "--no-edit",
                "-m",
                message,
                &theirs,
            ])
            .await
        {
            let _ = self.git(&["merge", "--abort"]).await;
            return Err(e);
        }
        let spec = format!("{base}:refs/heads/{base}");
        self.git(&["push", "--quiet", "origin", &spec]).await?;
        self.rev_parse("HEAD").await
    }

    /// A commit id.
    pub async fn rev_parse(&self, rev: &str) -> Result<String, GitError> {
        Ok(self
            .git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
            .await?
            .trim()
            .to_owned())
    }

    async fn git(&self, args: &[&str]) -> Result<String, GitError> {
        self.run(&self.dir, args).await
    }

    async fn run(&self, cwd: &Path, args: &[&str]) -> Result<String, GitError> {
        let shown = args
            .iter()
            .filter(|a| !a.starts_with("user."))
            .map(|a| redact_remote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(cwd)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .kill_on_drop(true);
        if let Some(token) = &self.auth.token {
            let basic = base64(&format!("x-access-token:{token}"));
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Basic {basic}"),
                );
        }
        let key = self
            .auth
            .ssh_key
            .as_ref()
            .map(|k| format!(" -i '{}' -o IdentitiesOnly=yes", k.display()))
            .unwrap_or_default();
        cmd.env(
            "GIT_SSH_COMMAND",
            format!("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes{key}"),
        );
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| GitError {
                command: shown.clone(),
                message: format!("timed out after {} s", self.timeout.as_secs()),
            })?
            .map_err(|e| GitError {
                command: shown.clone(),
                message: format!("cannot run git: {e}"),
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            Err(GitError {
                command: shown,
                message: format!("{}{}", stderr.trim(), stdout.trim())
                    .lines()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        }
    }
}

fn base64(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
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
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_records() {
        assert_eq!(
            redact_remote("https://bot:s3cret@git.example.com/shop/iac.git"),
            "https://git.example.com/shop/iac.git"
        );
        assert_eq!(
            redact_remote("git://127.0.0.1:9418/iac.git"),
            "git://127.0.0.1:9418/iac.git"
        );
        let auth = GitAuth {
            token: Some("s3cret".into()),
            ssh_key: None,
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn basic_auth_is_standard_base64() {
        assert_eq!(base64("x-access-token:abc"), "eC1hY2Nlc3MtdG9rZW46YWJj");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("a"), "YQ==");
    }
}
