//! Probes: typed functions that turn one tool's observation into evidence.
//! One probe per file, each tested on data shaped like the real thing.
//!
//! A probe never calls anything: it reads the observation's typed `data` and
//! the facts gathered so far, and says what it found, with numbers.

pub mod config_changed;
pub mod cpu_limit_lowered;
pub mod cpu_low;
pub mod cpu_throttled;
pub mod crashloop_config_error;
pub mod disk;
pub mod downstream_latency;
pub mod image_changed;
pub mod memory_limit_lowered;
pub mod memory_near_limit;
pub mod node_contention;
pub mod oom_killed;
pub mod pool_saturated;
pub mod service_rank;
pub mod symptom;

use std::collections::BTreeMap;

use pagerless_model::Evidence;
use serde_json::Value;

/// Builds evidence.
pub fn evidence(
    probe: &str,
    subject: impl Into<String>,
    summary: impl Into<String>,
    strength: f64,
    step: u32,
    values: &[(&str, Value)],
) -> Evidence {
    Evidence {
        probe: probe.to_owned(),
        subject: subject.into(),
        summary: summary.into(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        strength: strength.clamp(0.0, 1.0),
        step,
    }
}

/// `0.98` → `98%`.
pub fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Bytes as Kubernetes writes them when exact (`512Mi`), else with one decimal.
pub fn bytes(b: f64) -> String {
    for (suf, unit) in [("Gi", 1024.0 * 1024.0 * 1024.0), ("Mi", 1024.0 * 1024.0)] {
        if b >= unit {
            let v = b / unit;
            return if (v - v.round()).abs() < 1e-9 {
                format!("{}{suf}", v.round())
            } else {
                format!("{v:.1}{suf}")
            };
        }
    }
    format!("{b:.0}")
}

/// Shared helpers for the git probes: a change of `key` in a chart of `service`.
pub(crate) mod git_change {
    use pagerless_model::Evidence;
    use pagerless_tools::git::{History, ValueChange};
    use serde_json::json;

    /// The newest commit changing a key that `matches`, with its change.
    pub fn newest(
        h: &History,
        matches: impl Fn(&ValueChange) -> bool,
    ) -> Option<(&pagerless_tools::git::CommitInfo, &ValueChange)> {
        h.commits
            .iter()
            .find_map(|c| c.changes.iter().find(|v| matches(v)).map(|v| (c, v)))
    }

    /// Evidence naming the culprit commit.
    pub fn culprit(
        probe: &str,
        what: &str,
        c: &pagerless_tools::git::CommitInfo,
        v: &ValueChange,
        strength: f64,
        step: u32,
    ) -> Evidence {
        let short: String = c.hash.chars().take(7).collect();
        let before = v.before.clone().unwrap_or_else(|| "(unset)".into());
        let after = v.after.clone().unwrap_or_else(|| "(unset)".into());
        super::evidence(
            probe,
            v.file.clone(),
            format!(
                "{what}: {} {before} → {after} in commit {short} by {} ({}): \"{}\"",
                v.key, c.author, c.date, c.message
            ),
            strength,
            step,
            &[
                ("commit", json!(c.hash)),
                ("commit_short", json!(short)),
                ("author", json!(c.author)),
                ("date", json!(c.date)),
                ("message", json!(c.message)),
                ("file", json!(v.file)),
                ("key", json!(v.key)),
                ("before", json!(before)),
                ("after", json!(after)),
            ],
        )
    }
}
