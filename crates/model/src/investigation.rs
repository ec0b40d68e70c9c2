//! An investigation as data: the calls a reasoner made, what each observed,
//! the evidence drawn from it, and where it ended — a diagnosis with a plan,
//! or an escalation to a human.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::IncidentId;

/// A request to a read-only tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool's name, e.g. `prometheus.query`.
    pub tool: String,
    /// Its arguments, as its JSON schema describes them.
    pub args: serde_json::Value,
}

/// What a tool call returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The tool that observed.
    pub tool: String,
    /// One line for people: what was seen.
    pub summary: String,
    /// The exact query or command that ran (PromQL, the API path, the git command).
    pub query: String,
    /// Structured data, shaped per tool (see each tool's documentation).
    pub data: serde_json::Value,
    /// Set when the call failed; `summary` then says what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A finding drawn from an observation by a probe: typed, so tests and
/// reasoners can branch on it rather than on prose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The probe that found it, e.g. `memory_near_limit`.
    pub probe: String,
    /// What it is about, e.g. `shop/order-service` or `node-b`.
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// The numbers behind it (e.g. `ratio: 0.98`).
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
    /// How strongly it points at its hypothesis, 0..1.
    pub strength: f64,
    /// The step of the trace that found it.
    pub step: u32,
}

/// One Observation → Thought → Action turn of an investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based position in the trace.
    pub index: u32,
    /// Why this action, in plain words.
    pub thought: String,
    /// The action taken, if any (a concluding step has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<ToolCall>,
    /// What the action observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// Evidence the probes drew from the observation.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Wall time the step took, in milliseconds.
    pub duration_ms: f64,
}

/// What an action or a diagnosis is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The kind of object.
    pub kind: TargetKind,
    /// Its namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// Kinds of targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A Kubernetes Deployment (and so its service).
    Deployment,
    /// One pod.
    Pod,
    /// A node.
    Node,
    /// A database server.
    Database,
    /// A service outside the cluster's control (a third party).
    External,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name),
            None => write!(f, "{kind} {}", self.name),
        }
    }
}

/// The change in the IaC repository that caused an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Culprit {
    /// Commit hash.
    pub commit: String,
    /// `Name <email>`.
    pub author: String,
    /// When it was committed.
    pub date: DateTime<Utc>,
    /// Its subject line.
    pub message: String,
    /// The file changed.
    pub file: String,
    /// The key path changed (`resources.limits.memory`).
    pub key: String,
    /// The value before.
    pub before: String,
    /// The value after.
    pub after: String,
}

/// Kinds of mitigation, every write pagerless may propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Set a deployment's replicas (`params.replicas`).
    Scale,
    /// Delete one pod so its controller replaces it.
    RestartPod,
    /// Replace every pod of a deployment.
    RolloutRestart,
    /// Return a deployment to its previous ReplicaSet.
    Rollback,
    /// Stop scheduling on a node.
    Cordon,
    /// Resume scheduling on a node.
    Uncordon,
    /// Raise a container's resource limit temporarily (a paired fix is required).
    RaiseLimit,
    /// Clear a configured cache or log directory on a node.
    ClearCache,
    /// Terminate database sessions idle in transaction beyond a threshold.
    TerminateIdleSessions,
    /// Run a command configured by name on a node (`params.name`), after its
    /// check passes (`nginx -t` before reloading nginx). Never free text.
    RunCommand,
    /// Open a pull request with the permanent fix (a human reviews it).
    OpenPullRequest,
    /// Delete a persistent volume. Critical: never automatic.
    DeleteVolume,
    /// Change a network policy. Critical: never automatic.
    ChangeNetworkPolicy,
    /// Change cloud network routes. Critical: never automatic.
    ChangeRoutes,
}

impl ActionKind {
    /// Every kind, in order of the catalog.
    pub const ALL: [ActionKind; 14] = [
        ActionKind::Scale,
        ActionKind::RestartPod,
        ActionKind::RolloutRestart,
        ActionKind::Rollback,
        ActionKind::Cordon,
        ActionKind::Uncordon,
        ActionKind::RaiseLimit,
        ActionKind::ClearCache,
        ActionKind::TerminateIdleSessions,
        ActionKind::RunCommand,
        ActionKind::OpenPullRequest,
        ActionKind::DeleteVolume,
        ActionKind::ChangeNetworkPolicy,
        ActionKind::ChangeRoutes,
    ];

    /// The snake_case name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Scale => "scale",
            ActionKind::RestartPod => "restart_pod",
            ActionKind::RolloutRestart => "rollout_restart",
            ActionKind::Rollback => "rollback",
            ActionKind::Cordon => "cordon",
            ActionKind::Uncordon => "uncordon",
            ActionKind::RaiseLimit => "raise_limit",
            ActionKind::ClearCache => "clear_cache",
            ActionKind::TerminateIdleSessions => "terminate_idle_sessions",
            ActionKind::RunCommand => "run_command",
            ActionKind::OpenPullRequest => "open_pull_request",
            ActionKind::DeleteVolume => "delete_volume",
            ActionKind::ChangeNetworkPolicy => "change_network_policy",
            ActionKind::ChangeRoutes => "change_routes",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposed write, not yet authorized: only the guard decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// What to do.
    pub kind: ActionKind,
    /// To what.
    pub target: Target,
    /// Its parameters (`replicas`, `container`, `idle_secs`, ...).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Why, in one sentence.
    pub rationale: String,
}

/// The permanent fix, as a change to the IaC repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The file to change.
    pub file: String,
    /// The key path (or directive) to set.
    pub key: String,
    /// The new value.
    pub value: String,
    /// Why this value.
    pub rationale: String,
    /// Add the key when the file does not have it (else a missing key is an error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_missing: bool,
}

/// What to do about a diagnosis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Mitigations, in order: stop the bleeding.
    pub mitigations: Vec<ActionRequest>,
    /// The permanent fix, when one belongs in the IaC repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The plan's own check of recovery (PromQL that returns nothing once
    /// healthy); verification reads the alert's expression without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
}

/// A root cause with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The root cause in one sentence.
    pub root_cause: String,
    /// Its category, e.g. `memory_limit_too_low`; `none` when nothing needs doing.
    pub category: String,
    /// How sure, 0..1.
    pub confidence: f64,
    /// The evidence chain, each item pointing to its step.
    pub evidence: Vec<Evidence>,
    /// The change behind it, if one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<Culprit>,
    /// The object at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Every service the investigation suspected, most likely first, with the
    /// fault's likely type and the evidence (empty when one playbook settled
    /// it without ranking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<Suspect>,
}

/// A service (and pod) that may be at fault, as ranked by an investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// The service.
    pub service: String,
    /// Its most anomalous pod, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// How anomalous, in the ranking's own units (higher is more suspect).
    pub score: f64,
    /// The fault's likely type: `cpu`, `memory`, `network_delay`, `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_type: Option<String>,
    /// Why, for people.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// How an investigation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A root cause and what to do.
    Diagnosed {
        /// The diagnosis.
        diagnosis: Box<Diagnosis>,
        /// The plan.
        plan: Plan,
    },
    /// Handed to a human.
    Escalated {
        /// Why, and what was seen.
        reason: String,
        /// Services that moved, most suspect first, though none enough to
        /// conclude on: where a human might look first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        suspects: Vec<Suspect>,
    },
}

/// A whole investigation: the trace and its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// The incident investigated, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
    /// Which reasoner ran (`embedded`, `llm:MODEL`).
    pub reasoner: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The trace.
    pub steps: Vec<Step>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time from start to outcome, in milliseconds.
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_kind_names_match_their_json() {
        for k in ActionKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
