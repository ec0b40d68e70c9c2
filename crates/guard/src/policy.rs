//! The policy file (`guardrails.yaml`, documented in `docs/guardrails.md`):
//! per-environment modes and lists of automatic, approval-only and (by
//! omission) forbidden writes; quotas; blast radius; budgets.

use std::collections::BTreeMap;
use std::path::Path;

use pagerless_model::ActionKind;
use serde::{Deserialize, Serialize};

use crate::catalog::{Risk, risk};

/// How writes are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Decide and record, change nothing.
    Shadow,
    /// Every write needs a human.
    ApproveAll,
    /// As the policy says.
    Autonomous,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rules per environment; `"*"` applies to environments not listed.
    pub environments: BTreeMap<String, EnvironmentRules>,
    /// Quotas on sliding windows.
    #[serde(default)]
    pub quotas: Vec<Quota>,
    /// Limits on how much one action may touch.
    #[serde(default)]
    pub blast_radius: BlastRadius,
    /// Directories `clear_cache` may empty (anything else is refused). Default: `/var/log/app`, `/var/cache/app`.
    #[serde(default = "default_cache_paths")]
    pub clear_cache_paths: Vec<String>,
    /// How long an approval may wait before it is denied, in seconds. Default: 900.
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout_secs: u64,
    /// What added capacity costs, for the cost-rate budget.
    #[serde(default)]
    pub prices: Prices,
}

/// Prices per hour of added capacity, in the budget's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    /// One replica for an hour. Default: 0.05.
    pub replica_hour: f64,
    /// One CPU core of limit for an hour. Default: 0.04.
    pub core_hour: f64,
    /// One GiB of memory limit for an hour. Default: 0.005.
    pub gib_hour: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            replica_hour: 0.05,
            core_hour: 0.04,
            gib_hour: 0.005,
        }
    }
}

fn default_cache_paths() -> Vec<String> {
    vec!["/var/log/app".into(), "/var/cache/app".into()]
}
fn default_approval_timeout() -> u64 {
    900
}

/// One environment's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRules {
    /// The mode.
    pub mode: Mode,
    /// Writes done without asking (never critical ones).
    #[serde(default)]
    pub automatic: Vec<ActionKind>,
    /// Writes done once a human approves.
    #[serde(default)]
    pub approval: Vec<ActionKind>,
    /// Who may approve (names or groups, as the approval channels know them).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Budgets.
    #[serde(default)]
    pub budget: Budget,
}

/// Caps on what actions may add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Replicas one incident may add. Default: 10.
    pub replicas_per_incident: u32,
    /// Replicas all incidents of a day may add. Default: 50.
    pub replicas_per_day: u32,
    /// CPU cores `raise_limit` may add in a day. Default: 16.
    pub cpu_cores_per_day: f64,
    /// Memory `raise_limit` may add in a day, GiB. Default: 64.
    pub memory_gib_per_day: f64,
    /// Most replicas one scale may reach. Default: 100.
    pub max_replicas: u32,
    /// Most a day's additions may cost per hour, at `prices`. Default: 10.
    pub max_added_cost_per_hour: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            replicas_per_incident: 10,
            replicas_per_day: 50,
            cpu_cores_per_day: 16.0,
            memory_gib_per_day: 64.0,
            max_replicas: 100,
            max_added_cost_per_hour: 10.0,
        }
    }
}

/// A quota: at most `max` actions of `kind` per subject in `window_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// The kind counted.
    pub kind: ActionKind,
    /// What is counted per: `service`, `target` or `environment`.
    pub per: QuotaSubject,
    /// How many are allowed in the window; the next needs a human.
    pub max: u32,
    /// The sliding window, in seconds.
    pub window_secs: i64,
}

/// What a quota counts per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaSubject {
    /// The service (a pod counts for its service).
    Service,
    /// The exact target.
    Target,
    /// The whole environment.
    Environment,
}

