//! `pagerless.yaml`: one file for every setting, validated at start with the
//! file's line numbers in errors. Secrets come from the environment.

use std::path::{Path, PathBuf};

use pagerless_model::LabelMapping;
use pagerless_server::ServerConfig;
use serde::{Deserialize, Serialize};

/// The environment variable that overrides `server.api_token`.
pub const TOKEN_ENV: &str = "PAGERLESS_API_TOKEN";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where pagerless keeps its store and workspaces. Default: `$XDG_DATA_HOME/pagerless`,
    /// else `~/.local/share/pagerless`. The `--data-dir` flag overrides it.
    pub data_dir: Option<PathBuf>,
    /// The HTTP server.
    pub server: ServerConfig,
    /// The store.
    pub store: StoreConfig,
    /// How alerts' labels map to environment, cluster, namespace, service and severity.
    pub intake: LabelMapping,
    /// The read-only systems investigations look at. Default: none (no automatic investigations).
    pub tools: pagerless_tools::config::ToolsConfig,
    /// How investigations run.
    pub investigation: InvestigationConfig,
    /// The guard: who pagerless acts as, and the policy that decides its writes.
    pub guard: GuardConfig,
    /// How mitigations are carried out and verified.
    pub act: ActConfig,
    /// The permanent fix as a pull request to the IaC repository.
    pub gitops: GitopsSettings,
    /// Where notices go (Slack, Teams, PagerDuty, webhooks). Default: nowhere.
    pub notify: pagerless_notify::NotifyConfig,
    /// What the KPIs (`pagerless report`, `/metrics`) need beyond the store.
    pub report: ReportConfig,
}

/// The `report:` section: what the KPIs need beyond the store. The minutes a
/// human spends on each diagnosis category come from the playbooks'
/// `human_minutes`; these keys fill in the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Minutes a human spends on an incident whose category no playbook
    /// prices (or that has no diagnosis), for toil saved. Default: 30.
    pub human_minutes_default: u32,
    /// People on call, for nodes per human. Default: 1.
    pub humans: u32,
    /// Nodes pagerless watches, for nodes per human. Default: none (not reported).
    pub nodes: Option<u32>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            human_minutes_default: 30,
            humans: 1,
            nodes: None,
        }
    }
}

/// The `gitops:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitopsSettings {
    /// The IaC repository's remote (a path, `file://`, `git://`, ssh or https URL). Default: none (no pull requests; with `--lab`, the lab's repository).
    pub remote: Option<String>,
    /// The branch fixes merge into. Default: `main`.
    pub base: String,
    /// Where working copies are kept. Default: `gitops/` in the data dir.
    pub cache_dir: Option<PathBuf>,
    /// The commit author's name. Default: `pagerless`.
    pub author_name: String,
    /// The commit author's e-mail. Default: `pagerless@localhost`.
    pub author_email: String,
    /// The environment variable holding an https token for the remote. Default: none.
    pub token_env: Option<String>,
    /// A private key for an ssh remote (host keys are always checked). Default: none.
    pub ssh_key: Option<PathBuf>,
    /// Validation commands run in the working copy before pushing, in order (through `sh -c`). Default: none.
    pub validate: Vec<String>,
    /// Each validation command's time limit, seconds. Default: 300.
    pub validate_timeout_secs: u64,
    /// Reviewers by path prefix (`*` for every file); CODEOWNERS adds to them.
    pub reviewers: Vec<ReviewerSettings>,
    /// Labels for every pull request. Default: `[pagerless]`.
    pub labels: Vec<String>,
    /// Where pull requests are opened.
    pub forge: ForgeSettings,
    /// How often `serve` looks at open pull requests, seconds. Default: 60.
    pub poll_secs: u64,
}

impl Default for GitopsSettings {
    fn default() -> Self {
        GitopsSettings {
            remote: None,
            base: "main".into(),
            cache_dir: None,
            author_name: "pagerless".into(),
            author_email: "pagerless@localhost".into(),
            token_env: None,
            ssh_key: None,
            validate: Vec::new(),
            validate_timeout_secs: 300,
            reviewers: Vec::new(),
            labels: vec!["pagerless".into()],
            forge: ForgeSettings::default(),
            poll_secs: 60,
        }
    }
}

/// Reviewers for files under a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewerSettings {
    /// A path prefix, or `*`.
    pub path: String,
    /// Forge user names.
    pub reviewers: Vec<String>,
}

/// The forge kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    /// Pull requests kept in pagerless's store; the branch is pushed to the remote.
    #[default]
    Local,
    /// GitHub or GitHub Enterprise.
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea or Forgejo.
    Gitea,
}

/// The `gitops.forge:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForgeSettings {
    /// `local`, `github`, `gitlab` or `gitea`. Default: `local`.
    pub kind: ForgeKind,
    /// The forge's API base URL. Default: GitHub's public API for `github`; required for the others.
    pub api_url: Option<String>,
    /// The repository on the forge: `owner/name` (GitLab: the project path).
    pub repo: Option<String>,
    /// The environment variable holding the forge's API token.
    pub token_env: Option<String>,
    /// Where the local forge's pull requests are shown. Default: `http://` + `server.listen`.
    pub url_base: Option<String>,
}

impl Default for ForgeSettings {
    fn default() -> Self {
        ForgeSettings {
            kind: ForgeKind::Local,
            api_url: None,
            repo: None,
            token_env: None,
            url_base: None,
        }
    }
}

