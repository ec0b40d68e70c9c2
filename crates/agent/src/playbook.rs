//! Playbooks: hypotheses as data. Each names the evidence that supports or
//! refutes it (probe ids with weights), how to word its conclusion, and what
//! to do about it. Built-in playbooks are embedded from `playbooks/`; more can
//! be loaded from a directory. Documented in `docs/playbooks.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Unique id, the file's stem.
    pub id: String,
    /// Root-cause category it concludes (`memory_limit_too_low`; `none` for "do nothing").
    pub category: String,
    /// A short title.
    pub title: String,
    /// Symptoms it explains: `latency`, `errors`, `restarts`, `disk`, `saturation`.
    pub symptoms: Vec<String>,
    /// Probe id → weight: positive supports, negative refutes.
    pub evidence: BTreeMap<String, f64>,
    /// Checks whose facts the conclusion and plan need (`git`, `deployment`, `recheck`).
    #[serde(default)]
    pub needs: Vec<String>,
    /// The conclusion, with `{placeholders}` filled from the evidence.
    pub conclusion: String,
    /// What the target is: `service`, `node`, `database`, `downstream`.
    pub target: String,
    /// Mitigations, in order.
    #[serde(default)]
    pub mitigations: Vec<MitigationTemplate>,
    /// The permanent fix, if any.
    #[serde(default)]
    pub fix: Option<FixTemplate>,
    /// A PromQL check of recovery, with `{placeholders}`: like an alert's
    /// expression, it returns nothing once healthy. Without one, verification
    /// reads the alert's own expression.
    #[serde(default)]
    pub verify: Option<String>,
    /// Minutes a human would spend on this by hand (for toil KPIs).
    #[serde(default)]
    pub human_minutes: u32,
}

/// A mitigation to propose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MitigationTemplate {
    /// The action kind (`scale`, `rollback`, `cordon`, ...).
    pub kind: pagerless_model::ActionKind,
    /// For `scale`: `scale_out` (max(current + 2, ceil(current × 1.5))).
    #[serde(default)]
    pub replicas: Option<String>,
    /// Extra parameters passed through.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Why, with `{placeholders}`.
    pub rationale: String,
}

/// The permanent fix to propose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixTemplate {
    /// `culprit`: restore the culprit change's previous value; `set`: set `key` in `file` to `value`.
    pub from: String,
    /// For `set`: the file.
    #[serde(default)]
    pub file: Option<String>,
    /// For `set`: the key.
    #[serde(default)]
    pub key: Option<String>,
    /// For `set`: the value.
    #[serde(default)]
    pub value: Option<String>,
    /// Why, with `{placeholders}`.
    pub rationale: String,
    /// For `set`: add `key` when the file lacks it (else that is an error).
    #[serde(default)]
    pub add_missing: bool,
}

/// A playbook file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("playbook {file}: {message}")]
pub struct PlaybookError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// The built-in playbooks, embedded at build time.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "memory_limit_too_low",
        include_str!("../../../playbooks/memory_limit_too_low.yaml"),
    ),
    (
        "memory_leak",
        include_str!("../../../playbooks/memory_leak.yaml"),
    ),
    (
        "cpu_throttling",
        include_str!("../../../playbooks/cpu_throttling.yaml"),
    ),
    (
        "noisy_neighbour",
        include_str!("../../../playbooks/noisy_neighbour.yaml"),
    ),
    (
        "downstream_latency",
        include_str!("../../../playbooks/downstream_latency.yaml"),
    ),
    (
        "db_connection_saturation",
        include_str!("../../../playbooks/db_connection_saturation.yaml"),
    ),
    (
        "bad_config",
        include_str!("../../../playbooks/bad_config.yaml"),
    ),
    (
        "disk_pressure",
        include_str!("../../../playbooks/disk_pressure.yaml"),
    ),
    (
        "transient",
        include_str!("../../../playbooks/transient.yaml"),
    ),
];

/// Parses one playbook.
pub fn parse(text: &str, file: &str) -> Result<Playbook, PlaybookError> {
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| PlaybookError {
        file: file.to_owned(),
        message: {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        },
    })
}

/// The built-in playbooks, then those in `dir` (a file with a built-in's id replaces it).
pub fn load(dir: Option<&Path>) -> Result<Vec<Playbook>, PlaybookError> {
    let mut books: BTreeMap<String, Playbook> = BTreeMap::new();
    for (id, text) in BUILTIN {
        let pb = parse(text, &format!("playbooks/{id}.yaml"))?;
        books.insert(pb.id.clone(), pb);
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| PlaybookError {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        {
            let text = std::fs::read_to_string(&path).map_err(|e| PlaybookError {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            let pb = parse(&text, &path.display().to_string())?;
            books.insert(pb.id.clone(), pb);
        }
    }
    Ok(books.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_playbooks_load_and_are_named_after_their_files() {
        let books = load(None).unwrap();
        assert_eq!(books.len(), BUILTIN.len());
        for (id, text) in BUILTIN {
            assert_eq!(&parse(text, id).unwrap().id, id);
        }
    }

    #[test]
    fn a_directory_extends_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let custom = BUILTIN[0]
            .1
            .replace("title: Memory limit too low", "title: Our own wording");
        std::fs::write(dir.path().join("memory_limit_too_low.yaml"), custom).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let books = load(Some(dir.path())).unwrap();
        assert_eq!(books.len(), BUILTIN.len());
        assert!(books.iter().any(|b| b.title == "Our own wording"));
        std::fs::write(dir.path().join("broken.yaml"), "id: x\ncategory: y\n").unwrap();
        let err = load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("broken.yaml") && err.contains("missing field"),
            "{err}"
        );
    }
}