/// Blast-radius limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlastRadius {
    /// Pods of one deployment restarted within `window_secs`, at most this many... Default: 1.
    pub max_pods: u32,
    /// ...or this percentage of the deployment, whichever is more. Default: 25.
    pub max_pods_percent: u32,
    /// The window in which restarted pods count as "at once", seconds. Default: 600.
    pub window_secs: i64,
    /// Nodes cordoned at once per cluster. Default: 1.
    pub max_cordoned_nodes: u32,
}

impl Default for BlastRadius {
    fn default() -> Self {
        BlastRadius {
            max_pods: 1,
            max_pods_percent: 25,
            window_secs: 600,
            max_cordoned_nodes: 1,
        }
    }
}

/// A policy that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// What is wrong, with the key path and line when known.
    pub message: String,
}

/// The policy a new install starts with: shadow in prod (decide and record,
/// change nothing), autonomous in dev, staging in between.
pub const DEFAULT: &str = include_str!("../../../guardrails.default.yaml");

impl Policy {
    /// The default policy.
    pub fn default_policy() -> Policy {
        // The embedded default is checked by a test; fall back to the strictest if it ever broke.
        Policy::parse(DEFAULT, "guardrails.default.yaml").unwrap_or_else(|_| Policy {
            environments: BTreeMap::new(),
            quotas: Vec::new(),
            blast_radius: BlastRadius::default(),
            clear_cache_paths: Vec::new(),
            approval_timeout_secs: default_approval_timeout(),
            prices: Prices::default(),
        })
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a policy.
    pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let de = yaml_serde::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            PolicyError {
                file: file.to_owned(),
                message: format!("{path}: {inner}"),
            }
        })?;
        for (env, rules) in &policy.environments {
            if let Some(k) = rules.automatic.iter().find(|k| risk(**k) == Risk::Critical) {
                return Err(PolicyError {
                    file: file.to_owned(),
                    message: format!(
                        "environments.{env}.automatic: `{k}` is critical and can never be automatic; list it under `approval` if a human may do it"
                    ),
                });
            }
            if let Some(k) = rules.automatic.iter().find(|k| rules.approval.contains(k)) {
                return Err(PolicyError {
                    file: file.to_owned(),
                    message: format!(
                        "environments.{env}: `{k}` is both automatic and approval-only"
                    ),
                });
            }
        }
        if !policy.environments.contains_key("*") && !policy.environments.contains_key("prod") {
            return Err(PolicyError {
                file: file.to_owned(),
                message: "environments: needs `prod` or `*` (what unknown environments get)".into(),
            });
        }
        Ok(policy)
    }

    /// The rules of an environment: its own, else `*`, else prod's.
    pub fn rules(&self, environment: &str) -> Option<&EnvironmentRules> {
        self.environments
            .get(environment)
            .or_else(|| self.environments.get("*"))
            .or_else(|| self.environments.get("prod"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_shadow_in_prod_and_autonomous_in_dev() {
        let p = Policy::parse(DEFAULT, "default").unwrap();
        assert_eq!(p.rules("prod").unwrap().mode, Mode::Shadow);
        assert_eq!(p.rules("dev").unwrap().mode, Mode::Autonomous);
        assert_eq!(
            p.rules("qa-7").unwrap().mode,
            Mode::Shadow,
            "unknown environments get the strict rules"
        );
        let q = p
            .quotas
            .iter()
            .find(|q| q.kind == ActionKind::RestartPod)
            .unwrap();
        assert_eq!(
            (q.max, q.window_secs, q.per),
            (3, 3600, QuotaSubject::Service)
        );
        assert_eq!(Policy::default_policy(), p);
    }

    #[test]
    fn critical_writes_can_never_be_automatic() {
        let text = DEFAULT.replace(
            "automatic: [restart_pod, scale, open_pull_request, uncordon]",
            "automatic: [restart_pod, delete_volume]",
        );
        let err = Policy::parse(&text, "p.yaml").unwrap_err().to_string();
        assert!(err.contains("`delete_volume` is critical"), "{err}");
        let err = Policy::parse("environments: {}\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `prod` or `*`"), "{err}");
        let err = Policy::parse("environments:\n  prod: {mode: reckless}\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environments.prod.mode") && err.contains("unknown variant"),
            "{err}"
        );
    }
}