/// The `act:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActConfig {
    /// Carry out the plans of new incidents (through the guard) when executors are configured. Default: true.
    pub auto: bool,
    /// How long to watch the symptom after acting, in seconds. Default: 900.
    pub verify_window_secs: u64,
    /// How often to look at it, in seconds. Default: 60.
    pub verify_interval_secs: u64,
    /// Run writes a human approved as that human (Kubernetes impersonation). Default: false.
    pub impersonate_approvers: bool,
    /// PostgreSQL for ending idle-in-transaction sessions, with its own role
    /// (members of `pg_signal_backend` and `pg_read_all_stats` only), apart
    /// from the read tools' read-only one. Default: none (no database writes).
    pub postgres: Option<pagerless_tools::postgres::PostgresConfig>,
    /// Hosts for `clear_cache` and `run_command`: a `local` or `ssh` transport
    /// and the commands that may run by name (`check` first, then `run`).
    /// Default: none (no host writes).
    pub host: Option<pagerless_act::executors::HostConfig>,
}

impl Default for ActConfig {
    fn default() -> Self {
        ActConfig {
            auto: true,
            verify_window_secs: 900,
            verify_interval_secs: 60,
            impersonate_approvers: false,
            postgres: None,
            host: None,
        }
    }
}

/// The `guard:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// This instance's identity in the audit log and, for Kubernetes, its service account. Default: `pagerless`.
    pub identity: String,
    /// The guardrails policy file. Default: the built-in policy (shadow in prod, autonomous in dev).
    pub policy: Option<PathBuf>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            identity: "pagerless".into(),
            policy: None,
        }
    }
}

/// The `investigation:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvestigationConfig {
    /// Investigate new incidents as they open (when tools are configured). Default: true.
    pub auto: bool,
    /// A directory of extra playbooks (YAML), added to and overriding the built-in ones. Default: none.
    pub playbooks_dir: Option<PathBuf>,
    /// Most steps per investigation. Default: 24.
    pub max_steps: u32,
    /// Most wall time per investigation, not counting watching, in seconds. Default: 30.
    pub max_wall_secs: u64,
    /// Most time spent watching a symptom that may heal by itself, in seconds. Default: 600.
    pub max_wait_secs: u64,
}

impl Default for InvestigationConfig {
    fn default() -> Self {
        InvestigationConfig {
            auto: true,
            playbooks_dir: None,
            max_steps: 24,
            max_wall_secs: 30,
            max_wait_secs: 600,
        }
    }
}

impl InvestigationConfig {
    /// The budget these settings give.
    pub fn budget(&self) -> pagerless_agent::Budget {
        pagerless_agent::Budget {
            max_steps: self.max_steps,
            max_wall: std::time::Duration::from_secs(self.max_wall_secs),
            max_wait_secs: self.max_wait_secs,
        }
    }
}

/// The `store:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The backend. Default: `sqlite` (the only one so far).
    pub backend: StoreBackend,
    /// The SQLite file. Default: `pagerless.db` in the data dir.
    pub path: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sqlite,
            path: None,
        }
    }
}

/// Store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One SQLite file: the embedded default.
    Sqlite,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML or does not fit the schema.
    #[error("{path}{location}: {key}{message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `:LINE:COLUMN`, when known.
        location: String,
        /// The key path at fault followed by `: `, when known (`server.listen: `).
        key: String,
        /// What was wrong.
        message: String,
    },
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let de = yaml_serde::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let location = inner
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            // The YAML error repeats the location at its end; say it once.
            let mut message = inner.to_string();
            if let Some(at) = message.find(" at line ") {
                message.truncate(at);
            }
            // yaml_serde names the key itself for some errors; say that once too.
            if let Some(rest) = message.strip_prefix(&format!("{key}: ")) {
                message = rest.to_owned();
            }
            ConfigError::Invalid {
                path: path.to_owned(),
                location,
                key: if key.is_empty() || key == "." {
                    String::new()
                } else {
                    format!("{key}: ")
                },
                message,
            }
        })
    }
}

/// The commented default configuration that `pagerless init` writes.
pub const TEMPLATE: &str = include_str!("../pagerless.example.yaml");

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("pagerless.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn template_is_the_default() {
        assert_eq!(parse(TEMPLATE).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# nothing\n").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = parse("server:\n  listen: 127.0.0.1:99999\n").unwrap_err();
        assert!(err.starts_with("pagerless.yaml:2:"), "{err}");
        assert!(err.contains("server.listen: "), "{err}");
        assert_eq!(err.matches("server.listen").count(), 1, "{err}");

        let err = parse("server:\n  max_body_bytes: 10\nintake:\n  enviroment_labels: [env]\n")
            .unwrap_err();
        assert!(err.starts_with("pagerless.yaml:4:"), "{err}");
        assert!(err.contains("unknown field `enviroment_labels`"), "{err}");

        let err = parse("store:\n  backend: mysql\n").unwrap_err();
        assert!(
            err.contains("store.backend: unknown variant `mysql`"),
            "{err}"
        );

        let err = parse("server: [1, 2\n").unwrap_err();
        assert!(err.starts_with("pagerless.yaml:"), "{err}");
    }

    #[test]
    fn docs_describe_every_key() {
        let docs = include_str!("../../../docs/config.md");
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut keys = Vec::new();
        collect_keys(&value, "", &mut keys);
        for key in keys {
            assert!(
                docs.contains(&format!("`{key}`")),
                "docs/config.md does not describe `{key}`"
            );
        }
    }

    fn collect_keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = v {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_keys(v, &key, out);
                out.push(key);
            }
        }
    }
}
