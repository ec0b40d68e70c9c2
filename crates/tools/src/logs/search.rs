//! `logs.search`: the newest lines of a source's files that match a regex,
//! within a time window when the lines carry timestamps.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pagerless_model::Observation;
use regex::Regex;

use super::config::LogsConfig;
use super::data::{Match, Matches};
use super::files::resolve;
use super::timestamp::leading_time;
use crate::{Tool, ToolError, arg_str};

const TOOL: &str = "logs.search";
/// Lines longer than this are cut (in the result, not for matching).
const MAX_LINE_CHARS: usize = 2000;

/// `logs.search`: matching lines of a configured log source.
#[derive(Debug, Clone)]
pub struct Search {
    config: Arc<LogsConfig>,
}

fn bad(message: impl Into<String>) -> ToolError {
    ToolError::BadArguments {
        tool: TOOL.to_owned(),
        message: message.into(),
    }
}

/// What one search found: the last `limit` matches, and how many matched in all.
struct Found {
    lines: VecDeque<Match>,
    total: usize,
}

/// Scans `files` in order for lines matching `pattern` at or after `since`
/// (a line without a timestamp takes the previous line's; before any, it is kept).
fn scan(
    files: &[PathBuf],
    pattern: &Regex,
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> std::io::Result<Found> {
    let mut found = Found {
        lines: VecDeque::new(),
        total: 0,
    };
    for file in files {
        let reader = BufReader::new(std::fs::File::open(file)?);
        let mut current: Option<DateTime<Utc>> = None;
        for (index, raw) in reader.split(b'\n').enumerate() {
            let raw = raw?;
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches('\r');
            if since.is_some()
                && let Some(t) = leading_time(text)
            {
                current = Some(t);
            }
            if let (Some(since), Some(at)) = (since, current)
                && at < since
            {
                continue;
            }
            if !pattern.is_match(text) {
                continue;
            }
            found.total += 1;
            found.lines.push_back(Match {
                file: file.display().to_string(),
                line: index as u64 + 1,
                text: text.chars().take(MAX_LINE_CHARS).collect(),
            });
            if found.lines.len() > limit {
                found.lines.pop_front();
            }
        }
    }
    Ok(found)
}

impl Search {
    /// The tool over `config`'s sources.
    pub fn new(config: &LogsConfig) -> Search {
        Search {
            config: Arc::new(config.clone()),
        }
    }
}

#[async_trait]
impl Tool for Search {
    fn name(&self) -> &'static str {
        TOOL
    }

    fn description(&self) -> &'static str {
        "Searches a configured log source (nginx, application logs) for lines matching a regular expression, newest last, optionally only the last N seconds."
    }

    fn schema(&self) -> serde_json::Value {
        let sources: Vec<&String> = self.config.sources.keys().collect();
        serde_json::json!({
            "type": "object",
            "properties": {
                "source": {"type": "string", "enum": sources},
                "pattern": {"type": "string", "description": "a regular expression (Rust regex syntax)"},
                "since_secs": {"type": "number", "description": "only lines stamped within the last N seconds"},
                "limit": {"type": "integer", "description": format!("at most this many lines, the newest; default and maximum {}", self.config.max_lines)}
            },
            "required": ["source", "pattern"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let source = arg_str(TOOL, args, "source")?;
        let pattern = arg_str(TOOL, args, "pattern")?;
        let Some(spec) = self.config.sources.get(source) else {
            let known: Vec<&str> = self.config.sources.keys().map(String::as_str).collect();
            return Err(bad(format!(
                "no log source `{source}`; the sources are: {}",
                if known.is_empty() {
                    "none configured".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| bad(format!("`pattern` is not a regular expression: {e}")))?;
        let since_secs = match args.get("since_secs") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(s) if s > 0.0 && s.is_finite() => Some(s),
                _ => return Err(bad("`since_secs` must be a positive number")),
            },
        };
        let max = self.config.max_lines.max(1);
        let limit = match args.get("limit") {
            None | Some(serde_json::Value::Null) => max,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => usize::try_from(n).unwrap_or(max).min(max),
                _ => return Err(bad("`limit` must be a positive integer")),
            },
        };
        let since =
            since_secs.map(|s| Utc::now() - chrono::Duration::milliseconds((s * 1000.0) as i64));

        let spec_owned = spec.clone();
        let found = tokio::task::spawn_blocking(move || {
            let files = resolve(&spec_owned)?;
            scan(&files, &regex, since, limit).map(|found| (files.len(), found))
        })
        .await
        .map_err(|e| ToolError::Backend {
            tool: TOOL.to_owned(),
            message: format!("the search stopped: {e}"),
            retriable: true,
        })?
        .map_err(|e| ToolError::Backend {
            tool: TOOL.to_owned(),
            message: format!("cannot read {spec} (source `{source}`): {e}"),
            retriable: false,
        })?;
        let (files, found) = found;

        let window = since_secs
            .map(|s| format!(" in the last {s:.0} s"))
            .unwrap_or_default();
        let summary = match found.lines.back() {
            None => format!(
                "no line of `{source}` ({files} file{}) matches `{pattern}`{window}",
                if files == 1 { "" } else { "s" }
            ),
            Some(last) => {
                let shown = if found.total > found.lines.len() {
                    format!(" (the newest {} shown)", found.lines.len())
                } else {
                    String::new()
                };
                let latest: String = last.text.chars().take(160).collect();
                format!(
                    "{} line{} of `{source}` match `{pattern}`{window}{shown}; latest: {latest}",
                    found.total,
                    if found.total == 1 { "" } else { "s" },
                )
            }
        };
        let data = Matches {
            pattern: pattern.to_owned(),
            truncated: found.total > found.lines.len(),
            lines: found.lines.into_iter().collect(),
        };
        let mut query = format!("{spec} =~ /{pattern}/");
        if let Some(s) = since_secs {
            query.push_str(&format!(" since {s} s ago"));
        }
        Ok(Observation {
            tool: TOOL.to_owned(),
            summary,
            query,
            data: serde_json::to_value(&data).map_err(|e| ToolError::Backend {
                tool: TOOL.to_owned(),
                message: format!("cannot encode the matches: {e}"),
                retriable: false,
            })?,
            error: None,
        })
    }
}
