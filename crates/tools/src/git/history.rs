//! `git.history`: the commits that touch some paths (or a service), newest
//! first, each with the values it changed.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::client::Repo;
use super::data::{CommitInfo, History, ValueChange};
use super::diff::changes;
use crate::{Observation, Tool, ToolError};

const NAME: &str = "git.history";

/// Commits shown when `limit` is not given.
const DEFAULT_LIMIT: u64 = 20;
/// The most commits one call reads.
const MAX_LIMIT: u64 = 500;
/// Changes listed per commit in the summary.
const SUMMARY_CHANGES: usize = 3;

/// The history of the infrastructure-as-code repository.
pub struct GitHistory {
    repo: Arc<Repo>,
}

impl GitHistory {
    /// The tool over `repo`.
    pub fn new(repo: Arc<Repo>) -> GitHistory {
        GitHistory { repo }
    }
}

fn bad(message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: NAME.into(),
        message: message.into(),
    }
}

/// A service name fit for a path and a grep pattern.
fn valid_service(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[async_trait]
impl Tool for GitHistory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Recent commits of the infrastructure-as-code repository touching some paths or a service (its chart and any file mentioning it), newest first: hash, author, date, subject, files, and each changed value (YAML key paths such as resources.limits.memory, or config directives such as max_connections) before and after."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "paths": {"type": "array", "items": {"type": "string"}, "description": "Paths or directories in the repository."},
                "service": {"type": "string", "description": "A service: charts/<service>/ and any file mentioning it."},
                "since": {"type": "string", "description": "As git log --since (`2 days ago`, `2026-01-05T08:00:00Z`)."},
                "until": {"type": "string", "description": "As git log --until."},
                "limit": {"type": "integer", "description": "Most commits. Default: 20."}
            }
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let mut paths: Vec<String> = match args.get("paths") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("`paths` must be strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("`paths` must be an array of strings")),
        };
        let service = crate::arg_opt_str(args, "service");
        let since = crate::arg_opt_str(args, "since");
        let until = crate::arg_opt_str(args, "until");
        let limit = match args.get("limit") {
            None | Some(serde_json::Value::Null) => DEFAULT_LIMIT,
            Some(v) => v
                .as_u64()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| bad(format!("`limit` must be 1 to {MAX_LIMIT}")))?,
        };

        self.repo.fetch(NAME).await?;
        let tip = self.repo.tip();
        if let Some(svc) = service {
            if !valid_service(svc) {
                return Err(bad(format!("`{svc}` is not a service name")));
            }
            paths.push(format!("charts/{svc}/"));
            let grep = self
                .repo
                .git(NAME, &["grep", "-l", "-F", "-e", svc, &tip, "--"])
                .await?;
            // Exit 1: nothing mentions it.
            for line in grep.stdout.lines() {
                let path = line.strip_prefix(&format!("{tip}:")).unwrap_or(line);
                if !paths.iter().any(|p| path.starts_with(p.as_str())) {
                    paths.push(path.to_owned());
                }
            }
        }

        let mut log_args: Vec<String> = vec![
            "log".into(),
            "--no-color".into(),
            "--no-renames".into(),
            "--name-only".into(),
            "--format=%x1e%H%x1f%an <%ae>%x1f%aI%x1f%s".into(),
            format!("--max-count={limit}"),
        ];
        if let Some(s) = since {
            log_args.push(format!("--since={s}"));
        }
        if let Some(u) = until {
            log_args.push(format!("--until={u}"));
        }
        log_args.push(tip.clone());
        log_args.push("--".into());
        log_args.extend(paths.iter().cloned());
        let argv: Vec<&str> = log_args.iter().map(String::as_str).collect();
        let log = self.repo.git_ok(NAME, &argv).await?;

        let mut history = History::default();
        for record in log.split('\u{1e}').filter(|r| !r.trim().is_empty()) {
            let mut lines = record.lines();
            let header = lines.next().unwrap_or_default();
            let fields: Vec<&str> = header.split('\u{1f}').collect();
            let [hash, author, date, message] = fields[..] else {
                continue;
            };
            let files: Vec<String> = lines
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            let mut changes_of_commit = Vec::new();
            let has_parent = self
                .repo
                .git(
                    NAME,
                    &["rev-parse", "--verify", "--quiet", &format!("{hash}^")],
                )
                .await?
                .success;
            if has_parent {
                for file in &files {
                    let before = self.show(&format!("{hash}^:{file}")).await?;
                    let after = self.show(&format!("{hash}:{file}")).await?;
                    changes_of_commit.extend(changes(file, before.as_deref(), after.as_deref()));
                }
            }
            history.commits.push(CommitInfo {
                hash: hash.to_owned(),
                author: author.to_owned(),
                date: date.to_owned(),
                message: message.to_owned(),
                files,
                changes: changes_of_commit,
            });
        }

        let scope = if paths.is_empty() {
            "the repository".to_owned()
        } else if let Some(svc) = service {
            format!("charts/{svc}/ and files mentioning {svc}")
        } else {
            paths.join(", ")
        };
        let query = format!(
            "git {}",
            log_args
                .iter()
                .map(|a| if a.contains([' ', '\u{1e}', '\u{1f}']) {
                    format!(
                        "'{}'",
                        a.replace('\u{1e}', "%x1e").replace('\u{1f}', "%x1f")
                    )
                } else {
                    a.clone()
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
        Ok(Observation {
            tool: NAME.into(),
            summary: summary(&scope, &history),
            query,
            data: serde_json::to_value(&history).map_err(|e| ToolError::Backend {
                tool: NAME.into(),
                message: format!("cannot encode the result: {e}"),
                retriable: false,
            })?,
            error: None,
        })
    }
}

impl GitHistory {
    /// A file at a revision (`HASH:path`), `None` when it does not exist there.
    async fn show(&self, spec: &str) -> Result<Option<String>, ToolError> {
        let out = self.repo.git(NAME, &["show", spec]).await?;
        Ok(out.success.then_some(out.stdout))
    }
}

fn describe(c: &ValueChange) -> String {
    match (&c.before, &c.after) {
        (Some(b), Some(a)) => format!("set {} {b} → {a}", c.key),
        (None, Some(a)) => format!("added {} {a}", c.key),
        (Some(b), None) => format!("removed {} (was {b})", c.key),
        (None, None) => format!("touched {}", c.key),
    }
}

/// "2 commits touch charts/order-service/: abc1234 by Alex Chen <...> 2026-01-05 08:20 set resources.limits.memory 2Gi → 512Mi; ..."
fn summary(scope: &str, h: &History) -> String {
    let n = h.commits.len();
    if n == 0 {
        return format!("no commits touch {scope}");
    }
    let noun = if n == 1 {
        "commit touches"
    } else {
        "commits touch"
    };
    let parts: Vec<String> = h
        .commits
        .iter()
        .take(SUMMARY_CHANGES)
        .map(|c| {
            let date = chrono::DateTime::parse_from_rfc3339(&c.date)
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|_| c.date.clone());
            let short = c.hash.get(..7).unwrap_or(&c.hash);
            let what = if c.changes.is_empty() {
                format!("\"{}\"", c.message)
            } else {
                let mut d: Vec<String> = c
                    .changes
                    .iter()
                    .take(SUMMARY_CHANGES)
                    .map(describe)
                    .collect();
                if c.changes.len() > SUMMARY_CHANGES {
                    d.push(format!("+{} more", c.changes.len() - SUMMARY_CHANGES));
                }
                d.join(", ")
            };
            format!("{short} by {} {date} {what}", c.author)
        })
        .collect();
    let mut line = format!("{n} {noun} {scope}: {}", parts.join("; "));
    if n > SUMMARY_CHANGES {
        line.push_str(&format!("; +{} older", n - SUMMARY_CHANGES));
    }
    line
}
